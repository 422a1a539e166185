/* tsan_pool.c - a pool with opts.background used from several threads at
 * once, under ThreadSanitizer: submits, waits, cancels, maps and done
 * callbacks on the service thread, output captured by the capture thread.
 */
#include "tsan.h"

#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define THREADS 3

static int square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int64_t x;
    if (in_len != sizeof x)
        return MPROC_EINVAL;
    memcpy(&x, in, sizeof x);
    x *= x;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

static int nap(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)out, (void)ctx;
    struct timespec ts = {0, 20 * 1000000};
    nanosleep(&ts, NULL);
    printf("napped\n");
    *out_len = 0;
    return 0;
}

static atomic_int callbacks, lines;

static void on_done(void *arg, mproc_future *f)
{
    (void)arg;
    (void)mproc_future_result(f, NULL, NULL);
    atomic_fetch_add(&callbacks, 1);
}

static void on_line(void *arg, int worker, pid_t pid, int stream, const char *line, size_t len)
{
    (void)arg, (void)worker, (void)pid, (void)stream, (void)line, (void)len;
    atomic_fetch_add(&lines, 1);
}

struct user {
    mproc_pool *pool;
    int id;
    int bad;
};

static void *user_thread(void *arg)
{
    struct user *u = arg;
    struct mproc_pool_submit_opts so = {.on_done = on_done};
    for (int i = 0; i < 40; i++) {
        int64_t x = u->id * 1000 + i;
        mproc_future *f, *g;
        if (mproc_pool_submit_ex(u->pool, square, &x, 8, 8, &so, &f) < 0 ||
            mproc_pool_submit_ex(u->pool, nap, &x, 8, 0, &so, &g) < 0) {
            u->bad++;
            continue;
        }
        if (i % 3 == 0) {
            int rc = mproc_future_cancel(g);
            if (rc != 0 && rc != MPROC_EALREADY)
                u->bad++;
        }
        mproc_future *both[2] = {f, g};
        if (mproc_future_wait_all(both, 2, 20000) != 0)
            u->bad++;
        const void *r;
        int64_t y = 0;
        if (mproc_future_result(f, &r, NULL) != 0)
            u->bad++;
        else if (memcpy(&y, r, 8), y != x * x)
            u->bad++;
        mproc_future_close(f);
        mproc_future_close(g);
    }
    return NULL;
}

static int background_pool_from_several_threads(void)
{
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 2,
                                .background = 1,
                                .capture_output = 1,
                                .on_output = on_line,
                                .task_timeout_ms = 10000};
    TSAN_CHECK_RC(mproc_pool_create(&p, &o), 0);
    pthread_t th[THREADS];
    struct user u[THREADS];
    for (int i = 0; i < THREADS; i++)
        u[i] = (struct user){.pool = p, .id = i};
    TSAN_CHECK(tsan_spawn(th, THREADS, user_thread, u, sizeof u[0]) == 0);
    int64_t in[200], out[200];
    for (int i = 0; i < 200; i++)
        in[i] = i;
    struct mproc_pool_map_opts mo = {.chunksize = 2};
    TSAN_CHECK_RC(mproc_pool_map(p, square, in, 200, 8, out, 8, &mo, 20000), 0);
    int bad = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        bad += u[i].bad;
    }
    for (int i = 0; i < 200; i++)
        bad += out[i] != (int64_t)i * i;
    TSAN_CHECK(bad == 0);
    TSAN_CHECK(atomic_load(&callbacks) == THREADS * 80);
    TSAN_CHECK_RC(mproc_pool_shutdown(p), 0);
    TSAN_CHECK_RC(mproc_pool_join(p, 20000), 0);
    TSAN_CHECK_RC(mproc_pool_close(p), 0);
    TSAN_CHECK(atomic_load(&lines) > 0);
    return 0;
}

int main(int argc, char **argv)
{
    tsan_filter = argc > 1 ? argv[1] : NULL;
    alarm(240);
    tsan_run("background_pool_from_several_threads", background_pool_from_several_threads);
    return tsan_finish();
}
