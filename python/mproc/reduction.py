"""Pickling for mproc: protocol 5, a registry of reducers, and descriptors
handed to a spawned child.

dumps(obj) / loads(data) pickle with protocol 5 and the reducers registered
with register(type, reduce_function) (the same idea as copyreg, kept
private to mproc's pickling).

Spawn: while the spawn start method pickles a Process, spawning() is true
and send_fd(fd) duplicates fd for that child alone and returns a token (an
int); the child turns the token back into a descriptor with recv_fd(token)
(the caller owns it: close it, or let an object adopt it). Outside a spawn
send_fd raises RuntimeError, and objects that can only be inherited raise
RuntimeError("<Name> objects should only be shared between processes
through inheritance") from __reduce__ (see check_spawning).
"""
import copyreg
import io
import os
import pickle
import threading

__all__ = ["dumps", "loads", "register", "ForkingPickler", "spawning", "check_spawning",
           "send_fd", "recv_fd", "DupFd"]

HIGHEST_PROTOCOL = 5
_extra_reducers = {}
_local = threading.local()


class ForkingPickler(pickle.Pickler):
    """A Pickler with mproc's reducers (multiprocessing.reduction.ForkingPickler's role)."""

    _copyreg_dispatch_table = copyreg.dispatch_table

    def __init__(self, file, protocol=HIGHEST_PROTOCOL, **kwargs):
        super().__init__(file, protocol, **kwargs)
        self.dispatch_table = self._copyreg_dispatch_table.copy()
        self.dispatch_table.update(_extra_reducers)

    @classmethod
    def register(cls, type_, reduce_fn):
        register(type_, reduce_fn)

    @classmethod
    def dumps(cls, obj, protocol=HIGHEST_PROTOCOL):
        buf = io.BytesIO()
        cls(buf, protocol).dump(obj)
        return buf.getbuffer()

    loads = staticmethod(pickle.loads)


def register(type_, reduce_fn):
    """Pickle objects of type_ with reduce_fn(obj) -> (callable, args).

    From then on Queue and Connection pickle with dumps() below (until
    then with pickle.dumps itself, which is the same without reducers)."""
    _extra_reducers[type_] = reduce_fn
    from . import _mproc
    _mproc.set_pickler(dumps, loads)


def dumps(obj, protocol=HIGHEST_PROTOCOL):
    """obj pickled (protocol 5, mproc's reducers) as bytes."""
    if not _extra_reducers:
        return pickle.dumps(obj, protocol)
    buf = io.BytesIO()
    ForkingPickler(buf, protocol).dump(obj)
    return buf.getvalue()


def loads(data):
    """The object pickled in data."""
    return pickle.loads(data)


# -- spawn ----------------------------------------------------------------------

class _Handover:
    """The descriptors of one spawn start: fresh close-on-exec duplicates."""

    def __init__(self):
        self.fds = []

    def close(self):
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass
        self.fds = []


def spawning():
    """True while a spawn start pickles the Process for its child (in the pickling thread)."""
    return getattr(_local, "handover", None) is not None


def check_spawning(obj):
    """Raise RuntimeError unless a spawn start is pickling now."""
    if not spawning():
        raise RuntimeError(f"{type(obj).__name__} objects should only be shared between "
                           "processes through inheritance")


def send_fd(fd):
    """During a spawn start: hand a duplicate of fd to that child; returns the token."""
    h = getattr(_local, "handover", None)
    if h is None:
        raise RuntimeError("descriptors can only be handed to a child while it is spawned")
    dup = os.dup(fd)  # close-on-exec; inherited by the spawned child only
    h.fds.append(dup)
    return dup


_received = None  # in a spawned child: the tokens not yet received


def recv_fd(token):
    """In a spawned child: the descriptor handed over as token (owned by the caller)."""
    if _received is None or token not in _received:
        raise RuntimeError(f"no descriptor was handed to this process as {token!r}")
    _received.discard(token)
    return token


class DupFd:
    """A descriptor that travels to a spawned child (multiprocessing.reduction.DupFd's role)."""

    def __init__(self, fd):
        self._token = send_fd(fd)

    def detach(self):
        return recv_fd(self._token)
