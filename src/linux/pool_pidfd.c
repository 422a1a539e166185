/* linux/pool_pidfd.c - pidfds and the parent-death signal for the pool.
 *
 * A pidfd names one process for good: signalling or waiting through it can
 * never hit a recycled pid. waitid(P_PIDFD) reaps exactly that child and no
 * other, so the pool never steals another part of the program's children.
 */
#include "../internal.h"
#include "pool_pidfd.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif

int mproc__pidfd_open(pid_t pid)
{
    /* pidfds are always close-on-exec. */
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? mproc__err() : (int)fd;
}

int mproc__pidfd_signal(int pidfd, int sig)
{
    if (syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) == 0) return 0;
    return errno == ESRCH ? 0 : mproc__err();
}

int mproc__pidfd_reap(int pidfd, bool nohang, struct mproc__reaped *how)
{
    siginfo_t si;
    for (;;) {
        memset(&si, 0, sizeof si);
        if (waitid((idtype_t)P_PIDFD, (id_t)pidfd, &si, WEXITED | (nohang ? WNOHANG : 0)) == 0)
            break;
        if (errno != EINTR) return mproc__err();
    }
    if (si.si_pid == 0) return 0;
    if (si.si_code == CLD_EXITED) {
        how->signal = 0;
        how->exit_code = si.si_status;
    } else {
        how->signal = si.si_status;
        how->exit_code = -1;
    }
    return 1;
}

int mproc__pidfd_wait(int pidfd, int timeout_ms)
{
    struct mproc__deadline d;
    if (mproc__deadline_init(&d, timeout_ms < 0 ? MPROC_FOREVER : timeout_ms) < 0) return 0;
    for (;;) {
        struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
        int rc = poll(&pfd, 1, mproc__deadline_remaining_ms(&d));
        if (rc > 0) return 1;
        if (rc == 0) return 0;
        if (errno != EINTR) return 0;
    }
}

bool mproc__pdeathsig_kill(pid_t parent)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* The parent may have died between fork and prctl. */
    return getppid() == parent;
}
