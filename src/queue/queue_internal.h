/* queue/queue_internal.h - the queue's shared layout and process-local
 * handle, and the private calls between the files of src/queue/.
 *
 * The files are layered; each calls only those below it:
 *   ring.c      layout, validation, mapping; sweeping and releasing
 *               space, wake-ups; counters and statistics sums
 *   recover.c   repair of positions orphaned by dead participants, and
 *               reclaiming their records
 *   part.c      participant records and the per-thread state of a handle
 *   wait.c      waiting: spin, yield, sleep; noticing a stuck frontier
 *   queue.c     the public put/get/zero-copy/joinable/size calls
 *   attach.c    the public create/open/close/stats calls
 * (The inline fast-path helpers below belong to the ring layer.)
 *
 * See the design note at the top of queue.c.
 */
#ifndef MPROC_QUEUE_INTERNAL_H
#define MPROC_QUEUE_INTERNAL_H

#include "../internal.h"
#include "../handle.h"
#include "../linux/spin.h"

#include <limits.h>
#include <pthread.h>
#include <unistd.h>

#define Q_MAGIC 0x51434F52u /* "ROCQ" on little-endian: queue body magic */
#define Q_LAYOUT                                                                                   \
    4 /* 4: claim times; 3: lanes; 2: n_parts records; stamp + meta in front of each message */
#define Q_PARTS_DEFAULT 256 /* participant records per queue, unless asked */
#define Q_PARTS_MAX 65536
#define Q_SKEW_MAX (1ull << 32) /* taken beyond put that deaths could explain */
#define Q_MAX_UNITS (1u << 24)
#define Q_MAX_CAPACITY (1ull << 32) /* len must fit in 32 bits */
#define Q_DEFAULT_CAPACITY (1u << 20)
#define Q_DEFAULT_UNIT 128u         /* 64 B messages land 128 B apart (prefetcher pairs) */
#define Q_LANES_MAX 32              /* one bit each in the summary word's low half */
#define Q_SUM_CLEARING (1ull << 32) /* the summary's high half counts clearing getters */
#define Q_DATA_MAX (1ull << 36)

/* Stamps. 64-bit positions never wrap, so a stamp written for another lap
 * can never match. The entry lives in the ring in front of its message,
 * where payload bytes of an earlier lap lie too: stamps are XORed with a
 * random per-queue key (bit 62 set, so that the zeroes of a fresh ring are
 * no stamp of any position below 2^62) so that payload cannot pass for
 * the stamp of the position being read. */
#define Q_PUB(q, p) (((p) + 1) ^ (q)->skey)                       /* published, message at p */
#define Q_CONSUMED(q, p) ((((p) + 1) | (1ull << 63)) ^ (q)->skey) /* taken and released */
#define Q_HDR 16u /* the entry {stamp, meta} in front of each message's payload */

/* meta word of an index entry: len | units << 32 | flags << 56 */
#define Q_META(len, units, fl)                                                                     \
    ((uint64_t)(len) | ((uint64_t)(units) << 32) | ((uint64_t)(fl) << 56))
#define Q_META_LEN(m) ((uint32_t)(m))
#define Q_META_UNITS(m) ((uint32_t)(((m) >> 32) & 0xFFFFFFu))
#define Q_META_FLAGS(m) ((uint32_t)((m) >> 56))
#define Q_F_LOST 0x1u /* a dead putter's claim, repaired: skip (loss counted at repair) */
#define Q_F_SKIP 0x2u /* a cancelled reservation: skip */
#define Q_F_TS 0x4u   /* the message's claim time is in the lane's time array */

/* Intent words of a participant record: pos | state << 62. */
#define Q_I_NONE 0ull
#define Q_I_PENDING (1ull << 62) /* recorded, claim (CAS) maybe not done */
#define Q_I_HELD (2ull << 62)    /* claim succeeded */
#define Q_I_POS(w) ((w) & ((1ull << 62) - 1))
#define Q_I_STATE(w) ((w) & (3ull << 62))

/* The k words of an intent (put_k, get_k): units | lane << 25. */
#define Q_K(k, lane) ((uint32_t)(k) | ((uint32_t)(lane) << 25))
#define Q_K_UNITS(w) ((uint64_t)((w)&0x1FFFFFFu))
#define Q_K_LANE(w) ((uint32_t)(w) >> 25)

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
    _Atomic uint32_t waiting;    /* Q_W_GET / Q_W_PUT while asleep (statistics) */
    _Atomic uint32_t put_lane;   /* lane + 1 this producer puts into; 0 = none yet */
    char pad_[32];
};
_Static_assert(sizeof(struct q_part) == 128, "participant record size");

#define Q_W_GET 1u
#define Q_W_PUT 2u

#define Q_ALIGNED _Alignas(MPROC__FALSE_SHARING)
#define Q_INLINE inline __attribute__((always_inline)) /* fast paths (queue.c) */

/* One lane: a ring of its own with its own frontiers (see queue.c). tail
 * and allot change only under the lane's lock (the claim line, written by
 * the lane's producers); head is the consumers' line; rel is swept. */
struct q_lane {
    Q_ALIGNED _Atomic uint64_t tail; /* producers' claim frontier (units) */
    _Atomic uint64_t allot;          /* units the lane may hold: tail - rel <= allot */
    _Atomic uint32_t lock;           /* participant index + 1 of the claimer; 0 = free */
    Q_ALIGNED _Atomic uint64_t head; /* consumers' claim frontier */
    Q_ALIGNED _Atomic uint64_t rel;  /* every unit < rel is free */
};

/* The queue header: the body of the segment starts with it; the n_lanes
 * lanes follow at lanes_off, the participant records at parts_off. */
struct q_hdr {
    /* configuration: written once by the creator, validated at attach */
    uint32_t qmagic, layout;
    uint32_t unit_shift, flags;
    uint32_t n_parts, n_lanes; /* participant records, lanes */
    uint64_t n_units;          /* units of each lane's ring, power of two */
    uint64_t limit;            /* units usable at once, all lanes together (<= n_units) */
    uint64_t min_units;        /* units charged per message at least (max_msgs) */
    uint64_t max_msgs;
    uint64_t index_off, data_off, data_size; /* from the start of the file; data_size per lane */
    uint64_t lanes_off, parts_off;           /* from the start of the body */
    uint64_t skey;                           /* random stamp key, bit 62 set (see Q_PUB) */
    _Atomic uint32_t closed;

    /* bit l (l < 32): lane l may hold a message or a claim; bits 32-63: how
     * many getters are between clearing a bit and looking again (one word,
     * so that one load tells both; see q_summary_clean) */
    Q_ALIGNED _Atomic uint64_t summary;
    Q_ALIGNED _Atomic uint32_t get_futex; /* bumped to wake getters */
    _Atomic uint32_t get_need;            /* 1: a getter may sleep on get_futex */
    Q_ALIGNED _Atomic uint32_t put_futex;
    _Atomic uint32_t put_need;
    Q_ALIGNED _Atomic uint32_t join_futex;
    _Atomic uint32_t join_waiters;
    _Atomic uint32_t repair_lock; /* tid of the repairer, 0 = free */
    _Atomic uint32_t credit_lock; /* participant index + 1 of who moves allots; 0 = free */
    _Atomic uint64_t lost_put, lost_get;
    /* totals of released participant records */
    _Atomic uint64_t r_puts, r_gets, r_bytes_in, r_bytes_out, r_task_done, r_high_water;
};

/* Per-thread state of one handle (found through the handle's pthread key). */
struct q_tls {
    struct mproc_queue *q;
    struct q_part *p;
    pid_t pid;   /* the process that owns p (an inherited entry is not ours) */
    uint32_t me; /* index of p + 1: the value of a lock I hold */
    /* producer side: my lane (chosen at my first put), its bit, rel cached */
    struct q_lane *pln;
    unsigned char *pdata; /* my lane's ring (q_lbase) */
    uint32_t plane, pkl;  /* my lane, and it << 25 (Q_K) */
    uint64_t pbit;
    uint64_t rel_cache;
    /* consumer side: the lane I take from while it has messages */
    uint32_t glane;
    uint32_t ctf, res_ctf; /* Q_F_TS: my last claim / my reservation has a claim time */
    uint32_t scans, gets;
    uint64_t hw;                     /* my high-water mark (units), mirrors p->high_water */
    uint64_t stuck_key, stuck_since; /* the position I wait on, and since when (ns) */
    uint32_t poll_misses;            /* failed try-once gets (see q_claim_get_loop) */
    bool res, view;
    bool wake_getters; /* a getter was sleeping when I claimed: wake at publish */
    bool wake_putters; /* a putter was sleeping when I claimed: wake at release */
    uint64_t res_pos, view_pos;
    uint32_t res_k, view_k;
    uint32_t res_lane, view_lane;
    size_t res_len, view_len;
    struct q_tls *next;
};

struct mproc_queue {
    /* The words every put and get reads come first, next to the state
     * word, so the entry check loads a line that the call needs anyway. */
    _Atomic uint32_t magic; /* MPROC__H_QUEUE, MPROC__H_CLOSED (handle.h) */
    uint32_t flags;
    uint64_t id; /* unique per handle in this process, whatever library copy */
    struct q_hdr *h;
    unsigned char *data; /* per lane n_units * unit bytes, mapped twice back to back */
    struct q_lane *lanes;
    struct q_part *parts;
    _Atomic uint64_t *times; /* per lane n_units claim times (ns), with lanes > 1 */
    /* validated copies of the configuration: never re-read from shared memory */
    uint64_t mask, unit_shift, min_units, limit, cap_bytes, unit, n, max_msgs;
    uint64_t skey;      /* validated copy of h->skey */
    size_t data_size;   /* one lane's ring */
    unsigned win_shift; /* log2 of a lane's window (2 * data_size) */
    uint32_t n_parts, n_lanes;
    uint64_t lanes_mask; /* a bit for each lane */
    struct mproc__seg seg;
    pthread_key_t key;
    pthread_mutex_t mu;
    struct q_tls *tls_list;
    pid_t list_pid; /* the process whose threads tls_list holds */
    pid_t pid;      /* the process that created or opened the handle */
};

/* The start of lane l's ring (its window: the ring twice back to back). */
static inline unsigned char *q_lbase(const struct mproc_queue *q, uint32_t l)
{
    return q->data + ((uint64_t)l << q->win_shift);
}

static inline unsigned char *q_data(const struct mproc_queue *q, uint32_t l, uint64_t pos)
{
    return q_lbase(q, l) + ((pos & q->mask) << q->unit_shift);
}

/* The entry of position p in the ring that starts at base (q_lbase). */
static inline struct q_entry *q_bslot(const struct mproc_queue *q, unsigned char *base, uint64_t p)
{
    return (struct q_entry *)(void *)(base + ((p & q->mask) << q->unit_shift));
}

/* The entry {stamp, meta} of the message at p is the first Q_HDR bytes of
 * its first unit: a small message and its entry share one cache line, so
 * a put and a get move one line between the cores, not two. */
static inline struct q_entry *q_slot(const struct mproc_queue *q, uint32_t l, uint64_t p)
{
    return (struct q_entry *)(void *)q_data(q, l, p);
}

/* The payload of the message at p: contiguous over its k units (the ring
 * is mapped twice back to back). */
static inline unsigned char *q_payload(const struct mproc_queue *q, uint32_t l, uint64_t p)
{
    return q_data(q, l, p) + Q_HDR;
}

static inline uint64_t q_units(const struct mproc_queue *q, size_t len)
{
    uint64_t k = (len + Q_HDR + q->unit - 1) >> q->unit_shift;
    if (k < q->min_units)
        k = q->min_units;
    return k;
}

/* Sizes of the layout. */
static inline size_t q_page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static inline uint64_t q_round_up(uint64_t n, uint64_t a)
{
    return (n + a - 1) / a * a;
}

static inline uint64_t q_pow2(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static inline unsigned q_log2(uint64_t n)
{
    unsigned s = 0;
    while ((1ull << s) < n)
        s++;
    return s;
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

/* Wake every sleeper of one side, if any announced itself (need = 1). The
 * exchange makes one waker per sleeping episode pay for the system call. */
static inline void q_wake_nofence(_Atomic uint32_t *need, _Atomic uint32_t *fut)
{
    if (MPROC__UNLIKELY(atomic_load_explicit(need, memory_order_seq_cst) != 0) &&
        atomic_exchange_explicit(need, 0, memory_order_seq_cst) != 0) {
        mproc__spin_bump(fut); /* + 1, and tell the sleepers my CPU */
        mproc__futex_wake(fut, INT_MAX);
    }
}

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
#define Q_TSAN_RELEASE(q, l) __tsan_release((void *)&(q)->lanes[l].rel)
#define Q_TSAN_ACQUIRE(q, l) __tsan_acquire((void *)&(q)->lanes[l].rel)
#else
#define Q_TSAN_RELEASE(q, l) ((void)0)
#define Q_TSAN_ACQUIRE(q, l) ((void)0)
#endif

/* Loads of an entry's words (Q_ENTRY_LOAD(&e->stamp, order)). The entries
 * live in the ring in front of their payloads (layout 2), so a thread that
 * was descheduled for a whole lap may load a word where a producer now
 * copies payload: a value it then rejects (it cannot match the stamp the
 * reader expects). ThreadSanitizer would report that load against the
 * later memcpy; under TSan the load is therefore made outside its view
 * and followed by an explicit acquire of the word, which keeps the real
 * edge (stamp store with release -> load that sees it -> payload read). */
#ifdef Q_TSAN
uint64_t mproc__q_tsan_peek(_Atomic uint64_t *a);
static inline uint64_t q_entry_load_tsan(_Atomic uint64_t *a)
{
    uint64_t v = mproc__q_tsan_peek(a);
    __tsan_acquire((void *)a);
    return v;
}
#define Q_ENTRY_LOAD(a, mo) q_entry_load_tsan(a)
#else
#define Q_ENTRY_LOAD(a, mo) atomic_load_explicit((a), (mo))
#endif

/* ring.c --------------------------------------------------------------- */
struct q_layout {
    uint64_t lanes_off, parts_off, parts_end, times_off, index_off, data_off, data_size, total;
};
void mproc__q_layout(uint64_t n, uint64_t unit, uint32_t n_parts, uint32_t n_lanes,
                     struct q_layout *l);
int mproc__q_validate(const struct mproc__seg *seg);
int mproc__q_map_ring(struct mproc_queue *q, uint64_t data_off, uint64_t data_size);
void mproc__q_release(struct mproc_queue *q, uint32_t l, uint64_t pos, uint64_t k);
uint64_t mproc__q_sweep(struct mproc_queue *q, uint32_t l, unsigned max);
#define Q_SWEEP_BATCH 64 /* messages a producer reclaims per CAS on rel */
void mproc__q_wake_putters(struct mproc_queue *q);
void mproc__q_wake_getters(struct mproc_queue *q);
/* fold a record's counters into the retired totals and free it */
void mproc__q_part_free(struct q_hdr *h, struct q_part *p);
bool mproc__q_part_alive(struct q_part *p, uint64_t owner);
/* mproc__q_lock_dead - whether the lock word value v (participant index +
 * 1) names a holder that is gone (dead, freed, or no record at all). */
bool mproc__q_lock_dead(struct mproc_queue *q, uint32_t v);
/* mproc__q_lock_slow - take a lane or credit lock held by someone else:
 * spin, then yield, and take it over from a dead holder. The holders'
 * sections are a few instructions long, so a caller waits at most its
 * timeout plus Q_LOCK_GRACE_MS (a live holder that keeps it longer is
 * stopped, or the word is garbage): 0 with the lock held, or
 * MPROC_ETIMEDOUT (MPROC_EAGAIN for a timeout of 0). */
#define Q_LOCK_GRACE_MS 10
int mproc__q_lock_slow(struct mproc_queue *q, _Atomic uint32_t *lk, uint32_t me, int timeout_ms);
/* mproc__q_stats_sum - sum the counters into *st; MPROC_ECORRUPT when the
 * frontiers or the counters cannot be those of a sound queue. */
int mproc__q_stats_sum(struct mproc_queue *q, struct mproc_queue_stats *st);
/* mproc__q_frontiers - a consistent reading of lane l's rel (swept), head
 * and tail; MPROC_ECORRUPT if they break rel <= head <= tail <= rel + limit. */
int mproc__q_frontiers(struct mproc_queue *q, uint32_t l, uint64_t *rp, uint64_t *hp, uint64_t *tp);
/* mproc__q_used - units in use in all lanes together (swept); ECORRUPT. */
int mproc__q_used(struct mproc_queue *q, uint64_t *used);

static inline int q_lock_take(struct mproc_queue *q, _Atomic uint32_t *lk, uint32_t me,
                              int timeout_ms)
{
    uint32_t z = 0;
    if (MPROC__LIKELY(atomic_compare_exchange_strong_explicit(lk, &z, me, memory_order_seq_cst,
                                                              memory_order_relaxed)))
        return 0;
    return mproc__q_lock_slow(q, lk, me, timeout_ms);
}

static inline void q_lock_drop(_Atomic uint32_t *lk)
{
    atomic_store_explicit(lk, 0, memory_order_release);
}

/* Mark lane l as maybe holding a message: a load, and an RMW only on the
 * edge (the bit is cleared only by a getter about to sleep). */
static inline void q_summary_set(struct mproc_queue *q, uint32_t l)
{
    uint64_t bit = 1ull << l;
    if (MPROC__UNLIKELY(!(atomic_load_explicit(&q->h->summary, memory_order_relaxed) & bit)))
        atomic_fetch_or_explicit(&q->h->summary, bit, memory_order_seq_cst);
}

/* Load the summary word; true if no getter was clearing a bit at that
 * moment (then a lane whose bit is clear holds no claim or message that a
 * claim ordered before this load made). */
static inline bool q_summary_clean(struct mproc_queue *q, uint64_t *s)
{
    *s = atomic_load_explicit(&q->h->summary, memory_order_seq_cst);
    return *s < Q_SUM_CLEARING;
}

/* Publish [t, t+k) of lane l (whose ring starts at base): meta, then the stamp (release), then the
 * lane's summary bit, my counters and intent. Inlined into put and commit;
 * also used by cancel and abandon. */
static inline __attribute__((always_inline)) void q_publish(struct mproc_queue *q, struct q_tls *ts,
                                                            uint32_t l, unsigned char *base,
                                                            uint64_t t, uint64_t k, size_t len,
                                                            uint32_t flags)
{
    struct q_entry *e = q_bslot(q, base, t);
    atomic_store_explicit(&e->meta, Q_META(len, k, flags), memory_order_relaxed);
    /* the entry in front of the payload is half written: meta, no stamp */
    MPROC__KILL_POINT("queue.put.entry_half");
    atomic_store_explicit(&e->stamp, Q_PUB(q, t), memory_order_release);
    /* published, the put not returned: the lane's summary bit was set at
     * the claim (queue.c, "Causal order") */
    MPROC__KILL_POINT("queue.put.before_summary");
    (void)l;
    bool skip = (flags & (Q_F_LOST | Q_F_SKIP)) != 0;
    if (!skip) {
        bump(&ts->p->puts, 1);
        bump(&ts->p->bytes_in, len);
    }
    atomic_store_explicit(&ts->p->put_intent, Q_I_NONE, memory_order_release);
    if (MPROC__UNLIKELY(skip)) {
        ts->wake_getters = false;
        mproc__q_wake_getters(q);
    } else if (MPROC__UNLIKELY(ts->wake_getters)) {
        ts->wake_getters = false;
        q_wake_nofence(&q->h->get_need, &q->h->get_futex);
    }
}

/* recover.c ------------------------------------------------------------ */
/* mproc__q_recover - look for positions orphaned by dead participants at
 * the frontiers of every lane (head: an unpublished claim; rel: a taken,
 * unreleased message), repair them, free lane and credit locks of dead
 * holders, set the summary bits of lanes with messages, and reclaim dead
 * participant records. Returns the number of repairs (> 0: progress was
 * made), or MPROC_ECORRUPT. */
int mproc__q_recover(struct mproc_queue *q);

/* part.c --------------------------------------------------------------- */
/* mproc__q_parts_init / _fini - the handle's per-thread machinery (pthread
 * key, list, mutex, id); fini releases every record of this process. */
int mproc__q_parts_init(struct mproc_queue *q);
void mproc__q_parts_fini(struct mproc_queue *q);
struct q_tls *mproc__q_tls_slow(struct mproc_queue *q);
/* mproc__q_choose_lane - give a producer thread its lane (the one with the
 * fewest producers), for as long as its record lives. */
void mproc__q_choose_lane(struct mproc_queue *q, struct q_tls *ts);
/* abandon an outstanding reservation / view of a live thread (close, exit) */
void mproc__q_abandon(struct mproc_queue *q, struct q_tls *t);

/* A one-entry per-thread cache in front of the handle's pthread key. The
 * handle id (never reused) keeps a closed handle's entry from matching a
 * new handle allocated at the same address; the fork generation
 * (linux/proc.c) keeps a child from using its parent's record. */
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
    if (MPROC__LIKELY(l->q == q && l->id == q->id && l->gen == mproc__fork_generation()))
        return l->t;
    return mproc__q_tls_slow(q);
}

/* wait.c --------------------------------------------------------------- */
/* w.spins < Q_SPIN while a wait is in its spin phase (queue.c then watches
 * only the awaited slot); how long that lasts is linux/spin.c's decision. */
#define Q_SPIN 1
#define Q_NAP_MS 50 /* sleepers look for dead peers at least this often */

enum { Q_NOT_READY, Q_READY, Q_INFLIGHT };

struct q_wait {
    struct mproc__deadline dl;
    bool init;
    int spins;               /* 0: spinning (or not yet), Q_SPIN: past it */
    struct mproc__spin spin; /* the current spin episode */
    bool yielding;           /* in a yield phase (spin skipped: linux/spin.h) */
    struct mproc__spin_yield yield;
};

/* How long a waiter yields (re-checking after each) before it sleeps when
 * its spin was skipped because the peer may need this CPU: about a tenth
 * of a scheduler tick, a time, not a count. */
#define Q_YIELD_NS 100000u

/* Whether a waiter is still in its spin phase (it then watches only the
 * slot it waits for, never the other side's counters). */
static inline bool q_wait_spinning(const struct q_wait *w)
{
    return w->spins < Q_SPIN;
}

/* What a waiter's re-check needs and leaves: the units a putter needs (k),
 * and a key that changes when anything moves (the sum of the frontiers it
 * waits on), for noticing a queue stuck on a dead participant. */
struct q_ready {
    uint64_t k;
    uint64_t key;
    struct q_tls *ts; /* the waiter (a putter's lane) */
};

/* mproc__q_stuck - note that I wait on stuck_key (head or rel); after
 * Q_NAP_MS without progress run mproc__q_recover. 0 or MPROC_ECORRUPT. */
int mproc__q_stuck(struct mproc_queue *q, struct q_tls *ts, uint64_t stuck_key);
/* mproc__q_wait_round - one round of waiting (spin, yield or sleep) while
 * ready() says Q_NOT_READY/Q_INFLIGHT. 0 to re-check, or an error. */
int mproc__q_wait_round(struct mproc_queue *q, struct q_tls *ts, struct q_wait *w, int timeout_ms,
                        bool getter, int (*ready)(struct mproc_queue *, struct q_ready *),
                        struct q_ready *arg);
int mproc__q_has_room(struct mproc_queue *q, struct q_ready *arg);
int mproc__q_has_msg(struct mproc_queue *q, struct q_ready *arg);
/* mproc__q_heads - the sum of every lane's head (a getter's stuck key) and
 * whether some lane has a claim not yet published (tail > head). */
uint64_t mproc__q_heads(struct mproc_queue *q, bool *inflight);

#endif
