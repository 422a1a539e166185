"""Array('d') written by a child through slices; read back in the parent."""
from multiprocessing import Array, Process, RawArray
import ctypes


def fill(a):
    a[0:5] = [0.5 * i for i in range(5)]
    a[5:] = [9.25] * (len(a) - 5)
    a[-1] = -1.0


if __name__ == "__main__":
    a = Array("d", 8)
    p = Process(target=fill, args=(a,))
    p.start()
    p.join()
    print(a[:])
    print(a[2:6], a[::2], a[-2:])
    print(sum(a), max(a))
    raw = RawArray(ctypes.c_int, [3, 1, 2])
    print(sorted(raw), raw[:])
    try:
        a[0:2] = [1.0]
    except ValueError as e:
        print("ValueError on size mismatch")
    try:
        a[100]
    except IndexError:
        print("IndexError")
