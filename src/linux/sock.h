/* linux/sock.h - the AF_UNIX sockets behind pipes and listeners.
 *
 * Linux specifics kept here: abstract socket names (no file in the file
 * system, "\0mproc-<name>"), SO_PEERCRED, accept4 with SOCK_CLOEXEC.
 * Every socket is close-on-exec and in blocking mode unless said otherwise.
 */
#ifndef MPROC_LINUX_SOCK_H
#define MPROC_LINUX_SOCK_H

#include <stdbool.h>
#include <sys/types.h>

/* mproc__sock_pair - a connected SOCK_STREAM pair. 0 or a negative code. */
int mproc__sock_pair(int sv[2]);

/* The listen() backlog of a listener. */
#define MPROC__SOCK_BACKLOG 128

/* mproc__sock_listen - a non-blocking listening socket bound to the
 * abstract name "\0mproc-<name>". MPROC_EEXIST if the name is taken. */
int mproc__sock_listen(const char *name, int *fd_out);

/* mproc__sock_accept - accept one waiting client (non-blocking: MPROC_EAGAIN
 * when none waits). The new socket is blocking and close-on-exec; *uid_out
 * gets the client's effective uid (SO_PEERCRED). */
int mproc__sock_accept(int lfd, int *fd_out, uid_t *uid_out);

/* mproc__sock_connect - connect to "\0mproc-<name>" without blocking.
 * MPROC_ECONNREFUSED when no one listens, MPROC_EAGAIN when the listener's
 * backlog is full. The connected socket is blocking and close-on-exec;
 * *uid_out gets the listener's effective uid. */
int mproc__sock_connect(const char *name, int *fd_out, uid_t *uid_out);

#endif
