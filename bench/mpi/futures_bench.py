"""futures_bench.py - per-task overhead of mpi4py.futures (MPIPoolExecutor,
static mode), the peer of bench_pool_mpi.c: n tasks that square an int,
chunk size 1 (executor.map(..., chunksize=1)).

    mpirun -n 3 /usr/bin/python3 -m mpi4py.futures futures_bench.py [n] [reps]

Prints the same CSV row as the C harness:
    pool_mpi,task_overhead_chunk1,mpi4py.futures,median,min,max,us/op
"""
import sys
import time

from mpi4py.futures import MPIPoolExecutor


def square(x):
    return x * x


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    per = []
    with MPIPoolExecutor() as ex:
        list(ex.map(square, range(100), chunksize=1))  # warm-up: workers ready
        for _ in range(reps):
            t0 = time.perf_counter_ns()
            out = list(ex.map(square, range(n), chunksize=1))
            t = time.perf_counter_ns() - t0
            assert out[-1] == (n - 1) * (n - 1)
            per.append(t / n / 1000.0)
    per.sort()
    print("pool_mpi,task_overhead_chunk1,mpi4py.futures,%.3f,%.3f,%.3f,us/op"
          % (per[len(per) // 2], per[0], per[-1]))


if __name__ == "__main__":
    main()
