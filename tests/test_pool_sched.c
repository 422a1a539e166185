/* test_pool_sched.c - who runs what: uneven work goes to the idle worker,
 * futures are cancelled, timed out, awaited together and called back, maps
 * run in the background, and a killed worker takes its process tree along. */
#include "harness.h"

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

/* Shared with the workers (forked after it is mapped). */
struct shared {
    _Atomic int runs;
    _Atomic int started;
    _Atomic pid_t grandchild;
};
static struct shared *sh;

static void map_shared(void)
{
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(sh != MAP_FAILED);
    memset(sh, 0, sizeof *sh);
}

static int sleep_ms_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)ctx;
    int32_t ms;
    memcpy(&ms, in, sizeof ms);
    if (sh) {
        atomic_fetch_add(&sh->runs, 1);
        atomic_store(&sh->started, 1);
    }
    mproc_test_sleep_ms(ms);
    memcpy(out, &ms, sizeof ms);
    *out_len = sizeof ms;
    return 0;
}

static int square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int64_t x;
    if (in_len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    if (x < 0)
        return -EDOM;
    x = x * x;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

/* Starts a grandchild that sleeps, publishes its pid, then hangs. */
static int fork_and_hang(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)out, (void)ctx;
    pid_t c = fork();
    if (c == 0) {
        for (;;)
            pause();
    }
    atomic_store(&sh->grandchild, c);
    for (;;)
        pause();
    *out_len = 0;
    return 0;
}

static mproc_pool *new_pool(int workers, int task_timeout_ms)
{
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = workers, .task_timeout_ms = task_timeout_ms};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    return p;
}

static void finish(mproc_pool *p)
{
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    MPROC_ASSERT_OK(mproc_pool_close(p));
}

static void wait_started(void)
{
    for (int i = 0; i < 1000 && !atomic_load(&sh->started); i++)
        mproc_test_sleep_ms(5);
    cr_assert(atomic_load(&sh->started), "the task never started");
}

/* A pool of 2 with one worker busy for seconds: a map of quick items must
 * finish on the other worker, not wait behind the long task. */
MPROC_TEST(pool_sched, uneven_work_goes_to_the_idle_worker)
{
    map_shared();
    mproc_pool *p = new_pool(2, 0);
    int32_t long_ms = 3000;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &long_ms, 4, 4, &f));
    wait_started();
    int32_t in[4] = {1, 1, 1, 1}, out[4] = {0};
    MPROC_ASSERT_OK(mproc_pool_map(p, sleep_ms_task, in, 4, 4, out, 4, NULL, 1500));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(out[i], 1);
    MPROC_ASSERT_OK(mproc_future_cancel(f));
    MPROC_ASSERT_OK(mproc_future_close(f));
    finish(p);
}

/* A map gives up on a task that hangs; the next map of quick items runs on
 * the worker that is free instead of queueing behind the hung one. */
MPROC_TEST(pool_sched, map_after_a_hung_map_does_not_time_out)
{
    mproc_pool *p = new_pool(2, 0);
    int32_t in[2] = {5000, 1}, out[2];
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    MPROC_ASSERT_RC(mproc_pool_map(p, sleep_ms_task, in, 2, 4, out, 4, &mo, 300), MPROC_ETIMEDOUT);
    int32_t q[8] = {1, 1, 1, 1, 1, 1, 1, 1}, qo[8];
    MPROC_ASSERT_OK(mproc_pool_map(p, sleep_ms_task, q, 8, 4, qo, 4, &mo, 2000));
    MPROC_ASSERT_OK(mproc_pool_terminate(p));
    MPROC_ASSERT_OK(mproc_pool_close(p));
}

MPROC_TEST(pool_sched, cancelled_pending_future_never_runs)
{
    map_shared();
    mproc_pool *p = new_pool(1, 0);
    int32_t ms = 300;
    mproc_future *busy, *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &ms, 4, 4, &busy));
    wait_started();
    int32_t quick = 1;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &quick, 4, 4, &f));
    MPROC_ASSERT_OK(mproc_future_cancel(f));
    cr_assert_eq(mproc_future_done(f), 1);
    MPROC_ASSERT_RC(mproc_future_result(f, NULL, NULL), MPROC_ECANCELED);
    MPROC_ASSERT_RC(mproc_future_cancel(f), MPROC_EALREADY);
    MPROC_ASSERT_OK(mproc_future_wait(busy, 10000));
    MPROC_ASSERT_OK(mproc_future_result(busy, NULL, NULL));
    /* Give a wrongly dispatched task every chance to run. */
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    cr_assert_eq(atomic_load(&sh->runs), 1);
    struct mproc_pool_stats st;
    MPROC_ASSERT_OK(mproc_pool_stats(p, &st));
    cr_assert_eq(st.cancelled, 1);
    MPROC_ASSERT_RC(mproc_future_cancel(busy), MPROC_EALREADY);
    MPROC_ASSERT_OK(mproc_future_close(busy));
    MPROC_ASSERT_OK(mproc_future_close(f));
    MPROC_ASSERT_OK(mproc_pool_close(p));
}

MPROC_TEST(pool_sched, cancelling_a_running_future_replaces_its_worker)
{
    map_shared();
    mproc_pool *p = new_pool(1, 0);
    pid_t before, after;
    cr_assert_eq(mproc_pool_worker_pids(p, &before, 1), 1);
    int32_t ms = 20000;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &ms, 4, 4, &f));
    wait_started();
    MPROC_ASSERT_OK(mproc_future_cancel(f));
    MPROC_ASSERT_RC(mproc_future_result(f, NULL, NULL), MPROC_ECANCELED);
    struct mproc_pool_error e;
    MPROC_ASSERT_OK(mproc_future_error(f, &e));
    cr_assert_eq(e.code, MPROC_ECANCELED);
    MPROC_ASSERT_OK(mproc_future_close(f));
    /* The pool goes on, on a new worker. */
    int64_t x = 7, y = 0;
    MPROC_ASSERT_OK(mproc_pool_map(p, square, &x, 1, 8, &y, 8, NULL, 10000));
    cr_assert_eq(y, 49);
    cr_assert_eq(mproc_pool_worker_pids(p, &after, 1), 1);
    cr_assert_neq(before, after);
    struct mproc_pool_stats st;
    MPROC_ASSERT_OK(mproc_pool_stats(p, &st));
    cr_assert_eq(st.cancelled, 1);
    cr_assert_eq(st.worker_deaths, 0);
    finish(p);
}

MPROC_TEST(pool_sched, overdue_item_fails_with_etimedout_and_pool_goes_on)
{
    mproc_pool *p = new_pool(2, 200);
    int32_t in[4] = {20000, 1, 1, 1}, out[4] = {0};
    int st[4];
    struct mproc_pool_error err[4];
    struct mproc_pool_map_opts mo = {.chunksize = 1, .statuses = st, .errors = err};
    MPROC_ASSERT_RC(mproc_pool_map(p, sleep_ms_task, in, 4, 4, out, 4, &mo, 10000),
                    MPROC_ETIMEDOUT);
    cr_assert_eq(st[0], MPROC_ETIMEDOUT);
    cr_assert_neq(err[0].pid, 0);
    cr_assert_eq(err[0].signal, SIGKILL);
    for (int i = 1; i < 4; i++) {
        cr_assert_eq(st[i], 0);
        cr_assert_eq(out[i], 1);
    }
    struct mproc_pool_stats s;
    MPROC_ASSERT_OK(mproc_pool_stats(p, &s));
    cr_assert_eq(s.timed_out, 1);
    cr_assert_eq(s.worker_deaths, 0);
    cr_assert_eq(mproc_pool_worker_pids(p, NULL, 0), 2);

    /* Per map: no limit overrides the pool's; per submit: its own. */
    int32_t slowish = 400, r;
    mo = (struct mproc_pool_map_opts){.task_timeout_ms = MPROC_FOREVER};
    MPROC_ASSERT_OK(mproc_pool_map(p, sleep_ms_task, &slowish, 1, 4, &r, 4, &mo, 10000));
    mproc_future *f;
    struct mproc_pool_submit_opts so = {.task_timeout_ms = 50};
    int32_t hang = 20000;
    MPROC_ASSERT_OK(mproc_pool_submit_ex(p, sleep_ms_task, &hang, 4, 4, &so, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    MPROC_ASSERT_RC(mproc_future_result(f, NULL, NULL), MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_future_close(f));
    so.task_timeout_ms = -7;
    MPROC_ASSERT_RC(mproc_pool_submit_ex(p, sleep_ms_task, &hang, 4, 4, &so, &f), MPROC_EINVAL);
    finish(p);
}

struct calls {
    int n;
    int ok;
    int failed;
};

static void on_done(void *arg, mproc_future *f)
{
    struct calls *c = arg;
    c->n++;
    int rc = mproc_future_result(f, NULL, NULL);
    if (rc == 0)
        c->ok++;
    else if (rc == -EDOM)
        c->failed++;
}

MPROC_TEST(pool_sched, done_callbacks_run_for_success_and_error)
{
    mproc_pool *p = new_pool(2, 0);
    struct calls c = {0};
    struct mproc_pool_submit_opts so = {.on_done = on_done, .on_done_arg = &c};
    int64_t good = 3, bad = -1;
    mproc_future *f[2];
    MPROC_ASSERT_OK(mproc_pool_submit_ex(p, square, &good, 8, 8, &so, &f[0]));
    MPROC_ASSERT_OK(mproc_pool_submit_ex(p, square, &bad, 8, 8, &so, &f[1]));
    MPROC_ASSERT_OK(mproc_future_wait_all(f, 2, 10000));
    cr_assert_eq(c.n, 2);
    cr_assert_eq(c.ok, 1);
    cr_assert_eq(c.failed, 1);
    MPROC_ASSERT_OK(mproc_future_close(f[0]));
    MPROC_ASSERT_OK(mproc_future_close(f[1]));
    finish(p);
}

MPROC_TEST(pool_sched, wait_any_gives_futures_in_completion_order)
{
    mproc_pool *p = new_pool(3, 0);
    int32_t ms[3] = {600, 10, 300};
    mproc_future *f[3];
    for (int i = 0; i < 3; i++)
        MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &ms[i], 4, 4, &f[i]));
    size_t idx;
    MPROC_ASSERT_RC(mproc_future_wait_any(f, 3, 0, &idx), MPROC_EAGAIN);
    size_t order[3];
    for (int k = 0; k < 3; k++) {
        MPROC_ASSERT_OK(mproc_future_wait_any(f, 3, 10000, &idx));
        order[k] = idx;
        MPROC_ASSERT_OK(mproc_future_close(f[idx]));
        f[idx] = NULL;
    }
    cr_assert_eq(order[0], 1);
    cr_assert_eq(order[1], 2);
    cr_assert_eq(order[2], 0);
    MPROC_ASSERT_RC(mproc_future_wait_any(f, 3, 0, &idx), MPROC_ENOENT);
    MPROC_ASSERT_OK(mproc_future_wait_all(f, 3, 0));
    MPROC_ASSERT_RC(mproc_future_wait_any(NULL, 3, 0, &idx), MPROC_EINVAL);
    finish(p);
}

MPROC_TEST(pool_sched, map_async_runs_while_the_owner_does_other_work)
{
    enum { N = 300 };
    mproc_pool *p = new_pool(2, 0);
    int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    struct mproc_pool_map_opts mo = {.chunksize = 4};
    mproc_future *m;
    MPROC_ASSERT_OK(mproc_pool_map_async(p, square, in, N, 8, out, 8, &mo, &m));
    MPROC_ASSERT_RC(mproc_future_cancel(m), MPROC_EINVAL);
    /* A future submitted meanwhile and waited for drives the map too. */
    int64_t x = 5;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, square, &x, 8, 8, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    MPROC_ASSERT_OK(mproc_future_wait(m, 10000));
    MPROC_ASSERT_OK(mproc_future_result(m, NULL, NULL));
    for (int i = 0; i < N; i++)
        cr_assert_eq(out[i], (int64_t)i * i);
    MPROC_ASSERT_OK(mproc_future_close(m));
    MPROC_ASSERT_OK(mproc_future_close(f));

    /* A failing item: the map's result is its status. */
    in[17] = -1;
    int st[N];
    mo.statuses = st;
    MPROC_ASSERT_OK(mproc_pool_map_async(p, square, in, N, 8, out, 8, &mo, &m));
    while (mproc_future_done(m) == 0)
        mproc_test_sleep_ms(1);
    MPROC_ASSERT_RC(mproc_future_result(m, NULL, NULL), -EDOM);
    cr_assert_eq(st[17], -EDOM);
    MPROC_ASSERT_OK(mproc_future_close(m));

    /* Closed before it is done: abandoned, the pool goes on. */
    MPROC_ASSERT_OK(mproc_pool_map_async(p, square, in, N, 8, out, 8, NULL, &m));
    MPROC_ASSERT_OK(mproc_future_close(m));
    finish(p);
}

static bool gone(pid_t pid)
{
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return true;
    bool zombie = false;
    if (fgets(buf, sizeof buf, fp)) {
        char *rp = strrchr(buf, ')');
        zombie = rp && rp[1] == ' ' && rp[2] == 'Z';
    }
    fclose(fp);
    return zombie;
}

MPROC_TEST(pool_sched, killed_worker_takes_its_child_processes_along)
{
    map_shared();
    mproc_pool *p = new_pool(1, 0);
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, fork_and_hang, NULL, 0, 0, &f));
    pid_t g = 0;
    for (int i = 0; i < 1000 && !(g = atomic_load(&sh->grandchild)); i++)
        mproc_test_sleep_ms(5);
    cr_assert(g > 0);
    MPROC_ASSERT_OK(mproc_future_cancel(f));
    MPROC_ASSERT_OK(mproc_future_close(f));
    /* The cancel is settled (worker reaped, group killed) by the next call. */
    int64_t x = 2, y;
    MPROC_ASSERT_OK(mproc_pool_map(p, square, &x, 1, 8, &y, 8, NULL, 10000));
    bool dead = false;
    for (int i = 0; i < 400 && !(dead = gone(g)); i++)
        mproc_test_sleep_ms(5);
    cr_assert(dead, "the worker's child %d outlived it", (int)g);
    finish(p);
}

MPROC_TEST(pool_sched, sizes_above_4_gib_are_emsgsize)
{
    mproc_pool *p = new_pool(1, 0);
    int64_t x = 1;
    mproc_future *f;
    MPROC_ASSERT_RC(mproc_pool_submit(p, square, &x, 8, (size_t)1 << 33, &f), MPROC_EMSGSIZE);
    MPROC_ASSERT_RC(mproc_pool_map(p, square, &x, 1, 8, &x, (size_t)1 << 33, NULL, 0),
                    MPROC_EMSGSIZE);
    finish(p);
}

/* Background progress ------------------------------------------------------ */

static _Atomic int bg_done;

static void count_done(void *arg, mproc_future *f)
{
    (void)arg;
    if (mproc_future_result(f, NULL, NULL) == 0)
        atomic_fetch_add(&bg_done, 1);
}

static mproc_pool *new_bg_pool(int workers, int task_timeout_ms)
{
    mproc_pool *p;
    struct mproc_pool_opts o = {
        .workers = workers, .task_timeout_ms = task_timeout_ms, .background = 1};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    return p;
}

/* More futures than slots, and the owner never calls the pool again until
 * every callback ran: the service thread dispatched and collected them. */
MPROC_TEST(pool_sched, background_pool_progresses_without_the_owner)
{
    enum { N = 100 };
    mproc_pool *p = new_bg_pool(2, 0);
    atomic_store(&bg_done, 0);
    struct mproc_pool_submit_opts so = {.on_done = count_done};
    mproc_future *f[N];
    for (int i = 0; i < N; i++) {
        int64_t x = i;
        MPROC_ASSERT_OK(mproc_pool_submit_ex(p, square, &x, 8, 8, &so, &f[i]));
    }
    for (int i = 0; i < 2000 && atomic_load(&bg_done) < N; i++)
        mproc_test_sleep_ms(5);
    cr_assert_eq(atomic_load(&bg_done), N);
    for (int i = 0; i < N; i++) {
        const void *r;
        size_t len;
        MPROC_ASSERT_OK(mproc_future_result(f[i], &r, &len));
        cr_assert_eq(*(const int64_t *)r, (int64_t)i * i);
        MPROC_ASSERT_OK(mproc_future_close(f[i]));
    }
    finish(p);
}

MPROC_TEST(pool_sched, background_pool_applies_timeouts_without_the_owner)
{
    map_shared();
    mproc_pool *p = new_bg_pool(1, 100);
    int32_t hang = 20000;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &hang, 4, 4, &f));
    int rc = MPROC_EAGAIN;
    for (int i = 0; i < 2000 && rc == MPROC_EAGAIN; i++) {
        mproc_test_sleep_ms(5);
        rc = mproc_future_result(f, NULL, NULL);
    }
    MPROC_ASSERT_RC(rc, MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_future_close(f));
    finish(p);
}

struct thr {
    mproc_pool *pool;
    int base;
    int bad;
};

static void *submitter(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < 50; i++) {
        int64_t x = t->base + i, y = 0;
        mproc_future *f;
        if (mproc_pool_submit(t->pool, square, &x, 8, 8, &f) < 0) {
            t->bad++;
            continue;
        }
        const void *r;
        if (mproc_future_wait(f, 10000) < 0 || mproc_future_result(f, &r, NULL) < 0)
            t->bad++;
        else if (memcpy(&y, r, 8), y != x * x)
            t->bad++;
        mproc_future_close(f);
    }
    return NULL;
}

/* Threads submit and wait at the same time as another thread maps. */
MPROC_TEST(pool_sched, background_pool_takes_calls_from_many_threads)
{
    mproc_pool *p = new_bg_pool(2, 0);
    pthread_t th[3];
    struct thr t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = (struct thr){.pool = p, .base = 1000 * i};
        cr_assert_eq(pthread_create(&th[i], NULL, submitter, &t[i]), 0);
    }
    enum { N = 500 };
    int64_t in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    struct mproc_pool_map_opts mo = {.chunksize = 3};
    MPROC_ASSERT_OK(mproc_pool_map(p, square, in, N, 8, out, 8, &mo, 20000));
    for (int i = 0; i < N; i++)
        cr_assert_eq(out[i], (int64_t)i * i);
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        cr_assert_eq(t[i].bad, 0);
    }
    finish(p);
}

/* Output capture ------------------------------------------------------------ */

static int chatty(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)out, (void)ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    printf("hello %d\n", (int)x);
    /* One line in two writes: must still come out as one line. */
    fputs("part-", stderr);
    fprintf(stderr, "rest %d\n", (int)x);
    printf("no newline at the end %d", (int)x);
    fflush(stdout);
    printf("\n");
    *out_len = 0;
    return 0;
}

struct lines {
    pthread_mutex_t mu;
    int out, err, bad;
};

static void on_line(void *arg, int worker, pid_t pid, int stream, const char *line, size_t len)
{
    struct lines *l = arg;
    char buf[128];
    snprintf(buf, sizeof buf, "%.*s", (int)len, line);
    pthread_mutex_lock(&l->mu);
    int x;
    if (worker < 0 || worker > 1 || pid <= 0)
        l->bad++;
    else if (stream == 1 &&
             (sscanf(buf, "hello %d", &x) == 1 || sscanf(buf, "no newline at the end %d", &x) == 1))
        l->out++;
    else if (stream == 2 && sscanf(buf, "part-rest %d", &x) == 1)
        l->err++;
    else
        l->bad++;
    pthread_mutex_unlock(&l->mu);
}

MPROC_TEST(pool_sched, captured_output_comes_line_by_line)
{
    static struct lines l = {.mu = PTHREAD_MUTEX_INITIALIZER};
    mproc_pool *p;
    struct mproc_pool_opts o = {
        .workers = 2, .capture_output = 1, .on_output = on_line, .output_arg = &l};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    int64_t in[6] = {0, 1, 2, 3, 4, 5};
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    MPROC_ASSERT_OK(mproc_pool_map(p, chatty, in, 6, 8, NULL, 0, &mo, 10000));
    finish(p); /* the workers are gone and every line was handed over */
    cr_assert_eq(l.bad, 0);
    cr_assert_eq(l.out, 12);
    cr_assert_eq(l.err, 6);

    struct mproc_pool_opts spawn = {.start_method = MPROC_START_SPAWN, .capture_output = 1};
    MPROC_ASSERT_RC(mproc_pool_create(&p, &spawn), MPROC_ENOTSUP);
}

MPROC_TEST(pool_sched, captured_output_goes_to_the_owners_stdout_with_a_prefix)
{
    char path[] = "/tmp/mproc-capture-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    unlink(path);
    fflush(stdout);
    fflush(stderr);
    int saved = dup(1), saved_err = dup(2);
    dup2(fd, 1);
    dup2(fd, 2);
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 1, .capture_output = 1};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    int64_t x = 7;
    MPROC_ASSERT_OK(mproc_pool_map(p, chatty, &x, 1, 8, NULL, 0, NULL, 10000));
    pid_t pid;
    cr_assert_eq(mproc_pool_worker_pids(p, &pid, 1), 1);
    finish(p);
    dup2(saved, 1);
    dup2(saved_err, 2);
    close(saved);
    close(saved_err);
    char buf[512] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    cr_assert(n > 0);
    char want[128];
    /* stdout and stderr are two pipes: lines keep their order per stream. */
    snprintf(want, sizeof want, "[worker 0 pid %d] hello 7\n", (int)pid);
    cr_assert(strstr(buf, want) != NULL, "got: %s", buf);
    snprintf(want, sizeof want, "[worker 0 pid %d] no newline at the end 7\n", (int)pid);
    cr_assert(strstr(buf, want) != NULL, "got: %s", buf);
    snprintf(want, sizeof want, "[worker 0 pid %d] part-rest 7\n", (int)pid);
    cr_assert(strstr(buf, want) != NULL, "got: %s", buf);
}

/* Timeout 0 tries once: MPROC_EAGAIN, as everywhere in mproc. */
MPROC_TEST(pool_sched, try_once_calls_give_eagain)
{
    mproc_pool *p = new_pool(1, 0);
    int32_t ms = 300, out;
    MPROC_ASSERT_RC(mproc_pool_map(p, sleep_ms_task, &ms, 1, 4, &out, 4, NULL, 0), MPROC_EAGAIN);
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sleep_ms_task, &ms, 4, 4, &f));
    MPROC_ASSERT_RC(mproc_future_wait(f, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_RC(mproc_pool_join(p, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    MPROC_ASSERT_OK(mproc_future_result(f, NULL, NULL));
    MPROC_ASSERT_OK(mproc_future_close(f));
    MPROC_ASSERT_OK(mproc_pool_close(p));
}
