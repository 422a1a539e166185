/* queue/ring.c - the bottom layer of the queue: the segment's layout, its
 * validation and mapping, releasing and sweeping space, wake-ups, and the
 * sums of the counters. Calls nothing else in src/queue/.
 *
 * Segment layout (offsets from the start of the file):
 *   0          struct mproc__seg_hdr (128 bytes, src/segment.h)
 *   128        struct q_hdr: configuration, the summary word and the futex
 *              words each on its own 128-byte block, retired statistics;
 *              then n_lanes lanes (struct q_lane: lock/tail/allot, head,
 *              rel, each group on its own 128-byte block); then n_parts
 *              participant records of 128 bytes
 *   times_off  with several lanes, n_lanes arrays of N claim times (u64 ns,
 *              indexed like the units; see "Causal order" in queue.c)
 *   data_off   n_lanes data rings of N * unit bytes each, page aligned; each
 *              message starts with its entry {stamp, meta} (Q_HDR = 16 bytes)
 * The process maps the whole file once (segment.c) for the header and the
 * records, and each lane's ring a second time, twice back to back, into a
 * 2 * data_size window of its own (the "magic ring buffer"); the windows
 * lie side by side, so a position's address is one shift and add away.
 *
 * Every configuration field is validated once at attach against the file
 * size and against the layout computed from the configuration itself; the
 * handle keeps validated copies and never re-reads them.
 */
#include "queue_internal.h"

#include <limits.h>
#include <sched.h>
#include <sys/mman.h>
#include <unistd.h>

void mproc__q_layout(uint64_t n, uint64_t unit, uint32_t n_parts, uint32_t n_lanes,
                     struct q_layout *l)
{
    l->lanes_off = q_round_up(sizeof(struct q_hdr), 128);
    l->parts_off = l->lanes_off + (uint64_t)n_lanes * sizeof(struct q_lane);
    l->parts_end = MPROC__SEG_HDR_SIZE + l->parts_off + (uint64_t)n_parts * sizeof(struct q_part);
    /* with several lanes, each lane's claim times (one word per unit,
     * written only for a message claimed while another lane was busy) */
    l->times_off = q_round_up(l->parts_end, 128);
    uint64_t times = n_lanes > 1 ? (uint64_t)n_lanes * n * sizeof(uint64_t) : 0;
    /* no separate index since layout 2: each message's entry is in front
     * of it in the ring; index_off stays (= data_off) for the tools */
    l->data_off = q_round_up(l->times_off + times, q_page());
    l->index_off = l->data_off;
    l->data_size = n * unit;
    l->total = l->data_off + (uint64_t)n_lanes * l->data_size;
}

/* Map each lane's ring twice back to back, the lanes' windows side by side. */
int mproc__q_map_ring(struct mproc_queue *q, uint64_t data_off, uint64_t data_size)
{
    size_t win = 2 * data_size, all = win * q->n_lanes;
    unsigned char *base =
        mmap(NULL, all, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return mproc__err();
    for (uint32_t l = 0; l < q->n_lanes; l++) {
        for (int i = 0; i < 2; i++) {
            void *m = mmap(base + l * win + i * data_size, data_size, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_FIXED, q->seg.fd, (off_t)(data_off + l * data_size));
            if (m == MAP_FAILED) {
                int rc = mproc__err();
                munmap(base, all);
                return rc;
            }
        }
    }
    q->data = base;
    q->data_size = data_size;
    q->win_shift = q_log2(win);
    return 0;
}

/* Validate the queue header of an attached segment (the segment header was
 * checked by segment.c). */
int mproc__q_validate(const struct mproc__seg *seg)
{
    if (seg->body_size < sizeof(struct q_hdr))
        return MPROC_ECORRUPT;
    const struct q_hdr *h = seg->body;
    if (h->qmagic != Q_MAGIC)
        return MPROC_EFOREIGN;
    if (h->layout != Q_LAYOUT)
        return MPROC_EVERSION;
    uint64_t n = h->n_units;
    if (h->unit_shift < 3 || h->unit_shift > 16 || n < 2 || n > Q_MAX_UNITS || (n & (n - 1)))
        return MPROC_ECORRUPT;
    uint64_t unit = 1ull << h->unit_shift;
    if ((n * unit) % q_page() != 0)
        return MPROC_ECORRUPT;
    if (h->limit < 1 || h->limit > n || h->min_units < 1 || h->min_units > h->limit)
        return MPROC_ECORRUPT;
    if (h->flags & ~MPROC_QUEUE_JOINABLE)
        return MPROC_ECORRUPT;
    if (h->n_parts < 1 || h->n_parts > Q_PARTS_MAX || h->n_lanes < 1 || h->n_lanes > Q_LANES_MAX)
        return MPROC_ECORRUPT;
    if (h->n_lanes * n * unit > Q_DATA_MAX)
        return MPROC_ECORRUPT;
    if (!(h->skey & (1ull << 62)) || (h->limit << h->unit_shift) < Q_HDR)
        return MPROC_ECORRUPT;
    struct q_layout l;
    mproc__q_layout(n, unit, h->n_parts, h->n_lanes, &l);
    if (h->index_off != l.index_off || h->data_off != l.data_off || h->data_size != l.data_size ||
        h->lanes_off != l.lanes_off || h->parts_off != l.parts_off || l.total > seg->map_size)
        return MPROC_ECORRUPT;
    return 0;
}

static void q_part_fold(struct q_hdr *h, struct q_part *p)
{
    atomic_fetch_add(&h->r_puts, atomic_exchange(&p->puts, 0));
    atomic_fetch_add(&h->r_gets, atomic_exchange(&p->gets, 0));
    atomic_fetch_add(&h->r_bytes_in, atomic_exchange(&p->bytes_in, 0));
    atomic_fetch_add(&h->r_bytes_out, atomic_exchange(&p->bytes_out, 0));
    atomic_fetch_add(&h->r_task_done, atomic_exchange(&p->task_done, 0));
    uint64_t hw = atomic_exchange(&p->high_water, 0);
    uint64_t old = atomic_load(&h->r_high_water);
    while (hw > old && !atomic_compare_exchange_weak(&h->r_high_water, &old, hw))
        ;
}

/* Fold a record's counters and free it (its owner is gone or done). */
void mproc__q_part_free(struct q_hdr *h, struct q_part *p)
{
    q_part_fold(h, p);
    atomic_store(&p->put_intent, Q_I_NONE);
    atomic_store(&p->get_intent, Q_I_NONE);
    atomic_store(&p->waiting, 0);
    atomic_store(&p->put_lane, 0);
    atomic_store(&p->start, 0);
    atomic_store_explicit(&p->owner, 0, memory_order_release);
}

bool mproc__q_part_alive(struct q_part *p, uint64_t owner)
{
    pid_t pid = (pid_t)(owner >> 32);
    return mproc__proc_alive(pid, atomic_load(&p->start));
}

bool mproc__q_lock_dead(struct mproc_queue *q, uint32_t v)
{
    if (v == 0)
        return false;
    if (v > q->n_parts)
        return true; /* no such record: garbage, nobody holds it */
    struct q_part *p = &q->parts[v - 1];
    uint64_t owner = atomic_load_explicit(&p->owner, memory_order_acquire);
    return owner == 0 || !mproc__q_part_alive(p, owner);
}

/* The sections under a lane or credit lock are a few stores long: spin
 * briefly, then yield (the holder may need this CPU), and look at the
 * holder's life now and then (a time, not a count: 1 ms). Bounded by the
 * caller's timeout (queue_internal.h). */
int mproc__q_lock_slow(struct mproc_queue *q, _Atomic uint32_t *lk, uint32_t me, int timeout_ms)
{
    uint64_t t0 = mproc__now_ns(), looked = t0;
    uint64_t limit = timeout_ms == MPROC_FOREVER
                         ? UINT64_MAX
                         : ((uint64_t)timeout_ms + Q_LOCK_GRACE_MS) * 1000000u;
    for (unsigned i = 1;; i++) {
        uint32_t cur = atomic_load_explicit(lk, memory_order_relaxed);
        if (cur == 0) {
            if (atomic_compare_exchange_weak_explicit(lk, &cur, me, memory_order_seq_cst,
                                                      memory_order_relaxed))
                return 0;
            continue;
        }
        mproc__cpu_relax();
        if ((i & 15) != 0)
            continue;
        uint64_t now = mproc__now_ns();
        if (now - t0 > limit)
            return timeout_ms == 0 ? MPROC_EAGAIN : MPROC_ETIMEDOUT;
        if (now - t0 > 20000)
            sched_yield();
        if (now - looked > 1000000) {
            looked = now;
            uint32_t v = atomic_load_explicit(lk, memory_order_relaxed);
            if (v != 0 && (v == me || mproc__q_lock_dead(q, v)) &&
                atomic_compare_exchange_strong_explicit(lk, &v, me, memory_order_seq_cst,
                                                        memory_order_relaxed))
                return 0;
        }
    }
}

/* The slow-path wake: the seq_cst exchange on need is the barrier (a
 * locked instruction, like a fence, and one ThreadSanitizer understands). */
static inline void q_wake(_Atomic uint32_t *need, _Atomic uint32_t *fut)
{
    if (atomic_exchange_explicit(need, 0, memory_order_seq_cst) != 0) {
        mproc__spin_bump(fut); /* + 1, and tell the sleepers my CPU */
        mproc__futex_wake(fut, INT_MAX);
    }
}

void mproc__q_wake_getters(struct mproc_queue *q)
{
    q_wake(&q->h->get_need, &q->h->get_futex);
}

void mproc__q_wake_putters(struct mproc_queue *q)
{
    q_wake(&q->h->put_need, &q->h->put_futex);
}

/* Advance rel over consecutive CONSUMED marks - at most `max` of them, up
 * to the first position still in use - with one CAS. Returns rel as left
 * (at least the value it found). Run by producers when their cached rel
 * runs out (a batch at a time, so that no put pays for a whole lap), by
 * sleepers' re-checks and allot moves (1024 at a time: a putter waiting
 * for more looks again, see mproc__q_has_room), and with no limit by
 * repairs, full() and statistics. */
uint64_t mproc__q_sweep(struct mproc_queue *q, uint32_t l, unsigned max)
{
    struct q_lane *ln = &q->lanes[l];
    uint64_t r0 = atomic_load_explicit(&ln->rel, memory_order_acquire);
    Q_TSAN_ACQUIRE(q, l);
    for (;;) {
        uint64_t r = r0;
        for (unsigned i = 0; i < max; i++) {
            struct q_entry *e = q_slot(q, l, r);
            /* acquire: the consumer's reads of the data happen before we
             * hand the space to a producer */
            if (Q_ENTRY_LOAD(&e->stamp, memory_order_acquire) != Q_CONSUMED(q, r))
                break;
            uint64_t k = Q_META_UNITS(Q_ENTRY_LOAD(&e->meta, memory_order_relaxed));
            if (k == 0 || k > q->limit)
                break; /* corrupt: leave rel here; the frontier checks report it */
            r += k;
        }
        if (r == r0)
            return r0;
        if (atomic_compare_exchange_strong_explicit(&ln->rel, &r0, r, memory_order_seq_cst,
                                                    memory_order_acquire))
            return r;
        /* another sweeper moved rel: r0 holds its value; go on from there */
    }
}

/* Mark [pos, pos+k) free (CONSUMED) and wake sleeping putters; the space
 * comes back when a producer sweeps over the mark. For the slow paths
 * (skipped records, repairs, abandoned views); get and release_view do the
 * same with a cheaper wake check. */
void mproc__q_release(struct mproc_queue *q, uint32_t l, uint64_t pos, uint64_t k)
{
    (void)k;
    Q_TSAN_RELEASE(q, l);
    atomic_store_explicit(&q_slot(q, l, pos)->stamp, Q_CONSUMED(q, pos), memory_order_release);
    mproc__q_wake_putters(q);
}

/* How long a reader of the frontiers retries while they keep changing. */
#define Q_FRONTIERS_NS (10u * 1000000u)

/* Read the frontiers: rel (swept), head, tail, in that order, so that a
 * sound queue always reads rel <= head <= tail <= rel + limit unless rel
 * moved meanwhile; a violation seen twice with the same values is
 * corruption. 0 or MPROC_ECORRUPT. */
int mproc__q_frontiers(struct mproc_queue *q, uint32_t l, uint64_t *rp, uint64_t *hp, uint64_t *tp)
{
    struct q_lane *ln = &q->lanes[l];
    uint64_t last[3] = {0, 0, 0};
    uint64_t until = 0;
    for (unsigned i = 0;; i++) {
        uint64_t r = mproc__q_sweep(q, l, UINT32_MAX);
        uint64_t hd = atomic_load_explicit(&ln->head, memory_order_seq_cst);
        uint64_t t = atomic_load_explicit(&ln->tail, memory_order_seq_cst);
        if (r <= hd && hd <= t && t - r <= q->limit) {
            *rp = r;
            *hp = hd;
            *tp = t;
            return 0;
        }
        if (i > 0 && last[0] == r && last[1] == hd && last[2] == t)
            return MPROC_ECORRUPT;
        last[0] = r;
        last[1] = hd;
        last[2] = t;
        /* values that keep changing are a queue in use: look again, for
         * Q_FRONTIERS_NS at most (corruption under live traffic) */
        if ((i & 63) == 63) {
            uint64_t now = mproc__now_ns();
            if (until == 0)
                until = now + Q_FRONTIERS_NS;
            else if (now > until)
                return MPROC_ECORRUPT;
        }
    }
}

int mproc__q_used(struct mproc_queue *q, uint64_t *used)
{
    uint64_t sum = 0;
    for (uint32_t l = 0; l < q->n_lanes; l++) {
        uint64_t r, hd, t;
        int rc = mproc__q_frontiers(q, l, &r, &hd, &t);
        if (rc < 0)
            return rc;
        sum += t - r;
    }
    *used = sum;
    return 0;
}

uint64_t mproc__q_heads(struct mproc_queue *q, bool *inflight)
{
    uint64_t sum = 0;
    bool fl = false;
    for (uint32_t l = 0; l < q->n_lanes; l++) {
        struct q_lane *ln = &q->lanes[l];
        uint64_t hd = atomic_load_explicit(&ln->head, memory_order_seq_cst);
        sum += hd;
        fl = fl || atomic_load_explicit(&ln->tail, memory_order_seq_cst) > hd;
    }
    *inflight = fl;
    return sum;
}

int mproc__q_stats_sum(struct mproc_queue *q, struct mproc_queue_stats *st)
{
    struct q_hdr *h = q->h;
    memset(st, 0, sizeof *st);
    uint64_t task_done = atomic_load(&h->r_task_done);
    st->puts = atomic_load(&h->r_puts);
    st->gets = atomic_load(&h->r_gets);
    st->bytes_in = atomic_load(&h->r_bytes_in);
    st->bytes_out = atomic_load(&h->r_bytes_out);
    st->high_water = atomic_load(&h->r_high_water);
    for (unsigned i = 0; i < q->n_parts; i++) {
        struct q_part *p = &q->parts[i];
        uint64_t owner = atomic_load_explicit(&p->owner, memory_order_acquire);
        if (owner == 0)
            continue;
        st->participants++;
        st->puts += atomic_load_explicit(&p->puts, memory_order_relaxed);
        st->gets += atomic_load_explicit(&p->gets, memory_order_relaxed);
        st->bytes_in += atomic_load_explicit(&p->bytes_in, memory_order_relaxed);
        st->bytes_out += atomic_load_explicit(&p->bytes_out, memory_order_relaxed);
        task_done += atomic_load_explicit(&p->task_done, memory_order_relaxed);
        uint64_t hw = atomic_load_explicit(&p->high_water, memory_order_relaxed);
        if (hw > st->high_water)
            st->high_water = hw;
        /* a sleeper counts only while it lives: one SIGKILLed asleep never
         * cleared its flag (its record waits for the next repair pass) */
        uint32_t w = atomic_load_explicit(&p->waiting, memory_order_relaxed);
        if (w != 0 && mproc__q_part_alive(p, owner)) {
            st->waiting_getters += w == Q_W_GET;
            st->waiting_putters += w == Q_W_PUT;
        }
    }
    uint64_t lost_get = atomic_load(&h->lost_get);
    st->lost = atomic_load(&h->lost_put) + lost_get;
    uint64_t out = st->gets + lost_get;
    /* The counters are per participant, bumped a few instructions apart
     * from the frontiers and read here one record after another, so while
     * puts and gets run the difference is off by what moved during the
     * scan; a process killed between publishing and counting its put (or
     * between counting its get and releasing it) leaves it off for good,
     * always towards fewer messages. Values no such skew explains - more
     * messages than the ring can hold, or billions more taken than put -
     * are corruption. */
    uint64_t most = q->limit / q->min_units;
    if ((out > st->puts && out - st->puts > Q_SKEW_MAX) ||
        (st->puts > out && st->puts - out > 2 * most + q->n_parts + 1024))
        return MPROC_ECORRUPT;
    st->msgs = st->puts > out ? st->puts - out : 0;
    if (st->msgs > most)
        st->msgs = most;
    uint64_t done = task_done + lost_get;
    st->unfinished = (q->flags & MPROC_QUEUE_JOINABLE) && st->puts > done ? st->puts - done : 0;
    uint64_t used;
    int rc = mproc__q_used(q, &used);
    if (rc < 0)
        return rc;
    st->bytes_used = (used > q->limit ? q->limit : used) << q->unit_shift;
    if (st->high_water > q->limit)
        st->high_water = q->limit;
    st->high_water <<= q->unit_shift;
    st->capacity = q->cap_bytes;
    st->max_msgs = q->max_msgs;
    st->unit_size = q->unit;
    st->flags = q->flags;
    st->closed = atomic_load(&h->closed) != 0;
    st->creator_pid = q->seg.hdr->creator_pid;
    return 0;
}

#ifdef Q_TSAN
/* See Q_ENTRY_LOAD: a load ThreadSanitizer does not see (volatile, in an
 * uninstrumented function; an aligned 8-byte load is atomic on the
 * platforms mproc supports). */
__attribute__((no_sanitize("thread"), noinline)) uint64_t mproc__q_tsan_peek(_Atomic uint64_t *a)
{
    return *(volatile uint64_t *)(void *)a;
}
#endif
