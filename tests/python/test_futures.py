"""mproc.futures.ProcessPoolExecutor: concurrent.futures' behaviour on
mproc's pool, and mproc's answer to a killed worker (only that future
fails, the executor goes on)."""
import asyncio
import concurrent.futures as cf
import os
import signal
import time

import pytest

import mproc
from mproc import futures
from mproc.futures import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION, ProcessPoolExecutor,
                           as_completed, wait)
from mproc.pool import RemoteTraceback


def square(x):
    return x * x


def add(a, b=0):
    return a + b


def sleepy(x):
    time.sleep(x)
    return x


def fail(msg):
    raise KeyError(msg)


def whoami(_=None):
    return os.getpid()


def touch(path):
    open(path, "w").close()
    return path


def report_and_hang(path):
    with open(path + ".tmp", "w") as f:
        f.write(str(os.getpid()))
    os.rename(path + ".tmp", path)
    time.sleep(60)


_state = {}


def init_state(v):
    _state["v"] = v


def read_state(_=None):
    return _state.get("v")


def wait_for_file(path, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read())
        time.sleep(0.01)
    raise AssertionError("the task did not start")


def test_submit_returns_a_concurrent_futures_future():
    with ProcessPoolExecutor(2) as ex:
        f = ex.submit(add, 2, b=3)
        assert isinstance(f, cf.Future)
        assert f.result(timeout=30) == 5
        assert f.done() and not f.cancelled() and f.exception() is None


def test_exception_propagates_with_remote_traceback():
    with ProcessPoolExecutor(2) as ex:
        f = ex.submit(fail, "nope")
        with pytest.raises(KeyError, match="nope") as ei:
            f.result(timeout=30)
        assert isinstance(ei.value.__cause__, RemoteTraceback)
        assert "in fail" in str(ei.value.__cause__)
        assert isinstance(f.exception(), KeyError)


def test_map_in_order_with_chunksize_and_many_iterables():
    with ProcessPoolExecutor(2) as ex:
        assert list(ex.map(square, range(100))) == [x * x for x in range(100)]
        assert list(ex.map(square, range(100), chunksize=9)) == [x * x for x in range(100)]
        assert list(ex.map(add, range(5), range(10, 15))) == [10, 12, 14, 16, 18]
        assert list(ex.map(square, [])) == []


def test_map_timeout_raises_timeout_error():
    with ProcessPoolExecutor(1) as ex:
        it = ex.map(sleepy, [2, 2], timeout=0.2)
        with pytest.raises(cf.TimeoutError):
            list(it)


def test_as_completed_and_wait():
    with ProcessPoolExecutor(2) as ex:
        fs = [ex.submit(sleepy, d) for d in (0.4, 0.0, 0.2)]
        order = [f.result() for f in as_completed(fs, timeout=30)]
        assert sorted(order) == [0.0, 0.2, 0.4] and order[0] == 0.0
        fs = [ex.submit(sleepy, 1.0), ex.submit(sleepy, 0.0)]
        done, not_done = wait(fs, timeout=30, return_when=FIRST_COMPLETED)
        assert fs[1] in done
        done, not_done = wait(fs, timeout=30, return_when=ALL_COMPLETED)
        assert not not_done
        fs = [ex.submit(fail, "x"), ex.submit(sleepy, 1.0)]
        done, _ = wait(fs, timeout=30, return_when=FIRST_EXCEPTION)
        assert fs[0] in done
    assert futures.Future is cf.Future and futures.CancelledError is cf.CancelledError


def test_asyncio_wrap_future_works():
    async def main(ex):
        loop = asyncio.get_running_loop()
        a = asyncio.wrap_future(ex.submit(square, 6))
        b = loop.run_in_executor(ex, square, 7)
        return await asyncio.gather(a, b)

    with ProcessPoolExecutor(2) as ex:
        assert asyncio.run(main(ex)) == [36, 49]


def test_shutdown_refuses_new_work_and_waits():
    ex = ProcessPoolExecutor(2)
    fs = [ex.submit(sleepy, 0.05) for _ in range(4)]
    ex.shutdown(wait=True)
    assert all(f.done() for f in fs)
    with pytest.raises(RuntimeError):
        ex.submit(square, 1)
    ex.shutdown()  # twice is fine


def test_shutdown_cancel_futures_cancels_queued_tasks(tmp_path):
    ex = ProcessPoolExecutor(1)
    running = ex.submit(sleepy, 0.5)
    time.sleep(0.1)
    queued = [ex.submit(touch, str(tmp_path / f"f{i}")) for i in range(5)]
    ex.shutdown(wait=True, cancel_futures=True)
    assert running.result() == 0.5
    assert all(f.cancelled() for f in queued)
    assert not any(os.path.exists(tmp_path / f"f{i}") for i in range(5))


def test_cancel_of_a_queued_future_means_it_never_runs(tmp_path):
    with ProcessPoolExecutor(1) as ex:
        blocker = ex.submit(sleepy, 0.5)
        time.sleep(0.1)
        f = ex.submit(touch, str(tmp_path / "never"))
        assert f.cancel() and f.cancelled()
        assert blocker.result(30) == 0.5
        assert ex.submit(square, 3).result(30) == 9
        with pytest.raises(cf.CancelledError):
            f.result()
    assert not os.path.exists(tmp_path / "never")


def test_worker_killed_fails_only_its_future_and_the_executor_goes_on(tmp_path):
    path = str(tmp_path / "pid")
    with ProcessPoolExecutor(2) as ex:
        victim = ex.submit(report_and_hang, path)
        others = [ex.submit(sleepy, 0.05) for _ in range(6)]
        pid = wait_for_file(path)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(mproc.WorkerLostError) as ei:
            victim.result(timeout=30)
        assert ei.value.pid == pid and ei.value.signal == signal.SIGKILL
        assert [f.result(30) for f in others] == [0.05] * 6
        assert ex.submit(square, 4).result(30) == 16


def test_initializer_and_max_tasks_per_child():
    with ProcessPoolExecutor(1, initializer=init_state, initargs=(9,),
                             max_tasks_per_child=1) as ex:
        pids = [ex.submit(whoami).result(30) for _ in range(3)]
        assert len(set(pids)) == 3
        assert ex.submit(read_state).result(30) == 9


def test_bad_arguments_and_unpicklable_input():
    with pytest.raises(ValueError):
        ProcessPoolExecutor(0)
    with pytest.raises(ValueError):
        ProcessPoolExecutor(1, max_tasks_per_child=0)
    with ProcessPoolExecutor(1) as ex:
        import pickle
        with pytest.raises(pickle.PicklingError):
            ex.submit(lambda: 1)
        assert ex.submit(square, 2).result(30) == 4


def test_task_timeout_fails_the_future():
    with ProcessPoolExecutor(1, task_timeout=0.3) as ex:
        with pytest.raises(mproc.TaskTimeoutError):
            ex.submit(sleepy, 30).result(timeout=20)
        assert ex.submit(square, 5).result(30) == 25


def _whoami(_):
    me = mproc.current_process()
    return me.name, me._identity, me.daemon


def test_workers_are_named_as_concurrent_futures_names_them():
    # concurrent.futures' workers are ForkProcess-<n> (not daemons) with
    # _identity (n,); mproc's were the parent's MainProcess copy.
    with ProcessPoolExecutor(2) as ex:
        seen = set(ex.map(_whoami, range(6)))
    for name, ident, daemon in seen:
        assert name == f"ForkProcess-{ident[0]}" and not daemon
