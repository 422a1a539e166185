#!/usr/bin/python3
"""bench_report.py - turn the benchmarks' CSV into the tables of docs/PERFORMANCE.md.

Runs the benchmarks (through the `mproc bench` tool of a build tree) or reads
CSV files they wrote earlier, and rewrites the part of docs/PERFORMANCE.md
between the marker comments

    <!-- BEGIN bench_report -->  ...  <!-- END bench_report -->

so that the hand-written prose around them survives. What goes in: the
machine (nproc, CPU model from /proc/cpuinfo, kernel, compiler of the build
if known), the exact command that reproduces the figures, the targets with
their measured values (met / missed), and one table per benchmark row:
every implementation's median and range, and how many times mproc is
better (>1) or worse (<1) than it. Charts from `mproc bench --plot` are
linked when the chart directory exists.

  scripts/bench_report.py --build build               run everything, write the doc
  scripts/bench_report.py --build build --only queue  run bench_queue only
  scripts/bench_report.py --csv a.csv --csv b.csv     from saved CSV, no run
  scripts/bench_report.py ... --stdout                print the section instead

Only the Python standard library; no numbers are invented: a row that is
missing from the CSV shows as "not measured".
"""

import argparse
import datetime
import os
import platform
import re
import shlex
import subprocess
import sys

BEGIN = "<!-- BEGIN bench_report -->"
END = "<!-- END bench_report -->"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE_UNITS = ("Mmsg/s", "GB/s")


def higher_is_better(unit):
    return unit in RATE_UNITS or unit.endswith("/s")


class Row:
    __slots__ = ("area", "case", "impl", "median", "lo", "hi", "unit")

    def __init__(self, area, case, impl, median, lo, hi, unit):
        self.area, self.case, self.impl, self.unit = area, case, impl, unit
        self.median, self.lo, self.hi = median, lo, hi


def parse_csv(text):
    """Returns (rows, comments): data rows and the `#` lines."""
    rows, comments = [], []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
            continue
        f = line.split(",")
        if len(f) != 7 or f[0] == "area":
            continue
        try:
            med, lo, hi = float(f[3]), float(f[4]), float(f[5])
        except ValueError:
            continue
        rows.append(Row(f[0], f[1], f[2], med, lo, hi, f[6]))
    return rows, comments


def read_first_line(path):
    try:
        with open(path) as fh:
            return fh.readline().strip()
    except OSError:
        return ""


def cache_value(build, key):
    """A variable of the build tree's CMakeCache.txt, or ""."""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine(build):
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    compiler = ""
    if build:
        cache = os.path.join(build, "CMakeCache.txt")
        try:
            with open(cache) as fh:
                for line in fh:
                    if line.startswith("CMAKE_C_COMPILER:"):
                        cc = line.split("=", 1)[1].strip()
                        out = subprocess.run([cc, "--version"], capture_output=True, text=True,
                                             timeout=10).stdout
                        compiler = out.splitlines()[0] if out else cc
                    if line.startswith("CMAKE_BUILD_TYPE:"):
                        bt = line.split("=", 1)[1].strip()
                        if bt:
                            compiler += f" ({bt})"
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "compiler": compiler,
        "commit": commit,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def fmt(v):
    if v != v:  # NaN
        return "-"
    a = abs(v)
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.01:
        return f"{v:.3g}"
    return f"{v:.2g}"


def ratio(mine, other, unit):
    """How many times better mine is than other (> 1: mproc ahead)."""
    if mine <= 0 or other <= 0:
        return float("nan")
    return mine / other if higher_is_better(unit) else other / mine


def fmt_ratio(r):
    if r != r:
        return "-"
    return f"{r:.1f}x" if r >= 1.95 else f"{r:.2f}x"


def groups(rows):
    """[(area, case, [rows])] in order of first appearance."""
    order, by = [], {}
    for r in rows:
        key = (r.area, r.case)
        if key not in by:
            by[key] = []
            order.append(key)
        by[key].append(r)
    return [(a, c, by[(a, c)]) for a, c in order]


def is_mproc(impl):
    return impl.startswith("mproc")


def is_ceiling(impl):
    return impl.startswith("ring")


def is_python(impl):
    return impl.startswith("py-")


def reference(rs):
    """mproc's row a case is compared by: "mproc" itself, else the first mproc*."""
    for r in rs:
        if r.impl == "mproc":
            return r
    for r in rs:
        if is_mproc(r.impl):
            return r
    return None


def case_size(case):
    m = re.search(r"_(\d+)(B|KiB|MiB)$", case)
    if not m:
        return None
    return int(m.group(1)) * {"B": 1, "KiB": 1024, "MiB": 1 << 20}[m.group(2)]


def table(area, case, rs):
    unit = rs[0].unit
    ref = reference(rs)
    best_first = sorted(rs, key=lambda r: -r.median if higher_is_better(unit) else r.median)
    better = "higher" if higher_is_better(unit) else "lower"
    out = [f"**{area} / {case}** ({unit}, {better} is better)", ""]
    head = "| implementation | median | min .. max |"
    sep = "|---|---:|---:|"
    if ref:
        head += f" {ref.impl} vs it |"
        sep += "---:|"
    size = case_size(case)
    per_msg = unit == "GB/s" and size
    if per_msg:
        head += " ns/msg |"
        sep += "---:|"
    out += [head, sep]
    for r in best_first:
        name = f"**{r.impl}**" if is_mproc(r.impl) else r.impl
        if is_ceiling(r.impl):
            name += " (ceiling)"
        lo, hi = sorted((r.lo, r.hi))
        line = f"| {name} | {fmt(r.median)} | {fmt(lo)} .. {fmt(hi)} |"
        if ref:
            # another mproc variant (zero copy, polling) is not a peer
            vs = "" if is_mproc(r.impl) else fmt_ratio(ratio(ref.median, r.median, unit))
            line += f" {vs} |"
        if per_msg:
            line += f" {fmt(size / r.median) if r.median > 0 else '-'} |"
        out.append(line)
    out.append("")
    return out


def find(rows, area, case, impl=None, pred=None):
    rs = [r for r in rows if r.area == area and r.case == case]
    if impl is not None:
        rs = [r for r in rs if r.impl == impl]
    if pred is not None:
        rs = [r for r in rs if pred(r.impl)]
    return rs


def best(rs, unit):
    if not rs:
        return None
    pick = max if higher_is_better(unit) else min
    return pick(rs, key=lambda r: r.median)


def peers_of(rows, area, case):
    return find(rows, area, case, pred=lambda i: not is_mproc(i) and not is_ceiling(i))


def targets(rows):
    """[(what, target, measured, met)]; met is True/False/None (not measured)."""
    t = []

    def add(what, target, measured, met):
        t.append((what, target, measured, met))

    def val(area, case, impl):
        rs = find(rows, area, case, impl)
        return rs[0] if rs else None

    m = val("queue", "1to1_64B", "mproc")
    add("Queue 1->1, 64 B", ">= 40 M msg/s", fmt(m.median) + " M msg/s" if m else None,
        m.median >= 40 if m else None)
    pb = best(peers_of(rows, "queue", "1to1_64B"), "Mmsg/s")
    if m and pb:
        r = m.median / pb.median
        add("Queue 1->1, 64 B vs best peer", ">= 6x", f"{r:.1f}x ({pb.impl})", r >= 6)
    else:
        add("Queue 1->1, 64 B vs best peer", ">= 6x", None, None)
    ceil = best(find(rows, "queue", "1to1_64B", pred=is_ceiling), "Mmsg/s")
    if m and ceil:
        r = m.median / ceil.median
        add("Queue 1->1, 64 B vs ceiling ring", ">= 70%", f"{100 * r:.0f}% ({ceil.impl})", r >= 0.7)
    else:
        add("Queue 1->1, 64 B vs ceiling ring", ">= 70%", None, None)
    m = val("queue", "2x2_64B", "mproc")
    add("Queue 2 producers + 2 consumers, 64 B (ids checked)", ">= 25 M msg/s",
        fmt(m.median) + " M msg/s" if m else None, m.median >= 25 if m else None)
    m = val("queue", "1to1_4KiB", "mproc")
    add("Queue 1->1, 4 KiB", ">= 8 GB/s", fmt(m.median) + " GB/s" if m else None,
        m.median >= 8 if m else None)
    m = val("queue", "1to1_1MiB", "mproc")
    pb = best(peers_of(rows, "queue", "1to1_1MiB"), "GB/s")
    if m and pb:
        add("Queue 1->1, 1 MiB, copy path", ">= fastest peer",
            f"{fmt(m.median)} GB/s vs {fmt(pb.median)} ({pb.impl})", m.median >= pb.median)
    else:
        add("Queue 1->1, 1 MiB, copy path", ">= fastest peer", None, None)
    zc = []
    for case in ("1to1_4KiB", "1to1_64KiB", "1to1_1MiB"):
        z = val("queue", case, "mproc-zerocopy")
        if z and z.median > 0:
            zc.append((case[5:], case_size(case) / z.median))
    if len(zc) >= 2:
        lo, hi = min(v for _, v in zc), max(v for _, v in zc)
        add("Queue zero copy: cost per message independent of size", "flat (max/min <= 2)",
            ", ".join(f"{c}: {fmt(v)} ns" for c, v in zc), hi / lo <= 2)
    else:
        add("Queue zero copy: cost per message independent of size", "flat (max/min <= 2)",
            None, None)
    m = best(find(rows, "queue", "pingpong_spin_64B", pred=is_mproc), "us/op")
    add("Queue ping-pong 64 B, both spinning", "<= 0.3 us",
        f"{fmt(m.median)} us ({m.impl})" if m else None, m.median <= 0.3 if m else None)
    for case in ("1to1_64B", "1to1_1MiB"):
        m = val("pipe", case, "mproc")
        s = val("pipe", case, "socketpair-stream")
        if m and s:
            r = ratio(m.median, s.median, m.unit)
            add(f"Pipe {case[5:]} vs raw socketpair", "within 10%",
                f"{100 * r:.0f}% of raw", r >= 0.9)
        else:
            add(f"Pipe {case[5:]} vs raw socketpair", "within 10%", None, None)
    # mproc from Python against multiprocessing in the same run
    # (bench/python/bench_python.py, issue 14): how many times better.
    for case, what, target, need in (
            ("queue_1to1_int", "Python Queue 1->1, an int", ">= 10x multiprocessing", 10),
            ("queue_1to1_tuple", "Python Queue 1->1, a short tuple", ">= 10x multiprocessing",
             10),
            ("queue_1to1_1MiB", "Python Queue 1->1, 1 MiB bytes", ">= 3x multiprocessing", 3),
            ("pipe_roundtrip_small", "Python Pipe round trip, a small object",
             "<= 0.5x multiprocessing's time", 2),
            ("lock_contended_2proc", "Python Lock acquire+release, 2 processes contending",
             ">= 10x multiprocessing", 10),
            ("pool_map_chunksize1", "Python Pool.map(f, range(100_000), chunksize=1)",
             ">= 5x multiprocessing", 5),
            ("pool_map_default", "Python Pool.map, default chunking",
             "not slower than multiprocessing", 1),
            ("process_start_join_fork", "Python Process start + join (fork)",
             "not slower than multiprocessing", 1)):
        m, py = val("python", case, "mproc"), val("python", case, "multiprocessing")
        if m and py:
            r = ratio(m.median, py.median, m.unit)
            add(what, target, f"{r:.2f}x ({fmt(m.median)} vs {fmt(py.median)} {m.unit})",
                r >= need)
        else:
            add(what, target, None, None)
    w = val("wait", "wake_epoll_64B", "mproc_watch")
    p2 = val("wait", "wake_epoll_64B", "pipe2")
    if w and p2:
        r = w.median / p2.median
        add("Wake-up through a watch descriptor vs pipe(2), 64 B, epoll", "<= 1.5x",
            f"{r:.2f}x ({fmt(w.median)} vs {fmt(p2.median)} us)", r <= 1.5)
    else:
        add("Wake-up through a watch descriptor vs pipe(2), 64 B, epoll", "<= 1.5x", None, None)
    w = val("wait", "wake_epoll_64B_same_cpu", "mproc_watch")
    p2 = val("wait", "wake_epoll_64B_same_cpu", "pipe2")
    what = "Wake-up through a watch descriptor vs pipe(2), both on one CPU"
    if w and p2:
        r = w.median / p2.median
        add(what, "<= 1.5x", f"{r:.2f}x ({fmt(w.median)} vs {fmt(p2.median)} us)", r <= 1.5)
    else:
        add(what, "<= 1.5x", None, None)
    a = val("wait", "wait_ready_of_N", "mproc_wait-64q")
    b = val("wait", "wait_ready_of_N", "mproc_wait-1q")
    if a and b:
        r = a.median / b.median
        add("mproc_wait over 64 queues vs one", "<= 2x", f"{r:.2f}x", r <= 2)
    else:
        add("mproc_wait over 64 queues vs one", "<= 2x", None, None)
    worst = None
    for area, case, rs in groups(rows):
        ref = reference(rs)
        py = [r for r in rs if is_python(r.impl)]
        if not ref or not py:
            continue
        r = ratio(ref.median, py[0].median, ref.unit)
        if worst is None or r < worst[0]:
            worst = (r, f"{area}/{case}")
    add("mproc vs Python multiprocessing, every row", ">= 50x",
        f"worst {worst[0]:.0f}x ({worst[1]})" if worst else None,
        worst[0] >= 50 if worst else None)
    return t


def section(rows, comments, mach, command, charts):
    out = [BEGIN, "",
           f"_Generated by `scripts/bench_report.py` on {mach['date']}; do not edit by hand "
           "between the markers._", "",
           "### Machine", "",
           f"- CPUs: {mach['nproc']} (`nproc`), {mach['cpu']}",
           f"- kernel: Linux {mach['kernel']}",
           f"- Python (peers): {mach['python']}"]
    if mach["compiler"]:
        out.append(f"- compiler: {mach['compiler']}")
    if mach["commit"]:
        out.append(f"- mproc commit: `{mach['commit']}`")
    out += ["", "### Reproduce", "", "```sh", command, "```", ""]
    out += ["### Targets", "", "| what | target | measured | met |", "|---|---|---|---|"]
    for what, target, measured, met in targets(rows):
        mark = "not measured" if met is None else ("yes" if met else "**no**")
        out.append(f"| {what} | {target} | {measured or '-'} | {mark} |")
    out.append("")
    errors = [c for c in comments if c.startswith("ERROR")]
    notes = [c for c in comments if not c.startswith("ERROR")]
    if errors:
        out += ["### Errors during the run", ""] + [f"- {e}" for e in errors] + [""]
    out += ["### Results", ""]
    if not rows:
        out += ["No rows measured.", ""]
    for area, case, rs in groups(rows):
        out += table(area, case, rs)
    if notes:
        out += ["### Notes printed by the benchmarks", ""] + [f"- {n}" for n in notes] + [""]
    if charts:
        out += ["### Charts", ""]
        out += [f"![{os.path.splitext(os.path.basename(c))[0]}]({c})" for c in charts] + [""]
    out.append(END)
    return "\n".join(out) + "\n"


SKELETON = """# Performance

(Hand-written prose goes outside the markers below; `scripts/bench_report.py`
rewrites only what is between them.)

{section}"""


def write_doc(path, sec):
    try:
        with open(path) as fh:
            doc = fh.read()
    except FileNotFoundError:
        doc = None
    if doc is None:
        doc = SKELETON.format(section=sec)
    elif BEGIN in doc and END in doc and doc.index(BEGIN) < doc.index(END):
        a = doc.index(BEGIN)
        b = doc.index(END) + len(END)
        if doc[b:b + 1] == "\n":
            b += 1
        doc = doc[:a] + sec + doc[b:]
    else:
        doc = doc.rstrip("\n") + "\n\n" + sec
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(doc)
    os.replace(tmp, path)


def tool_path(build):
    tool = os.path.join(build, "mproc")
    if not os.access(tool, os.X_OK):
        sys.exit(f"bench_report: {tool} not found: build first "
                 "(cmake -S . -B build -G Ninja && cmake --build build)")
    return tool


def run_bench(build, only, scale, reps):
    """Runs `mproc bench` once per --only (or once for all); returns the CSV."""
    texts = []
    for o in only or [None]:
        cmd = [tool_path(build), "bench"]
        if o:
            cmd += ["--only", o]
        if scale:
            cmd += ["--scale", scale]
        if reps:
            cmd += ["--reps", reps]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
        texts.append(p.stdout)
        if p.returncode != 0:
            print(f"bench_report: {' '.join(cmd)} exited with {p.returncode}", file=sys.stderr)
    return "\n".join(texts)


def draw_charts(build, text, plot):
    """The SVG charts of `mproc bench --plot`, drawn from the CSV text."""
    p = subprocess.run([tool_path(build), "bench", "--from", "-", "--plot", plot], input=text,
                       text=True, stdout=subprocess.DEVNULL)
    if p.returncode != 0:
        print("bench_report: drawing the charts failed", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build",
                    help="build tree with the mproc tool and bench/ (runs the benchmarks)")
    ap.add_argument("--csv", action="append", help="read this CSV instead of running (repeatable)")
    ap.add_argument("--only", action="append", help="run only benchmarks whose name contains this")
    ap.add_argument("--scale", help="MPROC_BENCH_SCALE for the run")
    ap.add_argument("--reps", help="MPROC_BENCH_REPS for the run")
    ap.add_argument("--plot", help="chart directory (default: docs/bench next to the document)")
    ap.add_argument("--no-plot", action="store_true", help="do not draw or link charts")
    ap.add_argument("--save", help="also write the CSV that was measured to this file")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "PERFORMANCE.md"))
    ap.add_argument("--stdout", action="store_true", help="print the section, leave the file alone")
    a = ap.parse_args()
    if not a.build and not a.csv:
        ap.error("give --build DIR (run the benchmarks) or --csv FILE (use a saved run)")
    plot = None if a.no_plot else (a.plot or os.path.join(os.path.dirname(os.path.abspath(a.out)),
                                                         "bench"))
    if a.csv:
        text = ""
        for f in a.csv:
            with (sys.stdin if f == "-" else open(f)) as fh:
                text += fh.read() + "\n"
        command = ("# the CSV was read from " + ", ".join(a.csv) + "; it is produced by\n"
                   "build/mproc bench > bench.csv  # MPROC_BENCH_SCALE / _REPS as noted\n"
                   "scripts/bench_report.py --csv bench.csv")
    else:
        text = run_bench(a.build, a.only, a.scale, a.reps)
        env = " ".join(f"{k}={shlex.quote(os.environ[k])}" for k in
                       ("MPROC_BENCH_SCALE", "MPROC_BENCH_REPS") if k in os.environ and
                       not (k == "MPROC_BENCH_SCALE" and a.scale) and
                       not (k == "MPROC_BENCH_REPS" and a.reps))
        argv = [os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:]
        build = os.path.relpath(os.path.abspath(a.build), ROOT)
        bt = cache_value(a.build, "CMAKE_BUILD_TYPE")
        command = (f"cmake -S . -B {shlex.quote(build)} -G Ninja"
                   + (f" -DCMAKE_BUILD_TYPE={bt}" if bt else "")
                   + f" && cmake --build {shlex.quote(build)}\n"
                   + (env + " " if env else "") + " ".join(shlex.quote(x) for x in argv))
    if a.save:
        with open(a.save, "w") as fh:
            fh.write(text)
    rows, comments = parse_csv(text)
    if plot and a.build and rows:
        draw_charts(a.build, text, plot)
    charts = []
    if plot and os.path.isdir(plot):
        base = os.path.dirname(os.path.abspath(a.out))
        charts = sorted(os.path.relpath(os.path.join(plot, f), base)
                        for f in os.listdir(plot) if f.endswith(".svg"))
    sec = section(rows, comments, machine(a.build), command, charts)
    if a.stdout:
        sys.stdout.write(sec)
    else:
        write_doc(a.out, sec)
        print(f"bench_report: wrote {a.out} ({len(rows)} rows)", file=sys.stderr)


if __name__ == "__main__":
    main()
