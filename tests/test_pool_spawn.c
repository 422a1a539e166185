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

/* The spawn parity of a pool: an initializer by registered name with
 * argument bytes, and a task context by value. */
static int64_t init_offset = -1; /* set by the initializer, in each worker */

static int set_offset(const void *arg, size_t len)
{
    if (len != sizeof init_offset)
        return 1;
    memcpy(&init_offset, arg, sizeof init_offset);
    return 0;
}
MPROC_ENTRY(set_offset);

static int refuse_to_start(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 1;
}
MPROC_ENTRY(refuse_to_start);

struct task_ctx {
    int64_t scale;
    int64_t calls; /* the worker's private copy counts its own calls */
};

static int scaled_plus_offset(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    struct task_ctx *c = ctx;
    int64_t x;
    if (in_len != sizeof x || c == NULL || init_offset < 0)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    c->calls++;
    x = c->scale * x + init_offset;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}
MPROC_TASK(scaled_plus_offset);

/* A map through a pool made with the by-value options: the initializer's
 * bytes and the task context are copied at create (later changes to the
 * owner's copies reach no worker), and tasks write the workers' copies. */
static void by_value_round(int start_method)
{
    enum { N = 200 };
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    int64_t offset = 1000;
    struct task_ctx ctx = {.scale = 7, .calls = 0};
    struct mproc_pool_opts o = {.workers = 2,
                                .start_method = start_method,
                                .init_entry = "set_offset",
                                .init_arg = &offset,
                                .init_arg_len = sizeof offset,
                                .task_ctx = &ctx,
                                .task_ctx_len = sizeof ctx};
    mproc_pool *p;
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    offset = -5;
    ctx.scale = -1;
    MPROC_ASSERT_OK(mproc_pool_map(p, scaled_plus_offset, in, N, sizeof in[0], out, sizeof out[0],
                                   NULL, 20000));
    for (int i = 0; i < N; i++)
        cr_assert_eq(out[i], 7 * i + 1000, "item %d: %lld", i, (long long)out[i]);
    cr_assert_eq(ctx.calls, 0, "tasks write the workers' copies, not the owner's");
    finish(p);
}

MPROC_TEST(pool_spawn, initializer_by_name_and_task_context_reach_spawned_workers)
{
    by_value_round(MPROC_START_SPAWN);
}

MPROC_TEST(pool_spawn, the_same_by_value_options_work_with_fork)
{
    by_value_round(MPROC_START_FORK);
}

MPROC_TEST(pool_spawn, bad_by_value_options_are_refused)
{
    mproc_pool *p;
    int64_t x = 1;
    struct mproc_pool_opts o = {.workers = 1, .start_method = MPROC_START_SPAWN};
    o.init_entry = "no_such_entry";
    MPROC_ASSERT_RC(mproc_pool_create(&p, &o), MPROC_ENOENTRY);
    o.init_entry = "set_offset";
    o.init_arg_len = 8; /* NULL init_arg */
    MPROC_ASSERT_RC(mproc_pool_create(&p, &o), MPROC_EINVAL);
    o.init_arg = &x;
    o.init_arg_len = 1u << 20; /* more than 64 KiB */
    MPROC_ASSERT_RC(mproc_pool_create(&p, &o), MPROC_EINVAL);
    o.init_arg_len = sizeof x;
    o.task_ctx_len = 4; /* NULL task_ctx */
    MPROC_ASSERT_RC(mproc_pool_create(&p, &o), MPROC_EINVAL);
}

MPROC_TEST(pool_spawn, a_failing_initializer_by_name_breaks_the_pool_instead_of_looping)
{
    enum { N = 4 };
    static int64_t in[N], out[N];
    struct mproc_pool_opts o = {
        .workers = 2, .start_method = MPROC_START_SPAWN, .init_entry = "refuse_to_start"};
    mproc_pool *p;
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    int rc =
        mproc_pool_map(p, scaled_plus_offset, in, N, sizeof in[0], out, sizeof out[0], NULL, 20000);
    MPROC_ASSERT_RC(rc, MPROC_EBROKEN);
    mproc_pool_terminate(p);
    mproc_pool_close(p);
}
