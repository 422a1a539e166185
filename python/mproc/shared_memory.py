"""Named shared memory blocks (multiprocessing.shared_memory).

SharedMemory is an mproc shared-memory segment, /dev/shm/mproc-<name>
(0600, created with O_EXCL): any process of the same user opens it by name.
Without a name it gets a random one. ``.buf`` is a writable memoryview of
exactly ``size`` bytes (``numpy.ndarray(shape, dtype, buffer=shm.buf)``
works on it). A SharedMemory pickles by name, as in multiprocessing.

Lifetime, as in multiprocessing: close() unmaps in this process; unlink()
removes the name (once, from any process). close() raises BufferError while
a view made from ``.buf`` (a slice, a memoryview of it) holds its buffer;
release those first. A numpy array made on ``.buf`` keeps only a reference
(numpy takes the pointer and lets the buffer go), so, exactly as with
multiprocessing, close() succeeds and that array must not be used after it. Unlike multiprocessing there is no resource
tracker: a segment nobody unlinks stays until ``mproc clean`` finds its
creator dead. Names are 1..200 characters of [A-Za-z0-9._-] (a leading "/"
is ignored).

ShareableList stores a fixed-length list of int, float, bool, str, bytes and
None in a SharedMemory with the same layout as multiprocessing's.
"""
import struct

from . import _mproc

__all__ = ["SharedMemory", "ShareableList"]


class SharedMemory(_mproc.SharedMemory):
    """SharedMemory(name=None, create=False, size=0): create or attach a block."""

    def __init__(self, name=None, create=False, size=0, *, track=True):
        super().__init__(name, create, size)

    def __reduce__(self):
        return (type(self), (self.name, False, self.size))

    def __repr__(self):
        return "%s(%r, size=%d)" % (type(self).__name__, self.name, self.size)


_ENC = "utf8"
_ALIGN = 8
# What each kind of item is stored as, and the code that turns it back.
_FIXED = {int: ("q", 0), float: ("d", 0), bool: ("xxxxxxx?", 0), type(None): ("xxxxxx?x", 3)}
_STR, _BYTES = 1, 2


def _slot(item):
    """(struct format, back code, bytes it occupies) of one item."""
    if isinstance(item, str):
        raw = item.encode(_ENC)
        size = _ALIGN * (len(raw) // _ALIGN + 1)
        return "%ds" % size, _STR, size
    if isinstance(item, bytes):
        size = _ALIGN * (len(item) // _ALIGN + 1)
        return "%ds" % size, _BYTES, size
    try:
        fmt, code = _FIXED[type(item)]
    except KeyError:
        raise TypeError("ShareableList items must be int, float, bool, str, bytes or None, "
                        "not %s" % type(item).__name__) from None
    return fmt, code, _ALIGN


class ShareableList:
    """A fixed-length list in shared memory (multiprocessing's layout):

    8 bytes     n, the number of items
    8*(n+1)     the offset of each item in the data area, and its end
    ...         the data area (each item 8-byte aligned)
    8*n         each item's struct format, NUL padded
    n           each item's back code: 0 number/bool, 1 str, 2 bytes, 3 None
    """

    def __init__(self, sequence=None, *, name=None):
        if name is None or sequence is not None:
            items = list(sequence or ())
            slots = [_slot(v) for v in items]
            offsets = [0]
            for _, _, size in slots:
                offsets.append(offsets[-1] + size)
            n = len(items)
            total = 8 + 8 * (n + 1) + offsets[-1] + 8 * n + n
            self.shm = SharedMemory(name, create=True, size=max(total, 1))
            try:
                self._attach(n, offsets)
                buf = self.shm.buf
                struct.pack_into("q%dq" % (n + 1), buf, 0, n, *offsets)
                for i, (v, (fmt, code, _)) in enumerate(zip(items, slots)):
                    self._store(i, fmt, code, v.encode(_ENC) if code == _STR else v)
            except BaseException:
                self.shm.close()
                self.shm.unlink()
                raise
        else:
            self.shm = SharedMemory(name)
            buf = self.shm.buf
            size = len(buf)
            (n,) = struct.unpack_from("q", buf, 0) if size >= 8 else (-1,)
            if n < 0 or 8 + 17 * n + 8 > size:
                raise ValueError("shared memory %r does not hold a ShareableList" % name)
            offsets = list(struct.unpack_from("%dq" % (n + 1), buf, 8))
            if offsets[0] != 0 or any(b < a for a, b in zip(offsets, offsets[1:])) or \
                    8 + 8 * (n + 1) + offsets[-1] + 9 * n > size:
                raise ValueError("shared memory %r does not hold a ShareableList" % name)
            self._attach(n, offsets)

    def _attach(self, n, offsets):
        self._n = n
        self._offsets = offsets
        self._data = 8 * (n + 2)
        self._formats = self._data + offsets[-1]
        self._codes = self._formats + 8 * n

    def _index(self, position):
        if not isinstance(position, int):
            raise TypeError("list indices must be integers, not %s" % type(position).__name__)
        i = position + self._n if position < 0 else position
        if not 0 <= i < self._n:
            raise IndexError("index out of range")
        return i

    def _store(self, i, fmt, code, raw):
        buf = self.shm.buf
        struct.pack_into("8s", buf, self._formats + 8 * i, fmt.encode(_ENC))
        struct.pack_into("b", buf, self._codes + i, code)
        struct.pack_into(fmt, buf, self._data + self._offsets[i], raw)

    def _format(self, i):
        raw = struct.unpack_from("8s", self.shm.buf, self._formats + 8 * i)[0]
        return raw.rstrip(b"\x00").decode(_ENC)

    def __getitem__(self, position):
        i = self._index(position)
        fmt = self._format(i)
        room = self._offsets[i + 1] - self._offsets[i]
        if struct.calcsize(fmt) > room:
            raise ValueError("corrupt ShareableList item %d" % i)
        (v,) = struct.unpack_from(fmt, self.shm.buf, self._data + self._offsets[i])
        code = struct.unpack_from("b", self.shm.buf, self._codes + i)[0]
        if code == _STR:
            return v.rstrip(b"\x00").decode(_ENC)
        if code == _BYTES:
            return v.rstrip(b"\x00")
        if code == 3:
            return None
        return v

    def __setitem__(self, position, value):
        try:
            i = self._index(position)
        except IndexError:
            raise IndexError("assignment index out of range") from None
        room = self._offsets[i + 1] - self._offsets[i]
        if isinstance(value, (str, bytes)):
            raw = value.encode(_ENC) if isinstance(value, str) else value
            if len(raw) > room:
                raise ValueError("bytes/str item exceeds available storage")
            self._store(i, "%ds" % room, _STR if isinstance(value, str) else _BYTES, raw)
        else:
            fmt, code, _ = _slot(value)
            self._store(i, fmt, code, value)

    def __len__(self):
        return self._n

    def __iter__(self):
        for i in range(self._n):
            yield self[i]

    def __reduce__(self):
        return _attach_list, (type(self), self.shm.name)

    def __repr__(self):
        return "%s(%r, name=%r)" % (type(self).__name__, list(self), self.shm.name)

    @property
    def format(self):
        """The struct format of every item, joined."""
        return "".join(self._format(i) for i in range(self._n))

    def count(self, value):
        """How many items equal value."""
        return sum(1 for v in self if v == value)

    def index(self, value):
        """The position of the first item equal to value (ValueError if none)."""
        for i, v in enumerate(self):
            if v == value:
                return i
        raise ValueError("%r not in this container" % (value,))


def _attach_list(cls, name):
    return cls(name=name)
