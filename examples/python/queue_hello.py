"""A list through a Queue: a child process puts [42, None, 'hello'] on a
Queue, the parent gets it and prints it. One of the tutorial's programs.

usage: python3 queue_hello.py [--time]   (--time: also print how long it took)

Written for Python's multiprocessing; with_mproc.py runs it on mproc with
only the import line changed.
"""
import sys
import time
from multiprocessing import Process, Queue


def f(q):
    q.put([42, None, 'hello'])


if __name__ == '__main__':
    start_time = time.time()
    q = Queue()
    p = Process(target=f, args=(q,))
    p.start()
    p.join()
    print(q.get())
    if "--time" in sys.argv[1:]:
        print("--- %s seconds ---" % (time.time() - start_time))
