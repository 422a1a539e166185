/* mproc/sync.h - locks, semaphores, conditions, events, barriers and shared
 * values across processes, that survive the death of the processes using
 * them. Included by <mproc.h>.
 *
 * Two ways to have a primitive
 * ----------------------------
 * 1. In place, in memory you share yourself (a MAP_SHARED mapping, an
 *    mproc_shm block, a struct inside another shared object):
 *
 *        struct shared { mproc_lock lock; long counter; } *s = ...;
 *        mproc_lock_init(&s->lock);         // or: the memory is all zero
 *        mproc_lock_acquire(&s->lock, MPROC_FOREVER);
 *        s->counter++;
 *        mproc_lock_release(&s->lock);
 *
 *    The types below are fixed-size, fixed-layout, hold no pointers, and need
 *    only 8-byte alignment. All-zero bytes are a valid initial state for
 *    mproc_lock (unlocked), mproc_rlock (unlocked), mproc_sem (value 0,
 *    untracked, unbounded), mproc_cond and mproc_event (not set); a barrier
 *    needs mproc_barrier_init (it must know its number of parties). An object
 *    must not move or be copied while anyone uses it, and must be mapped at
 *    the same file offset by everyone (the kernel keys futexes on it).
 *    *_destroy checks that nobody holds or waits on it; after that the memory
 *    may be reused.
 *
 * 2. Standalone, each in a small shared segment of its own:
 *
 *        mproc_lock *l;
 *        mproc_lock_create(&l, NULL);       // anonymous: inherited across fork
 *        mproc_lock_create(&l, "jobs");     // named: unrelated processes use
 *        mproc_lock_open(&l, "jobs");       //   mproc_lock_open
 *        ...
 *        mproc_lock_close(l);               // unmaps (every process)
 *        mproc_lock_unlink("jobs");         // removes the name (once)
 *
 *    The pointer you get is the same type as an in-place object and works
 *    with every call. Names are 1..200 bytes of [A-Za-z0-9._-]; the file is
 *    /dev/shm/mproc-<name>, mode 0600. create fails with MPROC_EEXIST if the
 *    name is taken; open checks the segment's magic, version and kind
 *    (MPROC_EFOREIGN, MPROC_EVERSION, MPROC_ECORRUPT).
 *
 * Timeouts: every wait takes `int timeout_ms` (0 tries once, N ms, or
 * MPROC_FOREVER). The rule is the same for every call in mproc that waits:
 * a try (timeout 0) that cannot proceed returns MPROC_EAGAIN, a positive
 * timeout that passes returns MPROC_ETIMEDOUT. Signals never end a wait.
 *
 * Fork: a child inherits the mappings, so in-place and anonymous objects are
 * shared with it. A lock held by the parent is held by the parent's thread,
 * not by the child. Exec: anonymous objects are gone from the new image
 * (their fds are close-on-exec); named objects can be opened again. A child
 * started by the spawn method can be handed standalone objects, Values and
 * Arrays, anonymous or named, in the start call (see mproc/process.h,
 * "Objects handed to a spawned child"); an anonymous standalone object keeps
 * its descriptor open (close-on-exec) for that until it is closed.
 *
 * Death: see each primitive. In short: a lock whose owner died is handed to
 * the next acquirer with MPROC_EOWNERDEAD; a tracked semaphore gets the units
 * of a dead holder back; a barrier with a dead waiter (or a dead registered
 * party) breaks; condition and event waiters wake up on their own at least
 * every MPROC_SYNC_SLICE_MS to look around, so none is ever stranded.
 * docs/sync.md has the details and the futex protocols.
 */
#ifndef MPROC_SYNC_H
#define MPROC_SYNC_H

#include "common.h"

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* How often (ms) a sleeping waiter wakes up to check for dead peers: the
 * upper bound on how long a death goes unnoticed. */
#define MPROC_SYNC_SLICE_MS 20

/* Lock ==========================================================================
 * A mutual-exclusion lock owned by the thread that acquired it. Only the
 * owner may release it. If the owner dies (its process is killed, or the
 * thread exits) while holding it, the next acquirer gets the lock *and*
 * MPROC_EOWNERDEAD: it must repair the protected data and call
 * mproc_lock_consistent() before releasing. If it releases without doing so,
 * the lock becomes unusable: every later acquire returns
 * MPROC_ENOTRECOVERABLE (until mproc_lock_init is called again). */
typedef struct mproc_lock {
    uint64_t opaque_[4];
} mproc_lock;
#define MPROC_LOCK_INITIALIZER                                                                     \
    {                                                                                              \
        {                                                                                          \
            0, 0, 0, 0                                                                             \
        }                                                                                          \
    }

/* mproc_lock_init - make *l an unlocked, consistent lock (same as zeroing
 * it). Returns 0, or MPROC_EINVAL for NULL. */
MPROC_API int mproc_lock_init(mproc_lock *l);

/* mproc_lock_destroy - end the lock's life if nobody holds it: 0 (from now
 * on acquire, release and consistent on it return MPROC_EBADF, and a second
 * destroy does too, until mproc_lock_init; the memory may be reused),
 * MPROC_EBUSY if it is held, MPROC_EBADF if already destroyed, MPROC_EINVAL
 * for NULL. A standalone lock that was closed reads as destroyed while the
 * library keeps its page (see mproc_lock_close). */
MPROC_API int mproc_lock_destroy(mproc_lock *l);

/* mproc_lock_acquire - take the lock, waiting at most timeout_ms.
 * Uncontended: one compare-and-swap, no system call. Returns
 *   0                      the caller owns the lock;
 *   MPROC_EOWNERDEAD       the caller owns the lock; its previous owner died
 *                          holding it (see above; detected within about
 *                          MPROC_SYNC_SLICE_MS, or at once with timeout 0);
 *   MPROC_ETIMEDOUT        not acquired in time;
 *   MPROC_EBUSY            the calling thread already owns it (waiting
 *                          would never end; use mproc_rlock to nest);
 *   MPROC_ENOTRECOVERABLE  the lock was abandoned after an owner death;
 *   MPROC_EBADF            the lock was destroyed (or closed);
 *   MPROC_EINVAL           NULL, or a bad timeout. */
MPROC_API int mproc_lock_acquire(mproc_lock *l, int timeout_ms);

/* mproc_lock_release - release the lock; wakes one waiter if any sleeps.
 * Never blocks. 0; MPROC_ENOTOWNER if the calling thread does not own it;
 * MPROC_ENOTRECOVERABLE if the lock was acquired with MPROC_EOWNERDEAD and
 * not marked consistent: it is released and now unusable for everyone;
 * MPROC_EBADF if it was destroyed; MPROC_EINVAL for NULL. */
MPROC_API int mproc_lock_release(mproc_lock *l);

/* mproc_lock_consistent - after MPROC_EOWNERDEAD, declare the protected data
 * repaired. 0; MPROC_ENOTOWNER if the caller does not own the lock;
 * MPROC_EINVAL for NULL or if the lock is not in the owner-died state;
 * MPROC_EBADF if it was destroyed. */
MPROC_API int mproc_lock_consistent(mproc_lock *l);

/* mproc_lock_held - 1 if the calling thread owns *l, 0 if not. */
MPROC_API int mproc_lock_held(const mproc_lock *l);

/* Standalone locks (see "Two ways" above). The same four calls, with the
 * same codes, exist for every primitive (rlock, sem, cond, event, barrier).
 * create: 0, MPROC_EEXIST, MPROC_EINVAL (NULL out, bad name),
 *   MPROC_ENAMETOOLONG, MPROC_ENOMEM, MPROC_ENOSPC, MPROC_EMFILE,
 *   MPROC_ENFILE.
 * open: 0, MPROC_EINVAL (NULL out, NULL or bad name), MPROC_ENAMETOOLONG,
 *   MPROC_ENOENT, MPROC_EACCES (not a regular file of ours: a directory, a
 *   symlink, another owner), MPROC_EFOREIGN (not an mproc object of this
 *   kind), MPROC_EVERSION, MPROC_ECORRUPT (sizes disagree; the creator died
 *   before finishing; zero-filled with no creator), MPROC_EAGAIN (its
 *   creator is alive and still initialising it after MPROC_OPEN_WAIT_MS:
 *   open waits that long at most, see "Opening a named object" in common.h),
 *   MPROC_ENOMEM, MPROC_EMFILE, MPROC_ENFILE.
 * close: 0; MPROC_EBADF if already closed (a second close never crashes
 *   while the closed object is in the library's quarantine, see common.h);
 *   MPROC_EINVAL if l is not a standalone object of this kind. A closed
 *   lock or rlock reads as destroyed (MPROC_EBADF from every call) while the
 *   library keeps its page; other kinds used after close reach a private
 *   page that no other process sees (undefined: do not).
 * unlink: 0, MPROC_EINVAL / MPROC_ENAMETOOLONG (bad name), MPROC_ENOENT,
 *   MPROC_EACCES, MPROC_EFOREIGN (another kind of object: left in place),
 *   MPROC_EMFILE, MPROC_ENFILE, MPROC_ENOMEM. */
MPROC_API int mproc_lock_create(mproc_lock **out, const char *name);
MPROC_API int mproc_lock_open(mproc_lock **out, const char *name);
MPROC_API int mproc_lock_close(mproc_lock *l);
MPROC_API int mproc_lock_unlink(const char *name);

/* RLock =========================================================================
 * A recursive lock: the owning thread may acquire it again; it is free when
 * released as many times as acquired. Owner death as for mproc_lock (the new
 * owner starts at depth 1). */
typedef struct mproc_rlock {
    uint64_t opaque_[4];
} mproc_rlock;
#define MPROC_RLOCK_INITIALIZER                                                                    \
    {                                                                                              \
        {                                                                                          \
            0, 0, 0, 0                                                                             \
        }                                                                                          \
    }

/* mproc_rlock_init / _destroy - as mproc_lock_init / _destroy (the same
 * codes; a destroyed rlock answers MPROC_EBADF). */
MPROC_API int mproc_rlock_init(mproc_rlock *l);
MPROC_API int mproc_rlock_destroy(mproc_rlock *l);
/* mproc_rlock_acquire - as mproc_lock_acquire, but the owner nests
 * (MPROC_EOVERFLOW past 2^32-1 levels) instead of getting MPROC_EBUSY.
 * Otherwise the codes of mproc_lock_acquire. */
MPROC_API int mproc_rlock_acquire(mproc_rlock *l, int timeout_ms);
/* mproc_rlock_release - one level down; frees the lock at depth 0. Codes as
 * mproc_lock_release. */
MPROC_API int mproc_rlock_release(mproc_rlock *l);
/* mproc_rlock_consistent - as mproc_lock_consistent. */
MPROC_API int mproc_rlock_consistent(mproc_rlock *l);
/* mproc_rlock_depth - how many times the calling thread holds it (0: not). */
MPROC_API unsigned mproc_rlock_depth(const mproc_rlock *l);
MPROC_API int mproc_rlock_create(mproc_rlock **out, const char *name);
MPROC_API int mproc_rlock_open(mproc_rlock **out, const char *name);
MPROC_API int mproc_rlock_close(mproc_rlock *l);
MPROC_API int mproc_rlock_unlink(const char *name);

/* Semaphore =====================================================================
 * A counter of units: acquire takes one (waiting while there is none),
 * release gives one back and may be called by any process.
 *
 * Flags for init/create:
 *   MPROC_SEM_BOUNDED  a BoundedSemaphore: release above the initial value
 *                      fails with MPROC_ERANGE (Python's ValueError);
 *   MPROC_SEM_TRACKED  units belong to the process that acquired them: the
 *                      semaphore keeps a table of {pid, start time, units},
 *                      a release must come
 *                      from a process that holds a unit (else
 *                      MPROC_ENOTOWNER), and when a holder dies its units
 *                      come back: a waiter notices within MPROC_SYNC_SLICE_MS
 *                      (timeout 0: at once). A process that holds no entry
 *                      and finds the table full gets MPROC_ENOSPC.
 *                      The table's size: MPROC_SEM_TRACK_MAX (14) processes
 *                      for a semaphore placed with mproc_sem_init (it must
 *                      fit sizeof(mproc_sem)); MPROC_SEM_TRACK_MAX_NAMED
 *                      (246) for one made by mproc_sem_create (its segment
 *                      page holds the larger table). A process holds its
 *                      entry from its first acquire until it dies.
 * Untracked (the default, and all-zero memory): units held by a process that
 * dies are lost, as with POSIX and Python semaphores. */
typedef struct mproc_sem {
    uint64_t opaque_[32];
} mproc_sem;
#define MPROC_SEM_BOUNDED 0x1u
#define MPROC_SEM_TRACKED 0x2u
#define MPROC_SEM_TRACK_MAX 14
#define MPROC_SEM_TRACK_MAX_NAMED 246
#define MPROC_SEM_VALUE_MAX 0x7fffffffu

/* mproc_sem_init - value units, flags as above. 0; MPROC_EINVAL for NULL,
 * unknown flags or value > MPROC_SEM_VALUE_MAX. The table of a tracked
 * semaphore placed this way holds MPROC_SEM_TRACK_MAX (14) processes. */
MPROC_API int mproc_sem_init(mproc_sem *s, unsigned value, unsigned flags);
/* mproc_sem_destroy - 0, or MPROC_EBUSY while a waiter sleeps on it (also
 * when one was killed in its sleep, until the next release), MPROC_EINVAL
 * for NULL. */
MPROC_API int mproc_sem_destroy(mproc_sem *s);
/* mproc_sem_acquire - take one unit, waiting at most timeout_ms.
 * Uncontended: one compare-and-swap. 0, MPROC_ETIMEDOUT, MPROC_EAGAIN
 * (timeout 0 and no unit), MPROC_ENOSPC (tracked: the calling process holds
 * no entry and all MPROC_SEM_TRACK_MAX, or MPROC_SEM_TRACK_MAX_NAMED for a
 * created semaphore, belong to live processes), MPROC_EINVAL (NULL, bad
 * timeout). */
MPROC_API int mproc_sem_acquire(mproc_sem *s, int timeout_ms);
/* mproc_sem_release - give one unit back and wake one waiter. Never blocks.
 * 0; MPROC_ERANGE (bounded, already at its initial value); MPROC_EOVERFLOW
 * (at MPROC_SEM_VALUE_MAX); MPROC_ENOTOWNER (tracked, the calling process
 * holds no unit); MPROC_EINVAL for NULL. */
MPROC_API int mproc_sem_release(mproc_sem *s);
/* mproc_sem_value - the units available now (a snapshot), or MPROC_EINVAL. */
MPROC_API int mproc_sem_value(const mproc_sem *s);
/* create: value and flags as for init; the codes of mproc_lock_create, and
 * MPROC_EINVAL for bad flags or value. A tracked semaphore made here holds
 * MPROC_SEM_TRACK_MAX_NAMED (246) processes. open, close, unlink: as for
 * locks (mproc_lock_open ...). */
MPROC_API int mproc_sem_create(mproc_sem **out, const char *name, unsigned value, unsigned flags);
MPROC_API int mproc_sem_open(mproc_sem **out, const char *name);
MPROC_API int mproc_sem_close(mproc_sem *s);
MPROC_API int mproc_sem_unlink(const char *name);

/* Condition =====================================================================
 * A condition variable with its own lock (a mproc_lock: owner death as
 * above). Wait, notify and notify_all require the caller to hold the lock.
 * Like pthread conditions, a wait may return without a notify (another
 * waiter's notify, a peer's death): check your predicate in a loop, or use
 * mproc_cond_wait_for. */
typedef struct mproc_cond {
    uint64_t opaque_[8];
} mproc_cond;
#define MPROC_COND_INITIALIZER                                                                     \
    {                                                                                              \
        {                                                                                          \
            0, 0, 0, 0, 0, 0, 0, 0                                                                 \
        }                                                                                          \
    }

/* mproc_cond_init - 0, MPROC_EINVAL for NULL. */
MPROC_API int mproc_cond_init(mproc_cond *c);
/* mproc_cond_destroy - 0, MPROC_EBUSY while the lock is held, MPROC_EBADF
 * if already destroyed (its lock then answers MPROC_EBADF, as a destroyed
 * mproc_lock does), MPROC_EINVAL for NULL. */
MPROC_API int mproc_cond_destroy(mproc_cond *c);
/* mproc_cond_acquire / _release / _consistent - the attached lock; codes as
 * for mproc_lock_acquire / _release / _consistent. */
MPROC_API int mproc_cond_acquire(mproc_cond *c, int timeout_ms);
MPROC_API int mproc_cond_release(mproc_cond *c);
MPROC_API int mproc_cond_consistent(mproc_cond *c);
/* mproc_cond_wait - release the lock, sleep until notified or timeout_ms
 * passes, re-acquire the lock (always, also on timeout; the re-acquire is not
 * bounded by timeout_ms). 0 (notified, or woken spuriously);
 * MPROC_ETIMEDOUT (MPROC_EAGAIN with timeout 0); MPROC_EINVAL (NULL, bad
 * timeout); MPROC_EOWNERDEAD (notified or not: the lock came back
 * from a dead owner); MPROC_ENOTOWNER (the caller does not hold the lock);
 * MPROC_ENOTRECOVERABLE (the lock could not be re-acquired: the caller does
 * not hold it). */
MPROC_API int mproc_cond_wait(mproc_cond *c, int timeout_ms);
/* mproc_cond_wait_for - wait until pred(arg) returns true (checked with the
 * lock held, first before any wait). 0 when it holds; MPROC_ETIMEDOUT if it
 * still does not at the deadline; other codes as mproc_cond_wait (after
 * MPROC_EOWNERDEAD the predicate is not evaluated). */
MPROC_API int mproc_cond_wait_for(mproc_cond *c, bool (*pred)(void *arg), void *arg,
                                  int timeout_ms);
/* mproc_cond_notify - wake up to n waiters (at least one if any waits;
 * possibly more). 0, MPROC_ENOTOWNER, MPROC_EINVAL (NULL, n < 0).
 * notify_all wakes all. create/open/close/unlink: as for locks. */
MPROC_API int mproc_cond_notify(mproc_cond *c, int n);
MPROC_API int mproc_cond_notify_all(mproc_cond *c);
MPROC_API int mproc_cond_create(mproc_cond **out, const char *name);
MPROC_API int mproc_cond_open(mproc_cond **out, const char *name);
MPROC_API int mproc_cond_close(mproc_cond *c);
MPROC_API int mproc_cond_unlink(const char *name);

/* Event =========================================================================
 * A flag processes can wait for. set wakes every waiter; a set event stays
 * set until cleared. No owner: a death changes nothing but the process is
 * gone; waiters wake up every MPROC_SYNC_SLICE_MS so a setter that died
 * between setting and waking strands nobody. */
typedef struct mproc_event {
    uint64_t opaque_[2];
} mproc_event;
#define MPROC_EVENT_INITIALIZER                                                                    \
    {                                                                                              \
        {                                                                                          \
            0, 0                                                                                   \
        }                                                                                          \
    }

/* mproc_event_init / _destroy - 0, or MPROC_EINVAL for NULL. */
MPROC_API int mproc_event_init(mproc_event *e);
MPROC_API int mproc_event_destroy(mproc_event *e);
/* mproc_event_set / _clear - 0, or MPROC_EINVAL. set never blocks. */
MPROC_API int mproc_event_set(mproc_event *e);
MPROC_API int mproc_event_clear(mproc_event *e);
/* mproc_event_is_set - 1 if set, 0 if not, MPROC_EINVAL for NULL. */
MPROC_API int mproc_event_is_set(const mproc_event *e);
/* mproc_event_wait - wait until set: 0, MPROC_ETIMEDOUT (MPROC_EAGAIN with
 * timeout 0), MPROC_EINVAL (NULL, bad timeout), MPROC_ECORRUPT (the word
 * holds no valid state). create/open/close/unlink: as for locks. */
MPROC_API int mproc_event_wait(mproc_event *e, int timeout_ms);
MPROC_API int mproc_event_create(mproc_event **out, const char *name);
MPROC_API int mproc_event_open(mproc_event **out, const char *name);
MPROC_API int mproc_event_close(mproc_event *e);
MPROC_API int mproc_event_unlink(const char *name);

/* Barrier =======================================================================
 * `parties` callers meet: each mproc_barrier_wait returns when all have
 * arrived; then the barrier is ready for the next round. Broken (Python's
 * BrokenBarrierError) when a waiter times out, when abort is called, or when
 * a process that waits on it dies, and also when a process that registered
 * with mproc_barrier_join dies before leaving: every waiter then returns
 * MPROC_EBROKEN, and so does every later wait until mproc_barrier_reset.
 * Parties that have not arrived and did not join are unknown to the
 * barrier: if one of them dies, the others wait until their timeout.
 * Waiters record themselves in a table of MPROC_BARRIER_TRACK_MAX slots (the
 * first arrivals of each round); joined processes in one of
 * MPROC_BARRIER_JOIN_MAX slots. */
typedef struct mproc_barrier {
    uint64_t opaque_[100];
} mproc_barrier;
#define MPROC_BARRIER_PARTIES_MAX 65535
#define MPROC_BARRIER_TRACK_MAX 32
#define MPROC_BARRIER_JOIN_MAX 16

/* mproc_barrier_init - 1..MPROC_BARRIER_PARTIES_MAX parties; 0 or
 * MPROC_EINVAL. Every call below returns MPROC_EINVAL for NULL or a barrier
 * never initialised, MPROC_EBADF for a destroyed one, and MPROC_ECORRUPT
 * for a party count out of range (broken and n_waiting: NULL only). */
MPROC_API int mproc_barrier_init(mproc_barrier *b, unsigned parties);
/* mproc_barrier_destroy - 0 (from now on every call on it, destroy too,
 * returns MPROC_EBADF until mproc_barrier_init), MPROC_EBUSY while someone
 * waits, MPROC_EBADF if already destroyed, MPROC_EINVAL for NULL. */
MPROC_API int mproc_barrier_destroy(mproc_barrier *b);
/* mproc_barrier_wait - arrive and wait for the others. Returns the arrival
 * index (0 for the first to arrive .. parties-1 for the last, which releases
 * the others) or MPROC_EBROKEN, MPROC_ETIMEDOUT (this caller gave up: the
 * barrier is now broken for everyone else; MPROC_EAGAIN with timeout 0),
 * MPROC_EINVAL (also a bad timeout), MPROC_ECORRUPT. */
MPROC_API int mproc_barrier_wait(mproc_barrier *b, int timeout_ms);
/* mproc_barrier_abort - break the barrier: waiters get MPROC_EBROKEN. */
MPROC_API int mproc_barrier_abort(mproc_barrier *b);
/* mproc_barrier_reset - back to empty and unbroken; whoever waits now gets
 * MPROC_EBROKEN. Joined processes stay joined. */
MPROC_API int mproc_barrier_reset(mproc_barrier *b);
/* mproc_barrier_broken - 1 if broken, 0 if not, MPROC_EINVAL for NULL. */
MPROC_API int mproc_barrier_broken(const mproc_barrier *b);
/* mproc_barrier_parties / _n_waiting - as in Python. */
MPROC_API int mproc_barrier_parties(const mproc_barrier *b);
MPROC_API int mproc_barrier_n_waiting(const mproc_barrier *b);
/* mproc_barrier_join - register the calling process as a party, so that its
 * death breaks the barrier even while it is not waiting. 0, MPROC_ENOSPC
 * (table full), MPROC_EEXIST (already joined). leave: 0 or MPROC_ENOENT
 * (not joined). create/open/close/unlink: as for locks. */
MPROC_API int mproc_barrier_join(mproc_barrier *b);
MPROC_API int mproc_barrier_leave(mproc_barrier *b);
MPROC_API int mproc_barrier_create(mproc_barrier **out, const char *name, unsigned parties);
MPROC_API int mproc_barrier_open(mproc_barrier **out, const char *name);
MPROC_API int mproc_barrier_close(mproc_barrier *b);
MPROC_API int mproc_barrier_unlink(const char *name);

/* Shared values and arrays ======================================================
 * Python's Value and Array: `n` elements of one type in a shared segment,
 * with an attached lock (a mproc_rlock, owner death as above) unless created
 * with MPROC_VALUE_RAW. get/set are single atomic loads and stores (never
 * torn); add is an atomic read-modify-write for integer types. For
 * multi-step updates take the lock.
 *
 *   mproc_value *v;
 *   mproc_value_create(&v, MPROC_TYPE_I64, NULL, 0);   // anonymous, locked
 *   mproc_value_add_i64(v, 1, NULL);                   // atomic
 *   mproc_value_acquire(v, MPROC_FOREVER); ...; mproc_value_release(v);
 *
 * A handle is process-local (malloc'd); it is valid in a forked child (the
 * mapping is inherited). close frees it; unlink removes the name. */
typedef enum mproc_type {
    MPROC_TYPE_I8 = 1,
    MPROC_TYPE_U8,
    MPROC_TYPE_I16,
    MPROC_TYPE_U16,
    MPROC_TYPE_I32,
    MPROC_TYPE_U32,
    MPROC_TYPE_I64,
    MPROC_TYPE_U64,
    MPROC_TYPE_F32,
    MPROC_TYPE_F64,
    MPROC_TYPE_MAX_ = MPROC_TYPE_F64
} mproc_type;
#define MPROC_VALUE_RAW 0x1u /* no lock: lock/unlock give MPROC_ENOTSUP */

typedef struct mproc_value mproc_value;
typedef struct mproc_array mproc_array;

/* mproc_type_size - bytes per element, 0 for an unknown type. */
MPROC_API size_t mproc_type_size(mproc_type type);

/* mproc_array_create - n >= 1 zeroed elements. name as for standalone
 * objects. 0, MPROC_EINVAL (type, n, flags), MPROC_EEXIST, MPROC_ENOMEM,
 * MPROC_ENOSPC. */
MPROC_API int mproc_array_create(mproc_array **out, mproc_type type, size_t n, const char *name,
                                 unsigned flags);
/* mproc_array_open - attach to a named array. Waits at most
 * MPROC_OPEN_WAIT_MS for a live creator that is still initialising it. The
 * codes of the standalone open (see mproc_lock_open), MPROC_ECORRUPT also
 * if its header does not describe a valid array.
 * mproc_array_close - 0; MPROC_EINVAL for NULL; MPROC_EBADF if already
 * closed. Every call below returns MPROC_EBADF (NULL, 0 for those that
 * return a pointer or a size) on a closed handle.
 * mproc_array_unlink - the codes of mproc_lock_unlink. */
MPROC_API int mproc_array_open(mproc_array **out, const char *name);
MPROC_API int mproc_array_close(mproc_array *a);
MPROC_API int mproc_array_unlink(const char *name);
/* mproc_array_ptr - the elements (in shared memory); NULL for NULL. */
MPROC_API void *mproc_array_ptr(const mproc_array *a);
MPROC_API size_t mproc_array_len(const mproc_array *a);
MPROC_API mproc_type mproc_array_type(const mproc_array *a);
/* mproc_array_acquire / _release - the attached lock (recursive). Codes as
 * mproc_rlock_acquire / _release; MPROC_ENOTSUP for a raw array. */
MPROC_API int mproc_array_acquire(mproc_array *a, int timeout_ms);
MPROC_API int mproc_array_release(mproc_array *a);
/* mproc_array_consistent - after MPROC_EOWNERDEAD. */
MPROC_API int mproc_array_consistent(mproc_array *a);
/* Element i as int64 / double, atomically. Integer types convert through
 * int64 (U64 values above INT64_MAX wrap); set of an out-of-range value
 * truncates as a C cast does. get_f64 also reads integer elements (as a
 * double); set_f64 only writes float elements. MPROC_ERANGE for i >= len;
 * MPROC_EINVAL for NULL, for the i64 calls on a float type and for set_f64
 * on an integer type. */
MPROC_API int mproc_array_get_i64(const mproc_array *a, size_t i, int64_t *out);
MPROC_API int mproc_array_set_i64(mproc_array *a, size_t i, int64_t v);
MPROC_API int mproc_array_get_f64(const mproc_array *a, size_t i, double *out);
MPROC_API int mproc_array_set_f64(mproc_array *a, size_t i, double v);
/* mproc_array_add_i64 - atomic element += delta (integer types, wrapping);
 * the new value into *result if not NULL. */
MPROC_API int mproc_array_add_i64(mproc_array *a, size_t i, int64_t delta, int64_t *result);

/* A Value is an array of one element, with calls of its own: the same codes
 * as the array call of the same name (mproc_value_open also MPROC_EFOREIGN
 * for an array of more than one element; waits like mproc_array_open, at
 * most MPROC_OPEN_WAIT_MS, for a live creator still initialising it). */
MPROC_API int mproc_value_create(mproc_value **out, mproc_type type, const char *name,
                                 unsigned flags);
MPROC_API int mproc_value_open(mproc_value **out, const char *name);
MPROC_API int mproc_value_close(mproc_value *v);
MPROC_API int mproc_value_unlink(const char *name);
MPROC_API void *mproc_value_ptr(const mproc_value *v);
MPROC_API mproc_type mproc_value_type(const mproc_value *v);
MPROC_API int mproc_value_acquire(mproc_value *v, int timeout_ms);
MPROC_API int mproc_value_release(mproc_value *v);
MPROC_API int mproc_value_consistent(mproc_value *v);
MPROC_API int mproc_value_get_i64(const mproc_value *v, int64_t *out);
MPROC_API int mproc_value_set_i64(mproc_value *v, int64_t x);
MPROC_API int mproc_value_get_f64(const mproc_value *v, double *out);
MPROC_API int mproc_value_set_f64(mproc_value *v, double x);
MPROC_API int mproc_value_add_i64(mproc_value *v, int64_t delta, int64_t *result);

#ifdef __cplusplus
}
#endif
#endif
