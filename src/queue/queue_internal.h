/* queue_internal.h - the queue's shared layout and process-local handle,
 * shared by queue.c (put/get fast paths, blocking), queue_attach.c
 * (create/open/map, handles, participants, stats) and queue_recover.c
 * (repair of positions orphaned by dead participants).
 *
 * See the design note at the top of queue.c.
 */
#ifndef MPROC_QUEUE_INTERNAL_H
#define MPROC_QUEUE_INTERNAL_H

#include "../internal.h"

#include <limits.h>
#include <pthread.h>

#define Q_MAGIC 0x51434F52u /* "ROCQ" on little-endian: queue body magic */
#define Q_LAYOUT 1
#define Q_PARTS 256 /* participant records per queue */
#define Q_MAX_UNITS (1u << 24)
#define Q_MAX_CAPACITY (1ull << 32) /* len must fit in 32 bits */
#define Q_DEFAULT_CAPACITY (1u << 20)
#define Q_DEFAULT_UNIT 128u /* 64 B messages land 128 B apart (prefetcher pairs) */

/* Index stamps (64-bit positions never wrap, so a stamp written for another
 * lap can never match): */
#define Q_PUB(p) ((p) + 1)                       /* published, message at p */
#define Q_CONSUMED(p) (((p) + 1) | (1ull << 63)) /* taken and released out of order */

/* meta word of an index entry: len | units << 32 | flags << 56 */
#define Q_META(len, units, fl)                                                                     \
    ((uint64_t)(len) | ((uint64_t)(units) << 32) | ((uint64_t)(fl) << 56))
#define Q_META_LEN(m) ((uint32_t)(m))
#define Q_META_UNITS(m) ((uint32_t)(((m) >> 32) & 0xFFFFFFu))
#define Q_META_FLAGS(m) ((uint32_t)((m) >> 56))
#define Q_F_LOST 0x1u /* a dead putter's claim, repaired: skip (loss counted at repair) */
#define Q_F_SKIP 0x2u /* a cancelled reservation: skip */

/* Intent words of a participant record: pos | state << 62. */
#define Q_I_NONE 0ull
#define Q_I_PENDING (1ull << 62) /* recorded, claim (CAS) maybe not done */
#define Q_I_HELD (2ull << 62)    /* claim succeeded */
#define Q_I_POS(w) ((w) & ((1ull << 62) - 1))
#define Q_I_STATE(w) ((w) & (3ull << 62))

struct q_entry {
    _Atomic uint64_t stamp;
    _Atomic uint64_t meta;
};

/* One participant: a (process, thread) pair. Written only by its owner
 * thread, except by a repairer (under the repair lock) once the owner is
 * dead. 128 bytes so that neighbours never share a prefetch pair. */
struct q_part {
    _Atomic uint64_t owner; /* pid << 32 | tid; 0 = free */
    _Atomic uint64_t start; /* process start time (0 while being claimed) */
    _Atomic uint64_t put_intent;
    _Atomic uint64_t get_intent;
    _Atomic uint32_t put_k;
    _Atomic uint32_t get_k;
    _Atomic uint64_t puts, gets, bytes_in, bytes_out, task_done;
    _Atomic uint64_t high_water; /* units */
    char pad_[40];
};
_Static_assert(sizeof(struct q_part) == 128, "participant record size");

#define Q_ALIGNED _Alignas(MPROC__FALSE_SHARING)
#define Q_INLINE inline __attribute__((always_inline)) /* fast paths (queue.c) */

/* The queue header: the body of the segment starts with it. */
struct q_hdr {
    /* configuration: written once by the creator, validated at attach */
    uint32_t qmagic, layout;
    uint32_t unit_shift, flags;
    uint64_t n_units;   /* ring units, power of two */
    uint64_t limit;     /* units usable at once (<= n_units) */
    uint64_t min_units; /* units charged per message at least (max_msgs) */
    uint64_t max_msgs;
    uint64_t index_off, data_off, data_size; /* from the start of the file */
    _Atomic uint32_t closed;

    Q_ALIGNED _Atomic uint64_t tail;      /* producers' claim frontier (units) */
    Q_ALIGNED _Atomic uint64_t head;      /* consumers' claim frontier */
    Q_ALIGNED _Atomic uint64_t rel;       /* every unit < rel is free */
    Q_ALIGNED _Atomic uint32_t get_futex; /* bumped to wake getters */
    _Atomic uint32_t get_need;            /* 1: a getter may sleep on get_futex */
    _Atomic uint32_t get_waiters;         /* statistics only */
    Q_ALIGNED _Atomic uint32_t put_futex;
    _Atomic uint32_t put_need;
    _Atomic uint32_t put_waiters;
    Q_ALIGNED _Atomic uint32_t join_futex;
    _Atomic uint32_t join_waiters;
    _Atomic uint32_t repair_lock; /* tid of the repairer, 0 = free */
    _Atomic uint64_t lost_put, lost_get;
    /* totals of released participant records */
    _Atomic uint64_t r_puts, r_gets, r_bytes_in, r_bytes_out, r_task_done, r_high_water;
    Q_ALIGNED struct q_part parts[Q_PARTS];
};

/* Per-thread state of one handle (found through the handle's pthread key). */
struct q_tls {
    struct mproc_queue *q;
    struct q_part *p;
    uint32_t gen;
    uint64_t rel_cache;
    uint64_t hw;                     /* my high-water mark (units), mirrors p->high_water */
    uint64_t stuck_key, stuck_since; /* the position I wait on, and since when (ns) */
    uint32_t poll_misses;            /* failed try-once gets (see q_claim_get_loop) */
    bool res, view;
    bool wake_getters; /* a getter was sleeping when I claimed: wake at publish */
    bool wake_putters; /* a putter was sleeping when I claimed: wake at release */
    uint64_t res_pos, view_pos;
    uint32_t res_k, view_k;
    size_t res_len, view_len;
    struct q_tls *next;
};

struct mproc_queue {
    struct mproc__seg seg;
    struct q_hdr *h;
    struct q_entry *idx;
    unsigned char *data; /* n_units * unit bytes, mapped twice back to back */
    size_t data_size;
    /* validated copies of the configuration: never re-read from shared memory */
    uint64_t n, mask, limit, min_units, unit, unit_shift, max_msgs, cap_bytes;
    uint32_t flags;
    unsigned idx_shift; /* index remap, see q_slot() */
    pthread_key_t key;
    pthread_mutex_t mu;
    struct q_tls *tls_list;
    uint32_t gen;
    pid_t pid;
    uint64_t id; /* unique per handle in this process */
};

/* Consecutive positions land in different 128-byte blocks of the index, so
 * that a producer writing entry p+1 does not steal the line a consumer reads
 * entry p from: slot = (p mod 8) * (N / 8) + (p mod N) / 8. */
static inline struct q_entry *q_slot(const struct mproc_queue *q, uint64_t p)
{
    uint64_t i = p & q->mask;
    if (q->idx_shift)
        i = ((i & 7u) << q->idx_shift) | (i >> 3);
    return &q->idx[i];
}

static inline uint64_t q_units(const struct mproc_queue *q, size_t len)
{
    uint64_t k = (len + q->unit - 1) >> q->unit_shift;
    if (k < q->min_units)
        k = q->min_units;
    return k;
}

static inline uint64_t rd(_Atomic uint64_t *a)
{
    return atomic_load_explicit(a, memory_order_relaxed);
}

/* Single-writer counters in my own participant record. */
static inline void bump(_Atomic uint64_t *a, uint64_t d)
{
    atomic_store_explicit(a, rd(a) + d, memory_order_relaxed);
}

static inline unsigned char *q_data(const struct mproc_queue *q, uint64_t pos)
{
    return q->data + ((pos & q->mask) << q->unit_shift);
}

/* Wake every sleeper of one side, if any announced itself (need = 1). The
 * exchange makes one waker per sleeping episode pay for the system call. */
static inline void q_wake_nofence(_Atomic uint32_t *need, _Atomic uint32_t *fut)
{
    if (MPROC__UNLIKELY(atomic_load_explicit(need, memory_order_seq_cst) != 0) &&
        atomic_exchange_explicit(need, 0, memory_order_seq_cst) != 0) {
        atomic_fetch_add_explicit(fut, 1, memory_order_seq_cst);
        mproc__futex_wake(fut, INT_MAX);
    }
}

/* queue_wait.c ---------------------------------------------------------- */
#define Q_SPIN 8000 /* pauses before yielding (~40-60 us with the re-checks) */
#define Q_YIELDS 8
#define Q_NAP_MS 50 /* sleepers look for dead peers at least this often */

enum { Q_NOT_READY, Q_READY, Q_INFLIGHT };

struct q_wait {
    struct mproc__deadline dl;
    bool init;
    int spins;
};

struct q_room {
    uint64_t k;
};

void mproc__q_release(struct mproc_queue *q, uint64_t pos, uint64_t k);
uint64_t mproc__q_sweep(struct mproc_queue *q, unsigned max);
#define Q_SWEEP_BATCH 64 /* messages a producer reclaims per CAS on rel */
void mproc__q_wake_putters(struct mproc_queue *q);
void mproc__q_wake_getters(struct mproc_queue *q);
/* mproc__q_stuck - note that I wait on stuck_key (head or rel); after
 * Q_NAP_MS without progress run mproc__q_recover. 0 or MPROC_ECORRUPT. */
int mproc__q_stuck(struct mproc_queue *q, struct q_tls *ts, uint64_t stuck_key);
/* mproc__q_wait_round - one round of waiting (spin, yield or sleep) while
 * ready() says Q_NOT_READY/Q_INFLIGHT. 0 to re-check, or an error. */
int mproc__q_wait_round(struct mproc_queue *q, struct q_tls *ts, struct q_wait *w, int timeout_ms,
                        uint64_t stuck_key, bool getter, int (*ready)(struct mproc_queue *, void *),
                        void *arg);
int mproc__q_has_room(struct mproc_queue *q, void *arg); /* arg: struct q_room */
int mproc__q_has_msg(struct mproc_queue *q, void *arg);

/* ThreadSanitizer cannot see synchronisation that goes through another
 * process (a consumer thread marks a slot free, a producer in another
 * process sweeps rel, a producer thread here reuses the space). Under TSan
 * we tell it what the release store of the mark and the acquire load of
 * rel already guarantee; in other builds these are nothing. */
#if defined(__SANITIZE_THREAD__)
#define Q_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define Q_TSAN 1
#endif
#endif
#ifdef Q_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define Q_TSAN_RELEASE(q) __tsan_release((void *)&(q)->h->rel)
#define Q_TSAN_ACQUIRE(q) __tsan_acquire((void *)&(q)->h->rel)
#else
#define Q_TSAN_RELEASE(q) ((void)0)
#define Q_TSAN_ACQUIRE(q) ((void)0)
#endif

/* queue_attach.c */
struct q_tls *mproc__q_tls_slow(struct mproc_queue *q);
/* The fork generation of the queue module: incremented in the child by a
 * pthread_atfork handler (registered before the first handle exists), and
 * read here without a call. */
extern uint32_t mproc__q_fork_gen;

/* A one-entry per-thread cache in front of the handle's pthread key. The
 * handle id (never reused) keeps a closed handle's entry from matching a
 * new handle allocated at the same address. */
struct q_last {
    const struct mproc_queue *q;
    uint64_t id;
    uint32_t gen;
    struct q_tls *t;
};
extern __thread struct q_last mproc__q_last __attribute__((tls_model("initial-exec")));

static inline struct q_tls *q_tls(struct mproc_queue *q)
{
    struct q_last *l = &mproc__q_last;
    if (MPROC__LIKELY(l->q == q && l->id == q->id && l->gen == mproc__q_fork_gen))
        return l->t;
    return mproc__q_tls_slow(q);
}
void mproc__q_stats_sum(struct mproc_queue *q, struct mproc_queue_stats *st);
/* fold a record's counters into the retired totals and free it */
void mproc__q_part_free(struct q_hdr *h, struct q_part *p);

/* queue.c */
/* abandon an outstanding reservation / view of a live thread (close, exit) */
void mproc__q_abandon(struct mproc_queue *q, struct q_tls *t);

/* queue_recover.c */
/* mproc__q_recover - look for positions orphaned by dead participants at
 * the frontiers (head: an unpublished claim; rel: a taken, unreleased
 * message), repair them, and reclaim dead participant records. Returns the
 * number of repairs (> 0: progress was made), or MPROC_ECORRUPT. */
int mproc__q_recover(struct mproc_queue *q);

#endif
