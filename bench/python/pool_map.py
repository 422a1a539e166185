"""pool_map.py - the Python peers of bench/bench_pool.c.

usage: pool_map.py pool|executor N CHUNKSIZE WORKERS
       pool_map.py uneven N CHUNKSIZE WORKERS

uneven: a Pool of WORKERS runs one 2 s task, then maps time.sleep(0.001)
over N items with CHUNKSIZE; prints the nanoseconds of that map.

Maps a trivial function (x -> x + 1) over range(N) with
multiprocessing.Pool.map or concurrent.futures.ProcessPoolExecutor.map,
CHUNKSIZE items per task (0: Pool's default, ceil(N / (4 * WORKERS)); the
executor gets the same number explicitly, since its own default is 1).
The pool is started and warmed up before the clock starts. Prints the
elapsed nanoseconds of the map alone, and checks the results.
"""
import sys
import time
import multiprocessing
import concurrent.futures


def inc(x):
    return x + 1


def uneven(n, chunk, workers):
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        pool.map(inc, range(workers * 4), chunksize=1)
        long_task = pool.apply_async(time.sleep, (2,))
        time.sleep(0.05)
        t0 = time.perf_counter_ns()
        pool.map(time.sleep, [0.001] * n, chunksize=chunk)
        t1 = time.perf_counter_ns()
        pool.terminate()
        del long_task
    print(t1 - t0)


def main():
    kind, n, chunk, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    if kind == "uneven":
        uneven(n, chunk, workers)
        return
    data = range(n)
    if chunk == 0:
        chunk = max(1, -(-n // (4 * workers)))
    if kind == "pool":
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            pool.map(inc, range(workers * 4), chunksize=1)
            t0 = time.perf_counter_ns()
            out = pool.map(inc, data, chunksize=chunk)
            t1 = time.perf_counter_ns()
    else:
        ctx = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx) as ex:
            list(ex.map(inc, range(workers * 4)))
            t0 = time.perf_counter_ns()
            out = list(ex.map(inc, data, chunksize=chunk))
            t1 = time.perf_counter_ns()
    if len(out) != n or (n and out[-1] != n):
        print("bad result", file=sys.stderr)
        sys.exit(1)
    print(t1 - t0)


if __name__ == "__main__":
    main()
