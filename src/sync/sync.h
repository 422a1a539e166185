/* sync/sync.h - private layouts and helpers shared by the files of src/sync.
 *
 * The public types in <mproc/sync.h> are opaque arrays of uint64_t of a
 * fixed size; the real layouts are here, each checked against the public
 * size and alignment. Fields that more than one process touches at a time
 * are _Atomic; the rest are written only by a lock's current owner.
 */
#ifndef MPROC_SYNC_PRIVATE_H
#define MPROC_SYNC_PRIVATE_H

#include "../internal.h"

/* Who we are, cached per thread. `gen` is compared with mproc__sync_gen,
 * which a pthread_atfork child handler bumps, so a forked child refreshes
 * its identity before its first lock operation. */
struct mproc__sync_self {
    uint32_t gen;
    pid_t tid;
    pid_t pid;
    uint64_t start;
};
extern __thread struct mproc__sync_self mproc__sync_self_tls
    __attribute__((tls_model("initial-exec")));
extern _Atomic uint32_t mproc__sync_gen;
void mproc__sync_self_refresh(void);

static inline const struct mproc__sync_self *mproc__sync_self(void)
{
    if (MPROC__UNLIKELY(mproc__sync_self_tls.gen !=
                        atomic_load_explicit(&mproc__sync_gen, memory_order_relaxed)))
        mproc__sync_self_refresh();
    return &mproc__sync_self_tls;
}

/* mproc__sync_can_judge - true if /proc answers for this very process. A
 * process that cannot see itself in /proc (not mounted, another PID
 * namespace's view) must never declare anyone dead: every liveness test
 * would say "dead" and a lock would be stolen from a living owner. */
static inline bool mproc__sync_can_judge(void)
{
    return mproc__proc_alive(mproc__sync_self()->pid, 0);
}

/* Spin iterations (pause) before a contended waiter sleeps, and
 * sched_yield()s after them (semaphores). */
#define MPROC__SYNC_SPIN 200
/* A lock spins much less: a lock is usually re-taken at once by the thread
 * that just released it, and a long spin by the other side only pulls the
 * lock's line back and forth. Two processes doing lock/increment/unlock on
 * this 2-vCPU VM (bench_sync, same run): 200 pauses 136 ns/op against
 * 84-111 ns/op for a pshared pthread mutex; 20 pauses 69 ns/op against 102. */
#define MPROC__LOCK_SPIN 20
#define MPROC__SYNC_YIELDS 4

/* The lock core (lock.c), shared by Lock, RLock, Condition and Value.
 *
 * word: 0 = free; otherwise the owner's tid (bits 0-29) | WAITERS (bit 31:
 * someone may sleep in FUTEX_WAIT on the word, so release must wake).
 * NOTREC (bit 30 alone) = not recoverable, forever. */
#define MPROC__LK_WAITERS 0x80000000u
#define MPROC__LK_NOTREC 0x40000000u
#define MPROC__LK_TID 0x3fffffffu
/* Destroyed (mproc_lock_destroy, or a closed standalone lock): NOTREC with
 * every tid bit set, a tid no thread has (Linux tids stay below 2^22).
 * Calls on it return MPROC_EBADF; init makes it a lock again. */
#define MPROC__LK_DESTROYED (MPROC__LK_NOTREC | MPROC__LK_TID)

struct mproc__lk {
    _Atomic uint32_t word;
    _Atomic uint32_t rec_tid; /* owner identity, written right after */
    _Atomic int32_t rec_pid;  /* acquiring: (tid, pid, start of pid) */
    uint32_t dirty;           /* owner only: taken over, not consistent yet */
    _Atomic uint64_t rec_start;
    uint32_t depth; /* owner only: RLock nesting */
    uint32_t reserved;
};
_Static_assert(sizeof(struct mproc__lk) == sizeof(mproc_lock), "lock layout");
_Static_assert(sizeof(struct mproc__lk) == sizeof(mproc_rlock), "rlock layout");

int mproc__lk_acquire(struct mproc__lk *l, int timeout_ms);
/* Same, on an existing deadline (condition re-acquire: NULL = forever). */
int mproc__lk_acquire_dl(struct mproc__lk *l, const struct mproc__deadline *d);
int mproc__lk_release(struct mproc__lk *l);
int mproc__lk_consistent(struct mproc__lk *l);
/* 0 (now MPROC__LK_DESTROYED), MPROC_EBUSY (held), MPROC_EBADF (already). */
int mproc__lk_destroy(struct mproc__lk *l);

static inline bool mproc__lk_owned(const struct mproc__lk *l)
{
    uint32_t w = atomic_load_explicit(&((struct mproc__lk *)l)->word, memory_order_relaxed);
    return (w & MPROC__LK_NOTREC) == 0 && (w & MPROC__LK_TID) == (uint32_t)mproc__sync_self()->tid;
}

/* Standalone objects (standalone.c): the object lives at the start of the
 * body of a segment of `kind` whose body is exactly `size` bytes. create
 * maps a zeroed body and returns it unpublished: initialise, then publish. */
int mproc__sync_create(void **out, const char *name, unsigned kind, size_t size);
void mproc__sync_publish(void *obj);
int mproc__sync_open(void **out, const char *name, unsigned kind, size_t size);
int mproc__sync_close(void *obj, unsigned kind, size_t size);
int mproc__sync_unlink(const char *name, unsigned kind);
/* Undo a create that failed before publish. */
void mproc__sync_discard(void *obj, size_t size);

/* open / close / unlink of a standalone object of public type `type`. */
#define MPROC__SYNC_OPEN_CLOSE(pfx, type, kind)                                                    \
    MPROC_API int pfx##_open(type **out, const char *name)                                         \
    {                                                                                              \
        void *obj;                                                                                 \
        if (!out)                                                                                  \
            return MPROC_EINVAL;                                                                   \
        int rc = mproc__sync_open(&obj, name, kind, sizeof(type));                                 \
        if (rc < 0)                                                                                \
            return rc;                                                                             \
        *out = obj;                                                                                \
        return 0;                                                                                  \
    }                                                                                              \
    MPROC_API int pfx##_close(type *x)                                                             \
    {                                                                                              \
        return mproc__sync_close(x, kind, sizeof(type));                                           \
    }                                                                                              \
    MPROC_API int pfx##_unlink(const char *name)                                                   \
    {                                                                                              \
        return mproc__sync_unlink(name, kind);                                                     \
    }

#endif
