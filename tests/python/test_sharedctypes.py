"""mproc.sharedctypes: Value, Array, RawValue, RawArray with the typecodes of
`array` and ctypes types, shared with forked children."""
import ctypes
import os
import pickle

import pytest

from mproc import sharedctypes as sc
from mproc.synchronize import Lock, RLock

from forkutil import fork, join

NUMBERS = "bBhHiIlLqQfd"


@pytest.mark.parametrize("code", NUMBERS)
def test_value_of_every_number_typecode(code):
    v = sc.Value(code)
    assert v.value == 0
    v.value = 7
    assert v.value == 7
    assert type(v.value) is (float if code in "fd" else int)
    assert isinstance(v.get_obj(), sc.typecode_to_type[code])
    assert v.get_obj().value == 7


def test_value_wraps_and_refuses_floats_like_ctypes():
    v = sc.Value("i", 5)
    v.value = 2**32 + 3
    assert v.value == ctypes.c_int(2**32 + 3).value == 3
    u = sc.Value("B")
    u.value = -1
    assert u.value == 255
    with pytest.raises(TypeError):
        v.value = 1.5
    d = sc.Value("d", 1)
    d.value = 3
    assert d.value == 3.0
    f = sc.Value("f", 0.1)
    assert f.value == ctypes.c_float(0.1).value


def test_value_of_ctypes_types_and_structures():
    b = sc.Value(ctypes.c_bool, True)
    assert b.value is True
    c = sc.Value("c", b"x")
    assert c.value == b"x"
    w = sc.Value("u", "z")
    assert w.value == "z"

    class Point(ctypes.Structure):
        _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_double)]
    p = sc.Value(Point, 1, 2.5)
    assert (p.get_obj().x, p.get_obj().y) == (1, 2.5)
    with pytest.raises(TypeError):
        sc.Value("?")


def test_value_lock_choices():
    v = sc.Value("i", 1)
    assert isinstance(v.get_lock(), RLock)
    with v:
        assert v.get_lock()._is_mine()
    assert v.acquire() is True
    v.release()
    lk = Lock()
    w = sc.Value("i", 1, lock=lk)
    assert w.get_lock() is lk
    raw = sc.Value("i", 4, lock=False)
    assert isinstance(raw, ctypes.c_int) and raw.value == 4
    with pytest.raises(AttributeError):
        sc.Value("i", lock=object())
    assert "c_int(1)" in repr(v)


def test_value_updated_under_its_lock_in_children():
    v = sc.Value("q", 0)

    def work():
        for _ in range(1000):
            with v.get_lock():
                v.value += 1
    pids = [fork(work) for _ in range(3)]
    assert [join(p) for p in pids] == [0, 0, 0]
    assert v.value == 3000


def test_array_initialiser_size_indexing_and_slices():
    a = sc.Array("i", [1, 2, 3])
    assert len(a) == 3 and a[:] == [1, 2, 3] and a[-1] == 3
    a[0] = 9
    a[1:3] = [7, 8]
    assert a[:] == [9, 7, 8]
    z = sc.Array("d", 4)
    assert z[:] == [0.0] * 4
    with pytest.raises(IndexError):
        z[4]
    assert isinstance(a.get_lock(), RLock)
    assert len(a.get_obj()) == 3
    e = sc.Array("i", 0)
    assert len(e) == 0


def test_char_array_has_value_and_raw():
    s = sc.Array("c", b"hello")
    assert s.value == b"hello" and s.raw == b"hello"
    s.value = b"hi"
    assert s.value == b"hi"
    assert isinstance(s, sc.SynchronizedString)
    s2 = sc.Array("c", 10)
    assert s2.raw == b"\0" * 10


def test_array_written_by_a_child():
    a = sc.Array("d", 5)

    def work():
        for i in range(5):
            a[i] = i * 1.5
    assert join(fork(work)) == 0
    assert a[:] == [0.0, 1.5, 3.0, 4.5, 6.0]


def test_raw_value_and_raw_array_are_shared_ctypes():
    rv = sc.RawValue("L", 5)
    assert isinstance(rv, ctypes.c_ulong) and rv.value == 5
    ra = sc.RawArray(ctypes.c_short, [1, -2])
    assert list(ra) == [1, -2]

    def work():
        rv.value = 99
        ra[1] = 42
    assert join(fork(work)) == 0
    assert rv.value == 99 and ra[1] == 42
    with pytest.raises(TypeError):
        sc.RawValue("not a type")


def test_copy_and_synchronized():
    ra = sc.RawArray("i", [1, 2])
    c = sc.copy(ra)
    c[0] = 5
    assert list(ra) == [1, 2] and list(c) == [5, 2]
    s = sc.synchronized(sc.RawValue("i", 3))
    assert s.value == 3 and isinstance(s, sc.Synchronized)
    sa = sc.synchronized(ra)
    assert sa[:] == [1, 2]


def test_pickling_outside_a_spawn_is_refused():
    with pytest.raises(RuntimeError, match="through inheritance"):
        pickle.dumps(sc.Value("i"))
    with pytest.raises(RuntimeError, match="through inheritance"):
        pickle.dumps(sc.Array("i", 2))


def test_values_release_their_memory_when_collected():
    before = set(os.listdir("/proc/self/fd"))
    objs = [sc.Value("i"), sc.Array("d", 100), sc.RawValue("i"), sc.RawArray("b", 3)]
    assert set(os.listdir("/proc/self/fd")) - before
    del objs
    assert set(os.listdir("/proc/self/fd")) - before == set()
