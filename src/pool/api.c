/* api.c - the public pool calls: create, the map family, futures,
 * shutdown / join / terminate / close, introspection. The machinery they
 * drive is in engine.c (see its design note); the local backend in local.c.
 *
 * Every call first checks the handle (NULL: MPROC_EINVAL; closed:
 * MPROC_EBADF, through the state word and quarantine of src/handle.h;
 * inherited across fork: MPROC_ENOTCHILD), then its arguments, and writes
 * out-parameters only on success. A future holds a reference to its job;
 * the pool keeps unfinished futures' jobs on p->futures so that join can
 * wait for them and terminate can cancel them, and every open future on
 * p->all_futures, so that closing the pool detaches them all (f->pool =
 * NULL): a future never reaches its pool's memory after the pool is closed.
 */
#include "engine.h"

#include <limits.h>

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

/* mproc_cpu_count lives in process.c; weak so that the pool also links in a
 * tree where it is not there yet (then the affinity mask is used). */
__attribute__((weak)) int mproc_cpu_count(void);

static int default_workers(void)
{
    if (mproc_cpu_count)
        return mproc_cpu_count();
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return 1;
}

int mproc__pool_opts_resolve(const struct mproc_pool_opts *opts, struct mproc_pool_opts *out)
{
    struct mproc_pool_opts o = {0};
    if (opts)
        o = *opts;
    if (o.workers < 0 || o.workers > 4096 || o.max_retries < 0 || o.on_death < 0 ||
        o.task_timeout_ms < 0 || o.on_death > MPROC_POOL_FAIL_POOL ||
        (o.slot_bytes && o.slot_bytes < 4096) || o.slot_bytes > ((size_t)1 << 30) ||
        o.slots_per_worker > 1024)
        return MPROC_EINVAL;
    if (o.start_method != MPROC_START_FORK && o.start_method != MPROC_START_SPAWN)
        return MPROC_EINVAL;
    if ((o.initializer && o.init_entry) || (o.init_arg_len && !o.init_arg) ||
        (o.task_ctx_len && !o.task_ctx) || o.init_arg_len > 64 * 1024 ||
        o.task_ctx_len > 64 * 1024 || (o.init_entry && strlen(o.init_entry) > 63))
        return MPROC_EINVAL;
    if (o.workers == 0)
        o.workers = default_workers();
    if (o.max_retries == 0)
        o.max_retries = 3;
    if (o.slot_bytes == 0)
        o.slot_bytes = 256 * 1024;
    o.slot_bytes = (o.slot_bytes + 63) & ~(size_t)63;
    if (o.slots_per_worker == 0)
        o.slots_per_worker = 8;
    *out = o;
    return 0;
}

int mproc__pool_new(mproc_pool **out, const struct mproc_pool_opts *resolved,
                    const struct mproc__pool_backend *ops, void *be)
{
    if (!out || !resolved || !ops || !be)
        return MPROC_EINVAL;
    mproc_pool *p = calloc(1, sizeof *p);
    if (!p)
        return MPROC_ENOMEM;
    atomic_init(&p->magic, MPROC__POOL_MAGIC);
    p->ops = ops;
    p->be = be;
    p->opts = *resolved;
    p->owner = getpid();
    size_t n = ops->max_chunks(p);
    if (n == 0) {
        free(p);
        return MPROC_EINVAL;
    }
    p->ctab_size = n > 1u << 20 ? 1u << 20 : (uint32_t)n;
    p->ctab = calloc(p->ctab_size ? p->ctab_size : 1, sizeof *p->ctab);
    if (!p->ctab) {
        free(p);
        return MPROC_ENOMEM;
    }
    if (resolved->background) {
        int rc = mproc__pool_service_start(p);
        if (rc < 0) {
            free(p->ctab);
            free(p);
            return rc;
        }
    }
    *out = p;
    return 0;
}

int mproc_pool_create(mproc_pool **out, const struct mproc_pool_opts *opts)
{
    struct mproc_pool_opts o;
    void *be;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc__pool_opts_resolve(opts, &o);
    if (rc < 0)
        return rc;
    /* A spawned worker has no copy of our memory: pointers mean nothing there. */
    if (o.start_method == MPROC_START_SPAWN) {
        if (o.capture_output)
            return MPROC_ENOTSUP;
        if (o.initializer)
            return MPROC_EINVAL; /* a pointer: init_entry is the spawn way */
        if (!o.task_ctx_len)
            o.task_ctx = NULL;
    }
    if ((rc = mproc__pool_local_start(&o, &be)) < 0)
        return rc;
    mproc_pool *p;
    if ((rc = mproc__pool_new(&p, &o, &mproc__pool_local_backend, be)) < 0) {
        struct mproc_pool tmp = {.ops = &mproc__pool_local_backend, .be = be};
        mproc__pool_local_backend.destroy(&tmp);
        return rc;
    }
    *out = p;
    return 0;
}

static int pool_map_impl(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                         size_t in_size, void *out, size_t out_size,
                         const struct mproc_pool_map_opts *opts, int timeout_ms)
{
    struct mproc__pool_job *j;
    int rc =
        mproc__pool_map_job(pool, JOB_MAP, fn, in, n, in_size, out, out_size, opts, timeout_ms, &j);
    return rc < 0 ? rc : mproc__pool_run_job(pool, j, timeout_ms);
}

static int pool_map_unordered_impl(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                                   size_t in_size, size_t out_size, mproc_pool_result_fn on_result,
                                   void *arg, const struct mproc_pool_map_opts *opts,
                                   int timeout_ms)
{
    struct mproc__pool_job *j;
    int rc = mproc__pool_map_job(pool, JOB_UNORDERED, fn, in, n, in_size, NULL, out_size, opts,
                                 timeout_ms, &j);
    if (rc < 0)
        return rc;
    j->on_result = on_result;
    j->arg = arg;
    return mproc__pool_run_job(pool, j, timeout_ms);
}

static int pool_map_stream_impl(mproc_pool *pool, mproc_task_fn fn, mproc_pool_next_fn next,
                                void *next_arg, size_t max_in_size, size_t out_size,
                                mproc_pool_result_fn on_result, void *arg,
                                const struct mproc_pool_map_opts *opts, int timeout_ms)
{
    int rc = mproc__pool_check(pool);
    if (rc < 0)
        return rc;
    if (!next)
        return MPROC_EINVAL;
    struct mproc__pool_job *j;
    rc = mproc__pool_map_job(pool, JOB_STREAM, fn, NULL, 0, max_in_size, NULL, out_size, opts,
                             timeout_ms, &j);
    if (rc < 0)
        return rc;
    j->next = next;
    j->next_arg = next_arg;
    j->on_result = on_result;
    j->arg = arg;
    if (j->mo.ordered) {
        j->ordered = true;
        j->rb_cap = j->max_in_flight > j->chunk ? j->max_in_flight : j->chunk;
        j->rb = j->rb_cap <= SIZE_MAX / sizeof *j->rb ? calloc(j->rb_cap, sizeof *j->rb) : NULL;
        j->rb_out =
            out_size && j->rb_cap <= SIZE_MAX / out_size ? malloc(j->rb_cap * out_size) : NULL;
        if (!j->rb || (out_size && !j->rb_out)) {
            mproc__pool_job_unref(j);
            return MPROC_ENOMEM;
        }
    }
    return mproc__pool_run_job(pool, j, timeout_ms);
}

/* 0, MPROC_EINVAL (NULL) or MPROC_EBADF (closed). */
static int pool_handle(const mproc_pool *p)
{
    return mproc__handle_check(p, MPROC__POOL_MAGIC);
}

static int future_handle(const mproc_future *f)
{
    return mproc__handle_check(f, MPROC__FUTURE_MAGIC);
}

static bool future_ok(const mproc_future *f)
{
    return future_handle(f) == 0;
}

/* A new open future of pool for job j, on pool->all_futures. */
static mproc_future *future_new(mproc_pool *pool, struct mproc__pool_job *j)
{
    mproc_future *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    atomic_init(&f->magic, MPROC__FUTURE_MAGIC);
    f->pool = pool;
    f->job = j;
    f->anext = pool->all_futures;
    if (pool->all_futures)
        pool->all_futures->aprev = f;
    pool->all_futures = f;
    return f;
}

static void future_forget(mproc_future *f)
{
    if (f->aprev)
        f->aprev->anext = f->anext;
    else if (f->pool && f->pool->all_futures == f)
        f->pool->all_futures = f->anext;
    if (f->anext)
        f->anext->aprev = f->aprev;
    f->anext = f->aprev = NULL;
}

/* The pool whose lock guards f, or NULL (bad future, pool closed, or a
 * handle inherited across fork: nothing to lock then). */
static mproc_pool *future_pool(const mproc_future *f)
{
    if (!future_ok(f) || !f->pool || mproc__pool_check(f->pool) < 0)
        return NULL;
    return f->pool;
}

static void mproc__pool_lock_opt(mproc_pool *p)
{
    if (p)
        mproc__pool_lock(p);
}

static void mproc__pool_unlock_opt(mproc_pool *p)
{
    if (p)
        mproc__pool_unlock(p);
}

static void future_link(mproc_pool *pool, struct mproc__pool_job *j)
{
    j->fnext = pool->futures;
    if (pool->futures)
        pool->futures->fprev = j;
    pool->futures = j;
}

static void future_unlink(mproc_pool *pool, struct mproc__pool_job *j)
{
    if (j->fprev)
        j->fprev->fnext = j->fnext;
    else if (pool && pool->futures == j)
        pool->futures = j->fnext;
    if (j->fnext)
        j->fnext->fprev = j->fprev;
    j->fnext = j->fprev = NULL;
}

static int pool_submit_ex_impl(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t in_len,
                               size_t out_cap, const struct mproc_pool_submit_opts *opts,
                               mproc_future **out)
{
    int rc = mproc__pool_check_open(pool);
    if (rc < 0)
        return rc;
    if (!fn || !out || (in_len && !in))
        return MPROC_EINVAL;
    if (in_len > UINT32_MAX || out_cap > UINT32_MAX ||
        pool->ops->max_items(pool, in_len, out_cap) == 0)
        return MPROC_EMSGSIZE;
    uint64_t tmo;
    if ((rc = mproc__pool_task_timeout(pool, opts ? opts->task_timeout_ms : 0, &tmo)) < 0)
        return rc;
    struct mproc__pool_job *j = calloc(1, sizeof *j);
    mproc_future *f = j ? future_new(pool, j) : NULL;
    if (!f) {
        free(j);
        return MPROC_ENOMEM;
    }
    j->kind = JOB_FUTURE;
    j->refs = 1; /* the future's */
    j->fn = fn;
    j->in_size = in_len;
    j->out_size = out_cap;
    j->total = 1;
    j->fut = f;
    j->timeout_ns = tmo;
    if (opts) {
        j->on_done = opts->on_done;
        j->on_done_arg = opts->on_done_arg;
    }
    uint32_t len32 = (uint32_t)in_len;
    struct mproc__pool_pchunk *c = mproc__pool_chunk_copy(j, 0, 1, 0, in, in_len, &len32);
    if (!c) {
        future_forget(f);
        free(j);
        free(f);
        return MPROC_ENOMEM;
    }
    future_link(pool, j);
    mproc__pool_pending_push_back(pool, c);
    pool->in_engine = true; /* a callback of a chunk failing to post must not re-enter */
    mproc__pool_fill(pool, NULL);
    pool->in_engine = false;
    *out = f;
    return 0;
}

int mproc_pool_submit(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t in_len,
                      size_t out_cap, mproc_future **out)
{
    return mproc_pool_submit_ex(pool, fn, in, in_len, out_cap, NULL, out);
}

static int pool_map_async_impl(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                               size_t in_size, void *out, size_t out_size,
                               const struct mproc_pool_map_opts *opts, mproc_future **fut)
{
    if (!fut)
        return MPROC_EINVAL;
    struct mproc__pool_job *j;
    int rc = mproc__pool_map_job(pool, JOB_MAP, fn, in, n, in_size, out, out_size, opts,
                                 MPROC_FOREVER, &j);
    if (rc < 0)
        return rc;
    mproc_future *f = future_new(pool, j);
    if (!f) {
        mproc__pool_job_unref(j);
        return MPROC_ENOMEM;
    }
    j->fut = f;
    if (n == 0) {
        f->done = true;
        f->done_seq = ++pool->done_seq;
    } else {
        future_link(pool, j);
        pool->in_engine = true;
        mproc__pool_fill(pool, NULL);
        pool->in_engine = false;
    }
    *fut = f;
    return 0;
}

static int future_wait_impl(mproc_future *f, int timeout_ms)
{
    struct mproc__deadline d;
    int rc = future_handle(f);
    if (rc < 0)
        return rc;
    if (mproc__deadline_init(&d, timeout_ms) < 0)
        return MPROC_EINVAL;
    if (f->done)
        return 0;
    if (!f->pool)
        return MPROC_EBROKEN; /* its pool was closed: it never finishes */
    if ((rc = mproc__pool_check(f->pool)) < 0)
        return rc;
    if (f->pool->in_engine)
        return MPROC_EBUSY;
    rc = mproc__pool_drive(f->pool, f->job, &d);
    if (f->done)
        return 0;
    if (rc < 0 && rc != MPROC_ETIMEDOUT)
        return rc;
    return timeout_ms == 0 ? MPROC_EAGAIN : MPROC_ETIMEDOUT;
}

/* The finished future that finished first among fs (-1: none); *pool the
 * pool they share (NULL: none live); *live the number of non-NULL entries. */
static int scan_futures(mproc_future *const *fs, size_t n, size_t *best, mproc_pool **pool,
                        size_t *live, size_t *pending)
{
    uint64_t best_seq = UINT64_MAX;
    *pool = NULL;
    *live = *pending = 0;
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        const mproc_future *f = fs[i];
        if (!f)
            continue;
        int rc = future_handle(f);
        if (rc < 0)
            return rc;
        (*live)++;
        if (f->done) {
            if (!found || f->done_seq < best_seq) {
                best_seq = f->done_seq;
                *best = i;
                found = true;
            }
            continue;
        }
        (*pending)++;
        if (*pool && f->pool != *pool)
            return MPROC_EINVAL;
        *pool = f->pool;
    }
    return found ? 1 : 0;
}

static int wait_many(mproc_future *const *fs, size_t n, int timeout_ms, size_t *index, bool all)
{
    struct mproc__deadline d;
    if (!fs || (!all && !index) || mproc__deadline_init(&d, timeout_ms) < 0)
        return MPROC_EINVAL;
    int last = 1; /* 1: not stepped yet */
    for (;;) {
        size_t best = 0, live, pending;
        mproc_pool *p;
        int rc = scan_futures(fs, n, &best, &p, &live, &pending);
        if (rc < 0)
            return rc;
        if (!all && rc == 1) {
            *index = best;
            return 0;
        }
        if (!all && live == 0)
            return MPROC_ENOENT;
        if (all && pending == 0)
            return 0;
        if (last == MPROC_ETIMEDOUT || (last == 0 && d.poll))
            return timeout_ms == 0 ? MPROC_EAGAIN : MPROC_ETIMEDOUT;
        if (last < 0)
            return last;
        if (!p)
            return MPROC_EBROKEN; /* its pool was closed: it never finishes */
        if ((rc = mproc__pool_check(p)) < 0)
            return rc;
        if (p->in_engine)
            return MPROC_EBUSY;
        last = p->bg ? mproc__pool_bg_wait(p, &d) : mproc__pool_step(p, &d);
    }
}

/* The pool of the first live future of fs, for its lock (NULL: none). */
static mproc_pool *futures_pool(mproc_future *const *fs, size_t n)
{
    for (size_t i = 0; fs && i < n; i++)
        if (fs[i])
            return future_pool(fs[i]);
    return NULL;
}

int mproc_future_wait_any(mproc_future *const *fs, size_t n, int timeout_ms, size_t *index)
{
    mproc_pool *p = futures_pool(fs, n);
    mproc__pool_lock_opt(p);
    int rc = wait_many(fs, n, timeout_ms, index, false);
    mproc__pool_unlock_opt(p);
    return rc;
}

int mproc_future_wait_all(mproc_future *const *fs, size_t n, int timeout_ms)
{
    mproc_pool *p = futures_pool(fs, n);
    mproc__pool_lock_opt(p);
    int rc = wait_many(fs, n, timeout_ms, NULL, true);
    mproc__pool_unlock_opt(p);
    return rc;
}

static int future_done_impl(mproc_future *f)
{
    int rc = future_handle(f);
    if (rc < 0)
        return rc;
    if (!f->done && f->pool && mproc__pool_check(f->pool) == 0 && !f->pool->in_engine) {
        struct mproc__deadline d;
        mproc__deadline_init(&d, 0);
        (void)mproc__pool_drive(f->pool, f->job, &d);
    }
    return f->done ? 1 : 0;
}

static int future_cancel_impl(mproc_future *f)
{
    int rc = future_handle(f);
    if (rc < 0)
        return rc;
    if (f->job->kind != JOB_FUTURE)
        return MPROC_EINVAL;
    if (f->done)
        return MPROC_EALREADY;
    if (!f->pool)
        return MPROC_EBROKEN; /* its pool was closed: nothing runs it */
    if ((rc = mproc__pool_check(f->pool)) < 0)
        return rc;
    bool was = f->pool->in_engine;
    f->pool->in_engine = true;
    rc = mproc__pool_cancel(f->pool, f->job);
    f->pool->in_engine = was;
    return rc;
}

static int future_result_impl(const mproc_future *f, const void **out, size_t *out_len)
{
    int rc = future_handle(f);
    if (rc < 0)
        return rc;
    if (!f->done)
        return MPROC_EAGAIN;
    if (f->status != 0)
        return f->status;
    if (out)
        *out = f->out;
    if (out_len)
        *out_len = f->out_len;
    return 0;
}

static int future_error_impl(const mproc_future *f, struct mproc_pool_error *err)
{
    int rc = future_handle(f);
    if (rc < 0)
        return rc;
    if (!err)
        return MPROC_EINVAL;
    if (!f->done)
        return MPROC_EAGAIN;
    *err = f->err;
    return 0;
}

static int future_close_impl(mproc_future *f)
{
    int rc = future_handle(f);
    if (rc < 0)
        return rc;
    struct mproc__pool_job *j = f->job;
    if (f->pool && f->pool->in_engine && f->pool->owner == getpid())
        return MPROC_EBUSY;
    if ((rc = mproc__handle_close(f, MPROC__FUTURE_MAGIC)) < 0)
        return rc; /* another thread closed it first */
    future_forget(f);
    if (!f->done) {
        future_unlink(f->pool, j);
        if (f->pool && f->pool->owner == getpid())
            mproc__pool_abandon(f->pool, j);
        else
            j->abandoned = true;
    }
    j->fut = NULL;
    mproc__pool_job_unref(j);
    free(f->out);
    f->out = NULL;
    f->pool = NULL;
    mproc__handle_retire(f); /* a stale call finds it CLOSED, not freed */
    return 0;
}

static int pool_shutdown_impl(mproc_pool *pool)
{
    int rc = mproc__pool_check(pool);
    if (rc < 0)
        return rc;
    pool->closed = true;
    return 0;
}

static int pool_join_impl(mproc_pool *pool, int timeout_ms)
{
    struct mproc__deadline d;
    int rc = mproc__pool_check(pool);
    if (rc < 0)
        return rc;
    if (pool->in_engine)
        return MPROC_EBUSY;
    if (mproc__deadline_init(&d, timeout_ms) < 0 || !pool->closed)
        return MPROC_EINVAL;
    if (pool->joined)
        return 0;
    if (!pool->terminated && !pool->broken) {
        rc = mproc__pool_drive(pool, NULL, &d);
        if (rc == MPROC_ETIMEDOUT && timeout_ms == 0)
            return MPROC_EAGAIN;
        if (rc < 0 && rc != MPROC_EBROKEN)
            return rc;
        if (pool->bg)
            mproc__pool_service_stop(pool); /* nothing is left to drive */
        if (!pool->broken && (rc = pool->ops->stop(pool, &d)) < 0)
            return rc == MPROC_ETIMEDOUT && timeout_ms == 0 ? MPROC_EAGAIN : rc;
    }
    pool->ops->kill(pool); /* reaps anything left (nothing, normally) */
    pool->joined = true;
    return 0;
}

static void pool_terminate_now(mproc_pool *pool)
{
    pool->closed = true;
    if (!pool->terminated) {
        pool->terminated = true;
        pool->ops->kill(pool);
        mproc__pool_fail_everything(pool, MPROC_ECANCELED);
        mproc__pool_bg_notify(pool);
    }
}

static int pool_terminate_impl(mproc_pool *pool)
{
    int rc = mproc__pool_check(pool);
    if (rc < 0)
        return rc;
    if (pool->in_engine)
        return MPROC_EBUSY;
    pool_terminate_now(pool);
    return 0;
}

/* Detach every open future from pool: they stay valid (and closable) but
 * never look at the pool again. */
static void pool_detach_futures(mproc_pool *pool)
{
    for (mproc_future *f = pool->all_futures, *nx; f; f = nx) {
        nx = f->anext;
        f->pool = NULL;
        f->anext = f->aprev = NULL;
    }
    pool->all_futures = NULL;
}

int mproc_pool_close(mproc_pool *pool)
{
    /* Marked CLOSED before the lock is taken: a second close returns
     * MPROC_EBADF at once instead of waiting on a lock that this one
     * destroys. Teardown below uses no call that checks the state word. */
    int rc = mproc__handle_close(pool, MPROC__POOL_MAGIC);
    if (rc < 0)
        return rc;
    if (pool->owner != getpid()) {
        /* An inherited copy: release this process's memory, nothing else. */
        pool_detach_futures(pool);
    } else {
        mproc__pool_lock(pool);
        if (pool->in_engine) { /* called from a callback */
            atomic_store_explicit(&pool->magic, MPROC__POOL_MAGIC, memory_order_release);
            mproc__pool_unlock(pool);
            return MPROC_EBUSY;
        }
        if (pool->bg)
            mproc__pool_service_stop(pool);
        if (!pool->joined)
            pool_terminate_now(pool);
        /* Futures the caller still holds stay valid but will not finish. */
        pool_detach_futures(pool);
        pool->ops->destroy(pool);
        mproc__pool_unlock(pool);
        mproc__pool_service_destroy(pool);
    }
    free(pool->ctab);
    pool->ctab = NULL;
    mproc__handle_retire(pool); /* a stale call finds it CLOSED, not freed */
    return 0;
}

int mproc_pool_workers(const mproc_pool *pool)
{
    int rc = pool_handle(pool);
    return rc < 0 ? rc : pool->opts.workers;
}

static int pool_worker_pids_impl(const mproc_pool *pool, pid_t *out, int max)
{
    int rc = mproc__pool_check(pool);
    if (rc < 0)
        return rc;
    if (max < 0 || (max > 0 && !out))
        return MPROC_EINVAL;
    return pool->ops->worker_pids(pool, out, max);
}

static int pool_stats_impl(const mproc_pool *pool, struct mproc_pool_stats *out)
{
    if (!pool || pool->magic != MPROC__POOL_MAGIC || !out)
        return MPROC_EINVAL;
    *out = pool->stats;
    return 0;
}

int mproc_pool_map(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n, size_t in_size,
                   void *out, size_t out_size, const struct mproc_pool_map_opts *opts,
                   int timeout_ms)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_map_impl(pool, fn, in, n, in_size, out, out_size, opts, timeout_ms);
    mproc__pool_lock(p);
    int rc = pool_map_impl(pool, fn, in, n, in_size, out, out_size, opts, timeout_ms);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_map_unordered(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                             size_t in_size, size_t out_size, mproc_pool_result_fn on_result,
                             void *arg, const struct mproc_pool_map_opts *opts, int timeout_ms)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_map_unordered_impl(pool, fn, in, n, in_size, out_size, on_result, arg, opts,
                                       timeout_ms);
    mproc__pool_lock(p);
    int rc = pool_map_unordered_impl(pool, fn, in, n, in_size, out_size, on_result, arg, opts,
                                     timeout_ms);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_map_stream(mproc_pool *pool, mproc_task_fn fn, mproc_pool_next_fn next,
                          void *next_arg, size_t max_in_size, size_t out_size,
                          mproc_pool_result_fn on_result, void *arg,
                          const struct mproc_pool_map_opts *opts, int timeout_ms)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_map_stream_impl(pool, fn, next, next_arg, max_in_size, out_size, on_result, arg,
                                    opts, timeout_ms);
    mproc__pool_lock(p);
    int rc = pool_map_stream_impl(pool, fn, next, next_arg, max_in_size, out_size, on_result, arg,
                                  opts, timeout_ms);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_submit_ex(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t in_len,
                         size_t out_cap, const struct mproc_pool_submit_opts *opts,
                         mproc_future **out)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_submit_ex_impl(pool, fn, in, in_len, out_cap, opts, out);
    mproc__pool_lock(p);
    int rc = pool_submit_ex_impl(pool, fn, in, in_len, out_cap, opts, out);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_map_async(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                         size_t in_size, void *out, size_t out_size,
                         const struct mproc_pool_map_opts *opts, mproc_future **fut)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_map_async_impl(pool, fn, in, n, in_size, out, out_size, opts, fut);
    mproc__pool_lock(p);
    int rc = pool_map_async_impl(pool, fn, in, n, in_size, out, out_size, opts, fut);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_shutdown(mproc_pool *pool)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_shutdown_impl(pool);
    mproc__pool_lock(p);
    int rc = pool_shutdown_impl(pool);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_join(mproc_pool *pool, int timeout_ms)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_join_impl(pool, timeout_ms);
    mproc__pool_lock(p);
    int rc = pool_join_impl(pool, timeout_ms);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_terminate(mproc_pool *pool)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_terminate_impl(pool);
    mproc__pool_lock(p);
    int rc = pool_terminate_impl(pool);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_worker_pids(const mproc_pool *pool, pid_t *out, int max)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_worker_pids_impl(pool, out, max);
    mproc__pool_lock(p);
    int rc = pool_worker_pids_impl(pool, out, max);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_pool_stats(const mproc_pool *pool, struct mproc_pool_stats *out)
{
    mproc_pool *p = (mproc_pool *)pool;
    int hc = pool_handle(p);
    if (hc < 0)
        return hc;
    if (mproc__pool_check(p) < 0)
        return pool_stats_impl(pool, out);
    mproc__pool_lock(p);
    int rc = pool_stats_impl(pool, out);
    mproc__pool_unlock(p);
    return rc;
}

int mproc_future_wait(mproc_future *f, int timeout_ms)
{
    mproc_pool *p = future_pool(f);
    mproc__pool_lock_opt(p);
    int rc = future_wait_impl(f, timeout_ms);
    mproc__pool_unlock_opt(p);
    return rc;
}

int mproc_future_done(mproc_future *f)
{
    mproc_pool *p = future_pool(f);
    mproc__pool_lock_opt(p);
    int rc = future_done_impl(f);
    mproc__pool_unlock_opt(p);
    return rc;
}

int mproc_future_cancel(mproc_future *f)
{
    mproc_pool *p = future_pool(f);
    mproc__pool_lock_opt(p);
    int rc = future_cancel_impl(f);
    mproc__pool_unlock_opt(p);
    return rc;
}

int mproc_future_result(const mproc_future *f, const void **out, size_t *out_len)
{
    mproc_pool *p = future_pool(f);
    mproc__pool_lock_opt(p);
    int rc = future_result_impl(f, out, out_len);
    mproc__pool_unlock_opt(p);
    return rc;
}

int mproc_future_error(const mproc_future *f, struct mproc_pool_error *err)
{
    mproc_pool *p = future_pool(f);
    mproc__pool_lock_opt(p);
    int rc = future_error_impl(f, err);
    mproc__pool_unlock_opt(p);
    return rc;
}

int mproc_future_close(mproc_future *f)
{
    mproc_pool *p = future_pool(f);
    mproc__pool_lock_opt(p);
    int rc = future_close_impl(f);
    mproc__pool_unlock_opt(p);
    return rc;
}
