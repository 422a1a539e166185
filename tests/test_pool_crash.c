/* test_pool_crash.c - pool workers dying mid-task (SIGKILL by the task
 * itself, SIGKILL from outside, exit() inside a task) under each death
 * policy: every other result stays right, the failed items carry the pid
 * and the signal, unstarted items are dispatched again, and the pool goes
 * on. Also: workers die with their owner. */
#include "harness.h"
#include "pool/local.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Items whose index % KILL_EVERY == KILL_AT make their worker SIGKILL itself
 * - on every attempt, or only on the first when `attempts` is shared. */
#define KILL_EVERY 37
#define KILL_AT 5

struct crash_ctx {
    _Atomic int *attempts; /* shared (MAP_SHARED) per-item start counters, or NULL */
    int kill_first_only;
};

static bool is_victim(int64_t x)
{
    return x % KILL_EVERY == KILL_AT;
}

static int killer(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len;
    struct crash_ctx *c = ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    int started = c->attempts ? atomic_fetch_add(&c->attempts[x], 1) : 0;
    if (is_victim(x) && (!c->kill_first_only || started == 0))
        raise(SIGKILL);
    x = x * 2 + 1;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

static int exiter(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x == 3)
        _exit(3);
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

/* Finds its own slot's header before its input (checked by off_in,
 * so a changed layout fails the test instead of passing it) and overwrites
 * the sizes in it with huge ones, then answers normally. */
static int scribbler(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x % 5 == 2) {
        struct mproc__lp_slot *h = NULL;
        for (size_t k = sizeof *h; k < 512 && !h; k += 8) {
            struct mproc__lp_slot *c = (struct mproc__lp_slot *)(void *)((char *)in - k);
            /* in is input j of the chunk: k == off_in + j * in_stride */
            if (c->count >= 1 && c->count <= 64 && c->in_stride == sizeof x &&
                c->off_in >= sizeof *c && k >= c->off_in && (k - c->off_in) % sizeof x == 0 &&
                (k - c->off_in) / sizeof x < c->count)
                h = c;
        }
        if (!h)
            return -EPROTO;
        h->count = UINT32_MAX;
        h->in_stride = h->out_size = 1u << 30;
        h->off_status = h->off_out_len = h->off_in_len = h->off_in = h->off_out = UINT32_MAX - 3;
    }
    x = x * 2 + 1;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

static int slow_double(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    mproc_test_sleep_ms(2);
    x = x * 2 + 1;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

static _Atomic int *shared_counters(size_t n)
{
    void *m =
        mmap(NULL, n * sizeof(int), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(m, MAP_FAILED);
    return m;
}

static mproc_pool *crash_pool(int workers, int policy, int retries, struct crash_ctx *ctx)
{
    mproc_pool *p;
    struct mproc_pool_opts o = {
        .workers = workers, .on_death = policy, .max_retries = retries, .task_ctx = ctx};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    return p;
}

static void finish(mproc_pool *p)
{
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    mproc_pool_close(p);
}

enum { N = 600 };
static int64_t in[N], out[N];
static int st[N];
static struct mproc_pool_error err[N];

static void fill_in(void)
{
    for (int i = 0; i < N; i++)
        in[i] = i;
    memset(out, 0, sizeof out);
    memset(st, 0x55, sizeof st);
    memset(err, 0x55, sizeof err);
}

static void check_fail_task(size_t chunk)
{
    struct crash_ctx ctx = {0};
    mproc_pool *p = crash_pool(2, MPROC_POOL_FAIL_TASK, 0, &ctx);
    pid_t pids[2];
    cr_assert_eq(mproc_pool_worker_pids(p, pids, 2), 2);
    fill_in();
    struct mproc_pool_map_opts mo = {.chunksize = chunk, .statuses = st, .errors = err};
    MPROC_ASSERT_RC(mproc_pool_map(p, killer, in, N, 8, out, 8, &mo, 20000), MPROC_EWORKERDIED);
    int victims = 0;
    for (int i = 0; i < N; i++) {
        if (is_victim(i)) {
            victims++;
            cr_assert_eq(st[i], MPROC_EWORKERDIED, "chunk %zu item %d", chunk, i);
            cr_assert_eq(err[i].code, MPROC_EWORKERDIED);
            cr_assert_eq(err[i].index, (uint64_t)i);
            cr_assert_eq(err[i].signal, SIGKILL);
            cr_assert_eq(err[i].exit_code, -1);
            cr_assert_eq(err[i].attempts, 1);
            cr_assert(err[i].pid > 0 && err[i].pid != getpid());
        } else {
            cr_assert_eq(st[i], 0, "chunk %zu item %d status %d", chunk, i, st[i]);
            cr_assert_eq(err[i].code, 0);
            cr_assert_eq(out[i], 2 * i + 1);
        }
    }
    struct mproc_pool_stats s;
    MPROC_ASSERT_OK(mproc_pool_stats(p, &s));
    cr_assert_eq(s.worker_deaths, (uint64_t)victims);
    cr_assert_eq(s.items_failed, (uint64_t)victims);
    if (chunk > 1)
        cr_assert_gt(s.redispatched, 0);
    /* The pool goes on with replaced workers. */
    pid_t now[2];
    cr_assert_eq(mproc_pool_worker_pids(p, now, 2), 2);
    for (int i = 0; i < N; i++)
        in[i] = 6 + KILL_EVERY * (int64_t)(i % 3); /* no victims */
    MPROC_ASSERT_OK(mproc_pool_map(p, killer, in, N, 8, out, 8, NULL, 20000));
    finish(p);
}

MPROC_TEST(pool_crash, fail_task_policy_chunk_1)
{
    check_fail_task(1);
}

MPROC_TEST(pool_crash, fail_task_policy_chunk_8_redispatches_unstarted_items)
{
    check_fail_task(8);
}

MPROC_TEST(pool_crash, fail_task_policy_automatic_chunks)
{
    check_fail_task(0);
}

MPROC_TEST(pool_crash, retry_policy_recovers_every_item)
{
    struct crash_ctx ctx = {.attempts = shared_counters(N), .kill_first_only = 1};
    mproc_pool *p = crash_pool(2, MPROC_POOL_RETRY_TASK, 2, &ctx);
    fill_in();
    struct mproc_pool_map_opts mo = {.chunksize = 5, .statuses = st, .errors = err};
    MPROC_ASSERT_OK(mproc_pool_map(p, killer, in, N, 8, out, 8, &mo, 20000));
    int victims = 0;
    for (int i = 0; i < N; i++) {
        cr_assert_eq(st[i], 0);
        cr_assert_eq(out[i], 2 * i + 1);
        victims += is_victim(i);
        /* Each item started once, victims twice: nothing lost, nothing run twice. */
        cr_assert_eq(ctx.attempts[i], is_victim(i) ? 2 : 1, "item %d started %d times", i,
                     ctx.attempts[i]);
    }
    struct mproc_pool_stats s;
    MPROC_ASSERT_OK(mproc_pool_stats(p, &s));
    cr_assert_eq(s.retried, (uint64_t)victims);
    cr_assert_eq(s.worker_deaths, (uint64_t)victims);
    finish(p);
    munmap((void *)ctx.attempts, N * sizeof(int));
}

MPROC_TEST(pool_crash, retry_policy_gives_up_after_max_retries)
{
    struct crash_ctx ctx = {.attempts = shared_counters(N)};
    mproc_pool *p = crash_pool(2, MPROC_POOL_RETRY_TASK, 2, &ctx);
    fill_in();
    struct mproc_pool_map_opts mo = {.chunksize = 3, .statuses = st, .errors = err};
    MPROC_ASSERT_RC(mproc_pool_map(p, killer, in, 100, 8, out, 8, &mo, 20000), MPROC_EWORKERDIED);
    for (int i = 0; i < 100; i++) {
        if (is_victim(i)) {
            cr_assert_eq(err[i].code, MPROC_EWORKERDIED);
            cr_assert_eq(err[i].attempts, 3);
            cr_assert_eq(err[i].signal, SIGKILL);
            cr_assert_eq(ctx.attempts[i], 3);
        } else {
            cr_assert_eq(st[i], 0);
            cr_assert_eq(out[i], 2 * i + 1);
            cr_assert_eq(ctx.attempts[i], 1);
        }
    }
    finish(p);
    munmap((void *)ctx.attempts, N * sizeof(int));
}

MPROC_TEST(pool_crash, fail_pool_policy_breaks_the_pool)
{
    struct crash_ctx ctx = {0};
    mproc_pool *p = crash_pool(2, MPROC_POOL_FAIL_POOL, 0, &ctx);
    fill_in();
    struct mproc_pool_map_opts mo = {.chunksize = 1, .statuses = st, .errors = err};
    MPROC_ASSERT_RC(mproc_pool_map(p, killer, in, N, 8, out, 8, &mo, 20000), MPROC_EBROKEN);
    /* Exactly one death broke the pool (the first the owner saw): its item
     * failed with the worker's pid and signal; the others either finished
     * before, or failed with MPROC_EBROKEN. */
    int died = 0;
    for (int i = 0; i < N; i++) {
        if (st[i] == 0) {
            cr_assert_eq(out[i], 2 * i + 1);
        } else if (st[i] == MPROC_EWORKERDIED) {
            died++;
            cr_assert(is_victim(i));
            cr_assert_eq(err[i].signal, SIGKILL);
            cr_assert_gt(err[i].pid, 0);
        } else {
            cr_assert_eq(st[i], MPROC_EBROKEN, "item %d: %s", i, mproc_err_name(st[i]));
        }
    }
    cr_assert_geq(died, 1);
    cr_assert_eq(mproc_test_child_count(), 0, "a broken pool keeps no worker");
    MPROC_ASSERT_RC(mproc_pool_map(p, killer, in, 4, 8, out, 8, NULL, 1000), MPROC_EBROKEN);
    mproc_future *f;
    MPROC_ASSERT_RC(mproc_pool_submit(p, killer, in, 8, 8, &f), MPROC_EBROKEN);
    mproc_pool_close(p);
}

MPROC_TEST(pool_crash, exit_inside_a_task_reports_the_exit_code)
{
    struct crash_ctx ctx = {0};
    mproc_pool *p = crash_pool(2, MPROC_POOL_FAIL_TASK, 0, &ctx);
    fill_in();
    struct mproc_pool_map_opts mo = {.chunksize = 2, .statuses = st, .errors = err};
    MPROC_ASSERT_RC(mproc_pool_map(p, exiter, in, 10, 8, out, 8, &mo, 20000), MPROC_EWORKERDIED);
    cr_assert_eq(err[3].code, MPROC_EWORKERDIED);
    cr_assert_eq(err[3].signal, 0);
    cr_assert_eq(err[3].exit_code, 3);
    for (int i = 0; i < 10; i++)
        if (i != 3)
            cr_assert_eq(out[i], i);
    finish(p);
}

MPROC_TEST(pool_crash, future_of_a_killed_worker_fails_with_its_pid)
{
    struct crash_ctx ctx = {0};
    mproc_pool *p = crash_pool(1, MPROC_POOL_FAIL_TASK, 0, &ctx);
    int64_t x = KILL_AT;
    mproc_future *f;
    MPROC_ASSERT_OK(mproc_pool_submit(p, killer, &x, 8, 8, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    MPROC_ASSERT_RC(mproc_future_result(f, NULL, NULL), MPROC_EWORKERDIED);
    struct mproc_pool_error e;
    MPROC_ASSERT_OK(mproc_future_error(f, &e));
    cr_assert_eq(e.signal, SIGKILL);
    cr_assert_gt(e.pid, 0);
    mproc_future_close(f);
    x = 1;
    MPROC_ASSERT_OK(mproc_pool_submit(p, killer, &x, 8, 8, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    const void *r;
    MPROC_ASSERT_OK(mproc_future_result(f, &r, NULL));
    cr_assert_eq(*(const int64_t *)r, 3);
    mproc_future_close(f);
    finish(p);
}

MPROC_TEST(pool_crash, death_is_seen_even_when_sigchld_is_ignored)
{
    /* With SIGCHLD ignored the kernel reaps children itself: the pool learns
     * of the death from the pidfd, without an exit status. */
    signal(SIGCHLD, SIG_IGN);
    struct crash_ctx ctx = {0};
    mproc_pool *p = crash_pool(2, MPROC_POOL_FAIL_TASK, 0, &ctx);
    fill_in();
    struct mproc_pool_map_opts mo = {.chunksize = 1, .statuses = st, .errors = err};
    MPROC_ASSERT_RC(mproc_pool_map(p, killer, in, 100, 8, out, 8, &mo, 20000), MPROC_EWORKERDIED);
    for (int i = 0; i < 100; i++) {
        if (is_victim(i)) {
            cr_assert_eq(st[i], MPROC_EWORKERDIED);
            cr_assert_gt(err[i].pid, 0);
        } else {
            cr_assert_eq(out[i], 2 * i + 1);
        }
    }
    finish(p);
    signal(SIGCHLD, SIG_DFL);
}

struct ostream {
    uint64_t produced, expect, bad, victims;
};
static int ostream_next(void *arg, uint64_t index, void *item, size_t *item_len)
{
    struct ostream *o = arg;
    if (o->produced == 400)
        return 0;
    int64_t x = (int64_t)index;
    memcpy(item, &x, sizeof x);
    *item_len = sizeof x;
    o->produced++;
    return 1;
}
static int ostream_result(void *arg, uint64_t index, const void *res, size_t res_len,
                          const struct mproc_pool_error *e)
{
    struct ostream *o = arg;
    if (index != o->expect++)
        o->bad++;
    if (is_victim((int64_t)index)) {
        o->victims++;
        if (!e || e->code != MPROC_EWORKERDIED || e->signal != SIGKILL || e->index != index)
            o->bad++;
        return 0;
    }
    int64_t v;
    memcpy(&v, res, sizeof v);
    if (e || res_len != 8 || v != 2 * (int64_t)index + 1)
        o->bad++;
    return 0;
}

MPROC_TEST(pool_crash, ordered_stream_keeps_order_across_worker_deaths)
{
    struct crash_ctx ctx = {0};
    mproc_pool *p = crash_pool(2, MPROC_POOL_FAIL_TASK, 0, &ctx);
    struct ostream o = {0};
    struct mproc_pool_map_opts mo = {.chunksize = 3, .max_in_flight = 30, .ordered = 1};
    MPROC_ASSERT_RC(
        mproc_pool_map_stream(p, killer, ostream_next, &o, 8, 8, ostream_result, &o, &mo, 20000),
        MPROC_EWORKERDIED);
    cr_assert_eq(o.expect, 400);
    cr_assert_eq(o.bad, 0);
    cr_assert_eq(o.victims, 11); /* 5, 42, ..., 375 */
    finish(p);
}

/* The test kills worker pids from outside, from the progress callback, many
 * times during one map. */
struct sniper {
    mproc_pool *pool;
    int kills, every;
    uint64_t next_at;
};
static void snipe(void *arg, uint64_t done, uint64_t total)
{
    struct sniper *s = arg;
    (void)total;
    if (done < s->next_at || s->kills >= 40)
        return;
    s->next_at = done + (uint64_t)s->every;
    pid_t pids[8];
    int n = mproc_pool_worker_pids(s->pool, pids, 8);
    if (n > 0) {
        kill(pids[s->kills % n], SIGKILL);
        s->kills++;
    }
}

static void check_sniped(int policy)
{
    enum { M = 1500 };
    static int64_t sin[M], sout[M];
    static int sst[M];
    static struct mproc_pool_error serr[M];
    for (int i = 0; i < M; i++)
        sin[i] = i;
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 3, .on_death = policy, .max_retries = 50};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    struct sniper s = {.pool = p, .every = 30, .next_at = 10};
    struct mproc_pool_map_opts mo = {
        .chunksize = 2, .statuses = sst, .errors = serr, .progress = snipe, .progress_arg = &s};
    int rc = mproc_pool_map(p, slow_double, sin, M, 8, sout, 8, &mo, 25000);
    cr_assert(rc == 0 || rc == MPROC_EWORKERDIED, "map gave %s", mproc_err_name(rc));
    cr_assert_geq(s.kills, 20);
    int failed = 0;
    for (int i = 0; i < M; i++) {
        if (sst[i] == 0) {
            cr_assert_eq(sout[i], 2 * i + 1);
            continue;
        }
        failed++;
        cr_assert_eq(sst[i], MPROC_EWORKERDIED);
        cr_assert_eq(serr[i].signal, SIGKILL);
        cr_assert_eq(serr[i].index, (uint64_t)i);
        cr_assert_gt(serr[i].pid, 0);
    }
    cr_assert_leq(failed, s.kills, "at most one item per kill fails");
    if (policy == MPROC_POOL_RETRY_TASK)
        cr_assert_eq(failed, 0);
    struct mproc_pool_stats st2;
    MPROC_ASSERT_OK(mproc_pool_stats(p, &st2));
    cr_assert_eq(st2.worker_deaths, (uint64_t)s.kills);
    int64_t a = 20, b;
    MPROC_ASSERT_OK(mproc_pool_map(p, slow_double, &a, 1, 8, &b, 8, NULL, 10000));
    cr_assert_eq(b, 41);
    finish(p);
}

MPROC_TEST(pool_crash, workers_killed_from_outside_many_times_fail_task)
{
    check_sniped(MPROC_POOL_FAIL_TASK);
}

MPROC_TEST(pool_crash, workers_killed_from_outside_many_times_retry)
{
    check_sniped(MPROC_POOL_RETRY_TASK);
}

static bool pid_gone(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f)
        return true;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *rp = strrchr(buf, ')');
    return rp && rp[1] == ' ' && (rp[2] == 'Z' || rp[2] == 'X');
}

static int owner_then_hang(void *arg)
{
    int fd = *(int *)arg;
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 3};
    if (mproc_pool_create(&p, &o) < 0)
        return 1;
    pid_t pids[3];
    if (mproc_pool_worker_pids(p, pids, 3) != 3)
        return 2;
    if (write(fd, pids, sizeof pids) != (ssize_t)sizeof pids)
        return 3;
    for (;;)
        pause();
}

MPROC_TEST(pool_crash, workers_die_when_the_owner_is_sigkilled)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    pid_t owner = mproc_test_fork(owner_then_hang, &fds[1]);
    pid_t pids[3];
    cr_assert_eq(read(fds[0], pids, sizeof pids), (ssize_t)sizeof pids);
    close(fds[0]);
    close(fds[1]);
    kill(owner, SIGKILL);
    int status = mproc_test_wait(owner, 10000);
    cr_assert(WIFSIGNALED(status));
    for (int i = 0; i < 3; i++) {
        int waited = 0;
        while (!pid_gone(pids[i]) && waited < 5000) {
            mproc_test_sleep_ms(10);
            waited += 10;
        }
        cr_assert(pid_gone(pids[i]), "worker %d outlived its owner", (int)pids[i]);
    }
}

/* A task that overwrites its slot's header must not make the owner read or
 * write outside the slot: the owner builds results from what it posted. */
MPROC_TEST(pool_crash, task_scribbling_its_slot_header_does_not_crash_owner)
{
    enum { NS = 40 };
    int64_t sin[NS], sout[NS];
    int sst[NS];
    for (int i = 0; i < NS; i++)
        sin[i] = i;
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 2};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    const size_t chunks[] = {1, 4};
    for (size_t c = 0; c < 2; c++) {
        memset(sst, 0x55, sizeof sst);
        struct mproc_pool_map_opts mo = {.chunksize = chunks[c], .statuses = sst};
        int rc = mproc_pool_map(p, scribbler, sin, NS, 8, sout, 8, &mo, 20000);
        cr_assert(rc == 0 || rc == MPROC_ECORRUPT || rc == MPROC_EOVERFLOW, "%s",
                  mproc_err_name(rc));
        for (int i = 0; i < NS; i++) {
            cr_assert_neq(sst[i], -EPROTO, "the slot header was not found");
            if (sst[i] == 0)
                cr_assert_eq(sout[i], 2 * i + 1);
            else
                cr_assert(sst[i] == MPROC_ECORRUPT || sst[i] == MPROC_EOVERFLOW, "item %d: %s", i,
                          mproc_err_name(sst[i]));
        }
        /* The item that scribbled comes back intact: it ran to the end. */
        cr_assert_eq(sst[2], 0, "%s", mproc_err_name(sst[2]));
    }
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    mproc_pool_close(p);
}
