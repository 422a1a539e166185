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
#include "../linux/spin.h"

/* Who we are (pid, tid, start time), cached per thread: the one identity
 * of linux/proc.c, which notices a fork whichever library copy forked. */
#define mproc__sync_self mproc__self

/* mproc__sync_can_judge - true if /proc answers for this very process. A
 * process that cannot see itself in /proc (not mounted, another PID
 * namespace's view) must never declare anyone dead: every liveness test
 * would say "dead" and a lock would be stolen from a living owner. */
static inline bool mproc__sync_can_judge(void)
{
    return mproc__proc_alive(mproc__sync_self()->pid, 0);
}

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
    uint32_t depth;           /* owner only: RLock nesting */
    _Atomic uint32_t rec_cpu; /* 1 + the CPU the owner acquired on, 0 unknown:
                                 a hint for contenders (linux/spin.h) */
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
/* The body size of a standalone semaphore's segment: it fills its first
 * page, so that its holder table can be larger than in place (sem.c). */
#define MPROC__SEM_SEG_BODY (4096 - MPROC__SEG_HDR_SIZE)

int mproc__sync_create(void **out, const char *name, unsigned kind, size_t size);
void mproc__sync_publish(void *obj);
int mproc__sync_open(void **out, const char *name, unsigned kind, size_t size);
int mproc__sync_close(void *obj, unsigned kind, size_t size);
/* Undo a create that failed before publish. */
void mproc__sync_discard(void *obj, size_t size);

/* mproc__sync_from_fd - map a standalone object of `kind` and `size` from a
 * descriptor handed to a spawned child (takes a dup of fd). */
int mproc__sync_from_fd(void **out, int fd, unsigned kind, size_t size);

/* The kept table (standalone.c): how a mapped segment can be handed to a
 * spawned child. keep records the segment mapped at `map` and takes fd:
 * an anonymous one (name NULL or "") keeps it, a named one closes it after
 * noting its file's identity. On failure fd is closed too. forget drops
 * the record (and closes a kept fd). handover_fd gives a new close-on-exec
 * descriptor of the segment: MPROC_EINVAL if map is not in the table,
 * MPROC_ENOENT if a named one's name no longer leads to that same file.
 * mproc__sync_handover does the same for a standalone object of `kind`. */
int mproc__sync_keep(const void *map, int fd, const char *name);
void mproc__sync_forget(const void *map);
int mproc__sync_handover_fd(const void *map, int *fd_out);
int mproc__sync_handover(const void *obj, unsigned kind, size_t size, int *fd_out);

/* Values and Arrays (value.c) handed to a spawned child: from_fd maps one
 * (validated as mproc_array_open does), handover gives a new close-on-exec
 * descriptor of it (codes as mproc__sync_handover_fd), len its length. */
int mproc__array_from_fd(mproc_array **out, int fd);
int mproc__array_handover(const mproc_array *a, int *fd_out);
size_t mproc__array_len(const mproc_array *a);

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
        return mproc__seg_unlink(name, kind);                                                      \
    }

#endif
