"""Locks, semaphores, conditions, events and barriers shared between processes.

multiprocessing.synchronize's classes on mproc's C objects (mproc._mproc):
the waits run in C with the GIL released. Differences from multiprocessing
(docs/python-module.md):

* A lock whose holder died is not lost: the next acquire raises
  mproc.OwnerDeadError, and the caller then *holds* the lock. Repair the
  state it protects, call ``lock.make_consistent()``, then release it. A lock
  released without make_consistent() after that becomes unusable (every later
  acquire raises mproc.MprocError, errno ENOTRECOVERABLE). Inside a ``with``
  block, OwnerDeadError comes out of ``__enter__``: the lock stays held.
* A Lock belongs to the thread that acquired it: release() from another
  thread or process raises RuntimeError (multiprocessing lets anyone release
  it); release() of a free Lock raises ValueError as in multiprocessing.
  acquire() by the holder itself with no timeout raises RuntimeError instead
  of hanging forever (with a timeout it returns False after it, as
  multiprocessing does).
* Condition.wait() may return True without a notify meant for this waiter
  (a notify may wake more than n): loop on the predicate, or use wait_for().
* Barrier.wait() is not interrupted by Ctrl-C (a signal is handled when it
  returns); give it a timeout. Barrier.join_party() (an extra) registers the
  calling process so that its death breaks the barrier even while it is not
  waiting; a party that dies while waiting always breaks it.
* Semaphore units held by a process that dies are lost, as in
  multiprocessing, unless the semaphore was made with ``tracked=True`` (an
  extra: then they come back, and only a holder may release).
"""
import os
import threading
import time

from . import _mproc
from ._mproc import OwnerDeadError  # noqa: F401  (documented here too)

__all__ = ["Lock", "RLock", "Semaphore", "BoundedSemaphore", "Condition", "Event", "Barrier"]


def _reduction():
    """mproc.reduction if it exists (the spawn protocol), else None."""
    try:
        from . import reduction
    except ImportError:
        return None
    return reduction


def _assert_spawning(obj):
    red = _reduction()
    if red is None or not red.spawning():
        raise RuntimeError(
            "%s objects should only be shared between processes through inheritance"
            % type(obj).__name__)
    return red


def _send(red, fd):
    """Hand a descriptor we own to the child being spawned; close ours."""
    try:
        return red.send_fd(fd)
    finally:
        os.close(fd)


def _recv(token):
    return _reduction().recv_fd(token)


def _rebuild(cls, base, token, kwargs):
    fd = _recv(token)
    try:
        obj = cls.__new__(cls)
        base.__init__(obj, _fd=fd, **kwargs)
    finally:
        os.close(fd)
    return obj


def _owner_name(lock):
    if lock._is_mine():
        try:
            from .process import current_process
            return current_process().name
        except ImportError:
            return "MainProcess"
    pid = lock._owner_pid
    if pid == 0:
        return None
    return "SomeOtherThread" if pid == os.getpid() else "SomeOtherProcess"


class Lock(_mproc.Lock):
    """A non-recursive lock shared between processes (multiprocessing.Lock)."""
    __slots__ = ()

    def __init__(self, *, ctx=None):
        super().__init__()

    def __reduce__(self):
        red = _assert_spawning(self)
        return _rebuild, (type(self), _mproc.Lock, _send(red, self._export_fd()), {})

    def __repr__(self):
        return "<%s(owner=%s)>" % (type(self).__name__, _owner_name(self))


class RLock(_mproc.RLock):
    """A recursive lock shared between processes (multiprocessing.RLock)."""
    __slots__ = ()

    def __init__(self, *, ctx=None):
        super().__init__()

    def __reduce__(self):
        red = _assert_spawning(self)
        return _rebuild, (type(self), _mproc.RLock, _send(red, self._export_fd()), {})

    def __repr__(self):
        return "<%s(%s, %d)>" % (type(self).__name__, _owner_name(self),
                                 self._count if self._is_mine() else 0)


class Semaphore(_mproc.Semaphore):
    """A counting semaphore shared between processes (multiprocessing.Semaphore).

    tracked=True (an mproc extra): units belong to the process that acquired
    them and come back to the semaphore when it dies; only a process holding
    a unit may release one (ValueError otherwise). At most 246 processes hold
    units at a time."""
    __slots__ = ()

    def __init__(self, value=1, *, ctx=None, tracked=False):
        super().__init__(value, tracked=tracked)

    def __reduce__(self):
        red = _assert_spawning(self)
        kw = {"value": self._maxvalue or 0, "_bounded": self._maxvalue is not None}
        return _rebuild, (type(self), _mproc.Semaphore, _send(red, self._export_fd()), kw)

    def __repr__(self):
        return "<%s(value=%s)>" % (type(self).__name__, self.get_value())


class BoundedSemaphore(Semaphore):
    """A semaphore that refuses a release above its initial value (ValueError)."""
    __slots__ = ()

    def __init__(self, value=1, *, ctx=None, tracked=False):
        _mproc.Semaphore.__init__(self, value, tracked=tracked, _bounded=True)

    def __repr__(self):
        return "<%s(value=%s, maxvalue=%s)>" % (type(self).__name__, self.get_value(),
                                                self._maxvalue)


class Condition(_mproc.Condition):
    """A condition variable shared between processes (multiprocessing.Condition).

    lock: an mproc Lock or RLock; by default a new RLock."""
    __slots__ = ()

    def __init__(self, lock=None, *, ctx=None):
        super().__init__(RLock() if lock is None else lock)

    def wait_for(self, predicate, timeout=None):
        """Wait until predicate() is true (checked with the lock held); its last value."""
        result = predicate()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not result:
            if deadline is None:
                self.wait()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.wait(left)
            result = predicate()
        return result

    def __reduce__(self):
        red = _assert_spawning(self)
        return _rebuild_condition, (type(self), self._lock, _send(red, self._export_fd()))

    def __repr__(self):
        return "<%s(%r)>" % (type(self).__name__, self._lock)


def _rebuild_condition(cls, lock, token):
    fd = _recv(token)
    try:
        obj = cls.__new__(cls)
        _mproc.Condition.__init__(obj, lock, _fd=fd)
    finally:
        os.close(fd)
    return obj


class Event(_mproc.Event):
    """A flag processes can wait for (multiprocessing.Event)."""
    __slots__ = ()

    def __init__(self, *, ctx=None):
        super().__init__()

    def __reduce__(self):
        red = _assert_spawning(self)
        return _rebuild, (type(self), _mproc.Event, _send(red, self._export_fd()), {})

    def __repr__(self):
        return "<%s at %#x %s>" % (type(self).__name__, id(self),
                                   "set" if self.is_set() else "unset")


BrokenBarrierError = threading.BrokenBarrierError


class Barrier(_mproc.Barrier):
    """parties processes (or threads) meet (multiprocessing.Barrier).

    action, if given, is called by the last party to arrive before the others
    are released; timeout is the default for wait()."""
    __slots__ = ()

    def __init__(self, parties, action=None, timeout=None, *, ctx=None):
        super().__init__(parties, action, timeout)

    def __reduce__(self):
        red = _assert_spawning(self)
        fd, fd2 = self._export_fds()
        tok2 = None if fd2 is None else _send(red, fd2)
        return _rebuild_barrier, (type(self), self.parties, self._action, self._timeout,
                                  _send(red, fd), tok2)

    def __repr__(self):
        return "<%s at %#x parties=%d n_waiting=%d broken=%s>" % (
            type(self).__name__, id(self), self.parties, self.n_waiting, self.broken)


def _rebuild_barrier(cls, parties, action, timeout, tok, tok2):
    fd = _recv(tok)
    fd2 = None if tok2 is None else _recv(tok2)
    try:
        obj = cls.__new__(cls)
        _mproc.Barrier.__init__(obj, parties, action, timeout, _fd=fd, _fd2=fd2)
    finally:
        os.close(fd)
        if fd2 is not None:
            os.close(fd2)
    return obj
