"""Process with kwargs, a thread inside the child, and a Queue shared by
threads of the parent."""
import multiprocessing as mp
import threading


def child(q, *, start, step, count):
    out = []

    def fill():
        out.extend(range(start, start + step * count, step))

    t = threading.Thread(target=fill)
    t.start()
    t.join()
    q.put(out)


if __name__ == "__main__":
    q = mp.Queue()
    p = mp.Process(target=child, args=(q,), kwargs={"start": 5, "step": 3, "count": 4})
    p.start()
    print(q.get(timeout=10))
    p.join()
    results = []
    lock = threading.Lock()

    def reader():
        v = q.get(timeout=10)
        with lock:
            results.append(v)

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for t in readers:
        t.start()
    for i in range(3):
        q.put(i)
    for t in readers:
        t.join()
    print(sorted(results))
