#!/usr/bin/python3
"""mp_bench.py - Python's multiprocessing.Queue and Pipe, measured the way the
C benchmarks measure their peers, so that the rows line up.

Every run forks its producers and consumers (multiprocessing "fork" context),
pins them like the C benchmark (1 -> 1: producer on CPU 0, consumer on CPU 1;
2 x 2: producer i and consumer i on CPU i), waits until all of them are ready,
takes t0 on CLOCK_MONOTONIC, releases them and stops the clock at the end time
the (last) consumer stores. Only the transfer is timed.

Messages are `bytes` of --size bytes whose first 8 bytes carry an id; the
consumers add up count, sum and sum of squares of the ids and the parent
checks that nothing was lost or duplicated (exit status 1 if anything was).
The parent sends the consumers' poison pills once every producer has exited
(and so flushed its Queue's feeder thread): a pill never overtakes a message.

  --raw   one run, prints "total_ns <ns>" (what bench_queue / bench_pipe read)
  default several rounds of the standard rows, printed as the C benchmarks'
          CSV: area,case,impl,median,min,max,unit

MPROC_BENCH_REPS and MPROC_BENCH_SCALE are honoured like in the C harness.
"""

import argparse
import multiprocessing as mp
import os
import statistics
import struct
import sys
import time

POISON = (1 << 64) - 1
MASK = (1 << 64) - 1


def pin(cpu):
    try:
        os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})
    except (AttributeError, OSError):
        pass


def make_channel(impl, nprod, ncons):
    """Returns (send_end, recv_end) objects with .put/.get-like callables."""
    if impl == "queue":
        q = mp.Queue()
        return q, q
    if nprod != 1 or ncons != 1:
        raise SystemExit("mp_bench: a Pipe has one producer and one consumer")
    r, w = mp.Pipe(duplex=False)
    return w, r


def sender(ch):
    return ch.put if hasattr(ch, "put") else ch.send_bytes


def receiver(ch):
    return ch.get if hasattr(ch, "get") else ch.recv_bytes


def producer(ch, idx, nprod, n, size, ready, go):
    pin(idx)
    put = sender(ch)
    body = bytes(max(0, size - 8))
    per = n // nprod
    lo = idx * per
    hi = n if idx == nprod - 1 else lo + per
    pack = struct.Struct("<Q").pack
    ready.release()
    go.wait()
    for i in range(lo, hi):
        put(pack(i) + body)
    # A Queue's put returns before its feeder thread has written the message:
    # flush it before exiting, so that the parent's poison pills come last.
    if hasattr(ch, "close") and hasattr(ch, "join_thread"):
        ch.close()
        ch.join_thread()


def consumer(ch, idx, nprod, n, ready, go, ends, stats, ordered):
    pin(idx + (1 if nprod == 1 else 0))
    get = receiver(ch)
    unpack = struct.Struct("<Q").unpack_from
    cnt = s = sq = 0
    expect = 0
    ok = True
    ready.release()
    go.wait()
    while True:
        m = get()
        i = unpack(m)[0]
        if i == POISON:
            break
        if ordered and i != expect:
            ok = False
        expect += 1
        cnt += 1
        s += i
        sq += i * i
    ends[idx] = time.monotonic_ns()
    stats[3 * idx] = cnt
    stats[3 * idx + 1] = s & MASK
    stats[3 * idx + 2] = sq & MASK
    os._exit(0 if ok else 3)


def run_stream(impl, size, nprod, ncons, n):
    tx, rx = make_channel(impl, nprod, ncons)
    ready = mp.Semaphore(0)
    go = mp.Event()
    ends = mp.RawArray("Q", ncons)
    stats = mp.RawArray("Q", 3 * ncons)
    prods = [mp.Process(target=producer, args=(tx, i, nprod, n, size, ready, go))
             for i in range(nprod)]
    procs = prods + [mp.Process(target=consumer, args=(rx, i, nprod, n, ready, go, ends, stats,
                                                nprod == 1 and ncons == 1))
              for i in range(ncons)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    t0 = time.monotonic_ns()
    go.set()
    # Every message is in the channel once all producers have exited; then
    # one poison pill per consumer (the consumers' clocks stop at the pill).
    for p in prods:
        p.join()
    poison = struct.pack("<Q", POISON) + bytes(max(0, size - 8))
    put = sender(tx)
    for _ in range(ncons):
        put(poison)
    for p in procs:
        p.join()
    bad = any(p.exitcode != 0 for p in procs)
    cnt = sum(stats[3 * i] for i in range(ncons))
    s = sum(stats[3 * i + 1] for i in range(ncons)) & MASK
    sq = sum(stats[3 * i + 2] for i in range(ncons)) & MASK
    exp_s = (n * (n - 1) // 2) & MASK
    exp_sq = ((n - 1) * n * (2 * n - 1) // 6) & MASK
    if bad or cnt != n or s != exp_s or sq != exp_sq:
        print(f"mp_bench: accounting failed: count {cnt}/{n}", file=sys.stderr)
        sys.exit(1)
    return max(ends) - t0


def pp_a(tx, rx, n, size, ready, go, ends):
    pin(0)
    put, get = sender(tx), receiver(rx)
    body = bytes(max(0, size - 8))
    pack = struct.Struct("<Q").pack
    unpack = struct.Struct("<Q").unpack_from
    ready.release()
    go.wait()
    for i in range(n):
        put(pack(i) + body)
        if unpack(get())[0] != i:
            os._exit(3)
    ends[0] = time.monotonic_ns()
    os._exit(0)


def pp_b(rx, tx, n, ready, go):
    pin(1)
    put, get = sender(tx), receiver(rx)
    ready.release()
    go.wait()
    for _ in range(n):
        put(get())
    if hasattr(tx, "close") and hasattr(tx, "join_thread"):
        tx.close()
        tx.join_thread()


def run_pingpong(impl, size, n):
    fwd_tx, fwd_rx = make_channel(impl, 1, 1)
    bwd_tx, bwd_rx = make_channel(impl, 1, 1)
    ready = mp.Semaphore(0)
    go = mp.Event()
    ends = mp.RawArray("Q", 1)
    a = mp.Process(target=pp_a, args=(fwd_tx, bwd_rx, n, size, ready, go, ends))
    b = mp.Process(target=pp_b, args=(fwd_rx, bwd_tx, n, ready, go))
    a.start()
    b.start()
    ready.acquire()
    ready.acquire()
    t0 = time.monotonic_ns()
    go.set()
    a.join()
    b.join()
    if a.exitcode != 0 or b.exitcode != 0:
        print("mp_bench: ping-pong failed", file=sys.stderr)
        sys.exit(1)
    return ends[0] - t0


def run_once(impl, mode, size, nprod, ncons, n):
    if mode == "pingpong":
        return run_pingpong(impl, size, n)
    return run_stream(impl, size, nprod, ncons, n)


def scale(n):
    try:
        f = float(os.environ.get("MPROC_BENCH_SCALE", "1"))
    except ValueError:
        f = 1.0
    if f <= 0:
        f = 1.0
    return max(1, int(n * f))


# The standard rows: (area, case, impl, mode, size, nprod, ncons, n, unit)
ROWS = [
    ("queue", "1to1_64B", "queue", "stream", 64, 1, 1, 20000, "Mmsg/s"),
    ("queue", "2x2_64B", "queue", "stream", 64, 2, 2, 20000, "Mmsg/s"),
    ("queue", "1to1_4KiB", "queue", "stream", 4096, 1, 1, 10000, "GB/s"),
    ("queue", "1to1_64KiB", "queue", "stream", 65536, 1, 1, 3000, "GB/s"),
    ("queue", "1to1_1MiB", "queue", "stream", 1 << 20, 1, 1, 200, "GB/s"),
    ("queue", "pingpong_sleep_64B", "queue", "pingpong", 64, 1, 1, 5000, "us/op"),
    ("pipe", "1to1_64B", "pipe", "stream", 64, 1, 1, 50000, "Mmsg/s"),
    ("pipe", "1to1_1MiB", "pipe", "stream", 1 << 20, 1, 1, 300, "GB/s"),
    ("pipe", "pingpong_sleep_64B", "pipe", "pingpong", 64, 1, 1, 10000, "us/op"),
]


def convert(ns_per_op, unit, size):
    if unit == "Mmsg/s":
        return 1e3 / ns_per_op
    if unit == "GB/s":
        return size / ns_per_op
    if unit == "us/op":
        return ns_per_op / 1e3
    return ns_per_op


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--raw", action="store_true")
    ap.add_argument("--impl", choices=["queue", "pipe"], default="queue")
    ap.add_argument("--mode", choices=["stream", "pingpong"], default="stream")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--prod", type=int, default=1)
    ap.add_argument("--cons", type=int, default=1)
    ap.add_argument("--reps", type=int, default=int(os.environ.get("MPROC_BENCH_REPS", "5")))
    a = ap.parse_args()
    if a.size < 8 or a.n < 1 or a.prod < 1 or a.cons < 1:
        ap.error("--size >= 8, --n, --prod, --cons >= 1")
    mp.set_start_method("fork")
    if a.raw:
        print("total_ns", run_once(a.impl, a.mode, a.size, a.prod, a.cons, a.n))
        return
    print("area,case,impl,median,min,max,unit")
    for area, case, impl, mode, size, np_, nc, n, unit in ROWS:
        n = scale(n)
        per_op = sorted(run_once(impl, mode, size, np_, nc, n) / n for _ in range(max(1, a.reps)))
        vals = sorted(convert(x, unit, size) for x in (per_op[0], per_op[-1]))
        med = convert(per_op[len(per_op) // 2], unit, size)
        name = "py-mp.Queue" if impl == "queue" else "py-mp.Pipe"
        print(f"{area},{case},{name},{med:.4g},{vals[0]:.4g},{vals[-1]:.4g},{unit}", flush=True)


if __name__ == "__main__":
    main()
