"""Two producers put numbered jobs on a Queue, one consumer sums them and
stops after seeing one None per producer."""
import multiprocessing as mp


def produce(q, first, n):
    for i in range(first, first + n):
        q.put(("job", i))
    q.put(None)


def consume(q, out, producers):
    seen_end = 0
    total = 0
    count = 0
    while seen_end < producers:
        item = q.get()
        if item is None:
            seen_end += 1
            continue
        total += item[1]
        count += 1
    out.put((count, total))


if __name__ == "__main__":
    q = mp.Queue()
    out = mp.Queue()
    prods = [mp.Process(target=produce, args=(q, k * 1000, 500)) for k in range(2)]
    cons = mp.Process(target=consume, args=(q, out, 2))
    for p in prods + [cons]:
        p.start()
    count, total = out.get(timeout=20)
    for p in prods + [cons]:
        p.join()
    print("items", count, "sum", total)
    print("exit codes", [p.exitcode for p in prods + [cons]])
