/* bench_queue_self.c - the queue against itself, for tuning (the peer
 * comparisons live in bench_queue.cpp): 1->1 and 2->2 small messages,
 * 4 KiB and 1 MiB throughput (copy and zero copy), 64 B ping-pong. */
#include "harness.h"

#include <mproc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct flow {
    size_t size, cap;
    int producers, consumers;
    int zero_copy;
};

static void produce(mproc_queue *q, uint64_t n, size_t size, int zc)
{
    char *buf = calloc(1, size ? size : 1);
    for (uint64_t i = 0; i < n; i++) {
        if (zc) {
            void *w;
            if (mproc_queue_reserve(q, size, &w, MPROC_FOREVER) != 0)
                _exit(1);
            memcpy(w, buf, size < 64 ? size : 64); /* touch, do not copy it all */
            mproc_queue_commit(q, size);
        } else if (mproc_queue_put(q, buf, size, MPROC_FOREVER) != 0) {
            _exit(1);
        }
    }
    free(buf);
}

static void consume(mproc_queue *q, uint64_t n, size_t size, int zc)
{
    char *buf = malloc(size ? size : 1);
    for (uint64_t i = 0; i < n; i++) {
        if (zc) {
            const void *v;
            if (mproc_queue_get_view(q, &v, MPROC_FOREVER) < 0)
                _exit(2);
            mproc_queue_release_view(q);
        } else if (mproc_queue_get(q, buf, size, MPROC_FOREVER) < 0) {
            _exit(2);
        }
    }
    free(buf);
}

static uint64_t run_flow(uint64_t n, void *arg)
{
    struct flow *f = arg;
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = f->cap};
    if (mproc_queue_create(&q, NULL, &o) != 0)
        abort();
    int np = f->producers, nc = f->consumers;
    pid_t pids[16];
    int k = 0;
    uint64_t per_p = n / (uint64_t)np, per_c = per_p * (uint64_t)np / (uint64_t)nc;
    for (int i = 0; i < nc - 1; i++)
        if ((pids[k++] = fork()) == 0) {
            consume(q, per_c, f->size, f->zero_copy);
            _exit(0);
        }
    for (int i = 0; i < np; i++)
        if ((pids[k++] = fork()) == 0) {
            produce(q, per_p, f->size, f->zero_copy);
            _exit(0);
        }
    uint64_t t0 = bench_now_ns();
    consume(q, per_c, f->size, f->zero_copy);
    for (int i = 0; i < k; i++)
        waitpid(pids[i], NULL, 0);
    uint64_t t = bench_now_ns() - t0;
    mproc_queue_close(q);
    return t;
}

static uint64_t run_pingpong(uint64_t n, void *arg)
{
    (void)arg;
    mproc_queue *a, *b;
    mproc_queue_create(&a, NULL, NULL);
    mproc_queue_create(&b, NULL, NULL);
    char m[64] = {0};
    pid_t pid = fork();
    if (pid == 0) {
        for (uint64_t i = 0; i < n; i++) {
            mproc_queue_get(a, m, sizeof m, MPROC_FOREVER);
            mproc_queue_put(b, m, sizeof m, MPROC_FOREVER);
        }
        _exit(0);
    }
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        mproc_queue_put(a, m, sizeof m, MPROC_FOREVER);
        mproc_queue_get(b, m, sizeof m, MPROC_FOREVER);
    }
    uint64_t t = bench_now_ns() - t0;
    waitpid(pid, NULL, 0);
    mproc_queue_close(a);
    mproc_queue_close(b);
    return t;
}

static void one(const char *casename, const char *impl, bench_fn fn, void *arg, uint64_t n,
                const char *unit, double bytes)
{
    struct bench_case c = {.impl = impl, .fn = fn, .arg = arg, .n = bench_scale(n)};
    bench_run("queue_self", casename, &c, 1, unit, bytes);
}

int main(void)
{
    bench_print_header();
    struct flow f64 = {64, 1 << 20, 1, 1, 0}, f64x2 = {64, 1 << 20, 2, 2, 0};
    struct flow f4k = {4096, 4 << 20, 1, 1, 0}, f1m = {1 << 20, 16 << 20, 1, 1, 0};
    struct flow z1m = {1 << 20, 16 << 20, 1, 1, 1};
    one("1to1_64B", "mproc", run_flow, &f64, 4000000, "Mmsg/s", 64);
    one("2to2_64B", "mproc", run_flow, &f64x2, 4000000, "Mmsg/s", 64);
    one("1to1_4KiB", "mproc", run_flow, &f4k, 1000000, "GB/s", 4096);
    one("1to1_1MiB", "mproc", run_flow, &f1m, 10000, "GB/s", 1 << 20);
    one("1to1_1MiB_zc", "mproc-zerocopy", run_flow, &z1m, 200000, "ns/op", 1 << 20);
    one("pingpong_64B", "mproc", run_pingpong, NULL, 200000, "us/op", 64);
    return 0;
}
