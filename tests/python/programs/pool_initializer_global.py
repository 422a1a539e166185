"""Each worker gets a per-process global from its initializer."""
import multiprocessing as mp
import os

table = None


def setup(scale, offset):
    global table
    table = {"scale": scale, "offset": offset, "pid": os.getpid()}


def apply_table(x):
    return x * table["scale"] + table["offset"], table["pid"]


if __name__ == "__main__":
    pool = mp.Pool(2, initializer=setup, initargs=(3, 1))
    try:
        out = pool.map(apply_table, range(8))
    finally:
        pool.close()
        pool.join()
    print([v for v, _ in out])
    print("pids differ from parent:", all(pid != os.getpid() for _, pid in out))
    print("worker count <= 2:", len({pid for _, pid in out}) <= 2)
    print("parent table untouched:", table)
