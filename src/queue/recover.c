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
 * Finally records of dead processes whose intents are resolved (the
 * position is behind the frontier, or the claim never happened) are folded
 * into the retired totals and freed; a record with an unresolved intent is
 * kept until the frontier reaches its position.
 */
#include "queue_internal.h"

enum { Q_OWNER_NONE, Q_OWNER_LIVE, Q_OWNER_DEAD };

/* Who holds an intent on pos? For a dead holder, *k gets its k (0 if dead
 * holders disagree). put: intents on puts, else gets. */
static int q_find_owner(struct mproc_queue *q, uint64_t pos, bool put, uint64_t *k,
                        struct q_part **dead)
{
    struct q_hdr *h = q->h;
    int res = Q_OWNER_NONE;
    uint64_t best_k = 0;
    bool held = false, disagree = false;
    *dead = NULL;
    for (unsigned i = 0; i < q->n_parts; i++) {
        struct q_part *p = &h->parts[i];
        uint64_t owner = atomic_load_explicit(&p->owner, memory_order_acquire);
        if (owner == 0)
            continue;
        uint64_t w =
            atomic_load_explicit(put ? &p->put_intent : &p->get_intent, memory_order_acquire);
        if (Q_I_STATE(w) == Q_I_NONE || Q_I_POS(w) != pos)
            continue;
        uint64_t pk = atomic_load_explicit(put ? &p->put_k : &p->get_k, memory_order_relaxed);
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

/* Repair the head frontier; 1 if repaired, 0 if not, or ECORRUPT. */
static int q_repair_head(struct mproc_queue *q)
{
    struct q_hdr *h = q->h;
    uint64_t hd = atomic_load(&h->head);
    uint64_t t = atomic_load(&h->tail);
    if (t <= hd)
        return 0;
    if (t - hd > q->limit)
        return MPROC_ECORRUPT;
    struct q_entry *e = q_slot(q, hd);
    if (Q_ENTRY_LOAD(&e->stamp, memory_order_seq_cst) == Q_PUB(q, hd))
        return 0;
    uint64_t k;
    struct q_part *dead;
    if (q_find_owner(q, hd, true, &k, &dead) != Q_OWNER_DEAD)
        return 0;
    if (k == 0 || k > t - hd)
        return MPROC_ECORRUPT;
    if (Q_ENTRY_LOAD(&e->stamp, memory_order_seq_cst) == Q_PUB(q, hd) ||
        atomic_load(&h->head) != hd)
        return 0;
    atomic_store_explicit(&e->meta, Q_META(0, k, Q_F_LOST), memory_order_relaxed);
    atomic_store_explicit(&e->stamp, Q_PUB(q, hd), memory_order_seq_cst);
    atomic_fetch_add(&h->lost_put, 1);
    atomic_store(&dead->put_intent, Q_I_NONE);
    mproc__q_wake_getters(q);
    return 1;
}

/* Repair the rel frontier; 1 if repaired, 0 if not, or ECORRUPT. */
static int q_repair_rel(struct mproc_queue *q)
{
    struct q_hdr *h = q->h;
    uint64_t r = mproc__q_sweep(q, UINT32_MAX);
    uint64_t hd = atomic_load(&h->head);
    if (hd <= r)
        return 0;
    if (hd - r > q->limit)
        return MPROC_ECORRUPT;
    struct q_entry *e = q_slot(q, r);
    uint64_t s = Q_ENTRY_LOAD(&e->stamp, memory_order_seq_cst);
    if (s == Q_CONSUMED(q, r)) /* marked since our sweep: sweep again */
        return mproc__q_sweep(q, UINT32_MAX) != r;
    if (s != Q_PUB(q, r))
        return 0;
    uint64_t k;
    struct q_part *dead;
    if (q_find_owner(q, r, false, &k, &dead) != Q_OWNER_DEAD)
        return 0;
    if (Q_ENTRY_LOAD(&e->stamp, memory_order_seq_cst) != Q_PUB(q, r) || atomic_load(&h->rel) != r)
        return 0;
    uint64_t m = Q_ENTRY_LOAD(&e->meta, memory_order_seq_cst);
    uint64_t units = Q_META_UNITS(m);
    if (units == 0 || units > hd - r)
        return MPROC_ECORRUPT;
    if (Q_META_FLAGS(m) == 0)
        atomic_fetch_add(&h->lost_get, 1);
    atomic_store(&dead->get_intent, Q_I_NONE);
    mproc__q_release(q, r, units);
    return 1;
}

static bool q_put_resolved(struct mproc_queue *q, uint64_t w)
{
    if (Q_I_STATE(w) == Q_I_NONE)
        return true;
    uint64_t pos = Q_I_POS(w);
    if (pos < atomic_load(&q->h->head))
        return true;
    if (Q_I_STATE(w) == Q_I_PENDING && atomic_load(&q->h->tail) <= pos)
        return true; /* the claim never happened, and never will */
    return Q_ENTRY_LOAD(&q_slot(q, pos)->stamp, memory_order_seq_cst) == Q_PUB(q, pos);
}

static bool q_get_resolved(struct mproc_queue *q, uint64_t w)
{
    if (Q_I_STATE(w) == Q_I_NONE)
        return true;
    uint64_t pos = Q_I_POS(w);
    if (pos < atomic_load(&q->h->rel) ||
        Q_ENTRY_LOAD(&q_slot(q, pos)->stamp, memory_order_seq_cst) == Q_CONSUMED(q, pos))
        return true;
    return Q_I_STATE(w) == Q_I_PENDING && atomic_load(&q->h->head) <= pos;
}

static void q_reclaim(struct mproc_queue *q)
{
    struct q_hdr *h = q->h;
    for (unsigned i = 0; i < q->n_parts; i++) {
        struct q_part *p = &h->parts[i];
        uint64_t owner = atomic_load(&p->owner);
        if (owner == 0 || mproc__q_part_alive(p, owner))
            continue;
        if (q_put_resolved(q, atomic_load(&p->put_intent)) &&
            q_get_resolved(q, atomic_load(&p->get_intent)))
            mproc__q_part_free(h, p);
    }
}

int mproc__q_recover(struct mproc_queue *q)
{
    struct q_hdr *h = q->h;
    if (!q_lock(h))
        return 0;
    int total = 0, rc = 0;
    for (int round = 0; round < 64; round++) {
        int a = q_repair_head(q);
        int b = a < 0 ? 0 : q_repair_rel(q);
        if (a < 0 || b < 0) {
            rc = a < 0 ? a : b;
            break;
        }
        if (a + b == 0)
            break;
        total += a + b;
    }
    q_reclaim(q);
    q_unlock(h);
    return rc < 0 ? rc : total;
}
