/* linux/pidfd.c - waiting for and signalling children through pidfds; the
 * parent-death signal. Used by process.c and by the pool's fork workers.
 *
 * A pidfd names one process for as long as the fd is open: unlike a pid it
 * cannot be recycled, so signals never reach a stranger and waitid(P_PIDFD)
 * never reaps a child that is not the one we mean. poll() on it becomes
 * readable when the process ends (exit or signal), before it is reaped, so a
 * wait with a timeout needs no SIGCHLD handler and no polling loop.
 *
 * The raw system calls are used (not the glibc 2.36 wrappers) so that the
 * library also builds against older C libraries; kernel 5.4+ is required.
 */
#include "../internal.h"
#include "child.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

int mproc__child_pidfd(pid_t pid, int *fd_out)
{
    /* pidfd_open always sets O_CLOEXEC on the new fd. */
    long fd = syscall(SYS_pidfd_open, pid, 0u);
    if (fd < 0)
        return mproc__err();
    *fd_out = (int)fd;
    return 0;
}

int mproc__child_signal(int pidfd, int sig)
{
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0u) == 0)
        return 0;
    return mproc__err();
}

int mproc__child_wait(int pidfd, const struct mproc__deadline *d)
{
    int rc = mproc__fd_wait(pidfd, POLLIN, d);
    if (rc == MPROC_ETIMEDOUT)
        return 0;
    return rc == 0 ? 1 : rc;
}

int mproc__child_reap(int pidfd, bool block, siginfo_t *info)
{
    for (;;) {
        memset(info, 0, sizeof *info);
        int rc = waitid((idtype_t)P_PIDFD, (id_t)pidfd, info, WEXITED | (block ? 0 : WNOHANG));
        if (rc == 0)
            return info->si_pid != 0 ? 1 : 0;
        if (errno != EINTR)
            return mproc__err();
    }
}

/* Runs in a fork child of a possibly multi-threaded parent, so only raw
 * system calls (async-signal-safe, and nothing to bind lazily). */
bool mproc__child_pdeathsig(pid_t ppid)
{
    /* Armed first, checked second: if the parent died before the prctl,
     * getppid() already shows the reaper. */
    syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    return (pid_t)syscall(SYS_getppid) == ppid;
}

/* The rest of a new child's kernel calls, through syscall() (already bound
 * in the parent) rather than libc functions the parent never called: each
 * of those would be bound lazily again in every child, and the dynamic
 * linker's symbol lookup touches a dozen pages on the way. */

_Noreturn void mproc__child_die(void)
{
    syscall(SYS_kill, (pid_t)syscall(SYS_getpid), SIGKILL);
    for (;;)
        syscall(SYS_exit_group, 128 + SIGKILL);
}

void mproc__child_set_comm(const char *name)
{
    syscall(SYS_prctl, PR_SET_NAME, name, 0, 0, 0);
}

_Noreturn void mproc__child_exit_group(int status)
{
    /* exit_group is what _exit() does */
    for (;;)
        syscall(SYS_exit_group, status);
}
