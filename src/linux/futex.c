/* linux/futex.c - process-shared futex wait and wake.
 *
 * Waits use FUTEX_WAIT_BITSET with an absolute CLOCK_MONOTONIC deadline, so
 * a wait that is interrupted and restarted never waits longer in total than
 * its caller asked.
 */
#include "../internal.h"

#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts,
                      uint32_t val3)
{
    return syscall(SYS_futex, (uint32_t *)uaddr, op, val, ts, NULL, val3);
}

int mproc__futex_wait(_Atomic uint32_t *word, uint32_t expected, const struct mproc__deadline *d)
{
    const struct timespec *ts = NULL;
    if (d && !d->forever) {
        if (mproc__deadline_expired(d))
            return MPROC_ETIMEDOUT;
        ts = &d->abs;
    }
    long rc = sys_futex(word, FUTEX_WAIT_BITSET, expected, ts, FUTEX_BITSET_MATCH_ANY);
    if (rc == 0)
        return 0;
    if (errno == ETIMEDOUT)
        return MPROC_ETIMEDOUT;
    return 0; /* EAGAIN (value changed) or EINTR: the caller re-checks */
}

int mproc__futex_wait_capped(_Atomic uint32_t *word, uint32_t expected,
                             const struct mproc__deadline *d, int cap_ms)
{
    struct mproc__deadline cap;
    mproc__deadline_init(&cap, cap_ms);
    const struct mproc__deadline *use = &cap;
    if (d && !d->forever &&
        (d->abs.tv_sec < cap.abs.tv_sec ||
         (d->abs.tv_sec == cap.abs.tv_sec && d->abs.tv_nsec < cap.abs.tv_nsec)))
        use = d;
    int rc = mproc__futex_wait(word, expected, use);
    if (rc == MPROC_ETIMEDOUT && use == &cap)
        return 0; /* only the cap expired: let the caller look around */
    return rc;
}

int mproc__futex_wake(_Atomic uint32_t *word, int n)
{
    long rc = sys_futex(word, FUTEX_WAKE, (uint32_t)n, NULL, 0);
    return rc < 0 ? 0 : (int)rc;
}
