/* queue/wait.c - waiting: the spin / sleep policy of the queue and
 * the sleeper's side of the futex protocol (see the design note at the top
 * of queue.c for the protocol and its memory orders), and noticing a
 * frontier that does not move (then recover.c repairs it).
 */
#include "queue_internal.h"

#include <limits.h>

/* ------------------------------------------------------------------------
 * Waiting. */

/* Nothing moved for a while: a participant may have died holding the
 * position everyone waits for (stuck_key: head for getters, rel for
 * putters). Remembered per thread across calls, so that short timeouts or
 * polls in a loop still get there. 0, or MPROC_ECORRUPT. */
int mproc__q_stuck(struct mproc_queue *q, struct q_tls *ts, uint64_t stuck_key)
{
    uint64_t now = mproc__now_ns();
    if (ts->stuck_key != stuck_key || ts->stuck_since == 0) {
        ts->stuck_key = stuck_key;
        ts->stuck_since = now;
    } else if (now - ts->stuck_since >= (uint64_t)Q_NAP_MS * 1000000u) {
        ts->stuck_since = now;
        int rc = mproc__q_recover(q);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int q_wait_init(struct q_wait *w, int timeout_ms)
{
    if (timeout_ms == 0)
        return MPROC_EAGAIN;
    if (!w->init) {
        int rc = mproc__deadline_init(&w->dl, timeout_ms);
        if (rc < 0)
            return rc;
        w->init = true;
    }
    return 0;
}

/* How long queue waiters spin, per side (linux/spin.h): getters wait for a
 * producer's publish, putters for consumers to free space; the two see
 * different hand-off times, so each side adapts on its own. */
static struct mproc__spin_site q_spin_get, q_spin_put;

/* The spin policy, alone in one function: one pause per round (the caller
 * re-checks the awaited slot after each, so a peer's publish is seen within
 * a pause), for as long as linux/spin.c allows - a budget in time that
 * adapts, and none at all when the peer cannot be running. Returns 1 after
 * a round (*rc: 0 to re-check, or MPROC_ETIMEDOUT), 0 when it is time to
 * sleep. A wait that the caller ends by finding its slot ready counts as a
 * successful spin (spin.h). q_wait_spinning() (the header) tells callers
 * whether the spin phase is still on. */
static int q_spin_round(struct q_wait *w, _Atomic uint32_t *fut, bool getter, int *rc)
{
    *rc = 0;
    if (w->spins >= Q_SPIN)
        return 0;
    if (!w->spin.begun)
        mproc__spin_begin(&w->spin, getter ? &q_spin_get : &q_spin_put,
                          mproc__spin_bump_cpu(atomic_load_explicit(fut, memory_order_relaxed)),
                          &w->dl);
    if (mproc__spin_more(&w->spin))
        return 1;
    /* The budget never runs past the deadline (mproc__spin_begin caps it):
     * it is looked at once, here, before sleeping. */
    if (w->spin.limit_ns == 0 && w->spin.yield_pays && !w->yielding) {
        /* Skipped: the peer may need this CPU. Yield phase (Q_YIELD_NS). */
        mproc__spin_yield_begin(&w->yield, NULL, Q_YIELD_NS);
        w->yielding = true;
    }
    if (w->yielding) {
        if (!mproc__deadline_expired(&w->dl) && mproc__spin_yield_more(&w->yield))
            return 1;
        w->yielding = false;
    }
    w->spins = Q_SPIN;
    if (mproc__deadline_expired(&w->dl)) {
        *rc = MPROC_ETIMEDOUT;
        return 1;
    }
    return 0;
}

/* One round of waiting while `ready` is false: a spin round (above), or a
 * sleep on the side's futex. After a wake-up the next wait spins again, so
 * a stream of messages does not turn into a stream of futex calls.
 * Returns 0 to re-check, MPROC_ETIMEDOUT/MPROC_EAGAIN. */
int mproc__q_wait_round(struct mproc_queue *q, struct q_tls *ts, struct q_wait *w, int timeout_ms,
                        bool getter, int (*ready)(struct mproc_queue *, struct q_ready *),
                        struct q_ready *arg)
{
    struct q_hdr *h = q->h;
    _Atomic uint32_t *fut = getter ? &h->get_futex : &h->put_futex;
    _Atomic uint32_t *need = getter ? &h->get_need : &h->put_need;
    int rc = q_wait_init(w, timeout_ms);
    if (rc < 0)
        return rc;
    if (q_spin_round(w, fut, getter, &rc))
        return rc;
    uint32_t v = atomic_load_explicit(fut, memory_order_seq_cst);
    atomic_store_explicit(&ts->p->waiting, getter ? Q_W_GET : Q_W_PUT, memory_order_relaxed);
    atomic_store_explicit(need, 1, memory_order_seq_cst);
    int rd = ready(q, arg);
    /* Not ready: sleep until woken, looking around every Q_NAP_MS. A put
     * in flight (claimed, not yet published) may not wake us (it may have
     * checked get_need before we set it): nap 1 ms at a time. Once closed
     * nobody wakes us either. */
    if (rd != Q_READY)
        rc = mproc__futex_wait_capped(
            fut, v, &w->dl,
            rd == Q_INFLIGHT || atomic_load_explicit(&h->closed, memory_order_seq_cst) ? 1
                                                                                       : Q_NAP_MS);
    atomic_store_explicit(&ts->p->waiting, 0, memory_order_relaxed);
    if (rc == MPROC_ETIMEDOUT)
        return rc;
    if (atomic_load_explicit(fut, memory_order_relaxed) != v) {
        /* woken: teach the spin policy how long this wait took, and spin
         * again next time (a new episode): things move */
        mproc__spin_woken(&w->spin);
        w->spins = 0;
    }
    rc = mproc__q_stuck(q, ts, arg->key);
    if (rc < 0)
        return rc;
    return mproc__deadline_expired(&w->dl) ? MPROC_ETIMEDOUT : 0;
}

/* The putters' re-check after need = 1: pairs with the getter's seq_cst CAS
 * on head followed by its seq_cst load of put_need. Room means room in all
 * lanes together (the putter then moves allot to its lane: queue.c). A
 * getter that claimed before our need store frees its space without waking
 * us: if consumption is in progress (head > rel after the sweep) nap
 * briefly instead. */
int mproc__q_has_room(struct mproc_queue *q, struct q_ready *arg)
{
    uint64_t used = 0, key = 0;
    bool consuming = false;
    for (uint32_t l = 0; l < q->n_lanes; l++) {
        struct q_lane *ln = &q->lanes[l];
        uint64_t t = atomic_load_explicit(&ln->tail, memory_order_seq_cst);
        uint64_t r = mproc__q_sweep(q, l, 1024);
        key += r;
        if (r > t)
            return Q_READY; /* moved under us: look again */
        used += t - r;
        consuming = consuming || atomic_load_explicit(&ln->head, memory_order_seq_cst) > r;
    }
    arg->key = key;
    if (used + arg->k <= q->limit)
        return Q_READY;
    return consuming ? Q_INFLIGHT : Q_NOT_READY;
}

/* Whether lane l has a message at head (Q_READY), a claim in flight
 * (Q_INFLIGHT: its lock held, or tail > head), or nothing. seq_cst loads:
 * the getters' side of the Dekker pairs with the putter's seq_cst CAS on
 * the lane lock followed by its seq_cst load of get_need. */
static int q_lane_state(struct mproc_queue *q, uint32_t l)
{
    struct q_lane *ln = &q->lanes[l];
    uint64_t h = atomic_load_explicit(&ln->head, memory_order_seq_cst);
    if (Q_ENTRY_LOAD(&q_slot(q, l, h)->stamp, memory_order_seq_cst) == Q_PUB(q, h))
        return Q_READY;
    if (atomic_load_explicit(&ln->lock, memory_order_seq_cst) != 0 ||
        atomic_load_explicit(&ln->tail, memory_order_seq_cst) > h)
        return Q_INFLIGHT;
    return Q_NOT_READY;
}

/* The getters' re-check after need = 1, over every lane whatever the
 * summary says. A lane found empty has its summary bit cleared and is then
 * looked at again (a put that published before the clear but after our
 * first look, and saw the bit still set, is seen by the second look); a
 * lane with a message gets its bit back. */
int mproc__q_has_msg(struct mproc_queue *q, struct q_ready *arg)
{
    int res = Q_NOT_READY;
    uint64_t key = 0;
    for (uint32_t l = 0; l < q->n_lanes; l++) {
        key += atomic_load_explicit(&q->lanes[l].head, memory_order_relaxed);
        int st = q_lane_state(q, l);
        if (q->n_lanes > 1) {
            uint64_t bit = 1ull << l;
            uint64_t s = atomic_load_explicit(&q->h->summary, memory_order_relaxed);
            if (st == Q_NOT_READY && (s & bit)) {
                /* announced: while the bit may be wrongly clear, putters
                 * stamp claim times and getters look at every lane
                 * (q_summary_clean) */
                atomic_fetch_add_explicit(&q->h->summary, Q_SUM_CLEARING, memory_order_seq_cst);
                atomic_fetch_and_explicit(&q->h->summary, ~bit, memory_order_seq_cst);
                /* the bit is clear; the lane not looked at again yet */
                MPROC__KILL_POINT("queue.get.bit_cleared");
                st = q_lane_state(q, l);
                if (st != Q_NOT_READY)
                    q_summary_set(q, l);
                atomic_fetch_sub_explicit(&q->h->summary, Q_SUM_CLEARING, memory_order_seq_cst);
            } else if (st != Q_NOT_READY)
                q_summary_set(q, l);
        }
        if (st == Q_READY)
            res = Q_READY;
        else if (st == Q_INFLIGHT && res == Q_NOT_READY)
            res = Q_INFLIGHT;
    }
    arg->key = key;
    return res;
}
