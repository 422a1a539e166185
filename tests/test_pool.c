/* test_pool.c - the process pool: map, unordered map, streams, futures,
 * initializer, worker replacement, close/join/terminate, progress, bad
 * arguments. Crash behaviour lives in test_pool_crash.c. */
#include "harness.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static int square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int64_t x;
    if (in_len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    x = (int64_t)((uint64_t)x * (uint64_t)x + 1); /* wraps, never UB */
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}
MPROC_TASK(square);

static int odd_fails(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x % 2)
        return -EDOM;
    return square(in, in_len, out, out_len, ctx);
}

static int sleep_ms_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)ctx;
    int32_t ms;
    memcpy(&ms, in, sizeof ms);
    mproc_test_sleep_ms(ms);
    memcpy(out, &ms, sizeof ms);
    *out_len = sizeof ms;
    return 0;
}

static int my_pid(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)ctx;
    pid_t p = getpid();
    memcpy(out, &p, sizeof p);
    *out_len = sizeof p;
    return 0;
}

static int64_t init_value;
static int set_init_value(void *arg)
{
    init_value = *(int64_t *)arg;
    return 0;
}
static int fail_init(void *arg)
{
    (void)arg;
    return -1;
}

static int read_init_value(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len;
    int64_t v = init_value + (ctx ? *(int64_t *)ctx : 0);
    memcpy(out, &v, sizeof v);
    *out_len = sizeof v;
    return 0;
}

static int echo(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    if (in_len > *out_len)
        return -EMSGSIZE;
    memcpy(out, in, in_len);
    *out_len = in_len;
    return 0;
}

static mproc_pool *new_pool(int workers)
{
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = workers};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    return p;
}

static void finish(mproc_pool *p)
{
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    mproc_pool_close(p);
}

MPROC_TEST(pool, map_results_in_order_for_various_chunk_sizes)
{
    enum { N = 3000 };
    static int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i - 100;
    mproc_pool *p = new_pool(3);
    const size_t chunks[] = {0, 1, 2, 7, 64, 999, N, 5 * N};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        memset(out, 0, sizeof out);
        struct mproc_pool_map_opts mo = {.chunksize = chunks[c]};
        MPROC_ASSERT_OK(
            mproc_pool_map(p, square, in, N, sizeof in[0], out, sizeof out[0], &mo, MPROC_FOREVER));
        for (int i = 0; i < N; i++)
            cr_assert_eq(out[i], in[i] * in[i] + 1, "chunk %zu item %d", chunks[c], i);
    }
    finish(p);
}

MPROC_TEST(pool, map_of_zero_items_succeeds_at_once)
{
    mproc_pool *p = new_pool(1);
    MPROC_ASSERT_OK(mproc_pool_map(p, square, NULL, 0, 8, NULL, 8, NULL, 0));
    finish(p);
}

struct seen {
    int n;
    unsigned char *count;
    int bad;
};

static int count_result(void *arg, uint64_t index, const void *out, size_t out_len,
                        const struct mproc_pool_error *err)
{
    struct seen *s = arg;
    int64_t v;
    if (err || out_len != sizeof v || index >= (uint64_t)s->n) {
        s->bad++;
        return 0;
    }
    memcpy(&v, out, sizeof v);
    int64_t x = (int64_t)index * 3;
    if (v != x * x + 1)
        s->bad++;
    s->count[index]++;
    return 0;
}

MPROC_TEST(pool, map_unordered_callback_gets_every_index_exactly_once)
{
    enum { N = 5000 };
    static int64_t in[N];
    static unsigned char count[N];
    for (int i = 0; i < N; i++)
        in[i] = (int64_t)i * 3;
    mproc_pool *p = new_pool(2);
    struct seen s = {.n = N, .count = count};
    struct mproc_pool_map_opts mo = {.chunksize = 3};
    MPROC_ASSERT_OK(mproc_pool_map_unordered(p, square, in, N, sizeof in[0], sizeof(int64_t),
                                             count_result, &s, &mo, MPROC_FOREVER));
    cr_assert_eq(s.bad, 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(count[i], 1, "index %d seen %d times", i, count[i]);
    finish(p);
}

static int stop_at_ten(void *arg, uint64_t index, const void *out, size_t out_len,
                       const struct mproc_pool_error *err)
{
    (void)index, (void)out, (void)out_len, (void)err;
    return ++*(int *)arg == 10 ? -ECANCELED : 0;
}

MPROC_TEST(pool, map_unordered_stops_when_callback_says_so)
{
    enum { N = 2000 };
    static int64_t in[N];
    mproc_pool *p = new_pool(2);
    int calls = 0;
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    MPROC_ASSERT_RC(
        mproc_pool_map_unordered(p, square, in, N, 8, 8, stop_at_ten, &calls, &mo, MPROC_FOREVER),
        -ECANCELED);
    cr_assert_eq(calls, 10);
    /* The pool is still fine afterwards. */
    int64_t out[4];
    MPROC_ASSERT_OK(mproc_pool_map(p, square, in, 4, 8, out, 8, NULL, MPROC_FOREVER));
    cr_assert_eq(out[3], 1);
    finish(p);
}

struct reenter {
    mproc_pool *pool;
    int map_rc, submit_rc, join_rc, term_rc, pids;
};
static int reenter_result(void *arg, uint64_t index, const void *out, size_t out_len,
                          const struct mproc_pool_error *err)
{
    (void)out, (void)out_len, (void)err;
    struct reenter *r = arg;
    if (index == 0) {
        int64_t x = 1, y;
        mproc_future *f;
        r->map_rc = mproc_pool_map(r->pool, square, &x, 1, 8, &y, 8, NULL, 100);
        r->submit_rc = mproc_pool_submit(r->pool, square, &x, 8, 8, &f);
        r->join_rc = mproc_pool_join(r->pool, 100);
        r->term_rc = mproc_pool_terminate(r->pool);
        r->pids = mproc_pool_worker_pids(r->pool, NULL, 0);
    }
    return 0;
}

MPROC_TEST(pool, callbacks_cannot_reenter_the_pool)
{
    mproc_pool *p = new_pool(2);
    int64_t in[10] = {0};
    struct reenter r = {.pool = p};
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    MPROC_ASSERT_OK(
        mproc_pool_map_unordered(p, square, in, 10, 8, 8, reenter_result, &r, &mo, MPROC_FOREVER));
    cr_assert_eq(r.map_rc, MPROC_EBUSY);
    cr_assert_eq(r.submit_rc, MPROC_EBUSY);
    cr_assert_eq(r.join_rc, MPROC_EBUSY);
    cr_assert_eq(r.term_rc, MPROC_EBUSY);
    cr_assert_eq(r.pids, 2);
    finish(p);
}

MPROC_TEST(pool, future_wait_times_out_then_gives_result)
{
    mproc_pool *p = new_pool(2);
    int32_t ms = 300;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &ms, sizeof ms, sizeof ms, &f));
    MPROC_ASSERT_RC(mproc_future_wait(f, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_future_wait(f, 20), MPROC_ETIMEDOUT);
    MPROC_ASSERT_RC(mproc_future_result(f, NULL, NULL), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    cr_assert_eq(mproc_future_done(f), 1);
    const void *r;
    size_t len;
    MPROC_ASSERT_OK(mproc_future_result(f, &r, &len));
    cr_assert_eq(len, sizeof ms);
    cr_assert_eq(*(const int32_t *)r, 300);
    struct mproc_pool_error e;
    MPROC_ASSERT_OK(mproc_future_error(f, &e));
    cr_assert_eq(e.code, 0);
    mproc_future_close(f);
    finish(p);
}

MPROC_TEST(pool, many_futures_each_get_their_own_result)
{
    enum { N = 200 };
    mproc_pool *p = new_pool(2);
    mproc_future *f[N];
    for (int i = 0; i < N; i++) {
        int64_t x = i;
        MPROC_ASSERT_OK(mproc_pool_submit(p, square, &x, sizeof x, 8, &f[i]));
    }
    for (int i = N - 1; i >= 0; i--) {
        MPROC_ASSERT_OK(mproc_future_wait(f[i], 10000));
        const void *r;
        size_t len;
        MPROC_ASSERT_OK(mproc_future_result(f[i], &r, &len));
        cr_assert_eq(*(const int64_t *)r, (int64_t)i * i + 1);
        mproc_future_close(f[i]);
    }
    finish(p);
}

MPROC_TEST(pool, task_failing_on_purpose_fails_only_its_item)
{
    enum { N = 101 };
    int64_t in[N], out[N];
    int st[N];
    struct mproc_pool_error err[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    mproc_pool *p = new_pool(2);
    struct mproc_pool_map_opts mo = {.chunksize = 4, .statuses = st, .errors = err};
    MPROC_ASSERT_RC(mproc_pool_map(p, odd_fails, in, N, 8, out, 8, &mo, MPROC_FOREVER), -EDOM);
    for (int i = 0; i < N; i++) {
        if (i % 2) {
            cr_assert_eq(st[i], -EDOM);
            cr_assert_eq(err[i].code, -EDOM);
            cr_assert_eq(err[i].index, (uint64_t)i);
            cr_assert_eq(err[i].signal, 0);
        } else {
            cr_assert_eq(st[i], 0);
            cr_assert_eq(err[i].code, 0);
            cr_assert_eq(out[i], (int64_t)i * i + 1);
        }
    }
    int64_t x = 3;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, odd_fails, &x, 8, 8, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    MPROC_ASSERT_RC(mproc_future_result(f, NULL, NULL), -EDOM);
    mproc_future_close(f);
    finish(p);
}

MPROC_TEST(pool, initializer_runs_in_each_worker_and_task_ctx_is_passed)
{
    int64_t magic = 4242, ctx = 8;
    struct mproc_pool_opts o = {
        .workers = 3, .initializer = set_init_value, .init_arg = &magic, .task_ctx = &ctx};
    mproc_pool *p;
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    enum { N = 300 };
    int64_t in[N], out[N];
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    MPROC_ASSERT_OK(mproc_pool_map(p, read_init_value, in, N, 8, out, 8, &mo, MPROC_FOREVER));
    for (int i = 0; i < N; i++)
        cr_assert_eq(out[i], 4250);
    cr_assert_eq(init_value, 0, "the initializer ran in the owner");
    finish(p);
}

MPROC_TEST(pool, failing_initializer_breaks_the_pool_instead_of_looping)
{
    struct mproc_pool_opts o = {.workers = 2, .initializer = fail_init};
    mproc_pool *p;
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    int64_t in[4] = {0}, out[4];
    MPROC_ASSERT_RC(mproc_pool_map(p, square, in, 4, 8, out, 8, NULL, 10000), MPROC_EBROKEN);
    MPROC_ASSERT_RC(mproc_pool_map(p, square, in, 4, 8, out, 8, NULL, 10000), MPROC_EBROKEN);
    mproc_pool_close(p);
}

MPROC_TEST(pool, max_tasks_per_worker_replaces_workers)
{
    struct mproc_pool_opts o = {.workers = 2, .max_tasks_per_worker = 10};
    mproc_pool *p;
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    pid_t first[2];
    cr_assert_eq(mproc_pool_worker_pids(p, first, 2), 2);
    enum { N = 200 };
    static int64_t in[N];
    pid_t out[N];
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    MPROC_ASSERT_OK(mproc_pool_map(p, my_pid, in, N, 8, out, sizeof(pid_t), &mo, MPROC_FOREVER));
    /* Each pid ran at most 10 items, so at least 20 different pids. */
    int distinct = 0;
    for (int i = 0; i < N; i++) {
        int seen = 0, same = 0;
        for (int k = 0; k < i; k++)
            seen |= out[k] == out[i];
        for (int k = 0; k < N; k++)
            same += out[k] == out[i];
        cr_assert(same <= 10, "pid %d ran %d items", out[i], same);
        cr_assert_neq(out[i], getpid());
        distinct += !seen;
    }
    cr_assert_geq(distinct, 20);
    pid_t now[2];
    cr_assert_eq(mproc_pool_worker_pids(p, now, 2), 2);
    cr_assert(now[0] != first[0] || now[1] != first[1]);
    struct mproc_pool_stats st;
    MPROC_ASSERT_OK(mproc_pool_stats(p, &st));
    cr_assert_geq(st.worker_retired, 18);
    cr_assert_eq(st.worker_deaths, 0);
    cr_assert_eq(st.items_done, N);
    finish(p);
}

MPROC_TEST(pool, close_refuses_new_work_and_join_needs_close)
{
    mproc_pool *p = new_pool(2);
    int64_t in[2] = {1, 2}, out[2];
    MPROC_ASSERT_RC(mproc_pool_join(p, 1000), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_RC(mproc_pool_map(p, square, in, 2, 8, out, 8, NULL, 1000), MPROC_ECLOSED);
    mproc_future *f;
    MPROC_ASSERT_RC(mproc_pool_submit(p, square, in, 8, 8, &f), MPROC_ECLOSED);
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    cr_assert_eq(mproc_test_child_count(), 0);
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    mproc_pool_close(p);
}

MPROC_TEST(pool, join_finishes_submitted_futures_first)
{
    mproc_pool *p = new_pool(2);
    mproc_future *f[6];
    for (int i = 0; i < 6; i++) {
        int32_t ms = 30;
        MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &ms, 4, 4, &f[i]));
    }
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(mproc_future_done(f[i]), 1);
        MPROC_ASSERT_OK(mproc_future_result(f[i], NULL, NULL));
        mproc_future_close(f[i]);
    }
    cr_assert_eq(mproc_test_child_count(), 0);
    mproc_pool_close(p);
}

MPROC_TEST(pool, terminate_cancels_unfinished_futures_and_leaves_no_worker)
{
    mproc_pool *p = new_pool(2);
    mproc_future *f[5];
    for (int i = 0; i < 5; i++) {
        int32_t ms = 5000;
        MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &ms, 4, 4, &f[i]));
    }
    MPROC_ASSERT_RC(mproc_future_wait(f[0], 50), MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_pool_terminate(p));
    cr_assert_eq(mproc_test_child_count(), 0);
    for (int i = 0; i < 5; i++) {
        MPROC_ASSERT_OK(mproc_future_wait(f[i], 0));
        MPROC_ASSERT_RC(mproc_future_result(f[i], NULL, NULL), MPROC_ECANCELED);
        mproc_future_close(f[i]);
    }
    int64_t in = 1, out;
    MPROC_ASSERT_RC(mproc_pool_map(p, square, &in, 1, 8, &out, 8, NULL, 100), MPROC_ECANCELED);
    MPROC_ASSERT_OK(mproc_pool_join(p, 1000));
    mproc_pool_close(p);
}

MPROC_TEST(pool, free_without_join_leaves_no_worker)
{
    mproc_pool *p = new_pool(3);
    int32_t ms = 5000;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &ms, 4, 4, &f));
    mproc_future_close(f);
    mproc_pool_close(p);
    cr_assert_eq(mproc_test_child_count(), 0);
}

struct prog {
    uint64_t last, total, calls;
    int backwards;
};
static void record_progress(void *arg, uint64_t done, uint64_t total)
{
    struct prog *pr = arg;
    if (done < pr->last)
        pr->backwards++;
    pr->last = done;
    pr->total = total;
    pr->calls++;
}

MPROC_TEST(pool, progress_callback_reaches_total)
{
    enum { N = 1234 };
    static int64_t in[N], out[N];
    mproc_pool *p = new_pool(2);
    struct prog pr = {0};
    struct mproc_pool_map_opts mo = {
        .chunksize = 10, .progress = record_progress, .progress_arg = &pr};
    MPROC_ASSERT_OK(mproc_pool_map(p, square, in, N, 8, out, 8, &mo, MPROC_FOREVER));
    cr_assert_eq(pr.last, N);
    cr_assert_eq(pr.total, N);
    cr_assert_eq(pr.backwards, 0);
    cr_assert_geq(pr.calls, N / 10);
    /* The ready-made bar must be callable with stderr not a terminal. */
    mproc_pool_progress_bar(NULL, 5, 10);
    finish(p);
}

struct stream {
    uint64_t produced, limit, received, max_gap, bad;
};
static int stream_next(void *arg, uint64_t index, void *item, size_t *item_len)
{
    struct stream *s = arg;
    if (s->produced == s->limit)
        return 0;
    if (index != s->produced)
        s->bad++;
    int64_t x = (int64_t)index;
    memcpy(item, &x, sizeof x);
    *item_len = sizeof x;
    s->produced++;
    if (s->produced - s->received > s->max_gap)
        s->max_gap = s->produced - s->received;
    return 1;
}
static int stream_result(void *arg, uint64_t index, const void *out, size_t out_len,
                         const struct mproc_pool_error *err)
{
    struct stream *s = arg;
    int64_t v;
    memcpy(&v, out, sizeof v);
    if (err || out_len != 8 || v != (int64_t)(index * index + 1))
        s->bad++;
    s->received++;
    return 0;
}

MPROC_TEST(pool, stream_keeps_items_in_flight_bounded)
{
    mproc_pool *p = new_pool(2);
    struct stream s = {.limit = 20000};
    struct mproc_pool_map_opts mo = {.chunksize = 4, .max_in_flight = 32};
    MPROC_ASSERT_OK(mproc_pool_map_stream(p, square, stream_next, &s, 8, 8, stream_result, &s, &mo,
                                          MPROC_FOREVER));
    cr_assert_eq(s.bad, 0);
    cr_assert_eq(s.received, 20000);
    cr_assert_leq(s.max_gap, 32, "in flight reached %llu", (unsigned long long)s.max_gap);
    finish(p);
}

static int jitter_square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    struct timespec ts = {0, (long)(x % 4) * 100000L};
    nanosleep(&ts, NULL);
    return square(in, in_len, out, out_len, ctx);
}

struct ordered {
    struct stream s;
    uint64_t expect;
    uint64_t out_of_order;
};
static int ordered_result(void *arg, uint64_t index, const void *out, size_t out_len,
                          const struct mproc_pool_error *err)
{
    struct ordered *o = arg;
    if (index != o->expect)
        o->out_of_order++;
    o->expect = index + 1;
    return stream_result(&o->s, index, out, out_len, err);
}

MPROC_TEST(pool, ordered_stream_hands_results_over_in_index_order)
{
    mproc_pool *p = new_pool(3);
    struct ordered o = {.s = {.limit = 2000}};
    struct mproc_pool_map_opts mo = {.chunksize = 2, .max_in_flight = 24, .ordered = 1};
    MPROC_ASSERT_OK(mproc_pool_map_stream(p, jitter_square, stream_next, &o.s, 8, 8, ordered_result,
                                          &o, &mo, MPROC_FOREVER));
    cr_assert_eq(o.s.bad, 0);
    cr_assert_eq(o.out_of_order, 0);
    cr_assert_eq(o.s.received, 2000);
    cr_assert_leq(o.s.max_gap, 24);
    finish(p);
}

static int stream_error(void *arg, uint64_t index, void *item, size_t *item_len)
{
    (void)arg;
    memset(item, 0, 8);
    *item_len = 8;
    return index == 50 ? -EIO : 1;
}

MPROC_TEST(pool, stream_stops_on_input_error)
{
    mproc_pool *p = new_pool(2);
    MPROC_ASSERT_RC(
        mproc_pool_map_stream(p, square, stream_error, NULL, 8, 8, NULL, NULL, NULL, MPROC_FOREVER),
        -EIO);
    finish(p);
}

MPROC_TEST(pool, variable_size_items_through_a_stream_and_submit)
{
    mproc_pool *p = new_pool(2);
    char big[3000];
    memset(big, 'x', sizeof big);
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, echo, big, sizeof big, sizeof big, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    const void *r;
    size_t len;
    MPROC_ASSERT_OK(mproc_future_result(f, &r, &len));
    cr_assert_eq(len, sizeof big);
    cr_assert(memcmp(r, big, len) == 0);
    mproc_future_close(f);
    /* Empty input, empty result. */
    MPROC_ASSERT_OK(mproc_pool_submit(p, echo, NULL, 0, 0, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    MPROC_ASSERT_OK(mproc_future_result(f, &r, &len));
    cr_assert_eq(len, 0);
    mproc_future_close(f);
    finish(p);
}

MPROC_TEST(pool, map_timeout_abandons_items_and_pool_goes_on)
{
    mproc_pool *p = new_pool(2);
    int32_t in[8], out[8];
    for (int i = 0; i < 8; i++)
        in[i] = 400;
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    MPROC_ASSERT_RC(mproc_pool_map(p, sleep_ms_task, in, 8, 4, out, 4, &mo, 50), MPROC_ETIMEDOUT);
    for (int i = 0; i < 8; i++)
        in[i] = 1;
    MPROC_ASSERT_OK(mproc_pool_map(p, sleep_ms_task, in, 8, 4, out, 4, &mo, MPROC_FOREVER));
    for (int i = 0; i < 8; i++)
        cr_assert_eq(out[i], 1);
    finish(p);
}

MPROC_TEST(pool, bad_arguments_are_errors)
{
    mproc_pool *p;
    struct mproc_pool_opts bad = {.workers = -1};
    MPROC_ASSERT_RC(mproc_pool_create(NULL, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_create(&p, &bad), MPROC_EINVAL);
    bad = (struct mproc_pool_opts){.on_death = 9};
    MPROC_ASSERT_RC(mproc_pool_create(&p, &bad), MPROC_EINVAL);
    bad = (struct mproc_pool_opts){.slot_bytes = 100};
    MPROC_ASSERT_RC(mproc_pool_create(&p, &bad), MPROC_EINVAL);
    bad = (struct mproc_pool_opts){.start_method = MPROC_START_SPAWN, .initializer = fail_init};
    MPROC_ASSERT_RC(mproc_pool_create(&p, &bad), MPROC_EINVAL);
    bad = (struct mproc_pool_opts){.start_method = 7};
    MPROC_ASSERT_RC(mproc_pool_create(&p, &bad), MPROC_EINVAL);

    p = new_pool(1);
    int64_t in[2] = {0}, out[2];
    MPROC_ASSERT_RC(mproc_pool_map(NULL, square, in, 2, 8, out, 8, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_map(p, NULL, in, 2, 8, out, 8, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_map(p, square, NULL, 2, 8, out, 8, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_map(p, square, in, 2, 0, out, 8, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_map(p, square, in, 2, 8, NULL, 8, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_map(p, square, in, 2, 8, out, 8, NULL, -5), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_map(p, square, in, 2, 1 << 20, out, 8, NULL, 0), MPROC_EMSGSIZE);
    MPROC_ASSERT_RC(mproc_pool_map_stream(p, square, NULL, NULL, 8, 8, NULL, NULL, NULL, 0),
                    MPROC_EINVAL);
    mproc_future *f;
    MPROC_ASSERT_RC(mproc_pool_submit(p, square, NULL, 8, 8, &f), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_submit(p, square, in, 8, 8, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_future_wait(NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_future_result(NULL, NULL, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_shutdown(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_join(NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_terminate(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_worker_pids(p, NULL, 3), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pool_close(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_future_close(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_future_wait(NULL, 0), MPROC_EINVAL);
    cr_assert_eq(mproc_pool_workers(p), 1);
    finish(p);
}

static int use_in_child(void *arg)
{
    mproc_pool *p = arg;
    int64_t in = 1, out;
    return mproc_pool_map(p, square, &in, 1, 8, &out, 8, NULL, 0) == MPROC_ENOTCHILD ? 0 : 1;
}

MPROC_TEST(pool, handle_inherited_across_fork_is_inert)
{
    mproc_pool *p = new_pool(1);
    pid_t c = mproc_test_fork(use_in_child, p);
    int st = mproc_test_wait(c, 10000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    finish(p);
}

/* utime + stime of a process, in clock ticks; -1 if unreadable. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    unsigned long ut, st;
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
     * utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (long)(ut + st);
}

MPROC_TEST(pool, idle_workers_sleep_instead_of_spinning)
{
    mproc_pool *p = new_pool(2);
    int64_t in[64] = {0}, out[64];
    MPROC_ASSERT_OK(mproc_pool_map(p, square, in, 64, 8, out, 8, NULL, MPROC_FOREVER));
    pid_t pids[2];
    cr_assert_eq(mproc_pool_worker_pids(p, pids, 2), 2);
    mproc_test_sleep_ms(100); /* past the brief spin */
    long before[2], after[2];
    for (int i = 0; i < 2; i++)
        before[i] = cpu_ticks(pids[i]);
    mproc_test_sleep_ms(600);
    for (int i = 0; i < 2; i++) {
        after[i] = cpu_ticks(pids[i]);
        cr_assert(before[i] >= 0 && after[i] >= 0);
        /* A spinning worker would use ~60 ticks (at 100 Hz) in 600 ms. */
        cr_assert_leq(after[i] - before[i], 5, "idle worker %d used %ld ticks", (int)pids[i],
                      after[i] - before[i]);
    }
    finish(p);
}

MPROC_TEST(pool, tasks_are_found_by_registered_name)
{
    cr_assert_eq(mproc_task_find("square"), square);
    cr_assert_str_eq(mproc_task_name(square), "square");
    cr_assert_null(mproc_task_find("no_such_task"));
    cr_assert_null(mproc_task_name(echo));
    MPROC_ASSERT_OK(mproc_task_register("square", square));
    MPROC_ASSERT_RC(mproc_task_register("square", echo), MPROC_EEXIST);
    MPROC_ASSERT_RC(mproc_task_register("bad name", echo), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_task_register("", echo), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_task_register("x", NULL), MPROC_EINVAL);
}

/* 64 workers x 1024 slots x 1 GiB is 64 TiB of slots: refused before any
 * reservation or worker (reserving it would feed the OOM killer). */
MPROC_TEST(pool, create_with_slots_beyond_memory_fails_with_enomem)
{
    mproc_pool *p = NULL;
    struct mproc_pool_opts o = {
        .workers = 64, .slots_per_worker = 1024, .slot_bytes = (size_t)1 << 30};
    MPROC_ASSERT_RC(mproc_pool_create(&p, &o), MPROC_ENOMEM);
    cr_assert_null(p);
    cr_assert_eq(mproc_test_child_count(), 0);
}
