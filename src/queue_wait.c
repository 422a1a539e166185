/* queue_wait.c - releasing space, waking and waiting: the futex protocol
 * and the spin / yield / sleep policy of the queue (see the design note at
 * the top of queue.c for the protocol and its memory orders).
 */
#include "queue_internal.h"

#include <limits.h>
#include <sched.h>

static inline void q_wake(_Atomic uint32_t *need, _Atomic uint32_t *fut)
{
    atomic_thread_fence(memory_order_seq_cst);
    q_wake_nofence(need, fut);
}

void mproc__q_wake_getters(struct mproc_queue *q)
{
    q_wake(&q->h->get_need, &q->h->get_futex);
}

void mproc__q_wake_putters(struct mproc_queue *q)
{
    q_wake(&q->h->put_need, &q->h->put_futex);
}

/* Advance rel over consecutive CONSUMED marks starting wherever it is. */
void mproc__q_sweep(struct mproc_queue *q)
{
    for (;;) {
        uint64_t r = atomic_load_explicit(&q->h->rel, memory_order_seq_cst);
        struct q_entry *e = q_slot(q, r);
        if (atomic_load_explicit(&e->stamp, memory_order_seq_cst) != Q_CONSUMED(r))
            return;
        uint64_t k = Q_META_UNITS(atomic_load_explicit(&e->meta, memory_order_relaxed));
        if (k == 0 || k > q->limit)
            return; /* corrupt: leave rel; producers will report it */
        if (atomic_compare_exchange_strong_explicit(&q->h->rel, &r, r + k, memory_order_seq_cst,
                                                    memory_order_relaxed))
            atomic_fetch_sub_explicit(&q->h->marks, 1, memory_order_relaxed);
    }
}

void mproc__q_release(struct mproc_queue *q, uint64_t pos, uint64_t k)
{
    uint64_t r = pos;
    if (MPROC__LIKELY(atomic_compare_exchange_strong_explicit(
            &q->h->rel, &r, pos + k, memory_order_seq_cst, memory_order_relaxed))) {
        /* Marks are rare (consumers finishing out of order): look for one
         * only if some were left. */
        if (atomic_load_explicit(&q->h->marks, memory_order_seq_cst) != 0)
            mproc__q_sweep(q);
        /* The seq_cst CAS on rel orders it before the seq_cst load of
         * put_need (a sleeper stores need, then loads rel, both seq_cst):
         * no fence needed on this, the most common, path. */
        q_wake_nofence(&q->h->put_need, &q->h->put_futex);
        return;
    } else {
        /* An earlier message is still being read: leave a mark for its
         * reader, then make sure it did not pass by before the mark. */
        atomic_fetch_add_explicit(&q->h->marks, 1, memory_order_seq_cst);
        atomic_store_explicit(&q_slot(q, pos)->stamp, Q_CONSUMED(pos), memory_order_seq_cst);
        if (atomic_load_explicit(&q->h->rel, memory_order_seq_cst) != pos)
            return;
        mproc__q_sweep(q);
    }
    mproc__q_wake_putters(q);
}

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

/* One round of waiting while `ready` is false: spin (re-checking every few
 * pauses, so that a peer's publish is seen within tens of ns), yield a few
 * times, then sleep on the side's futex. After a wake-up the next wait
 * spins again, so a stream of messages does not turn into a stream of
 * futex calls. Returns 0 to re-check, MPROC_ETIMEDOUT/MPROC_EAGAIN. */
int mproc__q_wait_round(struct mproc_queue *q, struct q_tls *ts, struct q_wait *w, int timeout_ms,
                        uint64_t stuck_key, bool getter, int (*ready)(struct mproc_queue *, void *),
                        void *arg)
{
    struct q_hdr *h = q->h;
    _Atomic uint32_t *fut = getter ? &h->get_futex : &h->put_futex;
    _Atomic uint32_t *need = getter ? &h->get_need : &h->put_need;
    _Atomic uint32_t *waiters = getter ? &h->get_waiters : &h->put_waiters;
    int rc = q_wait_init(w, timeout_ms);
    if (rc < 0)
        return rc;
    if (w->spins < Q_SPIN) {
        for (int i = 0; i < 4; i++)
            mproc__cpu_relax();
        w->spins += 4;
        if ((w->spins & 1023) == 0 && mproc__deadline_expired(&w->dl))
            return MPROC_ETIMEDOUT;
        return 0;
    }
    if (w->spins < Q_SPIN + Q_YIELDS) {
        w->spins++;
        sched_yield();
        return mproc__deadline_expired(&w->dl) ? MPROC_ETIMEDOUT : 0;
    }
    uint32_t v = atomic_load_explicit(fut, memory_order_seq_cst);
    atomic_fetch_add_explicit(waiters, 1, memory_order_relaxed);
    atomic_store_explicit(need, 1, memory_order_seq_cst);
    int rd = ready(q, arg);
    /* Not ready: sleep until woken, looking around every Q_NAP_MS. A put
     * in flight (claimed, not yet published) may not wake us (it may have
     * checked get_need before we set it): nap 1 ms at a time. Once closed
     * nobody wakes us either. */
    if (rd != Q_READY)
        rc = mproc__futex_wait_capped(
            fut, v, &w->dl,
            rd == Q_INFLIGHT || atomic_load_explicit(&h->closed, memory_order_seq_cst)
                ? 1
                : Q_NAP_MS);
    atomic_fetch_sub_explicit(waiters, 1, memory_order_relaxed);
    if (rc == MPROC_ETIMEDOUT)
        return rc;
    if (atomic_load_explicit(fut, memory_order_relaxed) != v)
        w->spins = 0; /* woken: things move, spin again next time */
    rc = mproc__q_stuck(q, ts, stuck_key);
    if (rc < 0)
        return rc;
    return mproc__deadline_expired(&w->dl) ? MPROC_ETIMEDOUT : 0;
}


int mproc__q_has_room(struct mproc_queue *q, void *arg)
{
    uint64_t k = ((struct q_room *)arg)->k;
    uint64_t t = atomic_load_explicit(&q->h->tail, memory_order_seq_cst);
    uint64_t r = atomic_load_explicit(&q->h->rel, memory_order_seq_cst);
    return r > t || t + k - r <= q->limit ? Q_READY : Q_NOT_READY;
}

/* The getters' re-check after need = 1: pairs with the putter's seq_cst CAS
 * on tail followed by its seq_cst load of get_need (q_claim_put_loop). */
int mproc__q_has_msg(struct mproc_queue *q, void *arg)
{
    (void)arg;
    uint64_t h = atomic_load_explicit(&q->h->head, memory_order_seq_cst);
    if (atomic_load_explicit(&q_slot(q, h)->stamp, memory_order_seq_cst) == Q_PUB(h))
        return Q_READY;
    return atomic_load_explicit(&q->h->tail, memory_order_seq_cst) > h ? Q_INFLIGHT : Q_NOT_READY;
}
