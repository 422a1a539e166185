"""ProcessPoolExecutor with mp_context, an initializer, map with chunksize,
add_done_callback, cancel and shutdown."""
from concurrent.futures import ProcessPoolExecutor, wait, FIRST_COMPLETED
import multiprocessing as mp
import time

base = 0


def setup(b):
    global base
    base = b


def add(x):
    return base + x


def nap(t):
    time.sleep(t)
    return t


if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx, initializer=setup, initargs=(100,)) as ex:
        print(list(ex.map(add, range(7), chunksize=3)))
        seen = []
        f = ex.submit(add, 1)
        f.add_done_callback(lambda fut: seen.append(fut.result()))
        f.result(timeout=30)
        time.sleep(0.1)
        print("callback saw", seen, "done", f.done())
    ex = ProcessPoolExecutor(max_workers=1)
    slow = ex.submit(nap, 0.5)
    queued = [ex.submit(nap, 0) for _ in range(3)]
    done, pending = wait([slow] + queued, timeout=0.05, return_when=FIRST_COMPLETED)
    print("nothing done yet:", len(done) == 0)
    print("cancel the last:", queued[-1].cancel(), queued[-1].cancelled())
    ex.shutdown(wait=True)
    print(slow.result(), [q.result() for q in queued[:-1]])
    try:
        ex.submit(nap, 0)
    except RuntimeError:
        print("RuntimeError after shutdown")
