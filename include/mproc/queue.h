/* mproc/queue.h - a multi-producer/multi-consumer queue of variable-size
 * messages in shared memory, across processes. Included by <mproc.h>.
 *
 *   mproc_queue *q;
 *   struct mproc_queue_opts o = {.capacity = 1 << 20};
 *   mproc_queue_create(&q, NULL, &o);          // anonymous: inherited by fork
 *   if (fork() == 0) {
 *       mproc_queue_put(q, "hello", 5, MPROC_FOREVER);
 *       _exit(0);
 *   }
 *   char buf[64];
 *   ssize_t n = mproc_queue_get(q, buf, sizeof buf, MPROC_FOREVER);  // 5
 *   mproc_queue_close(q);
 *
 * Model
 * -----
 * A queue is one shared segment: a header and one or more lanes, each a
 * ring of data bytes with its messages' entries in front of them. put
 * copies the message into its lane's ring synchronously (there is no
 * feeder thread): when put returns 0 the message is in the queue, and a
 * process may exit at once without losing it. get copies it out (or lends a
 * view of it). Order is FIFO per producer thread: a consumer sees each
 * producer's messages in the order it put them, and a put that returned
 * before another began is taken first, whichever processes made them.
 *
 * Bounds: a queue holds `capacity` bytes, all lanes together; each message
 * occupies its length plus a 16-byte entry, in whole `unit_size` units,
 * and, if max_msgs != 0, at most max_msgs messages. A put that does not fit waits;
 * a message that could never fit (larger than the capacity) is refused at
 * once with MPROC_EMSGSIZE. Nothing is ever dropped silently.
 *
 * Processes: an anonymous queue (name NULL) is inherited across fork; the
 * child's handle notices the fork by itself and takes part as a new
 * participant. A named queue can be opened by unrelated processes of the
 * same user; the creator's mproc_queue_close unlinks the name (the queue
 * lives on for those that have it open). Any queue's fd can be passed to
 * another process (SCM_RIGHTS, or inheritance across exec) and attached
 * with mproc_queue_from_fd. All fds are close-on-exec.
 *
 * Threads: a handle may be used by many threads of one process at once.
 * Each thread may hold at most one outstanding reservation and one
 * outstanding view per queue (MPROC_EBUSY otherwise). A queue keeps a
 * record per (process, thread) using it, at most opts.participants at once
 * (256 unless asked): beyond that put/get fail with MPROC_ENOSPC (records
 * of exited threads and dead processes are reclaimed).
 *
 * Crashes: a process killed (even SIGKILL) anywhere inside put or get never
 * wedges the queue for the others: the message it was handling at that
 * moment may be lost (at most that one, and it is counted in
 * mproc_queue_stats.lost); every other message is delivered exactly once.
 * A process that dies holding a reservation or a view loses that message in
 * the same way. The survivors notice within ~100 ms.
 *
 * Validation: every size and index read from the shared segment is checked
 * before use; a corrupted queue gives MPROC_ECORRUPT, never a crash or an
 * access outside the segment.
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_queue mproc_queue;

/* Flags of struct mproc_queue_opts. */
#define MPROC_QUEUE_JOINABLE 0x1u /* keep a count of unfinished tasks: task_done/join */

/* struct mproc_queue_opts - creation parameters; all-zero means defaults.
 *  capacity   bytes of the ring; 0 = 1 MiB, at most 4 GiB. Rounded up so
 *             that capacity / unit_size is a power of two and the ring is
 *             at least one page (with max_msgs: to
 *             max_msgs * ceil(units / max_msgs) units). Each message takes
 *             its length + 16 bytes (its entry) in whole units, so a single
 *             message can be at most the ring less 16 bytes (and below
 *             4 GiB): see mproc_queue_capacity.
 *  max_msgs   the most messages the queue holds at once; 0 = no count bound
 *             (the byte bound alone applies; cheaper).
 *  unit_size  allocation granule in bytes, a power of two in [8, 65536];
 *             0 = 128. Each message occupies whole units (its entry included).
 *             Small units waste less space on small messages; 128 keeps
 *             consecutive small messages on separate cache-line pairs
 *             (fastest); large units make a big queue's index smaller.
 *  flags      MPROC_QUEUE_JOINABLE or 0.
 *  participants  the most (process, thread) pairs that may use the queue
 *             at once; 0 = 256, at most 65536. Each costs 128 bytes of the
 *             segment. Beyond it put/get/reserve/views/task_done fail with
 *             MPROC_ENOSPC; records of exited threads, closed handles and
 *             dead processes are reclaimed.
 *  lanes      how many lanes (rings of their own, each as large as the
 *             capacity) the queue has, 1..32; 0 = 1. A producer thread
 *             puts into one lane for as long as it uses the queue (the one
 *             with the fewest producers when it first puts), so producers
 *             do not share a claim point while there are as many lanes as
 *             producers. capacity and max_msgs bound all lanes together.
 *             Order, with any number of lanes: a put that returned before
 *             another put began (in any processes: after a join, a lock, a
 *             pipe message) is taken before it, so "join the producers,
 *             then put a sentinel" works; each producer thread's messages
 *             come out in the order it put them; puts that overlap in time
 *             come out in either order. More than 32, or rings over 64 GiB
 *             together: MPROC_EINVAL. */
struct mproc_queue_opts {
    size_t capacity;
    size_t max_msgs;
    size_t unit_size;
    unsigned flags;
    unsigned participants;
    unsigned lanes;
};

/* struct mproc_queue_stats - a snapshot of a queue's counters (each exact at
 * quiescence; while puts and gets run they may be a moment apart). */
struct mproc_queue_stats {
    uint64_t puts;       /* messages published */
    uint64_t gets;       /* messages taken (copied or viewed) */
    uint64_t bytes_in;   /* payload bytes published */
    uint64_t bytes_out;  /* payload bytes taken */
    uint64_t lost;       /* messages lost because a participant died mid-operation */
    uint64_t msgs;       /* messages in the queue now (qsize) */
    uint64_t bytes_used; /* bytes of the ring occupied now (whole units) */
    uint64_t high_water; /* the most bytes of the ring ever occupied (whole units);
                               space is reclaimed lazily, so under a steady stream
                               this approaches the capacity */
    uint64_t capacity;   /* the largest message (mproc_queue_capacity) */
    uint64_t max_msgs;   /* 0 = no count bound */
    uint64_t unit_size;
    uint64_t unfinished; /* joinable queues: puts not yet matched by task_done */
    uint32_t waiting_getters;
    uint32_t waiting_putters;
    uint32_t participants; /* live (process, thread) pairs attached */
    uint32_t flags;        /* creation flags */
    int closed;            /* 1 after mproc_queue_shutdown */
    int creator_pid;
};

/* mproc_queue_create - create a new queue and return a handle in *out.
 * name == NULL: an anonymous queue (a memfd), shared with children by fork
 * or by passing its fd. Otherwise a named queue that mproc_queue_open can
 * find ("" picks a random name; read it with mproc_queue_name). opts NULL
 * means all defaults. Does not block.
 * Returns 0; MPROC_EINVAL (NULL out, bad opts, capacity too large, lanes),
 * MPROC_EEXIST (name taken), MPROC_ENAMETOOLONG, MPROC_ENOSPC/MPROC_ENOMEM
 * (no room in /dev/shm or address space). The caller owns the handle and
 * must mproc_queue_close it; the creator's close unlinks the name. */
MPROC_API int mproc_queue_create(mproc_queue **out, const char *name,
                                 const struct mproc_queue_opts *opts);

/* mproc_queue_open - attach to the named queue `name`. Waits at most
 * MPROC_OPEN_WAIT_MS, and only while its creator is alive and still
 * initialising it ("Opening a named object" in common.h).
 * Returns 0; MPROC_ENOENT (no such name), MPROC_EACCES (not a regular file
 * of ours: a directory, a symlink, another owner), MPROC_EFOREIGN (not an
 * mproc queue), MPROC_EVERSION (another ABI version), MPROC_ECORRUPT (header
 * fails validation; its creator died during creation; zero-filled with no
 * creator), MPROC_EAGAIN (its creator is still initialising it after
 * MPROC_OPEN_WAIT_MS), MPROC_EINVAL (NULL, bad name), MPROC_ENAMETOOLONG,
 * MPROC_ENOMEM, MPROC_EMFILE, MPROC_ENFILE. */
MPROC_API int mproc_queue_open(mproc_queue **out, const char *name);

/* mproc_queue_from_fd - attach to the queue behind fd (received over a
 * pipe, or inherited). Takes its own dup of fd; the caller still owns fd.
 * Returns 0 or the errors of mproc_queue_open, MPROC_EBADF for a bad fd. */
MPROC_API int mproc_queue_from_fd(mproc_queue **out, int fd);

/* mproc_queue_fd - the fd behind the handle (>= 0), to pass to another
 * process; it stays owned by the handle. MPROC_EINVAL for NULL, MPROC_EBADF
 * for a closed handle. */
MPROC_API int mproc_queue_fd(const mproc_queue *q);

/* mproc_queue_name - the queue's name ("" if anonymous, NULL or closed);
 * never NULL. Valid until the handle is closed. */
MPROC_API const char *mproc_queue_name(const mproc_queue *q);

/* mproc_queue_close - release the handle (and, for the creator of a named
 * queue, unlink the name). Outstanding reservations/views of this process
 * are abandoned (their messages counted lost). The queue itself lives on
 * for other participants. Does not block. Returns 0, MPROC_EINVAL for NULL,
 * MPROC_EBADF if already closed (see "Handles" in common.h).
 * A handle inherited across fork must be closed in the child as well
 * (closing it there never unlinks the name).
 *
 * Closed handles: every queue call below (and fd, name, stats) given a
 * handle that was closed returns MPROC_EBADF, for as long as the library
 * keeps the closed handle (common.h). */
MPROC_API int mproc_queue_close(mproc_queue *q);

/* mproc_queue_unlink - remove a named queue's name (for cleanup after a
 * crashed creator). Returns 0, MPROC_ENOENT, MPROC_EINVAL. */
MPROC_API int mproc_queue_unlink(const char *name);

/* mproc_queue_shutdown - close the queue for everyone: every waiting put and
 * get wakes up; later puts fail with MPROC_ECLOSED; gets keep delivering
 * what is left and then fail with MPROC_ECLOSED instead of waiting.
 * Idempotent. Returns 0, MPROC_EINVAL for NULL, MPROC_EBADF (closed
 * handle). */
MPROC_API int mproc_queue_shutdown(mproc_queue *q);

/* mproc_queue_put - copy len bytes from buf into the queue (len 0 is a
 * valid, empty message). Blocks while the queue is full, at most timeout_ms.
 * Returns 0 once the message is in the queue; MPROC_ETIMEDOUT (full),
 * MPROC_EAGAIN (full and timeout_ms == 0), MPROC_EMSGSIZE (len exceeds the
 * capacity: nothing is enqueued), MPROC_ECLOSED, MPROC_EINVAL (NULL q, NULL
 * buf with len > 0, bad timeout), MPROC_EBADF (closed handle), MPROC_ENOSPC (no participant record for
 * this thread: opts.participants are in use, or no memory for its state),
 * MPROC_ECORRUPT. */
MPROC_API int mproc_queue_put(mproc_queue *q, const void *buf, size_t len, int timeout_ms);

/* mproc_queue_get - take the next message, copying it into buf (cap bytes).
 * Blocks while the queue is empty, at most timeout_ms.
 * Returns its length (>= 0); MPROC_EMSGSIZE if cap is too small (the
 * message stays in the queue: see mproc_queue_peek_size), MPROC_ETIMEDOUT,
 * MPROC_EAGAIN (empty and timeout_ms == 0), MPROC_ECLOSED (shut down and
 * drained), MPROC_EINVAL, MPROC_EBADF (closed handle), MPROC_ENOSPC (as for
 * put), MPROC_ECORRUPT. */
MPROC_API ssize_t mproc_queue_get(mproc_queue *q, void *buf, size_t cap, int timeout_ms);

/* mproc_queue_get_alloc - take the next message into a fresh malloc'd
 * buffer (*out, to free() by the caller; at least 1 byte even for an empty
 * message). Returns its length; the errors of mproc_queue_get (never
 * MPROC_EMSGSIZE), MPROC_ENOMEM (the message stays in the queue). */
MPROC_API ssize_t mproc_queue_get_alloc(mproc_queue *q, void **out, int timeout_ms);

/* mproc_queue_peek_size - the length of the next message without taking it;
 * waits for one like get. Another consumer may take it before you do.
 * Returns the length; the errors of mproc_queue_get. */
MPROC_API ssize_t mproc_queue_peek_size(mproc_queue *q, int timeout_ms);

/* mproc_queue_reserve - zero copy put: claim room for a message of len
 * bytes and return in *ptr where to write it (contiguous). Nothing is
 * visible to consumers until mproc_queue_commit. Blocks like put.
 * Returns 0; the errors of mproc_queue_put, MPROC_EBUSY (this thread
 * already holds a reservation on this queue). Consumers behind this
 * message wait until it is committed or cancelled: keep it short. */
MPROC_API int mproc_queue_reserve(mproc_queue *q, size_t len, void **ptr, int timeout_ms);

/* mproc_queue_commit - publish the reserved message with its final length
 * len (<= the reserved length). Returns 0; MPROC_EINVAL (NULL, no
 * reservation, len too large: the reservation stays), MPROC_EBADF (closed
 * handle). Does not block. */
MPROC_API int mproc_queue_commit(mproc_queue *q, size_t len);

/* mproc_queue_cancel - give up the reservation: consumers skip it (it is not
 * counted as lost). Returns 0, MPROC_EINVAL (NULL, no reservation),
 * MPROC_EBADF (closed handle). */
MPROC_API int mproc_queue_cancel(mproc_queue *q);

/* mproc_queue_get_view - zero copy get: take the next message and return a
 * pointer to it in the ring (*ptr, read-only) and its length. The bytes stay
 * valid and untouched until mproc_queue_release_view; producers cannot
 * reuse that space (nor any behind it) until then: keep it short.
 * Returns the length; the errors of mproc_queue_get (never MPROC_EMSGSIZE),
 * MPROC_EBUSY (this thread already holds a view of this queue). */
MPROC_API ssize_t mproc_queue_get_view(mproc_queue *q, const void **ptr, int timeout_ms);

/* mproc_queue_release_view - end the view taken by this thread. Returns 0,
 * MPROC_EINVAL (NULL, no view), MPROC_EBADF (closed handle). */
MPROC_API int mproc_queue_release_view(mproc_queue *q);

/* mproc_queue_task_done - joinable queues: one task taken from the queue is
 * finished. Returns 0; MPROC_ENOTSUP (not joinable), MPROC_ENOSPC (as for
 * put), MPROC_ECORRUPT, MPROC_ERANGE (more task_done calls than puts),
 * MPROC_EINVAL (NULL), MPROC_EBADF (closed handle). */
MPROC_API int mproc_queue_task_done(mproc_queue *q);

/* mproc_queue_join - joinable queues: wait until every message ever put has
 * been matched by a task_done, at most timeout_ms. Returns 0,
 * MPROC_ETIMEDOUT, MPROC_EAGAIN (timeout 0 and tasks remain), MPROC_ENOTSUP,
 * MPROC_EINVAL, MPROC_EBADF (closed handle), MPROC_ECORRUPT (the counters
 * are impossible). */
MPROC_API int mproc_queue_join(mproc_queue *q, int timeout_ms);

/* mproc_queue_qsize - number of messages in the queue (exact when no put or
 * get is in progress); MPROC_EINVAL (NULL), MPROC_EBADF (closed handle),
 * MPROC_ECORRUPT (the frontiers
 * or counters are impossible: never a number made of garbage). */
MPROC_API ssize_t mproc_queue_qsize(const mproc_queue *q);

/* mproc_queue_empty / mproc_queue_full - 1 or 0 (exact at quiescence);
 * MPROC_EINVAL (NULL), MPROC_EBADF (closed handle), MPROC_ECORRUPT (as for
 * qsize). full means a message
 * of one unit would not fit now. */
MPROC_API int mproc_queue_empty(const mproc_queue *q);
MPROC_API int mproc_queue_full(const mproc_queue *q);

/* mproc_queue_capacity - the largest message accepted, in bytes: the
 * ring after rounding less the 16-byte entry; MPROC_EINVAL (NULL),
 * MPROC_EBADF (closed handle). */
MPROC_API ssize_t mproc_queue_capacity(const mproc_queue *q);

/* mproc_queue_stats - fill *st with a snapshot of the counters. Also runs
 * the dead-participant check. Returns 0, MPROC_EINVAL, MPROC_EBADF (closed
 * handle), MPROC_ECORRUPT. */
MPROC_API int mproc_queue_stats(mproc_queue *q, struct mproc_queue_stats *st);

/* mproc_queue_stats_by_name - the same for a named queue this process has
 * not opened (for `mproc ls`): attaches, snapshots, detaches. Errors of
 * mproc_queue_open. */
MPROC_API int mproc_queue_stats_by_name(const char *name, struct mproc_queue_stats *st);

#ifdef __cplusplus
}
#endif
#endif
