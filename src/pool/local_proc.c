/* local_proc.c - the worker processes of the local pool: starting one
 * (fork, or spawn through process.c), killing it with its process group,
 * reaping it and telling how it ended, and the entry point spawned workers
 * run. The owner's model and the slot protocol are in local.c / local.h.
 *
 * Process trees: each worker leads its own process group (setpgid in the
 * child, and from the owner's side too so that the group exists before the
 * owner could kill it). The group is killed only while the worker is not
 * reaped yet, so its pid, which names the group, cannot belong to anyone
 * else.
 */
#include "capture.h"
#include "linux/child.h"
#include "local_owner.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* The spawn start method: a daemon child that re-executes the program and
 * runs MPROC__LP_SPAWN_ENTRY, which maps the named segment. */
static int spawn_exec(struct lp *lp, int w)
{
    struct lp_worker *wk = &lp->w[w];
    struct mproc__lp_spawn_arg arg;
    memset(&arg, 0, sizeof arg);
    size_t name_len = lp->init_name ? strlen(lp->init_name) : 0;
    arg.init_name_len = (uint32_t)name_len;
    arg.init_len = (uint32_t)lp->init_len;
    arg.ctx_len = (uint32_t)lp->ctx_len;
    snprintf(arg.seg_name, sizeof arg.seg_name, "%s", lp->seg.name);
    arg.worker = (uint32_t)w;
    arg.workers = (uint32_t)lp->nworkers;
    arg.slots = lp->nslots;
    arg.slot_bytes = lp->slot_bytes;
    arg.max_tasks = wk->args.max_tasks;
    arg.owner = wk->args.owner;
    /* The argument bytes: the fixed part, then the initializer's name, its
     * argument and the task context (lengths in the fixed part). */
    size_t len = sizeof arg + name_len + lp->init_len + lp->ctx_len;
    unsigned char *buf = malloc(len);
    if (!buf)
        return MPROC_ENOMEM;
    unsigned char *at = buf;
    memcpy(at, &arg, sizeof arg);
    at += sizeof arg;
    if (name_len)
        memcpy(at, lp->init_name, name_len);
    at += name_len;
    if (lp->init_len)
        memcpy(at, lp->init_copy, lp->init_len);
    at += lp->init_len;
    if (lp->ctx_len)
        memcpy(at, lp->ctx_copy, lp->ctx_len);
    struct mproc_process_opts po = {.name = "mproc-pool-worker",
                                    .start_method = MPROC_START_SPAWN,
                                    .daemon = 1,
                                    .entry = MPROC__LP_SPAWN_ENTRY,
                                    .arg = buf,
                                    .arg_len = len};
    mproc_process *proc;
    int rc = mproc_process_start(&proc, NULL, NULL, &po);
    free(buf);
    if (rc < 0)
        return rc;
    wk->proc = proc;
    wk->pid = mproc_process_pid(proc);
    wk->pidfd = mproc_process_pidfd(proc);
    lp->m.wctl[w].pid = wk->pid;
    return 0;
}

/* Whether the process behind pidfd has ended (without reaping it). */
static bool pidfd_ended(int pidfd)
{
    struct mproc__deadline now;
    (void)mproc__deadline_init(&now, 0);
    return mproc__child_wait(pidfd, &now) == 1;
}

/* The rest of a worker's process group (what its tasks started). Called
 * only while the worker is not reaped yet, so its pid, which names the
 * group, cannot belong to anyone else. */
static void group_kill(struct lp_worker *wk)
{
    if (wk->pid > 0)
        (void)kill(-wk->pid, SIGKILL);
}

/* Reap worker wk if it ended (nohang) or when it ends: 1 and *how, 0 if it
 * still runs. With group, what is left of its process group is killed
 * first (a worker that died or was killed; not one that left normally). A worker reaped by someone else (SIGCHLD ignored, a stray
 * waitpid(-1)) counts as ended, how unknown. */
int mproc__lp_worker_reap(struct lp_worker *wk, bool nohang, bool group, struct lp_reaped *how)
{
    int rc;
    if (wk->pidfd >= 0) {
        struct mproc__deadline d;
        (void)mproc__deadline_init(&d, nohang ? 0 : MPROC_FOREVER);
        if (mproc__child_wait(wk->pidfd, &d) == 0)
            return 0;
        /* Ended, not reaped yet: its pid still names its group. */
        if (group)
            group_kill(wk);
    }
    if (wk->proc) {
        struct mproc_exit st;
        rc = mproc_process_join(wk->proc, nohang ? 0 : MPROC_FOREVER, &st);
        if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
            return 0;
        how->signal = rc == 0 && st.signaled ? st.signal : 0;
        how->exit_code = rc == 0 && st.exited ? st.code : -1;
        return 1;
    }
    siginfo_t si;
    rc = mproc__child_reap(wk->pidfd, !nohang, &si);
    if (rc == 1) {
        bool exited = si.si_code == CLD_EXITED;
        how->signal = exited ? 0 : si.si_status;
        how->exit_code = exited ? si.si_status : -1;
    } else if (rc < 0 && pidfd_ended(wk->pidfd)) {
        how->signal = 0;
        how->exit_code = -1;
        rc = 1;
    }
    return rc;
}

/* Forget a reaped worker's process. */
void mproc__lp_worker_close(struct lp_worker *wk)
{
    if (wk->proc) {
        mproc_process_close(wk->proc); /* owns the pidfd */
        wk->proc = NULL;
    } else if (wk->pidfd >= 0) {
        close(wk->pidfd);
    }
    wk->pidfd = -1;
}

void mproc__lp_worker_kill(struct lp_worker *wk)
{
    if (wk->proc)
        mproc_process_kill(wk->proc);
    else if (wk->pidfd >= 0)
        (void)mproc__child_signal(wk->pidfd, SIGKILL);
    group_kill(wk);
}

int mproc__lp_spawn_worker(struct lp *lp, int w)
{
    struct lp_worker *wk = &lp->w[w];
    struct mproc__lp_wctl *c = &lp->m.wctl[w];
    atomic_store(&c->ready, 0);
    atomic_store(&c->retired, 0);
    wk->dead = wk->gone_sent = wk->lost_sent = false;
    wk->killed = 0;

    if (lp->spawn)
        return spawn_exec(lp, w);
    pid_t pid = mproc__fork();
    if (pid < 0)
        return mproc__err();
    if (pid == 0) {
        (void)setpgid(0, 0);
        mproc__capture_child(lp->capture, w);
        if (!mproc__child_pdeathsig(wk->args.owner))
            _exit(0);
        mproc__lp_worker_main(&wk->args);
    }
    /* Also from this side, so that the group exists before we could kill it. */
    (void)setpgid(pid, pid);
    int fd;
    int rc = mproc__child_pidfd(pid, &fd);
    if (rc < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return rc;
    }
    __atomic_store_n(&c->pid, pid, __ATOMIC_RELAXED);
    wk->pid = pid;
    wk->pidfd = fd;
    return 0;
}

void mproc__lp_reap_worker(struct lp_worker *wk, bool kill_it)
{
    if (wk->pidfd < 0)
        return;
    if (kill_it)
        mproc__lp_worker_kill(wk);
    struct lp_reaped how;
    (void)mproc__lp_worker_reap(wk, false, kill_it, &how);
    mproc__lp_worker_close(wk);
}

/* The entry point of a spawned worker: map the pool's named segment, check
 * that it is the pool described by the argument, and run the worker loop. */
static int lp_spawn_entry(const void *argp, size_t len)
{
    struct mproc__lp_spawn_arg arg;
    if (len < sizeof arg)
        return 120;
    memcpy(&arg, argp, sizeof arg);
    arg.seg_name[sizeof arg.seg_name - 1] = '\0';
    /* The by-value parts: every length checked against what came. */
    if (arg.init_name_len > 63 || arg.init_len > MPROC__LP_BYVALUE_MAX ||
        arg.ctx_len > MPROC__LP_BYVALUE_MAX ||
        len != sizeof arg + (size_t)arg.init_name_len + arg.init_len + arg.ctx_len)
        return 120;
    const unsigned char *extra = (const unsigned char *)argp + sizeof arg;
    mproc_entry_fn init_fn = NULL;
    if (arg.init_name_len) {
        char name[64];
        memcpy(name, extra, arg.init_name_len);
        name[arg.init_name_len] = '\0';
        if (!(init_fn = mproc_entry_find(name)))
            return 111; /* as a failed initializer: the pool breaks, not loops */
    }
    /* Private, writable copies that live as long as the worker. */
    void *init_copy = NULL, *ctx_copy = NULL;
    if ((arg.init_len && !(init_copy = malloc(arg.init_len))) ||
        (arg.ctx_len && !(ctx_copy = malloc(arg.ctx_len))))
        return 111;
    if (arg.init_len)
        memcpy(init_copy, extra + arg.init_name_len, arg.init_len);
    if (arg.ctx_len)
        memcpy(ctx_copy, extra + arg.init_name_len + arg.init_len, arg.ctx_len);
    struct mproc__seg seg;
    if (mproc__seg_open(&seg, arg.seg_name, MPROC__SEG_POOL) < 0)
        return 121;
    uint64_t need = mproc__lp_body_size(arg.workers, arg.slots, arg.slot_bytes);
    struct mproc__lp_shm *shm = seg.body;
    if (arg.worker >= arg.workers || arg.workers > 4096 || arg.slots == 0 || need > seg.body_size ||
        shm->workers != arg.workers || shm->nslots != arg.slots ||
        shm->slot_bytes != arg.slot_bytes || shm->ring_size != 2 * arg.slots || !shm->by_name)
        return 122;
    struct mproc__lp_worker_args a = {.worker = arg.worker,
                                      .nslots = arg.slots,
                                      .slot_bytes = arg.slot_bytes,
                                      .owner = arg.owner,
                                      .max_tasks = arg.max_tasks,
                                      .init_entry = init_fn,
                                      .init_bytes = init_copy,
                                      .init_len = arg.init_len,
                                      .task_ctx = ctx_copy};
    mproc__lp_map_init(&a.m, shm, arg.workers, arg.slots);
    (void)setpgid(0, 0);
    mproc__lp_worker_main(&a);
}
MPROC_ENTRY_NAMED(MPROC__LP_SPAWN_ENTRY, lp_spawn_entry)
