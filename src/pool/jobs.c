/* jobs.c - the checks every pool call starts with, and map jobs: cutting a
 * map call into a job (argument checks, chunk size, the bound on items in
 * flight, the task timeout) and running it to its end over the engine
 * (engine.c). Split from the engine so that each file holds one layer:
 * this one calls the engine, never the other way round.
 */
#include "engine.h"

#include <stdlib.h>
#include <unistd.h>

int mproc__pool_check(const mproc_pool *p)
{
    if (!p || p->magic != MPROC__POOL_MAGIC)
        return MPROC_EINVAL;
    if (p->owner != getpid())
        return MPROC_ENOTCHILD;
    return 0;
}

int mproc__pool_check_open(const mproc_pool *p)
{
    int rc = mproc__pool_check(p);
    if (rc < 0)
        return rc;
    if (p->in_engine)
        return MPROC_EBUSY;
    if (p->broken)
        return p->broken;
    if (p->terminated)
        return MPROC_ECANCELED;
    if (p->closed)
        return MPROC_ECLOSED;
    return 0;
}

int mproc__pool_task_timeout(const mproc_pool *p, int ms, uint64_t *ns)
{
    if (ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if (ms == 0)
        ms = p->opts.task_timeout_ms;
    if (ms <= 0) {
        *ns = 0;
        return 0;
    }
    if (!p->ops->has_timeouts)
        return MPROC_ENOTSUP;
    *ns = (uint64_t)ms * 1000000u;
    return 0;
}

int mproc__pool_run_job(mproc_pool *p, struct mproc__pool_job *j, int timeout_ms)
{
    struct mproc__deadline d;
    mproc__deadline_init(&d, timeout_ms);
    if (p->bg) {
        /* The service thread fills from p->futures: put the map there. */
        mproc__pool_job_link(p, j);
        p->in_engine = true;
        mproc__pool_fill(p, NULL);
        p->in_engine = false;
    }
    int rc = mproc__pool_drive(p, j, &d);
    if (p->bg)
        mproc__pool_job_unlink(p, j);
    if (p->broken && j->kind != JOB_STREAM) /* each index gets its outcome */
        mproc__pool_fail_uncut(p, j, p->broken);
    if (rc == 0)
        rc = j->stop_rc ? j->stop_rc : j->first_err;
    else if (rc == MPROC_ETIMEDOUT && timeout_ms == 0)
        rc = MPROC_EAGAIN; /* tried once: the one code for that everywhere */
    if (!mproc__pool_job_finished(p, j) || j->stop_rc)
        mproc__pool_abandon(p, j);
    mproc__pool_job_unref(j);
    return rc;
}

int mproc__pool_map_job(mproc_pool *p, int kind, mproc_task_fn fn, const void *in, size_t n,
                        size_t in_size, void *out, size_t out_size,
                        const struct mproc_pool_map_opts *opts, int timeout_ms,
                        struct mproc__pool_job **jout)
{
    int rc = mproc__pool_check_open(p);
    if (rc < 0)
        return rc;
    struct mproc__deadline d;
    if (!fn || mproc__deadline_init(&d, timeout_ms) < 0)
        return MPROC_EINVAL;
    if (opts && opts->task_timeout_ms < MPROC_FOREVER)
        return MPROC_EINVAL;
    if (kind != JOB_STREAM && n > 0 && (!in || in_size == 0))
        return MPROC_EINVAL;
    if (kind == JOB_MAP && n > 0 && out_size > 0 && !out)
        return MPROC_EINVAL;
    if (out_size > UINT32_MAX || in_size > UINT32_MAX)
        return MPROC_EMSGSIZE;
    size_t max = p->ops->max_items(p, in_size, out_size);
    if (max == 0)
        return MPROC_EMSGSIZE;
    uint64_t tmo;
    rc = mproc__pool_task_timeout(p, opts ? opts->task_timeout_ms : 0, &tmo);
    if (rc < 0)
        return rc;
    struct mproc__pool_job *j = calloc(1, sizeof *j);
    if (!j)
        return MPROC_ENOMEM;
    j->kind = kind;
    j->refs = 1;
    j->fn = fn;
    j->timeout_ns = tmo;
    j->in = in;
    j->in_size = in_size;
    j->out = out;
    j->out_size = out_size;
    j->total = n;
    if (opts)
        j->mo = *opts;
    size_t chunk = j->mo.chunksize;
    if (chunk == 0) {
        size_t w4 = 4 * (size_t)p->opts.workers;
        chunk = kind == JOB_STREAM ? 1 : (n + w4 - 1) / w4;
    }
    if (chunk == 0)
        chunk = 1;
    j->chunk = chunk < max ? chunk : max;
    j->max_in_flight = j->mo.max_in_flight ? j->mo.max_in_flight : j->chunk * p->ctab_size;
    *jout = j;
    return 0;
}
