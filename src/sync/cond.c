/* sync/cond.c - condition variables with their own (owner-death-aware) lock.
 *
 * Layout (struct cond, 64 bytes = sizeof(mproc_cond)):
 *   lk       the lock core of lock.c (word, owner record, dirty)
 *   seq      futex word: bumped by every notify (under the lock); its low
 *            bits tell the last notifier's CPU (linux/spin.h)
 *   waiters  how many may sleep on seq (a hint: skip the wake system call
 *            when 0; a waiter killed in its sleep leaves it one too high,
 *            which costs needless wakes and nothing else)
 *
 * Protocol. A waiter, holding the lock, reads seq, counts itself in
 * `waiters`, releases the lock and FUTEX_WAITs on seq == the value it read.
 * A notifier holds the lock, so it cannot bump seq between the waiter's read
 * and its release; after the release any bump makes the futex wait return
 * at once (the kernel compares the value). notify(n) wakes n sleepers;
 * waiters that wake up on their own (a slice passed) and see seq changed
 * also return, so a notify may wake more than n: allowed, as for pthread
 * condition variables. Sleeps are capped at MPROC_SYNC_SLICE_MS: a notifier
 * that died between bumping seq and waking strands nobody. `waiters` is
 * incremented (seq_cst) before the lock is released and read (seq_cst)
 * after seq is bumped, so a notifier that reads 0 bumped seq before any
 * sleeper could compare it.
 *
 * Re-acquiring the lock after the wait is not bounded by timeout_ms (Python
 * and pthread do the same); it returns MPROC_EOWNERDEAD if the lock came
 * from a dead owner.
 */
#include "sync.h"

struct cond {
    struct mproc__lk lk;
    _Atomic uint32_t seq;
    _Atomic uint32_t waiters;
    uint32_t reserved[6];
};
_Static_assert(sizeof(struct cond) == sizeof(mproc_cond), "cond layout");

static inline struct cond *cv(mproc_cond *c)
{
    return (struct cond *)(void *)c;
}

MPROC_API int mproc_cond_init(mproc_cond *c)
{
    if (!c)
        return MPROC_EINVAL;
    memset(c, 0, sizeof *c);
    return 0;
}

MPROC_API int mproc_cond_destroy(mproc_cond *c)
{
    if (!c)
        return MPROC_EINVAL;
    return mproc__lk_destroy(&cv(c)->lk);
}

MPROC_API int mproc_cond_acquire(mproc_cond *c, int timeout_ms)
{
    if (!c)
        return MPROC_EINVAL;
    return mproc__lk_acquire(&cv(c)->lk, timeout_ms);
}

MPROC_API int mproc_cond_release(mproc_cond *c)
{
    if (!c)
        return MPROC_EINVAL;
    return mproc__lk_release(&cv(c)->lk);
}

MPROC_API int mproc_cond_consistent(mproc_cond *c)
{
    if (!c)
        return MPROC_EINVAL;
    return mproc__lk_consistent(&cv(c)->lk);
}

static struct mproc__spin_site cond_spin; /* this process's condition waits */

static int cond_wait_dl(struct cond *k, const struct mproc__deadline *d)
{
    if (!mproc__lk_owned(&k->lk))
        return MPROC_ENOTOWNER;
    uint32_t seq = atomic_load_explicit(&k->seq, memory_order_relaxed);
    atomic_fetch_add_explicit(&k->waiters, 1, memory_order_seq_cst);
    int rc = mproc__lk_release(&k->lk);
    if (rc < 0) {
        atomic_fetch_sub_explicit(&k->waiters, 1, memory_order_relaxed);
        return rc;
    }
    MPROC__KILL_POINT("cond.wait");
    bool timed_out = false;
    struct mproc__spin sp = {0};
    if (!d || !d->poll) {
        /* A notifier on another CPU may be right behind (linux/spin.h) */
        mproc__spin_begin(&sp, &cond_spin, mproc__spin_bump_cpu(seq), d);
        while (mproc__spin_more(&sp)) {
            if (atomic_load_explicit(&k->seq, memory_order_acquire) != seq) {
                mproc__spin_end(&sp, true);
                break;
            }
        }
    }
    while (atomic_load_explicit(&k->seq, memory_order_acquire) == seq) {
        rc = mproc__futex_wait_capped(&k->seq, seq, d, MPROC_SYNC_SLICE_MS);
        if (atomic_load_explicit(&k->seq, memory_order_acquire) != seq) {
            mproc__spin_woken(&sp); /* how long it took, sleep included */
            break;
        }
        if (rc == MPROC_ETIMEDOUT) {
            timed_out = true;
            break;
        }
    }
    atomic_fetch_sub_explicit(&k->waiters, 1, memory_order_relaxed);
    rc = mproc__lk_acquire_dl(&k->lk, NULL);
    if (rc < 0)
        return rc;
    return timed_out ? MPROC_ETIMEDOUT : 0;
}

MPROC_API int mproc_cond_wait(mproc_cond *c, int timeout_ms)
{
    struct mproc__deadline d;
    if (!c)
        return MPROC_EINVAL;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    return mproc__try_once(cond_wait_dl(cv(c), &d), timeout_ms);
}

MPROC_API int mproc_cond_wait_for(mproc_cond *c, bool (*pred)(void *arg), void *arg, int timeout_ms)
{
    struct mproc__deadline d;
    if (!c || !pred)
        return MPROC_EINVAL;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    if (!mproc__lk_owned(&cv(c)->lk))
        return MPROC_ENOTOWNER;
    while (!pred(arg)) {
        if (mproc__deadline_expired(&d))
            return mproc__try_once(MPROC_ETIMEDOUT, timeout_ms);
        rc = cond_wait_dl(cv(c), &d);
        if (rc == MPROC_ETIMEDOUT)
            return pred(arg) ? 0 : mproc__try_once(MPROC_ETIMEDOUT, timeout_ms);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int cond_notify(mproc_cond *c, int n)
{
    if (!c || n < 0)
        return MPROC_EINVAL;
    struct cond *k = cv(c);
    if (!mproc__lk_owned(&k->lk))
        return MPROC_ENOTOWNER;
    mproc__spin_bump(&k->seq); /* + 1, and my CPU for spinning waiters */
    MPROC__KILL_POINT("cond.notify");
    if (n > 0 && atomic_load_explicit(&k->waiters, memory_order_seq_cst) > 0)
        mproc__futex_wake(&k->seq, n);
    return 0;
}

MPROC_API int mproc_cond_notify(mproc_cond *c, int n)
{
    return cond_notify(c, n);
}

MPROC_API int mproc_cond_notify_all(mproc_cond *c)
{
    return cond_notify(c, INT32_MAX);
}

MPROC_API int mproc_cond_create(mproc_cond **out, const char *name)
{
    void *obj;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc__sync_create(&obj, name, MPROC__SEG_COND, sizeof(mproc_cond));
    if (rc < 0)
        return rc;
    mproc__sync_publish(obj);
    *out = obj;
    return 0;
}

MPROC__SYNC_OPEN_CLOSE(mproc_cond, mproc_cond, MPROC__SEG_COND)
