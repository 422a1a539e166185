"""ctypes objects in shared memory (multiprocessing.sharedctypes).

The bytes live in a core Value/Array segment (mproc_array, created without
its own lock: the lock is a separate mproc RLock, or the one you pass), so
`mproc ls` shows them. A forked child inherits them; a spawned child gets
them as descriptors while a spawn pickles (RawValue and RawArray too, through
mproc.reduction's pickler, as multiprocessing does with its own).

``Value(...).value`` of a number (typecodes b B h H i I l L q Q f d and the
matching ctypes types) is read and written in C as one atomic load or store:
never torn, but ``v.value += 1`` is still a read then a write; take
``v.get_lock()`` around it, as with multiprocessing.
"""
import ctypes
import os

from . import _mproc

__all__ = ["RawValue", "RawArray", "Value", "Array", "copy", "synchronized",
           "Synchronized", "SynchronizedArray", "SynchronizedString"]

typecode_to_type = {
    "c": ctypes.c_char, "u": ctypes.c_wchar,
    "b": ctypes.c_byte, "B": ctypes.c_ubyte,
    "h": ctypes.c_short, "H": ctypes.c_ushort,
    "i": ctypes.c_int, "I": ctypes.c_uint,
    "l": ctypes.c_long, "L": ctypes.c_ulong,
    "q": ctypes.c_longlong, "Q": ctypes.c_ulonglong,
    "f": ctypes.c_float, "d": ctypes.c_double,
}

# mproc_type numbers (include/mproc/sync.h)
_I8, _U8, _I16, _U16, _I32, _U32, _I64, _U64, _F32, _F64 = range(1, 11)
_SIGNED = {1: _I8, 2: _I16, 4: _I32, 8: _I64}
_UNSIGNED = {1: _U8, 2: _U16, 4: _U32, 8: _U64}


def _ctype(typecode_or_type):
    t = typecode_to_type.get(typecode_or_type, typecode_or_type)
    try:
        ctypes.sizeof(t)
    except TypeError:
        raise TypeError("expected an array typecode or a ctypes type, got %r"
                        % (typecode_or_type,)) from None
    return t


def _core_type(t):
    """The core element type of a ctypes number type, else 0."""
    code = getattr(t, "_type_", None)
    if not isinstance(code, str):
        return 0
    size = ctypes.sizeof(t)
    if code in "fd":
        return {4: _F32, 8: _F64}.get(size, 0)
    if code in "bhilq":
        return _SIGNED.get(size, 0)
    if code in "BHILQ":
        return _UNSIGNED.get(size, 0)
    return 0


def _new_storage(t, n):
    core = _core_type(t)
    if core:
        return _mproc.Storage(core, max(n, 1))
    return _mproc.Storage(_U8, max(ctypes.sizeof(t) * n, 1))


_registered = set()


def _register(t):
    """Let mproc's pickler hand raw shared objects of type t to a spawned
    child (multiprocessing registers each type it makes the same way)."""
    if t in _registered:
        return
    try:
        from .reduction import register
    except ImportError:
        return
    register(t, _reduce_raw)
    _registered.add(t)


def _shape(obj):
    if isinstance(obj, ctypes.Array):
        return obj._type_, len(obj)
    return type(obj), None


def _reduce_raw(obj):
    storage = _storage_of(obj)
    if storage is None:  # an ordinary ctypes object of a type we registered
        return obj.__reduce_ex__(5)
    from .synchronize import _assert_spawning, _send
    red = _assert_spawning(obj)
    return _rebuild_raw, (_shape(obj), _send(red, storage._export_fd()))


def _attach(shape, token):
    from .synchronize import _recv
    fd = _recv(token)
    try:
        storage = _mproc.Storage(_fd=fd)
    finally:
        os.close(fd)
    t, n = shape
    return (t if n is None else t * n).from_buffer(storage), storage


def _rebuild_raw(shape, token):
    obj = _attach(shape, token)[0]
    _register(type(obj))
    return obj


def _raw_value(t, args):
    storage = _new_storage(t, 1)
    obj = t.from_buffer(storage)
    if args:
        obj.__init__(*args)
    _register(t)
    return obj, storage


def _raw_array(t, size_or_initializer):
    if isinstance(size_or_initializer, int):
        n, init = size_or_initializer, None
    else:
        init = list(size_or_initializer)
        n = len(init)
    if n < 0:
        raise ValueError("array size must be >= 0")
    storage = _new_storage(t, n)
    obj = (t * n).from_buffer(storage)
    if init:
        obj.__init__(*init)
    _register(type(obj))
    return obj, storage


def RawValue(typecode_or_type, *args, ctx=None):
    """A ctypes object in shared memory, with no lock."""
    return _raw_value(_ctype(typecode_or_type), args)[0]


def RawArray(typecode_or_type, size_or_initializer, *, ctx=None):
    """A ctypes array in shared memory, with no lock."""
    return _raw_array(_ctype(typecode_or_type), size_or_initializer)[0]


def _lock_for(lock, ctx):
    if lock is True or lock is None:
        from .synchronize import RLock
        return RLock()
    if not hasattr(lock, "acquire"):
        raise AttributeError("%r has no method 'acquire'" % (lock,))
    return lock


def Value(typecode_or_type, *args, lock=True, ctx=None):
    """A shared ctypes object with a lock (an RLock unless you pass one)."""
    obj, storage = _raw_value(_ctype(typecode_or_type), args)
    if lock is False:
        return obj
    return Synchronized(obj, _lock_for(lock, ctx), _storage=storage)


def Array(typecode_or_type, size_or_initializer, *, lock=True, ctx=None):
    """A shared ctypes array with a lock (an RLock unless you pass one)."""
    t = _ctype(typecode_or_type)
    obj, storage = _raw_array(t, size_or_initializer)
    if lock is False:
        return obj
    cls = SynchronizedString if t is ctypes.c_char else SynchronizedArray
    return cls(obj, _lock_for(lock, ctx), _storage=storage)


def copy(obj):
    """A new raw shared object with obj's bytes."""
    storage = _mproc.Storage(_U8, max(ctypes.sizeof(obj), 1))
    new = type(obj).from_buffer(storage)
    ctypes.pointer(new)[0] = obj
    return new


def synchronized(obj, lock=None, ctx=None):
    """Wrap a ctypes object in shared memory with a lock."""
    lock = _lock_for(lock, ctx)
    if isinstance(obj, ctypes.Array):
        cls = SynchronizedString if obj._type_ is ctypes.c_char else SynchronizedArray
        return cls(obj, lock)
    return Synchronized(obj, lock)


def _storage_of(obj):
    """The Storage an object made here lives on, else None."""
    ref = getattr(obj, "_objects", None)
    if isinstance(ref, dict):
        ref = next(iter(ref.values()), None)
    base = getattr(ref, "obj", None)
    return base if isinstance(base, _mproc.Storage) else None


def _reduce_wrapper(self, storage):
    from .synchronize import _assert_spawning, _send
    red = _assert_spawning(self)
    if storage is None:
        raise TypeError("%s on memory mproc did not allocate cannot be passed to a "
                        "spawned child" % type(self).__name__)
    return _rebuild_wrapper, (type(self), _shape(self.get_obj()),
                              _send(red, storage._export_fd()), self.get_lock())


def _rebuild_wrapper(cls, shape, token, lock):
    obj, storage = _attach(shape, token)
    return cls(obj, lock, _storage=storage)


class Synchronized(_mproc.SharedValue):
    """A shared value with a lock: .value, get_lock(), get_obj(), acquire/release."""

    def __init__(self, obj, lock=None, ctx=None, *, _storage=None):
        super().__init__(_storage if _storage is not None else obj, obj, _core_type(type(obj)))
        self._lock = _lock_for(lock, ctx)
        self._mem = _storage if _storage is not None else _storage_of(obj)
        self.acquire = self._lock.acquire
        self.release = self._lock.release

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)

    def get_lock(self):
        return self._lock

    def __reduce__(self):
        return _reduce_wrapper(self, self._mem)

    def __repr__(self):
        return "<%s wrapper for %s>" % (type(self).__name__, self.get_obj())


class SynchronizedArray:
    """A shared array with a lock: len, indexing and slicing under the lock."""

    def __init__(self, obj, lock=None, ctx=None, *, _storage=None):
        self._obj = obj
        self._lock = _lock_for(lock, ctx)
        self._mem = _storage if _storage is not None else _storage_of(obj)
        self.acquire = self._lock.acquire
        self.release = self._lock.release

    def __enter__(self):
        return self._lock.__enter__()

    def __exit__(self, *args):
        return self._lock.__exit__(*args)

    def get_obj(self):
        return self._obj

    def get_lock(self):
        return self._lock

    def __len__(self):
        return len(self._obj)

    def __getitem__(self, i):
        with self._lock:
            return self._obj[i]

    def __setitem__(self, i, value):
        with self._lock:
            self._obj[i] = value

    def __getslice__(self, start, stop):
        with self._lock:
            return self._obj[start:stop]

    def __setslice__(self, start, stop, values):
        with self._lock:
            self._obj[start:stop] = values

    def __reduce__(self):
        return _reduce_wrapper(self, self._mem)

    def __repr__(self):
        return "<%s wrapper for %s>" % (type(self).__name__, self._obj)


class SynchronizedString(SynchronizedArray):
    """A shared char array with a lock: also .value and .raw."""

    @property
    def value(self):
        with self._lock:
            return self._obj.value

    @value.setter
    def value(self, v):
        with self._lock:
            self._obj.value = v

    @property
    def raw(self):
        with self._lock:
            return self._obj.raw

    @raw.setter
    def raw(self, v):
        with self._lock:
            self._obj.raw = v
