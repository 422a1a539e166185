/* process.c - child processes: start (fork or spawn), join, signal, free;
 * the identity of the current process; daemon children.
 *
 * Model
 * -----
 * A handle (struct mproc_process) belongs to the process that started the
 * child (`owner`, its pid). It holds a pidfd opened right after fork() or
 * posix_spawn(): until we reap the child nobody else can (we install no
 * SIGCHLD handler and never call waitpid(-1)), so the pid cannot be recycled
 * in that window and the pidfd names exactly our child. From then on every
 * wait and signal goes through the pidfd:
 *   join      poll(pidfd, timeout) then waitid(P_PIDFD, WEXITED|WNOHANG)
 *   signal    pidfd_send_signal (ESRCH after the end: reported as success)
 *   is_alive  poll(pidfd, 0), which does not reap
 *
 * Threads: each handle has a mutex that guards `joined`, `status` and the
 * reap itself, but it is never held while sleeping, so one thread may join
 * (also with MPROC_FOREVER) while others call is_alive, signal or join. Two
 * joiners both wake up; the first reaps and the second finds `joined` set.
 * mproc_process_close() must not race with other calls on the same handle.
 *
 * The child list
 * --------------
 * Every handle of this process is on one process-local list (list_mu). A
 * freed handle whose child still runs stays there, marked `freed`, and is
 * reaped without blocking by later calls (start, join, active_children) and
 * at exit, so no zombie is left behind. Lock order: list_mu, then a handle's
 * mu. A pthread_atfork child handler empties the list in every forked child:
 * the parent's children are not ours (their handles answer ENOTCHILD there).
 *
 * Daemons
 * -------
 * A daemon child arms PR_SET_PDEATHSIG(SIGKILL) and then checks that
 * getppid() is still the starter (the parent may have died before the prctl;
 * then it is killed at once). An atexit handler SIGKILLs and reaps daemon
 * children that are still running when the parent exits normally; a child
 * started by mproc runs the same clean-up before its own _exit().
 *
 * In the fork child: run fn(arg), flush stdout/stderr, clean up our own
 * daemon children, _exit(rc & 0xff). Never return into the caller and never
 * run the parent's atexit handlers.
 *
 * SIGCHLD ignored
 * ---------------
 * With SIGCHLD set to SIG_IGN (or SA_NOCLDWAIT) the kernel reaps children
 * itself and waitid() finds nothing (ECHILD): the status is gone. A fork
 * child started while that is so gets a shared page (`exit_word`) where it
 * writes EXIT_PUBLISHED | code on its way out, both when fn returns and when
 * it calls exit() (an on_exit handler); join reads the code from there. A
 * child that ends any other way (a signal, _exit, exec), a spawn child, or a
 * child whose status someone else reaped, leaves nothing: join says
 * MPROC_ECHILD (status lost) rather than inventing one.
 */
#include "internal.h"

#include "handle.h"
#include "linux/child.h"
#include "process_internal.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_PUBLISHED 0x100u

struct mproc_process {
    _Atomic uint32_t magic; /* MPROC__H_PROCESS, MPROC__H_CLOSED (handle.h) */
    pthread_mutex_t mu;
    pid_t pid;
    pid_t owner; /* pid of the process that started it */
    int pidfd;
    int daemon;
    int joined;                  /* under mu */
    int freed;                   /* under g.list_mu */
    int lost;                    /* under mu: reaped by someone else, no status */
    _Atomic uint32_t *exit_word; /* SIGCHLD ignored at start: see above */
    struct mproc_exit status;    /* under mu, valid once joined */
    struct mproc_process *next;  /* under g.list_mu */
    char name[MPROC__PROC_NAME_MAX + 1];
};

/* Process-wide state, kept on one page (256-byte aligned, smaller than
 * that): a fork child writes all of it (reset, name, parent), and every
 * page it writes costs a copy-on-write fault on the start-up path. */
static struct {
    pthread_mutex_t list_mu;
    struct mproc_process *list_head;
    _Atomic int list_len; /* handles on the list (changed under g.list_mu) */
    int started;          /* this process was started by mproc */
    pid_t parent_pid;
    uint64_t parent_start;
    const char *name; /* mproc_current_name() */
} g __attribute__((aligned(256))) = {
    .list_mu = PTHREAD_MUTEX_INITIALIZER,
    .name = "MainProcess",
};
_Static_assert(sizeof g <= 256, "process state fits its alignment");

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static _Atomic unsigned name_counter;
static char saved_argv0[4096];
static _Atomic int main_seen; /* mproc_main() ran in this program */
/* In a fork child started while SIGCHLD was ignored: where to publish the
 * exit code. */
static _Atomic uint32_t *child_exit_word;
/* ... by that child only: a process it forks itself (not through mproc)
 * inherits the pointer and the on_exit handler, and must not write its own
 * code there. */
static pid_t child_exit_owner;

static void publish_exit(int rc)
{
    if (child_exit_word && getpid() == child_exit_owner)
        atomic_store_explicit(child_exit_word, EXIT_PUBLISHED | ((unsigned)rc & 0xffu),
                              memory_order_release);
}

#ifdef __GLIBC__
static void on_exit_publish(int status, void *arg)
{
    (void)arg;
    publish_exit(status);
}
#endif

/* Does the kernel discard our children's exit status right now? */
static bool sigchld_discarded(void)
{
    struct sigaction sa;
    if (sigaction(SIGCHLD, NULL, &sa) != 0)
        return false;
    return sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDWAIT);
}

/* In every forked child: the parent's children are not ours. The handles
 * stay valid memory (the user may still free them) but are off our list.
 * The list is dropped, not repaired, so there is no need to hold list_mu
 * across fork: a copy caught mid-change or locked by another thread is
 * simply replaced. Plain stores, no libc call: see the note on g. */
static void atfork_child(void)
{
    g.list_mu = (pthread_mutex_t)PTHREAD_MUTEX_INITIALIZER;
    g.list_head = NULL;
    atomic_store_explicit(&g.list_len, 0, memory_order_relaxed);
}

static void children_atexit(void);

static void process_init(void)
{
    pthread_atfork(NULL, NULL, atfork_child);
    atexit(children_atexit);
#ifdef __GLIBC__
    /* exit() inside fn: glibc's on_exit hands the status to the handler.
     * Elsewhere only a return from fn publishes the code. */
    on_exit(on_exit_publish, NULL);
#endif
}

static void status_from_info(struct mproc_exit *st, const siginfo_t *info)
{
    memset(st, 0, sizeof *st);
    if (info->si_code == CLD_EXITED) {
        st->exited = 1;
        st->code = info->si_status & 0xff;
    } else {
        st->signaled = 1;
        st->signal = info->si_status;
        st->core_dumped = info->si_code == CLD_DUMPED;
    }
}

/* Release what the handle holds. A handle the user had (closed: magic
 * CLOSED) goes to the quarantine; one never handed out is freed. */
static void handle_destroy(struct mproc_process *p)
{
    if (p->pidfd >= 0)
        close(p->pidfd);
    p->pidfd = -1;
    if (p->exit_word)
        munmap((void *)p->exit_word, (size_t)sysconf(_SC_PAGESIZE));
    p->exit_word = NULL;
    pthread_mutex_destroy(&p->mu);
    if (atomic_load_explicit(&p->magic, memory_order_relaxed) == MPROC__H_CLOSED)
        mproc__handle_retire(p);
    else
        free(p);
}

/* Reap without blocking; 1 if the child is (now or already) reaped. Caller
 * holds p->mu. */
static int try_reap_locked(struct mproc_process *p)
{
    if (p->joined)
        return 1;
    siginfo_t info;
    int rc = mproc__child_reap(p->pidfd, false, &info);
    if (rc == 1) {
        status_from_info(&p->status, &info);
        p->joined = 1;
    } else if (rc == MPROC_ECHILD) {
        /* Reaped by the kernel (SIGCHLD ignored) or by someone else
         * (waitpid(-1) elsewhere): it is gone. The exit code survives only
         * if the child published it. */
        memset(&p->status, 0, sizeof p->status);
        uint32_t w = p->exit_word ? atomic_load_explicit(p->exit_word, memory_order_acquire) : 0;
        if (w & EXIT_PUBLISHED) {
            p->status.exited = 1;
            p->status.code = (int)(w & 0xffu);
        } else {
            p->lost = 1;
        }
        p->joined = 1;
    }
    return p->joined;
}

/* Reap freed handles whose child ended. Never blocks. */
static void reap_freed(void)
{
    pid_t self = mproc__self_pid();
    pthread_mutex_lock(&g.list_mu);
    struct mproc_process **pp = &g.list_head;
    while (*pp) {
        struct mproc_process *p = *pp;
        if (p->freed && p->owner == self) {
            pthread_mutex_lock(&p->mu);
            int gone = try_reap_locked(p);
            pthread_mutex_unlock(&p->mu);
            if (gone) {
                *pp = p->next;
                atomic_fetch_sub_explicit(&g.list_len, 1, memory_order_relaxed);
                handle_destroy(p);
                continue;
            }
        }
        pp = &p->next;
    }
    pthread_mutex_unlock(&g.list_mu);
}

/* At exit (and before a child of ours _exits): SIGKILL and reap the daemon
 * children still running; reap the freed ones that ended. Handles are not
 * freed: the user may still hold them. */
static void children_atexit(void)
{
    if (atomic_load_explicit(&g.list_len, memory_order_relaxed) == 0)
        return;
    pid_t self = mproc__self_pid();
    pthread_mutex_lock(&g.list_mu);
    for (struct mproc_process *p = g.list_head; p; p = p->next) {
        if (p->owner != self)
            continue;
        pthread_mutex_lock(&p->mu);
        if (!p->joined && p->daemon) {
            siginfo_t info;
            (void)mproc__child_signal(p->pidfd, SIGKILL);
            if (mproc__child_reap(p->pidfd, true, &info) == 1) {
                status_from_info(&p->status, &info);
                p->joined = 1;
            }
        } else if (!p->joined && p->freed) {
            (void)try_reap_locked(p);
        }
        pthread_mutex_unlock(&p->mu);
    }
    pthread_mutex_unlock(&g.list_mu);
}

/* The fork child's path calls the kernel through linux/pidfd.c's raw
 * system calls rather than libc functions the parent never called (see
 * there). */
void mproc__child_setup(const char *name, pid_t ppid, uint64_t pstart, int daemon)
{
    if (daemon) {
        if (!mproc__child_pdeathsig(ppid))
            mproc__child_die();
    }
    g.list_head = NULL;
    atomic_store_explicit(&g.list_len, 0, memory_order_relaxed);
    g.started = 1;
    g.parent_pid = ppid;
    g.parent_start = pstart;
    g.name = name;
    /* The kernel keeps 15 bytes; the full name stays in g.name. */
    mproc__child_set_comm(name);
}

void mproc__save_argv0(const char *argv0)
{
    atomic_store_explicit(&main_seen, 1, memory_order_relaxed);
    if (argv0 && strlen(argv0) < sizeof saved_argv0)
        snprintf(saved_argv0, sizeof saved_argv0, "%s", argv0);
}

const char *mproc__saved_argv0(void)
{
    return saved_argv0[0] ? saved_argv0 : NULL;
}

/* Flushes only what is pending: fflush takes the stream's lock, and in a
 * fork child that write alone costs a copy-on-write page fault. */
/* The fork hooks (internal.h): set once before any fork, then only read. */
static struct mproc__fork_hooks fork_hooks;

void mproc__fork_hooks_set(const struct mproc__fork_hooks *hooks)
{
    fork_hooks = hooks ? *hooks : (struct mproc__fork_hooks){0};
}

pid_t mproc__fork(void)
{
    if (fork_hooks.prepare)
        fork_hooks.prepare();
    pid_t pid = fork();
    int saved = errno;
    if (pid == 0) {
        if (fork_hooks.child)
            fork_hooks.child();
    } else if (fork_hooks.parent) {
        fork_hooks.parent();
    }
    errno = saved;
    return pid;
}

static void flush_std(void)
{
    if (__fpending(stdout) > 0)
        fflush(stdout);
    if (__fpending(stderr) > 0)
        fflush(stderr);
}

_Noreturn void mproc__child_exit(int rc)
{
    publish_exit(rc);
    flush_std();
    children_atexit();
    mproc__child_exit_group(rc & 0xff);
}

static int check_opts(mproc_fn fn, const struct mproc_process_opts *o)
{
    if (o->start_method == MPROC_START_FORK) {
        /* A forked child inherits the objects themselves. */
        if (fn == NULL || o->n_objects > 0)
            return MPROC_EINVAL;
        return 0;
    }
    if (o->start_method != MPROC_START_SPAWN || fn != NULL || o->entry == NULL)
        return MPROC_EINVAL;
    if ((o->n_objects > 0 && o->objects == NULL) || o->n_objects > MPROC_SPAWN_MAX_OBJECTS)
        return MPROC_EINVAL;
    if (o->arg_len > 0 && o->arg == NULL)
        return MPROC_EINVAL;
    if (o->arg_len > MPROC__SPAWN_ARG_MAX)
        return MPROC_EMSGSIZE;
    /* Without mproc_main() the new copy would run the program's main()
     * from the top, and perhaps spawn again: refuse instead. */
    if (!atomic_load_explicit(&main_seen, memory_order_relaxed))
        return MPROC_EINVAL;
    if (mproc_entry_find(o->entry) == NULL)
        return MPROC_ENOENTRY;
    return 0;
}

static int start_spawn(struct mproc_process *p, const struct mproc_process_opts *o, pid_t ppid,
                       uint64_t pstart, pid_t *pid_out)
{
    struct mproc__handoff h;
    memset(&h, 0, sizeof h);
    snprintf(h.entry, sizeof h.entry, "%s", o->entry);
    snprintf(h.name, sizeof h.name, "%s", p->name);
    h.daemon = p->daemon;
    h.ppid = ppid;
    h.pstart = pstart;
    h.arg = (void *)o->arg;
    h.arg_len = o->arg_len;
    const char *argv0 = mproc__saved_argv0();
    if (argv0 == NULL)
        argv0 = program_invocation_name;
    struct mproc__handoff_obj objs[MPROC_SPAWN_MAX_OBJECTS];
    int rc = mproc__handover_collect(o->objects, o->n_objects, objs);
    if (rc < 0)
        return rc;
    h.objs = objs;
    h.n_objs = o->n_objects;
    rc = mproc__spawn_start(&h, argv0, pid_out);
    mproc__handover_release(objs, o->n_objects);
    return rc;
}

MPROC_API int mproc_process_start(mproc_process **out, mproc_fn fn, void *arg,
                                  const struct mproc_process_opts *opts)
{
    static const struct mproc_process_opts defaults = {0};
    const struct mproc_process_opts *o = opts ? opts : &defaults;
    if (out == NULL)
        return MPROC_EINVAL;
    int rc = check_opts(fn, o);
    if (rc < 0)
        return rc;
    if (o->name && strlen(o->name) > MPROC__PROC_NAME_MAX)
        return MPROC_ENAMETOOLONG;

    pthread_once(&init_once, process_init);
    reap_freed();

    struct mproc_process *p = calloc(1, sizeof *p);
    if (p == NULL)
        return MPROC_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->magic, MPROC__H_PROCESS);
    p->pidfd = -1;
    p->daemon = o->daemon != 0;
    if (o->name)
        snprintf(p->name, sizeof p->name, "%s", o->name);
    else
        snprintf(p->name, sizeof p->name, "mproc-%u",
                 atomic_fetch_add_explicit(&name_counter, 1, memory_order_relaxed) + 1);

    pid_t ppid = mproc__self_pid();
    uint64_t pstart = mproc__self_start();
    pid_t pid;
    if (o->start_method == MPROC_START_SPAWN) {
        rc = start_spawn(p, o, ppid, pstart, &pid);
        if (rc < 0) {
            handle_destroy(p);
            return rc;
        }
    } else {
        /* Flush first, or the child would print the parent's pending
         * output a second time. */
        flush_std();
        if (sigchld_discarded()) {
            void *pg = mmap(NULL, (size_t)sysconf(_SC_PAGESIZE), PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            p->exit_word = pg == MAP_FAILED ? NULL : pg;
        }
        pid = mproc__fork();
        if (pid < 0) {
            rc = mproc__err();
            handle_destroy(p);
            return rc;
        }
        if (pid == 0) {
            /* p is not freed here: the exit is near, and freeing would
             * only dirty a heap page. */
            child_exit_word = p->exit_word;
            if (child_exit_word)
                child_exit_owner = getpid();
            mproc__child_setup(p->name, ppid, pstart, p->daemon);
            mproc__child_exit(fn(arg));
        }
        /* Crash tests: the parent dies before it has a pidfd, perhaps
         * before a daemon child has armed its parent-death signal. */
        MPROC__KILL_POINT("process.start.forked");
    }

    rc = mproc__child_pidfd(pid, &p->pidfd);
    if (rc < 0) {
        /* Still ours and unreaped, so the pid cannot have been reused. */
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        handle_destroy(p);
        return rc;
    }
    p->pid = pid;
    p->owner = ppid;
    pthread_mutex_lock(&g.list_mu);
    p->next = g.list_head;
    g.list_head = p;
    atomic_fetch_add_explicit(&g.list_len, 1, memory_order_relaxed);
    pthread_mutex_unlock(&g.list_mu);
    *out = p;
    return 0;
}

static bool is_ours(const mproc_process *p)
{
    return p->owner == mproc__self_pid();
}

MPROC_API int mproc_process_join(mproc_process *p, int timeout_ms, struct mproc_exit *status)
{
    int rc = mproc__handle_check(p, MPROC__H_PROCESS);
    if (rc < 0)
        return rc;
    struct mproc__deadline d;
    rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    if (!is_ours(p))
        return MPROC_ENOTCHILD;
    reap_freed();

    pthread_mutex_lock(&p->mu);
    int joined = p->joined;
    pthread_mutex_unlock(&p->mu);
    if (!joined) {
        rc = mproc__child_wait(p->pidfd, &d);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return mproc__try_once(MPROC_ETIMEDOUT, timeout_ms);
    }
    pthread_mutex_lock(&p->mu);
    if (!try_reap_locked(p)) {
        /* pidfd readable means the child ended; a non-blocking reap can
         * still lose a race with the kernel's bookkeeping for a moment. */
        siginfo_t info;
        rc = mproc__child_reap(p->pidfd, true, &info);
        if (rc == 1) {
            status_from_info(&p->status, &info);
            p->joined = 1;
        }
    }
    if (p->joined && p->lost)
        rc = MPROC_ECHILD;
    else if (p->joined && status)
        *status = p->status;
    if (p->joined && !p->lost)
        rc = 0;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

MPROC_API int mproc_process_is_alive(mproc_process *p)
{
    int rc = mproc__handle_check(p, MPROC__H_PROCESS);
    if (rc < 0)
        return rc;
    if (!is_ours(p))
        return MPROC_ENOTCHILD;
    pthread_mutex_lock(&p->mu);
    int alive = 0;
    if (!p->joined) {
        struct mproc__deadline d;
        mproc__deadline_init(&d, 0);
        rc = mproc__child_wait(p->pidfd, &d);
        alive = rc < 0 ? rc : !rc;
    }
    pthread_mutex_unlock(&p->mu);
    return alive;
}

MPROC_API int mproc_process_signal(mproc_process *p, int sig)
{
    int rc = mproc__handle_check(p, MPROC__H_PROCESS);
    if (rc < 0)
        return rc;
    if (sig <= 0 || sig > SIGRTMAX)
        return MPROC_EINVAL;
    if (!is_ours(p))
        return MPROC_ENOTCHILD;
    /* Under mu: nobody reaps meanwhile, so the pidfd cannot outlive the
     * zombie unnoticed (a zombie answers ESRCH: nothing is sent). */
    pthread_mutex_lock(&p->mu);
    if (!p->joined) {
        rc = mproc__child_signal(p->pidfd, sig);
        if (rc == MPROC_ESRCH)
            rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

MPROC_API int mproc_process_terminate(mproc_process *p)
{
    return mproc_process_signal(p, SIGTERM);
}

MPROC_API int mproc_process_kill(mproc_process *p)
{
    return mproc_process_signal(p, SIGKILL);
}

MPROC_API pid_t mproc_process_pid(const mproc_process *p)
{
    int rc = mproc__handle_check(p, MPROC__H_PROCESS);
    return rc < 0 ? rc : p->pid;
}

MPROC_API const char *mproc_process_name(const mproc_process *p)
{
    return mproc__handle_check(p, MPROC__H_PROCESS) < 0 ? NULL : p->name;
}

MPROC_API int mproc_process_pidfd(const mproc_process *p)
{
    int rc = mproc__handle_check(p, MPROC__H_PROCESS);
    return rc < 0 ? rc : p->pidfd;
}

MPROC_API int mproc_process_close(mproc_process *p)
{
    int rc = mproc__handle_close(p, MPROC__H_PROCESS);
    if (rc < 0)
        return rc;
    if (!is_ours(p)) {
        /* Inherited across fork: not on our list; drop our copy of the fd. */
        handle_destroy(p);
        return 0;
    }
    pthread_mutex_lock(&g.list_mu);
    pthread_mutex_lock(&p->mu);
    int gone = try_reap_locked(p);
    pthread_mutex_unlock(&p->mu);
    if (gone) {
        for (struct mproc_process **pp = &g.list_head; *pp; pp = &(*pp)->next) {
            if (*pp == p) {
                *pp = p->next;
                atomic_fetch_sub_explicit(&g.list_len, 1, memory_order_relaxed);
                break;
            }
        }
        handle_destroy(p);
    } else {
        p->freed = 1;
    }
    pthread_mutex_unlock(&g.list_mu);
    return 0;
}

MPROC_API int mproc_active_children(mproc_process **out, int max)
{
    if (max < 0 || (max > 0 && out == NULL))
        return MPROC_EINVAL;
    reap_freed();
    pid_t self = mproc__self_pid();
    int count = 0;
    pthread_mutex_lock(&g.list_mu);
    for (struct mproc_process *p = g.list_head; p; p = p->next) {
        if (p->freed || p->owner != self)
            continue;
        if (mproc_process_is_alive(p) == 1) {
            if (count < max)
                out[count] = p;
            count++;
        }
    }
    pthread_mutex_unlock(&g.list_mu);
    return count;
}

MPROC_API int mproc_parent_alive(void)
{
    if (!g.started)
        return MPROC_ESRCH;
    return mproc__proc_alive(g.parent_pid, g.parent_start) ? 1 : 0;
}

MPROC_API const char *mproc_current_name(void)
{
    return g.name;
}

MPROC_API pid_t mproc_current_pid(void)
{
    return mproc__self_pid();
}
