/* procs.h - the process driver of the IPC benchmarks (bench_queue.cpp,
 * bench_pipe.c): fork the producers and consumers, hold them at a start
 * barrier, time only the transfer, check what they report.
 *
 * Model
 * -----
 * bp_run() forks nprod producers and ncons consumers. Each child pins itself
 * (when the spec says so), runs its own set-up (sockets, contexts, warm-up
 * messages), then calls bp_start(): that writes one byte to the "ready" pipe
 * and spins (with sched_yield, so the parent gets a CPU) until the parent
 * stores ctl->go. The parent reads one byte per child, takes t0, stores go
 * with release order and then waits for EOF on the same pipe: every child
 * keeps its write end open until it exits, so EOF means "all children are
 * gone" without a SIGCHLD handler and with a watchdog timeout. The elapsed
 * time is max(ctl->t_end[*]) - t0: each measuring child stores its own end
 * time (CLOCK_MONOTONIC is system wide).
 *
 * Children report through ctl (counts, sums of message ids) and their exit
 * status; only the parent judges. A failed run prints a "# ERROR" comment
 * line and sets bp_failed, so the binary can exit non-zero at the end.
 *
 * ctl lives in an anonymous MAP_SHARED mapping made before the fork: it never
 * has a name in /dev/shm, so nothing can be left behind.
 *
 * Header-only (static functions) so that the C and the C++ benchmark can both
 * use it without touching bench/CMakeLists.txt.
 */
#ifndef MPROC_BENCH_PROCS_H
#define MPROC_BENCH_PROCS_H

#ifdef __cplusplus
extern "C" {
#endif
#include "harness.h"
#ifdef __cplusplus
}
#endif

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define BP_MAXPROC 32
#define BP_PRODUCER 0
#define BP_CONSUMER 1
#define BP_WATCHDOG_MS 120000

/* Shared between the parent and the children of one run. `go` sits alone on
 * its 128 bytes because every child spins on it. */
struct bp_ctl {
    uint64_t go;
    char pad0[120];
    uint64_t producers_done; /* atomic: the last producer to finish sends the poison pills */
    char pad1[120];
    uint64_t t_end[2 * BP_MAXPROC];
    uint64_t count[BP_MAXPROC]; /* per consumer: messages received (poison excluded) */
    uint64_t sum[BP_MAXPROC];   /* per consumer: sum of ids (mod 2^64) */
    uint64_t sumsq[BP_MAXPROC]; /* per consumer: sum of id*id (mod 2^64) */
};

/* A child's body: returns its exit code (0 = fine). It must call bp_start()
 * once, after its own set-up and before the timed part. */
typedef int (*bp_child_fn)(int role, int idx, void *arg, struct bp_ctl *ctl);

struct bp_spec {
    int nprod, ncons;
    int pin_prod[BP_MAXPROC]; /* CPU per producer, -1: not pinned */
    int pin_cons[BP_MAXPROC];
    bp_child_fn fn;
    void *arg;
    const char *what; /* for error messages */
};

static int bp_ready_fd = -1;
static int bp_failed;

static inline void *bp_shared_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("bench: mmap");
        exit(1);
    }
    memset(p, 0, n); /* pre-fault in the parent: children inherit populated pages */
    return p;
}

static inline void bp_shared_free(void *p, size_t n)
{
    if (p)
        munmap(p, n);
}

static inline void bp_start(struct bp_ctl *ctl)
{
    char b = 1;
    while (write(bp_ready_fd, &b, 1) < 0 && errno == EINTR) {
    }
    while (!__atomic_load_n(&ctl->go, __ATOMIC_ACQUIRE))
        sched_yield();
}

static inline void bp_error(const char *what, const char *why)
{
    printf("# ERROR %s: %s\n", what, why);
    fflush(stdout);
    fprintf(stderr, "bench: ERROR %s: %s\n", what, why);
    bp_failed = 1;
}

/* Reads until `want` bytes or EOF/timeout; returns the bytes read. */
static inline int bp_read_bytes(int fd, int want, int timeout_ms)
{
    int got = 0;
    char buf[64];
    uint64_t deadline = bench_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    while (got < want || want == 0) {
        uint64_t now = bench_now_ns();
        if (now >= deadline)
            return -1;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)((deadline - now) / 1000000ull) + 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            continue;
        int cap = want ? want - got : (int)sizeof buf;
        ssize_t k = read(fd, buf, (size_t)(cap < (int)sizeof buf ? cap : (int)sizeof buf));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return want ? got : 0;
        got += (int)k;
    }
    return got;
}

/* bp_run - one timed run. Returns elapsed ns (>= 1); on failure it reports,
 * sets bp_failed and returns the elapsed time it has (or 1). */
static inline uint64_t bp_run(const struct bp_spec *s, struct bp_ctl *ctl)
{
    memset(ctl, 0, sizeof *ctl);
    int nchild = s->nprod + s->ncons;
    pid_t pids[2 * BP_MAXPROC];
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) {
        bp_error(s->what, "pipe2 failed");
        return 1;
    }
    fflush(stdout);
    fflush(stderr);
    int started = 0;
    for (int i = 0; i < nchild; i++) {
        int role = i < s->nprod ? BP_PRODUCER : BP_CONSUMER;
        int idx = role == BP_PRODUCER ? i : i - s->nprod;
        int cpu = role == BP_PRODUCER ? s->pin_prod[idx] : s->pin_cons[idx];
        pid_t pid = fork();
        if (pid == 0) {
            close(fds[0]);
            bp_ready_fd = fds[1];
            if (cpu >= 0)
                bench_pin(cpu);
            int rc = s->fn(role, idx, s->arg, ctl);
            _exit(rc);
        }
        if (pid < 0)
            break;
        pids[started++] = pid;
    }
    close(fds[1]);
    bool ok = started == nchild;
    if (ok && bp_read_bytes(fds[0], nchild, BP_WATCHDOG_MS) != nchild)
        ok = false;
    uint64_t t0 = bench_now_ns();
    if (ok)
        __atomic_store_n(&ctl->go, 1, __ATOMIC_RELEASE);
    else
        __atomic_store_n(&ctl->go, 1, __ATOMIC_RELEASE); /* let survivors run into their errors */
    /* EOF on the ready pipe: every child has exited. */
    if (bp_read_bytes(fds[0], 0, BP_WATCHDOG_MS) < 0) {
        for (int i = 0; i < started; i++)
            kill(pids[i], SIGKILL);
        bp_error(s->what, "watchdog: children still running, killed");
        ok = false;
    }
    close(fds[0]);
    for (int i = 0; i < started; i++) {
        int st = 0;
        while (waitpid(pids[i], &st, 0) < 0 && errno == EINTR) {
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            char why[96];
            if (WIFSIGNALED(st))
                snprintf(why, sizeof why, "child %d killed by signal %d", i, WTERMSIG(st));
            else
                snprintf(why, sizeof why, "child %d exited with %d", i, WEXITSTATUS(st));
            bp_error(s->what, why);
            ok = false;
        }
    }
    if (started != nchild)
        bp_error(s->what, "fork failed");
    uint64_t end = 0;
    for (int i = 0; i < 2 * BP_MAXPROC; i++)
        if (ctl->t_end[i] > end)
            end = ctl->t_end[i];
    (void)ok;
    return end > t0 ? end - t0 : 1;
}

/* bp_check_ids - the consumers together received exactly the ids 0..n-1
 * (count, sum and sum of squares, all mod 2^64). */
static inline bool bp_check_ids(const struct bp_ctl *ctl, int ncons, uint64_t n)
{
    uint64_t c = 0, s = 0, q = 0, es = 0, eq = 0;
    for (int i = 0; i < ncons; i++) {
        c += ctl->count[i];
        s += ctl->sum[i];
        q += ctl->sumsq[i];
    }
    for (uint64_t i = 0; i < n; i++) {
        es += i;
        eq += i * i;
    }
    return c == n && s == es && q == eq;
}

#endif
