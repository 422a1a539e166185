/* bench_wait.c - readiness descriptors and mproc_wait (mproc/wait.h),
 * against a pipe(2) doing the same in the same run, interleaved.
 *
 * Rows (area "wait"; CSV area,case,impl,median,min,max,unit)
 *   wake_epoll_64B,<impl>   round trip of 64 B between two processes, each
 *                           side asleep in epoll_wait on a descriptor until
 *                           the other's message arrives; us per round trip
 *                           (two wake-ups). impl: mproc_watch (a Queue each
 *                           way, watched through mproc_watch descriptors),
 *                           pipe2 (a pipe(2) each way, read and written
 *                           directly), mproc_wait (the same queues, each
 *                           side in mproc_wait over its one queue: no
 *                           descriptor, the caller sleeps on the futex).
 *   wake_epoll_64B_same_cpu the same with both sides on CPU 0 (each wake-up
 *                           then has to wait for the other side to sleep;
 *                           a watch's service thread is a third party).
 *   wait_ready_of_N,<impl>  round trip where side B waits in mproc_wait over
 *                           N queues and side A puts into the last one;
 *                           the answer comes back through one queue that A
 *                           waits on with mproc_queue_get. impl:
 *                           mproc_wait-1q, mproc_wait-64q; us per round trip.
 *   putget_64B,<impl>       one process, put then get of 64 B; ns per pair.
 *                           impl: mproc (nobody watches: the fast path),
 *                           mproc-watched (a watch on the queue is armed, so the
 *                           first put wakes the service thread; the
 *                           descriptor then stays readable and later puts
 *                           pay nothing more). The cost of the feature
 *                           against a build without it is measured by
 *                           running this row against the same row built
 *                           from the parent commit (docs/events.md).
 *
 * Driver: the parent forks side B per case (outside the timed part), both
 * sides meet on a flag in a MAP_SHARED page, A on CPU 0 and B on CPU 1
 * when there are two CPUs. MPROC_BENCH_SCALE / _REPS as everywhere.
 */
#include "harness.h"

#include <mproc.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG 64
#define NQ 64

enum kind { K_WATCH, K_PIPE, K_WAIT1, K_WAITN };

struct shared {
    _Alignas(128) _Atomic int ready;
    _Atomic int go;
};

static struct shared *S;
static int failed;

struct job {
    enum kind kind;
    int nq;        /* K_WAITN: queues B waits on */
    bool same_cpu; /* both sides on CPU 0 */
};

static void meet_child(void)
{
    atomic_fetch_add(&S->ready, 1);
    while (!atomic_load(&S->go))
        sched_yield();
}

static int epoll_one(int fd)
{
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
        return -1;
    return ep;
}

static int epoll_sleep(int ep)
{
    struct epoll_event ev;
    for (;;) {
        int k = epoll_wait(ep, &ev, 1, 10000);
        if (k == 1)
            return 0;
        if (k == 0)
            return -1;
    }
}

/* One queue each way, both sides in epoll_wait on a watch. */
static int watch_side(mproc_queue *in, mproc_queue *out, uint64_t n, bool first)
{
    mproc_watch *w;
    char buf[MSG] = {0};
    if (mproc_queue_watch(in, MPROC_WATCH_GET, 0, &w) != 0)
        return 1;
    int ep = epoll_one(mproc_watch_fd(w));
    if (ep < 0)
        return 2;
    for (uint64_t i = 0; i < n; i++) {
        if (first && mproc_queue_put(out, buf, MSG, MPROC_FOREVER) != 0)
            return 3;
        for (;;) {
            if (epoll_sleep(ep) < 0)
                return 4;
            ssize_t r = mproc_queue_get(in, buf, sizeof buf, 0);
            mproc_watch_rearm(w);
            if (r == MSG)
                break;
        }
        if (!first && mproc_queue_put(out, buf, MSG, MPROC_FOREVER) != 0)
            return 5;
    }
    close(ep);
    mproc_watch_close(w);
    return 0;
}

static int pipe_side(int in, int out, uint64_t n, bool first)
{
    char buf[MSG] = {0};
    int ep = epoll_one(in);
    if (ep < 0)
        return 2;
    for (uint64_t i = 0; i < n; i++) {
        if (first && write(out, buf, MSG) != MSG)
            return 3;
        if (epoll_sleep(ep) < 0 || read(in, buf, MSG) != MSG)
            return 4;
        if (!first && write(out, buf, MSG) != MSG)
            return 5;
    }
    close(ep);
    return 0;
}

/* B waits in mproc_wait over qs[0..nq) and answers on out; A puts into
 * qs[nq-1] and waits on out with get (K_WAITN), or both use mproc_wait on
 * one queue (K_WAIT1: qs = {in}). */
static int wait_side(mproc_queue **qs, int nq, mproc_queue *out, uint64_t n)
{
    struct mproc_wait_item it[NQ];
    char buf[MSG];
    for (int i = 0; i < nq; i++)
        it[i] = (struct mproc_wait_item){.kind = MPROC_WAIT_QUEUE_GET, .obj = qs[i]};
    for (uint64_t i = 0; i < n; i++) {
        for (;;) {
            if (mproc_wait(it, (size_t)nq, 10000) < 1)
                return 1;
            if (mproc_queue_get(qs[nq - 1], buf, sizeof buf, 0) == MSG)
                break;
        }
        if (out && mproc_queue_put(out, buf, MSG, MPROC_FOREVER) != 0)
            return 2;
    }
    return 0;
}

static uint64_t run_job(uint64_t n, void *arg)
{
    struct job *j = arg;
    mproc_queue *qs[NQ], *back = NULL;
    int p1[2] = {-1, -1}, p2[2] = {-1, -1};
    int nq = j->kind == K_WATCH || j->kind == K_WAIT1 ? 1 : j->nq;
    struct mproc_queue_opts o = {.capacity = 64 * 1024};
    if (j->kind == K_PIPE) {
        if (pipe2(p1, O_CLOEXEC) < 0 || pipe2(p2, O_CLOEXEC) < 0)
            return 0;
    } else {
        for (int i = 0; i < nq; i++)
            if (mproc_queue_create(&qs[i], NULL, &o) != 0)
                return 0;
        if (mproc_queue_create(&back, NULL, &o) != 0)
            return 0;
    }
    atomic_store(&S->ready, 0);
    atomic_store(&S->go, 0);
    pid_t pid = fork();
    if (pid == 0) {
        bench_pin(j->same_cpu ? 0 : 1);
        meet_child();
        int rc = 0;
        if (j->kind == K_WATCH)
            rc = watch_side(qs[0], back, n, false);
        else if (j->kind == K_PIPE)
            rc = pipe_side(p1[0], p2[1], n, false);
        else
            rc = wait_side(qs, nq, back, n);
        _exit(rc);
    }
    bench_pin(0);
    while (atomic_load(&S->ready) < 1)
        sched_yield();
    uint64_t t0 = bench_now_ns();
    atomic_store(&S->go, 1);
    int rc = 0;
    if (j->kind == K_WATCH) {
        rc = watch_side(back, qs[0], n, true);
    } else if (j->kind == K_PIPE) {
        rc = pipe_side(p2[0], p1[1], n, true);
    } else {
        char buf[MSG] = {0};
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            if (mproc_queue_put(qs[nq - 1], buf, MSG, MPROC_FOREVER) != 0)
                rc = 3;
            else if (j->kind == K_WAIT1)
                rc = wait_side(&back, 1, NULL, 1);
            else if (mproc_queue_get(back, buf, sizeof buf, 10000) != MSG)
                rc = 4;
        }
    }
    int st = 0;
    waitpid(pid, &st, 0);
    uint64_t t = bench_now_ns() - t0;
    if (rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        printf("# ERROR wait kind %d: parent %d, child status %d\n", (int)j->kind, rc, st);
        failed = 1;
    }
    if (j->kind == K_PIPE) {
        close(p1[0]);
        close(p1[1]);
        close(p2[0]);
        close(p2[1]);
    } else {
        for (int i = 0; i < nq; i++)
            mproc_queue_close(qs[i]);
        mproc_queue_close(back);
    }
    return t;
}

struct pg {
    bool watched;
};

static uint64_t putget(uint64_t n, void *arg)
{
    struct pg *a = arg;
    mproc_queue *q;
    mproc_watch *w = NULL;
    char buf[MSG] = {0};
    if (mproc_queue_create(&q, NULL, NULL) != 0)
        return 0;
    if (a->watched && mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w) != 0)
        return 0;
    for (int i = 0; i < 1000; i++) { /* warm up */
        mproc_queue_put(q, buf, MSG, 0);
        mproc_queue_get(q, buf, sizeof buf, 0);
    }
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        if (mproc_queue_put(q, buf, MSG, 0) != 0 || mproc_queue_get(q, buf, sizeof buf, 0) != MSG) {
            failed = 1;
            break;
        }
    }
    uint64_t t = bench_now_ns() - t0;
    if (w)
        mproc_watch_close(w);
    mproc_queue_close(q);
    return t;
}

int main(void)
{
    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED)
        return 1;
    const char *only = getenv("MPROC_BENCH_ONLY");
    bench_print_header();

    if (!only || strstr("wake_epoll_64B", only)) {
        struct job jw = {K_WATCH, 1}, jp = {K_PIPE, 1}, j1 = {K_WAIT1, 1};
        uint64_t n = bench_scale(2000);
        struct bench_case c[] = {
            {.impl = "mproc_watch", .fn = run_job, .arg = &jw, .n = n},
            {.impl = "pipe2", .fn = run_job, .arg = &jp, .n = n},
            {.impl = "mproc_wait", .fn = run_job, .arg = &j1, .n = n},
        };
        bench_run("wait", "wake_epoll_64B", c, 3, "us/op", 0);
    }
    if (!only || strstr("wake_epoll_64B_same_cpu", only)) {
        struct job jw = {K_WATCH, 1, true}, jp = {K_PIPE, 1, true}, j1 = {K_WAIT1, 1, true};
        uint64_t n = bench_scale(2000);
        struct bench_case c[] = {
            {.impl = "mproc_watch", .fn = run_job, .arg = &jw, .n = n},
            {.impl = "pipe2", .fn = run_job, .arg = &jp, .n = n},
            {.impl = "mproc_wait", .fn = run_job, .arg = &j1, .n = n},
        };
        bench_run("wait", "wake_epoll_64B_same_cpu", c, 3, "us/op", 0);
    }
    if (!only || strstr("wait_ready_of_N", only)) {
        struct job j1 = {K_WAITN, 1}, j64 = {K_WAITN, NQ};
        uint64_t n = bench_scale(2000);
        struct bench_case c[] = {
            {.impl = "mproc_wait-1q", .fn = run_job, .arg = &j1, .n = n},
            {.impl = "mproc_wait-64q", .fn = run_job, .arg = &j64, .n = n},
        };
        bench_run("wait", "wait_ready_of_N", c, 2, "us/op", 0);
    }
    if (!only || strstr("putget_64B", only)) {
        struct pg a = {false}, b = {true};
        uint64_t n = bench_scale(1000000);
        struct bench_case c[] = {
            {.impl = "mproc", .fn = putget, .arg = &a, .n = n},
            {.impl = "mproc-watched", .fn = putget, .arg = &b, .n = n},
        };
        bench_run("wait", "putget_64B", c, 2, "ns/op", 0);
    }
    return failed;
}
