"""Queue.qsize/empty/full, bounded Queue, queue.Empty and queue.Full with
timeouts, get_nowait/put_nowait, SimpleQueue."""
import multiprocessing as mp
import queue
import time


def fill(q, n):
    for i in range(n):
        q.put(i)


if __name__ == "__main__":
    q = mp.Queue(maxsize=3)
    print("empty", q.empty(), "full", q.full(), "qsize", q.qsize())
    p = mp.Process(target=fill, args=(q, 3))
    p.start()
    p.join()
    time.sleep(0.2)
    print("empty", q.empty(), "full", q.full(), "qsize", q.qsize())
    try:
        q.put(99, timeout=0.1)
    except queue.Full:
        print("queue.Full")
    try:
        q.put_nowait(99)
    except queue.Full:
        print("queue.Full (nowait)")
    print([q.get() for _ in range(3)])
    try:
        q.get(timeout=0.1)
    except queue.Empty:
        print("queue.Empty after timeout")
    try:
        q.get_nowait()
    except queue.Empty:
        print("queue.Empty (nowait)")
    try:
        q.get(block=False)
    except queue.Empty:
        print("queue.Empty (block=False)")
    q.close()
    q.join_thread()
    sq = mp.SimpleQueue()
    print("simple empty", sq.empty())
    sq.put(("a", 1))
    print("simple empty", sq.empty(), sq.get())
    sq.close()
