"""SharedMemory with a name the program chooses, bytes through buf, a
second attach, FileExistsError, and a float numpy matrix copied in."""
from multiprocessing import Process, shared_memory
import os
import numpy as np

NAME = "prog_shm_%d" % os.getpid()


def reader(name, shape):
    shm = shared_memory.SharedMemory(name)
    m = np.ndarray(shape, dtype=np.float64, buffer=shm.buf[64:])
    print("child sees", bytes(shm.buf[:5]), m.sum(), m[1, 2], flush=True)
    del m
    shm.close()


if __name__ == "__main__":
    shape = (3, 4)
    shm = shared_memory.SharedMemory(name=NAME, create=True, size=64 + 8 * 12)
    print("name kept:", shm.name == NAME)
    shm.buf[:5] = b"hello"
    src = np.arange(12, dtype=np.float64).reshape(shape) / 2
    m = np.ndarray(shape, dtype=np.float64, buffer=shm.buf[64:])
    m[:] = src[:]
    try:
        shared_memory.SharedMemory(name=NAME, create=True, size=10)
    except FileExistsError:
        print("FileExistsError")
    other = shared_memory.SharedMemory(name=NAME)
    print("second attach sees", bytes(other.buf[:5]))
    other.close()
    p = Process(target=reader, args=(NAME, shape))
    p.start()
    p.join()
    del m
    shm.close()
    shm.unlink()
    try:
        shared_memory.SharedMemory(name=NAME)
    except FileNotFoundError:
        print("FileNotFoundError after unlink")
