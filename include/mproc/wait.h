/* mproc/wait.h - readiness descriptors for every object that can be waited
 * on, for poll/epoll/libuv loops, and one wait over many objects.
 * Included by <mproc.h>.
 *
 *   mproc_watch *w;
 *   mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w);      // readable: a message is there
 *   struct epoll_event ev = {.events = EPOLLIN, .data.ptr = w};
 *   epoll_ctl(ep, EPOLL_CTL_ADD, mproc_watch_fd(w), &ev);
 *   ...  epoll_wait says mproc_watch_fd(w) is readable:
 *   while ((n = mproc_queue_get(q, buf, sizeof buf, 0)) >= 0)
 *       handle(buf, n);
 *   mproc_watch_rearm(w);                               // back to the loop
 *
 *   struct mproc_wait_item it[2] = {
 *       {.kind = MPROC_WAIT_QUEUE_GET, .obj = q},
 *       {.kind = MPROC_WAIT_PIPE, .obj = pipe},
 *   };
 *   int n = mproc_wait(it, 2, 1000);                    // it[i].ready says which
 *
 * Model
 * -----
 * A watch turns one condition of one object into a file descriptor (an
 * eventfd, close-on-exec, non-blocking) that becomes readable when the
 * condition holds:
 *   MPROC_WAIT_QUEUE_GET  a message is in the queue, or the queue is shut down
 *   MPROC_WAIT_QUEUE_PUT  a message of `len` bytes (0: one unit) fits, or shut down
 *   MPROC_WAIT_EVENT      the event is set
 *   MPROC_WAIT_SEM        a unit is free
 *   MPROC_WAIT_LOCK       the lock (or a condition's lock) is free, or its
 *                         owner died (acquire then gives MPROC_EOWNERDEAD)
 *   MPROC_WAIT_BARRIER    the barrier released the round that was waiting
 *                         when the watch was (re)armed, or it is broken
 *   MPROC_WAIT_POOL       the pool has something to collect (a result, a
 *                         worker's death, a task timeout): drive it with a
 *                         call that does not block (mproc_pool_poll)
 *   MPROC_WAIT_FUTURE     the future is finished, or its pool needs driving
 *                         as above (mproc_future_done drives it)
 * Pipes, listeners and processes have descriptors of their own
 * (mproc_pipe_fd, mproc_listener_fd, mproc_process_pidfd); mproc_wait takes
 * them too.
 *
 * Level-triggered: once readable, the descriptor stays readable until
 * mproc_watch_rearm. rearm looks at the condition again: if it still holds,
 * the descriptor stays readable (so a loop that takes one message per
 * wake-up never loses the rest); if not, it is drained and watched again.
 * Readiness may be spurious (another process took the message first; a
 * pool that only needs a death check): the object's own try-call (timeout 0)
 * decides. A change that happens after a watch was armed is never missed.
 *
 * Across processes: the change may come from any process using the object
 * (forked, spawned and handed the object, or opening it by name). Nothing
 * changes for them and they need not know that a watch exists: a watch
 * announces itself to the object exactly as a thread sleeping in the
 * object's blocking call does (the same words: a queue's need flag, a
 * lock's or semaphore's waiters bit), so a put, set or release that no one
 * waits for costs what it costs without watches, and the one that finds a
 * waiter makes the same single futex wake it always made.
 *
 * How: each process that has a watch armed runs one service thread (started
 * at the first watch, never more than one; it holds no descriptor). It
 * sleeps in futex_waitv on the armed objects' words (at most 127 at once;
 * watches beyond those are looked at every millisecond), and writes the
 * watch's eventfd when a condition holds. It looks for dead peers as the
 * object's own waiters do (a dead lock owner, a dead semaphore holder of a
 * tracked semaphore, a dead barrier party, a queue position orphaned by a
 * killed process) at the same intervals. The wake-up therefore goes
 * through one extra thread: see docs/events.md for what that costs.
 *
 * Rules
 * -----
 *  - A watch points at its object: close the watch before the object.
 *  - A watch belongs to the process that created it. In a forked child its
 *    descriptor is inherited (close-on-exec) but the watch does nothing:
 *    every call but mproc_watch_close (which only frees the child's copy)
 *    returns MPROC_ENOTCHILD.
 *  - Death: a process killed while it has watches armed leaves what a
 *    process killed asleep in the object's blocking call leaves: a waiters
 *    flag that costs the next waker one needless wake. Nothing to clean.
 *  - Pool and future watches follow the pool's thread rule (pool.h):
 *    create and rearm them from the thread that drives the pool.
 */
#ifndef MPROC_WAIT_H
#define MPROC_WAIT_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_watch mproc_watch;

/* What an item or a watch waits for (see the table above). */
enum mproc_wait_kind {
    MPROC_WAIT_FD = 1,    /* mproc_wait only: .fd readable (POLLIN, also HUP/ERR) */
    MPROC_WAIT_FD_OUT,    /* mproc_wait only: .fd writable */
    MPROC_WAIT_WATCH,     /* mproc_wait only: .obj is an mproc_watch */
    MPROC_WAIT_PIPE,      /* mproc_wait only: a message (or EOF) on the mproc_pipe */
    MPROC_WAIT_LISTENER,  /* mproc_wait only: a connection to accept */
    MPROC_WAIT_PROCESS,   /* mproc_wait only: the mproc_process ended */
    MPROC_WAIT_QUEUE_GET, /* mproc_queue: a message */
    MPROC_WAIT_QUEUE_PUT, /* mproc_queue: room for .len bytes */
    MPROC_WAIT_EVENT,     /* mproc_event: set */
    MPROC_WAIT_SEM,       /* mproc_sem: a unit */
    MPROC_WAIT_LOCK,      /* mproc_lock, mproc_rlock: free (or owner dead) */
    MPROC_WAIT_COND_LOCK, /* mproc_cond: its lock free */
    MPROC_WAIT_BARRIER,   /* mproc_barrier: released or broken */
    MPROC_WAIT_POOL,      /* mproc_pool: something to collect */
    MPROC_WAIT_FUTURE     /* mproc_future: finished (or its pool needs driving) */
};

/* mproc_watch_create - a watch on obj for `kind` (MPROC_WAIT_QUEUE_GET ..
 * MPROC_WAIT_FUTURE); len: the message size for MPROC_WAIT_QUEUE_PUT (0:
 * one unit), else ignored. The descriptor is readable at once if the
 * condition holds now (a pool or future watch starts readable: results may
 * be waiting). Does not block.
 * Returns 0; MPROC_EINVAL (NULL out or obj, a kind without watches, a
 * barrier never initialised), MPROC_EBADF (a closed queue, pool or future
 * handle; a destroyed lock or barrier), MPROC_EMSGSIZE (len larger than the
 * queue takes), MPROC_ENOTSUP (a pool whose backend has no shared memory to
 * watch: MPI), MPROC_ENOTCHILD (a pool or future of another process),
 * MPROC_EMFILE, MPROC_ENFILE (no descriptor), MPROC_ENOMEM, MPROC_EAGAIN
 * (the service thread could not be started). */
MPROC_API int mproc_watch_create(mproc_watch **out, int kind, void *obj, size_t len);

/* mproc_watch_fd - the descriptor to give poll/epoll (>= 0), owned by the
 * watch; MPROC_EINVAL (NULL), MPROC_EBADF (closed). */
MPROC_API int mproc_watch_fd(const mproc_watch *w);

/* mproc_watch_rearm - after handling readiness: look at the condition
 * again. Returns 1 if it holds now (the descriptor stays readable), 0 if
 * not (the descriptor is drained and the object watched again); never
 * blocks. MPROC_EINVAL (NULL), MPROC_EBADF (closed), MPROC_ENOTCHILD (a
 * watch of the parent, in a forked child). */
MPROC_API int mproc_watch_rearm(mproc_watch *w);

/* mproc_watch_ready - 1 if the condition holds now, 0 if not, without
 * touching the descriptor; codes as mproc_watch_rearm. */
MPROC_API int mproc_watch_ready(mproc_watch *w);

/* mproc_watch_close - stop watching, close the descriptor and free the
 * watch (remove it from epoll first, or close it and let epoll drop it).
 * Returns 0, MPROC_EINVAL (NULL), MPROC_EBADF (already closed). */
MPROC_API int mproc_watch_close(mproc_watch *w);

/* Typed shorthands for mproc_watch_create. */
struct mproc_queue;
struct mproc_event;
struct mproc_sem;
struct mproc_lock;
struct mproc_barrier;
struct mproc_pool;
struct mproc_future;
#define MPROC_WATCH_GET 0x1u /* mproc_queue_watch: a message */
#define MPROC_WATCH_PUT 0x2u /* mproc_queue_watch: room for len bytes */
/* mproc_queue_watch - events: exactly one of MPROC_WATCH_GET, MPROC_WATCH_PUT
 * (MPROC_EINVAL otherwise; use two watches for both). */
static inline int mproc_queue_watch(struct mproc_queue *q, unsigned events, size_t len,
                                    mproc_watch **out)
{
    if (events != MPROC_WATCH_GET && events != MPROC_WATCH_PUT)
        return MPROC_EINVAL;
    return mproc_watch_create(
        out, events == MPROC_WATCH_GET ? MPROC_WAIT_QUEUE_GET : MPROC_WAIT_QUEUE_PUT, q, len);
}
static inline int mproc_event_watch(struct mproc_event *e, mproc_watch **out)
{
    return mproc_watch_create(out, MPROC_WAIT_EVENT, e, 0);
}
static inline int mproc_sem_watch(struct mproc_sem *s, mproc_watch **out)
{
    return mproc_watch_create(out, MPROC_WAIT_SEM, s, 0);
}
static inline int mproc_lock_watch(struct mproc_lock *l, mproc_watch **out)
{
    return mproc_watch_create(out, MPROC_WAIT_LOCK, l, 0);
}
static inline int mproc_barrier_watch(struct mproc_barrier *b, mproc_watch **out)
{
    return mproc_watch_create(out, MPROC_WAIT_BARRIER, b, 0);
}
static inline int mproc_pool_watch(struct mproc_pool *p, mproc_watch **out)
{
    return mproc_watch_create(out, MPROC_WAIT_POOL, p, 0);
}
static inline int mproc_future_watch(struct mproc_future *f, mproc_watch **out)
{
    return mproc_watch_create(out, MPROC_WAIT_FUTURE, f, 0);
}

/* struct mproc_wait_item - one thing mproc_wait waits for.
 *  kind   an enum mproc_wait_kind
 *  obj    the object (the handle or the in-place struct); unused for the FD kinds
 *  fd     the descriptor for MPROC_WAIT_FD / MPROC_WAIT_FD_OUT
 *  len    MPROC_WAIT_QUEUE_PUT: the message size (0: one unit)
 *  ready  out: 1 if ready when mproc_wait returned, else 0 */
struct mproc_wait_item {
    int kind;
    void *obj;
    int fd;
    size_t len;
    int ready;
};

/* mproc_wait - wait until at least one of the n items is ready (see the
 * table above), at most timeout_ms (0 looks once, MPROC_FOREVER waits as
 * long as it takes). Sets every item's .ready and returns how many are
 * ready (>= 1). Like Python's multiprocessing.connection.wait, readiness
 * may be spurious for an object another process can take from (the try
 * call decides). Without descriptor items (FD, WATCH, PIPE, LISTENER,
 * PROCESS) the calling thread sleeps on the objects' futex words itself
 * (futex_waitv, no extra thread, up to 128 items woken at once; beyond
 * that, or on kernels older than 5.16, it looks every millisecond); with
 * them it polls the descriptors and lets this process's watch service
 * thread watch the objects. Pool and future items are driven by the call
 * (call it from the pool's owner, as any pool call): a future item is ready
 * when the future is finished, a pool item when driving it handled
 * something (a result, a death) or the pool is broken. A MPROC_WAIT_PIPE
 * item is ready when a message, EOF or an error is there (mproc_pipe_poll).
 * Returns the count; MPROC_ETIMEDOUT (nothing ready in time), MPROC_EAGAIN
 * (nothing ready and timeout_ms == 0), MPROC_EINVAL (NULL items with n > 0,
 * n == 0 with MPROC_FOREVER, n > 4096, an unknown kind, a NULL obj, a
 * negative fd, a bad timeout), MPROC_EBADF (a closed handle among the
 * items), MPROC_ENOTCHILD (a pool or future of another process),
 * MPROC_EMSGSIZE (a QUEUE_PUT len the queue never takes), MPROC_ENOTSUP (a
 * pool without shared memory), MPROC_ENOMEM, MPROC_EMFILE. n == 0 with a
 * finite timeout sleeps that long and returns MPROC_ETIMEDOUT
 * (MPROC_EAGAIN for 0). Signals do not end the wait. */
MPROC_API int mproc_wait(struct mproc_wait_item *items, size_t n, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
