"""Queue, SimpleQueue, JoinableQueue on mproc's shared-memory queue.

Differences from multiprocessing that a program can see:
- put is synchronous: when it returns the object is in the queue (there is
  no feeder thread), so nothing put before a process exits is ever lost,
  and an unpicklable object raises in put itself. close(), join_thread()
  and cancel_join_thread() have nothing left to do (join_thread and
  cancel_join_thread do nothing; close releases this process's handle).
- qsize() is exact when no put or get is in progress and never raises.
- A message (the pickled object) may be at most the queue's capacity:
  16 MiB by default, Queue(maxsize, capacity=...) for more; a larger one is
  a ValueError in put, and nothing is enqueued.
- A process killed in the middle of put or get never wedges the queue: at
  most the message it was handling is lost; stats()["lost"] counts them.
"""
import os
import queue as _queue

from . import _mproc, reduction

__all__ = ["Queue", "SimpleQueue", "JoinableQueue"]

Empty = _queue.Empty
Full = _queue.Full


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
