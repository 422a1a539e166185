"""Threads with the Pool API: multiprocessing.pool.ThreadPool and
multiprocessing.dummy, for I/O-bound work next to a process Pool."""
from multiprocessing.pool import ThreadPool
from multiprocessing.dummy import Pool as DummyPool
import multiprocessing


def slow_upper(s):
    return s.upper()


if __name__ == "__main__":
    with ThreadPool(3) as tp:
        print(tp.map(slow_upper, ["a", "b", "c"]))
    with DummyPool(2) as dp:
        print(sorted(dp.imap_unordered(slow_upper, ["x", "y"])))
    with multiprocessing.Pool(2) as pp:
        print(pp.map(slow_upper, ["p", "q"]))
