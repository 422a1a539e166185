"""Counting to 100,000,000: in one process, in two processes, in two threads.

The first of the tutorial's programs. A worker counts to its share in a plain
loop and puts its count on a Queue; the main program starts the workers,
joins them, prints the time, then adds up what is on the queue (up to an
'exit' marker) and prints total_number. The same worker runs three ways:
in the main process alone (the whole count), in two processes (half each),
in two threads (half each: the interpreter lock lets one thread run at a
time, so this is no faster than one process).

usage: python3 count.py [--count N] [--only one|processes|threads]

Written for Python's multiprocessing; with_mproc.py runs it on mproc with
only the import line changed.
"""
import sys
import threading
import time
from multiprocessing import Process, Queue


def worker(id, number, q):
    increased_number = 0
    for i in range(number):
        increased_number += 1
    q.put(increased_number)


def total_of(q):
    q.put('exit')
    total = 0
    while True:
        tmp = q.get()
        if tmp == 'exit':
            break
        total += tmp
    return total


def run(how, count, q):
    """Counts to count the given way; prints the time and the total."""
    start_time = time.time()
    if how == "one":
        worker(1, count, q)
    else:
        kind = Process if how == "processes" else threading.Thread
        half = count // 2
        workers = [kind(target=worker, args=(1, half, q)),
                   kind(target=worker, args=(2, count - half, q))]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    print("--- %s seconds ---" % (time.time() - start_time))
    print(f"total_number={total_of(q)}")


def parse_args(argv):
    count, only = 100_000_000, None
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--count" and args:
            count = int(args.pop(0).replace("_", "").replace(",", ""))
        elif a == "--only" and args and args[0] in ("one", "processes", "threads"):
            only = args.pop(0)
        else:
            sys.exit("usage: count.py [--count N] [--only one|processes|threads]")
    return count, only


if __name__ == "__main__":
    count, only = parse_args(sys.argv[1:])
    q = Queue()
    names = {"one": "one process", "processes": "two processes", "threads": "two threads"}
    for how in ("one", "processes", "threads"):
        if only in (None, how):
            print("==", names[how])
            run(how, count, q)
    print("end of main")
