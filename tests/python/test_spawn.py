"""The spawn start method: a fresh interpreter gets the Process and the
objects handed to it."""
import os
import signal

import pytest

import mproc

ctx = mproc.get_context("spawn")


def _work(q, conn):
    q.put(("spawned", os.getpid(), mproc.current_process().name))
    conn.send(conn.recv() * 2)
    conn.close()
    q.close()


def test_spawn_child_gets_a_queue_and_a_pipe_end():
    q = ctx.Queue()
    a, b = ctx.Pipe()
    p = ctx.Process(target=_work, args=(q, b), name="spawned-1")
    p.start()
    b.close()
    a.send(21)
    tag, pid, name = q.get(timeout=30)
    assert (tag, pid, name) == ("spawned", p.pid, "spawned-1")
    assert a.recv() == 42
    p.join(30)
    assert p.exitcode == 0
    a.close()
    q.close()


def _exit(code):
    raise SystemExit(code)


def test_spawn_exit_codes():
    p = ctx.Process(target=_exit, args=(5,))
    p.start()
    p.join(30)
    assert p.exitcode == 5


def test_unpicklable_target_fails_in_the_caller_and_starts_nothing():
    p = ctx.Process(target=lambda: 0)
    with pytest.raises(Exception, match="(?i)pickle"):
        p.start()
    assert mproc.active_children() == []


def test_spawned_child_can_be_terminated():
    import time
    p = ctx.Process(target=time.sleep, args=(60,))
    p.start()
    p.terminate()
    p.join(30)
    assert p.exitcode == -signal.SIGTERM


def test_set_start_method_spawn_makes_plain_process_spawn():
    d = mproc.context._default_context
    saved = d._actual
    try:
        mproc.set_start_method("spawn", force=True)
        q = mproc.Queue()
        p = mproc.Process(target=_work_q, args=(q,))
        p.start()
        assert q.get(timeout=30) == os.getpid()
        assert p._popen_method == "spawn"
        p.join(30)
        assert p.exitcode == 0
        q.close()
    finally:
        d._actual = saved


def _work_q(q):
    q.put(os.getppid())


SCRIPT = '''
import mproc

def double(q, x):
    q.put(x * 2)

if __name__ == "__main__":
    ctx = mproc.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=double, args=(q, 21))
    p.start()
    print("child said", q.get(timeout=30))
    p.join(30)
    print("exit", p.exitcode)
    q.close()
'''


def test_functions_of_the_main_script_are_found_in_the_spawned_child(tmp_path):
    import subprocess
    import sys
    script = tmp_path / "main_script.py"
    script.write_text(SCRIPT)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:2] == ["child said 42", "exit 0"]


DRIVER = """
import sys
main = type(sys)("__main__")
main.__file__ = sys.argv[1]
main.__builtins__ = __builtins__
main.__mproc_main_source__ = open(sys.argv[1]).read().replace("ON_DISK", "IN_MEMORY")
sys.modules["__main__"] = main
exec(compile(main.__mproc_main_source__, sys.argv[1], "exec"), main.__dict__)
"""

MAIN_IN_MEMORY = """
import mproc

WHERE = "ON_DISK"


def where(q):
    q.put(WHERE)


if __name__ == "__main__":
    ctx = mproc.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=where, args=(q,))
    p.start()
    print("parent", WHERE, "child", q.get(timeout=30))
    p.join()
"""


def test_spawned_child_runs_the_main_code_the_parent_ran_not_the_file(tmp_path):
    # with_mproc.py runs a program with its import lines changed: the
    # spawned child must run that code too, not the file on disk (which
    # imports multiprocessing). Such a __main__ sets __mproc_main_source__.
    import subprocess
    import sys
    script = tmp_path / "main_script.py"
    script.write_text(MAIN_IN_MEMORY)
    out = subprocess.run([sys.executable, "-c", DRIVER, str(script)], capture_output=True,
                         text=True, timeout=60, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    assert out.stdout == "parent IN_MEMORY child IN_MEMORY\n"


def _daemon_parent(q):
    d = ctx.Process(target=_sleep60, daemon=True)
    d.start()
    q.put(d.pid)
    import time
    time.sleep(60)


def _sleep60():
    import time
    time.sleep(60)


def test_spawned_daemon_dies_when_its_parent_is_sigkilled():
    import select
    from mproc import _mproc
    q = ctx.Queue()
    parent = mproc.Process(target=_daemon_parent, args=(q,))  # fork: only the daemon is spawned
    parent.start()
    dpid = q.get(timeout=30)
    fd = _mproc.pidfd_open(dpid)
    try:
        parent.kill()
        parent.join()
        assert select.select([fd], [], [], 20)[0] == [fd], "daemon child outlived its parent"
    finally:
        os.close(fd)
    q.close()
