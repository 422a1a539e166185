/* linux/futexv.c - sleeping on many futex words at once (futex_waitv), and
 * the eventfds that watches hand to event loops.
 *
 * futex_waitv takes process-shared 32-bit words (no FUTEX_PRIVATE_FLAG: the
 * words live in shared memory, and their wakers are other processes using
 * plain FUTEX_WAKE) and an absolute CLOCK_MONOTONIC deadline.
 */
#include "../internal.h"

#include <linux/futex.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449
#endif
#ifndef FUTEX_32
#define FUTEX_32 2
#endif

/* The kernel's struct futex_waitv (uapi linux/futex.h), spelled out so
 * that older headers build. */
struct mproc__fwv {
    uint64_t val;
    uint64_t uaddr;
    uint32_t flags;
    uint32_t reserved;
};

int mproc__futex_waitv(_Atomic uint32_t *const *words, const uint32_t *vals, unsigned n,
                       const struct mproc__deadline *d)
{
    struct mproc__fwv v[MPROC__WAITV_MAX];
    if (n == 0 || n > MPROC__WAITV_MAX)
        return MPROC_EINVAL;
    for (unsigned i = 0; i < n; i++)
        v[i] = (struct mproc__fwv){
            .val = vals[i], .uaddr = (uint64_t)(uintptr_t)words[i], .flags = FUTEX_32};
    const struct timespec *ts = NULL;
    if (d && !d->forever) {
        if (mproc__deadline_expired(d))
            return MPROC_ETIMEDOUT;
        ts = &d->abs;
    }
    long rc = syscall(SYS_futex_waitv, v, n, 0, ts, CLOCK_MONOTONIC);
    if (rc >= 0)
        return 0;
    if (errno == ETIMEDOUT)
        return MPROC_ETIMEDOUT;
    if (errno == ENOSYS)
        return MPROC_ENOSYS;
    if (errno == EFAULT || errno == EINVAL)
        return MPROC_EFAULT; /* a word no longer mapped: the caller naps, never spins */
    return 0;                /* EAGAIN (a value differed), EINTR: the caller re-checks */
}

int mproc__evfd_new(void)
{
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? mproc__err() : fd;
}

void mproc__evfd_signal(int fd)
{
    uint64_t one = 1;
    /* EAGAIN only when the counter is near 2^64: readable anyway */
    while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
        ;
}

void mproc__evfd_drain(int fd)
{
    uint64_t v;
    while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
        ;
}
