"""A Semaphore lets at most two workers into a section at a time; a shared
Value records the most that were ever inside together."""
import multiprocessing as mp
import time


def worker(sem, inside, peak):
    with sem:
        with inside.get_lock():
            inside.value += 1
            peak.value = max(peak.value, inside.value)
        time.sleep(0.05)
        with inside.get_lock():
            inside.value -= 1


if __name__ == "__main__":
    sem = mp.Semaphore(2)
    inside = mp.Value("i", 0)
    peak = mp.Value("i", 0)
    ps = [mp.Process(target=worker, args=(sem, inside, peak)) for _ in range(6)]
    for p in ps:
        p.start()
    for p in ps:
        p.join()
    print("peak inside <= 2:", peak.value <= 2, "inside now:", inside.value)
    print("value after:", sem.get_value())
    b = mp.BoundedSemaphore(1)
    b.acquire()
    print("second acquire:", b.acquire(timeout=0.05))
    b.release()
    try:
        b.release()
    except ValueError:
        print("ValueError: released too many times")
