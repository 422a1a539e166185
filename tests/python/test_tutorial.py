"""The tutorial's three programs (examples/python/) run on mproc with only
their import lines changed, and print what they print on multiprocessing;
`make demo`'s table (scripts/demo.py) is built from them and from the C demo.

The programs run as subprocesses, with a small count, under the interpreter
running these tests; a program whose mproc names are missing on this build
is skipped with the names."""
import importlib.util
import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples", "python")
COUNT = 200_000


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


demo = load(os.path.join(ROOT, "scripts", "demo.py"), "mproc_demo_script")
with_mproc = load(os.path.join(EXAMPLES, "with_mproc.py"), "mproc_with_mproc")


def build_dir():
    """The build tree whose python/ is on PYTHONPATH (CTest sets it)."""
    for p in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if p and os.path.isdir(os.path.join(p, "mproc")):
            return os.path.dirname(os.path.abspath(p))
    return None


def env():
    e = dict(os.environ)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    return e


PROGRAMS = {p.file: p for p in demo.programs(COUNT)}


def run(argv, timeout=120, on_mproc=False):
    p = subprocess.run([sys.executable] + argv, env=env(), cwd=EXAMPLES, timeout=timeout,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.returncode == 0, f"{argv} exited with {p.returncode}:\n{p.stderr}"
    return p.stdout


def skip_unless_runnable(prog, module):
    err, missing, numpy = demo.probe(sys.executable, env(), module, set(prog.names))
    if module == "mproc":  # built with the tests: a failure here is a bug, not a skip
        assert not err, f"`import mproc` fails: {err}"
        assert not [n for n in prog.names if n in missing], f"mproc lacks {missing}"
    if err:
        pytest.skip(f"`import {module}` fails: {err}")
    gone = [n for n in prog.names if n in missing]
    if gone:
        pytest.skip(f"{module} on this branch has no {', '.join(gone)}")
    if prog.needs_numpy and not numpy:
        pytest.skip("numpy is missing (apt-get install python3-numpy)")


@pytest.mark.parametrize("file", sorted(PROGRAMS))
def test_program_prints_the_same_on_mproc_as_on_multiprocessing(file):
    prog = PROGRAMS[file]
    skip_unless_runnable(prog, "multiprocessing")
    skip_unless_runnable(prog, "mproc")
    path = os.path.join(EXAMPLES, file)
    on_mp = run([path] + prog.args)
    on_mproc = run([os.path.join(EXAMPLES, "with_mproc.py"), path] + prog.args, on_mproc=True)
    assert demo.masked(on_mproc) == demo.masked(on_mp)
    assert demo.times_of(prog, on_mproc) is not None


@pytest.mark.parametrize("file", sorted(PROGRAMS))
def test_program_prints_what_the_tutorial_prints(file):
    prog = PROGRAMS[file]
    skip_unless_runnable(prog, "multiprocessing")
    out = demo.masked(run([os.path.join(EXAMPLES, file)] + prog.args))
    t = "--- (time) seconds ---"
    expected = {
        "count.py": [f"== {v}\n{t}\ntotal_number={COUNT}"
                     for v in ("one process", "two processes", "two threads")],
        "queue_hello.py": ["[42, None, 'hello']", t],
        "pipe_hello.py": ["[42, None, 'hello']", t],
        "shm_counter.py": [t, f"total_number={COUNT}"],
    }[file]
    expected = "\n".join(expected) + ("\nend of main\n" if "count" in file or "shm" in file
                                      else "\n")
    assert out == expected


def test_programs_differ_from_their_mproc_run_only_in_import_lines():
    for file in PROGRAMS:
        with open(os.path.join(EXAMPLES, file)) as fh:
            src = fh.read()
        new, changed = with_mproc.rewrite(src, "mproc")
        assert changed, f"{file} imports nothing from multiprocessing"
        for _, old, line in changed:
            assert re.match(r"\s*(import|from)\s+multiprocessing\b", old)
            assert re.match(r"\s*(import|from)\s+mproc\b", line)
        assert len(new.split("\n")) == len(src.split("\n"))


@pytest.mark.parametrize("line,expected", [
    ("import multiprocessing", "import mproc as multiprocessing"),
    ("import multiprocessing as mp", "import mproc as mp"),
    ("    import multiprocessing  # here", "    import mproc as multiprocessing  # here"),
    ("from multiprocessing import Process, Queue", "from mproc import Process, Queue"),
    ("from multiprocessing.shared_memory import SharedMemory",
     "from mproc.shared_memory import SharedMemory"),
    ("import multiprocessing.pool as pool", "import mproc.pool as pool"),
    ("import multiprocessingx", "import multiprocessingx"),
    ("x = 'from multiprocessing import Queue'", "x = 'from multiprocessing import Queue'"),
])
def test_with_mproc_rewrites_only_imports_of_multiprocessing(line, expected):
    assert with_mproc.rewrite_line(line, "mproc") == expected


def test_with_mproc_refuses_an_import_it_cannot_rewrite(tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("import multiprocessing.pool\nprint('ran')\n")
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, "with_mproc.py"), str(prog)],
                       env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    assert p.returncode == 2
    assert "ran" not in p.stdout
    assert "import multiprocessing.<sub>" in p.stderr


def test_with_mproc_gives_a_programs_own_valueerror_exit_status_1(tmp_path):
    # Python exits 1 for an uncaught ValueError; 2 is with_mproc.py's own
    # status for an import line it cannot rewrite, never the program's.
    prog = tmp_path / "p.py"
    prog.write_text("import multiprocessing\nraise ValueError('the program')\n")
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, "with_mproc.py"), str(prog)],
                       env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=60)
    assert p.returncode == 1
    assert "ValueError: the program" in p.stderr
    assert "with_mproc.py:" not in p.stderr


def test_with_mproc_runs_the_program_as_main_with_its_arguments(tmp_path):
    prog = tmp_path / "p.py"
    prog.write_text("import sys\nfrom multiprocessing import cpu_count\n"
                    "def f(): pass\n"
                    "print(__name__, f.__module__, sys.argv[1:], "
                    "sys.modules['__main__'].f is f)\n")
    out = run([os.path.join(EXAMPLES, "with_mproc.py"), "--module", "multiprocessing",
               str(prog), "a", "b"])
    assert out == "__main__ __main__ ['a', 'b'] True\n"


C_DEMO = """== Counting to 1,000,000: in one process, then split in two (500,000 each)
one process       271 us  (271 us .. 328 us)     total_number=1000000
two processes     609 us  (573 us .. 1.21 ms)    total_number=1000000   0.44x as fast
two threads      1.02 s   (1.00 s .. 1.10 s)     total_number=1000000   0.52x as fast
median of 3 runs each, interleaved (fastest .. slowest); 2 CPUs, load average 0.37

== A list through a Queue: a child process puts it, the parent gets it
[42, None, 'hello']
one child         780 us  (739 us .. 1.76 ms)

== The same list through a Pipe: a child process sends it, the parent receives it
[42, None, 'hello']
one child         346 us  (341 us .. 373 us)

== A shared-memory counter under a Semaphore: two processes count to 500,000 each
   and add their counts into it
two processes     821 us  (754 us .. 901 us)     total_number=1000000
"""


def test_demo_reads_the_rows_of_the_c_demo():
    rows = demo.parse_c_demo(C_DEMO, 1_000_000)
    assert rows[("count", "one process")] == pytest.approx((271e-6, 271e-6, 328e-6))
    assert rows[("count", "two processes")] == pytest.approx((609e-6, 573e-6, 1.21e-3))
    assert rows[("count", "two threads")] == pytest.approx((1.02, 1.00, 1.10))
    assert rows[("shm", "two processes")] == pytest.approx((821e-6, 754e-6, 901e-6))
    assert rows[("queue", "")] == pytest.approx((780e-6, 739e-6, 1.76e-3))
    assert rows[("pipe", "")] == pytest.approx((346e-6, 341e-6, 373e-6))
    assert len(rows) == 6


def test_make_demo_table_has_every_column():
    """The whole table, end to end, with multiprocessing standing in for the
    mproc column (so that it checks the plumbing, whatever is built)."""
    build = build_dir()
    if not build or not os.access(os.path.join(build, "mproc"), os.X_OK):
        pytest.skip("no build tree with the mproc tool on PYTHONPATH")
    p = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py"), "--build", build,
                        "--count", "100000", "--repeat", "1", "--python", sys.executable,
                        "--module", "multiprocessing"],
                       env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=240)
    assert p.returncode == 0, p.stdout + p.stderr
    numpy = demo.probe(sys.executable, env(), "multiprocessing", set())[2]
    lines = p.stdout.splitlines()
    head = next(l for l in lines if "Python multiprocessing" in l)
    assert "multiprocessing (--module)" in head and "C (mproc)" in head
    for label in ("in one process", "in two processes", "in two threads",
                  "a list through a Queue", "a list through a Pipe", "a shared-memory counter"):
        row = next(l for l in lines if l.startswith(label) or l.startswith("  " + label))
        cells = re.findall(r"\d+(?:\.\d+)? (?:s|ms|us) \(", row)
        want = 3 if numpy or "shared" not in label else 1
        assert len(cells) == want, row
    assert "printed the same with multiprocessing and with mproc" in p.stdout
