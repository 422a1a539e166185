#!/usr/bin/env python3
"""bench_python.py - mproc from Python against Python's multiprocessing, in
the same run: the rows of issue 14's targets.

Run by `mproc bench` as the benchmark bench_python (a wrapper CMake writes
next to the other benchmarks, with PYTHONPATH on the build's module and
MPROC_PYTHON_RUN as the interpreter). Prints the C benchmarks' CSV:

    area,case,impl,median,min,max,unit

with area "python", impl "mproc" (the module) or "multiprocessing" (the
peer), and `#` lines for humans. Every row runs both in turn, `reps` rounds
interleaved (the first of them alternating), and reports the median and the
range. Both use the "fork" context; helper processes are that context's
Process; a start barrier (plain os.pipe) keeps process start-up out of the
timed part except in the row that measures it.

  queue_1to1_int / _tuple   Queue, one producer process -> the parent, an int /
                            (1, 'ab', 2.5): messages per second (Mmsg/s)
  queue_1to1_1MiB           the same with bytes of 1 MiB (GB/s)
  pipe_roundtrip_small      Pipe: the parent sends (1, 'ab'), a child sends it
                            back (us per round trip)
  lock_contended_2proc      Lock: two processes, acquire + release in a loop
                            (ns per acquire + release, over both)
  pool_map_chunksize1       Pool(cpu_count).map(inc, range(100_000),
                            chunksize=1) (us per item; the pool is started
                            and warmed before the clock)
  pool_map_default          the same with the default chunking
  process_start_join_fork   Process(target=noop).start(); .join() (us each)

A row whose mproc names are missing on this build is left out with a `#`
line naming them; the peer then runs alone (so that its row is still there).
MPROC_BENCH_REPS (default 5) and MPROC_BENCH_SCALE (a factor on the counts)
are honoured like in the C harness; --only SUBSTR runs the matching rows.
Exit status: 0, or 1 when a measurement failed (an `# ERROR` line says which).
"""
import argparse
import multiprocessing
import os
import sys
import time

AREA = "python"


def inc(x):
    return x + 1


def noop():
    pass


def reps():
    try:
        return max(1, int(os.environ.get("MPROC_BENCH_REPS", "5")))
    except ValueError:
        return 5


def scaled(n):
    try:
        f = float(os.environ.get("MPROC_BENCH_SCALE", "1"))
    except ValueError:
        f = 1.0
    return max(1, int(n * (f if f > 0 else 1.0)))


class Barrier:
    """A start line for helper processes made of plain pipes, the same for
    both libraries: each helper says it is ready and waits for the word."""

    def __init__(self, parties):
        self.parties = parties
        self.ready_r, self.ready_w = os.pipe()
        self.go_r, self.go_w = os.pipe()
        self.done_r, self.done_w = os.pipe()

    def child_wait(self):
        os.write(self.ready_w, b"r")
        os.read(self.go_r, 1)

    def child_done(self):
        os.write(self.done_w, b"d")

    def start(self):
        """Waits for every helper, starts them; returns the start time."""
        got = 0
        while got < self.parties:
            got += len(os.read(self.ready_r, self.parties - got))
        t0 = time.perf_counter_ns()
        os.write(self.go_w, b"g" * self.parties)
        return t0

    def wait_done(self):
        got = 0
        while got < self.parties:
            got += len(os.read(self.done_r, self.parties - got))
        return time.perf_counter_ns()

    def close(self):
        for fd in (self.ready_r, self.ready_w, self.go_r, self.go_w, self.done_r, self.done_w):
            os.close(fd)


def join_all(procs):
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"a helper process exited with {p.exitcode}")


# The measurements: fn(ctx, n) -> nanoseconds for n operations -----------------

def queue_stream(item):
    def fn(ctx, n):
        q = ctx.Queue()
        b = Barrier(1)

        def producer():
            b.child_wait()
            put = q.put
            for _ in range(n):
                put(item)

        p = ctx.Process(target=producer)
        p.start()
        t0 = b.start()
        get = q.get
        for _ in range(n):
            get()
        t1 = time.perf_counter_ns()
        join_all([p])
        q.close()
        if hasattr(q, "join_thread"):
            q.join_thread()
        b.close()
        return t1 - t0
    return fn


def pipe_roundtrip(ctx, n):
    a, c = ctx.Pipe()
    obj = (1, "ab")

    def echo():
        while True:
            x = c.recv()
            if x is None:
                break
            c.send(x)

    p = ctx.Process(target=echo)
    p.start()
    a.send(obj)  # the echo is up and running before the clock starts
    a.recv()
    t0 = time.perf_counter_ns()
    for _ in range(n):
        a.send(obj)
        a.recv()
    t1 = time.perf_counter_ns()
    a.send(None)
    join_all([p])
    a.close()
    c.close()
    return t1 - t0


def lock_contended(ctx, n):
    lock = ctx.Lock()
    b = Barrier(2)
    half = [n // 2, n - n // 2]

    def worker(k):
        b.child_wait()
        acquire, release = lock.acquire, lock.release
        for _ in range(k):
            acquire()
            release()
        b.child_done()

    ps = [ctx.Process(target=worker, args=(k,)) for k in half]
    for p in ps:
        p.start()
    t0 = b.start()
    t1 = b.wait_done()
    join_all(ps)
    b.close()
    return t1 - t0


def pool_map(chunksize):
    def fn(ctx, n):
        workers = os.cpu_count() or 2
        with ctx.Pool(workers) as pool:
            pool.map(inc, range(workers * 4), chunksize=1)  # every worker up
            t0 = time.perf_counter_ns()
            if chunksize:
                r = pool.map(inc, range(n), chunksize=chunksize)
            else:
                r = pool.map(inc, range(n))
            t1 = time.perf_counter_ns()
            if len(r) != n or r[-1] != n:
                raise RuntimeError("Pool.map returned wrong results")
        return t1 - t0
    return fn


def process_start_join(ctx, n):
    t0 = time.perf_counter_ns()
    for _ in range(n):
        p = ctx.Process(target=noop)
        p.start()
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"the process exited with {p.exitcode}")
    t1 = time.perf_counter_ns()
    return t1 - t0


# case, unit, what it measures, its ops, the names it takes from the context,
# bytes per op (GB/s rows)
MIB = 1 << 20
ROWS = [
    ("queue_1to1_int", "Mmsg/s", queue_stream(7), 100_000, ["Queue", "Process"], 0),
    ("queue_1to1_tuple", "Mmsg/s", queue_stream((1, "ab", 2.5)), 100_000,
     ["Queue", "Process"], 0),
    ("queue_1to1_1MiB", "GB/s", queue_stream(bytes(MIB)), 200, ["Queue", "Process"], MIB),
    ("pipe_roundtrip_small", "us/op", pipe_roundtrip, 20_000, ["Pipe", "Process"], 0),
    ("lock_contended_2proc", "ns/op", lock_contended, 200_000, ["Lock", "Process"], 0),
    ("pool_map_chunksize1", "us/op", pool_map(1), 100_000, ["Pool"], 0),
    ("pool_map_default", "us/op", pool_map(0), 100_000, ["Pool"], 0),
    ("process_start_join_fork", "us/op", process_start_join, 200, ["Process"], 0),
]


def convert(ns_per_op, unit, nbytes):
    if unit == "Mmsg/s":
        return 1e3 / ns_per_op if ns_per_op > 0 else 0
    if unit == "GB/s":
        return nbytes / ns_per_op if ns_per_op > 0 else 0
    if unit == "us/op":
        return ns_per_op / 1e3
    return ns_per_op


def contexts():
    """[(impl, context)] and a note on mproc when it cannot run at all."""
    out = [("multiprocessing", multiprocessing.get_context("fork"))]
    try:
        import mproc
    except Exception as e:  # not built, or broken: the peer still runs
        return out, f"mproc for Python: `import mproc` fails ({type(e).__name__}: {e})"
    try:
        ctx = mproc.get_context("fork")
    except Exception:
        ctx = mproc
    return [("mproc", ctx)] + out, None


def missing(ctx, names):
    gone = []
    for n in names:
        try:
            getattr(ctx, n)
        except Exception:
            gone.append(n)
    return gone


class NotThere(Exception):
    """A name of mproc's context has no implementation on this build: its
    methods import their module when called."""

    def __init__(self, impl, err):
        super().__init__(f"{type(err).__name__}: {err}")
        self.impl = impl


def run_row(case, unit, fn, n, impls, nbytes, r):
    samples = {impl: [] for impl, _ in impls}
    for rnd in range(r):
        order = impls if rnd % 2 == 0 else impls[::-1]
        for impl, ctx in order:
            try:
                ns = fn(ctx, n)
            except (ImportError, NotImplementedError) as e:
                if impl == "multiprocessing":
                    raise
                raise NotThere(impl, e) from e
            samples[impl].append(ns / n)
    for impl, _ in impls:
        s = sorted(samples[impl])
        med, lo, hi = (convert(x, unit, nbytes) for x in (s[len(s) // 2], s[0], s[-1]))
        lo, hi = min(lo, hi), max(lo, hi)
        print(f"{AREA},{case},{impl},{med:.4g},{lo:.4g},{hi:.4g},{unit}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="run only the rows whose case contains this")
    a = ap.parse_args(argv)
    impls, note = contexts()
    r = reps()
    print("area,case,impl,median,min,max,unit")
    print(f"# bench_python: mproc from Python vs multiprocessing (fork context), "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; reps {r}", flush=True)
    if note:
        print(f"# {note}: only multiprocessing's rows", flush=True)
    rc = 0
    for case, unit, fn, n, names, nbytes in ROWS:
        if a.only and a.only not in case:
            continue
        n = scaled(n)
        row_impls = []
        for impl, ctx in impls:
            gone = missing(ctx, names)
            if gone:
                print(f"# {AREA}/{case}: {impl} has no {', '.join(gone)} on this build: "
                      f"its row is left out", flush=True)
            else:
                row_impls.append((impl, ctx))
        if not row_impls:
            continue
        print(f"bench_python: {case} ...", file=sys.stderr, flush=True)
        while row_impls:
            try:
                run_row(case, unit, fn, n, row_impls, nbytes, r)
                break
            except NotThere as e:
                print(f"# {AREA}/{case}: {e.impl} is not there on this build ({e}): "
                      f"its row is left out", flush=True)
                row_impls = [x for x in row_impls if x[0] != e.impl]
            except Exception as e:
                print(f"# ERROR {AREA}/{case}: {type(e).__name__}: {e}", flush=True)
                rc = 1
                break
    return rc


if __name__ == "__main__":
    sys.exit(main())
