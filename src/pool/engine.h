/* engine.h - the engine's private types and the calls shared by its
 * files: engine.c (chunks, delivery, dispatch, cancel, the event loop),
 * jobs.c (checks, map jobs), service.c (background progress) and api.c
 * (the public calls built on them). Not for backends:
 * they see only pool_internal.h.
 */
#ifndef MPROC_POOL_ENGINE_H
#define MPROC_POOL_ENGINE_H

#include "pool_internal.h"

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
    struct mproc__pool_job *fnext, *fprev; /* p->futures: futures and async maps */
    uint64_t timeout_ns;                   /* per item; 0: none */
    mproc_future_done_fn on_done;
    void *on_done_arg;
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
    bool cancelled;    /* its items were delivered as cancelled; drop what comes back */
    unsigned char *in; /* own copy of the inputs, or NULL: from job->in */
    uint32_t *in_lens; /* own copy, or NULL: in_stride bytes each */
    size_t in_stride;
};

#define MPROC__FUTURE_MAGIC MPROC__H_FUTURE /* MPROC__H_CLOSED once closed (handle.h) */

struct mproc_future {
    _Atomic uint32_t magic;             /* first: the state word of handle.h */
    mproc_pool *pool;                   /* NULL once the pool is closed */
    struct mproc_future *anext, *aprev; /* p->all_futures: every open future */
    struct mproc__pool_job *job;
    bool done;
    int status;
    struct mproc_pool_error err;
    unsigned char *out;
    size_t out_len;
    uint64_t done_seq; /* order of completion in its pool, from 1 */
};

/* jobs.c */
int mproc__pool_check(const mproc_pool *p);      /* MPROC_EINVAL, MPROC_ENOTCHILD or 0 */
int mproc__pool_check_open(const mproc_pool *p); /* ... or broken, canceled, closed */

/* engine.c */
void mproc__pool_job_unref(struct mproc__pool_job *j);
struct mproc__pool_pchunk *mproc__pool_chunk_copy(struct mproc__pool_job *j, uint64_t base,
                                                  uint32_t count, int attempts, const void *in,
                                                  size_t stride, const uint32_t *lens);
void mproc__pool_pending_push_back(mproc_pool *p, struct mproc__pool_pchunk *c);
/* Post as much as fits: pending chunks first, then fresh ones of j (may be NULL). */
void mproc__pool_fill(mproc_pool *p, struct mproc__pool_job *j);
/* Run the pool until j finished (NULL: all work), the deadline, or breakage. */
int mproc__pool_drive(mproc_pool *p, struct mproc__pool_job *j, const struct mproc__deadline *d);
/* Every chunk in flight or pending fails with code (terminate, broken). */
void mproc__pool_fail_everything(mproc_pool *p, int code);
/* A map job (JOB_MAP, JOB_UNORDERED, JOB_STREAM) after checking the arguments. */
int mproc__pool_map_job(mproc_pool *p, int kind, mproc_task_fn fn, const void *in, size_t n,
                        size_t in_size, void *out, size_t out_size,
                        const struct mproc_pool_map_opts *opts, int timeout_ms,
                        struct mproc__pool_job **jout);
/* service.c: the lock (nothing without opts.background), the service
 * thread, and the waits of background mode (lock held: sleep on cv; 0 when
 * woken, MPROC_ETIMEDOUT at the deadline, or the code of a broken pool). */
void mproc__pool_lock(mproc_pool *p);
void mproc__pool_unlock(mproc_pool *p);
int mproc__pool_service_start(mproc_pool *p);
void mproc__pool_service_stop(mproc_pool *p);
void mproc__pool_service_destroy(mproc_pool *p);
int mproc__pool_bg_wait(mproc_pool *p, const struct mproc__deadline *d);
void mproc__pool_bg_notify(mproc_pool *p);
/* Handle up to max events that are ready, without waiting (fill before and
 * after): how many, or a broken pool's code. */
int mproc__pool_pump(mproc_pool *p, int max);
/* Whether j is finished (NULL: all the pool's work). */
bool mproc__pool_job_finished(const mproc_pool *p, const struct mproc__pool_job *j);
/* Link / unlink a job on p->futures (the jobs the service thread fills). */
void mproc__pool_job_link(mproc_pool *p, struct mproc__pool_job *j);
void mproc__pool_job_unlink(mproc_pool *p, struct mproc__pool_job *j);
/* One step: fill, then handle one event (up to the deadline). */
int mproc__pool_step(mproc_pool *p, const struct mproc__deadline *d);
/* Items of a map never cut from its input fail with code. */
void mproc__pool_fail_uncut(mproc_pool *p, struct mproc__pool_job *j, int code);
/* A task timeout in ms (0: the pool's, MPROC_FOREVER: none) as ns (0: none);
 * MPROC_EINVAL, MPROC_ENOTSUP (the backend has no timeouts). */
int mproc__pool_task_timeout(const mproc_pool *p, int ms, uint64_t *ns);
/* Cancel a future's task: see mproc_future_cancel. */
int mproc__pool_cancel(mproc_pool *p, struct mproc__pool_job *j);
/* Give up on a job: nothing more is written for it; its chunks that no
 * worker started are taken back. */
void mproc__pool_abandon(mproc_pool *p, struct mproc__pool_job *j);
/* Run a map job to its end and drop the caller's reference: the call's result. */
int mproc__pool_run_job(mproc_pool *p, struct mproc__pool_job *j, int timeout_ms);

#endif
