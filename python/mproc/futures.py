"""mproc.futures: concurrent.futures.ProcessPoolExecutor on mproc's C pool.

submit() returns a concurrent.futures.Future (so as_completed, wait and
asyncio.wrap_future work as with the standard executor). The difference
that matters: a worker killed mid-task fails only that task's future with
mproc.WorkerLostError (naming the worker's pid and signal); the executor
goes on (the standard one raises BrokenProcessPool for every pending future
and refuses new work). cancel() succeeds for a task that has not finished:
a queued one never runs; a running one finishes and its result is dropped.
"""
import threading
import time

from concurrent.futures import (ALL_COMPLETED, FIRST_COMPLETED, FIRST_EXCEPTION,  # noqa: F401
                                CancelledError, Executor, Future, TimeoutError, as_completed,
                                wait)

from . import pool as _pool
from ._mproc import TaskTimeoutError, WorkerLostError  # noqa: F401

__all__ = ["ProcessPoolExecutor", "Future", "as_completed", "wait", "FIRST_COMPLETED",
           "FIRST_EXCEPTION", "ALL_COMPLETED", "CancelledError", "TimeoutError",
           "WorkerLostError", "TaskTimeoutError"]


class _Future(Future):
    """A Future whose cancel() also takes its task back from the pool."""

    def __init__(self, core):
        super().__init__()
        self._mproc_core = core
        self._mproc_job = None

    def cancel(self):
        with self._condition:
            if self._state not in ("PENDING",):
                return self._state in ("CANCELLED", "CANCELLED_AND_NOTIFIED")
        job = self._mproc_job
        if job is not None and not self._mproc_core.abandon(job, True):
            return False  # running, or finished: its result is on the way
        return super().cancel()

    def _mproc_done(self, results, errs):
        if not self.set_running_or_notify_cancel():
            return
        if errs:
            self.set_exception(errs[0])
        else:
            self.set_result(results[0])


class ProcessPoolExecutor(Executor):
    """concurrent.futures.ProcessPoolExecutor's API on forked mproc workers.

    Extras: ``task_timeout`` (seconds; a task running longer fails with
    TaskTimeoutError and its worker is replaced), ``on_worker_death``
    ("fail" (default), "retry" or "break", see mproc.pool.Pool).
    """

    def __init__(self, max_workers=None, mp_context=None, initializer=None, initargs=(),
                 max_tasks_per_child=None, *, task_timeout=None, on_worker_death="fail",
                 max_retries=0):
        if max_workers is not None and max_workers <= 0:
            raise ValueError("max_workers must be greater than 0")
        if max_tasks_per_child is not None:
            if not isinstance(max_tasks_per_child, int):
                raise TypeError("max_tasks_per_child must be an integer")
            if max_tasks_per_child <= 0:
                raise ValueError("max_tasks_per_child must be >= 1")
        self._pool = _pool.Pool(max_workers, initializer, initargs, max_tasks_per_child,
                                ctx=mp_context, task_timeout=task_timeout,
                                on_worker_death=on_worker_death, max_retries=max_retries,
                                _worker_kind="Process")  # ForkProcess-<n>, as concurrent.futures
        self._max_workers = self._pool._processes
        self._shutdown_lock = threading.Lock()
        self._shutdown = False
        self._futures = set()

    def submit(self, fn, /, *args, **kwargs):
        with self._shutdown_lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            f = _Future(self._pool._core)
            self._futures.add(f)
            f.add_done_callback(self._futures.discard)
            f._mproc_job = self._pool._submit(fn, [(args, kwargs or None)], _pool._CALL_ARGS, 1,
                                              f._mproc_done)
            return f

    submit.__doc__ = Executor.submit.__doc__

    def map(self, fn, *iterables, timeout=None, chunksize=1):
        """Like Executor.map: results in order; chunksize items per task."""
        if chunksize < 1:
            raise ValueError("chunksize must be >= 1.")
        end = None if timeout is None else time.monotonic() + timeout
        items = list(zip(*iterables))
        with self._shutdown_lock:
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            it = _pool.IMapIterator(self._pool)
            it._length = len(items)
            self._pool._start_handler()
            for base, chunk in _pool._chunks(items, chunksize):
                self._pool._core.submit(fn, chunk, _pool._CALL_STAR, len(chunk), None,
                                        _pool._bind_chunk(it._chunk_done, base))

        def results():
            for _ in range(len(items)):
                left = None if end is None else max(0.0, end - time.monotonic())
                try:
                    yield it.next(left)
                except _pool.TimeoutError:
                    raise TimeoutError() from None
        return results()

    def shutdown(self, wait=True, *, cancel_futures=False):
        with self._shutdown_lock:
            if cancel_futures:
                for f in list(self._futures):
                    f.cancel()
            if self._shutdown and not wait:
                return
            self._shutdown = True
            self._pool.close()
        if wait:
            self._pool.join()
        else:
            threading.Thread(target=self._pool.join, name="mproc-executor-join",
                             daemon=True).start()

    shutdown.__doc__ = Executor.shutdown.__doc__

    # mproc extras
    def worker_pids(self):
        return self._pool.worker_pids()
