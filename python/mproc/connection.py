"""Pipe, Connection, wait, Listener and Client on mproc's pipes.

A Connection is one end of a Pipe (a socket pair carrying framed
messages): send/recv pickled objects (protocol 5), send_bytes/recv_bytes/
recv_bytes_into raw bytes, poll(timeout), fileno, close; a context manager.
EOFError once the peer closed (or died) and every message was read.

Listener/Client connect unrelated processes of the same user by a local
name (an abstract AF_UNIX socket; nothing in the file system). Addresses
are names ("my-service"); the peer's uid is checked by the kernel's
credentials instead of an authkey, so authkey is accepted and ignored.
"""
import os
import select
import time

from . import _mproc, reduction

__all__ = ["Client", "Listener", "Pipe", "wait", "Connection"]


class Connection(_mproc.Connection):
    """One end of a Pipe (or a Listener/Client connection)."""

    def recv_bytes_into(self, buf, offset=0):
        """Read the next message into buf at offset; its size. BufferTooShort if it does not fit."""
        n = self._recv_into(buf, offset)
        if n < 0:
            from .context import BufferTooShort
            raise BufferTooShort(self.recv_bytes())
        return n

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __reduce__(self):
        reduction.check_spawning(self)
        fd, r, w = self._handover()
        try:
            token = reduction.send_fd(fd)
        finally:
            os.close(fd)
        return (_rebuild_connection, (type(self), token, r, w))

    def __repr__(self):
        state = "closed" if self.closed else f"fd={self.fileno()}"
        return f"<{type(self).__name__} {state}>"


def _rebuild_connection(cls, token, readable, writable):
    return cls._from_fd(reduction.recv_fd(token), readable, writable)


def Pipe(duplex=True, *, ctx=None):
    """(conn1, conn2): with duplex=False conn1 only receives and conn2 only sends."""
    return _mproc.pipe(bool(duplex), Connection)


def _address(address):
    if address is None:
        return "py-" + os.urandom(8).hex()
    if not isinstance(address, str):
        raise ValueError(f"mproc listens on local names only (a str), not {address!r}")
    return address


class Listener(_mproc.Listener):
    """Listener(address=None, family=None, backlog=1, authkey=None): accept local clients."""

    def __init__(self, address=None, family=None, backlog=1, authkey=None):
        if family not in (None, "AF_UNIX"):
            raise ValueError(f"mproc supports local listeners only, not family {family!r}")
        self._address = _address(address)
        self._last_accepted = None
        super().__init__(self._address)

    def accept(self, timeout=None):
        """The next client's Connection (mproc: timeout -> None when none came)."""
        conn = self._accept(timeout, Connection)
        if conn is not None:
            self._last_accepted = self._address
        return conn

    @property
    def address(self):
        return self._address

    @property
    def last_accepted(self):
        return self._last_accepted

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def Client(address, family=None, authkey=None, *, timeout=0):
    """A Connection to the Listener named address.

    As in multiprocessing, no listener is ConnectionRefusedError at once;
    mproc's timeout (seconds, None: as long as it takes) waits for one to
    appear."""
    if family not in (None, "AF_UNIX"):
        raise ValueError(f"mproc supports local listeners only, not family {family!r}")
    return _mproc.connect(_address(address), timeout, Connection)


def _fileno(obj):
    return obj if isinstance(obj, int) else obj.fileno()


def wait(object_list, timeout=None):
    """The objects of object_list that are ready: Connections with a message (or EOF),
    sentinels (ints) and objects with fileno() that are readable."""
    objs = list(object_list)
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
    while True:
        # A Connection may hold whole messages it already read: ask it first.
        ready = [o for o in objs if isinstance(o, _mproc.Connection) and o.poll()]
        if ready:
            return ready
        p = select.poll()
        fds = {}
        for o in objs:
            fd = _fileno(o)
            fds.setdefault(fd, []).append(o)
            p.register(fd, select.POLLIN)
        if deadline is None:
            ms = None
        else:
            left = deadline - time.monotonic()
            ms = max(0, int(left * 1000 + 0.999))
        events = p.poll(ms)
        ready = []
        for fd, _ in events:
            for o in fds.get(fd, ()):
                if isinstance(o, _mproc.Connection):
                    if o.poll():
                        ready.append(o)
                else:
                    ready.append(o)
        if ready:
            return ready
        if deadline is not None and time.monotonic() >= deadline:
            return []
