"""Worker processes take tasks off a JoinableQueue, mark each done, and the
parent waits with join() before collecting results."""
from multiprocessing import JoinableQueue, Process, Queue


def worker(tasks, results):
    while True:
        n = tasks.get()
        try:
            if n is None:
                break
            results.put((n, n * n))
        finally:
            tasks.task_done()


if __name__ == "__main__":
    tasks = JoinableQueue()
    results = Queue()
    workers = [Process(target=worker, args=(tasks, results), daemon=True) for _ in range(3)]
    for w in workers:
        w.start()
    for n in range(20):
        tasks.put(n)
    tasks.join()
    print("all tasks done")
    got = sorted(results.get(timeout=10) for _ in range(20))
    print(got[:5], "...", got[-1])
    for _ in workers:
        tasks.put(None)
    tasks.join()
    for w in workers:
        w.join(5)
    print("workers alive:", sum(w.is_alive() for w in workers))
