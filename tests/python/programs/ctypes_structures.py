"""Value and Array of ctypes types: a double, a char buffer, an Array of a
Structure, a Value with an RLock given as its lock."""
import multiprocessing as mp
from ctypes import Structure, c_double, c_char, c_int


class Point(Structure):
    _fields_ = [("x", c_double), ("y", c_double)]


def modify(n, x, s, arr):
    n.value **= 2
    x.value = 1.0 / x.value
    s.value = s.value.upper()
    for a in arr:
        a.x **= 2
        a.y **= 2


if __name__ == "__main__":
    lock = mp.RLock()
    n = mp.Value("i", 7)
    x = mp.Value(c_double, 1.0 / 3.0, lock=False)
    s = mp.Array(c_char, b"hello world", lock=lock)
    arr = mp.Array(Point, [(1.875, -6.25), (-5.75, 2.0), (2.375, 9.5)], lock=lock)
    p = mp.Process(target=modify, args=(n, x, s, arr))
    p.start()
    p.join()
    print(n.value)
    print(round(x.value, 6))
    print(s.value)
    print([(a.x, a.y) for a in arr])
    print(s.get_lock() is arr.get_lock())
    v = mp.Value(c_int, 5)
    with v.get_lock():
        v.value -= 1
    print(v.value, mp.RawValue("h", -3).value)
