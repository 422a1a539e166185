/* queue/queue.c - the shared-memory MPMC queue: put, get, zero copy,
 * joinable queues and sizes (the public calls; see queue_internal.h for
 * the layers below).
 *
 * Model
 * -----
 * Lanes: the queue is L lanes, each what the rest of this note calls "the
 * ring", with its own frontiers, data ring and lock. A producer thread
 * claims in its own lane (chosen at its first put, part.c) under the lane's
 * lock; getters find lanes with messages through a summary word; the
 * capacity bound over all lanes is kept by per-lane allots (below, "The
 * lanes' allots"). docs/queue.md, "Lanes", has the whole design.
 *
 * One segment (src/segment.h) holds a struct q_hdr, the lanes, the
 * participant records and per lane a data ring of N units of `unit` bytes
 * (N a power of two). The data
 * ring is mapped twice back to back in every process (ring.c), so
 * a message that wraps around the end of the ring is still contiguous in
 * memory: copies are one memcpy and zero-copy pointers are single pointers.
 *
 * Positions are 64-bit unit counts that never wrap. A message of len bytes
 * occupies k = max(min_units, ceil((len + 16) / unit)) consecutive units
 * [p, p+k): its entry slot(p) = {stamp, meta} in the first 16 bytes, then
 * the payload (layout 2: a small message and its entry share a cache
 * line). Three frontiers:
 *   tail  producers claim [t, t+k) by CAS tail t -> t+k;
 *   head  consumers claim [h, h+k) by CAS head h -> h+k, after they saw
 *         stamp(slot(h)) == PUB(h) = (h+1) ^ key (the stamp is published last,
 *         with release order, after the data and meta);
 *   rel   every unit below rel is free: producers may claim while
 *         t + k - rel <= limit. A consumer releases its message by storing
 *         CONSUMED(h) into its slot (release order, after its last read of
 *         the data) - a plain store, in any order. Producers reclaim lazily:
 *         when a producer's cached rel says "full" it sweeps rel forward
 *         over consecutive CONSUMED marks (acquire loads) and publishes the
 *         new rel with one CAS per batch (mproc__q_sweep, ring.c).
 *         Sleeping putters, repairs, full() and statistics sweep too, so
 *         "full" is exact at quiescence.
 * Invariant: rel <= head <= tail <= rel + limit, limit <= N. Because a stamp
 * names its position and positions never repeat, a stale stamp from an
 * earlier lap never looks fresh; payload bytes of an earlier lap, which lie
 * where a later entry goes, match a stamp only if they guess the queue's
 * random 64-bit key.
 *
 * Bounds: limit units in flight. With max_msgs every message is charged at
 * least min_units = ceil(capacity_units / max_msgs) units and
 * limit = min_units * max_msgs, so at most max_msgs messages fit and the byte
 * capacity is at least what was asked for; no extra shared counter sits on
 * the fast path.
 *
 * Fast path: put = load tail, compare with a thread-cached rel, two relaxed
 * stores to my participant record (intent), CAS tail, one load of
 * get_need, memcpy, store meta, store stamp (release), counters in my own
 * record. get = load head, load the slot's stamp and meta, intent stores,
 * CAS head, one load of put_need, memcpy, store the CONSUMED mark. So put
 * and get cost one locked instruction each (plus a CAS on rel per batch of
 * reclaimed messages on the producer side); no syscalls, no locks;
 * the thread's record is found through a one-entry thread-local cache,
 * and a fork is noticed through the fork generation of linux/proc.c (one
 * load; see part.c).
 * The entry checks, claim, copy and publish steps are forced inline (Q_INLINE) into
 * each public call: the calls and register saves were a large share of a
 * small put's instructions (docs/PERFORMANCE.md, "Figures behind the
 * code").
 * A spinning getter watches only the slot it waits for, never tail (that
 * line belongs to the producers); a try-once get looks at tail only every
 * 64th miss.
 *
 * Blocking (futex protocol): a waiter reads the futex word v, stores
 * need = 1 (seq_cst), re-checks its condition (seq_cst loads), then sleeps
 * on (word, v). A waker makes its change with a seq_cst RMW (the CAS on
 * tail for putters, the CAS on head for getters - their space is marked
 * free right after; an exchange on need itself on slow paths), then loads need
 * (seq_cst); only if it is set does it exchange it
 * to 0, increment the word and wake everyone. Either the waiter's re-check
 * sees the change, or the waker sees need = 1 and bumps the word after the
 * waiter read v (so its futex_wait returns at once): no wake-up is lost.
 * The exchange makes one waker per sleeping episode pay for the system
 * call; any waker that took it bumped the word after the waiter read v.
 * Putters check get_need right after claiming and wake after publishing,
 * so a getter that saw the claim but not the message naps 1 ms at a time
 * (only when a put stalls between claim and publish for longer than a
 * waiter's spin). In the
 * same way getters check put_need right after claiming and wake after
 * marking the space free; a putter that sees consumption in progress
 * (head > rel after sweeping) naps 1 ms at a time. The
 * waiters counts are statistics only. Waiters spin for a time that
 * linux/spin.c decides (none when the peer cannot be running), then sleep
 * at most 50 ms at a time so that they look for dead
 * participants (mproc__q_recover) when nothing moves.
 *
 * Where this departs from the first sketch, and why:
 *  - max_msgs charges each message min_units instead of keeping a shared
 *    message counter: no extra contended word, nothing to repair after a
 *    crash, and qsize stays exact (it is summed from per-participant
 *    counters, see ring.c).
 *  - consumers release with a plain store of a CONSUMED mark and producers
 *    reclaim in batches, instead of consumers advancing rel by CAS: a get
 *    costs one locked instruction instead of two, and in 1->1 the rel line
 *    is written once per batch instead of once per message.
 *  - need flags instead of bare waiter counts, so that one waker, not every
 *    put, pays for a futex wake; and the Dekker checks ride on the claim
 *    CASes that are there anyway (no fence on put or get).
 *  - repairs take a small lock (recover.c) instead of CASing stamps:
 *    a repair writes two words (meta, stamp), and a lone stamp CAS cannot
 *    stop a slow repairer's meta store from landing on the next lap.
 *  - the default unit is 128 bytes, so 64-byte messages sit on separate
 *    adjacent-line-prefetch pairs.
 *
 * Crash safety: before each claim CAS a thread records its intent
 * (op, position, k) in its participant record; after the CAS it marks it
 * held; it clears it after publishing / releasing. A position that makes
 * no progress is repaired by recover.c only when no live participant
 * has an intent on it and a dead one has (see the note there).
 */
#include "queue_internal.h"

#include <stdlib.h>
#include <time.h>

/* Causal order across lanes
 * -------------------------
 * A put that returned before another began (in any processes, ordered by
 * anything: a join, a lock, a pipe message) is taken before it, with any
 * number of lanes. Each lane is FIFO, so only the heads of different lanes
 * need ordering:
 *  - A producer, right after the CAS on its lane's lock, loads the summary
 *    word (whose high half counts the getters that are clearing bits,
 *    q_summary_clean) and sets its own lane's bit if it is clear: the bit
 *    means "a claim or a message", not only "a message" (it is no longer
 *    set at publication). If another lane's bit is set and that lane holds
 *    a claim or a message (q_lanes_busy: a bit may be stale), or a getter
 *    is clearing bits, it also writes the claim's time
 *    (CLOCK_MONOTONIC, ns) into its lane's time array and flags the
 *    message Q_F_TS. A message without the flag had no other lane busy at
 *    its claim: nothing still in the queue can precede it.
 *  - A getter about to take a head flagged Q_F_TS loads the summary the same
 *    way (after its acquire load of the head's stamp), looks at the heads of
 *    the other lanes whose bits are set (all lanes if a getter was
 *    clearing), and goes to the one with the earliest time (unflagged heads
 *    count as time 0), where it checks again. A single busy lane, the 1->1
 *    case, costs the producer one load of a read-mostly line (as the bit
 *    set at publication did before) and the getter nothing.
 * Why: let put A (lane X) return before put B (lane Y) begins. A's load
 * after its lock CAS saw X's bit set, or A set it. A getter clears a bit
 * only inside a counted window, and looks at the lane again after the
 * clear (lock, tail, stamp, all seq_cst): if A's CAS came before the clear
 * it sees A's claim and sets the bit back before the window closes;
 * otherwise A's loads came after the clear and A set the bit itself. So at
 * any load of the summary that follows B's publication with no window open
 * around it, X's bit is set or A is taken. B's claim saw X's bit (or a
 * window), so B carries a time, later than A's (A's clock read came before
 * A returned). A getter that sees B has acquired B's stamp, so it also sees
 * A published at X's head, and takes A first. A getter killed inside a
 * window leaves the summary counting it: putters then always stamp times and
 * getters look at every lane (slower, still correct). Equal times (a clock
 * coarser than the gap between two puts) are ordered by lane number. */

static inline _Atomic uint64_t *q_time(struct mproc_queue *q, uint32_t l, uint64_t pos)
{
    return &q->times[(uint64_t)l * q->n + (pos & q->mask)];
}

/* Whether any lane of `lanes` holds a claim or a message. A set bit may be
 * stale (only getters about to sleep clear bits): a lane that was left
 * empty must not make every put of a 1->1 stream stamp a time. A message
 * whose put returned before my claim is seen here (its lock CAS and tail
 * store came before my CAS), unless it was taken. */
static bool q_lanes_busy(struct mproc_queue *q, uint64_t lanes)
{
    while (lanes != 0) {
        struct q_lane *ln = &q->lanes[__builtin_ctzll(lanes)];
        lanes &= lanes - 1;
        if (atomic_load_explicit(&ln->lock, memory_order_seq_cst) != 0 ||
            atomic_load_explicit(&ln->tail, memory_order_seq_cst) !=
                atomic_load_explicit(&ln->head, memory_order_seq_cst))
            return true;
    }
    return false;
}

/* After a claim at t in my lane, with several lanes: set my lane's bit, and
 * stamp the claim's time if another lane is busy (see above). */
static Q_INLINE void q_claim_time(struct mproc_queue *q, struct q_tls *ts, uint64_t t)
{
    uint64_t s;
    bool clean = q_summary_clean(q, &s);
    if (MPROC__UNLIKELY(!(s & ts->pbit)))
        atomic_fetch_or_explicit(&q->h->summary, ts->pbit, memory_order_seq_cst);
    ts->ctf = 0;
    uint64_t others = s & q->lanes_mask & ~ts->pbit;
    if (MPROC__UNLIKELY(!clean || (others != 0 && q_lanes_busy(q, others)))) {
        atomic_store_explicit(q_time(q, ts->plane, t), mproc__now_ns(), memory_order_relaxed);
        ts->ctf = Q_F_TS;
    }
}

/* ------------------------------------------------------------------------
 * Producers. */

/* The handle's state word (handle.h) shares a cache line with the fields
 * every put and get reads next: the check costs one load of a line that is
 * in cache anyway. */
static inline int q_check(const struct mproc_queue *q)
{
    return mproc__handle_check(q, MPROC__H_QUEUE);
}

static Q_INLINE int q_check_common(struct mproc_queue *q, int timeout_ms)
{
    int rc = q_check(q);
    if (MPROC__UNLIKELY(rc < 0))
        return rc;
    if (timeout_ms < 0 && timeout_ms != MPROC_FOREVER)
        return MPROC_EINVAL;
    return 0;
}

/* The lanes' allots: the sum over the lanes of max(allot, used) stays
 * <= limit (used = tail - rel, units in use). A lane's producers claim while
 * tail + k - rel <= allot, so claims never raise a lane's max(allot, used);
 * sweeps only lower it. Only a holder of the credit lock changes allots:
 * it grows its own lane's from the pool (limit - that sum), and may lower
 * another lane's (under that lane's lock, so that no claim there races
 * with it) - even below what the lane uses: the lane then claims nothing
 * until its consumers bring its use below its allot, and what they free
 * goes to the pool. Every change is one store, so a holder killed anywhere
 * leaves the sum sound (its lock is taken over: ring.c). */

/* Whether asking for allot can pay: the pool (limit less the allots, a
 * bound from above) has `need`; or my lane holds less than an even share
 * of the lanes in use, or the message is larger than such a share (then
 * others' allot is taken). Otherwise my lane holds messages of its own
 * (use > allot >= share >= k), and their consumption makes room: unless
 * the lanes together have room (mproc__q_has_room, which sweeps them all)
 * wait for that. A few loads, no lock: putters that wait on a full queue
 * do not queue up on the credit lock, nor take allot back and forth. */
static bool q_grow_worth(struct mproc_queue *q, uint64_t need, uint64_t mine, uint64_t k)
{
    uint64_t sum = 0, n = mine == 0;
    for (uint32_t l = 0; l < q->n_lanes; l++) {
        uint64_t a = atomic_load_explicit(&q->lanes[l].allot, memory_order_relaxed);
        sum += a;
        n += a != 0;
    }
    if (sum < q->limit && q->limit - sum >= need)
        return true;
    uint64_t share = q->limit / n;
    return mine < share || k > share;
}

/* Lane l's share of the sum: max(allot, used), used from a swept rel.
 * A stale rel only overstates it (the safe side). */
static int q_lane_eff(struct mproc_queue *q, uint32_t l, bool sweep, uint64_t *eff, uint64_t *used)
{
    struct q_lane *ln = &q->lanes[l];
    uint64_t a = atomic_load_explicit(&ln->allot, memory_order_acquire);
    uint64_t r =
        sweep ? mproc__q_sweep(q, l, 1024) : atomic_load_explicit(&ln->rel, memory_order_acquire);
    uint64_t t = atomic_load_explicit(&ln->tail, memory_order_acquire);
    if (a > q->limit)
        return MPROC_ECORRUPT;
    uint64_t u = t - r;
    if (r > t || u > q->limit) {
        /* rel is read first, so a sound lane shows this only while claims
         * pass a rel we read too early: seen again unchanged, it is not */
        uint64_t r2 = atomic_load_explicit(&ln->rel, memory_order_acquire);
        uint64_t t2 = atomic_load_explicit(&ln->tail, memory_order_acquire);
        if ((r2 == r && t2 == t) || r2 > t2)
            return MPROC_ECORRUPT;
        u = q->limit; /* at most: the safe side */
    }
    *used = u;
    *eff = a > u ? a : u;
    return 0;
}

static int q_pool(struct mproc_queue *q, bool sweep, uint64_t *pool)
{
    uint64_t sum = 0;
    for (uint32_t l = 0; l < q->n_lanes; l++) {
        uint64_t e, u;
        int rc = q_lane_eff(q, l, sweep, &e, &u);
        if (rc < 0)
            return rc;
        sum += e;
    }
    *pool = sum < q->limit ? q->limit - sum : 0;
    return 0;
}

/* Give my lane `need` more units of allot (a batch if the pool has it):
 * 1 if done, 0 if the queue has no room for it now, or MPROC_ECORRUPT. */
static __attribute__((noinline)) int q_grow(struct mproc_queue *q, struct q_tls *ts, uint64_t need,
                                            int timeout_ms)
{
    struct q_hdr *h = q->h;
    uint64_t want = q->limit / (4 * q->n_lanes);
    if (want < need)
        want = need;
    int rc = q_lock_take(q, &h->credit_lock, ts->me, timeout_ms);
    if (rc < 0)
        return rc;
    uint64_t pool;
    rc = q_pool(q, true, &pool);
    if (rc == 0 && pool < want) {
        /* Take from the other lanes: first what they hold and do not use
         * (pass 0), then, if that is not enough, half of what they hold
         * (pass 1: it comes to the pool as their consumers free it). A
         * lane whose claim is in progress is passed over. */
        uint64_t short_by = want - pool;
        for (int pass = 0; pass < 2 && short_by > 0; pass++) {
            for (uint32_t j = 1; j < q->n_lanes && short_by > 0; j++) {
                uint32_t l = (ts->plane + j) % q->n_lanes;
                struct q_lane *ln = &q->lanes[l];
                uint32_t z = 0;
                if (atomic_load_explicit(&ln->allot, memory_order_relaxed) == 0 ||
                    !atomic_compare_exchange_strong_explicit(
                        &ln->lock, &z, ts->me, memory_order_seq_cst, memory_order_relaxed))
                    continue;
                uint64_t e, u, a = atomic_load_explicit(&ln->allot, memory_order_relaxed);
                if (q_lane_eff(q, l, false, &e, &u) == 0) {
                    uint64_t take = a > u ? a - u : 0;
                    if (pass == 1)
                        take = a - a / 2;
                    if (take > short_by)
                        take = short_by;
                    atomic_store_explicit(&ln->allot, a - take, memory_order_relaxed);
                    uint64_t e2 = a - take > u ? a - take : u;
                    short_by -= e - e2 < short_by ? e - e2 : short_by;
                }
                q_lock_drop(&ln->lock);
            }
        }
        rc = q_pool(q, false, &pool);
    }
    int got = 0;
    uint64_t e = 0, u;
    if (rc == 0)
        rc = q_lane_eff(q, ts->plane, false, &e, &u);
    if (rc == 0 && pool >= need) {
        /* my lane's max(allot, used) grows by g: the sum stays <= limit */
        /* a batch, or as much as the lane has if that is more: a producer
         * that streams doubles its lane's share each time (a lone one soon
         * streams into the whole queue), one that put once holds a batch */
        uint64_t g = want > e ? want : e;
        if (g > pool)
            g = pool;
        atomic_store_explicit(&ts->pln->allot, e + g, memory_order_release);
        /* allot moved to my lane, the credit lock still mine */
        MPROC__KILL_POINT("queue.put.credit_held");
        got = 1;
    }
    q_lock_drop(&h->credit_lock);
    return rc < 0 ? rc : got;
}

/* A putter's re-check after need = 1 (see mproc__q_has_room): room in my
 * lane, or room in all lanes together (then allot is taken). */
static int q_has_room_mine(struct mproc_queue *q, struct q_ready *rd)
{
    struct q_tls *ts = rd->ts;
    struct q_lane *ln = ts->pln;
    uint64_t t = atomic_load_explicit(&ln->tail, memory_order_seq_cst);
    uint64_t r = mproc__q_sweep(q, ts->plane, 1024);
    uint64_t a = atomic_load_explicit(&ln->allot, memory_order_seq_cst);
    if (r > t)
        return Q_READY; /* moved under us: look again */
    uint64_t use = t + rd->k - r;
    if (use <= a && use <= q->limit)
        return Q_READY;
    if (use <= q->limit)
        return mproc__q_has_room(q, rd);
    rd->key = r;
    return atomic_load_explicit(&ln->head, memory_order_seq_cst) > r ? Q_INFLIGHT : Q_NOT_READY;
}

/* My lane has no room for k units: reclaim what consumers marked free,
 * take allot, or wait. 0 to try the claim again, or an error. */
static __attribute__((noinline)) int q_put_room(struct mproc_queue *q, struct q_tls *ts, uint64_t k,
                                                int timeout_ms, struct q_wait *w)
{
    struct q_lane *ln = ts->pln;
    for (;;) {
        uint64_t r = mproc__q_sweep(q, ts->plane, Q_SWEEP_BATCH);
        bool swept = r != ts->rel_cache;
        ts->rel_cache = r;
        uint64_t t = atomic_load_explicit(&ln->tail, memory_order_acquire);
        if (r > t || t - r > q->limit) {
            /* rel is read first: a sound lane never shows this twice */
            uint64_t r2 = atomic_load_explicit(&ln->rel, memory_order_acquire);
            uint64_t t2 = atomic_load_explicit(&ln->tail, memory_order_acquire);
            if (r2 == r && t2 == t)
                return MPROC_ECORRUPT;
            continue;
        }
        uint64_t a = atomic_load_explicit(&ln->allot, memory_order_acquire);
        uint64_t use = t + k - r;
        if (use <= q->limit && use <= a)
            return 0;
        if (swept)
            continue; /* reclaimed a batch, maybe not enough: sweep on */
        /* my lane's share of the sum is max(allot, used) already */
        uint64_t need = use - (a > t - r ? a : t - r);
        /* Allot is taken at once when that is fair (q_grow_worth); to use
         * room that other lanes hold, only by a putter that would sleep or
         * give up otherwise: under a steady stream each producer waits for
         * its own consumers instead of taking room back and forth. */
        struct q_ready room = {k, 0, ts};
        bool spinning = w->init && q_wait_spinning(w);
        bool last = timeout_ms == 0 || (w->init && !spinning);
        if (use <= q->limit && !spinning &&
            (q_grow_worth(q, need, a, k) || (last && mproc__q_has_room(q, &room) == Q_READY))) {
            int rc = q_grow(q, ts, need, timeout_ms);
            if (rc != 0)
                return rc < 0 ? rc : 0;
        }
        struct q_ready rd = {k, r, ts};
        if (timeout_ms == 0) {
            (void)q_has_room_mine(q, &rd);
            int rc = mproc__q_stuck(q, ts, rd.key);
            return rc < 0 ? rc : MPROC_EAGAIN;
        }
        return mproc__q_wait_round(q, ts, w, timeout_ms, false, q_has_room_mine, &rd);
    }
}

/* Claim k units for a message in my lane; on success my put intent is
 * HELD at *pos. The claim is made under the lane's lock (one CAS, the only
 * locked instruction of a put: it also orders the claim before the load of
 * get_need); a producer has a lane of its own while there are at least as
 * many lanes as producers. Inlined into put and reserve (as are publish
 * and the get side's claim): the calls and register saves were a fifth of
 * a put's instructions. */
static Q_INLINE int q_claim_put_loop(struct mproc_queue *q, struct q_tls *ts, uint64_t k,
                                     int timeout_ms, uint64_t *pos)
{
    struct q_hdr *h = q->h;
    struct q_part *p = ts->p;
    struct q_lane *ln = ts->pln;
    struct q_wait w = {0};
    uint64_t t;
    for (;;) {
        if (MPROC__UNLIKELY(atomic_load_explicit(&h->closed, memory_order_relaxed)))
            return MPROC_ECLOSED;
        int lrc = q_lock_take(q, &ln->lock, ts->me, timeout_ms);
        if (MPROC__UNLIKELY(lrc < 0))
            return lrc;
        t = atomic_load_explicit(&ln->tail, memory_order_relaxed);
        uint64_t a = atomic_load_explicit(&ln->allot, memory_order_relaxed);
        uint64_t r = ts->rel_cache;
        if (MPROC__LIKELY(r <= t && t + k - r <= a && t + k - r <= q->limit)) {
            /* the lane's lock held, room seen, nothing claimed */
            MPROC__KILL_POINT("queue.put.lane_locked");
            atomic_store_explicit(&p->put_k, (uint32_t)k | ts->pkl, memory_order_relaxed);
            atomic_store_explicit(&p->put_intent, t | Q_I_PENDING, memory_order_relaxed);
            atomic_store_explicit(&ln->tail, t + k, memory_order_release);
            atomic_store_explicit(&p->put_intent, t | Q_I_HELD, memory_order_relaxed);
            q_lock_drop(&ln->lock);
            break;
        }
        q_lock_drop(&ln->lock);
        int rc = q_put_room(q, ts, k, timeout_ms, &w);
        if (rc < 0)
            return rc;
    }
    /* Dekker with sleeping getters without a fence of our own: our seq_cst
     * CAS on the lane lock, then this seq_cst load of get_need; a getter
     * stores get_need = 1, then loads the lock and tail (q_has_msg). Either
     * it sees our claim in flight (and naps only briefly until we publish),
     * or we see it and wake it after publishing. */
    if (MPROC__UNLIKELY(atomic_load_explicit(&h->get_need, memory_order_seq_cst) != 0))
        ts->wake_getters = true;
    if (q->n_lanes > 1)
        q_claim_time(q, ts, t);
    if (MPROC__UNLIKELY(atomic_load_explicit(&h->closed, memory_order_seq_cst))) {
        /* shut down while we claimed: a getter may already have reported
         * the queue drained, so this message must not appear */
        q_publish(q, ts, ts->plane, ts->pdata, t, k, 0, Q_F_SKIP);
        return MPROC_ECLOSED;
    }
    uint64_t used = t + k - ts->rel_cache;
    if (MPROC__UNLIKELY(used > ts->hw)) {
        uint64_t r = atomic_load_explicit(&ln->rel, memory_order_relaxed);
        used = r <= t ? t + k - r : k;
        if (used > ts->hw) {
            ts->hw = used;
            atomic_store_explicit(&p->high_water, used, memory_order_relaxed);
        }
    }
    *pos = t;
    return 0;
}

/* On failure no intent of mine may stay behind (a repairer would take it
 * for a live claim and wait for us forever). */
static Q_INLINE int q_claim_put(struct mproc_queue *q, struct q_tls *ts, uint64_t k, int timeout_ms,
                                uint64_t *pos)
{
    int rc = q_claim_put_loop(q, ts, k, timeout_ms, pos);
    if (rc < 0)
        atomic_store_explicit(&ts->p->put_intent, Q_I_NONE, memory_order_release);
    return rc;
}

static Q_INLINE int q_put_prepare(struct mproc_queue *q, size_t len, int timeout_ms,
                                  struct q_tls **tsp, uint64_t *kp)
{
    int rc = q_check_common(q, timeout_ms);
    if (rc < 0)
        return rc;
    if (len > q->cap_bytes)
        return MPROC_EMSGSIZE;
    uint64_t k = q_units(q, len);
    if (k > q->limit)
        return MPROC_EMSGSIZE;
    struct q_tls *ts = q_tls(q);
    if (ts == NULL)
        return MPROC_ENOSPC;
    if (MPROC__UNLIKELY(ts->pln == NULL))
        mproc__q_choose_lane(q, ts);
    *tsp = ts;
    *kp = k;
    return 0;
}

int mproc_queue_put(mproc_queue *q, const void *buf, size_t len, int timeout_ms)
{
    struct q_tls *ts;
    uint64_t k, t;
    if (buf == NULL && len > 0)
        return MPROC_EINVAL;
    int rc = q_put_prepare(q, len, timeout_ms, &ts, &k);
    if (rc < 0)
        return rc;
    rc = q_claim_put(q, ts, k, timeout_ms, &t);
    if (rc < 0)
        return rc;
    MPROC__KILL_POINT("queue.put.reserved");
    unsigned char *dst = (unsigned char *)q_bslot(q, ts->pdata, t) + Q_HDR;
#ifdef MPROC_FAULT_INJECTION
    if (MPROC__UNLIKELY(mproc__kill_armed) && len > 0) {
        memcpy(dst, buf, len / 2);
        MPROC__KILL_POINT("queue.put.copying");
        memcpy(dst + len / 2, (const unsigned char *)buf + len / 2, len - len / 2);
    } else
#endif
        if (len > 0)
        memcpy(dst, buf, len);
    MPROC__KILL_POINT("queue.put.before_publish");
    q_publish(q, ts, ts->plane, ts->pdata, t, k, len, ts->ctf);
    return 0;
}

int mproc_queue_reserve(mproc_queue *q, size_t len, void **ptr, int timeout_ms)
{
    struct q_tls *ts;
    uint64_t k, t;
    if (ptr == NULL)
        return MPROC_EINVAL;
    int rc = q_put_prepare(q, len, timeout_ms, &ts, &k);
    if (rc < 0)
        return rc;
    if (ts->res)
        return MPROC_EBUSY;
    rc = q_claim_put(q, ts, k, timeout_ms, &t);
    if (rc < 0)
        return rc;
    MPROC__KILL_POINT("queue.put.reserved");
    ts->res = true;
    ts->res_pos = t;
    ts->res_k = (uint32_t)k;
    ts->res_lane = ts->plane;
    ts->res_ctf = ts->ctf;
    ts->res_len = len;
    *ptr = (unsigned char *)q_bslot(q, ts->pdata, t) + Q_HDR;
    return 0;
}

int mproc_queue_commit(mproc_queue *q, size_t len)
{
    int hc = q_check(q);
    if (hc < 0)
        return hc;
    struct q_tls *ts = q_tls(q);
    if (ts == NULL || !ts->res || len > ts->res_len)
        return MPROC_EINVAL;
    MPROC__KILL_POINT("queue.put.before_publish");
    ts->res = false;
    q_publish(q, ts, ts->res_lane, q_lbase(q, ts->res_lane), ts->res_pos, ts->res_k, len,
              ts->res_ctf);
    return 0;
}

int mproc_queue_cancel(mproc_queue *q)
{
    int hc = q_check(q);
    if (hc < 0)
        return hc;
    struct q_tls *ts = q_tls(q);
    if (ts == NULL || !ts->res)
        return MPROC_EINVAL;
    ts->res = false;
    q_publish(q, ts, ts->res_lane, q_lbase(q, ts->res_lane), ts->res_pos, ts->res_k, 0, Q_F_SKIP);
    return 0;
}

/* ------------------------------------------------------------------------
 * Consumers. */

enum q_get_mode { Q_GET_COPY, Q_GET_ALLOC, Q_GET_PEEK, Q_GET_VIEW };

struct q_got {
    uint64_t pos, k;
    size_t len;
    uint32_t lane;
    unsigned char *base; /* the lane's ring (q_lbase) */
};

/* The next lane to look at after lane l, none of those in `seen` (found
 * empty since the last wait): one whose summary bit is set, in turn from
 * l; every 64th look, any lane (a bit lost to a crash costs at most that).
 * -1 when there is none. One load of the summary word, which producers
 * write only when a lane goes from empty to not. */
static inline int q_next_lane(struct mproc_queue *q, struct q_tls *ts, uint32_t l, uint64_t seen)
{
    uint64_t c = atomic_load_explicit(&q->h->summary, memory_order_relaxed);
    if ((++ts->scans & 63) == 0)
        c = q->lanes_mask;
    c &= q->lanes_mask & ~seen;
    if (c == 0)
        return -1;
    uint64_t after = c & (~0ull << l);
    return __builtin_ctzll(after ? after : c);
}

/* The time of the message at the head hd of lane l, seen published with
 * flags fl: 0 without Q_F_TS. */
static uint64_t q_head_time(struct mproc_queue *q, uint32_t l, uint64_t hd, uint32_t fl)
{
    if (!(fl & Q_F_TS) || (fl & (Q_F_LOST | Q_F_SKIP)))
        return 0;
    return atomic_load_explicit(q_time(q, l, hd), memory_order_relaxed);
}

static int q_older_lane_slow(struct mproc_queue *q, uint32_t l, uint64_t hd, uint32_t fl,
                             uint64_t others)
{
    uint64_t best = q_head_time(q, l, hd, fl);
    uint32_t bl = l;
    while (others != 0) {
        uint32_t j = (uint32_t)__builtin_ctzll(others);
        others &= others - 1;
        uint64_t hj = atomic_load_explicit(&q->lanes[j].head, memory_order_acquire);
        struct q_entry *e = q_slot(q, j, hj);
        if (Q_ENTRY_LOAD(&e->stamp, memory_order_acquire) != Q_PUB(q, hj))
            continue;
        uint64_t tj =
            q_head_time(q, j, hj, Q_META_FLAGS(Q_ENTRY_LOAD(&e->meta, memory_order_relaxed)));
        if (tj < best || (tj == best && j < bl)) {
            best = tj;
            bl = j;
        }
    }
    return bl == l ? -1 : (int)bl;
}

/* Before taking the head hd of lane l (published, flags fl): a lane whose
 * head is older, or -1 (see "Causal order" at the top). Called after the
 * acquire load of hd's stamp. */
static Q_INLINE int q_older_lane(struct mproc_queue *q, uint32_t l, uint64_t hd, uint32_t fl)
{
    if (MPROC__LIKELY(!(fl & Q_F_TS)))
        return -1;
    uint64_t s;
    uint64_t others = q_summary_clean(q, &s) ? s : ~0ull;
    others &= q->lanes_mask & ~(1ull << l);
    if (others == 0)
        return -1;
    return q_older_lane_slow(q, l, hd, fl, others);
}

/* Every 64th message a getter moves on to the next lane that may hold
 * messages: a lane that never runs dry does not keep its getters from the
 * others (and getters spread over the lanes). */
static void q_rotate(struct mproc_queue *q, struct q_tls *ts, uint32_t l)
{
    uint64_t c =
        atomic_load_explicit(&q->h->summary, memory_order_relaxed) & q->lanes_mask & ~(1ull << l);
    if (c != 0) {
        uint64_t after = c & (~0ull << l);
        ts->glane = (uint32_t)__builtin_ctzll(after ? after : c);
    }
}

/* Every lane empty, its lock free: after shutdown, drained for good (a put
 * that claims after the caller saw `closed` publishes a skipped record). */
static bool q_drained(struct mproc_queue *q)
{
    for (uint32_t l = 0; l < q->n_lanes; l++) {
        struct q_lane *ln = &q->lanes[l];
        if (atomic_load_explicit(&ln->lock, memory_order_seq_cst) != 0 ||
            atomic_load_explicit(&ln->tail, memory_order_seq_cst) !=
                atomic_load_explicit(&ln->head, memory_order_seq_cst))
            return false;
    }
    return true;
}

/* Find and (unless peeking) claim the next real message; skips LOST and
 * cancelled records. A getter stays on the lane it last took from while
 * that has messages, then looks at the others (q_next_lane). On success
 * with a claim, my get intent is HELD. */
static Q_INLINE int q_claim_get_loop(struct mproc_queue *q, struct q_tls *ts, enum q_get_mode mode,
                                     size_t cap, int timeout_ms, struct q_got *got)
{
    struct q_hdr *h = q->h;
    struct q_part *p = ts->p;
    struct q_wait w = {0};
    uint32_t l = ts->glane;
    struct q_lane *ln = &q->lanes[l];
    unsigned char *base = q_lbase(q, l);
    uint64_t seen = 0;
    uint64_t hd = atomic_load_explicit(&ln->head, memory_order_relaxed);
    for (;;) {
        struct q_entry *e = q_bslot(q, base, hd);
        uint64_t s = Q_ENTRY_LOAD(&e->stamp, memory_order_acquire);
        if (MPROC__LIKELY(s == Q_PUB(q, hd))) {
            uint64_t m = Q_ENTRY_LOAD(&e->meta, memory_order_relaxed);
            uint64_t k = Q_META_UNITS(m);
            size_t len = Q_META_LEN(m);
            uint32_t fl = Q_META_FLAGS(m);
            if (MPROC__UNLIKELY(k == 0 || k > q->limit || len > q->cap_bytes ||
                                len + Q_HDR > (k << q->unit_shift) ||
                                (fl & ~(Q_F_LOST | Q_F_SKIP | Q_F_TS)))) {
                uint64_t h2 = atomic_load_explicit(&ln->head, memory_order_acquire);
                if (h2 == hd)
                    return MPROC_ECORRUPT;
                hd = h2;
                continue;
            }
            bool skip = (fl & (Q_F_LOST | Q_F_SKIP)) != 0;
            if (q->n_lanes > 1 && !skip) {
                /* causal order: an older message at another lane's head
                 * goes first (see "Causal order" above) */
                int ol = q_older_lane(q, l, hd, fl);
                if (MPROC__UNLIKELY(ol >= 0)) {
                    l = (uint32_t)ol;
                    ln = &q->lanes[l];
                    base = q_lbase(q, l);
                    hd = atomic_load_explicit(&ln->head, memory_order_acquire);
                    continue;
                }
            }
            if (!skip) {
                if (mode == Q_GET_PEEK) {
                    ts->glane = l;
                    got->len = len;
                    return 0;
                }
                if (mode == Q_GET_COPY && len > cap)
                    return MPROC_EMSGSIZE;
            }
            atomic_store_explicit(&p->get_k, Q_K(k, l), memory_order_relaxed);
            atomic_store_explicit(&p->get_intent, hd | Q_I_PENDING, memory_order_relaxed);
            if (!atomic_compare_exchange_weak_explicit(&ln->head, &hd, hd + k, memory_order_seq_cst,
                                                       memory_order_relaxed))
                continue;
            atomic_store_explicit(&p->get_intent, hd | Q_I_HELD, memory_order_relaxed);
            /* Dekker with sleeping putters, riding on the CAS on head (see
             * mproc__q_has_room): wake them once this space is marked free */
            if (MPROC__UNLIKELY(atomic_load_explicit(&h->put_need, memory_order_seq_cst) != 0))
                ts->wake_putters = true;
            if (skip) {
                mproc__q_release(q, l, hd, k);
                atomic_store_explicit(&p->get_intent, Q_I_NONE, memory_order_release);
                hd += k;
                continue;
            }
            ts->glane = l;
            if (MPROC__UNLIKELY((++ts->gets & 63) == 0) && q->n_lanes > 1)
                q_rotate(q, ts, l);
            got->pos = hd;
            got->k = k;
            got->len = len;
            got->lane = l;
            got->base = base;
            return 0;
        }
        uint64_t h2 = atomic_load_explicit(&ln->head, memory_order_acquire);
        if (h2 != hd) {
            hd = h2;
            continue;
        }
        /* Nothing published at this lane's head: empty, or a put in flight.
         * Look at the other lanes that may hold messages. */
        if (q->n_lanes > 1) {
            seen |= 1ull << l;
            int nl = q_next_lane(q, ts, l, seen);
            if (nl >= 0) {
                l = (uint32_t)nl;
                ln = &q->lanes[l];
                base = q_lbase(q, l);
                hd = atomic_load_explicit(&ln->head, memory_order_relaxed);
                continue;
            }
        }
        /* While spinning only the slots are watched: reading tail would
         * pull the producers' line away from them on every message. */
        int rc;
        struct q_ready rd = {0, 0, ts};
        if (timeout_ms != 0 && q_wait_spinning(&w) &&
            !atomic_load_explicit(&h->closed, memory_order_relaxed)) {
            atomic_store_explicit(&p->get_intent, Q_I_NONE, memory_order_relaxed);
            rc = mproc__q_wait_round(q, ts, &w, timeout_ms, true, mproc__q_has_msg, &rd);
        } else if (timeout_ms == 0 && !atomic_load_explicit(&h->closed, memory_order_relaxed)) {
            /* Try once. Callers that poll in a loop must still get past a
             * dead putter's slot, so now and then look at the tails (not
             * every time: those lines are the producers'). */
            if ((++ts->poll_misses & 63) == 0) {
                bool inflight;
                uint64_t key = mproc__q_heads(q, &inflight);
                if (inflight && (rc = mproc__q_stuck(q, ts, key)) < 0)
                    return rc;
            }
            return MPROC_EAGAIN;
        } else {
            if (atomic_load_explicit(&h->closed, memory_order_seq_cst) && q_drained(q)) {
                /* A put that claims after this point sees closed and
                 * publishes a skipped record instead (q_claim_put), so
                 * empty now means drained for good. */
                return MPROC_ECLOSED;
            }
            if (timeout_ms == 0)
                return MPROC_EAGAIN; /* closed, but a put is still in flight */
            atomic_store_explicit(&p->get_intent, Q_I_NONE, memory_order_relaxed);
            rc = mproc__q_wait_round(q, ts, &w, timeout_ms, true, mproc__q_has_msg, &rd);
        }
        if (rc < 0)
            return rc;
        seen = 0;
        l = ts->glane;
        ln = &q->lanes[l];
        base = q_lbase(q, l);
        hd = atomic_load_explicit(&ln->head, memory_order_relaxed);
    }
}

static Q_INLINE int q_claim_get(struct mproc_queue *q, struct q_tls *ts, enum q_get_mode mode,
                                size_t cap, int timeout_ms, struct q_got *got)
{
    int rc = q_claim_get_loop(q, ts, mode, cap, timeout_ms, got);
    if (rc < 0 || mode == Q_GET_PEEK)
        atomic_store_explicit(&ts->p->get_intent, Q_I_NONE, memory_order_release);
    return rc;
}

/* Release [pos, ...) of lane l: mark the slot CONSUMED (release order: my
 * reads of the data come first); producers reclaim the space when they
 * sweep. No locked instruction unless a putter sleeps. */
static inline void q_mark_consumed(struct mproc_queue *q, struct q_tls *ts, uint32_t l,
                                   unsigned char *base, uint64_t pos)
{
    (void)l;
    Q_TSAN_RELEASE(q, l);
    atomic_store_explicit(&q_bslot(q, base, pos)->stamp, Q_CONSUMED(q, pos), memory_order_release);
    if (MPROC__UNLIKELY(ts->wake_putters)) {
        ts->wake_putters = false;
        q_wake_nofence(&q->h->put_need, &q->h->put_futex);
    }
}

static Q_INLINE void q_get_done(struct mproc_queue *q, struct q_tls *ts, const struct q_got *g)
{
    MPROC__KILL_POINT("queue.get.before_release");
    bump(&ts->p->gets, 1);
    bump(&ts->p->bytes_out, g->len);
    q_mark_consumed(q, ts, g->lane, g->base, g->pos);
    atomic_store_explicit(&ts->p->get_intent, Q_I_NONE, memory_order_release);
}

static Q_INLINE void q_copy_out(struct mproc_queue *q, void *dst, const struct q_got *g)
{
    const unsigned char *src = (unsigned char *)q_bslot(q, g->base, g->pos) + Q_HDR;
#ifdef MPROC_FAULT_INJECTION
    if (MPROC__UNLIKELY(mproc__kill_armed) && g->len > 0) {
        memcpy(dst, src, g->len / 2);
        MPROC__KILL_POINT("queue.get.copying");
        memcpy((unsigned char *)dst + g->len / 2, src + g->len / 2, g->len - g->len / 2);
        return;
    }
#endif
    if (g->len > 0)
        memcpy(dst, src, g->len);
}

static Q_INLINE int q_get_prepare(struct mproc_queue *q, int timeout_ms, struct q_tls **tsp)
{
    int rc = q_check_common(q, timeout_ms);
    if (rc < 0)
        return rc;
    struct q_tls *ts = q_tls(q);
    if (ts == NULL)
        return MPROC_ENOSPC;
    *tsp = ts;
    return 0;
}

ssize_t mproc_queue_get(mproc_queue *q, void *buf, size_t cap, int timeout_ms)
{
    struct q_tls *ts;
    struct q_got g;
    if (buf == NULL && cap > 0)
        return MPROC_EINVAL;
    int rc = q_get_prepare(q, timeout_ms, &ts);
    if (rc < 0)
        return rc;
    rc = q_claim_get(q, ts, Q_GET_COPY, cap, timeout_ms, &g);
    if (rc < 0)
        return rc;
    MPROC__KILL_POINT("queue.get.claimed");
    q_copy_out(q, buf, &g);
    q_get_done(q, ts, &g);
    return (ssize_t)g.len;
}

ssize_t mproc_queue_get_alloc(mproc_queue *q, void **out, int timeout_ms)
{
    struct q_tls *ts;
    struct q_got g;
    if (out == NULL)
        return MPROC_EINVAL;
    int rc = q_get_prepare(q, timeout_ms, &ts);
    if (rc < 0)
        return rc;
    /* Allocate for the size announced by a peek, then claim only a message
     * that fits: another consumer may take the peeked one. */
    void *buf = NULL;
    size_t have = 0;
    for (;;) {
        rc = q_claim_get(q, ts, Q_GET_PEEK, 0, timeout_ms, &g);
        if (rc < 0)
            break;
        if (g.len + 1 > have) {
            void *nb = realloc(buf, g.len + 1);
            if (nb == NULL) {
                rc = MPROC_ENOMEM;
                break;
            }
            buf = nb;
            have = g.len + 1;
        }
        rc = q_claim_get(q, ts, Q_GET_COPY, have, timeout_ms, &g);
        if (rc == MPROC_EMSGSIZE)
            continue;
        break;
    }
    if (rc < 0) {
        free(buf);
        return rc;
    }
    MPROC__KILL_POINT("queue.get.claimed");
    q_copy_out(q, buf, &g);
    q_get_done(q, ts, &g);
    *out = buf;
    return (ssize_t)g.len;
}

ssize_t mproc_queue_peek_size(mproc_queue *q, int timeout_ms)
{
    struct q_tls *ts;
    struct q_got g;
    int rc = q_get_prepare(q, timeout_ms, &ts);
    if (rc < 0)
        return rc;
    rc = q_claim_get(q, ts, Q_GET_PEEK, 0, timeout_ms, &g);
    return rc < 0 ? rc : (ssize_t)g.len;
}

ssize_t mproc_queue_get_view(mproc_queue *q, const void **ptr, int timeout_ms)
{
    struct q_tls *ts;
    struct q_got g;
    if (ptr == NULL)
        return MPROC_EINVAL;
    int rc = q_get_prepare(q, timeout_ms, &ts);
    if (rc < 0)
        return rc;
    if (ts->view)
        return MPROC_EBUSY;
    rc = q_claim_get(q, ts, Q_GET_VIEW, 0, timeout_ms, &g);
    if (rc < 0)
        return rc;
    MPROC__KILL_POINT("queue.get.claimed");
    ts->view = true;
    ts->view_pos = g.pos;
    ts->view_k = (uint32_t)g.k;
    ts->view_lane = g.lane;
    ts->view_len = g.len;
    *ptr = q_payload(q, g.lane, g.pos);
    return (ssize_t)g.len;
}

int mproc_queue_release_view(mproc_queue *q)
{
    int hc = q_check(q);
    if (hc < 0)
        return hc;
    struct q_tls *ts = q_tls(q);
    if (ts == NULL || !ts->view)
        return MPROC_EINVAL;
    ts->view = false;
    MPROC__KILL_POINT("queue.get.before_release");
    /* counted as taken only now: a viewer that dies first loses it */
    bump(&ts->p->gets, 1);
    bump(&ts->p->bytes_out, ts->view_len);
    q_mark_consumed(q, ts, ts->view_lane, q_lbase(q, ts->view_lane), ts->view_pos);
    atomic_store_explicit(&ts->p->get_intent, Q_I_NONE, memory_order_release);
    return 0;
}

/* ------------------------------------------------------------------------
 * Close, joinable, sizes. */

int mproc_queue_shutdown(mproc_queue *q)
{
    int hc = q_check(q);
    if (hc < 0)
        return hc;
    struct q_hdr *h = q->h;
    atomic_store_explicit(&h->closed, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&h->get_futex, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&h->put_futex, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&h->join_futex, 1, memory_order_seq_cst);
    mproc__futex_wake(&h->get_futex, INT_MAX);
    mproc__futex_wake(&h->put_futex, INT_MAX);
    mproc__futex_wake(&h->join_futex, INT_MAX);
    return 0;
}

/* Tasks not yet matched by task_done: >= 0, or MPROC_ECORRUPT. */
static int64_t q_unfinished(struct mproc_queue *q)
{
    struct mproc_queue_stats st;
    int rc = mproc__q_stats_sum(q, &st);
    return rc < 0 ? rc : (int64_t)st.unfinished;
}

int mproc_queue_task_done(mproc_queue *q)
{
    int hc = q_check(q);
    if (hc < 0)
        return hc;
    if (!(q->flags & MPROC_QUEUE_JOINABLE))
        return MPROC_ENOTSUP;
    struct q_tls *ts = q_tls(q);
    if (ts == NULL)
        return MPROC_ENOSPC;
    int64_t left = q_unfinished(q);
    if (left < 0)
        return (int)left;
    if (left == 0)
        return MPROC_ERANGE;
    bump(&ts->p->task_done, 1);
    /* an RMW, not a plain load: it orders my counter store before the look */
    if (atomic_fetch_add_explicit(&q->h->join_waiters, 0, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&q->h->join_futex, 1, memory_order_seq_cst);
        mproc__futex_wake(&q->h->join_futex, INT_MAX);
    }
    return 0;
}

int mproc_queue_join(mproc_queue *q, int timeout_ms)
{
    int rc = q_check_common(q, timeout_ms);
    if (rc < 0)
        return rc;
    if (!(q->flags & MPROC_QUEUE_JOINABLE))
        return MPROC_ENOTSUP;
    struct mproc__deadline dl;
    if ((rc = mproc__deadline_init(&dl, timeout_ms)) < 0)
        return rc;
    struct q_hdr *h = q->h;
    for (;;) {
        int64_t left = q_unfinished(q);
        if (left <= 0)
            return (int)left;
        if (timeout_ms == 0)
            return MPROC_EAGAIN;
        uint32_t v = atomic_load_explicit(&h->join_futex, memory_order_seq_cst);
        atomic_fetch_add_explicit(&h->join_waiters, 1, memory_order_seq_cst);
        left = q_unfinished(q);
        if (left > 0)
            rc = mproc__futex_wait_capped(&h->join_futex, v, &dl, Q_NAP_MS);
        atomic_fetch_sub_explicit(&h->join_waiters, 1, memory_order_seq_cst);
        if (left < 0)
            return (int)left;
        if (rc == MPROC_ETIMEDOUT) {
            left = q_unfinished(q);
            return left <= 0 ? (int)left : rc;
        }
    }
}

ssize_t mproc_queue_qsize(const mproc_queue *q)
{
    int hc = q_check(q);
    if (hc < 0)
        return hc;
    struct mproc_queue_stats st;
    int rc = mproc__q_stats_sum((struct mproc_queue *)q, &st);
    return rc < 0 ? rc : (ssize_t)st.msgs;
}

int mproc_queue_empty(const mproc_queue *q)
{
    ssize_t n = mproc_queue_qsize(q);
    return n < 0 ? (int)n : n == 0;
}

int mproc_queue_full(const mproc_queue *q)
{
    int hc = q_check(q);
    if (hc < 0)
        return hc;
    uint64_t used;
    int rc = mproc__q_used((struct mproc_queue *)q, &used);
    if (rc < 0)
        return rc;
    return used + q->min_units > q->limit;
}

ssize_t mproc_queue_capacity(const mproc_queue *q)
{
    int rc = q_check(q);
    return rc < 0 ? rc : (ssize_t)q->cap_bytes;
}
