"""A numpy array on a SharedMemory block, filled by a child that attaches
by name."""
from multiprocessing import Process
from multiprocessing import shared_memory
import numpy as np


def square_in_place(name, n):
    shm = shared_memory.SharedMemory(name=name)
    a = np.ndarray((n,), dtype=np.int64, buffer=shm.buf)
    a[:] = a * a
    del a
    shm.close()


if __name__ == "__main__":
    n = 10
    shm = shared_memory.SharedMemory(create=True, size=n * 8)
    a = np.ndarray((n,), dtype=np.int64, buffer=shm.buf)
    a[:] = np.arange(n)
    p = Process(target=square_in_place, args=(shm.name, n))
    p.start()
    p.join()
    print(a.tolist(), int(a.sum()))
    print("size at least asked:", shm.size >= n * 8)
    del a
    shm.close()
    shm.unlink()
    print("unlinked")
