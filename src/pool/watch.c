/* pool/watch.c - the pool's half of watches and mproc_wait
 * (src/wait/probe.h), and mproc_pool_poll.
 *
 * A pool is driven by its owner's calls; a watch only tells the owner's
 * event loop when driving would find something. Workers bump shm.done_bell
 * after each finished chunk and wake the owner if shm.owner_waiting is set
 * (local.h, "Futexes"); a watch sleeps on the same word with the same flag.
 * Readiness: the bell moved since the watch last fired (a result to
 * collect), or, while chunks were in flight when it was armed, a check
 * interval passed (a worker may have died or overrun its timeout: only the
 * owner's drive looks, with the pidfds and clocks it holds). A watch starts ready:
 * results may be waiting already. The service thread touches only the two
 * shared-memory words recorded when the owner thread armed the watch.
 */
#include "engine.h"

#include "../wait/probe.h"

#define WATCH_IDLE_CAP_MS 250 /* nothing in flight: re-probe now and then anyway */
#define WATCH_MIN_CAP_MS 20   /* work in flight: drive at least this often */

static int pool_owner_check(mproc_pool *p)
{
    int rc = mproc__handle_check(p, MPROC__POOL_MAGIC);
    if (rc < 0)
        return rc;
    rc = mproc__pool_check(p);
    if (rc < 0)
        return rc;
    return p->ops->bell ? 0 : MPROC_ENOTSUP;
}

int mproc__pool_watch_init(struct mproc__wsrc *s)
{
    if (s->kind == MPROC_WAIT_FUTURE) {
        mproc_future *f = s->obj;
        int rc = mproc__handle_check(f, MPROC__FUTURE_MAGIC);
        if (rc < 0)
            return rc;
        if (!f->pool)
            return 0; /* detached: finished or finished by the pool's close */
        return pool_owner_check(f->pool);
    }
    return pool_owner_check(s->obj);
}

void mproc__pool_watch_arm(struct mproc__wsrc *s)
{
    mproc_pool *p = s->obj;
    s->ready_now = false;
    if (s->kind == MPROC_WAIT_FUTURE) {
        mproc_future *f = s->obj;
        p = f->pool;
        if (mproc__handle_check(f, MPROC__FUTURE_MAGIC) < 0 || f->done || !p ||
            mproc__pool_check(p) < 0) {
            s->ready_now = true;
            return;
        }
    }
    if (pool_owner_check(p) < 0 || p->broken || p->closed || p->terminated) {
        s->ready_now = true;
        return;
    }
    int cap = WATCH_MIN_CAP_MS;
    if (p->ops->prepare_wait) {
        mproc__pool_lock(p);
        (void)p->ops->prepare_wait(p, &cap);
        mproc__pool_unlock(p);
    }
    if (cap < WATCH_MIN_CAP_MS)
        cap = WATCH_MIN_CAP_MS;
    bool busy = p->in_flight_chunks || p->pending_head;
    s->cap_ms = busy ? cap : WATCH_IDLE_CAP_MS;
    s->due_ns = busy ? mproc__now_ns() + (uint64_t)cap * 1000000u : 0;
    s->bell = p->ops->bell(p, &s->flag);
    if (s->state == UINT64_MAX) { /* first arming: start ready */
        s->state = atomic_load_explicit(s->bell, memory_order_seq_cst);
        s->ready_now = true;
    }
}

int mproc__pool_watch_probe(struct mproc__wsrc *s, bool announce, struct mproc__wsleep *sl)
{
    if (s->ready_now || !s->bell)
        return 1;
    if (s->due_ns && mproc__now_ns() >= s->due_ns)
        return 1; /* work in flight: the owner's drive looks for deaths and timeouts */
    uint32_t b = atomic_load_explicit(s->bell, memory_order_seq_cst);
    if (b != (uint32_t)s->state) {
        s->state = b;
        return 1;
    }
    if (!announce)
        return 0;
    atomic_store_explicit(s->flag, 1, memory_order_seq_cst);
    b = atomic_load_explicit(s->bell, memory_order_seq_cst);
    if (b != (uint32_t)s->state) {
        s->state = b;
        return 1;
    }
    sl->word = s->bell;
    sl->val = b;
    sl->cap_ms = s->cap_ms;
    return 0;
}

MPROC_API int mproc_pool_poll(mproc_pool *p)
{
    int rc = mproc__handle_check(p, MPROC__POOL_MAGIC);
    if (rc < 0)
        return rc;
    if ((rc = mproc__pool_check(p)) < 0)
        return rc;
    mproc__pool_lock(p);
    if (p->in_engine) {
        mproc__pool_unlock(p);
        return MPROC_EBUSY;
    }
    if (p->bg) { /* the service thread drives: nothing to do here */
        mproc__pool_unlock(p);
        return p->broken ? p->broken : 0;
    }
    int n = 0;
    for (;;) {
        int k = mproc__pool_pump(p, 256);
        if (k < 0) {
            rc = k;
            break;
        }
        n += k;
        if (k < 256) {
            rc = n;
            break;
        }
    }
    mproc__pool_unlock(p);
    return rc;
}
