/* linux/time.c - deadlines on CLOCK_MONOTONIC. */
#include "../internal.h"

int mproc__deadline_init(struct mproc__deadline *d, int timeout_ms)
{
    d->forever = false;
    d->poll = false;
    if (timeout_ms == MPROC_FOREVER) {
        d->forever = true;
        d->abs.tv_sec = 0;
        d->abs.tv_nsec = 0;
        return 0;
    }
    if (timeout_ms < 0)
        return MPROC_EINVAL;
    d->poll = timeout_ms == 0;
    clock_gettime(CLOCK_MONOTONIC, &d->abs);
    d->abs.tv_sec += timeout_ms / 1000;
    d->abs.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (d->abs.tv_nsec >= 1000000000L) {
        d->abs.tv_sec++;
        d->abs.tv_nsec -= 1000000000L;
    }
    return 0;
}

bool mproc__deadline_expired(const struct mproc__deadline *d)
{
    if (d->forever)
        return false;
    if (d->poll)
        return true;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > d->abs.tv_sec ||
           (now.tv_sec == d->abs.tv_sec && now.tv_nsec >= d->abs.tv_nsec);
}

int mproc__deadline_remaining_ms(const struct mproc__deadline *d)
{
    if (d->forever)
        return -1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns =
        (int64_t)(d->abs.tv_sec - now.tv_sec) * 1000000000LL + (d->abs.tv_nsec - now.tv_nsec);
    if (ns <= 0)
        return 0;
    int64_t ms = (ns + 999999) / 1000000;
    return ms > INT32_MAX ? INT32_MAX : (int)ms;
}

uint64_t mproc__now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
}
