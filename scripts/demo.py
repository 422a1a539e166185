#!/usr/bin/env python3
"""demo.py - `make demo`: the tutorial's programs three ways, one table.

Runs the tutorial's three programs (counting to 100,000,000 in one process,
two processes and two threads; [42, None, 'hello'] through a Queue and
through a Pipe; a shared-memory counter under a Semaphore)

  - with Python's multiprocessing: examples/python/<program>.py as written;
  - with mproc from Python: the same source with only its import lines
    changed (examples/python/with_mproc.py);
  - in C: the programs of `mproc demo` (the build's tool), whose rows are
    read from its output;

and prints one table of their times side by side: the median of --repeat
runs and the fastest .. slowest. The runs of the two Python columns are
interleaved (round r runs each once, the first of them alternating), so a
moment of load elsewhere hits both alike. The times are those the programs
print themselves, as the tutorial's do (the interpreter's start-up is not
in them). The Python programs' output is compared between the two columns,
times aside: it must be the same.

A column that cannot run shows "-" and a line below the table says why:
mproc for Python not built (no python3-dev), a name mproc does not have
yet, no numpy for the shared-memory program, no interpreter.

usage: scripts/demo.py [--build DIR] [--count N] [--repeat N] [--python PY]
                       [--module NAME]

  --build DIR   the build tree (default build): its mproc tool, its
                python/ (the module) and its CMakeCache.txt
  --count N     what to count to (default 100,000,000, as the tutorial)
  --repeat N    runs of each program per column (default 3)
  --python PY   the interpreter of the Python columns (default: the build's
                MPROC_PYTHON_RUN, else /usr/bin/python3, else this one)
  --module NAME what the mproc column imports instead of multiprocessing
                (default mproc; `multiprocessing` checks this script)

Exit status: 0 when every column that could run ran and the two Python
columns printed the same; 1 otherwise; 2 for bad usage.
"""
import argparse
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples", "python")
TIME_LINE = re.compile(r"^--- ([0-9.eE+-]+) seconds ---$", re.M)

MP, MPROC, C = "Python multiprocessing", "mproc from Python", "C (mproc)"


class Program:
    """One of the tutorial's Python programs and the rows it fills."""

    def __init__(self, file, args, rows, names, needs_numpy=False):
        self.file, self.args, self.rows = file, args, rows
        self.names = names  # what it takes from multiprocessing
        self.needs_numpy = needs_numpy


def programs(count):
    n = [f"--count", str(count)]
    return [
        Program("count.py", n, [("count", "one process"), ("count", "two processes"),
                                ("count", "two threads")], ["Process", "Queue"]),
        Program("queue_hello.py", ["--time"], [("queue", "")], ["Process", "Queue"]),
        Program("pipe_hello.py", ["--time"], [("pipe", "")], ["Process", "Pipe"]),
        Program("shm_counter.py", n, [("shm", "two processes")],
                ["Process", "Semaphore", "shared_memory.SharedMemory"], needs_numpy=True),
    ]


def row_label(row, count):
    what, variant = row
    if what == "count":
        return f"  in {variant}"
    return {"queue": "a list through a Queue", "pipe": "a list through a Pipe",
            "shm": "a shared-memory counter"}[what]


# Times, as `mproc demo` prints them ------------------------------------------

def fmt_time(s):
    if s >= 10:
        return f"{s:.1f} s"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 0.1:
        return f"{s * 1e3:.0f} ms"
    if s >= 0.01:
        return f"{s * 1e3:.1f} ms"
    if s >= 0.001:
        return f"{s * 1e3:.2f} ms"
    if s >= 0.0001:
        return f"{s * 1e6:.0f} us"
    return f"{s * 1e6:.1f} us"


def parse_time(text):
    num, unit = text.split()
    return float(num) * {"s": 1.0, "ms": 1e-3, "us": 1e-6}[unit]


def stats(v):
    v = sorted(v)
    n = len(v)
    med = v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2
    return med, v[0], v[-1]


def cell(st):
    if isinstance(st, str):
        return st
    med, lo, hi = st
    a, b = fmt_time(lo), fmt_time(hi)
    if a.split()[1] == b.split()[1]:
        rng = f"{a.split()[0]} .. {b}"
    else:
        rng = f"{a} .. {b}"
    return f"{fmt_time(med)} ({rng})"


# The C column: `mproc demo` -----------------------------------------------------

C_ROW = re.compile(r"^(one process|two processes|two threads|one child)\s+(\S+ (?:s|ms|us))\s+"
                   r"\((\S+ (?:s|ms|us)) \.\. (\S+ (?:s|ms|us))\)(?:\s+total_number=(\d+))?")


def parse_c_demo(text, count):
    """{row: (median, min, max)} from the output of `mproc demo` (the Queue and
    the Pipe: the time of one exchange, "one child")."""
    out, section = {}, None
    for line in text.splitlines():
        if line.startswith("== "):
            section = ("count" if line.startswith("== Counting") else
                       "shm" if "shared-memory" in line else
                       "queue" if "through a Queue" in line else
                       "pipe" if "through a Pipe" in line else None)
            continue
        m = C_ROW.match(line)
        if not m or not section:
            continue
        if section in ("queue", "pipe") and m.group(1) == "one child":
            out[(section, "")] = tuple(parse_time(m.group(i)) for i in (2, 3, 4))
        elif m.group(5) and int(m.group(5)) == count:
            out[(section, m.group(1))] = tuple(parse_time(m.group(i)) for i in (2, 3, 4))
    return out


def run_c(build, count, repeat):
    """({row: stats}, reason or None)."""
    tool = os.path.join(build, "mproc")
    if not os.access(tool, os.X_OK):
        return {}, f"C: no {tool} (build it: cmake --build {build} --target mproc_tool)"
    p = subprocess.run([tool, "demo", "--count", str(count), "--repeat", str(repeat)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rows = parse_c_demo(p.stdout, count)
    if p.returncode != 0:
        return rows, f"C: `mproc demo` failed: {p.stderr.strip() or p.returncode}"
    if not rows:
        return rows, "C: no rows found in the output of `mproc demo`"
    return rows, None


# The Python columns ---------------------------------------------------------

def cache_value(build, key):
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def find_python(build, given):
    for cand in (given, os.environ.get("MPROC_PYTHON_RUN"), cache_value(build, "MPROC_PYTHON_RUN"),
                 "/usr/bin/python3", sys.executable):
        if cand and os.access(cand, os.X_OK):
            return cand
    return None


def py_env(build):
    env = dict(os.environ)
    pydir = os.path.join(os.path.abspath(build), "python")
    env["PYTHONPATH"] = pydir + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


PROBE = r"""
import importlib, sys
mod, names = sys.argv[1], sys.argv[2:]
try:
    m = importlib.import_module(mod)
except Exception as e:
    print("IMPORT", type(e).__name__ + ": " + str(e)); sys.exit(0)
print("FILE", getattr(m, "__file__", "?"))
for n in names:
    obj, path = m, mod
    for part in n.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            try:
                obj = importlib.import_module(path + "." + part)
            except Exception:
                print("MISSING", n); break
        path += "." + part
try:
    import numpy
except Exception:
    print("NONUMPY")
"""


def probe(python, env, module, names):
    """(import error or None, set of missing names, numpy present)."""
    p = subprocess.run([python, "-c", PROBE, module] + sorted(names), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    err, missing, numpy = None, set(), True
    for line in p.stdout.splitlines():
        kind, _, rest = line.partition(" ")
        if kind == "IMPORT":
            err = rest
        elif kind == "MISSING":
            missing.add(rest)
        elif kind == "NONUMPY":
            numpy = False
    if p.returncode != 0 and not err:
        err = p.stdout.strip().splitlines()[-1] if p.stdout.strip() else f"exit {p.returncode}"
    return err, missing, numpy


# How a program fails when a name exists but its implementation does not (the
# context's methods import their module when called): that is "missing", not
# "broken".
NOT_THERE = re.compile(r"(ImportError|ModuleNotFoundError|NotImplementedError)\b")


def not_there(why):
    """True when run_py's reason says a name mproc exports has no
    implementation on this build."""
    return bool(why) and bool(NOT_THERE.search(why.split(": ", 1)[-1]))


def masked(out):
    return TIME_LINE.sub("--- (time) seconds ---", out)


def run_py(python, env, prog, impl, module, timeout):
    """(stdout, None) or (None, why)."""
    path = os.path.join(EXAMPLES, prog.file)
    if impl == MP:
        argv = [python, path]
    else:
        argv = [python, os.path.join(EXAMPLES, "with_mproc.py"), "--module", module, path]
    try:
        p = subprocess.run(argv + prog.args, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout, cwd=EXAMPLES)
    except subprocess.TimeoutExpired:
        return None, f"still running after {timeout:.0f} s: killed"
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or [f"exit status {p.returncode}"])[-1]
        return None, f"exit status {p.returncode}: {last}"
    return p.stdout, None


def times_of(prog, out):
    """[seconds] in the order of prog.rows, or None."""
    t = [float(x) for x in TIME_LINE.findall(out)]
    return t if len(t) == len(prog.rows) else None


# The table -----------------------------------------------------------------

def print_table(count, rows, cols, titles, cells):
    label_w = max(len(row_label(r, count)) for r in rows)
    label_w = max(label_w, len(f"counting to {count:,}"))
    widths = [max(len(t), *(len(cells[(r, c)]) for r in rows)) for c, t in zip(cols, titles)]
    head = " " * label_w + "".join(f"  {t:<{w}}" for t, w in zip(titles, widths))
    print(head.rstrip())
    print("-" * len(head.rstrip()))
    printed_count = False
    for r in rows:
        if r[0] == "count" and not printed_count:
            print(f"counting to {count:,}")
            printed_count = True
        line = f"{row_label(r, count):<{label_w}}" + "".join(
            f"  {cells[(r, c)]:<{w}}" for c, w in zip(cols, widths))
        print(line.rstrip())
    print()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--count", default="100_000_000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--python")
    ap.add_argument("--module", default="mproc")
    a = ap.parse_args(argv)
    try:
        count = int(a.count.replace("_", "").replace(",", ""))
    except ValueError:
        ap.error(f"--count wants a whole number, not {a.count!r}")
    if count < 2 or not 1 <= a.repeat <= 100:
        ap.error("--count wants at least 2, --repeat 1 to 100")
    load = os.getloadavg()[0]  # before our own runs add to it
    progs = programs(count)
    rows = [r for p in progs for r in p.rows]
    cells = {}
    notes = []
    failed = False

    print(f"The tutorial's programs three ways: in Python with multiprocessing, in Python\n"
          f"with mproc (the same source, only the import lines changed), and in C.\n")
    sys.stdout.flush()

    # C first: its rows come from one run of `mproc demo`.
    c_rows, why = run_c(a.build, count, a.repeat)
    if why:
        notes.append(why)
        failed = failed or os.access(os.path.join(a.build, "mproc"), os.X_OK)
    for r in rows:
        if r in c_rows:
            cells[(r, C)] = cell(c_rows[r])
        else:
            cells[(r, C)] = "-"

    python = find_python(a.build, a.python)
    runnable = {MP: {}, MPROC: {}}  # impl -> {program file: None or why not}
    if not python:
        notes.append("Python: no interpreter found (--python PY)")
    else:
        env = py_env(a.build)
        names = {n for p in progs for n in p.names}
        mp_err, mp_missing, numpy = probe(python, env, "multiprocessing", names)
        if a.module == "multiprocessing":
            mx_err, mx_missing = mp_err, mp_missing
        else:
            mx_err, mx_missing, _ = probe(python, env, a.module, names)
        for p in progs:
            for impl, err, missing in ((MP, mp_err, mp_missing), (MPROC, mx_err, mx_missing)):
                mod = "multiprocessing" if impl == MP else a.module
                gone = [n for n in p.names if n in missing]
                if err:
                    runnable[impl][p.file] = f"`import {mod}` fails ({err})"
                elif gone:
                    runnable[impl][p.file] = f"this build's {mod} has no {', '.join(gone)}"
                elif p.needs_numpy and not numpy:
                    runnable[impl][p.file] = "numpy is missing (apt-get install python3-numpy)"
                else:
                    runnable[impl][p.file] = None
        if mx_err:
            built = os.path.isdir(os.path.join(a.build, "python", "mproc"))
            notes.append(f"{MPROC}: " + ("not built (no python3-dev when the build was "
                                         "configured? apt-get install python3-dev, then "
                                         "make demo again)" if not built
                                         else f"`import {a.module}` fails: {mx_err}"))

    timeout = 60 + count * 1e-6
    samples = {}  # (row, impl) -> [seconds]
    outputs = {}  # (file, impl) -> masked output of the first run
    errors = {}  # (file, impl) -> why
    progress = sys.stderr.isatty()
    if python:
        total = sum(a.repeat * sum(1 for i in (MP, MPROC) if runnable[i][p.file] is None)
                    for p in progs)
        done = 0
        for p in progs:
            impls = [i for i in (MP, MPROC) if runnable[i][p.file] is None]
            for rnd in range(a.repeat):
                order = impls if rnd % 2 == 0 else impls[::-1]
                for impl in order:
                    if (p.file, impl) in errors or runnable[impl][p.file] is not None:
                        continue
                    done += 1
                    if progress:
                        print(f"  running {p.file} with {impl} ({done}/{total}) ...",
                              end="\r", file=sys.stderr, flush=True)
                    out, why = run_py(python, env, p, impl, a.module, timeout)
                    t = times_of(p, out) if out is not None else None
                    if out is not None and t is None:
                        why = "printed no time: " + (out.strip().splitlines() or [""])[-1]
                    if why and impl == MPROC and not_there(why):
                        runnable[impl][p.file] = "not on this build: " + why.split(": ", 1)[-1]
                        continue
                    if why:
                        errors[(p.file, impl)] = why
                        continue
                    outputs.setdefault((p.file, impl), masked(out))
                    for r, s in zip(p.rows, t):
                        samples.setdefault((r, impl), []).append(s)
        if progress:
            print(" " * 72, end="\r", file=sys.stderr, flush=True)

    for p in progs:
        for impl in (MP, MPROC):
            why = runnable[impl][p.file] if python else "no interpreter"
            err = errors.get((p.file, impl))
            for r in p.rows:
                if (r, impl) in samples and not err:
                    cells[(r, impl)] = cell(stats(samples[(r, impl)]))
                else:
                    cells[(r, impl)] = "-"
            if err:
                failed = True
                notes.append(f"{impl}, {p.file}: {err}")
            elif why and not (impl == MPROC and python and mx_err):
                notes.append(f"{impl}, {p.file}: {why}")
        a_out, b_out = outputs.get((p.file, MP)), outputs.get((p.file, MPROC))
        if a_out is not None and b_out is not None and a_out != b_out:
            failed = True
            notes.append(f"{p.file} printed differently with mproc:\n"
                         f"  multiprocessing: {a_out!r}\n  mproc:           {b_out!r}")

    titles = [MP, MPROC if a.module == "mproc" else f"{a.module} (--module)", C]
    print_table(count, rows, [MP, MPROC, C], titles, cells)
    print(f"median of {a.repeat} run{'s' if a.repeat != 1 else ''} (fastest .. slowest); "
          f"{os.cpu_count()} CPUs, load average {load:.2f} before the runs")
    if python:
        ver = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             stdout=subprocess.PIPE, text=True).stdout.strip()
        print(f"Python {ver} ({python}); the times are those the programs print themselves")
    print("C: the programs of `mproc demo` (tools/demo_*.c), run with the same --count and "
          "--repeat")
    same = [p.file for p in progs
            if outputs.get((p.file, MP)) is not None
            and outputs.get((p.file, MP)) == outputs.get((p.file, MPROC))]
    if same:
        print("printed the same with multiprocessing and with mproc (times aside): "
              + ", ".join(same))
    q = outputs.get(("queue_hello.py", MP)) or outputs.get(("queue_hello.py", MPROC))
    if q:
        print("the list they pass: " + q.splitlines()[0])
    for n in notes:
        print(n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
