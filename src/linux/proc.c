/* linux/proc.c - who we are, and whether another process still lives.
 *
 * The one home of process identity: the pid, thread id and start time of
 * the caller, and the fork generation that tells handles they crossed a
 * fork. Queue, sync and process code all read them from here.
 *
 * Fork detection must not depend on which copy of the library a program
 * holds (a program may link libmproc.a and load libmproc.so through another
 * library: two copies, each with its own statics and its own atfork list).
 * So the generation lives in a page advised MADV_WIPEONFORK: the kernel
 * hands every child that page zero-filled, whichever code forked and
 * whichever copy asks. A zero word means "not known in this process yet":
 * the slow path re-reads the pid from the kernel and stores a new non-zero
 * generation. A pthread_atfork child handler clears the word as well (kernels
 * before 4.14 lack MADV_WIPEONFORK; then detection is per library copy, as it
 * used to be). The fast path is one load.
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
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic uint32_t gen_fallback; /* used until (or unless) the page exists */
_Atomic(_Atomic uint32_t *) mproc__gen_word = &gen_fallback;
static _Atomic uint32_t gen_counter; /* survives fork: children count on from it */
static _Atomic pid_t self_pid;
static _Atomic uint64_t self_start; /* threads may fill it concurrently */
__thread struct mproc__self mproc__self_tls __attribute__((tls_model("initial-exec")));
static pthread_once_t proc_once = PTHREAD_ONCE_INIT;

static void proc_atfork_child(void)
{
    atomic_store_explicit(atomic_load(&mproc__gen_word), 0, memory_order_relaxed);
}

static void proc_init(void)
{
    long pg = sysconf(_SC_PAGESIZE);
    void *m = mmap(NULL, (size_t)(pg > 0 ? pg : 4096), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m != MAP_FAILED) {
#ifdef MADV_WIPEONFORK
        (void)madvise(m, (size_t)(pg > 0 ? pg : 4096), MADV_WIPEONFORK);
#endif
        atomic_store_explicit(&mproc__gen_word, (_Atomic uint32_t *)m,
                              memory_order_release); /* zero: the first call fills it */
    }
    pthread_atfork(NULL, NULL, proc_atfork_child);
}

uint32_t mproc__fork_generation_slow(void)
{
    pthread_once(&proc_once, proc_init);
    _Atomic uint32_t *w = atomic_load_explicit(&mproc__gen_word, memory_order_acquire);
    uint32_t cur = atomic_load_explicit(w, memory_order_acquire);
    if (cur != 0)
        return cur;
    /* New process (or first call): identity first, then the generation
     * that makes it visible. Two threads may race here; both store the same
     * pid and one generation wins. */
    atomic_store_explicit(&self_pid, (pid_t)syscall(SYS_getpid), memory_order_relaxed);
    atomic_store_explicit(&self_start, 0, memory_order_relaxed);
    uint32_t g = atomic_fetch_add_explicit(&gen_counter, 1, memory_order_relaxed) + 1;
    if (g == 0)
        g = atomic_fetch_add_explicit(&gen_counter, 1, memory_order_relaxed) + 1;
    if (atomic_compare_exchange_strong_explicit(w, &cur, g, memory_order_release,
                                                memory_order_acquire))
        return g;
    return cur;
}

pid_t mproc__self_pid(void)
{
    (void)mproc__fork_generation();
    return atomic_load_explicit(&self_pid, memory_order_relaxed);
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

void mproc__self_refresh(void)
{
    struct mproc__self *s = &mproc__self_tls;
    uint32_t g = mproc__fork_generation();
    s->pid = mproc__self_pid();
    s->tid = (pid_t)syscall(SYS_gettid);
    s->start = mproc__self_start();
    s->gen = g;
}

pid_t mproc__self_tid(void)
{
    return mproc__self()->tid;
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
