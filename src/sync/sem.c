/* sync/sem.c - counting semaphores, bounded or not, optionally tracking
 * which process holds which units so that a dead holder's units come back.
 *
 * Layout (struct sem, 256 bytes = sizeof(mproc_sem)):
 *   word    futex word: units available (bits 0-30) | WAITERS (bit 31)
 *   flags   MPROC_SEM_BOUNDED | MPROC_SEM_TRACKED, fixed at init
 *   max     the bound (the initial value) when BOUNDED
 *   slot[]  TRACKED only: {pid, units, start} per holding process
 * All-zero bytes: value 0, unbounded, untracked.
 *
 * Futex protocol. Acquire: CAS word v -> v-1 while the count is > 0 (the
 * WAITERS bit rides along). With count 0, spin briefly, then CAS the WAITERS
 * bit in and FUTEX_WAIT on word == WAITERS. Release: CAS v -> count+1 with
 * WAITERS cleared; if it was set, wake *all* sleepers: each re-contends and
 * sets WAITERS again before sleeping, so no sleeper is left unflagged (with
 * wake-one a second sleeper could be forgotten). A waiter killed in its
 * sleep leaves WAITERS set until the next release clears it: one needless
 * wake, nothing worse. Sleeps are capped at MPROC_SYNC_SLICE_MS.
 *
 * Tracking. A process claims a slot before it takes a unit (CAS pid 0 ->
 * pid, then start), so a full table fails with MPROC_ENOSPC without taking
 * anything. Units are counted in the slot *after* the word was decremented:
 * a death between the two loses one unit (the safe direction: never more
 * units than the bound). A release decrements the caller's slot first (CAS,
 * never below 0: MPROC_ENOTOWNER), then the word. Recovery: a waiter that
 * has slept a slice (or a try-once acquire that failed) scans the slots; a
 * slot whose process is dead (pid + start time, see linux/proc.c) is claimed
 * with CAS pid -> RECOVERING, so exactly one scanner returns its units to
 * the word; then the slot is freed (pid 0, release order last).
 * Slots of processes that are alive stay claimed while they live, even at 0
 * units: threads of a process share its slot without coordination.
 */
#include "sync.h"

#include <sched.h>

#define SEM_WAITERS 0x80000000u
#define SEM_COUNT 0x7fffffffu
#define SEM_RECOVERING UINT32_MAX

struct sem_slot {
    _Atomic uint32_t pid;
    _Atomic uint32_t units;
    _Atomic uint64_t start;
};

struct sem {
    _Atomic uint32_t word;
    uint32_t flags;
    uint32_t max;
    uint32_t reserved[5];
    struct sem_slot slot[MPROC_SEM_TRACK_MAX];
};
_Static_assert(sizeof(struct sem) == sizeof(mproc_sem), "sem layout");

static inline struct sem *sm(mproc_sem *s)
{
    return (struct sem *)(void *)s;
}

MPROC_API int mproc_sem_init(mproc_sem *s, unsigned value, unsigned flags)
{
    if (!s || value > MPROC_SEM_VALUE_MAX || (flags & ~(MPROC_SEM_BOUNDED | MPROC_SEM_TRACKED)))
        return MPROC_EINVAL;
    memset(s, 0, sizeof *s);
    struct sem *m = sm(s);
    m->flags = flags;
    m->max = value;
    atomic_store_explicit(&m->word, value, memory_order_release);
    return 0;
}

MPROC_API int mproc_sem_destroy(mproc_sem *s)
{
    if (!s)
        return MPROC_EINVAL;
    uint32_t w = atomic_load_explicit(&sm(s)->word, memory_order_acquire);
    return (w & SEM_WAITERS) ? MPROC_EBUSY : 0;
}

static uint32_t sem_recover(struct sem *m);

/* The caller's slot, claimed if needed (recycling the slots of dead
 * processes); NULL if the table is full. */
static struct sem_slot *sem_my_slot(struct sem *m, const struct mproc__sync_self *me, bool claim)
{
    for (int i = 0; i < MPROC_SEM_TRACK_MAX; i++) {
        struct sem_slot *sl = &m->slot[i];
        if (atomic_load_explicit(&sl->pid, memory_order_acquire) == (uint32_t)me->pid &&
            atomic_load_explicit(&sl->start, memory_order_relaxed) == me->start)
            return sl;
    }
    if (!claim)
        return NULL;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < MPROC_SEM_TRACK_MAX; i++) {
            struct sem_slot *sl = &m->slot[i];
            uint32_t zero = 0;
            if (atomic_compare_exchange_strong_explicit(&sl->pid, &zero, (uint32_t)me->pid,
                                                        memory_order_acq_rel,
                                                        memory_order_relaxed)) {
                atomic_store_explicit(&sl->units, 0, memory_order_relaxed);
                atomic_store_explicit(&sl->start, me->start, memory_order_release);
                return sl;
            }
        }
        /* Full: free the slots of dead processes (returning their units). */
        if (pass == 1)
            break;
        sem_recover(m);
    }
    return NULL;
}

/* Give units back to the word and wake the sleepers. */
static void sem_give(struct sem *m, uint32_t units)
{
    uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
    uint32_t nw;
    /* Capped at the bound: slot counts come from shared memory, and a
     * broken or hostile peer must not push a bounded semaphore past it. */
    uint32_t cap = (m->flags & MPROC_SEM_BOUNDED) ? m->max : SEM_COUNT;
    do {
        uint32_t c = (w & SEM_COUNT) + units;
        if (c > cap || c < units)
            c = cap;
        nw = c;
    } while (!atomic_compare_exchange_weak_explicit(&m->word, &w, nw, memory_order_release,
                                                    memory_order_relaxed));
    if (w & SEM_WAITERS)
        mproc__futex_wake(&m->word, INT32_MAX);
}

/* Return the units of dead holders; how many came back. */
static uint32_t sem_recover(struct sem *m)
{
    uint32_t total = 0;
    if (!mproc__sync_can_judge())
        return 0;
    for (int i = 0; i < MPROC_SEM_TRACK_MAX; i++) {
        struct sem_slot *sl = &m->slot[i];
        uint32_t pid = atomic_load_explicit(&sl->pid, memory_order_acquire);
        if (pid == 0 || pid == SEM_RECOVERING)
            continue;
        uint64_t start = atomic_load_explicit(&sl->start, memory_order_relaxed);
        if (mproc__proc_alive((pid_t)pid, start))
            continue;
        if (!atomic_compare_exchange_strong_explicit(&sl->pid, &pid, SEM_RECOVERING,
                                                     memory_order_acq_rel, memory_order_relaxed))
            continue;
        uint32_t u = atomic_exchange_explicit(&sl->units, 0, memory_order_acq_rel);
        atomic_store_explicit(&sl->start, 0, memory_order_relaxed);
        atomic_store_explicit(&sl->pid, 0, memory_order_release);
        if (u > SEM_COUNT)
            u = 0; /* garbage from a hostile or broken peer: ignore it */
        if (u)
            sem_give(m, u);
        total += u;
    }
    return total;
}

static inline bool sem_try(struct sem *m)
{
    uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
    while (w & SEM_COUNT) {
        if (atomic_compare_exchange_weak_explicit(&m->word, &w, w - 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

static int sem_wait_slow(struct sem *m, int timeout_ms, bool tracked)
{
    struct mproc__deadline d;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    if (!d.poll) {
        /* Spin briefly (a releaser on the other CPU answers within a few
         * hundred ns), then yield a few times (on an overloaded machine
         * the releaser may be waiting for our CPU), then sleep. */
        for (int i = 0; i < MPROC__SYNC_SPIN + MPROC__SYNC_YIELDS; i++) {
            if (atomic_load_explicit(&m->word, memory_order_relaxed) & SEM_COUNT) {
                if (sem_try(m))
                    return 0;
            }
            if (i < MPROC__SYNC_SPIN)
                mproc__cpu_relax();
            else
                sched_yield();
        }
    }
    uint64_t next_check = 0;
    for (;;) {
        if (sem_try(m))
            return 0;
        if (tracked && (d.poll || (next_check && mproc__now_ns() >= next_check))) {
            next_check = mproc__now_ns() + (uint64_t)MPROC_SYNC_SLICE_MS * 1000000u;
            if (sem_recover(m))
                continue;
        }
        if (d.poll)
            return MPROC_ETIMEDOUT;
        uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
        if (w & SEM_COUNT)
            continue;
        if (!(w & SEM_WAITERS) &&
            !atomic_compare_exchange_strong_explicit(&m->word, &w, w | SEM_WAITERS,
                                                     memory_order_relaxed, memory_order_relaxed))
            continue;
        if (next_check == 0)
            next_check = mproc__now_ns() + (uint64_t)MPROC_SYNC_SLICE_MS * 1000000u;
        rc = mproc__futex_wait_capped(&m->word, SEM_WAITERS, &d, MPROC_SYNC_SLICE_MS);
        if (rc == MPROC_ETIMEDOUT)
            return sem_try(m) ? 0 : MPROC_ETIMEDOUT;
    }
}

MPROC_API int mproc_sem_acquire(mproc_sem *s, int timeout_ms)
{
    if (MPROC__UNLIKELY(!s || (timeout_ms < 0 && timeout_ms != MPROC_FOREVER)))
        return MPROC_EINVAL;
    struct sem *m = sm(s);
    bool tracked = (m->flags & MPROC_SEM_TRACKED) != 0;
    struct sem_slot *slot = NULL;
    if (tracked) {
        slot = sem_my_slot(m, mproc__sync_self(), true);
        if (!slot)
            return MPROC_ENOSPC;
    }
    int rc = sem_try(m) ? 0 : sem_wait_slow(m, timeout_ms, tracked);
    if (rc == 0 && slot) {
        MPROC__KILL_POINT("sem.acquired.untracked");
        atomic_fetch_add_explicit(&slot->units, 1, memory_order_relaxed);
        MPROC__KILL_POINT("sem.held");
    }
    return rc;
}

MPROC_API int mproc_sem_release(mproc_sem *s)
{
    if (MPROC__UNLIKELY(!s))
        return MPROC_EINVAL;
    struct sem *m = sm(s);
    uint32_t flags = m->flags;
    struct sem_slot *slot = NULL;
    if (flags & MPROC_SEM_TRACKED) {
        const struct mproc__sync_self *me = mproc__sync_self();
        /* Any of the caller's slots with a unit (threads may have claimed
         * two slots for one process in a race). */
        for (int i = 0; i < MPROC_SEM_TRACK_MAX && !slot; i++) {
            struct sem_slot *sl = &m->slot[i];
            if (atomic_load_explicit(&sl->pid, memory_order_acquire) != (uint32_t)me->pid ||
                atomic_load_explicit(&sl->start, memory_order_relaxed) != me->start)
                continue;
            uint32_t u = atomic_load_explicit(&sl->units, memory_order_relaxed);
            while (u > 0 && !atomic_compare_exchange_weak_explicit(
                                &sl->units, &u, u - 1, memory_order_relaxed, memory_order_relaxed))
                ;
            if (u > 0)
                slot = sl;
        }
        if (!slot)
            return MPROC_ENOTOWNER;
    }
    uint32_t w = atomic_load_explicit(&m->word, memory_order_relaxed);
    for (;;) {
        uint32_t c = w & SEM_COUNT;
        int err = 0;
        if ((flags & MPROC_SEM_BOUNDED) && c >= m->max)
            err = MPROC_ERANGE;
        else if (c >= MPROC_SEM_VALUE_MAX)
            err = MPROC_EOVERFLOW;
        if (err) {
            if (slot)
                atomic_fetch_add_explicit(&slot->units, 1, memory_order_relaxed);
            return err;
        }
        if (atomic_compare_exchange_weak_explicit(&m->word, &w, c + 1, memory_order_release,
                                                  memory_order_relaxed))
            break;
    }
    if (w & SEM_WAITERS)
        mproc__futex_wake(&m->word, INT32_MAX);
    return 0;
}

MPROC_API int mproc_sem_value(const mproc_sem *s)
{
    if (!s)
        return MPROC_EINVAL;
    return (int)(atomic_load_explicit(&((struct sem *)(void *)s)->word, memory_order_relaxed) &
                 SEM_COUNT);
}

MPROC_API int mproc_sem_create(mproc_sem **out, const char *name, unsigned value, unsigned flags)
{
    void *obj;
    if (!out || value > MPROC_SEM_VALUE_MAX || (flags & ~(MPROC_SEM_BOUNDED | MPROC_SEM_TRACKED)))
        return MPROC_EINVAL;
    int rc = mproc__sync_create(&obj, name, MPROC__SEG_SEM, sizeof(mproc_sem));
    if (rc < 0)
        return rc;
    mproc_sem_init(obj, value, flags);
    mproc__sync_publish(obj);
    *out = obj;
    return 0;
}

MPROC__SYNC_OPEN_CLOSE(mproc_sem, mproc_sem, MPROC__SEG_SEM)
