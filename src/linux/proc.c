/* linux/proc.c - who we are, and whether another process still lives.
 *
 * The pid, thread id and start time of the calling process are cached; a
 * pthread_atfork child handler refreshes them and bumps the fork generation,
 * which handles use to notice that they crossed a fork.
 *
 * Liveness reads /proc/<pid>/stat: a missing entry, a zombie ('Z') or dead
 * ('X') state, or a start time other than the one recorded all mean "dead".
 * kill(pid, 0) alone is not enough: it succeeds on zombies and on a new
 * process that reused the pid.
 */
#include "../internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static pid_t self_pid;
static _Atomic uint64_t self_start; /* threads may fill it concurrently */
static _Atomic uint32_t fork_gen;
static __thread pid_t self_tid __attribute__((tls_model("initial-exec")));
static __thread uint32_t self_tid_gen __attribute__((tls_model("initial-exec")));
static pthread_once_t proc_once = PTHREAD_ONCE_INIT;

static void proc_atfork_child(void)
{
    self_pid = (pid_t)syscall(SYS_getpid);
    atomic_store_explicit(&self_start, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&fork_gen, 1, memory_order_relaxed);
}

static void proc_init(void)
{
    self_pid = (pid_t)syscall(SYS_getpid);
    pthread_atfork(NULL, NULL, proc_atfork_child);
}

pid_t mproc__self_pid(void)
{
    pthread_once(&proc_once, proc_init);
    return self_pid;
}

uint32_t mproc__fork_generation(void)
{
    pthread_once(&proc_once, proc_init);
    return atomic_load_explicit(&fork_gen, memory_order_relaxed);
}

pid_t mproc__self_tid(void)
{
    uint32_t gen = mproc__fork_generation();
    if (MPROC__UNLIKELY(self_tid == 0 || self_tid_gen != gen)) {
        self_tid = (pid_t)syscall(SYS_gettid);
        self_tid_gen = gen;
    }
    return self_tid;
}

uint64_t mproc__self_start(void)
{
    pid_t pid = mproc__self_pid();
    uint64_t start = atomic_load_explicit(&self_start, memory_order_relaxed);
    if (start == 0) {
        start = mproc__proc_start(pid);
        atomic_store_explicit(&self_start, start, memory_order_relaxed);
    }
    return start;
}

/* Reads state and start time from /proc/<pid>/stat. The command name in
 * parentheses may hold spaces and ')', so parsing starts after the last ')'. */
static int proc_stat(pid_t pid, char *state, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p || p[1] != ' ')
        return -1;
    p += 2;
    *state = *p;
    /* Field 3 is the state; field 22 the start time: skip 19 fields. */
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        if (!p)
            return -1;
        p++;
    }
    *start = strtoull(p, NULL, 10);
    return 0;
}

uint64_t mproc__proc_start(pid_t pid)
{
    char state;
    uint64_t start;
    if (pid <= 0 || proc_stat(pid, &state, &start) != 0)
        return 0;
    return start;
}

bool mproc__proc_alive(pid_t pid, uint64_t start)
{
    char state;
    uint64_t now_start;
    if (pid <= 0)
        return false;
    if (proc_stat(pid, &state, &now_start) != 0)
        return false;
    if (state == 'Z' || state == 'X' || state == 'x')
        return false;
    return start == 0 || start == now_start;
}

bool mproc__tid_alive(pid_t tid)
{
    return mproc__proc_alive(tid, 0);
}
