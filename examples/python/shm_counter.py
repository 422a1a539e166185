"""A shared-memory counter under a Semaphore: the parent puts one integer (a
numpy array of one element) in a shared-memory block; two processes each
count to half of 100,000,000, then, holding the semaphore, attach to the
block by name and add their count into it. The parent prints the time and
the total, then closes and unlinks the block. One of the tutorial's
programs; it needs numpy.

usage: python3 shm_counter.py [--count N]

Written for Python's multiprocessing; with_mproc.py runs it on mproc with
only the import line changed.
"""
import sys
import time
from multiprocessing import Process, shared_memory, Semaphore

import numpy as np


def worker(id, number, name, shape, dtype, sem):
    increased_number = 0
    for i in range(number):
        increased_number += 1

    sem.acquire()
    # attach to the block by its name, as an unrelated process would
    existing_shm = shared_memory.SharedMemory(name=name)
    counter = np.ndarray(shape, dtype=dtype, buffer=existing_shm.buf)
    counter[0] += increased_number
    del counter  # the array holds the block's buffer: let go before closing
    existing_shm.close()
    sem.release()


if __name__ == "__main__":
    count = 100_000_000
    if sys.argv[1:2] == ["--count"] and len(sys.argv) == 3:
        count = int(sys.argv[2].replace("_", "").replace(",", ""))
    elif len(sys.argv) > 1:
        sys.exit("usage: shm_counter.py [--count N]")

    start_time = time.time()
    sem = Semaphore()
    arr = np.array([0], dtype=np.int64)
    shm = shared_memory.SharedMemory(create=True, size=arr.nbytes)
    np_shm = np.ndarray(arr.shape, dtype=arr.dtype, buffer=shm.buf)
    np_shm[0] = 0

    half = count // 2
    th1 = Process(target=worker, args=(1, half, shm.name, arr.shape, arr.dtype, sem))
    th2 = Process(target=worker, args=(2, count - half, shm.name, arr.shape, arr.dtype, sem))
    th1.start()
    th2.start()
    th1.join()
    th2.join()

    print("--- %s seconds ---" % (time.time() - start_time))
    print(f"total_number={np_shm[0]}")
    print("end of main")

    del np_shm  # the array holds the block's buffer: let go before closing
    shm.close()
    shm.unlink()
