/* service.c - background progress of a pool (opts.background): a thread of
 * the owner that collects results, runs callbacks, applies timeouts and the
 * death policy and dispatches queued work while no user thread is inside a
 * pool call.
 *
 * Model: the pool's engine stays single-threaded; what changes is who runs
 * it. Every public call takes the pool's lock (recursive, because callbacks
 * run with it held and may call the pool's read-only calls or cancel), and
 * in background mode the waiting calls do not drive the engine: they sleep
 * on the pool's condition variable until what they wait for is done, and
 * the service thread, which is the only one to drive, broadcasts after
 * every batch of events. The thread sleeps outside the lock in the
 * backend's wait(), on the word the workers bump after each result, capped
 * at the nearest task deadline or death check.
 */
#include "engine.h"

#include <errno.h>
#include <time.h>

#define SVC_BATCH 256 /* events handled before the lock is let go once */

void mproc__pool_lock(mproc_pool *p)
{
    if (p->bg)
        pthread_mutex_lock(&p->mu);
}

void mproc__pool_unlock(mproc_pool *p)
{
    if (p->bg)
        pthread_mutex_unlock(&p->mu);
}

static void *svc_main(void *arg)
{
    mproc_pool *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->svc_stop) {
        int cap = 10;
        uint32_t seen = p->ops->prepare_wait(p, &cap);
        if (!p->broken && !p->terminated && !p->joined) {
            int n = mproc__pool_pump(p, SVC_BATCH);
            if (n > 0) {
                pthread_cond_broadcast(&p->cv);
                continue; /* more may be ready: look again before sleeping */
            }
            if (n < 0)
                pthread_cond_broadcast(&p->cv);
        }
        pthread_mutex_unlock(&p->mu);
        p->ops->wait(p, seen, cap);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int mproc__pool_service_start(mproc_pool *p)
{
    if (!p->ops->wait || !p->ops->prepare_wait)
        return MPROC_ENOTSUP;
    pthread_mutexattr_t ma;
    pthread_condattr_t ca;
    pthread_mutexattr_init(&ma);
    pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&p->mu, &ma);
    pthread_mutexattr_destroy(&ma);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    p->bg = true;
    int rc = pthread_create(&p->svc, NULL, svc_main, p);
    if (rc != 0) {
        p->bg = false;
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        return rc == EAGAIN ? MPROC_EAGAIN : MPROC_ENOMEM;
    }
    p->svc_started = true;
    return 0;
}

/* Called with the lock held once; returns with it held. */
void mproc__pool_service_stop(mproc_pool *p)
{
    if (!p->svc_started)
        return;
    p->svc_stop = true;
    p->svc_started = false;
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->svc, NULL);
    pthread_mutex_lock(&p->mu);
}

void mproc__pool_service_destroy(mproc_pool *p)
{
    if (!p->bg)
        return;
    p->bg = false;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
}

int mproc__pool_bg_wait(mproc_pool *p, const struct mproc__deadline *d)
{
    if (p->broken)
        return p->broken;
    if (d->poll)
        return MPROC_ETIMEDOUT;
    if (d->forever) {
        pthread_cond_wait(&p->cv, &p->mu);
        return 0;
    }
    int rc = pthread_cond_timedwait(&p->cv, &p->mu, &d->abs);
    return rc == ETIMEDOUT && mproc__deadline_expired(d) ? MPROC_ETIMEDOUT : 0;
}

void mproc__pool_bg_notify(mproc_pool *p)
{
    if (p->bg)
        pthread_cond_broadcast(&p->cv);
}
