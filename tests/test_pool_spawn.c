/* test_pool_spawn.c - the pool with the spawn start method: workers
 * re-execute this binary and find the tasks by their registered names.
 *
 * This file has its own main() (MPROC_TEST_MAIN, tests/process_util.h): it
 * calls mproc_main() first, so that a spawned worker runs the pool's entry
 * point instead of the tests.
 */
#include "process_util.h"

static int triple(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    int64_t x;
    if (in_len != sizeof x || ctx != NULL)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    x = 3 * x + (int64_t)getpid() * 0; /* getpid: it really runs in a worker */
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}
MPROC_TASK(triple);

static int kill_on_seven(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x % 10 == 7)
        raise(SIGKILL);
    return triple(in, in_len, out, out_len, ctx);
}
MPROC_TASK(kill_on_seven);

static int unnamed(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    return triple(in, in_len, out, out_len, ctx);
}

static mproc_pool *spawn_pool(int workers)
{
    mproc_pool *p;
    int64_t ctx = 5;
    struct mproc_pool_opts o = {
        .workers = workers, .start_method = MPROC_START_SPAWN, .task_ctx = &ctx};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    return p;
}

static void finish(mproc_pool *p)
{
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    mproc_pool_close(p);
}

MPROC_TEST(pool_spawn, map_runs_registered_tasks_in_spawned_workers)
{
    enum { N = 1000 };
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mproc_pool *p = spawn_pool(2);
    const size_t chunks[] = {0, 1, 9};
    for (size_t c = 0; c < 3; c++) {
        memset(out, 0, sizeof out);
        struct mproc_pool_map_opts mo = {.chunksize = chunks[c]};
        MPROC_ASSERT_OK(mproc_pool_map(p, triple, in, N, 8, out, 8, &mo, 20000));
        for (int i = 0; i < N; i++)
            cr_assert_eq(out[i], 3 * i);
    }
    finish(p);
}

MPROC_TEST(pool_spawn, unregistered_task_fails_with_enoentry)
{
    mproc_pool *p = spawn_pool(1);
    int64_t in[3] = {1, 2, 3}, out[3];
    int st[3];
    struct mproc_pool_map_opts mo = {.statuses = st};
    MPROC_ASSERT_RC(mproc_pool_map(p, unnamed, in, 3, 8, out, 8, &mo, 20000), MPROC_ENOENTRY);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(st[i], MPROC_ENOENTRY);
    /* The pool goes on. */
    MPROC_ASSERT_OK(mproc_pool_map(p, triple, in, 3, 8, out, 8, NULL, 20000));
    cr_assert_eq(out[2], 9);
    finish(p);
}

static int count_result(void *arg, uint64_t index, const void *out, size_t len,
                        const struct mproc_pool_error *err)
{
    (void)index, (void)out, (void)len;
    if (err && err->code == MPROC_ENOENTRY)
        ++*(int *)arg;
    return 0;
}

/* The refused chunk is the only work there is (nothing in flight): it must
 * fail at once, not wait for an event that never comes. Futures take the
 * pending path, unordered maps the fresh-chunk path. */
MPROC_TEST(pool_spawn, unregistered_task_fails_future_and_unordered_map_without_hanging)
{
    mproc_pool *p = spawn_pool(1);
    int64_t x = 4;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, unnamed, &x, 8, 8, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 20000));
    const void *r;
    MPROC_ASSERT_RC(mproc_future_result(f, &r, NULL), MPROC_ENOENTRY);
    struct mproc_pool_error e;
    MPROC_ASSERT_OK(mproc_future_error(f, &e));
    cr_assert_eq(e.code, MPROC_ENOENTRY);
    mproc_future_close(f);

    int64_t in[5] = {1, 2, 3, 4, 5};
    int failed = 0;
    struct mproc_pool_map_opts mo = {.chunksize = 2};
    MPROC_ASSERT_RC(
        mproc_pool_map_unordered(p, unnamed, in, 5, 8, 8, count_result, &failed, &mo, 20000),
        MPROC_ENOENTRY);
    cr_assert_eq(failed, 5);
    finish(p);
}

MPROC_TEST(pool_spawn, spawned_worker_death_fails_its_item_and_is_replaced)
{
    enum { N = 60 };
    int64_t in[N], out[N];
    int st[N];
    struct mproc_pool_error err[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mproc_pool *p = spawn_pool(2);
    struct mproc_pool_map_opts mo = {.chunksize = 2, .statuses = st, .errors = err};
    MPROC_ASSERT_RC(mproc_pool_map(p, kill_on_seven, in, N, 8, out, 8, &mo, 30000),
                    MPROC_EWORKERDIED);
    for (int i = 0; i < N; i++) {
        if (i % 10 == 7) {
            cr_assert_eq(st[i], MPROC_EWORKERDIED);
            cr_assert_eq(err[i].signal, SIGKILL);
            cr_assert_gt(err[i].pid, 0);
        } else {
            cr_assert_eq(st[i], 0, "item %d: %s", i, mproc_err_name(st[i]));
            cr_assert_eq(out[i], 3 * i);
        }
    }
    pid_t pids[2];
    cr_assert_eq(mproc_pool_worker_pids(p, pids, 2), 2);
    finish(p);
    cr_assert_eq(mproc_test_child_count(), 0);
}

MPROC_TEST(pool_spawn, futures_work_with_spawned_workers)
{
    mproc_pool *p = spawn_pool(2);
    int64_t x = 14;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, triple, &x, 8, 8, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 20000));
    const void *r;
    MPROC_ASSERT_OK(mproc_future_result(f, &r, NULL));
    cr_assert_eq(*(const int64_t *)r, 42);
    mproc_future_close(f);
    finish(p);
}

MPROC_TEST_MAIN()
