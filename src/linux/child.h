/* linux/child.h - the kernel seam of processes: pidfds, the spawn hand-over,
 * CPU counting. (The hooks process.c offers to the spawn child are in
 * src/process_internal.h.)
 *
 * Implemented in linux/pidfd.c, linux/spawn.c and linux/cpu.c.
 * Private to the library except the cpu parsers, which are exported (with
 * their mproc__ names, in no public header) so that tests can feed them fake
 * cgroup trees.
 */
#ifndef MPROC_LINUX_CHILD_H
#define MPROC_LINUX_CHILD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mproc__deadline;
struct mproc_object;

/* pidfd.c ---------------------------------------------------------------------*/

/* mproc__child_pidfd - a pidfd (close-on-exec) for the child pid. */
int mproc__child_pidfd(pid_t pid, int *fd_out);
/* mproc__child_signal - send sig through the pidfd. 0, MPROC_ESRCH once the
 * process has ended (also while it is an unreaped zombie), or a code. */
int mproc__child_signal(int pidfd, int sig);
/* mproc__child_wait - wait until the process behind pidfd has ended or the
 * deadline passes. 1 ended, 0 still running, or a negative code. EINTR is
 * retried with the time that is left. */
int mproc__child_wait(int pidfd, const struct mproc__deadline *d);
/* mproc__child_reap - waitid(P_PIDFD, WEXITED), blocking or not. 1 and *info
 * when reaped, 0 when still running (non-blocking only), or a code. */
int mproc__child_reap(int pidfd, bool block, siginfo_t *info);
/* mproc__child_pdeathsig - in a freshly forked child (async-signal-safe):
 * get SIGKILL when the parent thread dies. false if the parent ppid is
 * already gone (the caller should end at once). */
bool mproc__child_pdeathsig(pid_t ppid);
/* mproc__child_die - SIGKILL the calling process (async-signal-safe). */
_Noreturn void mproc__child_die(void);
/* mproc__child_set_comm - the kernel's name of the calling thread (15
 * bytes kept). */
void mproc__child_set_comm(const char *name);
/* mproc__child_exit_group - end the process at once with status, as
 * _exit() does. */
_Noreturn void mproc__child_exit_group(int status);

/* spawn.c ---------------------------------------------------------------------
 * The spawn start method. The parent writes a hand-over record into a memfd
 * and starts /proc/self/exe with MPROC_SPAWN="<fd>:<ppid>" in its
 * environment and the memfd at descriptor <fd> (inherited by that child
 * only). The child's mproc_main() reads and validates the record. */

#define MPROC__SPAWN_ENV "MPROC_SPAWN"
#define MPROC__ENTRY_NAME_MAX 63
#define MPROC__PROC_NAME_MAX 63
#define MPROC__SPAWN_ARG_MAX ((size_t)1 << 30)

/* One object handed to the child: its kind (enum mproc_object_kind), flags
 * (a Pipe end: MPROC__OBJ_SEND | MPROC__OBJ_RECV; else 0) and the
 * descriptor, at the same number in parent and child. */
#define MPROC__OBJ_SEND 1u
#define MPROC__OBJ_RECV 2u
struct mproc__handoff_obj {
    uint32_t kind;
    uint32_t flags;
    int32_t fd;
    uint32_t reserved;
};

struct mproc__handoff {
    char entry[MPROC__ENTRY_NAME_MAX + 1];
    char name[MPROC__PROC_NAME_MAX + 1];
    int daemon;
    pid_t ppid;
    uint64_t pstart;
    void *arg; /* malloc'ed (NULL when arg_len == 0): the child owns it */
    size_t arg_len;
    /* parent: the caller's array; child: malloc'ed, owned by the child.
     * The child's descriptors are close-on-exec again when it gets them. */
    struct mproc__handoff_obj *objs;
    size_t n_objs;
};

/* mproc__entry_name_ok - whether s[0..len) is all [A-Za-z0-9_.-] (the
 * characters of an entry name; the length is the caller's to check). */
bool mproc__entry_name_ok(const char *s, size_t len);
/* mproc__spawn_start - start a child of this program running h->entry.
 * argv0 is the argv[0] it gets. Returns 0 and the pid, or a code; nothing is
 * left behind on failure. */
int mproc__spawn_start(const struct mproc__handoff *h, const char *argv0, pid_t *pid_out);
/* mproc__spawn_receive - in mproc_main: 0 when this is not a spawned child,
 * 1 and *h (the caller frees h->arg) when it is, or a negative code for a
 * broken hand-over. Removes MPROC_SPAWN from the environment either way. */
int mproc__spawn_receive(struct mproc__handoff *h);

/* handover.c ---------------------------------------------------------------------
 * Objects handed to a spawned child (the mproc_arg_* calls).
 * collect: the parent's side, before the spawn: fills objs[0..n) with a new
 * close-on-exec descriptor per object (closed by release, also on
 * failure of collect itself). adopt: the child's side, in mproc_main: takes
 * the validated table for mproc_arg_*. */
int mproc__handover_collect(const struct mproc_object *in, size_t n,
                            struct mproc__handoff_obj *objs);
void mproc__handover_release(struct mproc__handoff_obj *objs, size_t n);
void mproc__handover_adopt(struct mproc__handoff_obj *objs, size_t n);

/* cpu.c -------------------------------------------------------------------------*/

/* mproc__cpu_parse_v2 - parse a cgroup v2 cpu.max ("max 100000",
 * "150000 100000"). 1 and quota/period when limited, 0 when unlimited,
 * MPROC_EINVAL when malformed. */
MPROC__TEST_API int mproc__cpu_parse_v2(const char *text, int64_t *quota, int64_t *period);
/* mproc__cpu_quota_limit - the CPU limit from the cgroup files under root
 * ("/sys/fs/cgroup" normally) for a process whose /proc/self/cgroup reads
 * cgroup_text: the smallest quota/period along the hierarchy (v2 cpu.max,
 * else v1 cpu.cfs_quota_us / cpu.cfs_period_us), rounded up, at least 1.
 * 0 when there is no limit. */
MPROC__TEST_API int mproc__cpu_quota_limit(const char *root, const char *cgroup_text);

#endif
