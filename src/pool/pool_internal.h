/* pool_internal.h - the pool's engine and the backend interface beneath it.
 *
 * The public mproc_pool API (include/mproc/pool.h) is implemented once, in
 * src/pool/engine.c and src/pool/api.c: jobs (maps, streams, futures),
 * chunking, ordering, the bound on items in flight, progress, per-item
 * errors, the death policies, retries and cancel. A backend only moves chunks to workers and results back:
 *
 *   local (src/pool/local.c + src/pool/worker.c): forked workers pulling
 *       chunks from one queue of task slots in shared memory, futex wake-ups;
 *   MPI (src/mpi/pool_mpi.c, libmproc_mpi): ranks of an MPI job.
 *
 * A backend is a vtable plus its own state. The engine calls it from the
 * owner's thread only, never concurrently.
 *
 * Contract of a backend
 * ---------------------
 *  - post() hands one chunk (count items of one task function) to some
 *    worker, copying the inputs (the engine's buffer may be reused as soon as
 *    post returns). MPROC_EAGAIN when every worker's queue is full.
 *  - poll() returns the next event: a chunk that finished (MPROC__POOL_EV_DONE)
 *    or, after a worker died, one event per chunk that worker held
 *    (MPROC__POOL_EV_LOST), oldest first, followed by one
 *    MPROC__POOL_EV_WORKER_GONE for the worker itself. The views inside an
 *    event stay valid until release(ev).
 *  - For a LOST chunk the backend reports exactly how far the worker got:
 *    items [0, ndone) finished and their results are valid; item ndone was
 *    running when the worker died iff `running`; items after it were never
 *    started. Inputs of the chunk are still readable (for re-dispatch).
 *  - A worker retiring after max_tasks_per_worker is reported the same way,
 *    with the gone event's `retired` set (its unstarted chunks come back as
 *    LOST with running == false).
 *  - respawn(w) replaces worker w after its gone event.
 *  - cancel(token, stop_running) takes a posted chunk back before any worker
 *    started it (0: it will never run, no event follows), or with
 *    stop_running kills the worker running it (1: its LOST event follows,
 *    with `killed` = MPROC_ECANCELED); MPROC_EALREADY if it finished or runs
 *    and is not to be stopped. NULL: the backend cannot take chunks back.
 *  - A chunk posted with timeout_ns: a worker whose item runs longer is
 *    killed; its LOST event has `killed` = MPROC_ETIMEDOUT. has_timeouts
 *    says whether the backend supports this at all.
 *  - Workers killed by cancel or timeout are reported like dead ones, with
 *    `killed` set on their events, including WORKER_GONE.
 *  - kill() SIGKILLs every worker and reaps it; nothing more is reported.
 *  - With opts.background the engine is called from the service thread or
 *    from the user's threads, but always under the pool's lock, so a backend
 *    still sees one caller at a time; only wait() runs outside it.
 *  - stop() asks idle workers to exit and reaps them (within the deadline).
 *
 * Exported (MPROC_API) although private, so that libmproc_mpi can build a
 * pool on the engine: mproc__pool_new() and mproc__pool_opts_resolve(). Their
 * ABI is that of this header, not of the public API.
 */
#ifndef MPROC_POOL_INTERNAL_H
#define MPROC_POOL_INTERNAL_H

#include "internal.h"

#include "handle.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct mproc_pool;
struct mproc__deadline;

/* One chunk as the engine posts it. Inputs are contiguous: item i starts at
 * in + i * in_stride and is in_lens[i] bytes long (in_lens NULL: in_stride
 * bytes each). Each item gets out_size bytes of result capacity. */
struct mproc__pool_chunk {
    uint64_t token; /* the engine's name for this chunk; returned in events */
    mproc_task_fn fn;
    uint32_t count;
    uint32_t in_stride;
    uint32_t out_size;
    const void *in;
    const uint32_t *in_lens;
    uint64_t timeout_ns; /* per item; 0: none */
};

enum mproc__pool_ev_kind {
    MPROC__POOL_EV_DONE = 1,       /* a chunk finished: count results */
    MPROC__POOL_EV_LOST = 2,       /* a chunk of a worker that died or retired */
    MPROC__POOL_EV_WORKER_GONE = 3 /* the worker itself: respawn() it (or not) */
};

struct mproc__pool_event {
    int kind;
    int worker;
    uint64_t token;
    uint32_t count;
    uint32_t ndone;          /* items with results; == count for DONE */
    bool running;            /* LOST: item ndone was running when the worker died */
    bool retired;            /* WORKER_GONE: the worker left after max_tasks_per_worker */
    pid_t pid;               /* the worker's pid */
    int signal;              /* WORKER_GONE / LOST: the signal that ended it, or 0 */
    int exit_code;           /* ... or its exit code, -1 if killed */
    bool init_failed;        /* WORKER_GONE: it never finished its initializer */
    int killed;              /* LOST / WORKER_GONE: the pool killed the worker on purpose:
                                MPROC_ECANCELED or MPROC_ETIMEDOUT; 0 otherwise */
    const int32_t *status;   /* ndone entries: 0 or the task's code */
    const uint32_t *out_len; /* ndone entries */
    const unsigned char *out;
    size_t out_stride;
    const unsigned char *in; /* the chunk's inputs, as posted */
    size_t in_stride;
    const uint32_t *in_lens; /* NULL: in_stride bytes each */
    void *backend_ref;       /* for release() */
};

struct mproc__pool_backend {
    const char *name;
    /* How many items of (in_size, out_size) fit one chunk; 0 if not even one. */
    size_t (*max_items)(struct mproc_pool *p, size_t in_size, size_t out_size);
    /* Chunks that may be in flight in the whole pool at once. */
    size_t (*max_chunks)(struct mproc_pool *p);
    int (*post)(struct mproc_pool *p, const struct mproc__pool_chunk *c);
    /* 0 and an event; MPROC_ETIMEDOUT at the deadline (NULL: try once without
     * blocking). */
    int (*poll)(struct mproc_pool *p, struct mproc__pool_event *ev,
                const struct mproc__deadline *d);
    void (*release)(struct mproc_pool *p, struct mproc__pool_event *ev);
    int (*respawn)(struct mproc_pool *p, int worker);
    int (*stop)(struct mproc_pool *p, const struct mproc__deadline *d);
    void (*kill)(struct mproc_pool *p);
    int (*cancel)(struct mproc_pool *p, uint64_t token, bool stop_running);
    bool has_timeouts;
    /* Background progress (NULL: not supported). prepare_wait, under the
     * pool's lock: the word to sleep on's current value and how long to sleep
     * at most (deaths, timeouts); wait, WITHOUT the lock: sleep until results
     * may have come (the word changed) or cap_ms passed, touching nothing but
     * shared-memory words. */
    uint32_t (*prepare_wait)(struct mproc_pool *p, int *cap_ms);
    void (*wait)(struct mproc_pool *p, uint32_t seen, int cap_ms);
    /* Watches (src/pool/watch.c; NULL: not supported): the word that wait()
     * sleeps on and the flag that tells the workers someone sleeps on it. */
    _Atomic uint32_t *(*bell)(struct mproc_pool *p, _Atomic uint32_t **flag);
    void (*destroy)(struct mproc_pool *p);
    int (*worker_pids)(const struct mproc_pool *p, pid_t *out, int max);
};

/* The engine's view of a pool; the backend keeps its state in `be`. */
#define MPROC__POOL_MAGIC MPROC__H_POOL /* MPROC__H_CLOSED once closed (handle.h) */

struct mproc_pool {
    _Atomic uint32_t magic; /* first: the state word of handle.h */
    const struct mproc__pool_backend *ops;
    void *be;
    struct mproc_pool_opts opts; /* resolved: workers > 0, slot sizes set */
    pid_t owner;
    bool closed;
    bool terminated;
    bool joined;
    bool in_engine;       /* inside the engine's loop (callbacks may be running) */
    bool death_unsettled; /* a LOST event came, its worker's GONE not yet */
    int broken;           /* 0, or the code every call returns */
    size_t in_flight_chunks;
    struct mproc__pool_pchunk **ctab; /* chunks in flight, by token index */
    uint32_t ctab_size;
    uint32_t token_seq;
    uint32_t ctab_hint;                      /* where post looks for a free entry first */
    struct mproc__pool_pchunk *pending_head; /* chunks to (re)dispatch, FIFO */
    struct mproc__pool_pchunk *pending_tail;
    struct mproc__pool_job *futures;  /* jobs of unfinished futures and async maps */
    uint64_t done_seq;                /* completion order of futures */
    struct mproc_future *all_futures; /* every open future (api.c): close detaches them */
    /* opts.background: a service thread drives the pool; every call takes
     * `mu` (recursive: callbacks run with it held and may call back in);
     * waiting calls sleep on `cv`, which the service thread broadcasts. */
    bool bg;
    bool svc_started;
    bool svc_stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t svc;
    struct mproc_pool_stats stats;
};

/* mproc__pool_opts_resolve - copy opts (NULL: defaults) into *out with the
 * defaults filled in; MPROC_EINVAL for bad values. */
MPROC_API int mproc__pool_opts_resolve(const struct mproc_pool_opts *opts,
                                       struct mproc_pool_opts *out);

/* mproc__pool_new - a pool on a backend whose state `be` is already running
 * its workers; the pool owns `be` from now on (destroy() releases it). */
MPROC_API int mproc__pool_new(mproc_pool **out, const struct mproc_pool_opts *resolved,
                              const struct mproc__pool_backend *ops, void *be);

/* The local backend (src/pool/local.c). */
extern const struct mproc__pool_backend mproc__pool_local_backend;
int mproc__pool_local_start(const struct mproc_pool_opts *resolved, void **be_out);

#endif
