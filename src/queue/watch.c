/* queue/watch.c - the queue's half of watches and mproc_wait
 * (src/wait/probe.h): a watcher announces itself exactly as a sleeping
 * getter or putter does in mproc__q_wait_round (wait.c), so the queue's
 * wake path is untouched: a put that finds get_need == 0 pays nothing, and
 * the one that finds it set bumps get_futex and wakes it, which wakes the
 * watcher's futex_waitv as it wakes a sleeping getter.
 *
 * Protocol (the futex protocol of queue.c, the sleeper's side): read the
 * side's futex word v (seq_cst), store need = 1 (seq_cst), re-check with
 * mproc__q_has_msg / mproc__q_has_room (seq_cst loads), then sleep on
 * (word, v). A claim seen but not published yet (Q_INFLIGHT) may not wake
 * us: look again after 1 ms, as a sleeper naps. Once shut down the queue is
 * "ready" on both sides (get drains, then says MPROC_ECLOSED; put says it
 * at once). A watcher re-probes every Q_NAP_MS even when woken by no
 * one, as a sleeper naps, and one that found a frontier held by someone
 * (Q_INFLIGHT) runs the repair when asked to look (the service's slice): a position orphaned by a killed process is repaired
 * even when the watcher's process is the only one left.
 */
#include "queue_internal.h"

#include "../wait/probe.h"

int mproc__q_watch_init(struct mproc_queue *q, bool getter, size_t len, uint64_t *units)
{
    int rc = mproc__handle_check(q, MPROC__H_QUEUE);
    if (rc < 0)
        return rc;
    if (!getter && len > q->cap_bytes)
        return MPROC_EMSGSIZE;
    *units = getter ? 0 : q_units(q, len);
    return 0;
}

int mproc__q_watch_probe(struct mproc_queue *q, bool getter, uint64_t units, bool announce,
                         bool look, struct mproc__wsleep *sl)
{
    struct q_hdr *h = q->h;
    _Atomic uint32_t *fut = getter ? &h->get_futex : &h->put_futex;
    _Atomic uint32_t *need = getter ? &h->get_need : &h->put_need;
    if (mproc__handle_check(q, MPROC__H_QUEUE) < 0)
        return 1; /* closed under us: the call on it reports MPROC_EBADF */
    uint32_t v = atomic_load_explicit(fut, memory_order_seq_cst);
    if (announce)
        atomic_store_explicit(need, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&h->closed, memory_order_seq_cst))
        return 1;
    struct q_ready chk = {.k = units};
    int rd = getter ? mproc__q_has_msg(q, &chk) : mproc__q_has_room(q, &chk);
    if (rd == Q_READY)
        return 1;
    if (!announce)
        return 0;
    if (rd == Q_INFLIGHT && look && mproc__q_recover(q) != 0)
        return 1; /* repaired something (or corrupt): let the call look */
    sl->word = fut;
    sl->val = v;
    /* Q_NAP_MS even when nothing is in flight: a producer killed right
     * after its claim saw our need flag but never wakes us */
    sl->cap_ms = rd == Q_INFLIGHT ? 1 : Q_NAP_MS;
    return 0;
}
