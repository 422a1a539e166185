"""A Lock around print so that lines do not interleave; output sorted by
the parent from a Queue for determinism."""
from multiprocessing import Lock, Process, Queue


def report(lock, q, i):
    with lock:
        q.put(f"worker {i} holds the lock")
    ok = lock.acquire(timeout=5)
    try:
        q.put(f"worker {i} acquired again: {ok}")
    finally:
        lock.release()


if __name__ == "__main__":
    lock = Lock()
    q = Queue()
    ps = [Process(target=report, args=(lock, q, i)) for i in range(4)]
    for p in ps:
        p.start()
    lines = sorted(q.get(timeout=10) for _ in range(8))
    for p in ps:
        p.join()
    with lock:
        for line in lines:
            print(line)
    print("non-blocking while held elsewhere:", lock.acquire(False))
    print("second try:", lock.acquire(block=False))
    lock.release()
    try:
        lock.release()
    except ValueError:
        print("ValueError on releasing an unlocked Lock")
    r = __import__("multiprocessing").RLock()
    with r:
        with r:
            print("RLock re-entered")
