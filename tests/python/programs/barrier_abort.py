"""Barrier.abort() breaks every waiter; Condition.notify(n) wakes n."""
import multiprocessing as mp
import threading
import time


def waiter(b, q):
    try:
        b.wait(timeout=10)
        q.put("passed")
    except threading.BrokenBarrierError:
        q.put("broken")


def sleeper(cond, woke, q):
    with cond:
        cond.wait(timeout=3)
        woke.value += 1


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
    cond = mp.Condition(mp.Lock())
    woke = mp.Value("i", 0)
    ps = [mp.Process(target=sleeper, args=(cond, woke, q)) for _ in range(3)]
    for p in ps:
        p.start()
    time.sleep(0.5)
    with cond:
        cond.notify(2)
    time.sleep(0.5)
    print("woken by notify(2):", woke.value)
    with cond:
        cond.notify_all()
    for p in ps:
        p.join()
    print("all:", woke.value)
