/* linux/sock.c - AF_UNIX sockets for pipes and listeners (see sock.h).
 *
 * Abstract names live in the network namespace, not the file system:
 * nothing is left behind when a process dies, but anyone in the namespace
 * can bind a name first. That is why both ends check SO_PEERCRED (the
 * caller decides what to accept). The credentials a connecting client sees
 * are the listener's as of listen(); the listener sees the client's as of
 * connect().
 */
#include "../internal.h"
#include "sock.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int mproc__sock_pair(int sv[2])
{
    return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 ? 0 : mproc__err();
}

static int abstract_addr(struct sockaddr_un *a, socklen_t *len, const char *name)
{
    int rc = mproc__name_check(name);
    if (rc < 0)
        return rc;
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    /* sun_path[0] = '\0' makes the name abstract; it is not NUL-terminated. */
    int n = snprintf(a->sun_path + 1, sizeof a->sun_path - 1, "%s%s", MPROC__SHM_PREFIX, name);
    if (n < 0 || (size_t)n >= sizeof a->sun_path - 1)
        return MPROC_ENAMETOOLONG;
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    return 0;
}

static int peer_uid(int fd, uid_t *uid)
{
    struct ucred cr;
    socklen_t len = sizeof cr;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0)
        return mproc__err();
    *uid = cr.uid;
    return 0;
}

int mproc__sock_listen(const char *name, int *fd_out)
{
    struct sockaddr_un a;
    socklen_t alen;
    int rc = abstract_addr(&a, &alen, name);
    if (rc < 0)
        return rc;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return mproc__err();
    if (bind(fd, (struct sockaddr *)&a, alen) != 0 || listen(fd, MPROC__SOCK_BACKLOG) != 0) {
        rc = errno == EADDRINUSE ? MPROC_EEXIST : mproc__err();
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int mproc__sock_accept(int lfd, int *fd_out, uid_t *uid_out)
{
    int fd;
    do
        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno == EWOULDBLOCK ? MPROC_EAGAIN : mproc__err();
    uid_t uid;
    int rc = peer_uid(fd, &uid);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    *uid_out = uid;
    return 0;
}

int mproc__sock_connect(const char *name, int *fd_out, uid_t *uid_out)
{
    struct sockaddr_un a;
    socklen_t alen;
    int rc = abstract_addr(&a, &alen, name);
    if (rc < 0)
        return rc;
    /* Non-blocking so that a full backlog is EAGAIN (the caller retries
     * within its timeout) instead of an unbounded sleep in connect(). An
     * AF_UNIX connect never returns EINPROGRESS. */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return mproc__err();
    int r;
    do
        r = connect(fd, (struct sockaddr *)&a, alen);
    while (r != 0 && errno == EINTR);
    uid_t uid = 0;
    if (r != 0)
        rc = errno == ENOENT ? MPROC_ECONNREFUSED : mproc__err();
    else if ((rc = peer_uid(fd, &uid)) == 0 && fcntl(fd, F_SETFL, 0) != 0)
        rc = mproc__err();
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    *uid_out = uid;
    return 0;
}
