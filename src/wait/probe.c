/* wait/probe.c - dispatch of the probes of wait/probe.h by kind. */
#include "probe.h"

#include "../sync/sync.h"

#include <limits.h>
#include <string.h>

int mproc__wsrc_init(struct mproc__wsrc *s, int kind, void *obj, size_t len)
{
    if (!obj)
        return MPROC_EINVAL;
    memset(s, 0, sizeof *s);
    s->kind = kind;
    s->obj = obj;
    s->cap_ms = -1;
    switch (kind) {
    case MPROC_WAIT_QUEUE_GET:
    case MPROC_WAIT_QUEUE_PUT:
        return mproc__q_watch_init(obj, kind == MPROC_WAIT_QUEUE_GET, len, &s->arg);
    case MPROC_WAIT_EVENT:
    case MPROC_WAIT_SEM:
        return 0;
    case MPROC_WAIT_LOCK:
    case MPROC_WAIT_COND_LOCK: /* a condition's lock is its first member (sync/cond.c) */
        if (atomic_load_explicit(&((struct mproc__lk *)obj)->word, memory_order_relaxed) ==
            MPROC__LK_DESTROYED)
            return MPROC_EBADF;
        return 0;
    case MPROC_WAIT_BARRIER:
        return mproc__barrier_check(obj);
    case MPROC_WAIT_POOL:
    case MPROC_WAIT_FUTURE:
        s->state = UINT64_MAX; /* never armed */
        return mproc__pool_watch_init(s);
    default:
        return MPROC_EINVAL;
    }
}

void mproc__wsrc_arm(struct mproc__wsrc *s)
{
    if (s->kind == MPROC_WAIT_BARRIER && !(s->arm_once && s->armed))
        s->state = mproc__barrier_gen(s->obj);
    else if (s->kind == MPROC_WAIT_POOL || s->kind == MPROC_WAIT_FUTURE)
        mproc__pool_watch_arm(s);
    s->armed = true;
}

static int probe(struct mproc__wsrc *s, bool announce, bool look, struct mproc__wsleep *sl)
{
    switch (s->kind) {
    case MPROC_WAIT_QUEUE_GET:
    case MPROC_WAIT_QUEUE_PUT:
        return mproc__q_watch_probe(s->obj, s->kind == MPROC_WAIT_QUEUE_GET, s->arg, announce, look,
                                    sl);
    case MPROC_WAIT_EVENT:
        return mproc__event_probe(s->obj, announce, sl);
    case MPROC_WAIT_SEM:
        return mproc__sem_probe(s->obj, announce, look, sl);
    case MPROC_WAIT_LOCK:
    case MPROC_WAIT_COND_LOCK:
        return mproc__lk_probe(s->obj, announce, look, sl);
    case MPROC_WAIT_BARRIER:
        return mproc__barrier_probe(s->obj, (uint32_t)s->state, announce, look, sl);
    case MPROC_WAIT_POOL:
    case MPROC_WAIT_FUTURE:
        return mproc__pool_watch_probe(s, announce, sl);
    default:
        return 1;
    }
}

int mproc__wsrc_probe(struct mproc__wsrc *s, bool look, struct mproc__wsleep *sl)
{
    return probe(s, true, look, sl);
}

int mproc__wsrc_check(struct mproc__wsrc *s)
{
    struct mproc__wsleep sl;
    return probe(s, false, false, &sl);
}

void mproc__wsrc_pass(struct mproc__wsrc *s)
{
    /* A lock's release wakes one sleeper: if that was the watcher, the
     * contender it was meant for still sleeps. Waking one more is a spurious
     * wake-up at worst (it re-checks and sleeps again). */
    if (s->kind == MPROC_WAIT_LOCK || s->kind == MPROC_WAIT_COND_LOCK)
        mproc__futex_wake(&((struct mproc__lk *)s->obj)->word, 1);
}
