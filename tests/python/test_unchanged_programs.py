"""`import mproc as multiprocessing` and the program runs unchanged.

Every script in tests/python/programs/ is an ordinary multiprocessing
program (written for multiprocessing, with an `if __name__ == "__main__":`
block and a deterministic output). Each runs twice, as a subprocess: once
as it is, on Python's multiprocessing, and once through
examples/python/with_mproc.py, which changes its import lines only. Both
runs must end with the same exit code and print the same stdout, each
within a time limit.

A program that imports concurrent.futures' process pool is a program for
`mproc.futures`: its `from concurrent.futures import ...` line is pointed at
mproc.futures as well (in a copy next to the original), and nothing else.

A program that uses a documented difference (docs/python-module.md) is
marked xfail with that difference as the reason: it shows what a user
meets, and turns into an XPASS the day the difference goes.
"""
import os
import re
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PROGRAMS = os.path.join(HERE, "programs")
ROOT = os.path.dirname(os.path.dirname(HERE))
WITH_MPROC = os.path.join(ROOT, "examples", "python", "with_mproc.py")
TIME_LIMIT_S = 40

# Documented differences (docs/python-module.md, "What is different").
XFAIL = {
    "pool_unpicklable_args.py": "the error for an argument a Pool cannot pickle names the task "
                                "before the pickler's message (docs/python-module.md, What is "
                                "different)",
    "condition_notify_n.py": "Condition.notify(n) may wake more than n waiters "
                              "(docs/python-module.md, What is different)",
    "listener_tcp.py": "Listener/Client take local addresses only, no TCP (host, port) "
                       "(docs/python-module.md, multiprocessing.connection)",
}

FUTURES_IMPORT = re.compile(r"^(\s*)from\s+concurrent\.futures\s+import\s", re.M)


def programs():
    return sorted(f for f in os.listdir(PROGRAMS) if f.endswith(".py"))


def have_numpy():
    try:
        import numpy  # noqa: F401
        return True
    except ImportError:
        return False


def env():
    e = dict(os.environ)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    # The programs run in their own directory: the build tree stays found.
    e["PYTHONPATH"] = os.pathsep.join(os.path.abspath(p) if p else p
                                      for p in e.get("PYTHONPATH", "").split(os.pathsep))
    return e


def run(argv, cwd):
    try:
        p = subprocess.run([sys.executable] + argv, cwd=cwd, env=env(), timeout=TIME_LIMIT_S,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"{argv} ran past {TIME_LIMIT_S} s; stdout so far:\n{e.stdout}")
    return p


def as_futures_program(path, tmp_path):
    """path itself, or a copy whose concurrent.futures import line names mproc.futures."""
    with open(path, encoding="utf-8") as f:
        src = f.read()
    if not FUTURES_IMPORT.search(src):
        return path
    new = FUTURES_IMPORT.sub(lambda m: f"{m.group(1)}from mproc.futures import ", src)
    copy = tmp_path / os.path.basename(path)
    copy.write_text(new, encoding="utf-8")
    return str(copy)


@pytest.mark.parametrize("name", programs())
def test_program_runs_unchanged_on_mproc(name, tmp_path, request):
    path = os.path.join(PROGRAMS, name)
    with open(path, encoding="utf-8") as f:
        if "import numpy" in f.read() and not have_numpy():
            pytest.skip("numpy is missing (apt-get install python3-numpy)")
    if name in XFAIL:
        request.applymarker(pytest.mark.xfail(reason=XFAIL[name], strict=True))
    on_mp = run([path], PROGRAMS)
    assert on_mp.stdout, f"the program prints nothing on multiprocessing:\n{on_mp.stderr}"
    on_mproc = run([WITH_MPROC, as_futures_program(path, tmp_path)], PROGRAMS)
    assert (on_mproc.returncode, on_mproc.stdout) == (on_mp.returncode, on_mp.stdout), \
        f"on mproc, stderr:\n{on_mproc.stderr}"
