/* linux/fdwait.c - wait for one descriptor with a deadline.
 *
 * poll() takes whole milliseconds and may return early by a fraction of
 * one; a timeout before the deadline is therefore not final: the wait goes
 * on with what is left. EINTR resumes with the time left as well. A
 * deadline of timeout 0 polls once.
 */
#include "../internal.h"
#include "linux.h"

#include <poll.h>

int mproc__fd_wait(int fd, short events, const struct mproc__deadline *d)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int r = poll(&pfd, 1, d->poll ? 0 : mproc__deadline_remaining_ms(d));
        if (r > 0)
            return 0;
        if (r == 0) {
            if (mproc__deadline_expired(d))
                return MPROC_ETIMEDOUT;
            continue;
        }
        if (errno != EINTR)
            return mproc__err();
    }
}
