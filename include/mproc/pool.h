/* mproc/pool.h - a pool of worker processes that runs tasks: map, unordered
 * map, streaming map and futures. Included by <mproc.h>.
 *
 *   static int square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
 *   {
 *       int64_t x;
 *       memcpy(&x, in, sizeof x);
 *       x *= x;
 *       memcpy(out, &x, sizeof x);
 *       *out_len = sizeof x;
 *       return 0;
 *   }
 *   MPROC_TASK(square);                     // optional: name it for spawn / MPI
 *
 *   mproc_pool *pool;
 *   mproc_pool_create(&pool, NULL);          // mproc_cpu_count() workers
 *   int64_t in[1000], out[1000];
 *   int rc = mproc_pool_map(pool, square, in, 1000, sizeof in[0], out, sizeof out[0], NULL,
 *                           MPROC_FOREVER);
 *   mproc_pool_shutdown(pool);              // no more work
 *   mproc_pool_join(pool, MPROC_FOREVER);   // finish it, reap the workers
 *   mproc_pool_close(pool);                 // release the handle
 *
 * Model
 * -----
 * Python's multiprocessing.Pool, with crash behaviour one can rely on. The
 * process that creates the pool (the owner) forks `workers` daemon children
 * (or spawns them: opts.start_method = MPROC_START_SPAWN).
 * The pool has workers * slots_per_worker task slots in shared memory and
 * one queue of them: the owner copies a chunk of inputs into a free slot
 * and queues it; whichever worker is idle takes the oldest queued chunk,
 * runs the task function on each item and writes the results beside them;
 * the owner copies the results out. No chunk waits behind a running task
 * while another worker is idle. Dispatch is shared memory plus futexes with
 * a brief spin: no system call per task while the pool is busy; idle
 * workers sleep on a futex.
 *
 * Threads and progress
 * --------------------
 * The pool is driven by the calls of its owner: results are collected,
 * callbacks run and queued work beyond the slots is dispatched while the
 * owner is inside a call that waits (mproc_pool_map*, mproc_future_wait*,
 * mproc_future_done, mproc_pool_join); there is no background thread.
 * Chunks already in slots run meanwhile. The rule: a pool, its futures and
 * its async maps are used by one thread at a time (any thread, one after
 * the other; they are not thread-safe: serialize calls with your own lock
 * if several threads share a pool); they belong to the process that
 * created the pool: in a forked child every call returns MPROC_ENOTCHILD.
 * Callbacks (results, progress, stream input, done callbacks) run inside
 * the pool's loop: there they may read the pool (mproc_pool_worker_pids,
 * _stats, _workers), read futures, cancel futures and shut the pool down;
 * maps, submit, waits, join, terminate and the closes return MPROC_EBUSY.
 * Closed handles: every call below given a pool or a future that was closed
 * returns MPROC_EBADF (a second close too), for as long as the library
 * keeps the closed handle (see "Handles" in common.h); NULL is
 * MPROC_EINVAL. A future may outlive its pool: closing the pool detaches
 * it (a finished one keeps its result; an unfinished one is finished by
 * the pool's terminate, MPROC_ECANCELED), and it is closed as usual.
 *
 * Tasks
 * -----
 * A task function gets one input item (in, in_len bytes) and writes at most
 * *out_len bytes to out (*out_len holds the capacity on entry and must be set
 * to the bytes written; it starts as the full capacity). It returns 0 on
 * success or a negative code: the task failed on purpose, that item's status
 * is that code (a positive return becomes MPROC_ETASKFAILED) and the pool
 * goes on. `ctx` is opts.task_ctx of the pool (a pointer inherited by fork).
 *
 * Worker death
 * ------------
 * The owner knows exactly which item each worker is running (a per-slot
 * progress word, ndone, that the worker publishes after each item). When a worker dies
 * (SIGKILL, a crash, the OOM killer, exit() inside a task), the item it was
 * running fails with MPROC_EWORKERDIED and a struct mproc_pool_error naming
 * the item's index, the worker's pid and the signal or exit code; items it
 * had finished keep their results; items it had been given but not started
 * are dispatched again to other workers (never lost, never run twice); the
 * worker is replaced. A worker holds one chunk at a time, so a death costs
 * at most the rest of one chunk's dispatch. opts.on_death chooses what happens to the item that
 * was running: fail it (default), retry it up to opts.max_retries times, or
 * fail the whole pool (every later call then returns MPROC_EBROKEN).
 * Python's Pool hangs forever in this case; ProcessPoolExecutor breaks the
 * whole executor.
 *
 * Processes
 * ---------
 * Workers are daemon children: they die with the owner, even when the owner
 * is SIGKILLed (PR_SET_PDEATHSIG; create the pool from a thread that lives
 * as long as the process). Each worker leads its own process group: when
 * the pool kills a worker (terminate, close, cancel, a task timeout) or
 * notices that one died, the whole group is SIGKILLed, so processes a task
 * started die with it (unless they left the group: setsid/setpgid); a
 * worker that leaves normally (join, max_tasks_per_worker) leaves them be.
 * Being in their own group, workers do not get a terminal's Ctrl-C; the
 * owner does, and its death ends them. After mproc_pool_join(), mproc_pool_terminate()
 * or mproc_pool_close() no worker is left, reaped or running. Across exec the
 * pool's descriptors are closed (close-on-exec).
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include "common.h"

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_pool mproc_pool;
typedef struct mproc_future mproc_future;

/* A task: see "Tasks" above. */
typedef int (*mproc_task_fn)(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx);

/* An initializer, run once in each worker before its first task (also in a
 * worker that replaces a dead or retired one). A nonzero return makes the
 * worker exit; a pool whose workers cannot initialise is broken (calls return
 * MPROC_EBROKEN) instead of restarting them forever. */
typedef int (*mproc_pool_init_fn)(void *arg);

/* Receives one line of a worker's output (opts.capture_output): worker is
 * the worker's index, pid its current process, stream 1 (stdout) or 2
 * (stderr), line the bytes without the newline (not NUL-terminated; valid
 * during the call). Runs on a thread of the pool's own, one line at a
 * time. */
typedef void (*mproc_pool_output_fn)(void *arg, int worker, pid_t pid, int stream, const char *line,
                                     size_t len);

/* What happens to the item a worker was running when it died. */
enum mproc_pool_on_death {
    MPROC_POOL_FAIL_TASK = 0,  /* that item fails with MPROC_EWORKERDIED (default) */
    MPROC_POOL_RETRY_TASK = 1, /* run it again, up to max_retries times, then fail it */
    MPROC_POOL_FAIL_POOL = 2   /* the pool is broken: the current call fails, later ones too */
};

struct mproc_pool_opts {
    int workers;                    /* 0: mproc_cpu_count() */
    mproc_pool_init_fn initializer; /* NULL: none */
    void *init_arg;
    unsigned max_tasks_per_worker;  /* items a worker runs before it is replaced (checked
                                      between chunks, so with chunks > 1 it may run up to a
                                      chunk more); 0: no limit */
    int on_death;                   /* enum mproc_pool_on_death */
    int max_retries;                /* MPROC_POOL_RETRY_TASK: extra attempts per item (0: 3) */
    void *task_ctx;                 /* passed to every task as ctx */
    size_t slot_bytes;              /* bytes of one task slot (inputs + results of a chunk);
                                      0: 256 KiB. An item whose input plus result does not
                                      fit is refused with MPROC_EMSGSIZE */
    unsigned slots_per_worker;      /* task slots per worker (the pool has workers times as
                                      many, shared by all); 0: 8 */
    int start_method;               /* MPROC_START_FORK (default) or MPROC_START_SPAWN: workers
                                      re-execute the program (which must call mproc_main()
                                      first) and find tasks by their MPROC_TASK name; use
                                      init_entry instead of initializer, and task_ctx_len
                                      to hand tasks a context */
    int task_timeout_ms;            /* longest an item may run: the worker running an item
                                      for longer is killed (with every process it started)
                                      and replaced, the item fails with MPROC_ETIMEDOUT and
                                      the pool goes on. 0: no limit. Maps and submits may
                                      set their own */
    int background;                 /* nonzero: a service thread of the owner collects
                                      results, runs callbacks, applies timeouts and
                                      dispatches queued work at all times, and every call
                                      may come from any thread of the owner (see "Threads
                                      and progress"). MPROC_ENOTSUP on MPI */
    int capture_output;             /* nonzero: each worker's stdout and stderr go through
                                      pipes to a thread of the owner, which writes every
                                      complete line at once, as "[worker W pid P] line",
                                      to the owner's stdout or stderr, or hands it to
                                      on_output: lines of different workers never mix
                                      mid-line. Fork start method only (else
                                      MPROC_ENOTSUP); a line longer than 4 KiB comes in
                                      pieces */
    mproc_pool_output_fn on_output; /* NULL: write to the owner's stdout / stderr */
    void *output_arg;
    /* Initializer and task context by value, for both start methods (what a
     * spawned worker needs: it shares no memory with the owner). */
    const char *init_entry; /* name of a function registered with MPROC_ENTRY(): run once
                               in each worker before its first task, as
                               fn(init_arg, init_arg_len) (the worker's own copy of
                               those bytes); a nonzero return is a failed initializer
                               (see mproc_pool_init_fn). NULL: none. An unknown name is
                               MPROC_ENOENTRY at create. Not with `initializer` */
    size_t init_arg_len;    /* with init_entry: init_arg points to this many bytes */
    size_t task_ctx_len;    /* spawn: task_ctx points to this many bytes, copied into
                               each worker; its tasks get ctx = the worker's copy
                               (writable, private to the worker). 0: ctx NULL */
};

/* Why one item failed. code is the item's status: a task's own negative
 * code, MPROC_ETASKFAILED, MPROC_EWORKERDIED (pid and signal or exit_code
 * say which worker and how it ended), MPROC_ECANCELED (terminate) or
 * MPROC_EBROKEN (the pool broke before it ran). */
struct mproc_pool_error {
    int code;
    uint64_t index; /* the item's index in its map, 0 for a future */
    pid_t pid;      /* the worker that ran it (0 if none did) */
    int signal;     /* the signal that killed the worker, or 0 */
    int exit_code;  /* the worker's exit code if it exited, or -1 */
    int attempts;   /* how many times the item was started */
};

/* mproc_pool_create - start a pool. opts may be NULL (all defaults). Does
 * not wait for the workers to initialise.
 * Returns 0 and *out; MPROC_EINVAL (NULL out, workers < 0, bad on_death,
 * max_retries < 0, slot_bytes too small (< 4 KiB) or > 1 GiB, spawn with an
 * initializer (use init_entry), both initializer and init_entry, NULL
 * init_arg with init_arg_len > 0 or task_ctx with task_ctx_len > 0, more
 * than 64 KiB of either, spawn in a program that did not call
 * mproc_main()); MPROC_ENOENTRY (init_entry is not registered);
 * MPROC_EAGAIN / MPROC_ENOMEM / MPROC_EMFILE (no more
 * processes, memory or descriptors; ENOMEM also when workers *
 * slots_per_worker * slot_bytes exceeds memory + swap); MPROC_ENOSPC (spawn:
 * more than /dev/shm can hold). Nothing is left behind on failure. */
MPROC_API int mproc_pool_create(mproc_pool **out, const struct mproc_pool_opts *opts);

/* Called as items complete: done out of total (total 0: unknown, a stream).
 * Runs in the owner, from inside the map call. */
typedef void (*mproc_pool_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Called with each result, in the owner: out/out_len are the item's result
 * (valid during the call), err is NULL on success or says why it failed.
 * Return 0 to go on; a negative value stops the map, which returns it (items
 * in flight are abandoned: their results are dropped). */
typedef int (*mproc_pool_result_fn)(void *arg, uint64_t index, const void *out, size_t out_len,
                                    const struct mproc_pool_error *err);

/* Produces the next input item for mproc_pool_map_stream: write at most
 * *item_len bytes (the capacity on entry) to item, set *item_len, return 1;
 * return 0 at the end of the input, or a negative code to stop the map
 * (which returns that code). index counts items from 0. */
typedef int (*mproc_pool_next_fn)(void *arg, uint64_t index, void *item, size_t *item_len);

/* Options of one map call. NULL or all-zero means: automatic chunk size, the
 * default bound on items in flight, no per-item report, no progress. */
struct mproc_pool_map_opts {
    size_t chunksize;     /* items per chunk; 0: ceil(n / (4 * workers)) for map (like
                             Python), 1 for a stream; always capped so that a chunk fits a
                             slot */
    size_t max_in_flight; /* items dispatched but not yet delivered; 0: every slot of every
                             worker may hold a chunk */
    int *statuses;        /* map only, optional: n entries, each item's status (0 or code) */
    size_t *out_lens;     /* map only, optional: n entries, the bytes each result holds */
    struct mproc_pool_error *errors; /* map only, optional: n entries, filled for failed
                                        items (code 0 for items that succeeded) */
    mproc_pool_progress_fn progress;
    void *progress_arg;
    int ordered;         /* stream only: nonzero hands results to on_result in index order (like
                    Python's imap; at most max_in_flight of them wait for an earlier one) */
    int task_timeout_ms; /* per item, as opts.task_timeout_ms of the pool: 0 takes the
                            pool's, MPROC_FOREVER none, > 0 this many ms */
};

/* mproc_pool_map - run fn on each of the n items of in (in_size bytes each)
 * and store item i's result at out + i * out_size (out_size bytes of
 * capacity each; out may be NULL if out_size is 0). Blocks until every item
 * finished or timeout_ms passed.
 * Returns 0 when every item succeeded; otherwise the status of the failed
 * item with the lowest index (a task's code, MPROC_ETASKFAILED,
 * MPROC_EWORKERDIED), with details per item in opts->statuses / errors;
 * MPROC_ETIMEDOUT (timeout_ms > 0 passed: items still running are
 * abandoned, those no worker started are taken back; results already
 * stored stay, the rest of out is untouched; also the status of an item
 * that overran its task timeout); MPROC_EAGAIN (timeout_ms == 0 and the
 * map did not finish at once: abandoned likewise); MPROC_EBROKEN (the pool broke,
 * on_death = FAIL_POOL, or workers could not initialise); MPROC_ECLOSED
 * (after shutdown); MPROC_ECANCELED (terminated); MPROC_EMSGSIZE (an item and
 * its result do not fit a slot); MPROC_EINVAL (NULL pool or fn, in == NULL
 * with n > 0, in_size == 0 with n > 0, bad timeout); MPROC_EBADF (the pool
 * was closed); MPROC_ENOTCHILD (the handle was inherited across fork). */
MPROC_API int mproc_pool_map(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                             size_t in_size, void *out, size_t out_size,
                             const struct mproc_pool_map_opts *opts, int timeout_ms);

/* mproc_pool_map_unordered - like mproc_pool_map, but each result is handed
 * to on_result(arg, ...) as soon as it arrives, in completion order; every
 * index exactly once (unless the call stops early). Returns 0 when every
 * item succeeded, else as mproc_pool_map (or on_result's negative value). */
MPROC_API int mproc_pool_map_unordered(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                                       size_t in_size, size_t out_size,
                                       mproc_pool_result_fn on_result, void *arg,
                                       const struct mproc_pool_map_opts *opts, int timeout_ms);

/* mproc_pool_map_stream - imap over an input of unknown length: items are
 * pulled from next(next_arg, ...) (at most max_in_size bytes each) only while
 * fewer than max_in_flight items are in flight, so a huge or endless input
 * never sits in memory. Results go to on_result in completion order, or in
 * index order with opts->ordered (then max_in_flight also bounds the results
 * held back while an earlier item is still running).
 * Returns as mproc_pool_map_unordered, plus next's negative value. */
MPROC_API int mproc_pool_map_stream(mproc_pool *pool, mproc_task_fn fn, mproc_pool_next_fn next,
                                    void *next_arg, size_t max_in_size, size_t out_size,
                                    mproc_pool_result_fn on_result, void *arg,
                                    const struct mproc_pool_map_opts *opts, int timeout_ms);

/* mproc_pool_submit - queue one task (in_len bytes of input copied now, a
 * result of at most out_cap bytes) and return a future. Does not block: the
 * task is dispatched at once if the pool has room, else while the owner is
 * inside any pool call that waits (a map, a future wait, join).
 * Returns 0 and *out; MPROC_EINVAL (NULL pool, fn or out, in NULL with
 * in_len > 0), MPROC_ECLOSED (after shutdown), MPROC_EBROKEN, MPROC_ECANCELED
 * (terminated), MPROC_EMSGSIZE (input plus a result of out_cap bytes do not
 * fit a slot, or either is above 4 GiB), MPROC_ENOMEM, MPROC_EBUSY (from a
 * callback), MPROC_EBADF (closed pool), MPROC_ENOTCHILD. */
MPROC_API int mproc_pool_submit(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t in_len,
                                size_t out_cap, mproc_future **out);

/* Called once when a future finishes: with a result, an error, or because
 * it was cancelled (like apply_async's callback and error_callback in one:
 * mproc_future_result tells which). Runs in the owner, inside the pool call
 * that collected the result (or inside mproc_future_cancel); it may read any
 * future and call mproc_future_cancel, but must not close f or wait. */
typedef void (*mproc_future_done_fn)(void *arg, mproc_future *f);

/* Options of one submit. All-zero (or NULL) means: the pool's task timeout,
 * no callback. */
struct mproc_pool_submit_opts {
    int task_timeout_ms; /* 0: the pool's opts.task_timeout_ms; MPROC_FOREVER: none;
                            > 0: the task fails with MPROC_ETIMEDOUT (its worker killed
                            and replaced) after running this long */
    mproc_future_done_fn on_done;
    void *on_done_arg;
};

/* mproc_pool_submit_ex - mproc_pool_submit with options (may be NULL).
 * Returns as mproc_pool_submit, plus MPROC_EINVAL (task_timeout_ms below
 * MPROC_FOREVER) and MPROC_ENOTSUP (a timeout on a backend without them:
 * MPI). */
MPROC_API int mproc_pool_submit_ex(mproc_pool *pool, mproc_task_fn fn, const void *in,
                                   size_t in_len, size_t out_cap,
                                   const struct mproc_pool_submit_opts *opts, mproc_future **out);

/* mproc_pool_map_async - start mproc_pool_map without waiting for it and
 * return a future for the whole map: in, out and the arrays in opts must
 * stay valid until the future is done or closed. The map progresses while
 * the owner is inside any pool call that waits (mproc_future_wait,
 * mproc_future_done polls it, other maps). When done, mproc_future_result
 * returns what mproc_pool_map would have (0 and no bytes, or the status of
 * the failed item with the lowest index, detailed by mproc_future_error and
 * opts->statuses / errors). Closing it before it is done abandons the map:
 * nothing is written to out after mproc_future_close returns.
 * Returns 0 and *fut; as mproc_pool_map for bad arguments (no
 * MPROC_ETIMEDOUT: the waits have the timeouts), MPROC_ENOMEM. */
MPROC_API int mproc_pool_map_async(mproc_pool *pool, mproc_task_fn fn, const void *in, size_t n,
                                   size_t in_size, void *out, size_t out_size,
                                   const struct mproc_pool_map_opts *opts, mproc_future **fut);

/* mproc_future_wait - wait up to timeout_ms for the task to finish (driving
 * the pool meanwhile). 0 when it finished (successfully or not: see
 * mproc_future_result); MPROC_ETIMEDOUT (timeout_ms > 0 passed); MPROC_EAGAIN
 * (timeout_ms == 0 and not finished); MPROC_EBROKEN (also: unfinished
 * and its pool closed); MPROC_EINVAL; MPROC_EBADF (closed future);
 * MPROC_EBUSY (from a callback); MPROC_ENOTCHILD. */
MPROC_API int mproc_future_wait(mproc_future *f, int timeout_ms);

/* mproc_future_wait_any - wait up to timeout_ms until one of the n futures
 * is finished (NULL entries are skipped; all must belong to one pool) and
 * store its position in *index: of the finished ones, the one that finished
 * first. Setting fs[*index] = NULL (after closing it, or not) and calling
 * again gives the next one: that loop is as_completed, in completion order.
 * Returns 0; MPROC_ENOENT (every entry is NULL); MPROC_ETIMEDOUT /
 * MPROC_EAGAIN (as mproc_future_wait); MPROC_EINVAL (NULL fs or index,
 * futures of different pools); MPROC_EBADF (a closed future among them);
 * MPROC_EBUSY; MPROC_EBROKEN; MPROC_ENOTCHILD. */
MPROC_API int mproc_future_wait_any(mproc_future *const *fs, size_t n, int timeout_ms,
                                    size_t *index);

/* mproc_future_wait_all - wait up to timeout_ms until every one of the n
 * futures (NULL entries skipped) is finished. 0, or as mproc_future_wait_any
 * (but never MPROC_ENOENT). */
MPROC_API int mproc_future_wait_all(mproc_future *const *fs, size_t n, int timeout_ms);

/* mproc_future_done - 1 if finished, 0 if not (never blocks; collects
 * results that have arrived), or MPROC_EINVAL (NULL), MPROC_EBADF
 * (closed future). */
MPROC_API int mproc_future_done(mproc_future *f);

/* mproc_pool_poll - drive the pool without waiting: collect the results
 * that have arrived (running their callbacks and finishing their futures),
 * notice dead workers and overrun timeouts, dispatch queued work. For event
 * loops: call it when a pool watch (mproc/wait.h) is readable. Returns the
 * number of events handled (>= 0; 0 also with opts.background, whose
 * thread drives); the code of a broken pool; MPROC_EBUSY (inside a
 * callback); MPROC_EINVAL (NULL); MPROC_EBADF (closed); MPROC_ENOTCHILD
 * (in a forked child). */
MPROC_API int mproc_pool_poll(mproc_pool *p);

/* mproc_future_cancel - cancel the task: if no worker started it, it never
 * runs; if one is running it, that worker is killed (with every process it
 * started) and replaced, and the pool goes on. Either way the future is
 * finished when the call returns, its status MPROC_ECANCELED (its done
 * callback has run). An async map cannot be cancelled (close it instead).
 * Returns 0; MPROC_EALREADY (it had finished, or its result is already
 * back); MPROC_EBUSY (running on a backend that cannot stop it: MPI);
 * MPROC_EINVAL (NULL, an async map); MPROC_EBADF (closed future);
 * MPROC_EBROKEN (its pool was closed); MPROC_ENOTCHILD. Never blocks. */
MPROC_API int mproc_future_cancel(mproc_future *f);

/* mproc_future_result - the outcome of a finished task: 0 and the result
 * bytes in *out / *out_len (owned by the future, valid until it is closed;
 * either pointer may be NULL); the task's status if it failed (then
 * mproc_future_error says more; MPROC_ECANCELED if cancelled,
 * MPROC_ETIMEDOUT if it overran its timeout); MPROC_EAGAIN if it has not
 * finished; MPROC_EINVAL (NULL); MPROC_EBADF (closed future). */
MPROC_API int mproc_future_result(const mproc_future *f, const void **out, size_t *out_len);

/* mproc_future_error - the details of a failed task into *err: 0, or
 * MPROC_EAGAIN (not finished), MPROC_EINVAL, MPROC_EBADF (closed
 * future). For a task that succeeded
 * err->code is 0. */
MPROC_API int mproc_future_error(const mproc_future *f, struct mproc_pool_error *err);

/* mproc_future_close - release a future. A task still queued is dropped; one
 * running finishes and its result is dropped; an async map is abandoned. It
 * may be closed before or after its pool. Returns 0; MPROC_EINVAL for NULL;
 * MPROC_EBADF if already closed (see "Handles" in common.h); MPROC_EBUSY
 * from inside a callback. */
MPROC_API int mproc_future_close(mproc_future *f);

/* mproc_pool_shutdown - no more work may be submitted (maps and submit return
 * MPROC_ECLOSED); work already submitted goes on. Never blocks. 0 or
 * MPROC_EINVAL / MPROC_EBADF (closed) / MPROC_ENOTCHILD. */
MPROC_API int mproc_pool_shutdown(mproc_pool *pool);

/* mproc_pool_join - after shutdown (or terminate): finish every submitted
 * task, then stop the workers and reap them, waiting at most timeout_ms.
 * 0 when no worker is left; MPROC_EINVAL if the pool was not shut down (as
 * in Python); MPROC_ETIMEDOUT (timeout_ms > 0 passed; call again, or
 * terminate); MPROC_EAGAIN (timeout_ms == 0 and not done at once);
 * MPROC_EBUSY (from a callback); MPROC_EBADF (closed pool); MPROC_ENOTCHILD. */
MPROC_API int mproc_pool_join(mproc_pool *pool, int timeout_ms);

/* mproc_pool_terminate - kill every worker now (SIGKILL, with every process
 * it started) and reap them; every unfinished task and future fails with
 * MPROC_ECANCELED. Implies shutdown. Blocks only for the reaping of the
 * killed workers. Returns 0; MPROC_EINVAL (NULL); MPROC_EBADF (closed
 * pool); MPROC_EBUSY (from a callback); MPROC_ENOTCHILD. */
MPROC_API int mproc_pool_terminate(mproc_pool *pool);

/* mproc_pool_close - terminate if still running, then release the handle.
 * Futures still open are detached from it (they stay valid). Returns 0;
 * MPROC_EINVAL for NULL; MPROC_EBADF if already closed (see "Handles" in
 * common.h); MPROC_EBUSY from inside a callback. In a forked child (a
 * handle inherited across fork) it only releases the child's memory. */
MPROC_API int mproc_pool_close(mproc_pool *pool);

/* mproc_pool_workers - the number of worker processes; MPROC_EINVAL (NULL),
 * MPROC_EBADF (closed pool). */
MPROC_API int mproc_pool_workers(const mproc_pool *pool);

/* mproc_pool_worker_pids - the current workers' pids into out (max of
 * them); returns the number of workers running now, or MPROC_EINVAL (NULL
 * pool, max < 0, NULL out with max > 0), MPROC_EBADF (closed pool),
 * MPROC_ENOTCHILD, or the backend's error. A
 * worker that dies is replaced while the pool runs (inside a map, wait or
 * join); one whose death was noticed by a call is replaced before the call
 * returns, one that died while the pool was idle only by the next call. */
MPROC_API int mproc_pool_worker_pids(const mproc_pool *pool, pid_t *out, int max);

/* Counters of a pool since it was created. */
struct mproc_pool_stats {
    uint64_t items_done; /* items delivered (successful or failed) */
    uint64_t items_failed;
    uint64_t worker_deaths;  /* workers that died unexpectedly */
    uint64_t worker_retired; /* workers replaced after max_tasks_per_worker */
    uint64_t redispatched;   /* items given again after their worker died before them */
    uint64_t retried;        /* items run again under MPROC_POOL_RETRY_TASK */
    uint64_t timed_out;      /* items that overran their timeout (their worker killed) */
    uint64_t cancelled;      /* futures cancelled by mproc_future_cancel */
};

/* mproc_pool_stats - copy the counters; 0, MPROC_EINVAL (NULL) or
 * MPROC_EBADF (closed pool). */
MPROC_API int mproc_pool_stats(const mproc_pool *pool, struct mproc_pool_stats *out);

/* mproc_pool_progress_bar - a progress function for map opts that draws
 * "\r[#####     ]  50% 500/1000" on stderr when stderr is a terminal (and
 * nothing otherwise), at most about 20 times a second, with a newline at
 * the end. arg is ignored. */
MPROC_API void mproc_pool_progress_bar(void *arg, uint64_t done, uint64_t total);

/* Task names --------------------------------------------------------------
 * A function pointer is meaningful only in forked workers. The spawn start
 * method and the MPI backend (mproc/pool_mpi.h) find a task by the name it was
 * registered under, so tasks meant for them are registered:
 *
 *     MPROC_TASK(square);                 // registers "square", before main()
 *
 * and passed to the map calls as usual (by pointer): the backend looks the
 * name up with mproc_task_name(). */

/* mproc_task_register - register fn under name (1..63 bytes of
 * [A-Za-z0-9_.-]). 0; MPROC_EEXIST if the name belongs to another function;
 * MPROC_EINVAL; MPROC_ENOMEM. Registering the same pair twice is fine. */
MPROC_API int mproc_task_register(const char *name, mproc_task_fn fn);
/* mproc_task_find - the task registered under name, or NULL. */
MPROC_API mproc_task_fn mproc_task_find(const char *name);
/* mproc_task_name - the name fn is registered under, or NULL. */
MPROC_API const char *mproc_task_name(mproc_task_fn fn);

#define MPROC_TASK_NAMED(name_str, fn)                                                             \
    __attribute__((constructor)) static void mproc__task_ctor_##fn(void)                           \
    {                                                                                              \
        (void)mproc_task_register(name_str, fn);                                                   \
    }
#define MPROC_TASK(fn) MPROC_TASK_NAMED(#fn, fn)

#ifdef __cplusplus
}
#endif
#endif
