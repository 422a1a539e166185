/* peers.hpp - the IPC mechanisms a user would pick instead of mproc's Queue,
 * each behind the same small interface so that one templated driver
 * (bench_queue.cpp) moves messages through all of them the same way.
 *
 * Interface of a peer P (a value type; the parent builds it, every forked
 * child works on its own copy):
 *   bool setup(size_t size, int nprod, int ncons)  parent, before fork
 *   bool child_init(int role, int idx)             in the child, untimed
 *   bool send(const void *msg, int dest)           one message of `size` B
 *   bool recv(void *msg)                           one message of `size` B
 *   bool child_fini()                              in the child, after its
 *       last message: must not return before everything it sent has been
 *       handed over (ZeroMQ's I/O thread still holds queued messages)
 *   void teardown()                                parent, after the run
 *   static constexpr bool per_pair                 true when every producer
 *       has its own channel to every consumer (ZeroMQ); `dest` picks it.
 * Messages are fixed-size; the first 8 bytes carry an id (see the driver).
 *
 * Every fd is close-on-exec. Names are never left behind: the POSIX message
 * queue and the Boost.Interprocess queue are unlinked right after the parent
 * created them (the children inherit the open descriptor / mapping through
 * fork and never need the name), and the ZeroMQ ipc:// endpoints live in the
 * abstract socket namespace (no file at all).
 *
 * Tuning each peer gets, so that the comparison is against the best a user
 * would reasonably do: pipes grown to 1 MiB (F_SETPIPE_SZ), socket buffers
 * to 4 MiB (SO_SNDBUFFORCE when root, else SO_SNDBUF), message queues as
 * deep as the limits allow, ZeroMQ high-water marks of ~64 MiB of messages.
 * A SOCK_SEQPACKET datagram larger than the send buffer allows is sent as
 * several datagrams (the receiver knows the size); that is only ever needed
 * with one producer and one consumer.
 */
#ifndef MPROC_BENCH_PEERS_HPP
#define MPROC_BENCH_PEERS_HPP

#include "procs.h"
#include "ring.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <mqueue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#ifdef MPROC_BENCH_HAVE_ZMQ
#include <zmq.h>
#endif
#ifdef MPROC_BENCH_HAVE_BOOST
#include <boost/interprocess/ipc/message_queue.hpp>
#endif

static unsigned bench_seq; /* makes every name of this process unique */

static inline void bench_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static inline uint64_t pow2_floor(uint64_t x)
{
    uint64_t p = 1;
    while (p * 2 <= x)
        p *= 2;
    return p;
}

/* The ceiling ring (ring.h), slot stride Align (128, or 64 for the
 * prefetcher variant). */
template <unsigned Align> struct RingPeer {
    static constexpr bool per_pair = false;
    size_t size = 0, bytes = 0;
    void *mem = nullptr;
    ring_handle h{};
    bool setup(size_t sz, int, int)
    {
        size = sz;
        if (8 + sz > Align && Align == 64)
            return false;
        uint64_t stride = ring_stride(sz, Align);
        /* ~1 MiB of slots for small messages, at least 8 slots for big ones */
        uint64_t fit = std::min<uint64_t>(1024, (4u << 20) / stride);
        uint64_t nslots = pow2_floor(std::max<uint64_t>(8, fit));
        bytes = ring_bytes(nslots, stride);
        mem = bp_shared_alloc(bytes);
        ring_init(&h, mem, nslots, stride);
        return true;
    }
    bool child_init(int, int)
    {
        return true;
    }
    bool child_fini()
    {
        return true;
    }
    bool send(const void *m, int)
    {
        return ring_put(&h, m, size), true;
    }
    bool recv(void *m)
    {
        return ring_get(&h, m, size), true;
    }
    void teardown()
    {
        bp_shared_free(mem, bytes);
        mem = nullptr;
    }
};

static inline bool write_all(int fd, const void *buf, size_t n, bool spin)
{
    const char *p = (const char *)buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && spin) {
                bench_pause();
                continue;
            }
            return false;
        }
        p += k;
        n -= (size_t)k;
    }
    return true;
}

static inline bool read_all(int fd, void *buf, size_t n, bool spin)
{
    char *p = (char *)buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN && spin) {
                bench_pause();
                continue;
            }
            return false;
        }
        if (k == 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* pipe(2), blocking, or non-blocking with busy polling (Spin). */
template <bool Spin> struct PipePeer {
    static constexpr bool per_pair = false;
    size_t size = 0;
    int fd[2] = {-1, -1};
    bool setup(size_t sz, int, int)
    {
        size = sz;
        if (pipe2(fd, O_CLOEXEC | (Spin ? O_NONBLOCK : 0)) < 0)
            return false;
        (void)fcntl(fd[1], F_SETPIPE_SZ, 1 << 20);
        return true;
    }
    bool child_init(int, int)
    {
        return true;
    }
    bool child_fini()
    {
        return true;
    }
    bool send(const void *m, int)
    {
        return write_all(fd[1], m, size, Spin);
    }
    bool recv(void *m)
    {
        return read_all(fd[0], m, size, Spin);
    }
    void teardown()
    {
        close(fd[0]);
        close(fd[1]);
    }
};

static inline void sock_bufs(int s, int bytes)
{
    if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof bytes) < 0)
        (void)setsockopt(s, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) < 0)
        (void)setsockopt(s, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

/* socketpair(AF_UNIX, Type): SOCK_STREAM or SOCK_SEQPACKET. */
template <int Type, bool Spin> struct SockPeer {
    static constexpr bool per_pair = false;
    size_t size = 0, frag = 0;
    int sv[2] = {-1, -1};
    bool setup(size_t sz, int, int)
    {
        size = sz;
        if (socketpair(AF_UNIX, Type | SOCK_CLOEXEC | (Spin ? SOCK_NONBLOCK : 0), 0, sv) < 0)
            return false;
        sock_bufs(sv[0], 4 << 20);
        sock_bufs(sv[1], 4 << 20);
        frag = sz;
        if (Type == SOCK_SEQPACKET) {
            /* The largest datagram the buffers take: try, halve on EMSGSIZE. */
            std::string probe(sz, 'x');
            while (frag > 64) {
                ssize_t k = ::send(sv[0], probe.data(), frag, MSG_DONTWAIT);
                if (k == (ssize_t)frag) {
                    (void)::recv(sv[1], &probe[0], frag, MSG_DONTWAIT);
                    break;
                }
                frag /= 2;
            }
            static size_t told; /* say it once per message size */
            if (frag < sz && told != sz) {
                told = sz;
                printf("# socketpair-seqpacket: a %zu B message goes as %zu datagrams of %zu B "
                       "(the socket buffers take no bigger one)\n",
                       sz, (sz + frag - 1) / frag, frag);
            }
        }
        return true;
    }
    bool child_init(int, int)
    {
        return true;
    }
    bool child_fini()
    {
        return true;
    }
    bool send(const void *m, int)
    {
        if (Type == SOCK_STREAM)
            return write_all(sv[0], m, size, Spin);
        const char *p = (const char *)m;
        for (size_t off = 0; off < size; off += frag) {
            size_t len = std::min(frag, size - off);
            for (;;) {
                ssize_t k = ::send(sv[0], p + off, len, 0);
                if (k == (ssize_t)len)
                    break;
                if (k < 0 && (errno == EINTR || (errno == EAGAIN && Spin))) {
                    bench_pause();
                    continue;
                }
                return false;
            }
        }
        return true;
    }
    bool recv(void *m)
    {
        if (Type == SOCK_STREAM)
            return read_all(sv[1], m, size, Spin);
        char *p = (char *)m;
        for (size_t off = 0; off < size;) {
            ssize_t k = ::recv(sv[1], p + off, size - off, 0);
            if (k < 0 && (errno == EINTR || (errno == EAGAIN && Spin))) {
                bench_pause();
                continue;
            }
            if (k <= 0)
                return false;
            off += (size_t)k;
        }
        return true;
    }
    void teardown()
    {
        close(sv[0]);
        close(sv[1]);
    }
};

/* POSIX message queue: unique name, unlinked at once after mq_open. */
struct MqPeer {
    static constexpr bool per_pair = false;
    size_t size = 0;
    mqd_t q = (mqd_t)-1;
    bool setup(size_t sz, int, int)
    {
        size = sz;
        char name[96];
        snprintf(name, sizeof name, "/mproc-bench-%d-%u", (int)getpid(), bench_seq++);
        static const long depths[] = {256, 64, 10};
        for (long d : depths) {
            struct mq_attr a = {};
            a.mq_maxmsg = d;
            a.mq_msgsize = (long)sz;
            q = mq_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600, &a);
            if (q != (mqd_t)-1) {
                mq_unlink(name);
                return true;
            }
        }
        return false;
    }
    bool child_init(int, int)
    {
        return true;
    }
    bool child_fini()
    {
        return true;
    }
    bool send(const void *m, int)
    {
        while (mq_send(q, (const char *)m, size, 0) < 0)
            if (errno != EINTR)
                return false;
        return true;
    }
    bool recv(void *m)
    {
        for (;;) {
            ssize_t k = mq_receive(q, (char *)m, size, nullptr);
            if (k == (ssize_t)size)
                return true;
            if (k < 0 && errno == EINTR)
                continue;
            return false;
        }
    }
    void teardown()
    {
        mq_close(q);
    }
};

/* One word + one buffer per direction, futex wait/wake: the hand-rolled
 * sleeping peer of the ping-pong rows (a single-slot channel). */
struct FutexPeer {
    static constexpr bool per_pair = false;
    struct box {
        uint32_t full;
        char pad[60];
        unsigned char data[];
    };
    size_t size = 0, bytes = 0;
    box *b = nullptr;
    static long fx(uint32_t *w, int op, uint32_t v)
    {
        return syscall(SYS_futex, w, op, v, nullptr, nullptr, 0);
    }
    bool setup(size_t sz, int, int)
    {
        size = sz;
        bytes = sizeof(box) + sz;
        b = (box *)bp_shared_alloc(bytes);
        return true;
    }
    bool child_init(int, int)
    {
        return true;
    }
    bool child_fini()
    {
        return true;
    }
    bool send(const void *m, int)
    {
        while (__atomic_load_n(&b->full, __ATOMIC_ACQUIRE) != 0)
            fx(&b->full, FUTEX_WAIT, 1);
        memcpy(b->data, m, size);
        __atomic_store_n(&b->full, 1, __ATOMIC_RELEASE);
        fx(&b->full, FUTEX_WAKE, 1);
        return true;
    }
    bool recv(void *m)
    {
        while (__atomic_load_n(&b->full, __ATOMIC_ACQUIRE) != 1)
            fx(&b->full, FUTEX_WAIT, 0);
        memcpy(m, b->data, size);
        __atomic_store_n(&b->full, 0, __ATOMIC_RELEASE);
        fx(&b->full, FUTEX_WAKE, 1);
        return true;
    }
    void teardown()
    {
        bp_shared_free(b, bytes);
    }
};

#ifdef MPROC_BENCH_HAVE_ZMQ
/* ZeroMQ PUSH/PULL over ipc://: every consumer binds its own endpoint, every
 * producer connects one PUSH socket to each (so poison pills can be aimed).
 * The endpoints are in Linux's abstract socket namespace (ipc://@name), so
 * there is no socket file that a killed run could leave behind; speed is the
 * same as with a path.
 *
 * A producer does not close its sockets before every consumer has finished
 * (the shared `done` counter): closing a PUSH socket whose peer is still
 * reading has lost the last messages (a 2 x 2 run hung waiting for a pill).
 * That wait is outside the timed part, which ends at the consumers. */
struct ZmqPeer {
    static constexpr bool per_pair = true;
    size_t size = 0;
    int nprod = 0, ncons = 0, role = -1;
    unsigned id = 0;
    int owner_pid = 0;
    uint64_t *done = nullptr; /* consumers finished (shared, made before fork) */
    void *ctx = nullptr;
    void *sock[BP_MAXPROC] = {};
    void endpoint(char *buf, size_t n, int c) const
    {
        snprintf(buf, n, "ipc://@mproc-bench-zmq-%d-%u-%d", owner_pid, id, c);
    }
    bool setup(size_t sz, int np, int nc)
    {
        size = sz;
        nprod = np;
        ncons = nc;
        id = bench_seq++;
        owner_pid = (int)getpid();
        done = (uint64_t *)bp_shared_alloc(sizeof *done);
        return true;
    }
    int hwm() const
    {
        return (int)std::max<size_t>(16, std::min<size_t>(1000, (64u << 20) / size));
    }
    bool child_init(int r, int idx)
    {
        role = r;
        ctx = zmq_ctx_new();
        if (!ctx)
            return false;
        char ep[160];
        int h = hwm();
        if (role == BP_CONSUMER) {
            void *s = zmq_socket(ctx, ZMQ_PULL);
            sock[0] = s;
            zmq_setsockopt(s, ZMQ_RCVHWM, &h, sizeof h);
            endpoint(ep, sizeof ep, idx);
            if (zmq_bind(s, ep) != 0)
                return false;
            /* one warm-up message per producer: every connection is up */
            std::string w(size, 0);
            for (int i = 0; i < nprod; i++)
                if (zmq_recv(s, &w[0], size, 0) < 0)
                    return false;
        } else {
            int ivl = 2;
            for (int c = 0; c < ncons; c++) {
                void *s = zmq_socket(ctx, ZMQ_PUSH);
                sock[c] = s;
                zmq_setsockopt(s, ZMQ_SNDHWM, &h, sizeof h);
                zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
                endpoint(ep, sizeof ep, c);
                if (zmq_connect(s, ep) != 0)
                    return false;
                std::string w(size, 0);
                if (zmq_send(s, w.data(), size, 0) < 0)
                    return false;
            }
        }
        return true;
    }
    bool child_fini()
    {
        if (role == BP_CONSUMER) {
            __atomic_add_fetch(done, 1, __ATOMIC_RELEASE);
        } else {
            uint64_t t0 = bench_now_ns();
            while (__atomic_load_n(done, __ATOMIC_ACQUIRE) < (uint64_t)ncons &&
                   bench_now_ns() - t0 < 60000000000ull)
                usleep(1000);
        }
        int linger = -1;
        for (int c = 0; c < BP_MAXPROC; c++)
            if (sock[c]) {
                zmq_setsockopt(sock[c], ZMQ_LINGER, &linger, sizeof linger);
                zmq_close(sock[c]);
                sock[c] = nullptr;
            }
        if (ctx)
            zmq_ctx_term(ctx);
        ctx = nullptr;
        return true;
    }
    bool send(const void *m, int dest)
    {
        while (zmq_send(sock[dest], m, size, 0) < 0)
            if (zmq_errno() != EINTR)
                return false;
        return true;
    }
    bool recv(void *m)
    {
        for (;;) {
            int k = zmq_recv(sock[0], m, size, 0);
            if (k == (int)size)
                return true;
            if (k < 0 && zmq_errno() == EINTR)
                continue;
            return false;
        }
    }
    void teardown()
    {
        bp_shared_free(done, sizeof *done);
        done = nullptr;
    }
};
#endif

#ifdef MPROC_BENCH_HAVE_BOOST
/* Boost.Interprocess message_queue: created by the parent and removed at
 * once; the children use the inherited mapping. */
struct BoostPeer {
    static constexpr bool per_pair = false;
    typedef boost::interprocess::message_queue mq;
    size_t size = 0;
    mq *q = nullptr;
    bool setup(size_t sz, int, int)
    {
        size = sz;
        char name[96];
        snprintf(name, sizeof name, "mprocbench-bq-%d-%u", (int)getpid(), bench_seq++);
        size_t depth = std::max<size_t>(4, std::min<size_t>(256, (64u << 20) / sz));
        try {
            q = new mq(boost::interprocess::create_only, name, depth, sz);
        } catch (...) {
            mq::remove(name);
            return false;
        }
        mq::remove(name);
        return true;
    }
    bool child_init(int, int)
    {
        return true;
    }
    bool child_fini()
    {
        return true;
    }
    bool send(const void *m, int)
    {
        try {
            q->send(m, size, 0);
        } catch (...) {
            return false;
        }
        return true;
    }
    bool recv(void *m)
    {
        try {
            mq::size_type got = 0;
            unsigned prio = 0;
            q->receive(m, size, got, prio);
            return got == size;
        } catch (...) {
            return false;
        }
    }
    void teardown()
    {
        delete q;
        q = nullptr;
    }
};
#endif

/* Allow mq queues and 1 MiB messages: raise RLIMIT_MSGQUEUE where allowed. */
static inline void peers_raise_limits(void)
{
    struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
    if (setrlimit(RLIMIT_MSGQUEUE, &r) < 0) {
        getrlimit(RLIMIT_MSGQUEUE, &r);
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_MSGQUEUE, &r);
    }
}

#endif
