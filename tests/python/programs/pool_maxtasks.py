"""Pool with maxtasksperchild: workers are replaced, results stay right."""
import multiprocessing
import os


def whoami(x):
    return x + 1, os.getpid()


if __name__ == "__main__":
    with multiprocessing.Pool(2, maxtasksperchild=2) as pool:
        out = pool.map(whoami, range(12), chunksize=1)
    print([v for v, _ in out])
    print("more than two workers served:", len({pid for _, pid in out}) > 2)
    pool = multiprocessing.Pool(1)
    r = pool.apply_async(whoami, (41,))
    print(r.get(timeout=10)[0])
    pool.terminate()
    pool.join()
    print("terminated")
