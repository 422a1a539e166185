"""Queue, SimpleQueue, JoinableQueue on mproc's shared-memory queue.

Differences from multiprocessing that a program can see:
- put is synchronous: when it returns the object is in the queue (there is
  no feeder thread), so nothing put before a process exits is ever lost,
  and an unpicklable object raises in put itself. close(), join_thread()
  and cancel_join_thread() have nothing left to do (join_thread and
  cancel_join_thread do nothing; close releases this process's handle).
- qsize() is exact when no put or get is in progress and never raises.
- The queue's ring holds 16 MiB by default (Queue(maxsize, capacity=...)
  for another size). A message larger than the ring is spilled to a file
  of its own in /dev/shm (0600, a random name "mproc-pyq-..."), read back
  and unlinked by the get that takes it. A spilled message that no process
  ever gets leaves its file behind (`mproc ls` shows it as foreign; remove
  it by hand): give a Queue that carries big objects a capacity that holds
  them.
- A process killed in the middle of put or get never wedges the queue: at
  most the message it was handling is lost; stats()["lost"] counts them.
"""
import os
import queue as _queue
import re

from . import _mproc, reduction

__all__ = ["Queue", "SimpleQueue", "JoinableQueue"]

Empty = _queue.Empty
Full = _queue.Full


_SPILL_DIR = "/dev/shm"
_SPILL_PREFIX = "mproc-pyq-"
_SPILL_TAG = b"\x08"
_SPILL_NAME = re.compile(r"mproc-pyq-[0-9a-f]{32}")


def _spill(tag, data):
    """put of a message larger than the ring: write it to a file of its own; the marker."""
    name = _SPILL_PREFIX + os.urandom(16).hex()
    path = os.path.join(_SPILL_DIR, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with open(fd, "wb", closefd=False) as f:
            if tag >= 0:
                f.write(bytes((tag,)))
            f.write(data)
    except BaseException:
        os.unlink(path)
        raise
    finally:
        os.close(fd)
    return _SPILL_TAG + name.encode("ascii")


def _spill_path(marker):
    name = bytes(marker[1:]).decode("ascii", "replace")
    if not _SPILL_NAME.fullmatch(name):  # the ring is shared memory: trust no name
        raise ValueError("a message in the queue is corrupt")
    return os.path.join(_SPILL_DIR, name)


def _unspill(marker):
    """get of a spilled message: its bytes; the file is gone afterwards."""
    path = _spill_path(marker)
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.unlink(path)
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise ValueError("a spilled message's file is not this user's own")
        with open(fd, "rb", closefd=False) as f:
            return f.read()
    finally:
        os.close(fd)


def _discard(marker):
    """A spilled message that was not enqueued after all: remove its file."""
    try:
        os.unlink(_spill_path(marker))
    except OSError:
        pass


def _rebuild(cls, token):
    fd = reduction.recv_fd(token)
    try:
        obj = cls.__new__(cls)
        _mproc.Queue.__init__(obj, fd=fd)
    finally:
        os.close(fd)
    obj._ctx = None
    return obj


class Queue(_mproc.Queue):
    """multiprocessing.Queue: put(obj, block=True, timeout=None), get(block=True, timeout=None)."""

    def __init__(self, maxsize=0, *, capacity=0, ctx=None):
        if maxsize < 0:
            maxsize = 0
        super().__init__(maxsize, capacity=capacity, joinable=self._kind_joinable)
        self._ctx = ctx

    _kind_joinable = False

    def __reduce__(self):
        reduction.check_spawning(self)
        return (_rebuild, (type(self), reduction.send_fd(self.fileno())))

    def join_thread(self):
        """Nothing to wait for: put is synchronous (no feeder thread)."""

    def cancel_join_thread(self):
        """Nothing to cancel: put is synchronous, nothing waits at exit."""

    def __repr__(self):
        state = "closed" if self._closed else f"maxsize={self._maxsize}"
        return f"<{type(self).__name__} {state} at {id(self):#x}>"


class JoinableQueue(Queue):
    """multiprocessing.JoinableQueue: a Queue with task_done() and join()."""

    _kind_joinable = True

    def join(self, timeout=None):
        """Wait until every object put was matched by task_done() (mproc: timeout -> bool)."""
        return super().join(timeout)


class SimpleQueue(Queue):
    """multiprocessing.SimpleQueue: get, put, empty, close."""

    def __init__(self, *, ctx=None):
        super().__init__(0, ctx=ctx)
