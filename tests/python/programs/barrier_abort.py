"""Barrier.abort() breaks every waiter."""
import multiprocessing as mp
import threading
import time


def waiter(b, q):
    try:
        b.wait(timeout=10)
        q.put("passed")
    except threading.BrokenBarrierError:
        q.put("broken")


if __name__ == "__main__":
    b = mp.Barrier(3)
    q = mp.Queue()
    ps = [mp.Process(target=waiter, args=(b, q)) for _ in range(2)]
    for p in ps:
        p.start()
    while b.n_waiting < 2:
        time.sleep(0.01)
    b.abort()
    print(sorted(q.get(timeout=10) for _ in ps), b.broken)
    for p in ps:
        p.join()
