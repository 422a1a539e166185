/* pipe_listener.c - named connections between unrelated processes (see
 * mproc/pipe.h): a listener on the abstract AF_UNIX name "\0mproc-<name>"
 * and mproc_pipe_connect().
 *
 * Model: the listening socket is non-blocking; accept waits in poll() and
 * then accepts, so a client that gave up between the two never makes accept
 * sleep past the caller's timeout. Every accepted client's effective uid is
 * checked (SO_PEERCRED) before it is handed out; a client of another user
 * is closed and the wait goes on. The client in turn checks the listener's
 * uid: abstract names are first come, first served, so another user could
 * have bound the name to impersonate the listener. Root (uid 0) is trusted
 * as a listener, since it could impersonate anyone anyway.
 *
 * A connected pipe end is an ordinary duplex mproc_pipe (pipe.c).
 */
#include "internal.h"

#include "handle.h"
#include "linux/sock.h"
#include "pipe_internal.h"

#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

struct mproc_listener {
    _Atomic uint32_t magic; /* MPROC__H_LISTENER, MPROC__H_CLOSED (handle.h) */
    int fd;
    unsigned flags;
};

int mproc_listener_create(mproc_listener **out, const char *name, unsigned flags)
{
    if (out == NULL || (flags & ~MPROC_LISTENER_ANY_UID) != 0)
        return MPROC_EINVAL;
    mproc_listener *l = calloc(1, sizeof *l);
    if (l == NULL)
        return MPROC_ENOMEM;
    atomic_init(&l->magic, MPROC__H_LISTENER);
    int rc = mproc__sock_listen(name, &l->fd);
    if (rc < 0) {
        free(l);
        return rc;
    }
    l->flags = flags;
    *out = l;
    return 0;
}

int mproc_listener_accept(mproc_listener *l, mproc_pipe **out, int timeout_ms)
{
    int rc = mproc__handle_check(l, MPROC__H_LISTENER);
    if (rc < 0)
        return rc;
    if (out == NULL)
        return MPROC_EINVAL;
    struct mproc__deadline d;
    rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    /* Turned-away clients count against the deadline: a flood of them
     * must not keep the call past it (a poll gives up after a backlog's
     * worth). */
    int turned_away = 0;
    for (;;) {
        int fd;
        uid_t uid;
        rc = mproc__sock_accept(l->fd, &fd, &uid);
        if (rc == 0) {
            if (!(l->flags & MPROC_LISTENER_ANY_UID) && uid != geteuid()) {
                close(fd);
                if (d.poll ? ++turned_away >= MPROC__SOCK_BACKLOG : mproc__deadline_expired(&d))
                    return mproc__try_once(MPROC_ETIMEDOUT, timeout_ms);
                continue;
            }
            rc = mproc__pipe_wrap(fd, true, true, out);
            if (rc < 0)
                close(fd);
            return rc;
        }
        if (rc != MPROC_EAGAIN && rc != -ECONNABORTED)
            return rc;
        if ((rc = mproc__fd_wait(l->fd, POLLIN, &d)) < 0)
            return mproc__try_once(rc, timeout_ms);
    }
}

int mproc_listener_fd(const mproc_listener *l)
{
    int rc = mproc__handle_check(l, MPROC__H_LISTENER);
    return rc < 0 ? rc : l->fd;
}

int mproc_listener_close(mproc_listener *l)
{
    int rc = mproc__handle_close(l, MPROC__H_LISTENER);
    if (rc < 0)
        return rc;
    close(l->fd);
    l->fd = -1;
    mproc__handle_retire(l);
    return 0;
}

int mproc_pipe_connect(mproc_pipe **out, const char *name, int timeout_ms)
{
    if (out == NULL)
        return MPROC_EINVAL;
    struct mproc__deadline d;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    for (;;) {
        int fd;
        uid_t uid;
        rc = mproc__sock_connect(name, &fd, &uid);
        if (rc == 0) {
            if (uid != geteuid() && uid != 0) {
                close(fd);
                return MPROC_EACCES;
            }
            rc = mproc__pipe_wrap(fd, true, true, out);
            if (rc < 0)
                close(fd);
            return rc;
        }
        if (rc != MPROC_ECONNREFUSED && rc != MPROC_EAGAIN)
            return rc;
        if (d.poll)
            return rc;
        if (mproc__deadline_expired(&d))
            return MPROC_ETIMEDOUT;
        /* No listener yet, or its backlog is full: look again shortly. */
        int ms = mproc__deadline_remaining_ms(&d);
        struct timespec ts = {0, (long)(ms < 0 || ms > 5 ? 5 : ms) * 1000000L};
        nanosleep(&ts, NULL);
    }
}
