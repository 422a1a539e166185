/* linux/pool_pidfd.h - the process calls the local pool needs: pidfds
 * (open, signal, wait, reap) and the parent-death signal. Implemented in
 * linux/pool_pidfd.c. */
#ifndef MPROC_LINUX_POOL_PIDFD_H
#define MPROC_LINUX_POOL_PIDFD_H

#include <stdbool.h>
#include <sys/types.h>

/* How a reaped child ended. */
struct mproc__reaped {
    int signal;    /* the signal that killed it, or 0 */
    int exit_code; /* its exit code, or -1 if killed */
};

/* mproc__pidfd_open - a close-on-exec pidfd for the child pid; negative code
 * on failure. */
int mproc__pidfd_open(pid_t pid);
/* mproc__pidfd_signal - send sig through the pidfd (nothing happens if the
 * child has ended, even if its pid was reused). 0 or a negative code. */
int mproc__pidfd_signal(int pidfd, int sig);
/* mproc__pidfd_reap - reap the child if it ended: 1 and *how, 0 if it still
 * runs (only with nohang), or a negative code. Retries EINTR. */
int mproc__pidfd_reap(int pidfd, bool nohang, struct mproc__reaped *how);
/* mproc__pidfd_wait - wait up to timeout_ms (-1: forever) for the child to
 * end, without reaping it: 1 ended, 0 timed out. */
int mproc__pidfd_wait(int pidfd, int timeout_ms);
/* mproc__pdeathsig_kill - in a freshly forked child: get SIGKILL when the
 * parent (thread) dies; returns false if the parent `parent` is already
 * gone (the child should exit then). */
bool mproc__pdeathsig_kill(pid_t parent);

#endif
