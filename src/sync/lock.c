/* sync/lock.c - the process-shared lock that survives its owner's death.
 *
 * Model
 * -----
 * One 32-bit futex word (struct mproc__lk in sync.h):
 *
 *     0                       free
 *     tid                     owned by thread `tid`, nobody sleeps
 *     tid | WAITERS (bit 31)  owned, and someone may sleep on the word
 *     NOTREC (bit 30 alone)   abandoned after an owner death: unusable
 *     NOTREC | all tid bits   destroyed (MPROC__LK_DESTROYED): MPROC_EBADF
 *
 * Acquire: CAS 0 -> tid (the whole uncontended path: no system call). Else
 * spin a little (the owner is probably running on another CPU and leaves
 * soon: linux/spin.h sets how long, and skips it when the owner cannot be
 * running, e.g. rec_cpu, the CPU it acquired on, is ours), then set WAITERS
 * and FUTEX_WAIT on the word. The spinner may take a
 * free lock even while others sleep (barging: better throughput than a
 * hand-off; a woken sleeper that loses sets WAITERS again before sleeping). A waiter that takes a
 * free lock after sleeping stores tid | WAITERS, because other sleepers may
 * remain (the classic three-state mutex of Drepper's "Futexes are tricky").
 * Release: exchange the word with 0 (release order: the protected data is
 * published before the lock looks free) and FUTEX_WAKE one sleeper only if
 * WAITERS was set.
 *
 * Owner death
 * -----------
 * The owner's identity is the tid in the word, plus (rec_tid, rec_pid,
 * rec_start) written right after acquiring: rec_pid/rec_start first, then
 * rec_tid with release order, so a reader that sees rec_tid == tid (acquire)
 * also sees the matching pid and start time. A contender declares the owner
 * dead when /proc says the thread is gone or a zombie, or when rec_tid
 * matches and the process (pid, start time) is gone: the second test
 * catches a tid reused by a new, unrelated thread. Residual risk: a tid
 * reused within the few nanoseconds between a new owner's CAS and its
 * rec_* stores, while the previous owner's process is dead; documented.
 *
 * Checking /proc costs microseconds, so a sleeper checks only once per
 * MPROC_SYNC_SLICE_MS (its futex wait is capped at that), and a try-once
 * acquire (timeout 0) checks at once. The contender that sees a dead owner
 * CASes the word from exactly that value to its own tid (keeping WAITERS):
 * of several contenders exactly one wins. The winner sets `dirty` and gets
 * MPROC_EOWNERDEAD. `dirty` is written only by the owner; it is cleared by
 * mproc_lock_consistent. A release with `dirty` set stores NOTREC and wakes
 * everyone: the lock is never silently "fixed". If the recovering owner
 * dies too, `dirty` stays set and the next owner also gets EOWNERDEAD.
 *
 * A thread that exits normally while holding the lock counts as dead.
 * A forked child does not own what its parent's thread owns (its tid
 * differs).
 */
#include "sync.h"

#include "../wait/probe.h"

#include <pthread.h>

static inline void lk_record_owner(struct mproc__lk *l, const struct mproc__sync_self *me)
{
    atomic_store_explicit(&l->rec_cpu, (uint32_t)(mproc__spin_cpu() + 1), memory_order_relaxed);
    atomic_store_explicit(&l->rec_pid, me->pid, memory_order_relaxed);
    atomic_store_explicit(&l->rec_start, me->start, memory_order_relaxed);
    atomic_store_explicit(&l->rec_tid, (uint32_t)me->tid, memory_order_release);
}

static bool lk_owner_dead(struct mproc__lk *l, uint32_t tid)
{
    if (!mproc__tid_alive((pid_t)tid))
        return mproc__sync_can_judge();
    if (atomic_load_explicit(&l->rec_tid, memory_order_acquire) == tid) {
        pid_t pid = atomic_load_explicit(&l->rec_pid, memory_order_relaxed);
        uint64_t start = atomic_load_explicit(&l->rec_start, memory_order_relaxed);
        if (pid > 0 && start != 0 && !mproc__proc_alive(pid, start))
            return mproc__sync_can_judge();
    }
    return false;
}

/* Lock, RLock, Condition (re-acquire) and Value contenders of this process
 * share one adaptive spin budget. */
static struct mproc__spin_site lk_spin;

int mproc__lk_acquire_dl(struct mproc__lk *l, const struct mproc__deadline *d)
{
    const struct mproc__sync_self *me = mproc__sync_self();
    const uint32_t tid = (uint32_t)me->tid;
    const bool poll = d && d->poll;
    uint32_t w;
    struct mproc__spin sp = {0};

    if (!poll) {
        /* Spin while the owner may be about to release; not at all when it
         * cannot be running (linux/spin.h), e.g. it took the lock on the
         * CPU we run on now. */
        uint32_t cpu = atomic_load_explicit(&l->rec_cpu, memory_order_relaxed);
        mproc__spin_begin(&sp, &lk_spin, cpu != 0 ? (int)(cpu - 1) : -1, d);
        while (mproc__spin_more(&sp)) {
            w = atomic_load_explicit(&l->word, memory_order_relaxed);
            if (w == 0) {
                if (atomic_compare_exchange_weak_explicit(&l->word, &w, tid, memory_order_acquire,
                                                          memory_order_relaxed)) {
                    lk_record_owner(l, me);
                    mproc__spin_end(&sp, true);
                    return 0;
                }
            } else if ((w & MPROC__LK_NOTREC) || (w & MPROC__LK_TID) == tid) {
                mproc__spin_end(&sp, false);
                break; /* spinning cannot help */
            }
        }
    }

    uint64_t next_check = 0; /* 0: not slept yet */
    for (;;) {
        w = atomic_load_explicit(&l->word, memory_order_relaxed);
        if (w == 0) {
            /* Taken after contention: keep WAITERS, others may sleep. */
            uint32_t nw = poll ? tid : tid | MPROC__LK_WAITERS;
            if (atomic_compare_exchange_strong_explicit(&l->word, &w, nw, memory_order_acquire,
                                                        memory_order_relaxed)) {
                lk_record_owner(l, me);
                mproc__spin_woken(&sp); /* how long it took, sleep included */
                return 0;
            }
            continue;
        }
        if (w & MPROC__LK_NOTREC)
            return MPROC_ENOTRECOVERABLE;
        uint32_t owner = w & MPROC__LK_TID;
        if (owner == tid)
            return MPROC_EBUSY;

        bool check = poll;
        if (!poll && next_check != 0 && mproc__now_ns() >= next_check) {
            check = true;
            next_check = mproc__now_ns() + (uint64_t)MPROC_SYNC_SLICE_MS * 1000000u;
        }
        if (check && lk_owner_dead(l, owner)) {
            uint32_t nw = tid | (w & MPROC__LK_WAITERS);
            if (atomic_compare_exchange_strong_explicit(&l->word, &w, nw, memory_order_acquire,
                                                        memory_order_relaxed)) {
                l->dirty = 1;
                lk_record_owner(l, me);
                return MPROC_EOWNERDEAD;
            }
            continue;
        }
        if (poll)
            return MPROC_ETIMEDOUT;

        if (!(w & MPROC__LK_WAITERS)) {
            uint32_t nw = w | MPROC__LK_WAITERS;
            if (!atomic_compare_exchange_strong_explicit(&l->word, &w, nw, memory_order_relaxed,
                                                         memory_order_relaxed))
                continue;
            w = nw;
        }
        if (next_check == 0)
            next_check = mproc__now_ns() + (uint64_t)MPROC_SYNC_SLICE_MS * 1000000u;
        int rc = mproc__futex_wait_capped(&l->word, w, d, MPROC_SYNC_SLICE_MS);
        if (rc == MPROC_ETIMEDOUT)
            return MPROC_ETIMEDOUT;
    }
}

int mproc__lk_acquire(struct mproc__lk *l, int timeout_ms)
{
    struct mproc__deadline d;
    const struct mproc__sync_self *me = mproc__sync_self();
    uint32_t expect = 0;
    if (MPROC__LIKELY(timeout_ms >= MPROC_FOREVER &&
                      atomic_compare_exchange_strong_explicit(&l->word, &expect, (uint32_t)me->tid,
                                                              memory_order_acquire,
                                                              memory_order_relaxed))) {
        lk_record_owner(l, me);
        MPROC__KILL_POINT("lock.held");
        return 0;
    }
    if (MPROC__UNLIKELY(expect == MPROC__LK_DESTROYED))
        return MPROC_EBADF;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    rc = mproc__lk_acquire_dl(l, &d);
    if (rc == 0 || rc == MPROC_EOWNERDEAD)
        MPROC__KILL_POINT("lock.held");
    return mproc__try_once(rc, timeout_ms);
}

int mproc__lk_release(struct mproc__lk *l)
{
    const uint32_t tid = (uint32_t)mproc__sync_self()->tid;
    uint32_t w = atomic_load_explicit(&l->word, memory_order_relaxed);
    if (MPROC__UNLIKELY(w == MPROC__LK_DESTROYED))
        return MPROC_EBADF;
    if ((w & MPROC__LK_NOTREC) || (w & MPROC__LK_TID) != tid)
        return MPROC_ENOTOWNER;
    if (MPROC__UNLIKELY(l->dirty)) {
        l->dirty = 0;
        atomic_store_explicit(&l->word, MPROC__LK_NOTREC, memory_order_release);
        mproc__futex_wake(&l->word, INT32_MAX);
        return MPROC_ENOTRECOVERABLE;
    }
    uint32_t old = atomic_exchange_explicit(&l->word, 0, memory_order_release);
    if (old & MPROC__LK_WAITERS)
        mproc__futex_wake(&l->word, 1);
    return 0;
}

int mproc__lk_consistent(struct mproc__lk *l)
{
    if (atomic_load_explicit(&l->word, memory_order_relaxed) == MPROC__LK_DESTROYED)
        return MPROC_EBADF;
    if (!mproc__lk_owned(l))
        return MPROC_ENOTOWNER;
    if (!l->dirty)
        return MPROC_EINVAL;
    l->dirty = 0;
    return 0;
}

/* The public Lock ------------------------------------------------------------ */

static inline struct mproc__lk *lk(mproc_lock *l)
{
    return (struct mproc__lk *)(void *)l;
}

MPROC_API int mproc_lock_init(mproc_lock *l)
{
    if (!l)
        return MPROC_EINVAL;
    memset(l, 0, sizeof *l);
    return 0;
}

int mproc__lk_destroy(struct mproc__lk *l)
{
    uint32_t w = atomic_load_explicit(&l->word, memory_order_acquire);
    if (w == MPROC__LK_DESTROYED)
        return MPROC_EBADF;
    if ((w & MPROC__LK_TID) != 0)
        return MPROC_EBUSY;
    /* Free (or abandoned): from now on every call says MPROC_EBADF. A
     * thread that takes it between the load and this CAS wins: EBUSY. */
    return atomic_compare_exchange_strong_explicit(&l->word, &w, MPROC__LK_DESTROYED,
                                                   memory_order_acq_rel, memory_order_relaxed)
               ? 0
               : MPROC_EBUSY;
}

MPROC_API int mproc_lock_destroy(mproc_lock *l)
{
    if (!l)
        return MPROC_EINVAL;
    return mproc__lk_destroy(lk(l));
}

MPROC_API int mproc_lock_acquire(mproc_lock *l, int timeout_ms)
{
    if (MPROC__UNLIKELY(!l || (timeout_ms < 0 && timeout_ms != MPROC_FOREVER)))
        return MPROC_EINVAL;
    struct mproc__lk *k = lk(l);
    const struct mproc__sync_self *me = mproc__sync_self();
    uint32_t expect = 0;
    if (MPROC__LIKELY(atomic_compare_exchange_strong_explicit(
            &k->word, &expect, (uint32_t)me->tid, memory_order_acquire, memory_order_relaxed))) {
        lk_record_owner(k, me);
        MPROC__KILL_POINT("lock.held");
        return 0;
    }
    return mproc__lk_acquire(k, timeout_ms);
}

MPROC_API int mproc_lock_release(mproc_lock *l)
{
    if (MPROC__UNLIKELY(!l))
        return MPROC_EINVAL;
    return mproc__lk_release(lk(l));
}

MPROC_API int mproc_lock_consistent(mproc_lock *l)
{
    if (!l)
        return MPROC_EINVAL;
    return mproc__lk_consistent(lk(l));
}

MPROC_API int mproc_lock_held(const mproc_lock *l)
{
    return l && mproc__lk_owned((const struct mproc__lk *)(const void *)l) ? 1 : 0;
}

MPROC_API int mproc_lock_create(mproc_lock **out, const char *name)
{
    void *obj;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc__sync_create(&obj, name, MPROC__SEG_LOCK, sizeof(mproc_lock));
    if (rc < 0)
        return rc;
    mproc__sync_publish(obj);
    *out = obj;
    return 0;
}

MPROC_API int mproc_lock_open(mproc_lock **out, const char *name)
{
    void *obj;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc__sync_open(&obj, name, MPROC__SEG_LOCK, sizeof(mproc_lock));
    if (rc < 0)
        return rc;
    *out = obj;
    return 0;
}

MPROC_API int mproc_lock_close(mproc_lock *l)
{
    return mproc__sync_close(l, MPROC__SEG_LOCK, sizeof(mproc_lock));
}

MPROC_API int mproc_lock_unlink(const char *name)
{
    return mproc__seg_unlink(name, MPROC__SEG_LOCK);
}

/* A watch's look (wait/probe.h): free, not recoverable (acquire reports
 * it) or an owner found dead when asked to look (acquire then gives
 * MPROC_EOWNERDEAD) is ready; otherwise set WAITERS as a contender does and
 * sleep on the word. Release wakes one sleeper: when that was the watcher,
 * wait/probe.c passes the wake-up on. */
int mproc__lk_probe(void *lp, bool announce, bool look, struct mproc__wsleep *sl)
{
    struct mproc__lk *l = lp;
    for (;;) {
        uint32_t w = atomic_load_explicit(&l->word, memory_order_relaxed);
        if (w == 0 || (w & MPROC__LK_NOTREC))
            return 1;
        if (look && lk_owner_dead(l, w & MPROC__LK_TID))
            return 1;
        if (!announce)
            return 0;
        if (!(w & MPROC__LK_WAITERS)) {
            uint32_t nw = w | MPROC__LK_WAITERS;
            if (!atomic_compare_exchange_strong_explicit(&l->word, &w, nw, memory_order_relaxed,
                                                         memory_order_relaxed))
                continue;
            w = nw;
        }
        sl->word = &l->word;
        sl->val = w;
        sl->cap_ms = MPROC_SYNC_SLICE_MS;
        return 0;
    }
}
