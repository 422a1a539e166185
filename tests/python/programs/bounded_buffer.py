"""A bounded Queue between a fast producer and a slow consumer: put blocks
while the queue is full, nothing is lost, order is kept."""
import multiprocessing as mp
import time


def producer(q, n):
    for i in range(n):
        q.put(i)
    q.put("end")


def consumer(q, out):
    got = []
    while True:
        x = q.get()
        if x == "end":
            break
        got.append(x)
        if len(got) % 10 == 0:
            time.sleep(0.01)
    out.put((len(got), got == sorted(got), sum(got)))


if __name__ == "__main__":
    print("start method:", mp.get_start_method(allow_none=True) in (None, "fork"))
    ctx = mp.get_context()
    q = ctx.Queue(maxsize=5)
    out = ctx.Queue()
    c = ctx.Process(target=consumer, args=(q, out))
    p = ctx.Process(target=producer, args=(q, 200))
    c.start()
    p.start()
    print(out.get(timeout=30))
    p.join()
    c.join()
    print("queue empty at the end:", q.empty(), q.qsize())
