/* queue/recover.c - repairing positions orphaned by dead participants.
 *
 * Runs only on slow paths: a getter that found nothing published at head
 * while tail > head, or a putter that found the ring full, for ~50 ms
 * without progress; and mproc_queue_stats. Repairs are serialised by
 * q_hdr.repair_lock (the tid of the repairer; a dead holder's lock is
 * taken over by CAS), so a repair never races another repair.
 *
 * Two frontiers can be stuck:
 *  head h, tail > h, stamp(h) != PUB(h): someone claimed [h, h+k) and has
 *     not published. Every claimer recorded put_intent = (h, PENDING) and
 *     put_k = k before its CAS (release order through the CAS on tail, which
 *     we read with acquire), then (h, HELD) after it, and clears the intent
 *     (release) only after publishing. So if no LIVE participant has an
 *     intent on h, the claimer is dead: it is a dead record with an intent on
 *     h (HELD preferred; a PENDING one can only be the claimer or one whose
 *     CAS failed on the same h, and if they all agree on k the k is right).
 *     We re-read stamp(h) after the scan (a live putter that published and
 *     cleared its intent is then seen as published), and publish a record
 *     flagged LOST with that k: getters skip it. lost_put++.
 *     While a live participant has an intent on h we do nothing: it may be
 *     between recording the intent and its CAS, or simply slow.
 *  rel r < head, stamp(r) == PUB(r) (after sweeping every CONSUMED mark):
 *     a consumer claimed the message at r and has not released it. The same
 *     argument on get_intent: if no live participant has an intent on r and
 *     a dead one has, we mark r CONSUMED (mproc__q_release) and count
 *     lost_get++ (unless it was a LOST/skipped record, which is not a
 *     message).
 * Under the lock nothing else writes slot(h)/slot(r): the dead cannot, a
 * live putter of position h + N would need rel > h first, and other
 * repairers wait for the lock.
 *
 * All of this per lane: an intent names its lane (Q_K_LANE of its k word),
 * and each lane's frontiers are repaired on their own.
 *
 * Lane and credit locks (queue.c) name their holder's record; a dead
 * holder's lock is freed here (its sections leave every word consistent:
 * each is a single store). The summary bit of every lane with a message or
 * a claim is set (a producer killed between publishing and setting it, or a
 * getter killed between clearing it and its re-check, leave it clear).
 *
 * Finally records of dead processes whose intents are resolved (the
 * position is behind the frontier, or the claim never happened) are folded
 * into the retired totals and freed - after the locks they held are freed,
 * so that a lock never names a record reused by a live thread; a record
 * with an unresolved intent is kept until the frontier reaches its position.
 */
#include "queue_internal.h"

enum { Q_OWNER_NONE, Q_OWNER_LIVE, Q_OWNER_DEAD };

/* Who holds an intent on pos of lane l? For a dead holder, *k gets its k (0
 * if dead holders disagree). put: intents on puts, else gets. */
static int q_find_owner(struct mproc_queue *q, uint32_t l, uint64_t pos, bool put, uint64_t *k,
                        struct q_part **dead)
{
    int res = Q_OWNER_NONE;
    uint64_t best_k = 0;
    bool held = false, disagree = false;
    *dead = NULL;
    for (unsigned i = 0; i < q->n_parts; i++) {
        struct q_part *p = &q->parts[i];
        uint64_t owner = atomic_load_explicit(&p->owner, memory_order_acquire);
        if (owner == 0)
            continue;
        uint64_t w =
            atomic_load_explicit(put ? &p->put_intent : &p->get_intent, memory_order_acquire);
        if (Q_I_STATE(w) == Q_I_NONE || Q_I_POS(w) != pos)
            continue;
        uint32_t kw = atomic_load_explicit(put ? &p->put_k : &p->get_k, memory_order_relaxed);
        if (Q_K_LANE(kw) != l)
            continue;
        uint64_t pk = Q_K_UNITS(kw);
        if (mproc__q_part_alive(p, owner))
            return Q_OWNER_LIVE;
        res = Q_OWNER_DEAD;
        bool is_held = Q_I_STATE(w) == Q_I_HELD;
        if (is_held && !held) {
            held = true;
            best_k = pk;
            disagree = false;
            *dead = p;
        } else if (is_held == held) {
            if (best_k == 0) {
                best_k = pk;
                *dead = p;
            } else if (pk != best_k)
                disagree = true;
        }
    }
    *k = disagree ? 0 : best_k;
    return res;
}

static bool q_lock(struct q_hdr *h)
{
    uint32_t me = (uint32_t)mproc__self_tid();
    uint32_t cur = 0;
    if (atomic_compare_exchange_strong(&h->repair_lock, &cur, me))
        return true;
    if (cur == me || mproc__tid_alive((pid_t)cur))
        return false;
    return atomic_compare_exchange_strong(&h->repair_lock, &cur, me);
}

static void q_unlock(struct q_hdr *h)
{
    atomic_store_explicit(&h->repair_lock, 0, memory_order_release);
}

/* Repair lane l's head frontier; 1 if repaired, 0 if not, or ECORRUPT. */
static int q_repair_head(struct mproc_queue *q, uint32_t l)
{
    struct q_hdr *h = q->h;
    struct q_lane *ln = &q->lanes[l];
    uint64_t hd = atomic_load(&ln->head);
    uint64_t t = atomic_load(&ln->tail);
    if (t <= hd)
        return 0;
    if (t - hd > q->limit)
        return MPROC_ECORRUPT;
    struct q_entry *e = q_slot(q, l, hd);
    if (Q_ENTRY_LOAD(&e->stamp, memory_order_seq_cst) == Q_PUB(q, hd))
        return 0;
    uint64_t k;
    struct q_part *dead;
    if (q_find_owner(q, l, hd, true, &k, &dead) != Q_OWNER_DEAD)
        return 0;
    if (k == 0 || k > t - hd)
        return MPROC_ECORRUPT;
    if (Q_ENTRY_LOAD(&e->stamp, memory_order_seq_cst) == Q_PUB(q, hd) ||
        atomic_load(&ln->head) != hd)
        return 0;
    atomic_store_explicit(&e->meta, Q_META(0, k, Q_F_LOST), memory_order_relaxed);
    atomic_store_explicit(&e->stamp, Q_PUB(q, hd), memory_order_seq_cst);
    atomic_fetch_add(&h->lost_put, 1);
    atomic_store(&dead->put_intent, Q_I_NONE);
    if (q->n_lanes > 1)
        q_summary_set(q, l);
    mproc__q_wake_getters(q);
    return 1;
}

/* Repair lane l's rel frontier; 1 if repaired, 0 if not, or ECORRUPT. */
static int q_repair_rel(struct mproc_queue *q, uint32_t l)
{
    struct q_hdr *h = q->h;
    struct q_lane *ln = &q->lanes[l];
    uint64_t r = mproc__q_sweep(q, l, UINT32_MAX);
    uint64_t hd = atomic_load(&ln->head);
    if (hd <= r)
        return 0;
    if (hd - r > q->limit)
        return MPROC_ECORRUPT;
    struct q_entry *e = q_slot(q, l, r);
    uint64_t s = Q_ENTRY_LOAD(&e->stamp, memory_order_seq_cst);
    if (s == Q_CONSUMED(q, r)) /* marked since our sweep: sweep again */
        return mproc__q_sweep(q, l, UINT32_MAX) != r;
    if (s != Q_PUB(q, r))
        return 0;
    uint64_t k;
    struct q_part *dead;
    if (q_find_owner(q, l, r, false, &k, &dead) != Q_OWNER_DEAD)
        return 0;
    if (Q_ENTRY_LOAD(&e->stamp, memory_order_seq_cst) != Q_PUB(q, r) || atomic_load(&ln->rel) != r)
        return 0;
    uint64_t m = Q_ENTRY_LOAD(&e->meta, memory_order_seq_cst);
    uint64_t units = Q_META_UNITS(m);
    if (units == 0 || units > hd - r)
        return MPROC_ECORRUPT;
    if ((Q_META_FLAGS(m) & (Q_F_LOST | Q_F_SKIP)) == 0)
        atomic_fetch_add(&h->lost_get, 1);
    atomic_store(&dead->get_intent, Q_I_NONE);
    mproc__q_release(q, l, r, units);
    return 1;
}

/* A lane the intent word kw names; an impossible one (garbage) counts as
 * resolved: there is no such position to wait for. */
static bool q_put_resolved(struct mproc_queue *q, uint64_t w, uint32_t kw)
{
    if (Q_I_STATE(w) == Q_I_NONE || Q_K_LANE(kw) >= q->n_lanes)
        return true;
    uint32_t l = Q_K_LANE(kw);
    struct q_lane *ln = &q->lanes[l];
    uint64_t pos = Q_I_POS(w);
    if (pos < atomic_load(&ln->head))
        return true;
    if (Q_I_STATE(w) == Q_I_PENDING && atomic_load(&ln->tail) <= pos && atomic_load(&ln->lock) == 0)
        return true; /* the claim never happened, and never will */
    return Q_ENTRY_LOAD(&q_slot(q, l, pos)->stamp, memory_order_seq_cst) == Q_PUB(q, pos);
}

static bool q_get_resolved(struct mproc_queue *q, uint64_t w, uint32_t kw)
{
    if (Q_I_STATE(w) == Q_I_NONE || Q_K_LANE(kw) >= q->n_lanes)
        return true;
    uint32_t l = Q_K_LANE(kw);
    struct q_lane *ln = &q->lanes[l];
    uint64_t pos = Q_I_POS(w);
    if (pos < atomic_load(&ln->rel) ||
        Q_ENTRY_LOAD(&q_slot(q, l, pos)->stamp, memory_order_seq_cst) == Q_CONSUMED(q, pos))
        return true;
    return Q_I_STATE(w) == Q_I_PENDING && atomic_load(&ln->head) <= pos;
}

/* Free the lane and credit locks that name a dead holder. */
static void q_free_dead_locks(struct mproc_queue *q)
{
    for (uint32_t l = 0; l <= q->n_lanes; l++) {
        _Atomic uint32_t *lk = l < q->n_lanes ? &q->lanes[l].lock : &q->h->credit_lock;
        uint32_t v = atomic_load(lk);
        if (v != 0 && mproc__q_lock_dead(q, v))
            atomic_compare_exchange_strong(lk, &v, 0);
    }
}

/* Set the summary bit of every lane that holds a claim or a message. */
static void q_fix_summary(struct mproc_queue *q)
{
    if (q->n_lanes < 2)
        return;
    for (uint32_t l = 0; l < q->n_lanes; l++)
        if (atomic_load(&q->lanes[l].tail) > atomic_load(&q->lanes[l].head))
            q_summary_set(q, l);
}

static void q_reclaim(struct mproc_queue *q)
{
    struct q_hdr *h = q->h;
    for (unsigned i = 0; i < q->n_parts; i++) {
        struct q_part *p = &q->parts[i];
        uint64_t owner = atomic_load(&p->owner);
        if (owner == 0 || mproc__q_part_alive(p, owner))
            continue;
        if (q_put_resolved(q, atomic_load(&p->put_intent), atomic_load(&p->put_k)) &&
            q_get_resolved(q, atomic_load(&p->get_intent), atomic_load(&p->get_k))) {
            /* no lock may name a record that a live thread could reuse */
            uint32_t me = i + 1;
            for (uint32_t l = 0; l <= q->n_lanes; l++) {
                _Atomic uint32_t *lk = l < q->n_lanes ? &q->lanes[l].lock : &h->credit_lock;
                uint32_t v = me;
                atomic_compare_exchange_strong(lk, &v, 0);
            }
            mproc__q_part_free(h, p);
        }
    }
}

int mproc__q_recover(struct mproc_queue *q)
{
    struct q_hdr *h = q->h;
    if (!q_lock(h))
        return 0;
    int total = 0, rc = 0;
    q_free_dead_locks(q);
    for (uint32_t l = 0; l < q->n_lanes && rc == 0; l++) {
        for (int round = 0; round < 64; round++) {
            int a = q_repair_head(q, l);
            int b = a < 0 ? 0 : q_repair_rel(q, l);
            if (a < 0 || b < 0) {
                rc = a < 0 ? a : b;
                break;
            }
            if (a + b == 0)
                break;
            total += a + b;
        }
    }
    q_fix_summary(q);
    q_reclaim(q);
    q_unlock(h);
    return rc < 0 ? rc : total;
}
