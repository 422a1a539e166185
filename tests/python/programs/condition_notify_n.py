"""Condition.notify(n) wakes n of the waiters; the rest sleep on until
the next notify (or their timeout)."""
import multiprocessing as mp
import time


def sleeper(cond, waiting, woke):
    with cond:
        waiting.value += 1
        cond.wait(timeout=5)
        woke.value += 1


def notify_when_waiting(cond, waiting, count, n):
    while True:
        with cond:  # a waiter counted itself and released the lock in wait()
            if waiting.value == count:
                cond.notify(n)
                return
        time.sleep(0.01)


if __name__ == "__main__":
    cond = mp.Condition(mp.Lock())
    waiting = mp.Value("i", 0, lock=False)
    woke = mp.Value("i", 0, lock=False)
    ps = [mp.Process(target=sleeper, args=(cond, waiting, woke)) for _ in range(3)]
    for p in ps:
        p.start()
    notify_when_waiting(cond, waiting, 3, 2)
    time.sleep(0.5)
    with cond:
        print("woken by notify(2):", woke.value)
        cond.notify()
    for p in ps:
        p.join()
    print("all:", woke.value)
