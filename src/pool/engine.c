/* engine.c - the pool's engine: jobs, chunks, ordering, the bound on items in
 * flight, per-item errors, death policies and retries, over a backend
 * (pool_internal.h) that only moves chunks to workers and results back.
 *
 * Model
 * -----
 * A job is one map call (ordered, unordered or streaming) or one future. A
 * chunk (struct mproc__pool_pchunk) is `count` consecutive items of one job,
 * [base, base + count). Fresh chunks of a map are cut from the caller's
 * input array as slots free up; chunks that must be dispatched again (the
 * unstarted rest of a dead worker's chunk, an item retried, a future, a
 * stream's items) carry their own copy of their inputs and wait in the
 * pending FIFO, which goes before fresh work.
 *
 * Everything runs in the owner's thread, inside the call that waits (map,
 * future waits, join): there is no background thread, so no lock. The pool
 * handle is not thread-safe (documented in pool.h).
 *
 * Futures and async maps are jobs on p->futures; chunks of async maps are
 * cut by every fill, whichever call drives the pool. A cancelled chunk in
 * flight has its items delivered at once (cancelled = true) and whatever
 * the backend reports for it later is dropped.
 *
 * Invariants
 * ----------
 *  - Every chunk in flight has an entry in ctab; its token is
 *    (sequence << 32 | index). Tokens come back through shared memory, so a
 *    token is used only after it matches ctab exactly.
 *  - Each item is delivered exactly once: a chunk's items are delivered from
 *    the DONE/LOST event, or moved into a new chunk, or failed by
 *    mproc__pool_fail_everything(); the chunk is then freed.
 *  - A job lives while a chunk or its caller refers to it (refs). A caller
 *    that gives up (timeout, stop) marks it abandoned: its chunks still in
 *    flight are collected later and their results dropped - nothing is ever
 *    written to the caller's arrays after its call returned.
 */
#include "engine.h"

#include <stdlib.h>
#include <unistd.h>

/* Jobs and chunks ------------------------------------------------------------ */

void mproc__pool_job_unref(struct mproc__pool_job *j)
{
    if (--j->refs == 0) {
        free(j->rb);
        free(j->rb_out);
        free(j);
    }
}

static void chunk_free(struct mproc__pool_pchunk *c)
{
    mproc__pool_job_unref(c->job);
    free(c->in);
    free(c->in_lens);
    free(c);
}

static struct mproc__pool_pchunk *chunk_new(struct mproc__pool_job *j, uint64_t base,
                                            uint32_t count, int attempts)
{
    struct mproc__pool_pchunk *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->job = j;
    c->base = base;
    c->count = count;
    c->attempts = attempts;
    c->in_stride = j->in_size;
    j->refs++;
    return c;
}

/* A chunk of `count` items with their own copy of inputs (stride bytes each,
 * lens may be NULL). */
struct mproc__pool_pchunk *mproc__pool_chunk_copy(struct mproc__pool_job *j, uint64_t base,
                                                  uint32_t count, int attempts, const void *in,
                                                  size_t stride, const uint32_t *lens)
{
    struct mproc__pool_pchunk *c = chunk_new(j, base, count, attempts);
    if (!c)
        return NULL;
    c->in_stride = stride;
    c->in = malloc((size_t)count * stride + 1);
    c->in_lens = lens ? malloc(count * sizeof *lens) : NULL;
    if (!c->in || (lens && !c->in_lens)) {
        chunk_free(c);
        return NULL;
    }
    if (count > 0 && stride > 0)
        memcpy(c->in, in, (size_t)count * stride);
    if (lens)
        memcpy(c->in_lens, lens, count * sizeof *lens);
    return c;
}

static void pending_push_front(mproc_pool *p, struct mproc__pool_pchunk *c)
{
    c->next = p->pending_head;
    p->pending_head = c;
    if (!p->pending_tail)
        p->pending_tail = c;
}

void mproc__pool_pending_push_back(mproc_pool *p, struct mproc__pool_pchunk *c)
{
    c->next = NULL;
    if (p->pending_tail)
        p->pending_tail->next = c;
    else
        p->pending_head = c;
    p->pending_tail = c;
}

static struct mproc__pool_pchunk *pending_pop(mproc_pool *p)
{
    struct mproc__pool_pchunk *c = p->pending_head;
    if (c) {
        p->pending_head = c->next;
        if (!p->pending_head)
            p->pending_tail = NULL;
        c->next = NULL;
    }
    return c;
}

/* Delivery ------------------------------------------------------------------- */

static void future_finish(mproc_pool *p, struct mproc__pool_job *j, int status, const void *out,
                          size_t len, const struct mproc_pool_error *err)
{
    mproc_future *f = j->fut;
    if (j->fprev)
        j->fprev->fnext = j->fnext;
    else if (p->futures == j)
        p->futures = j->fnext;
    if (j->fnext)
        j->fnext->fprev = j->fprev;
    j->fnext = j->fprev = NULL;
    if (!f)
        return;
    f->status = status;
    if (err)
        f->err = *err;
    if (status == 0 && len > 0) {
        f->out = malloc(len);
        if (f->out) {
            memcpy(f->out, out, len);
            f->out_len = len;
        } else {
            f->status = MPROC_ENOMEM;
            f->err.code = MPROC_ENOMEM;
        }
    }
    f->done = true;
    f->done_seq = ++p->done_seq;
    if (j->on_done)
        j->on_done(j->on_done_arg, f);
}

/* An async map has delivered its last item: its future is done. */
static void async_map_finish(mproc_pool *p, struct mproc__pool_job *j)
{
    int rc = j->stop_rc ? j->stop_rc : j->first_err;
    struct mproc_pool_error e = {.code = rc, .index = j->first_err_index, .exit_code = -1};
    future_finish(p, j, rc, NULL, 0, rc ? &e : NULL);
}

static void emit(struct mproc__pool_job *j, uint64_t index, const void *out, size_t len,
                 const struct mproc_pool_error *err)
{
    if (j->stop_rc == 0) {
        int rc = j->on_result ? j->on_result(j->arg, index, out, len, err) : 0;
        if (rc < 0)
            j->stop_rc = rc;
    }
}

/* Ordered streams: hand over index if it is the next one (and then every
 * held result that follows it), else hold it. The window (job_may_cut) keeps
 * index - emitted below rb_cap. */
static void hold_or_emit(struct mproc__pool_job *j, uint64_t index, int status, const void *out,
                         size_t len, const struct mproc_pool_error *err)
{
    if (index != j->emitted) {
        if (index < j->emitted || index - j->emitted >= j->rb_cap)
            return; /* cannot happen */
        struct held *h = &j->rb[index % j->rb_cap];
        h->have = true;
        h->status = status;
        h->len = status == 0 ? len : 0;
        if (h->len)
            memcpy(j->rb_out + (index % j->rb_cap) * j->out_size, out, h->len);
        if (err)
            h->err = *err;
        return;
    }
    emit(j, index, out, len, err);
    j->emitted++;
    for (;;) {
        struct held *h = &j->rb[j->emitted % j->rb_cap];
        if (!h->have)
            break;
        h->have = false;
        emit(j, j->emitted, j->rb_out + (j->emitted % j->rb_cap) * j->out_size, h->len,
             h->status ? &h->err : NULL);
        j->emitted++;
    }
}

/* Deliver one item's outcome to its job. err is NULL on success. */
static void deliver(mproc_pool *p, struct mproc__pool_job *j, uint64_t index, int status,
                    const void *out, size_t len, const struct mproc_pool_error *err)
{
    j->delivered++;
    p->stats.items_done++;
    if (status != 0)
        p->stats.items_failed++;
    if (j->abandoned)
        return;
    if (status != 0 && (j->first_err == 0 || index < j->first_err_index)) {
        j->first_err = status;
        j->first_err_index = index;
    }
    switch (j->kind) {
    case JOB_MAP:
        if (index >= j->total)
            return;
        if (status == 0 && len)
            memcpy(j->out + index * j->out_size, out, len);
        if (j->mo.statuses)
            j->mo.statuses[index] = status;
        if (j->mo.out_lens)
            j->mo.out_lens[index] = status == 0 ? len : 0;
        if (j->mo.errors) {
            struct mproc_pool_error none = {0};
            j->mo.errors[index] = err ? *err : none;
        }
        break;
    case JOB_STREAM:
        if (j->ordered) {
            hold_or_emit(j, index, status, out, len, err);
            break;
        }
        /* fall through */
    case JOB_UNORDERED:
        if (j->stop_rc == 0) {
            int rc = j->on_result ? j->on_result(j->arg, index, out, len, err) : 0;
            if (rc < 0)
                j->stop_rc = rc;
        }
        break;
    case JOB_FUTURE:
        future_finish(p, j, status, out, len, err);
        break;
    }
    if (j->kind == JOB_MAP && j->fut && !j->fut->done && j->delivered >= j->total)
        async_map_finish(p, j);
}

static void progress(struct mproc__pool_job *j)
{
    if (!j->abandoned && j->mo.progress)
        j->mo.progress(j->mo.progress_arg, j->delivered, j->kind == JOB_STREAM ? 0 : j->total);
}

static struct mproc_pool_error item_error(int code, uint64_t index, pid_t pid, int attempts)
{
    struct mproc_pool_error e = {.code = code,
                                 .index = index,
                                 .pid = pid,
                                 .signal = 0,
                                 .exit_code = -1,
                                 .attempts = attempts};
    return e;
}

/* Items of a chunk that finished: statuses and results from the event. */
static void deliver_done(mproc_pool *p, struct mproc__pool_pchunk *c,
                         const struct mproc__pool_event *ev, uint32_t n)
{
    struct mproc__pool_job *j = c->job;
    if (j->kind == JOB_MAP && !j->abandoned && !j->mo.statuses && !j->mo.out_lens &&
        !j->mo.errors && ev->out_stride == j->out_size && c->base + n <= j->total) {
        /* The common case of a plain map: every item succeeded with a full
         * result, so the chunk's results are one block copy. */
        bool plain = true;
        for (uint32_t i = 0; i < n && plain; i++)
            plain = ev->status[i] == 0 && ev->out_len[i] == j->out_size;
        if (plain) {
            if (j->out_size)
                memcpy(j->out + c->base * j->out_size, ev->out, (size_t)n * j->out_size);
            j->delivered += n;
            p->stats.items_done += n;
            if (j->fut && !j->fut->done && j->delivered >= j->total)
                async_map_finish(p, j);
            return;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        int st = ev->status[i];
        size_t len = ev->out_len[i];
        if (st == 0 && len > j->out_size)
            st = MPROC_ECORRUPT;
        if (st > 0)
            st = MPROC_ECORRUPT;
        uint64_t idx = c->base + i;
        if (st == 0) {
            deliver(p, j, idx, 0, ev->out + (size_t)i * ev->out_stride, len, NULL);
        } else {
            struct mproc_pool_error e = item_error(st, idx, ev->pid, c->attempts + 1);
            deliver(p, j, idx, st, NULL, 0, &e);
        }
    }
}

/* Every chunk in flight or pending fails with `code` (terminate, broken). */
void mproc__pool_fail_everything(mproc_pool *p, int code)
{
    for (uint32_t t = 0; t < p->ctab_size; t++) {
        struct mproc__pool_pchunk *c = p->ctab[t];
        if (!c)
            continue;
        p->ctab[t] = NULL;
        p->in_flight_chunks--;
        mproc__pool_pending_push_back(p, c);
    }
    struct mproc__pool_pchunk *c;
    while ((c = pending_pop(p))) {
        for (uint32_t i = 0; i < c->count; i++) {
            struct mproc_pool_error e = item_error(code, c->base + i, 0, c->attempts);
            deliver(p, c->job, c->base + i, code, NULL, 0, &e);
        }
        progress(c->job);
        chunk_free(c);
    }
    for (struct mproc__pool_job *j = p->futures, *nx; j; j = nx) {
        nx = j->fnext;
        if (j->kind == JOB_MAP)
            mproc__pool_fail_uncut(p, j, code);
    }
}

/* Items of a map never cut from its input fail with code. */
void mproc__pool_fail_uncut(mproc_pool *p, struct mproc__pool_job *j, int code)
{
    while (j->dispatched < j->total) {
        uint64_t i = j->dispatched++;
        struct mproc_pool_error e = item_error(code, i, 0, 0);
        deliver(p, j, i, code, NULL, 0, &e);
    }
}

static void pool_break(mproc_pool *p, int code)
{
    if (p->broken)
        return;
    p->broken = code;
    p->closed = true;
    p->ops->kill(p);
    mproc__pool_fail_everything(p, code);
}

/* A chunk of a worker that died (or retired): deliver what it finished,
 * apply the policy to the item it was running, dispatch the rest again. */
static void handle_lost(mproc_pool *p, struct mproc__pool_pchunk *c,
                        const struct mproc__pool_event *ev)
{
    struct mproc__pool_job *j = c->job;
    uint32_t nd = ev->ndone <= c->count ? ev->ndone : c->count;
    deliver_done(p, c, ev, nd);
    uint32_t rest_from = nd;
    struct mproc__pool_pchunk *retry = NULL;
    if (ev->running && nd < c->count) {
        uint64_t idx = c->base + nd;
        int started = c->attempts + 1;
        rest_from = nd + 1;
        if (!ev->killed && p->opts.on_death == MPROC_POOL_RETRY_TASK &&
            started <= p->opts.max_retries && !j->abandoned) {
            retry = mproc__pool_chunk_copy(j, idx, 1, started, ev->in + (size_t)nd * ev->in_stride,
                                           ev->in_stride, ev->in_lens ? ev->in_lens + nd : NULL);
            if (retry)
                p->stats.retried++;
        }
        if (!retry) {
            int code = ev->killed ? ev->killed : MPROC_EWORKERDIED;
            struct mproc_pool_error e = item_error(code, idx, ev->pid, started);
            e.signal = ev->signal;
            e.exit_code = ev->exit_code;
            deliver(p, j, idx, code, NULL, 0, &e);
        }
    }
    if (rest_from < c->count) {
        uint32_t k = c->count - rest_from;
        struct mproc__pool_pchunk *rest = NULL;
        if (!j->abandoned)
            rest = mproc__pool_chunk_copy(j, c->base + rest_from, k, c->attempts,
                                          ev->in + (size_t)rest_from * ev->in_stride, ev->in_stride,
                                          ev->in_lens ? ev->in_lens + rest_from : NULL);
        if (rest) {
            pending_push_front(p, rest);
            p->stats.redispatched += k;
        } else {
            for (uint32_t i = rest_from; i < c->count; i++) {
                int code = j->abandoned ? MPROC_ECANCELED : MPROC_ENOMEM;
                struct mproc_pool_error e = item_error(code, c->base + i, 0, c->attempts);
                deliver(p, j, c->base + i, code, NULL, 0, &e);
            }
        }
    }
    if (retry)
        pending_push_front(p, retry);
    progress(j);
}

static struct mproc__pool_pchunk *take_token(mproc_pool *p, uint64_t token)
{
    uint32_t idx = (uint32_t)token;
    if (idx >= p->ctab_size || !p->ctab[idx] || p->ctab[idx]->token != token)
        return NULL;
    struct mproc__pool_pchunk *c = p->ctab[idx];
    p->ctab[idx] = NULL;
    p->in_flight_chunks--;
    return c;
}

static void handle_event(mproc_pool *p, struct mproc__pool_event *ev)
{
    if (ev->kind == MPROC__POOL_EV_WORKER_GONE) {
        p->death_unsettled = false;
        if (ev->retired) {
            p->stats.worker_retired++;
        } else if (ev->killed) {
            if (ev->killed == MPROC_ETIMEDOUT)
                p->stats.timed_out++;
        } else {
            p->stats.worker_deaths++;
            if (ev->init_failed || p->opts.on_death == MPROC_POOL_FAIL_POOL) {
                pool_break(p, MPROC_EBROKEN);
                return;
            }
        }
        if (!p->terminated) {
            int rc = p->ops->respawn(p, ev->worker);
            if (rc < 0)
                pool_break(p, MPROC_EBROKEN);
        }
        return;
    }
    if (ev->kind == MPROC__POOL_EV_LOST)
        p->death_unsettled = true;
    struct mproc__pool_pchunk *c = take_token(p, ev->token);
    if (!c)
        return; /* not ours (corrupt token): ignore rather than trust it */
    if (c->cancelled) {
        chunk_free(c); /* delivered when it was cancelled */
        return;
    }
    if (ev->kind == MPROC__POOL_EV_DONE) {
        deliver_done(p, c, ev, c->count);
        progress(c->job);
    } else {
        handle_lost(p, c, ev);
    }
    chunk_free(c);
}

/* Cancel and abandon --------------------------------------------------------- */

static struct mproc__pool_pchunk *find_in_flight(mproc_pool *p, const struct mproc__pool_job *j)
{
    for (uint32_t t = 0; t < p->ctab_size; t++)
        if (p->ctab[t] && p->ctab[t]->job == j && !p->ctab[t]->cancelled)
            return p->ctab[t];
    return NULL;
}

static void deliver_cancelled(mproc_pool *p, struct mproc__pool_pchunk *c)
{
    for (uint32_t i = 0; i < c->count; i++) {
        struct mproc_pool_error e = item_error(MPROC_ECANCELED, c->base + i, 0, c->attempts);
        deliver(p, c->job, c->base + i, MPROC_ECANCELED, NULL, 0, &e);
    }
}

int mproc__pool_cancel(mproc_pool *p, struct mproc__pool_job *j)
{
    if (!j->fut || j->fut->done)
        return MPROC_EALREADY;
    struct mproc__pool_pchunk **pp = &p->pending_head, *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        struct mproc__pool_pchunk *c = *pp;
        if (c->job != j)
            continue;
        *pp = c->next;
        if (p->pending_tail == c)
            p->pending_tail = prev;
        p->stats.cancelled++;
        deliver_cancelled(p, c);
        chunk_free(c);
        return 0;
    }
    struct mproc__pool_pchunk *c = find_in_flight(p, j);
    if (!c)
        return MPROC_EALREADY;
    if (!p->ops->cancel)
        return MPROC_EBUSY;
    int rc = p->ops->cancel(p, c->token, true);
    if (rc < 0)
        return rc == MPROC_ENOENT ? MPROC_EALREADY : rc;
    p->stats.cancelled++;
    if (rc == 0) {
        /* Taken back before any worker started it. */
        c = take_token(p, c->token);
        deliver_cancelled(p, c);
        chunk_free(c);
        return 0;
    }
    /* Its worker is being killed: the future reports the cancel now, the
     * LOST event that follows is dropped. */
    c->cancelled = true;
    deliver_cancelled(p, c);
    return 0;
}

void mproc__pool_abandon(mproc_pool *p, struct mproc__pool_job *j)
{
    j->abandoned = true;
    if (!p->ops->cancel)
        return;
    for (uint32_t t = 0; t < p->ctab_size; t++) {
        struct mproc__pool_pchunk *c = p->ctab[t];
        if (!c || c->job != j || c->cancelled)
            continue;
        if (p->ops->cancel(p, c->token, false) == 0) {
            c = take_token(p, c->token);
            deliver_cancelled(p, c); /* counted only: the job is abandoned */
            chunk_free(c);
        }
    }
}

/* One step of the pool: post what fits, then handle one event (waiting up
 * to the deadline for it). For the calls that wait on several futures. */
int mproc__pool_step(mproc_pool *p, const struct mproc__deadline *d)
{
    if (p->broken)
        return p->broken;
    p->in_engine = true;
    mproc__pool_fill(p, NULL);
    struct mproc__pool_event ev;
    int rc = p->ops->poll(p, &ev, d->poll ? NULL : d);
    if (rc == 0) {
        handle_event(p, &ev);
        p->ops->release(p, &ev);
        mproc__pool_fill(p, NULL);
    }
    p->in_engine = false;
    return p->broken ? p->broken : rc;
}

/* Dispatch ------------------------------------------------------------------- */

/* 0 posted, MPROC_EAGAIN (no room), or another code (chunk not posted). */
static int post_chunk(mproc_pool *p, struct mproc__pool_pchunk *c)
{
    if (p->in_flight_chunks >= p->ctab_size)
        return MPROC_EAGAIN;
    /* Chunks mostly finish in the order they were posted, so the entry after
     * the last one used is almost always free. */
    uint32_t idx = p->ctab_hint;
    while (p->ctab[idx])
        idx = idx + 1 == p->ctab_size ? 0 : idx + 1;
    c->token = (uint64_t)(++p->token_seq) << 32 | idx;
    const unsigned char *in = c->in ? c->in : c->job->in + c->base * c->job->in_size;
    struct mproc__pool_chunk ch = {.token = c->token,
                                   .fn = c->job->fn,
                                   .count = c->count,
                                   .in_stride = (uint32_t)c->in_stride,
                                   .out_size = (uint32_t)c->job->out_size,
                                   .in = in,
                                   .in_lens = c->in_lens,
                                   .timeout_ns = c->job->timeout_ns};
    int rc = p->ops->post(p, &ch);
    if (rc < 0)
        return rc;
    p->ctab[idx] = c;
    p->ctab_hint = idx + 1 == p->ctab_size ? 0 : idx + 1;
    p->in_flight_chunks++;
    return 0;
}

static bool job_may_cut(const struct mproc__pool_job *j)
{
    if (!j || j->abandoned || j->stop_rc || j->kind == JOB_FUTURE)
        return false;
    if (j->kind == JOB_STREAM ? j->eof : j->dispatched >= j->total)
        return false;
    uint64_t in_flight = j->dispatched - (j->ordered ? j->emitted : j->delivered);
    return in_flight == 0 || in_flight + j->chunk <= j->max_in_flight;
}

/* The next fresh chunk of a job (NULL: none now; stop_rc may be set). */
static struct mproc__pool_pchunk *cut_chunk(struct mproc__pool_job *j)
{
    if (j->kind != JOB_STREAM) {
        uint64_t n = j->total - j->dispatched;
        uint32_t k = (uint32_t)(n < j->chunk ? n : j->chunk);
        struct mproc__pool_pchunk *c = chunk_new(j, j->dispatched, k, 0);
        if (c)
            j->dispatched += k;
        return c;
    }
    struct mproc__pool_pchunk *c = chunk_new(j, j->dispatched, 0, 0);
    if (!c)
        return NULL;
    c->in = malloc(j->chunk * j->in_size + 1);
    c->in_lens = malloc(j->chunk * sizeof *c->in_lens);
    if (!c->in || !c->in_lens) {
        chunk_free(c);
        j->stop_rc = MPROC_ENOMEM;
        return NULL;
    }
    uint32_t k = 0;
    while (k < j->chunk) {
        size_t len = j->in_size;
        int rc = j->next(j->next_arg, j->dispatched + k, c->in + (size_t)k * j->in_size, &len);
        if (rc == 0) {
            j->eof = true;
            break;
        }
        if (rc < 0 || len > j->in_size) {
            j->stop_rc = rc < 0 ? rc : MPROC_EMSGSIZE;
            break;
        }
        c->in_lens[k++] = (uint32_t)len;
    }
    if (k == 0 || j->stop_rc) {
        chunk_free(c);
        return NULL;
    }
    c->count = k;
    j->dispatched += k;
    return c;
}

/* Every item of a chunk that cannot be posted fails with code. */
static void fail_chunk(mproc_pool *p, struct mproc__pool_pchunk *c, int code)
{
    for (uint32_t i = 0; i < c->count; i++) {
        struct mproc_pool_error e = item_error(code, c->base + i, 0, c->attempts);
        deliver(p, c->job, c->base + i, code, NULL, 0, &e);
    }
    progress(c->job);
    chunk_free(c);
}

/* Post as much as fits: pending chunks first, then fresh ones of job, then
 * of the async maps. */
static void fill_job(mproc_pool *p, struct mproc__pool_job *j);

void mproc__pool_fill(mproc_pool *p, struct mproc__pool_job *j)
{
    fill_job(p, j);
    for (struct mproc__pool_job *a = p->futures; a; a = a->fnext)
        if (a != j && a->kind != JOB_FUTURE && job_may_cut(a) && !p->broken &&
            p->in_flight_chunks < p->ctab_size)
            fill_job(p, a);
}

static void fill_job(mproc_pool *p, struct mproc__pool_job *j)
{
    while (!p->broken && p->in_flight_chunks < p->ctab_size) {
        struct mproc__pool_pchunk *c = pending_pop(p);
        if (c && c->job->abandoned) {
            /* Nobody waits for it: count it as delivered and drop it. */
            for (uint32_t i = 0; i < c->count; i++)
                deliver(p, c->job, c->base + i, MPROC_ECANCELED, NULL, 0, NULL);
            chunk_free(c);
            continue;
        }
        if (c) {
            int rc = post_chunk(p, c);
            if (rc == MPROC_EAGAIN) {
                pending_push_front(p, c);
                return;
            }
            if (rc < 0)
                fail_chunk(p, c, rc);
            continue;
        }
        if (!job_may_cut(j))
            return;
        c = cut_chunk(j);
        if (!c)
            return;
        int rc = post_chunk(p, c);
        if (rc < 0 && rc != MPROC_EAGAIN) {
            /* The backend refuses it for good (unknown task name, ...). */
            fail_chunk(p, c, rc);
            continue;
        }
        if (rc < 0) {
            /* Keep its inputs: a map chunk copies them out of the caller's array. */
            struct mproc__pool_pchunk *keep = c;
            if (!c->in) {
                keep = mproc__pool_chunk_copy(j, c->base, c->count, 0, j->in + c->base * j->in_size,
                                              j->in_size, NULL);
                chunk_free(c);
            }
            if (!keep) {
                j->stop_rc = MPROC_ENOMEM;
                return;
            }
            pending_push_front(p, keep);
            return;
        }
    }
}

bool mproc__pool_job_finished(const mproc_pool *p, const struct mproc__pool_job *j)
{
    if (!j) /* join: everything */
        return p->futures == NULL && p->in_flight_chunks == 0 && p->pending_head == NULL;
    if (j->kind == JOB_FUTURE || (j->fut && j->kind == JOB_MAP))
        return j->fut == NULL || j->fut->done;
    if (j->stop_rc)
        return true;
    if (j->kind == JOB_STREAM)
        return j->eof && j->delivered == j->dispatched;
    return j->delivered >= j->total;
}

/* Run the pool until job finished (NULL: all work), the deadline passed, or
 * the pool broke. */
/* A worker's death ends with its LOST chunks, then WORKER_GONE (counted,
 * replaced). When the last LOST chunk finishes the job, the GONE event is
 * usually ready too: take it now (never waiting), so that the caller finds
 * the death counted and the worker replaced when its call returns. */
static void settle_deaths(mproc_pool *p)
{
    while (p->death_unsettled && !p->broken) {
        struct mproc__pool_event ev;
        if (p->ops->poll(p, &ev, NULL) < 0)
            return;
        handle_event(p, &ev);
        p->ops->release(p, &ev);
    }
}

static int drive_loop(mproc_pool *p, struct mproc__pool_job *j, const struct mproc__deadline *d)
{
    for (;;) {
        if (p->broken)
            return p->broken;
        mproc__pool_fill(p, j);
        if (mproc__pool_job_finished(p, j)) {
            settle_deaths(p);
            return 0;
        }
        if (p->broken)
            return p->broken;
        struct mproc__pool_event ev;
        int rc = p->ops->poll(p, &ev, d->poll ? NULL : d);
        if (rc < 0)
            return rc;
        handle_event(p, &ev);
        p->ops->release(p, &ev);
    }
}

int mproc__pool_pump(mproc_pool *p, int max)
{
    int n = 0;
    p->in_engine = true;
    mproc__pool_fill(p, NULL);
    struct mproc__pool_event ev;
    while (n < max && !p->broken && p->ops->poll(p, &ev, NULL) == 0) {
        handle_event(p, &ev);
        p->ops->release(p, &ev);
        mproc__pool_fill(p, NULL);
        n++;
    }
    p->in_engine = false;
    return p->broken ? p->broken : n;
}

void mproc__pool_job_link(mproc_pool *p, struct mproc__pool_job *j)
{
    j->fprev = NULL;
    j->fnext = p->futures;
    if (p->futures)
        p->futures->fprev = j;
    p->futures = j;
}

void mproc__pool_job_unlink(mproc_pool *p, struct mproc__pool_job *j)
{
    if (j->fprev)
        j->fprev->fnext = j->fnext;
    else if (p && p->futures == j)
        p->futures = j->fnext;
    if (j->fnext)
        j->fnext->fprev = j->fprev;
    j->fnext = j->fprev = NULL;
}

int mproc__pool_drive(mproc_pool *p, struct mproc__pool_job *j, const struct mproc__deadline *d)
{
    if (p->bg) {
        /* The service thread drives; wait for it (the lock is held). */
        for (;;) {
            if (mproc__pool_job_finished(p, j))
                return 0;
            int rc = mproc__pool_bg_wait(p, d);
            if (rc < 0)
                return mproc__pool_job_finished(p, j) ? 0 : rc;
        }
    }
    /* Callbacks (results, progress) run inside this loop; in_engine makes the
     * calls that would re-enter it fail with MPROC_EBUSY instead. */
    p->in_engine = true;
    int rc = drive_loop(p, j, d);
    p->in_engine = false;
    return rc;
}
