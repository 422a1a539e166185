/* bench_queue.cpp - mproc's Queue against every peer a user would pick
 * instead, all measured in the same run, interleaved round by round.
 *
 * Rows (area "queue"; CSV area,case,impl,median,min,max,unit):
 *   1to1_64B             1 producer -> 1 consumer, 64 B messages, Mmsg/s
 *   2x2_64B              2 producers + 2 consumers, 64 B, Mmsg/s; the ids
 *                        received are checked (count, sum, sum of squares)
 *   1to1_4KiB/64KiB/1MiB throughput in GB/s, copy path and zero-copy path
 *   pingpong_spin_64B    round trip, both sides spinning, us/op
 *   pingpong_sleep_64B   round trip, both sides sleeping in the kernel
 *   same_cpu_pingpong_64B, same_cpu_1to1_64B
 *                        round trip (us/op) and 1 -> 1 rate (Mmsg/s) with
 *                        both processes pinned to CPU 0
 *   scale_NxN_64B        N producers + N consumers on ONE queue, N = 1, 2,
 *                        4, ... up to the CPU count, and 4 + 4 even on fewer
 *                        CPUs (8 processes on 2); producer i on CPU 2i,
 *                        consumer i on CPU 2i+1 (mod the CPU count), Mmsg/s
 *                        in total; "mproc-separate" is N separate 1->1
 *                        queues side by side (the ceiling of any sharing),
 *                        "mproc-lanes" one queue with a lane per
 *                        producer (opts.lanes = N: what lanes gain over
 *                        the default single lane, "mproc")
 *
 * --short (or MPROC_BENCH_SHORT=1): a tenth of the messages per round and 3
 * rounds, for a quick directional run (never for published figures).
 *
 * mproc: "mproc" (put/get, MPROC_FOREVER), "mproc-zerocopy" (reserve/commit
 * and get_view/release_view, 4 KiB and up; only the id is touched, so its
 * cost per message should not depend on the size), "mproc-poll" (timeout 0
 * in a loop) and "mproc" (its own spin before sleeping) in the spinning
 * ping-pong. A Queue that cannot be created or
 * cannot take a message (the stubs of an unfinished build) is left out with
 * a "# ... left out" line.
 *
 * Peers (peers.hpp): pipe(2), socketpair SOCK_STREAM and SOCK_SEQPACKET,
 * POSIX mq, ZeroMQ PUSH/PULL over ipc://, Boost.Interprocess message_queue,
 * a futex single-slot channel (ping-pong), Python's multiprocessing.Queue
 * (bench/python/mp_bench.py, run as a subprocess per round) and the ceiling:
 * the fixed-slot spinning ring of ring.h, 128-byte slots and a 64-byte-slot
 * variant (56 B payload: the slot also holds the sequence number).
 *
 * Every case forks its producer(s) and consumer(s) anew (procs.h) and times
 * only the transfer, from the release of the start barrier to the last
 * consumer's last message. Pinning: 1 -> 1 and ping-pong put the producer
 * (initiator) on CPU 0 and the consumer (echoer) on CPU 1; 2 x 2 puts
 * producer i and consumer i on CPU i. Every message carries an id in its
 * first 8 bytes; 1 -> 1 consumers check the order, every row checks that
 * nothing was lost or duplicated.
 *
 * The number of messages per round is chosen per peer from a rough cost
 * estimate so that one round takes ~60 ms; MPROC_BENCH_SCALE multiplies it,
 * MPROC_BENCH_REPS sets the rounds (default 7). MPROC_BENCH_ONLY=substring
 * keeps only the rows whose case name contains it.
 */
#include "peers.hpp"
#include "pyrun.h"

#include <mproc.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

/* mproc's Queue behind the peers.hpp interface. The parent creates an
 * anonymous queue before the fork; each child uses its inherited handle and
 * closes it before exiting (the parent closes its own in teardown).
 *   Mode::Block     put/get with MPROC_FOREVER (what a user writes)
 *   Mode::Lanes     the same on a queue of one lane per producer (opts.lanes
 *                   = the producer count, a power of two, at most 32; the
 *                   default is one lane: one claim point for all producers)
 *   Mode::Poll      put/get with timeout 0 in a loop (both sides spinning)
 *   Mode::ZeroCopy  reserve + commit / get_view + release_view; only the
 *                   8-byte id is written and read, the payload is left as
 *                   it is, as when it is produced or consumed in place
 * Capacity: 1 MiB, or 8 messages for big ones. */
enum class Mode { Block, Poll, ZeroCopy, Lanes };

/* N separate 1->1 queues: producer i and consumer i share queue i only. */
struct MprocSeparate {
    static constexpr bool per_pair = true;
    size_t size = 0;
    int n = 0, mine = 0;
    mproc_queue *qs[BP_MAXPROC] = {};
    bool setup(size_t sz, int np, int nc)
    {
        if (np != nc)
            return false;
        size = sz;
        n = np;
        for (int i = 0; i < n; i++) {
            struct mproc_queue_opts o = {};
            o.capacity = std::max<size_t>(1u << 20, 8 * sz);
            if (mproc_queue_create(&qs[i], nullptr, &o) != 0) {
                qs[i] = nullptr;
                teardown();
                return false;
            }
        }
        return true;
    }
    bool child_init(int, int idx)
    {
        mine = idx;
        return true;
    }
    bool child_fini()
    {
        teardown();
        return true;
    }
    bool send(const void *m, int)
    {
        return mproc_queue_put(qs[mine], m, size, MPROC_FOREVER) == 0;
    }
    bool recv(void *m)
    {
        return mproc_queue_get(qs[mine], m, size, MPROC_FOREVER) == (ssize_t)size;
    }
    void teardown()
    {
        for (int i = 0; i < n; i++)
            if (qs[i])
                mproc_queue_close(qs[i]);
        for (int i = 0; i < n; i++)
            qs[i] = nullptr;
    }
};

template <Mode M> struct MprocPeer {
    static constexpr bool per_pair = false;
    size_t size = 0;
    mproc_queue *q = nullptr;
    bool setup(size_t sz, int np, int)
    {
        size = sz;
        struct mproc_queue_opts o = {};
        o.capacity = std::max<size_t>(1u << 20, 8 * sz);
        if (M == Mode::Lanes) {
            unsigned l = 1;
            while (l < (unsigned)np && l < 32)
                l *= 2;
            o.lanes = l;
        }
        if (mproc_queue_create(&q, nullptr, &o) != 0) {
            q = nullptr;
            return false;
        }
        /* the stubs of an unfinished Queue create fine but cannot put */
        void *ptr = nullptr;
        if (mproc_queue_reserve(q, sz, &ptr, 0) != 0 || mproc_queue_cancel(q) != 0) {
            teardown();
            return false;
        }
        return true;
    }
    bool child_init(int, int)
    {
        return true;
    }
    bool child_fini()
    {
        mproc_queue_close(q);
        q = nullptr;
        return true;
    }
    bool send(const void *m, int)
    {
        if (M == Mode::ZeroCopy) {
            void *ptr;
            if (mproc_queue_reserve(q, size, &ptr, MPROC_FOREVER) != 0)
                return false;
            memcpy(ptr, m, 8);
            return mproc_queue_commit(q, size) == 0;
        }
        if (M == Mode::Poll) {
            int rc;
            while ((rc = mproc_queue_put(q, m, size, 0)) == MPROC_EAGAIN)
                bench_pause();
            return rc == 0;
        }
        return mproc_queue_put(q, m, size, MPROC_FOREVER) == 0;
    }
    bool recv(void *m)
    {
        ssize_t k;
        if (M == Mode::ZeroCopy) {
            const void *ptr;
            k = mproc_queue_get_view(q, &ptr, MPROC_FOREVER);
            if (k >= 8)
                memcpy(m, ptr, 8);
            if (k >= 0 && mproc_queue_release_view(q) != 0)
                return false;
        } else if (M == Mode::Poll) {
            while ((k = mproc_queue_get(q, m, size, 0)) == MPROC_EAGAIN)
                bench_pause();
        } else {
            k = mproc_queue_get(q, m, size, MPROC_FOREVER);
        }
        return k == (ssize_t)size;
    }
    void teardown()
    {
        if (q)
            mproc_queue_close(q);
        q = nullptr;
    }
};

namespace
{

struct bp_ctl *g_ctl;
const uint64_t POISON = ~0ull;
const double TARGET_NS = 60e6;
enum { PIN_DEFAULT, PIN_SPREAD, PIN_SAME };

template <class P> struct Job {
    P peer;
    size_t size;
    int nprod, ncons;
    int pinning; /* PIN_DEFAULT, PIN_SPREAD or PIN_SAME */
    uint64_t n;
    std::string what;
};

int ncpu()
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

template <class P> int stream_child(int role, int idx, void *a, struct bp_ctl *ctl)
{
    Job<P> *j = (Job<P> *)a;
    P &p = j->peer;
    if (!p.child_init(role, idx))
        return 10;
    size_t alloc = (j->size + 63) / 64 * 64;
    unsigned char *buf = (unsigned char *)aligned_alloc(64, alloc);
    memset(buf, 0x5a, j->size);
    bp_start(ctl);
    if (role == BP_PRODUCER) {
        uint64_t per = j->n / (uint64_t)j->nprod;
        uint64_t lo = (uint64_t)idx * per;
        uint64_t hi = idx == j->nprod - 1 ? j->n : lo + per;
        for (uint64_t id = lo; id < hi; id++) {
            memcpy(buf, &id, 8);
            if (!p.send(buf, (int)(id % (uint64_t)j->ncons)))
                return 11;
        }
        memcpy(buf, &POISON, 8);
        if (P::per_pair) {
            for (int c = 0; c < j->ncons; c++)
                if (!p.send(buf, c))
                    return 11;
        } else if (__atomic_add_fetch(&ctl->producers_done, 1, __ATOMIC_ACQ_REL) ==
                   (uint64_t)j->nprod) {
            /* every real message is in the channel before any poison pill */
            for (int c = 0; c < j->ncons; c++)
                if (!p.send(buf, 0))
                    return 11;
        }
    } else {
        bool ordered = j->nprod == 1 && j->ncons == 1;
        uint64_t cnt = 0, sum = 0, sq = 0;
        int poisons = 0;
        for (;;) {
            if (!p.recv(buf))
                return 12;
            uint64_t id;
            memcpy(&id, buf, 8);
            if (id == POISON) {
                if (!P::per_pair || ++poisons == j->nprod)
                    break;
                continue;
            }
            if (ordered && id != cnt)
                return 13;
            cnt++;
            sum += id;
            sq += id * id;
        }
        ctl->t_end[BP_MAXPROC + idx] = bench_now_ns();
        ctl->count[idx] = cnt;
        ctl->sum[idx] = sum;
        ctl->sumsq[idx] = sq;
    }
    free(buf);
    return p.child_fini() ? 0 : 14;
}

template <class P> uint64_t stream_fn(uint64_t n, void *a)
{
    Job<P> *j = (Job<P> *)a;
    j->n = n;
    if (!j->peer.setup(j->size, j->nprod, j->ncons)) {
        bp_error(j->what.c_str(), "set-up failed");
        return 1;
    }
    struct bp_spec s = {};
    s.nprod = j->nprod;
    s.ncons = j->ncons;
    bool one = j->nprod == 1 && j->ncons == 1;
    for (int i = 0; i < BP_MAXPROC; i++) {
        if (j->pinning == PIN_SAME) {
            s.pin_prod[i] = s.pin_cons[i] = 0;
        } else if (j->pinning == PIN_SPREAD) {
            s.pin_prod[i] = (2 * i) % ncpu();
            s.pin_cons[i] = (2 * i + 1) % ncpu();
        } else {
            s.pin_prod[i] = one ? 0 : i % ncpu();
            s.pin_cons[i] = one ? 1 % ncpu() : i % ncpu();
        }
    }
    s.fn = stream_child<P>;
    s.arg = j;
    s.what = j->what.c_str();
    uint64_t ns = bp_run(&s, g_ctl);
    if (!bp_check_ids(g_ctl, j->ncons, n))
        bp_error(s.what, "accounting: messages lost or duplicated");
    j->peer.teardown();
    return ns;
}

/* Ping-pong: process A (CPU 0) sends on fwd and waits on bwd; B (CPU 1)
 * echoes. A stores its end time. */
template <class P> struct PPJob {
    P fwd, bwd;
    size_t size;
    bool same_cpu;
    uint64_t n;
    std::string what;
};

template <class P> int pp_child(int role, int, void *a, struct bp_ctl *ctl)
{
    PPJob<P> *j = (PPJob<P> *)a;
    bool A = role == BP_PRODUCER;
    if (A ? !j->fwd.child_init(BP_PRODUCER, 0) || !j->bwd.child_init(BP_CONSUMER, 0)
          : !j->fwd.child_init(BP_CONSUMER, 0) || !j->bwd.child_init(BP_PRODUCER, 0))
        return 10;
    unsigned char *buf = (unsigned char *)aligned_alloc(64, (j->size + 63) / 64 * 64);
    memset(buf, 0x5a, j->size);
    bp_start(ctl);
    for (uint64_t i = 0; i < j->n; i++) {
        if (A) {
            memcpy(buf, &i, 8);
            if (!j->fwd.send(buf, 0) || !j->bwd.recv(buf))
                return 11;
            uint64_t id;
            memcpy(&id, buf, 8);
            if (id != i)
                return 13;
        } else if (!j->fwd.recv(buf) || !j->bwd.send(buf, 0)) {
            return 12;
        }
    }
    if (A)
        ctl->t_end[0] = bench_now_ns();
    free(buf);
    return j->fwd.child_fini() && j->bwd.child_fini() ? 0 : 14;
}

template <class P> uint64_t pp_fn(uint64_t n, void *a)
{
    PPJob<P> *j = (PPJob<P> *)a;
    j->n = n;
    if (!j->fwd.setup(j->size, 1, 1) || !j->bwd.setup(j->size, 1, 1)) {
        bp_error(j->what.c_str(), "set-up failed");
        return 1;
    }
    struct bp_spec s = {};
    s.nprod = 1;
    s.ncons = 1;
    s.pin_prod[0] = 0;
    s.pin_cons[0] = j->same_cpu ? 0 : 1 % ncpu();
    s.fn = pp_child<P>;
    s.arg = j;
    s.what = j->what.c_str();
    uint64_t ns = bp_run(&s, g_ctl);
    j->fwd.teardown();
    j->bwd.teardown();
    return ns;
}

/* Rough ns per message (base + per byte) of each peer on this kind of VM,
 * only used to size a round (~TARGET_NS). */
struct Est {
    double base, per_byte;
};

uint64_t count_for(Est e, size_t size)
{
    double ns = e.base + e.per_byte * (double)size;
    double n = TARGET_NS / ns;
    if (n < 8)
        n = 8;
    return bench_scale((uint64_t)n);
}

struct Row {
    const char *name;
    std::vector<bench_case> cases;
    std::vector<std::string> impls;              /* keeps the impl strings alive */
    std::vector<std::function<void()>> cleanups; /* free the cases' jobs */
    Row() = default;
    Row(const Row &) = delete;
    Row &operator=(const Row &) = delete;
    ~Row()
    {
        for (auto &f : cleanups)
            f();
    }
};

std::string g_only;

bool row_wanted(const char *name)
{
    return g_only.empty() || std::string(name).find(g_only) != std::string::npos;
}

void add_case(Row &r, const std::string &impl, bench_fn fn, void *arg, uint64_t n)
{
    r.impls.push_back(impl);
    bench_case c = {};
    c.fn = fn;
    c.arg = arg;
    c.n = n;
    r.cases.push_back(c);
}

template <class P>
void add_stream(Row &r, const char *impl, size_t size, int np, int nc, Est e,
                int pinning = PIN_DEFAULT)
{
    Job<P> *j = new Job<P>();
    j->size = size;
    j->pinning = pinning;
    j->nprod = np;
    j->ncons = nc;
    j->what = std::string(r.name) + "/" + impl;
    /* probe once: peers that cannot carry this row (limits) are left out */
    if (!j->peer.setup(size, np, nc)) {
        printf("# %s: not available here (set-up failed), left out\n", j->what.c_str());
        delete j;
        return;
    }
    j->peer.teardown();
    add_case(r, impl, stream_fn<P>, j, count_for(e, size));
    r.cleanups.push_back([j] { delete j; });
}

template <class P> void add_pp(Row &r, const char *impl, size_t size, Est e, bool same_cpu = false)
{
    PPJob<P> *j = new PPJob<P>();
    j->size = size;
    j->same_cpu = same_cpu;
    j->what = std::string(r.name) + "/" + impl;
    if (!j->fwd.setup(size, 1, 1)) {
        printf("# %s: not available here (set-up failed), left out\n", j->what.c_str());
        delete j;
        return;
    }
    j->fwd.teardown();
    add_case(r, impl, pp_fn<P>, j, count_for(e, size));
    r.cleanups.push_back([j] { delete j; });
}

void add_py(Row &r, const char *mode, size_t size, int np, int nc, Est e)
{
    if (!py_available())
        return;
    struct py_job *j = new py_job();
    j->impl = "queue";
    j->mode = mode;
    j->size = size;
    j->nprod = np;
    j->ncons = nc;
    std::string *w = new std::string(std::string(r.name) + "/py-mp.Queue");
    j->what = w->c_str();
    add_case(r, "py-mp.Queue", py_case_fn, j, count_for(e, size));
    r.cleanups.push_back([j, w] {
        delete w;
        delete j;
    });
}

void run_row(Row &r, const char *unit, double bytes)
{
    if (r.cases.empty())
        return;
    for (size_t i = 0; i < r.cases.size(); i++)
        r.cases[i].impl = r.impls[i].c_str();
    fprintf(stderr, "bench_queue: %s (%zu peers)\n", r.name, r.cases.size());
    bench_run("queue", r.name, r.cases.data(), (int)r.cases.size(), unit, bytes);
}

/* The cost estimates (ns per message = base + per_byte * size). */
const Est E_MPROC = {30, 0.12}, E_MPROC_ZC = {250, 0}, E_RING = {25, 0.12}, E_PIPE = {1500, 0.25},
          E_SOCK = {1800, 0.25}, E_MQ = {1500, 0.3}, E_ZMQ = {500, 0.3}, E_BOOST = {2500, 0.3},
          E_PY = {25000, 15}, E_PP_SLEEP = {15000, 0}, E_PP_SPIN = {400, 0}, E_PP_RING = {250, 0};

void stream_row(const char *name, size_t size, int np, int nc, const char *unit)
{
    if (!row_wanted(name))
        return;
    Row r;
    r.name = name;
    add_stream<MprocPeer<Mode::Block>>(r, "mproc", size, np, nc, E_MPROC);
    if (size >= 4096)
        add_stream<MprocPeer<Mode::ZeroCopy>>(r, "mproc-zerocopy", size, np, nc, E_MPROC_ZC);
    add_stream<RingPeer<128>>(r, "ring-128B-slot", size, np, nc, E_RING);
    if (size <= 56 || (size == 64 && np == 1))
        add_stream<RingPeer<64>>(r, "ring-64B-slot", size == 64 ? 56 : size, np, nc, E_RING);
    add_stream<PipePeer<false>>(r, "pipe", size, np, nc, E_PIPE);
    if (np == 1 && nc == 1) /* a byte stream has no message boundaries for 2 readers */
        add_stream<SockPeer<SOCK_STREAM, false>>(r, "socketpair-stream", size, np, nc, E_SOCK);
    add_stream<SockPeer<SOCK_SEQPACKET, false>>(r, "socketpair-seqpacket", size, np, nc, E_SOCK);
    add_stream<MqPeer>(r, "posix-mq", size, np, nc, E_MQ);
#ifdef MPROC_BENCH_HAVE_ZMQ
    add_stream<ZmqPeer>(r, "zmq-ipc", size, np, nc, E_ZMQ);
#endif
#ifdef MPROC_BENCH_HAVE_BOOST
    add_stream<BoostPeer>(r, "boost-mq", size, np, nc, E_BOOST);
#endif
    add_py(r, "stream", size, np, nc, E_PY);
    run_row(r, unit, (double)size);
}

void pingpong_rows(void)
{
    if (row_wanted("pingpong_spin_64B")) {
        Row r;
        r.name = "pingpong_spin_64B";
        add_pp<MprocPeer<Mode::Poll>>(r, "mproc-poll", 64, E_PP_RING);
        /* the blocking calls spin for a while before they sleep */
        add_pp<MprocPeer<Mode::Block>>(r, "mproc", 64, E_PP_RING);
        add_pp<RingPeer<128>>(r, "ring-128B-slot", 64, E_PP_RING);
        add_pp<PipePeer<true>>(r, "pipe-nonblock-poll", 64, E_PP_SPIN);
        add_pp<SockPeer<SOCK_SEQPACKET, true>>(r, "socketpair-seqpacket-nonblock-poll", 64,
                                               E_PP_SPIN);
        run_row(r, "us/op", 64);
    }
    if (row_wanted("pingpong_sleep_64B")) {
        Row r;
        r.name = "pingpong_sleep_64B";
        add_pp<MprocPeer<Mode::Block>>(r, "mproc", 64, E_PP_SLEEP);
        add_pp<FutexPeer>(r, "futex", 64, E_PP_SLEEP);
        add_pp<PipePeer<false>>(r, "pipe", 64, E_PP_SLEEP);
        add_pp<SockPeer<SOCK_STREAM, false>>(r, "socketpair-stream", 64, E_PP_SLEEP);
        add_pp<SockPeer<SOCK_SEQPACKET, false>>(r, "socketpair-seqpacket", 64, E_PP_SLEEP);
        add_pp<MqPeer>(r, "posix-mq", 64, E_PP_SLEEP);
#ifdef MPROC_BENCH_HAVE_ZMQ
        add_pp<ZmqPeer>(r, "zmq-ipc", 64, E_PP_SLEEP);
#endif
#ifdef MPROC_BENCH_HAVE_BOOST
        add_pp<BoostPeer>(r, "boost-mq", 64, E_PP_SLEEP);
#endif
        add_py(r, "pingpong", 64, 1, 1, {150000, 0});
        run_row(r, "us/op", 64);
    }
}

/* Both processes pinned to CPU 0 (what `taskset -c 0` does, and what a
 * machine with more runnable processes than CPUs does now and then): a
 * waiter that spins keeps the process it waits for off the CPU, so these
 * rows measure how a channel waits rather than how it moves bytes. The
 * spinning rings are left out: on one CPU they progress only when the
 * scheduler preempts the spinner. The generic stream (PIN_SAME) and
 * ping-pong (same_cpu) jobs do the pinning. */
template <class P> void add_same_cpu(Row &r, const char *impl, bool pingpong, Est e)
{
    if (pingpong)
        add_pp<P>(r, impl, 64, e, true);
    else
        add_stream<P>(r, impl, 64, 1, 1, e, PIN_SAME);
}

/* Rough costs on one CPU (ns per message), to size a round: a ping-pong
 * hand-off is a context switch or more; a stream is batched by the
 * scheduler's time slices, so it costs about a put plus a get. */
const Est E_SAME_PP = {15000, 0};
const Est E_SAME_MPROC = {50, 0}, E_SAME_PIPE = {700, 0}, E_SAME_SOCK = {2500, 0},
          E_SAME_MQ = {2500, 0}, E_SAME_BOOST = {200, 0};

void same_cpu_rows(void)
{
    const char *rows[] = {"same_cpu_pingpong_64B", "same_cpu_1to1_64B"};
    for (int k = 0; k < 2; k++) {
        if (!row_wanted(rows[k]))
            continue;
        bool pp = k == 0;
        Row r;
        r.name = rows[k];
        add_same_cpu<MprocPeer<Mode::Block>>(r, "mproc", pp, pp ? E_SAME_PP : E_SAME_MPROC);
        add_same_cpu<PipePeer<false>>(r, "pipe", pp, pp ? E_SAME_PP : E_SAME_PIPE);
        add_same_cpu<SockPeer<SOCK_STREAM, false>>(r, "socketpair-stream", pp,
                                                   pp ? E_SAME_PP : E_SAME_SOCK);
        add_same_cpu<SockPeer<SOCK_SEQPACKET, false>>(r, "socketpair-seqpacket", pp,
                                                      pp ? E_SAME_PP : E_SAME_SOCK);
        add_same_cpu<MqPeer>(r, "posix-mq", pp, pp ? E_SAME_PP : E_SAME_MQ);
        if (pp)
            add_same_cpu<FutexPeer>(r, "futex", pp, E_SAME_PP);
#ifdef MPROC_BENCH_HAVE_BOOST
        add_same_cpu<BoostPeer>(r, "boost-mq", pp, pp ? E_SAME_PP : E_SAME_BOOST);
#endif
        run_row(r, pp ? "us/op" : "Mmsg/s", 64);
    }
}

/* N + N on one queue (and N separate queues), N = 1, 2, 4, ... up to the
 * CPU count, and 4 + 4 on machines with fewer CPUs: more processes than
 * CPUs is the normal case the queue must survive. */
void scaling_rows(void)
{
    std::vector<int> ns;
    for (int n = 1; n <= ncpu() && 2 * n <= 2 * BP_MAXPROC && n <= BP_MAXPROC; n *= 2)
        ns.push_back(n);
    if (ns.back() < 4)
        ns.push_back(4);
    for (int n : ns) {
        std::string name = "scale_" + std::to_string(n) + "x" + std::to_string(n) + "_64B";
        if (!row_wanted(name.c_str()))
            continue;
        Row r;
        std::string keep = name;
        r.name = keep.c_str();
        Est e = {E_MPROC.base * 2, 0};
        add_stream<MprocPeer<Mode::Block>>(r, "mproc", 64, n, n, e, PIN_SPREAD);
        add_stream<MprocPeer<Mode::Lanes>>(r, "mproc-lanes", 64, n, n, e, PIN_SPREAD);
        add_stream<MprocSeparate>(r, "mproc-separate", 64, n, n, e, PIN_SPREAD);
        add_stream<RingPeer<128>>(r, "ring-128B-slot", 64, n, n, E_RING, PIN_SPREAD);
        add_stream<PipePeer<false>>(r, "pipe", 64, n, n, E_PIPE, PIN_SPREAD);
        add_stream<SockPeer<SOCK_SEQPACKET, false>>(r, "socketpair-seqpacket", 64, n, n, E_SOCK,
                                                    PIN_SPREAD);
        add_stream<MqPeer>(r, "posix-mq", 64, n, n, E_MQ, PIN_SPREAD);
#ifdef MPROC_BENCH_HAVE_ZMQ
        add_stream<ZmqPeer>(r, "zmq-ipc", 64, n, n, E_ZMQ, PIN_SPREAD);
#endif
#ifdef MPROC_BENCH_HAVE_BOOST
        add_stream<BoostPeer>(r, "boost-mq", 64, n, n, E_BOOST, PIN_SPREAD);
#endif
        if (n <= 4)
            add_py(r, "stream", 64, n, n, E_PY);
        run_row(r, "Mmsg/s", 64);
    }
}

} // namespace

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0)
        return 1;
    bool quick = getenv("MPROC_BENCH_SHORT") && strcmp(getenv("MPROC_BENCH_SHORT"), "0") != 0;
    for (int i = 1; i < argc; i++)
        quick = quick || strcmp(argv[i], "--short") == 0;
    if (quick) { /* a quick directional run: fewer messages, fewer rounds */
        setenv("MPROC_BENCH_SCALE", "0.1", 0);
        setenv("MPROC_BENCH_REPS", "3", 0);
    }
    const char *only = getenv("MPROC_BENCH_ONLY");
    if (only)
        g_only = only;
    peers_raise_limits();
    signal(SIGPIPE, SIG_IGN);
    g_ctl = (struct bp_ctl *)bp_shared_alloc(sizeof(struct bp_ctl));
    bench_print_header();
    printf("# bench_queue: %d CPUs; 1->1 and ping-pong: producer on CPU 0, consumer on CPU 1; "
           "2x2: producer i and consumer i on CPU i; reps %d\n",
           ncpu(), bench_reps());
    printf("# ring-64B-slot carries 56 B messages (its 64-byte slot also holds the sequence "
           "number); mproc-zerocopy touches only the 8-byte id of each message\n");
    stream_row("1to1_64B", 64, 1, 1, "Mmsg/s");
    stream_row("2x2_64B", 64, 2, 2, "Mmsg/s");
    stream_row("1to1_4KiB", 4096, 1, 1, "GB/s");
    stream_row("1to1_64KiB", 65536, 1, 1, "GB/s");
    stream_row("1to1_1MiB", 1 << 20, 1, 1, "GB/s");
    pingpong_rows();
    same_cpu_rows();
    scaling_rows();
    bp_shared_free(g_ctl, sizeof(struct bp_ctl));
    return bp_failed ? 1 : 0;
}
