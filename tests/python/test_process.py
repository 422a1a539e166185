"""Process: start, join with a timeout, exit codes, signals, daemons."""
import os
import select
import signal
import sys
import time

import pytest

import mproc
from mproc import _mproc


def _sleep(s):
    time.sleep(s)


def _exit_with(code):
    sys.exit(code)


def _raise():
    raise ValueError("boom in the child")


def _report(q):
    me = mproc.current_process()
    q.put((me.name, os.getpid(), mproc.parent_process().pid, mproc.parent_process().is_alive()))


def test_target_runs_with_args_and_exit_code_is_zero():
    q = mproc.Queue()
    p = mproc.Process(target=_report, args=(q,), name="worker-1")
    p.start()
    name, pid, ppid, parent_alive = q.get(timeout=10)
    p.join()
    assert (name, pid, ppid, parent_alive) == ("worker-1", p.pid, os.getpid(), True)
    assert p.exitcode == 0 and not p.is_alive()
    q.close()
    p.close()


def test_systemexit_code_and_uncaught_exception_give_multiprocessing_codes(capfd):
    p1 = mproc.Process(target=_exit_with, args=(7,))
    p2 = mproc.Process(target=_raise)
    p3 = mproc.Process(target=_exit_with, args=(None,))
    for p in (p1, p2, p3):
        p.start()
    for p in (p1, p2, p3):
        p.join()
    assert (p1.exitcode, p2.exitcode, p3.exitcode) == (7, 1, 0)
    err = capfd.readouterr().err
    assert "Traceback" in err and "ValueError: boom in the child" in err


def test_join_with_timeout_returns_while_running_and_terminate_gives_minus_sigterm():
    p = mproc.Process(target=_sleep, args=(30,))
    p.start()
    t0 = time.monotonic()
    p.join(0.2)
    assert time.monotonic() - t0 < 5
    assert p.is_alive() and p.exitcode is None
    assert p in mproc.active_children()
    p.terminate()
    p.join(10)
    assert p.exitcode == -signal.SIGTERM
    assert p not in mproc.active_children()


def test_kill_gives_minus_sigkill_and_sentinel_is_readable_once_ended():
    p = mproc.Process(target=_sleep, args=(30,))
    p.start()
    s = p.sentinel
    assert select.select([s], [], [], 0)[0] == []
    p.kill()
    assert select.select([s], [], [], 10)[0] == [s]
    p.join()
    assert p.exitcode == -signal.SIGKILL


def test_run_is_overridable_and_close_rules():
    class Sub(mproc.Process):
        def __init__(self, q):
            super().__init__()
            self.q = q

        def run(self):
            self.q.put("from run")

    q = mproc.Queue()
    p = Sub(q)
    p.start()
    assert q.get(timeout=10) == "from run"
    p.join()
    p.close()
    with pytest.raises(ValueError):
        p.exitcode
    q.close()


def test_close_refuses_a_running_child_and_start_twice_fails():
    p = mproc.Process(target=_sleep, args=(30,))
    p.start()
    with pytest.raises(AssertionError):
        p.start()
    with pytest.raises(ValueError):
        p.close()
    p.kill()
    p.join()
    p.close()


def _daemon_parent(q):
    d = mproc.Process(target=_sleep, args=(60,), daemon=True)
    d.start()
    q.put(d.pid)
    time.sleep(60)


def test_daemon_child_dies_when_its_parent_is_sigkilled():
    q = mproc.Queue()
    parent = mproc.Process(target=_daemon_parent, args=(q,))
    parent.start()
    dpid = q.get(timeout=10)
    fd = _mproc.pidfd_open(dpid)
    try:
        parent.kill()
        parent.join()
        assert select.select([fd], [], [], 10)[0] == [fd], "daemon child outlived its parent"
    finally:
        os.close(fd)
    q.close()


def _daemon_starter():
    d = mproc.Process(target=_sleep, args=(60,))
    d.start()


def test_daemonic_processes_may_not_have_children(capfd):
    p = mproc.Process(target=_daemon_starter, daemon=True)
    p.start()
    p.join()
    assert p.exitcode == 1
    assert "daemonic processes are not allowed to have children" in capfd.readouterr().err


def test_names_and_current_process_in_main():
    assert mproc.current_process().name == "MainProcess"
    assert mproc.parent_process() is None
    p = mproc.Process(target=_sleep, args=(0,))
    assert p.name.startswith("Process-")
    assert "initial" in repr(p)
    p.daemon = True
    assert p.daemon
    p.start()
    p.join()
    assert "stopped" in repr(p)


def _random_to(q):
    import random
    q.put(random.random())


def test_children_run_pythons_after_fork_steps():
    # random reseeds itself in os.register_at_fork(after_in_child=...):
    # two children forked from the same state must draw different numbers.
    q = mproc.Queue()
    ps = [mproc.Process(target=_random_to, args=(q,)) for _ in range(2)]
    for p in ps:
        p.start()
    a, b = q.get(timeout=10), q.get(timeout=10)
    for p in ps:
        p.join()
    assert a != b
    q.close()


def _start_from_thread(out):
    p = mproc.Process(target=_exit_with, args=(3,))
    p.start()
    p.join()
    out.append(p.exitcode)


def test_a_python_thread_may_start_and_join_a_process():
    import threading
    out = []
    t = threading.Thread(target=_start_from_thread, args=(out,))
    t.start()
    t.join(30)
    assert out == [3]


@pytest.mark.skipif(not hasattr(_mproc, "_fork_from_core_thread"), reason="needs a test build")
def test_a_core_thread_without_the_gil_may_fork_a_python_child():
    # What a pool's service thread does: the fork hooks take the GIL first.
    assert _mproc._fork_from_core_thread("import sys; x = sum(range(10))") == 0
    assert _mproc._fork_from_core_thread("raise ValueError('in the child')") == 1


def _child_names(q):
    p = mproc.Process(target=int)
    q.put((mproc.current_process()._identity, p._identity, p.name))


def test_a_childs_children_are_numbered_under_it():
    q = mproc.Queue()
    p = mproc.Process(target=_child_names, args=(q,))
    p.start()
    mine, theirs, name = q.get(timeout=10)
    p.join()
    assert theirs == mine + (1,) and name == "Process-" + ":".join(map(str, theirs))
    q.close()
