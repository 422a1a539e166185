"""mproc.pool: multiprocessing.Pool on mproc's C pool.

The names and behaviour of multiprocessing.pool.Pool, plus what the C pool
adds: a worker killed mid-task fails that task with WorkerLostError (naming
the worker's pid and signal) and the pool goes on (``on_worker_death``:
"fail", "retry" or "break"); a per-task timeout (``task_timeout`` of the
pool, ``timeout`` of apply_async); an unpicklable function or argument
raises in the caller at submit time. Dispatch, results and the waits are in
C (mproc._mproc.PoolCore); this module is the API surface. See
docs/python-module.md for the differences from multiprocessing.
"""
import builtins
import collections
import itertools
import sys
import threading
import time
import traceback
import types
import weakref

from . import _mproc
from ._mproc import MprocError, TaskTimeoutError, WorkerLostError

__all__ = ["Pool", "AsyncResult", "ApplyResult", "MapResult", "IMapIterator",
           "IMapUnorderedIterator", "WorkerLostError", "TaskTimeoutError", "RemoteTraceback", "RemoteError",
           "TimeoutError"]

try:  # the context module's TimeoutError, once it defines one
    from .context import TimeoutError  # noqa: F401
except ImportError:
    class TimeoutError(MprocError, builtins.TimeoutError):
        """AsyncResult.get() or an iterator's next() timed out."""

_CALL_ONE, _CALL_STAR, _CALL_ARGS = 0, 1, 2
_POLICIES = {"fail": 0, "retry": 1, "break": 2}
# Seconds terminate() waits for imap feeder threads to stop.
_FEEDER_GRACE = 1.0
RUN, CLOSE, TERMINATE = 0, 1, 2


class RemoteTraceback(Exception):
    """The traceback text of an exception raised in a worker (its __cause__)."""

    def __init__(self, tb):
        self.tb = tb

    def __str__(self):
        return self.tb


def _rebuild_exc(exc, tb):
    exc.__cause__ = RemoteTraceback(tb)
    return exc


class RemoteError(Exception):
    """A task's exception that could not come back as itself: one that
    cannot be pickled, or SystemExit / KeyboardInterrupt (which must not
    end the caller). Its text says what it was."""


# In a worker: the exception a task raised -> bytes the owner rebuilds.
def _wrap_exception(exc):
    import pickle
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    tb = '\n"""\n' + tb + '"""'
    exc.__traceback__ = None
    if not isinstance(exc, Exception):
        text = f"the task raised {type(exc).__name__}" + (f": {exc}" if str(exc) else "")
        return pickle.dumps((RemoteError(text), tb), 5)
    try:
        data = pickle.dumps((exc, tb), 5)
        pickle.loads(data)  # what cannot be rebuilt in the owner goes as text
        return data
    except Exception as e:  # the exception itself cannot travel: its text does
        text = f"{type(exc).__name__}: {exc} (could not be pickled: {e})"
        return pickle.dumps((RemoteError(text), tb), 5)


def _rebuild_exception(data):
    import pickle
    try:
        exc, tb = pickle.loads(data)
    except Exception as e:
        exc, tb = RemoteError(f"a task's exception could not be rebuilt: {e}"), ""
    return _rebuild_exc(exc, tb)


_mproc._pool_helpers(_wrap_exception, _rebuild_exception)


_EBROKEN = 4002  # MPROC_EBROKEN: the pool broke before the call ran


def _first_error(errs):
    """The error a map raises: of the lowest index, preferring a cause (a
    task's exception, a lost worker) to "the pool is broken" that the
    other calls get when a pool with on_worker_death="break" breaks."""
    first = errs[min(errs)]
    if type(first) is MprocError and first.errno == _EBROKEN:
        for i in sorted(errs):
            e = errs[i]
            if not (type(e) is MprocError and e.errno == _EBROKEN):
                return e
    return first


def _report_callback_error():
    try:
        sys.stderr.write("mproc.pool: exception in a callback:\n")
        traceback.print_exc()
    except Exception:
        pass


def _collector(core, stopped):
    """The result handler thread: runs the callbacks of finished jobs."""
    while True:
        batch = core.collect(None)
        if batch is None:
            break
        for cb, results, errs in batch:
            try:
                cb(results, errs)
            except BaseException:
                _report_callback_error()
    stopped.set()


def _finalize(core, handler_box):
    """A pool dropped without terminate() or join(): kill its workers, let
    its result thread finish, release the C pool."""
    try:
        core.terminate()
        core.stop()
        h = handler_box[0]
        if h is not None and h is not threading.current_thread():
            h.join()
        core.close()
    except Exception:
        pass


class ApplyResult:
    """The result of apply_async (and the base of MapResult)."""

    def __init__(self, pool, callback, error_callback, single=True):
        self._pool = pool
        self._event = threading.Event()
        self._callback = callback
        self._error_callback = error_callback
        self._single = single
        self._success = None
        self._value = None
        self._job = None

    def ready(self):
        return self._event.is_set()

    def successful(self):
        if not self.ready():
            raise ValueError(f"{self!r} not ready")
        return self._success

    def wait(self, timeout=None):
        self._event.wait(timeout)

    def get(self, timeout=None):
        self.wait(timeout)
        if not self.ready():
            raise TimeoutError
        if self._success:
            return self._value
        raise self._value

    def _set(self, results, errs):
        if errs:
            self._success, self._value = False, _first_error(errs)
        else:
            self._success = True
            self._value = results[0] if self._single else results
        try:
            if self._success and self._callback:
                self._callback(self._value)
            if not self._success and self._error_callback:
                self._error_callback(self._value)
        finally:
            self._event.set()
            self._pool = None

    __class_getitem__ = classmethod(types.GenericAlias)


AsyncResult = ApplyResult


class MapResult(ApplyResult):
    def __init__(self, pool, callback, error_callback):
        super().__init__(pool, callback, error_callback, single=False)


class IMapIterator:
    """Results of imap in order; next(timeout) waits at most timeout.

    Results arrive in runs (the calls of one chunk): (first index, values,
    None or {offset: exception}). next() serves the current run without
    taking the lock."""

    _ordered = True

    def __init__(self, pool):
        self._pool = pool
        self._cond = threading.Condition(threading.Lock())
        self._ready = {} if self._ordered else collections.deque()
        self._index = 0  # calls handed out
        self._length = None
        self._vals = ()  # the run being served
        self._errs = None
        self._pos = 0

    def __iter__(self):
        return self

    def _runs(self, runs, _unused):
        with self._cond:
            if self._ordered:
                for base, vals, errs in runs:
                    self._ready[base] = (vals, errs)
            else:
                self._ready.extend((vals, errs) for _, vals, errs in runs)
            self._cond.notify_all()

    def _chunk_done(self, base, results, errs):
        self._runs(((base, results, errs),), None)

    def _end(self, length, error=None):
        """No more calls after `length`; with error, call length - 1 raises it."""
        with self._cond:
            if error is not None:
                if self._ordered:
                    self._ready[length - 1] = ([None], {0: error})
                else:
                    self._ready.append(([None], {0: error}))
            self._length = length
            self._cond.notify_all()

    def _can_go(self):
        have = (self._index in self._ready) if self._ordered else bool(self._ready)
        return have or (self._length is not None and self._index >= self._length)

    def next(self, timeout=None):
        pos = self._pos
        if pos >= len(self._vals):
            with self._cond:
                if not self._cond.wait_for(self._can_go, timeout):
                    raise TimeoutError
                if self._ordered:
                    run = self._ready.pop(self._index, None)
                else:
                    run = self._ready.popleft() if self._ready else None
                if run is None:
                    self._pool = None
                    raise StopIteration
                self._vals, self._errs = run
            pos = 0
        self._pos = pos + 1
        self._index += 1
        if self._errs and pos in self._errs:
            raise self._errs[pos]
        return self._vals[pos]

    __next__ = next


class IMapUnorderedIterator(IMapIterator):
    _ordered = False


def _feed(pool_ref, core, it_ref, lock, feeders, func, iterable, call, chunksize):
    """The feeder of an imap over an iterator: sends its chunks; a chunk
    that cannot be sent (or an iterator that raises) ends the results with
    that error at its position.

    It holds the pool and the results iterator only weakly (their chunks'
    callbacks too), so that dropping both ends it: the pool's finalizer
    terminates the pool, and the feeder stops at its next chunk."""
    base = 0
    try:
        source = iter(iterable)
        while True:
            pool = pool_ref()
            if pool is None or pool._state == TERMINATE:
                break
            del pool
            chunk = list(itertools.islice(source, chunksize))
            if not chunk:
                break
            if it_ref() is None:
                break
            core.submit(func, chunk, call, len(chunk), None, _bind_weak_chunk(it_ref, base))
            base += len(chunk)
        it = it_ref()
        if it is not None:
            it._end(base)
    except BaseException as e:
        it = it_ref()
        if it is not None:
            it._end(base + 1, e)
    finally:
        with lock:
            feeders.discard(threading.current_thread())


def _worker_start(numbers, name, daemon, initializer, initargs):
    """The first thing every worker runs: take the next worker number,
    become "<name>-<number>" (current_process(), parent_process()), then
    the pool's initializer. (A Pool's workers are daemons, a
    ProcessPoolExecutor's are not, as in multiprocessing.)"""
    from . import process
    from ._mproc import OwnerDeadError
    lock = numbers.get_lock()
    try:
        lock.acquire()
    except OwnerDeadError:  # a worker died taking its number: the count is whole
        lock.make_consistent()
    try:
        number = numbers.value
        numbers.value = number + 1
    finally:
        lock.release()
    process._become_pool_worker(f"{name}-{number}", number, daemon)
    if initializer is not None:
        initializer(*initargs)


_PICKLING_ERRORS = {}


def _pickling_error_class(cause):
    """The class pool.c raises when pickling a task failed with cause (a
    class): pickle.PicklingError, or for a built-in error (multiprocessing
    lets RuntimeError and TypeError through as they are) a subclass of both."""
    import pickle
    cls = _PICKLING_ERRORS.get(cause)
    if cls is None:
        cls = pickle.PicklingError
        if (cause.__module__ == "builtins" and issubclass(cause, Exception)
                and not issubclass(cause, pickle.PicklingError)):
            try:
                cls = type("PicklingError", (pickle.PicklingError, cause),
                           {"__module__": __name__,
                            "__doc__": f"A task could not be pickled: {cause.__name__}."})
            except TypeError:  # layouts that do not mix (OSError, ...)
                pass
        _PICKLING_ERRORS[cause] = cls
    return cls


def _chunks(seq, size):
    for i in range(0, len(seq), size):
        yield i, seq[i:i + size]


class Pool:
    """A pool of forked worker processes, multiprocessing.Pool's API.

    Beyond multiprocessing: ``task_timeout`` (seconds a task may run before
    its worker is killed and the task fails with TaskTimeoutError),
    ``on_worker_death`` ("fail": the task fails with WorkerLostError and the
    pool goes on; "retry": run it again up to ``max_retries`` times; "break":
    every unfinished task fails and the pool refuses new work; max_retries
    0 means 3).
    """

    def __init__(self, processes=None, initializer=None, initargs=(), maxtasksperchild=None,
                 context=None, *, ctx=None, task_timeout=None, on_worker_death="fail",
                 max_retries=0, _worker_kind="PoolWorker"):
        if processes is None:
            processes = 0
        elif processes < 1:
            raise ValueError("Number of processes must be at least 1")
        if initializer is not None and not callable(initializer):
            raise TypeError("initializer must be a callable")
        if maxtasksperchild is not None:
            if not isinstance(maxtasksperchild, int) or maxtasksperchild <= 0:
                raise ValueError("maxtasksperchild must be a positive int or None")
        if on_worker_death not in _POLICIES:
            raise ValueError("on_worker_death must be 'fail', 'retry' or 'break'")
        if task_timeout is not None and task_timeout <= 0:
            raise ValueError("task_timeout must be positive or None")
        self._ctx = ctx if ctx is not None else context
        self._state = RUN
        # Workers are numbered as multiprocessing numbers them (the process
        # counter of this process: ForkPoolWorker-<n>, current_process()._identity
        # == (n,)), in the order they start; replacements count on.
        from . import context as _context, process, sharedctypes
        self._worker_numbers = sharedctypes.Value("q", next(process._counter))
        method = (self._ctx if self._ctx is not None else _context._default_context) \
            .get_start_method()
        kind = "Spawn" if method == "spawn" else "Fork"
        self._core = _mproc.PoolCore(processes, _worker_start,
                                     (self._worker_numbers, kind + _worker_kind,
                                      _worker_kind == "PoolWorker", initializer, tuple(initargs)),
                                     maxtasksperchild or 0, _POLICIES[on_worker_death],
                                     max_retries, task_timeout)
        self._processes = self._core.workers
        for _ in range(self._processes - 1):  # the first workers' numbers are theirs
            next(process._counter)
        self._lock = threading.Lock()
        self._handler = None
        self._handler_done = threading.Event()
        self._feeders = set()
        self._handler_box = [None]
        self._finalizer = weakref.finalize(self, _finalize, self._core, self._handler_box)

    # --- helpers -----------------------------------------------------------
    def _check_running(self):
        if self._state != RUN:
            raise ValueError("Pool not running")

    def _start_handler(self):
        if self._handler is None:
            with self._lock:
                if self._handler is None:
                    t = threading.Thread(target=_collector, args=(self._core, self._handler_done),
                                         name="mproc-pool-results", daemon=True)
                    t.start()
                    self._handler = self._handler_box[0] = t

    def _submit(self, func, items, call, chunksize, callback, task_timeout=None):
        self._check_running()
        self._start_handler()
        return self._core.submit(func, items, call, chunksize, task_timeout, callback)

    def _default_chunksize(self, n):
        chunksize, extra = divmod(n, self._processes * 4)
        return chunksize + 1 if extra else chunksize

    def _map(self, func, iterable, call, chunksize):
        self._check_running()
        items = list(iterable)
        if not items:
            return []
        if chunksize is None:
            chunksize = self._default_chunksize(len(items))
        elif chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        results, errs = self._core.map(func, items, call, chunksize)
        if errs:
            raise _first_error(errs)
        return results

    def _map_async(self, func, iterable, call, chunksize, callback, error_callback):
        self._check_running()
        items = list(iterable)
        if chunksize is None:
            chunksize = self._default_chunksize(len(items)) or 1
        elif chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        result = MapResult(self, callback, error_callback)
        if not items:
            result._set([], None)
            return result
        self._submit(func, items, call, chunksize, result._set)
        return result

    def _imap(self, it_class, func, iterable, call, chunksize):
        self._check_running()
        if chunksize < 1:
            raise ValueError(f"Chunksize must be 1+, not {chunksize!r}")
        it = it_class(self)
        self._start_handler()
        if hasattr(iterable, "__len__"):
            # A collection: every chunk goes out now, so that what cannot be
            # pickled fails here, in the caller.
            # One streamed job: calls are handed over as they arrive.
            items = list(iterable)
            it._length = len(items)
            if items:
                self._core.submit(func, items, call, chunksize, None, it._runs, True)
        else:
            # An iterator (maybe endless): a feeder thread reads it and sends
            # its chunks as they come, as multiprocessing's task handler does.
            t = threading.Thread(target=_feed, name="mproc-pool-feeder", daemon=True,
                                 args=(weakref.ref(self), self._core, weakref.ref(it),
                                       self._lock, self._feeders, func, iterable, call,
                                       chunksize))
            with self._lock:
                self._feeders.add(t)
            t.start()
        return it

    # --- multiprocessing.Pool's API -----------------------------------------
    def apply(self, func, args=(), kwds={}):
        return self.apply_async(func, args, kwds).get()

    def apply_async(self, func, args=(), kwds={}, callback=None, error_callback=None, *,
                    timeout=None):
        """Like multiprocessing's; ``timeout`` (an mproc extra) is this task's
        time limit: past it, its worker is killed and get() raises
        TaskTimeoutError."""
        result = ApplyResult(self, callback, error_callback)
        result._job = self._submit(func, [(tuple(args), dict(kwds) if kwds else None)],
                                   _CALL_ARGS, 1, result._set, timeout)
        return result

    def map(self, func, iterable, chunksize=None):
        return self._map(func, iterable, _CALL_ONE, chunksize)

    def starmap(self, func, iterable, chunksize=None):
        return self._map(func, iterable, _CALL_STAR, chunksize)

    def map_async(self, func, iterable, chunksize=None, callback=None, error_callback=None):
        return self._map_async(func, iterable, _CALL_ONE, chunksize, callback, error_callback)

    def starmap_async(self, func, iterable, chunksize=None, callback=None,
                      error_callback=None):
        return self._map_async(func, iterable, _CALL_STAR, chunksize, callback, error_callback)

    def imap(self, func, iterable, chunksize=1):
        return self._imap(IMapIterator, func, iterable, _CALL_ONE, chunksize)

    def imap_unordered(self, func, iterable, chunksize=1):
        return self._imap(IMapUnorderedIterator, func, iterable, _CALL_ONE, chunksize)

    def close(self):
        # The C pool is shut down by join(), once the feeders of imap over
        # iterators have sent all their chunks.
        if self._state == RUN:
            self._state = CLOSE

    def terminate(self):
        # Feeders stop at their next chunk (a chunk they are submitting now
        # fails: the C pool refuses it), every job finishes as cancelled,
        # the workers are killed; the result thread then runs the last
        # callbacks and ends. A feeder blocked in its iterator's next() is
        # not waited for past _FEEDER_GRACE (it is a daemon and stops when
        # next() returns).
        self._state = TERMINATE
        self._core.terminate()
        deadline = time.monotonic() + _FEEDER_GRACE
        for t in list(self._feeders):
            if t is not threading.current_thread():
                t.join(max(0.0, deadline - time.monotonic()))
        self._finish()

    def join(self):
        if self._state == RUN:
            raise ValueError("Pool is still running")
        if self._state == CLOSE:
            for t in list(self._feeders):
                t.join()
            self._core.shutdown()
            self._core.join(None)
        self._finish()

    def _finish(self):
        """After the workers are gone: let the handler run the last
        callbacks, then release the C pool."""
        self._core.stop()
        h = self._handler
        if h is not None and h is not threading.current_thread():
            h.join()
        self._core.close()
        if h is None:  # nobody collects: drop what is left
            while self._core.collect(0):
                pass

    def __enter__(self):
        self._check_running()
        return self

    def __exit__(self, exc_type, exc_val, exc_tb):
        self.terminate()

    def __reduce__(self):
        raise NotImplementedError("pool objects cannot be passed between processes or pickled")

    def __repr__(self):
        state = {RUN: "RUN", CLOSE: "CLOSE", TERMINATE: "TERMINATE"}[self._state]
        return f"<{type(self).__module__}.{type(self).__qualname__} state={state} pool_size={self._processes}>"

    # --- mproc extras ----------------------------------------------------------
    def worker_pids(self):
        """The pids of the current workers."""
        return self._core.pids()

    def stats(self):
        """Counters: items_done, items_failed, worker_deaths, worker_retired,
        redispatched, retried, timed_out, cancelled."""
        return self._core.stats()


def _bind_chunk(fn, base):
    return lambda results, errs: fn(base, results, errs)


def _bind_weak_chunk(it_ref, base):
    def done(results, errs):
        it = it_ref()
        if it is not None:
            it._chunk_done(base, results, errs)
    return done


def __getattr__(name):
    # multiprocessing.pool.ThreadPool (threads, not processes) as it is,
    # imported only when asked for.
    if name == "ThreadPool":
        from multiprocessing.pool import ThreadPool
        return ThreadPool
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
