"""Pipe, Connection, wait, Listener and Client on mproc's pipes.

A Connection is one end of a Pipe (a socket pair carrying framed
messages): send/recv pickled objects (protocol 5), send_bytes/recv_bytes/
recv_bytes_into raw bytes, poll(timeout), fileno, close; a context manager.
EOFError once the peer closed (or died) and every message was read.

Listener/Client connect unrelated processes of the same user by a local
name (an abstract AF_UNIX socket; nothing in the file system), or by the
path of a Unix socket as multiprocessing takes it (an address with a '/',
or one starting with '\\0'). The peer's uid is checked by the kernel's
credentials instead of an authkey, so authkey is accepted and ignored.
"""
import os
import select
import socket
import struct
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


def _is_path(address):
    """Whether address is a Unix socket path (as multiprocessing takes them:
    a file name with a '/', or Linux's abstract '\\0name') rather than an
    mproc name."""
    return isinstance(address, str) and ("/" in address or address.startswith("\0"))


def _peer_uid(sock):
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    return _UCRED.unpack(creds)[1]


_UCRED = struct.Struct("3i")


class Listener(_mproc.Listener):
    """Listener(address=None, family=None, backlog=1, authkey=None): accept local clients.

    address: an mproc name ("my-service", an abstract socket), or the path
    of a Unix socket as multiprocessing takes it ("/run/user/1000/app.sock",
    created here and removed by close())."""

    def __init__(self, address=None, family=None, backlog=1, authkey=None):
        if family not in (None, "AF_UNIX"):
            raise ValueError(f"mproc supports local listeners only, not family {family!r}")
        self._last_accepted = None
        self._sock = None
        if _is_path(address):
            self._address = address
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(address)
                sock.listen(max(int(backlog), 1))
            except BaseException:
                sock.close()
                raise
            self._sock = sock
            return
        self._address = _address(address)
        super().__init__(self._address)

    def accept(self, timeout=None):
        """The next client's Connection (mproc: timeout -> None when none came)."""
        if self._sock is not None:
            conn = self._accept_path(timeout)
        else:
            conn = self._accept(timeout, Connection)
        if conn is not None:
            self._last_accepted = self._address
        return conn

    def _accept_path(self, timeout):
        sock = self._sock
        if sock.fileno() < 0:
            raise OSError("listener is closed")
        deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
        while True:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if left is not None and not select.select([sock], [], [], left)[0]:
                return None
            sock.setblocking(left is None)
            try:
                c, _ = sock.accept()
            except BlockingIOError:
                continue
            if _peer_uid(c) != os.geteuid():  # only the same user, as with names
                c.close()
                continue
            c.setblocking(True)
            return Connection._from_fd(c.detach(), True, True)

    def close(self):
        """Stop listening (a socket path is removed)."""
        if self._sock is None:
            return super().close()
        if self._sock.fileno() >= 0:
            self._sock.close()
            if not self._address.startswith("\0"):
                try:
                    os.unlink(self._address)
                except FileNotFoundError:
                    pass

    def fileno(self):
        return self._sock.fileno() if self._sock is not None else super().fileno()

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
    """A Connection to the Listener at address (an mproc name or a socket path).

    As in multiprocessing, no listener is ConnectionRefusedError at once
    (FileNotFoundError for a path that is not there); mproc's timeout
    (seconds, None: as long as it takes) waits for one to appear."""
    if family not in (None, "AF_UNIX"):
        raise ValueError(f"mproc supports local listeners only, not family {family!r}")
    if _is_path(address):
        return _connect_path(address, timeout)
    return _mproc.connect(_address(address), timeout, Connection)


def _connect_path(address, timeout):
    deadline = None if timeout is None else time.monotonic() + max(timeout, 0)
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(address)
            return Connection._from_fd(sock.detach(), True, True)
        except (FileNotFoundError, ConnectionRefusedError):
            if deadline is not None and time.monotonic() >= deadline:
                raise
        finally:
            sock.close()
        time.sleep(0.01)


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
