"""The usual way to give Pool workers a Queue and a Lock: pass them to the
initializer (inherited), not as task arguments."""
import multiprocessing as mp

progress = None
print_lock = None


def init(q, lock):
    global progress, print_lock
    progress = q
    print_lock = lock


def work(n):
    with print_lock:
        progress.put(n)
    return n * 2


if __name__ == "__main__":
    q = mp.Queue()
    lock = mp.Lock()
    with mp.Pool(2, initializer=init, initargs=(q, lock)) as pool:
        out = pool.map(work, range(6))
    print(out)
    print(sorted(q.get(timeout=10) for _ in range(6)))
