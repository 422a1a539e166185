/* pool.c - the pool's engine: jobs, chunks, ordering, the bound on items in
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
 * future_wait, join): there is no background thread, so no lock. The pool
 * handle is not thread-safe (documented in pool.h).
 *
 * Invariants
 * ----------
 *  - Every chunk in flight has an entry in ctab; its token is
 *    (sequence << 32 | index). Tokens come back through shared memory, so a
 *    token is used only after it matches ctab exactly.
 *  - Each item is delivered exactly once: a chunk's items are delivered from
 *    the DONE/LOST event, or moved into a new chunk, or failed by
 *    fail_everything(); the chunk is then freed.
 *  - A job lives while a chunk or its caller refers to it (refs). A caller
 *    that gives up (timeout, stop) marks it abandoned: its chunks still in
 *    flight are collected later and their results dropped - nothing is ever
 *    written to the caller's arrays after its call returned.
 */
#include "pool_internal.h"

#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

enum job_kind { JOB_MAP, JOB_UNORDERED, JOB_STREAM, JOB_FUTURE };

struct mproc__pool_job {
    int kind;
    int refs;
    bool abandoned;
    mproc_task_fn fn;
    const unsigned char *in; /* map: the caller's array */
    size_t in_size;          /* map: item size; stream: max item size */
    size_t out_size;
    unsigned char *out; /* map: the caller's array */
    struct mproc_pool_map_opts mo;
    mproc_pool_result_fn on_result;
    void *arg;
    mproc_pool_next_fn next;
    void *next_arg;
    bool eof;
    size_t chunk;
    size_t max_in_flight;
    uint64_t total;      /* items in the job; streams: known at eof */
    uint64_t dispatched; /* fresh items cut so far */
    uint64_t delivered;
    int first_err;
    uint64_t first_err_index;
    int stop_rc;
    struct mproc_future *fut;
    struct mproc__pool_job *fnext, *fprev; /* p->futures */
    /* Ordered streams: results wait in a ring of rb_cap entries, by index, until
     * every earlier one was handed over; emitted counts those handed over. */
    bool ordered;
    uint64_t emitted;
    size_t rb_cap;
    struct held *rb;
    unsigned char *rb_out; /* rb_cap * out_size bytes */
};

struct held {
    bool have;
    int status;
    size_t len;
    struct mproc_pool_error err;
};

struct mproc__pool_pchunk {
    struct mproc__pool_pchunk *next; /* pending FIFO */
    struct mproc__pool_job *job;
    uint64_t token;
    uint64_t base;
    uint32_t count;
    int attempts;      /* times these items were started before */
    unsigned char *in; /* own copy of the inputs, or NULL: from job->in */
    uint32_t *in_lens; /* own copy, or NULL: in_stride bytes each */
    size_t in_stride;
};

struct mproc_future {
    mproc_pool *pool;
    struct mproc__pool_job *job;
    bool done;
    int status;
    struct mproc_pool_error err;
    unsigned char *out;
    size_t out_len;
};

/* mproc_cpu_count lives in process.c; weak so that the pool also links in a
 * tree where it is not there yet (then the affinity mask is used). */
__attribute__((weak)) int mproc_cpu_count(void);

static int default_workers(void)
{
    if (mproc_cpu_count) return mproc_cpu_count();
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
    return 1;
}

int mproc__pool_opts_resolve(const struct mproc_pool_opts *opts, struct mproc_pool_opts *out)
{
    struct mproc_pool_opts o = {0};
    if (opts) o = *opts;
    if (o.workers < 0 || o.workers > 4096 || o.max_retries < 0 || o.on_death < 0 ||
        o.on_death > MPROC_POOL_FAIL_POOL || (o.slot_bytes && o.slot_bytes < 4096) ||
        o.slot_bytes > ((size_t)1 << 30) || o.slots_per_worker > 1024)
        return MPROC_EINVAL;
    if (o.start_method != MPROC_START_FORK && o.start_method != MPROC_START_SPAWN)
        return MPROC_EINVAL;
    if (o.workers == 0) o.workers = default_workers();
    if (o.max_retries == 0) o.max_retries = 3;
    if (o.slot_bytes == 0) o.slot_bytes = 256 * 1024;
    o.slot_bytes = (o.slot_bytes + 63) & ~(size_t)63;
    if (o.slots_per_worker == 0) o.slots_per_worker = 8;
    *out = o;
    return 0;
}

int mproc__pool_new(mproc_pool **out, const struct mproc_pool_opts *resolved,
                    const struct mproc__pool_backend *ops, void *be)
{
    if (!out || !resolved || !ops || !be) return MPROC_EINVAL;
    mproc_pool *p = calloc(1, sizeof *p);
    if (!p) return MPROC_ENOMEM;
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
    *out = p;
    return 0;
}

int mproc_pool_create(mproc_pool **out, const struct mproc_pool_opts *opts)
{
    struct mproc_pool_opts o;
    void *be;
    if (!out) return MPROC_EINVAL;
    int rc = mproc__pool_opts_resolve(opts, &o);
    if (rc < 0) return rc;
    if (o.start_method != MPROC_START_FORK) return MPROC_ENOTSUP;
    if ((rc = mproc__pool_local_start(&o, &be)) < 0) return rc;
    mproc_pool *p;
    if ((rc = mproc__pool_new(&p, &o, &mproc__pool_local_backend, be)) < 0) {
        struct mproc_pool tmp = {.ops = &mproc__pool_local_backend, .be = be};
        mproc__pool_local_backend.destroy(&tmp);
        return rc;
    }
    *out = p;
    return 0;
}

/* Jobs and chunks ------------------------------------------------------------ */

static void job_unref(struct mproc__pool_job *j)
{
    if (--j->refs == 0) {
        free(j->rb);
        free(j->rb_out);
        free(j);
    }
}

static void chunk_free(struct mproc__pool_pchunk *c)
{
    job_unref(c->job);
    free(c->in);
    free(c->in_lens);
    free(c);
}

static struct mproc__pool_pchunk *chunk_new(struct mproc__pool_job *j, uint64_t base,
                                            uint32_t count, int attempts)
{
    struct mproc__pool_pchunk *c = calloc(1, sizeof *c);
    if (!c) return NULL;
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
static struct mproc__pool_pchunk *chunk_copy(struct mproc__pool_job *j, uint64_t base,
                                             uint32_t count, int attempts, const void *in,
                                             size_t stride, const uint32_t *lens)
{
    struct mproc__pool_pchunk *c = chunk_new(j, base, count, attempts);
    if (!c) return NULL;
    c->in_stride = stride;
    c->in = malloc((size_t)count * stride + 1);
    c->in_lens = lens ? malloc(count * sizeof *lens) : NULL;
    if (!c->in || (lens && !c->in_lens)) {
        chunk_free(c);
        return NULL;
    }
    if (count > 0 && stride > 0) memcpy(c->in, in, (size_t)count * stride);
    if (lens) memcpy(c->in_lens, lens, count * sizeof *lens);
    return c;
}

static void pending_push_front(mproc_pool *p, struct mproc__pool_pchunk *c)
{
    c->next = p->pending_head;
    p->pending_head = c;
    if (!p->pending_tail) p->pending_tail = c;
}

static void pending_push_back(mproc_pool *p, struct mproc__pool_pchunk *c)
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
        if (!p->pending_head) p->pending_tail = NULL;
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
    if (j->fnext) j->fnext->fprev = j->fprev;
    j->fnext = j->fprev = NULL;
    if (!f) return;
    f->status = status;
    if (err) f->err = *err;
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
}

static void emit(struct mproc__pool_job *j, uint64_t index, const void *out, size_t len,
                 const struct mproc_pool_error *err)
{
    if (j->stop_rc == 0) {
        int rc = j->on_result ? j->on_result(j->arg, index, out, len, err) : 0;
        if (rc < 0) j->stop_rc = rc;
    }
}

/* Ordered streams: hand over index if it is the next one (and then every
 * held result that follows it), else hold it. The window (job_may_cut) keeps
 * index - emitted below rb_cap. */
static void hold_or_emit(struct mproc__pool_job *j, uint64_t index, int status, const void *out,
                         size_t len, const struct mproc_pool_error *err)
{
    if (index != j->emitted) {
        if (index < j->emitted || index - j->emitted >= j->rb_cap) return; /* cannot happen */
        struct held *h = &j->rb[index % j->rb_cap];
        h->have = true;
        h->status = status;
        h->len = status == 0 ? len : 0;
        if (h->len) memcpy(j->rb_out + (index % j->rb_cap) * j->out_size, out, h->len);
        if (err) h->err = *err;
        return;
    }
    emit(j, index, out, len, err);
    j->emitted++;
    for (;;) {
        struct held *h = &j->rb[j->emitted % j->rb_cap];
        if (!h->have) break;
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
    if (status != 0) p->stats.items_failed++;
    if (j->abandoned) return;
    if (status != 0 && (j->first_err == 0 || index < j->first_err_index)) {
        j->first_err = status;
        j->first_err_index = index;
    }
    switch (j->kind) {
    case JOB_MAP:
        if (index >= j->total) return;
        if (status == 0 && len) memcpy(j->out + index * j->out_size, out, len);
        if (j->mo.statuses) j->mo.statuses[index] = status;
        if (j->mo.out_lens) j->mo.out_lens[index] = status == 0 ? len : 0;
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
            if (rc < 0) j->stop_rc = rc;
        }
        break;
    case JOB_FUTURE:
        future_finish(p, j, status, out, len, err);
        break;
    }
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
            memcpy(j->out + c->base * j->out_size, ev->out, (size_t)n * j->out_size);
            j->delivered += n;
            p->stats.items_done += n;
            return;
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        int st = ev->status[i];
        size_t len = ev->out_len[i];
        if (st == 0 && len > j->out_size) st = MPROC_ECORRUPT;
        if (st > 0) st = MPROC_ECORRUPT;
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
static void fail_everything(mproc_pool *p, int code)
{
    for (uint32_t t = 0; t < p->ctab_size; t++) {
        struct mproc__pool_pchunk *c = p->ctab[t];
        if (!c) continue;
        p->ctab[t] = NULL;
        p->in_flight_chunks--;
        pending_push_back(p, c);
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
}

static void pool_break(mproc_pool *p, int code)
{
    if (p->broken) return;
    p->broken = code;
    p->closed = true;
    p->ops->kill(p);
    fail_everything(p, code);
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
        if (p->opts.on_death == MPROC_POOL_RETRY_TASK && started <= p->opts.max_retries &&
            !j->abandoned) {
            retry = chunk_copy(j, idx, 1, started, ev->in + (size_t)nd * ev->in_stride,
                               ev->in_stride, ev->in_lens ? ev->in_lens + nd : NULL);
            if (retry) p->stats.retried++;
        }
        if (!retry) {
            struct mproc_pool_error e = item_error(MPROC_EWORKERDIED, idx, ev->pid, started);
            e.signal = ev->signal;
            e.exit_code = ev->exit_code;
            deliver(p, j, idx, MPROC_EWORKERDIED, NULL, 0, &e);
        }
    }
    if (rest_from < c->count) {
        uint32_t k = c->count - rest_from;
        struct mproc__pool_pchunk *rest = NULL;
        if (!j->abandoned)
            rest = chunk_copy(j, c->base + rest_from, k, c->attempts,
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
    if (retry) pending_push_front(p, retry);
    progress(j);
}

static struct mproc__pool_pchunk *take_token(mproc_pool *p, uint64_t token)
{
    uint32_t idx = (uint32_t)token;
    if (idx >= p->ctab_size || !p->ctab[idx] || p->ctab[idx]->token != token) return NULL;
    struct mproc__pool_pchunk *c = p->ctab[idx];
    p->ctab[idx] = NULL;
    p->in_flight_chunks--;
    return c;
}

static void handle_event(mproc_pool *p, struct mproc__pool_event *ev)
{
    if (ev->kind == MPROC__POOL_EV_WORKER_GONE) {
        if (ev->retired) {
            p->stats.worker_retired++;
        } else {
            p->stats.worker_deaths++;
            if (ev->init_failed || p->opts.on_death == MPROC_POOL_FAIL_POOL) {
                pool_break(p, MPROC_EBROKEN);
                return;
            }
        }
        if (!p->terminated) {
            int rc = p->ops->respawn(p, ev->worker);
            if (rc < 0) pool_break(p, MPROC_EBROKEN);
        }
        return;
    }
    struct mproc__pool_pchunk *c = take_token(p, ev->token);
    if (!c) return; /* not ours (corrupt token): ignore rather than trust it */
    if (ev->kind == MPROC__POOL_EV_DONE) {
        deliver_done(p, c, ev, c->count);
        progress(c->job);
    } else {
        handle_lost(p, c, ev);
    }
    chunk_free(c);
}

/* Dispatch ------------------------------------------------------------------- */

/* 0 posted, MPROC_EAGAIN (no room), or another code (chunk not posted). */
static int post_chunk(mproc_pool *p, struct mproc__pool_pchunk *c)
{
    if (p->in_flight_chunks >= p->ctab_size) return MPROC_EAGAIN;
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
                                   .in_lens = c->in_lens};
    int rc = p->ops->post(p, &ch);
    if (rc < 0) return rc;
    p->ctab[idx] = c;
    p->ctab_hint = idx + 1 == p->ctab_size ? 0 : idx + 1;
    p->in_flight_chunks++;
    return 0;
}

static bool job_may_cut(const struct mproc__pool_job *j)
{
    if (!j || j->abandoned || j->stop_rc || j->kind == JOB_FUTURE) return false;
    if (j->kind == JOB_STREAM ? j->eof : j->dispatched >= j->total) return false;
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
        if (c) j->dispatched += k;
        return c;
    }
    struct mproc__pool_pchunk *c = chunk_new(j, j->dispatched, 0, 0);
    if (!c) return NULL;
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

/* Post as much as fits: pending chunks first, then fresh ones of job. */
static void fill(mproc_pool *p, struct mproc__pool_job *j)
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
            if (rc < 0) {
                for (uint32_t i = 0; i < c->count; i++) {
                    struct mproc_pool_error e = item_error(rc, c->base + i, 0, c->attempts);
                    deliver(p, c->job, c->base + i, rc, NULL, 0, &e);
                }
                chunk_free(c);
            }
            continue;
        }
        if (!job_may_cut(j)) return;
        c = cut_chunk(j);
        if (!c) return;
        int rc = post_chunk(p, c);
        if (rc < 0) {
            /* Keep its inputs: a map chunk copies them out of the caller's array. */
            struct mproc__pool_pchunk *keep = c;
            if (!c->in) {
                keep = chunk_copy(j, c->base, c->count, 0, j->in + c->base * j->in_size, j->in_size,
                                  NULL);
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

static bool job_finished(const mproc_pool *p, const struct mproc__pool_job *j)
{
    if (!j) /* join: everything */
        return p->futures == NULL && p->in_flight_chunks == 0 && p->pending_head == NULL;
    if (j->kind == JOB_FUTURE) return j->fut == NULL || j->fut->done;
    if (j->stop_rc) return true;
    if (j->kind == JOB_STREAM) return j->eof && j->delivered == j->dispatched;
    return j->delivered >= j->total;
}

/* Run the pool until job finished (NULL: all work), the deadline passed, or
 * the pool broke. */
static int drive(mproc_pool *p, struct mproc__pool_job *j, const struct mproc__deadline *d)
{
    for (;;) {
        if (p->broken) return p->broken;
        fill(p, j);
        if (job_finished(p, j)) return 0;
        if (p->broken) return p->broken;
        struct mproc__pool_event ev;
        int rc = p->ops->poll(p, &ev, d->poll ? NULL : d);
        if (rc < 0) return rc;
        handle_event(p, &ev);
        p->ops->release(p, &ev);
    }
}

/* Public calls --------------------------------------------------------------- */

static int check_pool(const mproc_pool *p)
{
    if (!p) return MPROC_EINVAL;
    if (p->owner != getpid()) return MPROC_ENOTCHILD;
    return 0;
}

static int check_open(const mproc_pool *p)
{
    int rc = check_pool(p);
    if (rc < 0) return rc;
    if (p->broken) return p->broken;
    if (p->terminated) return MPROC_ECANCELED;
    if (p->closed) return MPROC_ECLOSED;
    return 0;
}

static int run_job(mproc_pool *p, struct mproc__pool_job *j, int timeout_ms)
{
    struct mproc__deadline d;
    mproc__deadline_init(&d, timeout_ms);
    int rc = drive(p, j, &d);
    if (p->broken && j->kind != JOB_STREAM) {
        /* Items never cut from the input fail too: each index gets its outcome. */
        for (uint64_t i = j->dispatched; i < j->total; i++) {
            struct mproc_pool_error e = item_error(p->broken, i, 0, 0);
            deliver(p, j, i, p->broken, NULL, 0, &e);
        }
        j->dispatched = j->total;
    }
    if (rc == 0) rc = j->stop_rc ? j->stop_rc : j->first_err;
    if (!job_finished(p, j) || j->stop_rc) j->abandoned = true;
    job_unref(j);
    return rc;
}

static int map_common(mproc_pool *p, int kind, mproc_task_fn fn, const void *in, size_t n,
                      size_t in_size, void *out, size_t out_size,
                      const struct mproc_pool_map_opts *opts, int timeout_ms,
                      struct mproc__pool_job **jout)
{
    int rc = check_open(p);
    if (rc < 0) return rc;
    struct mproc__deadline d;
    if (!fn || mproc__deadline_init(&d, timeout_ms) < 0 || out_size > UINT32_MAX ||
        in_size > UINT32_MAX)
        return MPROC_EINVAL;
    if (kind != JOB_STREAM && n > 0 && (!in || in_size == 0)) return MPROC_EINVAL;
    if (kind == JOB_MAP && n > 0 && out_size > 0 && !out) return MPROC_EINVAL;
    size_t max = p->ops->max_items(p, in_size, out_size);
    if (max == 0) return MPROC_EMSGSIZE;
    struct mproc__pool_job *j = calloc(1, sizeof *j);
    if (!j) return MPROC_ENOMEM;
    j->kind = kind;
    j->refs = 1;
    j->fn = fn;
    j->in = in;
    j->in_size = in_size;
    j->out = out;
    j->out_size = out_size;
    j->total = n;
    if (opts) j->mo = *opts;
    size_t chunk = j->mo.chunksize;
    if (chunk == 0) {
        size_t w4 = 4 * (size_t)p->opts.workers;
        chunk = kind == JOB_STREAM ? 1 : (n + w4 - 1) / w4;
    }
    if (chunk == 0) chunk = 1;
    j->chunk = chunk < max ? chunk : max;
    j->max_in_flight = j->mo.max_in_flight ? j->mo.max_in_flight : j->chunk * p->ctab_size;
    *jout = j;
    return 0;
}

int mproc_pool_map(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n, size_t in_size,
                   void *out, size_t out_size, const struct mproc_pool_map_opts *opts,
                   int timeout_ms)
{
    struct mproc__pool_job *j;
    int rc = map_common(pool, JOB_MAP, fn, in, n, in_size, out, out_size, opts, timeout_ms, &j);
    return rc < 0 ? rc : run_job(pool, j, timeout_ms);
}

int mproc_pool_map_unordered(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                             size_t in_size, size_t out_size, mproc_pool_result_fn on_result,
                             void *arg, const struct mproc_pool_map_opts *opts, int timeout_ms)
{
    struct mproc__pool_job *j;
    int rc =
        map_common(pool, JOB_UNORDERED, fn, in, n, in_size, NULL, out_size, opts, timeout_ms, &j);
    if (rc < 0) return rc;
    j->on_result = on_result;
    j->arg = arg;
    return run_job(pool, j, timeout_ms);
}

int mproc_pool_map_stream(mproc_pool *pool, mproc_task_fn fn, mproc_pool_next_fn next,
                          void *next_arg, size_t max_in_size, size_t out_size,
                          mproc_pool_result_fn on_result, void *arg,
                          const struct mproc_pool_map_opts *opts, int timeout_ms)
{
    int rc = check_pool(pool);
    if (rc < 0) return rc;
    if (!next) return MPROC_EINVAL;
    struct mproc__pool_job *j;
    rc = map_common(pool, JOB_STREAM, fn, NULL, 0, max_in_size, NULL, out_size, opts, timeout_ms,
                    &j);
    if (rc < 0) return rc;
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
            job_unref(j);
            return MPROC_ENOMEM;
        }
    }
    return run_job(pool, j, timeout_ms);
}

int mproc_pool_submit(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t in_len,
                      size_t out_cap, mproc_future **out)
{
    int rc = check_open(pool);
    if (rc < 0) return rc;
    if (!fn || !out || (in_len && !in) || in_len > UINT32_MAX || out_cap > UINT32_MAX)
        return MPROC_EINVAL;
    if (pool->ops->max_items(pool, in_len, out_cap) == 0) return MPROC_EMSGSIZE;
    mproc_future *f = calloc(1, sizeof *f);
    struct mproc__pool_job *j = calloc(1, sizeof *j);
    if (!f || !j) {
        free(f);
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
    f->pool = pool;
    f->job = j;
    uint32_t len32 = (uint32_t)in_len;
    struct mproc__pool_pchunk *c = chunk_copy(j, 0, 1, 0, in, in_len, &len32);
    if (!c) {
        free(j);
        free(f);
        return MPROC_ENOMEM;
    }
    j->fnext = pool->futures;
    if (pool->futures) pool->futures->fprev = j;
    pool->futures = j;
    pending_push_back(pool, c);
    fill(pool, NULL);
    *out = f;
    return 0;
}

int mproc_future_wait(mproc_future *f, int timeout_ms)
{
    struct mproc__deadline d;
    if (!f || mproc__deadline_init(&d, timeout_ms) < 0) return MPROC_EINVAL;
    if (f->done) return 0;
    int rc = check_pool(f->pool);
    if (rc < 0) return rc;
    rc = drive(f->pool, f->job, &d);
    if (f->done) return 0;
    return rc < 0 ? rc : MPROC_ETIMEDOUT;
}

int mproc_future_done(mproc_future *f)
{
    if (!f) return MPROC_EINVAL;
    if (!f->done && check_pool(f->pool) == 0) {
        struct mproc__deadline d;
        mproc__deadline_init(&d, 0);
        (void)drive(f->pool, f->job, &d);
    }
    return f->done ? 1 : 0;
}

int mproc_future_result(const mproc_future *f, const void **out, size_t *out_len)
{
    if (!f) return MPROC_EINVAL;
    if (!f->done) return MPROC_EAGAIN;
    if (f->status != 0) return f->status;
    if (out) *out = f->out;
    if (out_len) *out_len = f->out_len;
    return 0;
}

int mproc_future_error(const mproc_future *f, struct mproc_pool_error *err)
{
    if (!f || !err) return MPROC_EINVAL;
    if (!f->done) return MPROC_EAGAIN;
    *err = f->err;
    return 0;
}

void mproc_future_free(mproc_future *f)
{
    if (!f) return;
    struct mproc__pool_job *j = f->job;
    if (!f->done) {
        j->abandoned = true;
        if (j->fprev)
            j->fprev->fnext = j->fnext;
        else if (f->pool && f->pool->futures == j)
            f->pool->futures = j->fnext;
        if (j->fnext) j->fnext->fprev = j->fprev;
        j->fnext = j->fprev = NULL;
    }
    j->fut = NULL;
    job_unref(j);
    free(f->out);
    free(f);
}

int mproc_pool_close(mproc_pool *pool)
{
    int rc = check_pool(pool);
    if (rc < 0) return rc;
    pool->closed = true;
    return 0;
}

int mproc_pool_join(mproc_pool *pool, int timeout_ms)
{
    struct mproc__deadline d;
    int rc = check_pool(pool);
    if (rc < 0) return rc;
    if (mproc__deadline_init(&d, timeout_ms) < 0 || !pool->closed) return MPROC_EINVAL;
    if (pool->joined) return 0;
    if (!pool->terminated && !pool->broken) {
        rc = drive(pool, NULL, &d);
        if (rc < 0 && rc != MPROC_EBROKEN) return rc;
        if (!pool->broken && (rc = pool->ops->stop(pool, &d)) < 0) return rc;
    }
    pool->ops->kill(pool); /* reaps anything left (nothing, normally) */
    pool->joined = true;
    return 0;
}

int mproc_pool_terminate(mproc_pool *pool)
{
    int rc = check_pool(pool);
    if (rc < 0) return rc;
    pool->closed = true;
    if (!pool->terminated) {
        pool->terminated = true;
        pool->ops->kill(pool);
        fail_everything(pool, MPROC_ECANCELED);
    }
    return 0;
}

void mproc_pool_free(mproc_pool *pool)
{
    if (!pool) return;
    if (pool->owner == getpid()) {
        if (!pool->joined) mproc_pool_terminate(pool);
        /* Futures the caller still holds stay valid but will not finish. */
        for (struct mproc__pool_job *j = pool->futures; j; j = j->fnext)
            if (j->fut) j->fut->pool = NULL;
        pool->ops->destroy(pool);
    }
    free(pool->ctab);
    free(pool);
}

int mproc_pool_workers(const mproc_pool *pool)
{
    return pool ? pool->opts.workers : MPROC_EINVAL;
}

int mproc_pool_worker_pids(const mproc_pool *pool, pid_t *out, int max)
{
    int rc = check_pool(pool);
    if (rc < 0) return rc;
    if (max < 0 || (max > 0 && !out)) return MPROC_EINVAL;
    return pool->ops->worker_pids(pool, out, max);
}

int mproc_pool_get_stats(const mproc_pool *pool, struct mproc_pool_stats *out)
{
    if (!pool || !out) return MPROC_EINVAL;
    *out = pool->stats;
    return 0;
}
