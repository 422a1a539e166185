"""mproc.pool.Pool: multiprocessing.Pool's behaviour, and what mproc adds
(a killed worker fails only its task, per-task timeouts, clear errors for
what cannot be pickled). Every test leaves no process behind (conftest)."""
import os
import pickle
import signal
import threading
import time

import pytest

import mproc
from mproc import pool as mpool
from mproc.pool import Pool, RemoteTraceback, TaskTimeoutError, WorkerLostError

PARENT = os.getpid()


# Tasks: module level, so that they pickle by reference.
def square(x):
    return x * x


def add(a, b):
    return a + b


def kw(a, b=0, *, c=0):
    return (a, b, c)


def boom(x):
    if x == 3:
        raise ValueError(f"bad item {x}")
    return x


def sleepy(x):
    time.sleep(x)
    return x


def whoami(_=None):
    return os.getpid()


def blob(n):
    return b"\xab" * n


def length(b):
    return len(b)


def report_and_hang(path):
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(path + ".tmp", path)
    time.sleep(60)


def die_on(x, bad=3):
    if x == bad:
        os.kill(os.getpid(), signal.SIGKILL)
    return x


def die_once(path):
    if not os.path.exists(path):
        open(path, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return "second try"


_state = {}


def init_state(value):
    _state["v"] = value


def read_state(_=None):
    return _state.get("v")


def failing_init():
    raise RuntimeError("this initializer fails")


class Unpicklable(Exception):
    def __init__(self, a, b):  # pickles as (a,) only: unpickling fails
        super().__init__(a)
        self.b = b


def raise_unpicklable(_):
    raise Unpicklable("text of it", 2)


def return_lock(_):
    return threading.Lock()


def exit_task(code):
    raise SystemExit(code)


def hard_exit(code):
    os._exit(code)


def threads_and_imports(_):
    import json  # an import inside the worker
    out = []
    t = threading.Thread(target=lambda: out.append(json.dumps({"ok": os.getpid()})))
    t.start()
    t.join()
    return out[0], threading.current_thread() is threading.main_thread()


_forks_seen = []
os.register_at_fork(after_in_child=lambda: _forks_seen.append(os.getpid()))


def fork_callbacks_seen(_):
    return os.getpid() in _forks_seen


def wait_for_file(path, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read())
        time.sleep(0.01)
    raise AssertionError("the task did not start")


# --- multiprocessing's API ----------------------------------------------------

def test_map_returns_results_in_order_for_every_chunksize():
    with Pool(2) as p:
        expected = [x * x for x in range(1000)]
        assert p.map(square, range(1000)) == expected
        assert p.map(square, range(1000), chunksize=1) == expected
        assert p.map(square, range(1000), chunksize=7) == expected
        assert p.map(square, iter(range(1000)), 5000) == expected
        assert p.map(square, []) == []


def test_starmap_and_starmap_async_unpack_arguments():
    with Pool(2) as p:
        pairs = [(i, 10 * i) for i in range(50)]
        assert p.starmap(add, pairs) == [a + b for a, b in pairs]
        assert p.starmap(add, pairs, chunksize=4) == [a + b for a, b in pairs]
        assert p.starmap_async(add, pairs).get(30) == [a + b for a, b in pairs]


def test_apply_and_apply_async_pass_args_and_kwds():
    with Pool(2) as p:
        assert p.apply(kw, (1,)) == (1, 0, 0)
        assert p.apply(kw, (1, 2), {"c": 3}) == (1, 2, 3)
        r = p.apply_async(kw, (4,), {"b": 5})
        assert r.get(30) == (4, 5, 0)
        assert r.ready() and r.successful()


def test_callbacks_run_in_the_parent():
    got, errs = [], []

    def cb(v):
        got.append((os.getpid(), v))

    def ecb(e):
        errs.append((os.getpid(), e))

    with Pool(2) as p:
        p.apply_async(square, (7,), callback=cb).wait(30)
        p.map_async(square, range(5), callback=cb).wait(30)
        p.apply_async(boom, (3,), error_callback=ecb).wait(30)
        p.map_async(boom, range(5), callback=cb, error_callback=ecb).wait(30)
    assert got == [(PARENT, 49), (PARENT, [0, 1, 4, 9, 16])]
    assert [pid for pid, _ in errs] == [PARENT, PARENT]
    assert all(isinstance(e, ValueError) for _, e in errs)


def test_async_result_get_wait_ready_successful():
    with Pool(2) as p:
        r = p.apply_async(sleepy, (0.5,))
        assert not r.ready()
        with pytest.raises(ValueError):
            r.successful()
        with pytest.raises(mpool.TimeoutError):
            r.get(timeout=0.05)
        r.wait(0.01)
        assert r.get(30) == 0.5
        assert r.successful()
        bad = p.apply_async(boom, (3,))
        bad.wait(30)
        assert bad.ready() and not bad.successful()


def test_get_timeout_raises_the_pools_timeout_error_and_the_task_goes_on():
    with Pool(1) as p:
        r = p.apply_async(sleepy, (1,))
        with pytest.raises(mpool.TimeoutError):
            r.get(0.05)
        assert r.get(30) == 1


def test_thread_pool_is_multiprocessings():
    import multiprocessing.pool
    assert mpool.ThreadPool is multiprocessing.pool.ThreadPool


def test_exception_comes_back_with_the_remote_traceback():
    with Pool(2) as p:
        with pytest.raises(ValueError, match="bad item 3") as ei:
            p.map(boom, range(10))
        cause = ei.value.__cause__
        assert isinstance(cause, RemoteTraceback)
        assert "in boom" in str(cause) and 'raise ValueError(f"bad item {x}")' in str(cause)
        with pytest.raises(ValueError, match="bad item 3"):
            p.map(boom, range(10), chunksize=4)
        with pytest.raises(ValueError, match="bad item 3"):
            p.apply(boom, (3,))
        assert p.map(square, range(3)) == [0, 1, 4]  # the pool goes on


def test_an_exception_that_cannot_be_pickled_still_reports_its_text():
    with Pool(1) as p:
        with pytest.raises(mpool.RemoteError, match="text of it"):
            p.apply(raise_unpicklable, (1,))


def test_a_result_that_cannot_be_pickled_is_an_error_of_that_task():
    with Pool(1) as p:
        with pytest.raises(TypeError, match="pickle"):
            p.apply(return_lock, (1,))
        assert p.map(square, [3]) == [9]


def test_system_exit_in_a_task_does_not_end_the_caller():
    with Pool(1) as p:
        with pytest.raises(mpool.RemoteError, match="SystemExit: 3"):
            p.apply(exit_task, (3,))
        with pytest.raises(WorkerLostError, match="exited with code 7") as ei:
            p.apply(hard_exit, (7,))
        assert ei.value.exitcode == 7 and ei.value.signal == 0
        assert p.apply(square, (4,)) == 16


def test_imap_yields_in_order_even_when_later_items_finish_first():
    delays = [0.3, 0.0, 0.2, 0.0, 0.1, 0.0]
    with Pool(3) as p:
        assert list(p.imap(sleepy, delays)) == delays
        assert list(p.imap(square, range(100), chunksize=8)) == [x * x for x in range(100)]
        it = p.imap(sleepy, [0.5])
        with pytest.raises(mpool.TimeoutError):
            it.next(timeout=0.05)
        assert it.next(timeout=30) == 0.5
        with pytest.raises(StopIteration):
            next(it)


def test_imap_raises_at_the_failing_item_and_goes_on():
    with Pool(2) as p:
        it = p.imap(boom, range(6))
        assert [next(it), next(it), next(it)] == [0, 1, 2]
        with pytest.raises(ValueError):
            next(it)
        assert list(it) == [4, 5]


def test_imap_unordered_yields_every_result_once():
    with Pool(3) as p:
        got = list(p.imap_unordered(square, range(200)))
        assert sorted(got) == [x * x for x in range(200)]
        got = list(p.imap_unordered(square, range(200), chunksize=16))
        assert sorted(got) == [x * x for x in range(200)]
        first = next(p.imap_unordered(sleepy, [1.0, 0.0]))
        assert first == 0.0


def test_maxtasksperchild_replaces_workers():
    with Pool(1, maxtasksperchild=2) as p:
        pids = p.map(whoami, range(8), chunksize=1)
        assert len(set(pids)) >= 4
        assert p.stats()["worker_retired"] >= 3


def test_initializer_runs_in_every_worker_also_in_replacements():
    with Pool(2, initializer=init_state, initargs=("ready",), maxtasksperchild=1) as p:
        assert p.map(read_state, range(6), chunksize=1) == ["ready"] * 6


def test_a_failing_initializer_breaks_the_pool_instead_of_hanging():
    with Pool(1, initializer=failing_init) as p:
        with pytest.raises(mproc.MprocError, match="broken"):
            p.map(square, range(3))


def test_close_then_join_waits_for_async_work_and_callbacks():
    got = []
    p = Pool(2)
    rs = [p.apply_async(sleepy, (0.05,), callback=got.append) for _ in range(6)]
    p.close()
    with pytest.raises(ValueError):
        p.apply_async(square, (1,))
    with pytest.raises(ValueError):
        p.map(square, [1])
    p.join()
    assert got == [0.05] * 6 and all(r.ready() for r in rs)


def test_join_before_close_is_an_error():
    p = Pool(1)
    try:
        with pytest.raises(ValueError):
            p.join()
    finally:
        p.terminate()


def test_context_manager_terminates_and_the_pool_is_unusable():
    with Pool(2) as p:
        pids = p.worker_pids()
        assert len(pids) == 2
    with pytest.raises(ValueError):
        p.map(square, [1])
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_terminate_with_running_tasks_leaves_no_process():
    p = Pool(2)
    r = p.map_async(sleepy, [30] * 6, chunksize=1)
    time.sleep(0.2)
    pids = p.worker_pids()
    t = time.monotonic()
    p.terminate()
    p.join()
    assert time.monotonic() - t < 10
    with pytest.raises(mproc.MprocError):  # its tasks were cancelled
        r.get(10)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        Pool(0)
    with pytest.raises(TypeError):
        Pool(1, initializer=42)
    with pytest.raises(ValueError):
        Pool(1, maxtasksperchild=0)
    with Pool(1) as p:
        with pytest.raises(ValueError):
            p.map(square, [1], chunksize=0)
        with pytest.raises(NotImplementedError):
            pickle.dumps(p)


def test_large_arguments_and_results_travel_whole():
    with Pool(2) as p:
        assert p.map(length, [b"x" * (3 << 20), b"y"]) == [3 << 20, 1]
        out = p.map(blob, [10, 2 << 20, 5])
        assert [len(b) for b in out] == [10, 2 << 20, 5] and out[1] == b"\xab" * (2 << 20)
        assert len(p.apply(blob, (1 << 20,))) == 1 << 20


# --- mproc extras: worker death, timeouts, pickling errors --------------------

def test_worker_killed_mid_task_fails_that_task_with_pid_and_signal(tmp_path):
    path = str(tmp_path / "pid")
    with Pool(2) as p:
        r = p.apply_async(report_and_hang, (path,))
        others = p.map_async(sleepy, [0.05] * 10, chunksize=1)
        pid = wait_for_file(path)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerLostError) as ei:
            r.get(30)
        e = ei.value
        assert isinstance(e, mproc.MprocError)
        assert e.pid == pid and e.signal == signal.SIGKILL and e.exitcode is None
        assert str(pid) in str(e) and "SIGKILL" in str(e)
        assert others.get(30) == [0.05] * 10
        assert p.map(square, range(20)) == [x * x for x in range(20)]
        assert pid not in p.worker_pids() and len(p.worker_pids()) == 2
        assert p.stats()["worker_deaths"] == 1


def test_a_task_that_kills_its_worker_fails_alone_in_a_map():
    with Pool(2) as p:
        it = p.imap(die_on, range(8))
        got = []
        for _ in range(8):
            try:
                got.append(next(it))
            except WorkerLostError as e:
                got.append(("lost", e.signal))
        assert got == [0, 1, 2, ("lost", signal.SIGKILL), 4, 5, 6, 7]
        with pytest.raises(WorkerLostError, match="SIGKILL"):
            p.map(die_on, range(8), chunksize=1)
        assert p.map(square, range(5)) == [0, 1, 4, 9, 16]


def test_on_worker_death_retry_runs_the_task_again(tmp_path):
    with Pool(2, on_worker_death="retry") as p:
        assert p.apply(die_once, (str(tmp_path / "flag"),)) == "second try"


def test_on_worker_death_break_fails_the_pool():
    with Pool(2, on_worker_death="break") as p:
        with pytest.raises(WorkerLostError):
            p.apply(die_on, (3,))
        with pytest.raises(mproc.MprocError, match="broken"):
            p.map(square, range(3))


def test_task_timeout_kills_the_worker_and_the_pool_goes_on():
    with Pool(2, task_timeout=0.5) as p:
        t = time.monotonic()
        with pytest.raises(TaskTimeoutError) as ei:
            p.apply(sleepy, (30,))
        assert time.monotonic() - t < 10
        assert isinstance(ei.value, TimeoutError) and isinstance(ei.value, mproc.MprocError)
        assert p.apply(sleepy, (0.01,)) == 0.01
    with Pool(1) as p:
        r = p.apply_async(sleepy, (30,), timeout=0.3)
        with pytest.raises(TaskTimeoutError):
            r.get(20)
        assert p.apply(square, (3,)) == 9


def test_unpicklable_function_or_argument_fails_in_the_caller_at_submit():
    with Pool(1) as p:
        with pytest.raises(pickle.PicklingError, match="task function"):
            p.apply_async(lambda x: x, (1,))
        with pytest.raises(pickle.PicklingError, match="task function"):
            p.map(lambda x: x, [1, 2])
        with pytest.raises(pickle.PicklingError, match="arguments of task 2"):
            p.map(square, [1, 2, threading.Lock()], chunksize=1)
        with pytest.raises(pickle.PicklingError):
            p.imap(square, [threading.Lock()])
        assert p.map(square, [1, 2]) == [1, 4]


def test_worker_pids_and_stats():
    with Pool(3) as p:
        assert len(p.worker_pids()) == 3
        p.map(square, range(30), chunksize=1)
        s = p.stats()
        assert s["items_done"] >= 30 and s["worker_deaths"] == 0


def test_mproc_exports_the_pool_errors():
    assert issubclass(mproc.WorkerLostError, mproc.MprocError)
    assert mproc.WorkerLostError is WorkerLostError
    assert issubclass(TaskTimeoutError, TimeoutError)


def test_break_policy_map_raises_the_lost_worker_not_just_broken():
    with Pool(2, on_worker_death="break") as p:
        with pytest.raises(WorkerLostError):
            p.map(die_on, range(300), chunksize=1)
    with Pool(2, on_worker_death="break") as p:
        with pytest.raises(WorkerLostError):
            p.map_async(die_on, range(300), chunksize=1).get(30)


def test_a_killed_worker_fails_its_chunk_with_default_chunking():
    with Pool(2) as p:
        with pytest.raises(WorkerLostError, match="SIGKILL"):
            p.map(die_on, range(100))
        assert p.map(square, range(100)) == [x * x for x in range(100)]


def test_ctrl_c_interrupts_a_map_and_the_pool_stays_usable():
    with Pool(2) as p:
        t = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        t.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                p.map(sleepy, [0.2] * 200, chunksize=1)
        finally:
            t.cancel()
        assert p.map(square, range(5)) == [0, 1, 4, 9, 16]


def test_a_pool_dropped_without_close_leaves_no_process():
    import gc
    p = Pool(2)
    p.apply_async(square, (2,)).get(30)
    pids = p.worker_pids()
    del p
    gc.collect()
    end = time.monotonic() + 10
    while time.monotonic() < end and any(_alive(pid) for pid in pids):
        time.sleep(0.01)
    assert not any(_alive(pid) for pid in pids)


def _alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def test_imap_over_an_endless_iterator_streams_results():
    import itertools
    with Pool(2) as p:
        got = []
        for r in p.imap(square, itertools.count()):
            got.append(r)
            if len(got) == 50:
                break
        assert got == [x * x for x in range(50)]
        gen = (x for x in range(100))
        assert sorted(p.imap_unordered(square, gen, chunksize=7)) == [x * x for x in range(100)]


def _gen_then_raise():
    yield 1
    yield 2
    raise OSError("the input broke")


def test_imap_over_an_iterator_raises_its_errors_in_place():
    with Pool(2) as p:
        it = p.imap(square, _gen_then_raise())
        assert [next(it), next(it)] == [1, 4]
        with pytest.raises(OSError, match="the input broke"):
            next(it)
        with pytest.raises(StopIteration):
            next(it)
        it = p.imap(square, iter([1, threading.Lock()]))
        assert next(it) == 1
        with pytest.raises(pickle.PicklingError):
            next(it)


def test_close_and_join_finish_imap_fed_from_an_iterator():
    p = Pool(2)
    it = p.imap(square, iter(range(300)))
    p.close()
    p.join()
    assert list(it) == [x * x for x in range(300)]


def test_a_replacement_worker_forked_by_the_pool_thread_runs_python_fully():
    with Pool(1, maxtasksperchild=1) as p:
        first = p.apply(whoami)
        with pytest.raises(WorkerLostError):
            p.apply(die_on, (3,))
        for _ in range(3):  # each a new worker, forked by the pool's own thread
            text, is_main = p.apply(threads_and_imports, (0,))
            pid = int(text.split(":")[1].rstrip("}"))
            assert pid != first and pid != PARENT and is_main
            assert p.apply(fork_callbacks_seen, (0,))


def test_imap_hands_over_results_before_the_slow_ones_finish():
    for ordered in (True, False):
        with Pool(2) as p:  # one pool each: the slow call keeps a worker
            it = (p.imap(sleepy, [0.0, 0.0, 0.0, 5.0]) if ordered
                  else p.imap_unordered(sleepy, [5.0, 0.0, 0.0, 0.0]))
            t = time.monotonic()
            assert [next(it) for _ in range(3)] == [0.0, 0.0, 0.0]
            assert time.monotonic() - t < 4
    with Pool(2) as p:
        it = p.imap(boom, range(8), chunksize=5)
        assert [next(it) for _ in range(3)] == [0, 1, 2]
        for _ in range(2):  # 3 raised; 4 was in its chunk, after it
            with pytest.raises(ValueError):
                next(it)
        assert list(it) == [5, 6, 7]


def _whoami(_):
    me = mproc.current_process()
    parent = mproc.parent_process()
    return (me.name, me._identity, me.daemon, me.pid == os.getpid(),
            parent is not None and parent.pid == os.getppid())


@pytest.mark.parametrize("method, prefix", [("fork", "ForkPoolWorker"), ("spawn", "SpawnPoolWorker")])
def test_workers_look_like_multiprocessings_pool_workers(method, prefix):
    # Programs log current_process().name and pick a GPU or a seed from
    # current_process()._identity[0]; in mproc's workers both were the
    # parent's ('MainProcess', ()), and _identity[0] raised IndexError.
    with mproc.get_context(method).Pool(2) as pool:
        seen = set(pool.map(_whoami, range(8), chunksize=1))
    numbers = sorted(ident[0] for _, ident, _, _, _ in seen)
    assert len(numbers) <= 2 and all(len(ident) == 1 for _, ident, _, _, _ in seen)
    for name, ident, daemon, pid_ok, parent_ok in seen:
        assert name == f"{prefix}-{ident[0]}"
        assert daemon and pid_ok and parent_ok
    assert numbers[0] >= 1 and len(set(numbers)) == len(numbers)


def test_an_argument_that_cannot_be_pickled_raises_what_multiprocessing_raises():
    # multiprocessing lets the pickler's error through: RuntimeError for a
    # Queue (share it through the initializer), TypeError for a thread
    # lock. mproc's PicklingError (with the task named) is now also of
    # that class, so the program's `except RuntimeError` still catches it.
    q = mproc.Queue()
    with Pool(1) as p:
        with pytest.raises(RuntimeError, match="inheritance") as e:
            p.apply(square, (q,))
        assert isinstance(e.value, pickle.PicklingError)
        with pytest.raises(TypeError, match="arguments of task 1.*cannot pickle") as e:
            p.map(square, [1, threading.Lock()], chunksize=1)
        assert isinstance(e.value, pickle.PicklingError)
        assert isinstance(e.value.__cause__, TypeError)
        assert p.map(square, [3]) == [9]
    q.close()


_ENDLESS_ROUNDS = r"""
import faulthandler, itertools, sys, threading, time
from mproc.pool import Pool

def square(x):
    return x * x

def endless():
    n = 0
    while True:
        yield n
        n += 1

rounds = int(sys.argv[1])
for r in range(rounds):
    # A round that hangs dumps every thread's stack and exits with 1.
    faulthandler.dump_traceback_later(10, exit=True)
    src = itertools.count() if r % 2 == 0 else endless()
    with Pool(2) as p:
        got = []
        imap = p.imap if r % 4 < 2 else p.imap_unordered
        for v in imap(square, src):
            got.append(v)
            if len(got) == 20:
                break
    if r % 4 < 2:
        assert got == [x * x for x in range(20)], got
    faulthandler.cancel_dump_traceback_later()
    # The result thread is gone once the with block is left; the feeder
    # stops at its next chunk.
    assert not [t for t in threading.enumerate() if t.name == "mproc-pool-results"]
    deadline = time.monotonic() + 5
    while [t for t in threading.enumerate() if t.name == "mproc-pool-feeder"]:
        assert time.monotonic() < deadline, "a feeder outlived its pool"
        time.sleep(0.01)
print("ok", rounds)
"""


def test_leaving_a_pool_mid_imap_over_an_endless_iterator_never_hangs(tmp_path):
    # terminate() (leaving the with block) must abandon a streaming imap
    # job that a feeder thread keeps feeding, and never wait on it; this
    # hung within a few dozen rounds (a feeder's chunk refused by the
    # terminated pool left the result thread asleep).
    assert "ok 40" in _run_script(tmp_path, _ENDLESS_ROUNDS, "40")


_DROPPED_MID_IMAP = r"""
import faulthandler, gc, itertools, os, threading, time
from mproc.pool import Pool

def square(x):
    return x * x

faulthandler.dump_traceback_later(20, exit=True)
for r in range(10):
    p = Pool(2)
    pids = p.worker_pids()
    it = (p.imap if r % 2 else p.imap_unordered)(square, itertools.count())
    for _ in range(5):
        next(it)
    del it, p
    gc.collect()
    # The feeder stops, the pool's finalizer kills and reaps the workers.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        threads = [t.name for t in threading.enumerate() if t.name.startswith("mproc-pool")]
        alive = [q for q in pids if os.path.exists(f"/proc/{q}")]
        if not threads and not alive:
            break
        time.sleep(0.01)
        gc.collect()
    assert not threads and not alive, (r, threads, alive)
print("ok")
"""


def _run_script(tmp_path, text, *args, timeout=50):
    import subprocess
    import sys
    script = tmp_path / "script.py"
    script.write_text(text)
    proc = subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the script did not finish in {timeout} s:\n" + out.decode(errors="replace"))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    return text


def test_a_pool_dropped_mid_imap_over_an_endless_iterator_is_collected(tmp_path):
    # The feeder holds the pool and the results only weakly: dropping both
    # lets the pool's finalizer terminate it, and the feeder stops.
    assert "ok" in _run_script(tmp_path, _DROPPED_MID_IMAP)
