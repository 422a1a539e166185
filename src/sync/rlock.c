/* sync/rlock.c - the recursive lock: the lock core of lock.c plus a depth.
 *
 * `depth` is read and written only by the owning thread (ownership is
 * established by the word, whose acquire/release orders publish it to the
 * next owner). A new owner, including one that takes the lock over from a
 * dead owner, starts at depth 1, whatever the dead owner left there.
 */
#include "sync.h"

static inline struct mproc__lk *rk(mproc_rlock *l)
{
    return (struct mproc__lk *)(void *)l;
}

MPROC_API int mproc_rlock_init(mproc_rlock *l)
{
    if (!l)
        return MPROC_EINVAL;
    memset(l, 0, sizeof *l);
    return 0;
}

MPROC_API int mproc_rlock_destroy(mproc_rlock *l)
{
    if (!l)
        return MPROC_EINVAL;
    return mproc__lk_destroy(rk(l));
}

MPROC_API int mproc_rlock_acquire(mproc_rlock *l, int timeout_ms)
{
    if (!l)
        return MPROC_EINVAL;
    struct mproc__lk *k = rk(l);
    if (mproc__lk_owned(k)) {
        if (k->depth == UINT32_MAX)
            return MPROC_EOVERFLOW;
        k->depth++;
        return 0;
    }
    int rc = mproc__lk_acquire(k, timeout_ms);
    if (rc == 0 || rc == MPROC_EOWNERDEAD)
        k->depth = 1;
    return rc;
}

MPROC_API int mproc_rlock_release(mproc_rlock *l)
{
    if (!l)
        return MPROC_EINVAL;
    struct mproc__lk *k = rk(l);
    if (!mproc__lk_owned(k))
        return mproc__lk_release(k); /* EBADF if destroyed, else ENOTOWNER */
    if (k->depth > 1) {
        k->depth--;
        return 0;
    }
    k->depth = 0;
    return mproc__lk_release(k);
}

MPROC_API int mproc_rlock_consistent(mproc_rlock *l)
{
    if (!l)
        return MPROC_EINVAL;
    return mproc__lk_consistent(rk(l));
}

MPROC_API unsigned mproc_rlock_depth(const mproc_rlock *l)
{
    if (!l || !mproc__lk_owned((const struct mproc__lk *)(const void *)l))
        return 0;
    return ((const struct mproc__lk *)(const void *)l)->depth;
}

MPROC_API int mproc_rlock_create(mproc_rlock **out, const char *name)
{
    void *obj;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc__sync_create(&obj, name, MPROC__SEG_RLOCK, sizeof(mproc_rlock));
    if (rc < 0)
        return rc;
    mproc__sync_publish(obj);
    *out = obj;
    return 0;
}

MPROC_API int mproc_rlock_open(mproc_rlock **out, const char *name)
{
    void *obj;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc__sync_open(&obj, name, MPROC__SEG_RLOCK, sizeof(mproc_rlock));
    if (rc < 0)
        return rc;
    *out = obj;
    return 0;
}

MPROC_API int mproc_rlock_close(mproc_rlock *l)
{
    return mproc__sync_close(l, MPROC__SEG_RLOCK, sizeof(mproc_rlock));
}

MPROC_API int mproc_rlock_unlink(const char *name)
{
    return mproc__seg_unlink(name, MPROC__SEG_RLOCK);
}
