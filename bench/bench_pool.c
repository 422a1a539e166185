/* bench_pool.c - per-task overhead of the pool: a trivial task (x -> x + 1)
 * mapped over n items by 2 workers, with chunk size 1 and with automatic
 * chunking (ceil(n / (4 * workers)), Python's rule). Then:
 *   chunk1_w<k>      chunk size 1 with k = 1, 2, 4, ... up to twice the CPU
 *                    count workers (ns per task: does dispatch scale?);
 *   uneven_map       2 workers, one 2 s task running, then a map of 4 x 1 ms
 *                    items: the time of that map (us; nothing should wait
 *                    for the long task), with Python's Pool as the peer;
 *   cancel_to_next   from mproc_future_cancel of a running task to the
 *                    replacement worker starting the next task (us);
 *   timeout_to_next  from a task's deadline to the replacement worker
 *                    starting the next task (us).
 *
 * Peers, measured in the same run and interleaved:
 *   pipe      a minimal fork pool written here: one pipe pair per worker,
 *             up to 16 chunks in flight per worker, results read in order;
 *   py-pool   multiprocessing.Pool.map (bench/python/pool_map.py);
 *   py-exec   concurrent.futures.ProcessPoolExecutor.map.
 * The pools are started before the clock starts (every implementation
 * times only its map); mproc and pipe pools are created once per repetition.
 *
 * Rows: pool,<case>,<impl>,median,min,max,ns/op (ns per item).
 */
#include "harness.h"

#include <mproc.h>

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKERS 2

static int inc_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    x++;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

static size_t auto_chunk(uint64_t n)
{
    size_t c = (size_t)((n + 4 * WORKERS - 1) / (4 * WORKERS));
    return c ? c : 1;
}

static int64_t *make_input(uint64_t n)
{
    int64_t *in = malloc(n * sizeof *in);
    if (!in)
        abort();
    for (uint64_t i = 0; i < n; i++)
        in[i] = (int64_t)i;
    return in;
}

static void check(const int64_t *out, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        if (out[i] != (int64_t)i + 1) {
            fprintf(stderr, "bench_pool: wrong result at %llu\n", (unsigned long long)i);
            exit(1);
        }
}

/* mproc ------------------------------------------------------------------- */

static uint64_t run_mproc_w(uint64_t n, size_t chunk, int workers)
{
    int64_t *in = make_input(n), *out = calloc(n, sizeof *out);
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = workers};
    if (!out || mproc_pool_create(&p, &o) < 0)
        abort();
    int64_t warm[64];
    mproc_pool_map(p, inc_task, in, 64, 8, warm, 8, NULL, MPROC_FOREVER);
    struct mproc_pool_map_opts mo = {.chunksize = chunk};
    uint64_t t0 = bench_now_ns();
    int rc = mproc_pool_map(p, inc_task, in, n, 8, out, 8, &mo, MPROC_FOREVER);
    uint64_t t1 = bench_now_ns();
    if (rc != 0) {
        fprintf(stderr, "bench_pool: map: %s\n", mproc_err_name(rc));
        exit(1);
    }
    check(out, n);
    mproc_pool_shutdown(p);
    mproc_pool_join(p, MPROC_FOREVER);
    mproc_pool_close(p);
    free(in);
    free(out);
    return t1 - t0;
}

static uint64_t run_mproc(uint64_t n, size_t chunk)
{
    return run_mproc_w(n, chunk, WORKERS);
}

static uint64_t mproc_chunk1_w(uint64_t n, void *arg)
{
    return run_mproc_w(n, 1, (int)(intptr_t)arg);
}

/* Uneven work, cancel and timeout latency --------------------------------- */

static _Atomic uint64_t *stamp; /* shared with the workers: when a task started */

static int sleep_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)out, (void)ctx;
    int32_t ms;
    memcpy(&ms, in, sizeof ms);
    if (stamp)
        atomic_store(stamp, bench_now_ns());
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
    *out_len = 0;
    return 0;
}

static int stamp_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)out, (void)ctx;
    atomic_store(stamp, bench_now_ns());
    *out_len = 0;
    return 0;
}

static void map_stamp(void)
{
    if (!stamp) {
        stamp = mmap(NULL, 64, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (stamp == MAP_FAILED)
            abort();
    }
}

static uint64_t mproc_uneven(uint64_t n, void *arg)
{
    (void)n, (void)arg;
    map_stamp();
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 2};
    if (mproc_pool_create(&p, &o) < 0)
        abort();
    int32_t long_ms = 2000, quick[4] = {1, 1, 1, 1};
    mproc_future *f;
    atomic_store(stamp, 0);
    if (mproc_pool_submit(p, sleep_task, &long_ms, 4, 0, &f) < 0)
        abort();
    while (atomic_load(stamp) == 0)
        sched_yield();
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    uint64_t t0 = bench_now_ns();
    int rc = mproc_pool_map(p, sleep_task, quick, 4, 4, NULL, 0, &mo, MPROC_FOREVER);
    uint64_t t1 = bench_now_ns();
    if (rc != 0)
        abort();
    mproc_future_cancel(f);
    mproc_future_close(f);
    mproc_pool_close(p);
    return t1 - t0;
}

/* kind 0: cancel, 1: timeout. One worker runs a 10 s task; the next task
 * waits queued behind it. */
static uint64_t mproc_kill_to_next(uint64_t n, void *arg)
{
    (void)n;
    bool timeout = arg != NULL;
    map_stamp();
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 1, .task_timeout_ms = timeout ? 20 : 0};
    if (mproc_pool_create(&p, &o) < 0)
        abort();
    int32_t long_ms = 10000;
    mproc_future *hang, *next;
    atomic_store(stamp, 0);
    if (mproc_pool_submit(p, sleep_task, &long_ms, 4, 0, &hang) < 0)
        abort();
    uint64_t started;
    while ((started = atomic_load(stamp)) == 0)
        sched_yield();
    atomic_store(stamp, 0);
    if (mproc_pool_submit(p, stamp_task, NULL, 0, 0, &next) < 0)
        abort();
    uint64_t t0;
    if (timeout) {
        t0 = started + 20 * 1000000ull;
    } else {
        t0 = bench_now_ns();
        mproc_future_cancel(hang);
    }
    if (mproc_future_wait(next, 10000) != 0)
        abort();
    uint64_t t1 = atomic_load(stamp);
    mproc_future_close(hang);
    mproc_future_close(next);
    mproc_pool_close(p);
    return t1 > t0 ? t1 - t0 : 0;
}

static uint64_t mproc_chunk1(uint64_t n, void *arg)
{
    (void)arg;
    return run_mproc(n, 1);
}

static uint64_t mproc_auto(uint64_t n, void *arg)
{
    (void)arg;
    return run_mproc(n, 0);
}

/* A minimal pipe pool ---------------------------------------------------------
 * Worker: read a chunk header (count) and count items, write count results. */

#define PIPE_WINDOW 16
#define PIPE_MAX_CHUNK 4096

static int read_full(int fd, void *buf, size_t len)
{
    unsigned char *b = buf;
    while (len) {
        ssize_t r = read(fd, b, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        len -= (size_t)r;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
    const unsigned char *b = buf;
    while (len) {
        ssize_t r = write(fd, b, len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        len -= (size_t)r;
    }
    return 0;
}

static void pipe_worker(int rfd, int wfd)
{
    static int64_t buf[PIPE_MAX_CHUNK + 1];
    for (;;) {
        uint32_t count;
        if (read_full(rfd, &count, sizeof count) < 0 || count > PIPE_MAX_CHUNK)
            _exit(0);
        if (read_full(rfd, buf, count * sizeof(int64_t)) < 0)
            _exit(1);
        for (uint32_t i = 0; i < count; i++) {
            size_t ol = 8;
            inc_task(&buf[i], 8, &buf[i], &ol, NULL);
        }
        if (write_full(wfd, buf, count * sizeof(int64_t)) < 0)
            _exit(1);
    }
}

struct pipe_w {
    pid_t pid;
    int to, from;
    uint64_t sent_base[PIPE_WINDOW]; /* ring of chunk starts in flight */
    uint32_t sent_count[PIPE_WINDOW];
    unsigned head, tail;
};

static uint64_t run_pipe(uint64_t n, size_t chunk)
{
    if (chunk > PIPE_MAX_CHUNK)
        chunk = PIPE_MAX_CHUNK;
    int64_t *in = make_input(n), *out = calloc(n, sizeof *out);
    struct pipe_w w[WORKERS];
    memset(w, 0, sizeof w);
    for (int k = 0; k < WORKERS; k++) {
        int a[2], b[2];
        if (pipe2(a, O_CLOEXEC) < 0 || pipe2(b, O_CLOEXEC) < 0)
            abort();
        pid_t pid = fork();
        if (pid == 0) {
            /* Earlier workers' pipe ends would keep them from seeing EOF. */
            for (int j = 0; j < k; j++) {
                close(w[j].to);
                close(w[j].from);
            }
            close(a[1]);
            close(b[0]);
            pipe_worker(a[0], b[1]);
        }
        close(a[0]);
        close(b[1]);
        w[k].pid = pid;
        w[k].to = a[1];
        w[k].from = b[0];
    }
    /* At most 16 KiB in flight each way per worker, so that neither side can
     * block on a full pipe while the other waits for it. */
    unsigned window = (unsigned)(16384 / (chunk * sizeof(int64_t)));
    window = window < 1 ? 1 : window > PIPE_WINDOW ? PIPE_WINDOW : window;
    uint64_t next = 0, done = 0;
    uint64_t t0 = bench_now_ns();
    while (done < n) {
        for (int k = 0; k < WORKERS; k++) {
            struct pipe_w *x = &w[k];
            while (next < n && x->head - x->tail < window) {
                uint32_t c = (uint32_t)(n - next < chunk ? n - next : chunk);
                if (write_full(x->to, &c, sizeof c) < 0 ||
                    write_full(x->to, in + next, c * sizeof(int64_t)) < 0)
                    abort();
                x->sent_base[x->head % PIPE_WINDOW] = next;
                x->sent_count[x->head % PIPE_WINDOW] = c;
                x->head++;
                next += c;
            }
            if (x->head != x->tail) {
                unsigned t = x->tail % PIPE_WINDOW;
                if (read_full(x->from, out + x->sent_base[t], x->sent_count[t] * 8) < 0)
                    abort();
                done += x->sent_count[t];
                x->tail++;
            }
        }
    }
    uint64_t t1 = bench_now_ns();
    check(out, n);
    for (int k = 0; k < WORKERS; k++) {
        close(w[k].to);
        close(w[k].from);
        waitpid(w[k].pid, NULL, 0);
    }
    free(in);
    free(out);
    return t1 - t0;
}

static uint64_t pipe_chunk1(uint64_t n, void *arg)
{
    (void)arg;
    return run_pipe(n, 1);
}

static uint64_t pipe_auto(uint64_t n, void *arg)
{
    (void)arg;
    return run_pipe(n, auto_chunk(n));
}

/* Python ---------------------------------------------------------------------- */

/* The interpreter is $MPROC_BENCH_PYTHON or /usr/bin/python3, the script in
 * $MPROC_BENCH_PYDIR or python/ next to this source (as in pyrun.h). */
static const char *py_interp(void)
{
    const char *p = getenv("MPROC_BENCH_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

static void script_path(char *buf, size_t size)
{
    const char *dir = getenv("MPROC_BENCH_PYDIR");
    if (dir && *dir) {
        snprintf(buf, size, "%s/pool_map.py", dir);
        return;
    }
    const char *f = __FILE__;
    const char *slash = strrchr(f, '/');
    int len = slash ? (int)(slash - f) : 1;
    snprintf(buf, size, "%.*s/python/pool_map.py", len, slash ? f : ".");
}

static uint64_t run_python(const char *kind, uint64_t n, size_t chunk)
{
    char cmd[8192], path[4096];
    script_path(path, sizeof path);
    snprintf(cmd, sizeof cmd, "%s %s %s %llu %zu %d", py_interp(), path, kind,
             (unsigned long long)n, chunk, WORKERS);
    FILE *f = popen(cmd, "r");
    unsigned long long ns = 0;
    if (!f || fscanf(f, "%llu", &ns) != 1) {
        fprintf(stderr, "bench_pool: %s failed\n", cmd);
        if (f)
            pclose(f);
        return 0;
    }
    pclose(f);
    return ns;
}

static uint64_t py_pool_chunk1(uint64_t n, void *arg)
{
    (void)arg;
    return run_python("pool", n, 1);
}
static uint64_t py_pool_auto(uint64_t n, void *arg)
{
    (void)arg;
    return run_python("pool", n, 0);
}
static uint64_t py_pool_uneven(uint64_t n, void *arg)
{
    (void)n, (void)arg;
    return run_python("uneven", 4, 1);
}
static uint64_t py_exec_chunk1(uint64_t n, void *arg)
{
    (void)arg;
    return run_python("executor", n, 1);
}
static uint64_t py_exec_auto(uint64_t n, void *arg)
{
    (void)arg;
    return run_python("executor", n, 0);
}

int main(void)
{
    bench_print_header();
    bool py = access(py_interp(), X_OK) == 0 && getenv("MPROC_BENCH_NO_PYTHON") == NULL;
    uint64_t n1 = bench_scale(2000000), npy1 = bench_scale(100000);
    uint64_t na = bench_scale(50000000), npya = bench_scale(5000000);
    if (npy1 < 100)
        npy1 = 100;
    if (npya < 1000)
        npya = 1000;

    struct bench_case c1[] = {
        {.impl = "mproc", .fn = mproc_chunk1, .n = n1},
        {.impl = "pipe", .fn = pipe_chunk1, .n = n1 / 4 ? n1 / 4 : 1},
        {.impl = "py-pool", .fn = py_pool_chunk1, .n = npy1},
        {.impl = "py-exec", .fn = py_exec_chunk1, .n = npy1 / 4 ? npy1 / 4 : 1},
    };
    bench_run("pool", "map_chunk1", c1, py ? 4 : 2, "ns/op", 0);

    struct bench_case ca[] = {
        {.impl = "mproc", .fn = mproc_auto, .n = na},
        {.impl = "pipe", .fn = pipe_auto, .n = na},
        {.impl = "py-pool", .fn = py_pool_auto, .n = npya},
        {.impl = "py-exec", .fn = py_exec_auto, .n = npya},
    };
    bench_run("pool", "map_auto_chunk", ca, py ? 4 : 2, "ns/op", 0);

    int cpus = mproc_cpu_count();
    for (int w = 1; w <= 2 * cpus; w *= 2) {
        char name[32];
        snprintf(name, sizeof name, "chunk1_w%d", w);
        struct bench_case cw[] = {
            {.impl = "mproc", .fn = mproc_chunk1_w, .arg = (void *)(intptr_t)w, .n = n1}};
        bench_run("pool", name, cw, 1, "ns/op", 0);
    }

    struct bench_case cu[] = {
        {.impl = "mproc", .fn = mproc_uneven, .n = 1},
        {.impl = "py-pool", .fn = py_pool_uneven, .n = 1},
    };
    bench_run("pool", "uneven_map", cu, py ? 2 : 1, "us/op", 0);

    struct bench_case ck[] = {{.impl = "mproc", .fn = mproc_kill_to_next, .n = 1}};
    bench_run("pool", "cancel_to_next", ck, 1, "us/op", 0);
    struct bench_case ct[] = {{.impl = "mproc", .fn = mproc_kill_to_next, .arg = "", .n = 1}};
    bench_run("pool", "timeout_to_next", ct, 1, "us/op", 0);
    return 0;
}
