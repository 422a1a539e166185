/* test_pool_mpi.c - the public pool API over MPI ranks (mpirun -n 3: rank 0
 * owns the pool, ranks 1 and 2 serve). Each case is one pool: every rank
 * calls mproc_pool_create_mpi(); the workers' return codes are gathered to
 * rank 0 and checked there.
 */
#include "mpicheck.h"

#include "mproc/pool_mpi.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static int world_rank, world_size;
static int initialized_here; /* set by the initializer in each worker */
static int ctx_value;        /* each rank's own task_ctx target */

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
MPROC_TASK(square)

/* Fails (-7) for multiples of 10. */
static int no_tens(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x % 10 == 0)
        return -7;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}
MPROC_TASK(no_tens)

/* Where it ran: rank, whether the initializer ran there, *(int *)ctx. */
static int whereami(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len;
    int32_t v[3] = {world_rank, initialized_here, ctx ? *(int *)ctx : -1};
    memcpy(out, v, sizeof v);
    *out_len = sizeof v;
    return 0;
}
MPROC_TASK(whereami)

static int nap(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)out, (void)ctx;
    struct timespec ts = {0, 30 * 1000000};
    nanosleep(&ts, NULL);
    *out_len = 0;
    return 0;
}
MPROC_TASK(nap)

/* The worker's rank and its CPU time so far (user + system, ns). */
static int cpu_used(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)ctx;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    int64_t v[2] = {world_rank, (int64_t)ru.ru_utime.tv_sec * 1000000000 +
                                    (int64_t)ru.ru_utime.tv_usec * 1000 +
                                    (int64_t)ru.ru_stime.tv_sec * 1000000000 +
                                    (int64_t)ru.ru_stime.tv_usec * 1000};
    memcpy(out, v, sizeof v);
    *out_len = sizeof v;
    return 0;
}
MPROC_TASK(cpu_used)

static int not_registered(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)out, (void)out_len, (void)ctx;
    return 0;
}

static int mark_initialized(void *arg)
{
    initialized_here = *(int *)arg;
    return 0;
}

static const int served[3] = {0, MPROC_MPI_SERVED, MPROC_MPI_SERVED};

static void round_end(int my_rc, const int *want)
{
    int all[3] = {0};
    MPI_Gather(&my_rc, 1, MPI_INT, all, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (world_rank == 0)
        for (int r = 1; r < world_size; r++) {
            if (all[r] != want[r])
                fprintf(stderr, "rank %d returned %d (%s), expected %d\n", r, all[r],
                        mproc_err_name(all[r]), want[r]);
            CHECK(all[r] == want[r]);
        }
}

static void finish_pool(mproc_pool *pool)
{
    CHECK_RC(mproc_pool_shutdown(pool), 0);
    CHECK_RC(mproc_pool_join(pool, MPROC_FOREVER), 0);
    mproc_pool_close(pool);
}

static void pool_mpi_map_squares_every_item_with_any_chunk_size(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        CHECK_RC(rc, 0);
        CHECK(mproc_pool_workers(pool) == 2);
        enum { N = 2000 };
        int64_t *in = malloc(N * sizeof *in), *out = malloc(N * sizeof *out);
        for (int i = 0; i < N; i++)
            in[i] = i - 1000;
        size_t sizes[] = {0, 1, 7, 5000};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            struct mproc_pool_map_opts mo = {.chunksize = sizes[k]};
            memset(out, 0, N * sizeof *out);
            CHECK_RC(mproc_pool_map(pool, square, in, N, sizeof *in, out, sizeof *out, &mo,
                                    MPROC_FOREVER),
                     0);
            int bad = 0;
            for (int i = 0; i < N; i++)
                bad += out[i] != in[i] * in[i];
            CHECK(bad == 0);
        }
        free(in);
        free(out);
        finish_pool(pool);
    }
    round_end(rc, served);
}

static void pool_mpi_map_of_unregistered_task_gives_enoentry(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        int64_t in[4] = {1, 2, 3, 4}, out[4];
        CHECK_RC(mproc_pool_map(pool, not_registered, in, 4, 8, out, 8, NULL, MPROC_FOREVER),
                 MPROC_ENOENTRY);
        CHECK_RC(mproc_pool_map(pool, square, in, 4, 8, out, 8, NULL, MPROC_FOREVER), 0);
        CHECK(out[3] == 16);
        finish_pool(pool);
    }
    round_end(rc, served);
}

static void pool_mpi_task_failures_are_per_item_statuses(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        enum { N = 100 };
        int64_t in[N], out[N];
        int statuses[N];
        for (int i = 0; i < N; i++)
            in[i] = i + 1;
        struct mproc_pool_map_opts mo = {.chunksize = 3, .statuses = statuses};
        CHECK_RC(mproc_pool_map(pool, no_tens, in, N, 8, out, 8, &mo, MPROC_FOREVER), -7);
        int bad = 0;
        for (int i = 0; i < N; i++)
            bad += in[i] % 10 == 0 ? statuses[i] != -7 : (statuses[i] != 0 || out[i] != in[i]);
        CHECK(bad == 0);
        finish_pool(pool);
    }
    round_end(rc, served);
}

struct seen {
    int count[200];
    int bad;
};

static int on_result(void *arg, uint64_t index, const void *out, size_t out_len,
                     const struct mproc_pool_error *err)
{
    struct seen *s = arg;
    int64_t y;
    if (index >= 200 || err || out_len != 8) {
        s->bad++;
        return 0;
    }
    memcpy(&y, out, 8);
    s->bad += y != (int64_t)(index * index);
    s->count[index]++;
    return 0;
}

static void pool_mpi_map_unordered_delivers_every_index_once(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        int64_t in[200];
        for (int i = 0; i < 200; i++)
            in[i] = i;
        struct seen s = {{0}, 0};
        struct mproc_pool_map_opts mo = {.chunksize = 1};
        CHECK_RC(mproc_pool_map_unordered(pool, square, in, 200, 8, 8, on_result, &s, &mo,
                                          MPROC_FOREVER),
                 0);
        int once = 0;
        for (int i = 0; i < 200; i++)
            once += s.count[i] == 1;
        CHECK(once == 200 && s.bad == 0);
        finish_pool(pool);
    }
    round_end(rc, served);
}

static void pool_mpi_future_gives_its_result(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        mproc_future *f[10];
        for (int64_t i = 0; i < 10; i++)
            CHECK_RC(mproc_pool_submit(pool, square, &i, 8, 8, &f[i]), 0);
        for (int64_t i = 9; i >= 0; i--) {
            CHECK_RC(mproc_future_wait(f[i], MPROC_FOREVER), 0);
            const void *out = NULL;
            size_t len = 0;
            CHECK_RC(mproc_future_result(f[i], &out, &len), 0);
            int64_t y = -1;
            if (out && len == 8)
                memcpy(&y, out, 8);
            CHECK(y == i * i);
            mproc_future_close(f[i]);
        }
        finish_pool(pool);
    }
    round_end(rc, served);
}

static void pool_mpi_initializer_and_task_ctx_are_each_ranks_own(void)
{
    mproc_pool *pool = NULL;
    int one = 1;
    ctx_value = 100 + world_rank;
    struct mproc_pool_opts o = {
        .initializer = mark_initialized, .init_arg = &one, .task_ctx = &ctx_value};
    int rc = mproc_pool_create_mpi(&pool, &o);
    if (world_rank == 0) {
        CHECK_RC(rc, 0);
        int32_t in[8] = {0}, out[8][3];
        struct mproc_pool_map_opts mo = {.chunksize = 1};
        CHECK_RC(mproc_pool_map(pool, whereami, in, 8, 4, out, sizeof out[0], &mo, MPROC_FOREVER),
                 0);
        int bad = 0;
        for (int i = 0; i < 8; i++)
            bad += out[i][0] < 1 || out[i][0] > 2 || out[i][1] != 1 || out[i][2] != 100 + out[i][0];
        CHECK(bad == 0);
        CHECK(initialized_here == 0); /* rank 0 runs no task and no initializer */
        finish_pool(pool);
    }
    round_end(rc, served);
}

static void pool_mpi_terminate_cancels_unfinished_futures(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        mproc_future *f[40];
        int64_t x = 0;
        for (int i = 0; i < 40; i++)
            CHECK_RC(mproc_pool_submit(pool, nap, &x, 8, 0, &f[i]), 0);
        CHECK_RC(mproc_future_wait(f[0], MPROC_FOREVER), 0);
        CHECK_RC(mproc_pool_terminate(pool), 0);
        int canceled = 0;
        for (int i = 0; i < 40; i++) {
            canceled += mproc_future_result(f[i], NULL, NULL) == MPROC_ECANCELED;
            mproc_future_close(f[i]);
        }
        CHECK(canceled > 0);
        rc = mproc_pool_submit(pool, nap, &x, 8, 0, &f[0]);
        CHECK(rc == MPROC_ECANCELED || rc == MPROC_ECLOSED);
        rc = 0;
        mproc_pool_close(pool);
    }
    round_end(rc, served);
}

static void pool_mpi_free_without_join_releases_the_workers(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        int64_t in[3] = {1, 2, 3}, out[3];
        CHECK_RC(mproc_pool_map(pool, square, in, 3, 8, out, 8, NULL, MPROC_FOREVER), 0);
        mproc_pool_close(pool);
    }
    round_end(rc, served);
}

static void pool_mpi_map_times_out_and_the_pool_stays_usable(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        int64_t in[8] = {0}, out[8];
        struct mproc_pool_map_opts mo = {.chunksize = 1};
        /* 8 naps of 30 ms on 2 workers take 120 ms; the map may wait 10. */
        CHECK_RC(mproc_pool_map(pool, nap, in, 8, 8, NULL, 0, &mo, 10), MPROC_ETIMEDOUT);
        for (int i = 0; i < 8; i++)
            in[i] = i;
        CHECK_RC(mproc_pool_map(pool, square, in, 8, 8, out, 8, &mo, MPROC_FOREVER), 0);
        CHECK(out[7] == 49);
        finish_pool(pool);
    }
    round_end(rc, served);
}

struct counter {
    uint64_t next, limit, sum;
};

static int next_item(void *arg, uint64_t index, void *item, size_t *item_len)
{
    struct counter *c = arg;
    (void)index;
    if (c->next == c->limit)
        return 0;
    int64_t x = (int64_t)c->next++;
    memcpy(item, &x, sizeof x);
    *item_len = sizeof x;
    return 1;
}

static int add_result(void *arg, uint64_t index, const void *out, size_t out_len,
                      const struct mproc_pool_error *err)
{
    struct counter *c = arg;
    (void)index;
    int64_t y = 0;
    if (!err && out_len == 8)
        memcpy(&y, out, 8);
    c->sum += (uint64_t)y;
    return 0;
}

static void pool_mpi_map_stream_pulls_every_item(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        struct counter c = {0, 1000, 0};
        struct mproc_pool_map_opts mo = {.max_in_flight = 16};
        CHECK_RC(mproc_pool_map_stream(pool, square, next_item, &c, 8, 8, add_result, &c, &mo,
                                       MPROC_FOREVER),
                 0);
        CHECK(c.next == 1000);
        CHECK(c.sum == 999ull * 1000 * 1999 / 6); /* sum of squares below 1000 */
        finish_pool(pool);
    }
    round_end(rc, served);
}

/* Between two maps the workers idle for a second; each reports its CPU time
 * before and after (a chunk of 1 goes to the least loaded worker, so two
 * items reach both). A busy-polling rank would use about 1000 ms. */
static void pool_mpi_idle_workers_use_little_cpu(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        int64_t in[2] = {0, 0}, out[2][2][2];
        struct mproc_pool_map_opts mo = {.chunksize = 1};
        CHECK_RC(mproc_pool_map(pool, cpu_used, in, 2, 8, out[0], 16, &mo, MPROC_FOREVER), 0);
        sleep(1);
        CHECK_RC(mproc_pool_map(pool, cpu_used, in, 2, 8, out[1], 16, &mo, MPROC_FOREVER), 0);
        for (int r = 1; r <= 2; r++) {
            int64_t before = -1, after = -1;
            for (int i = 0; i < 2; i++) {
                if (out[0][i][0] == r)
                    before = out[0][i][1];
                if (out[1][i][0] == r)
                    after = out[1][i][1];
            }
            CHECK(before >= 0 && after >= before);
            if (before >= 0 && after >= before) {
                double ms = (double)(after - before) / 1e6;
                printf("pool_mpi: idle worker rank %d used %.1f ms of CPU in 1 s\n", r, ms);
                CHECK(ms < 250.0);
            }
        }
        finish_pool(pool);
    }
    round_end(rc, served);
}

static int mpi_done_ok;

static void mpi_on_done(void *arg, mproc_future *f)
{
    (void)arg;
    if (mproc_future_result(f, NULL, NULL) == 0)
        mpi_done_ok++;
}

/* What the engine gives every backend: done callbacks, waiting on many,
 * map_async, cancel of a task still queued at the owner; what MPI cannot
 * do is refused (a task timeout; cancelling a task already sent). */
static void pool_mpi_callbacks_wait_many_map_async_and_cancel(void)
{
    mproc_pool *pool = NULL;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (world_rank == 0) {
        enum { N = 40 };
        mproc_future *f[N];
        struct mproc_pool_submit_opts so = {.on_done = mpi_on_done};
        int64_t x = 0;
        mpi_done_ok = 0;
        for (int i = 0; i < N; i++)
            CHECK_RC(mproc_pool_submit_ex(pool, nap, &x, 8, 0, &so, &f[i]), 0);
        /* 2 ranks x 8 slots: the last one still waits at rank 0. */
        CHECK_RC(mproc_future_cancel(f[N - 1]), 0);
        CHECK_RC(mproc_future_result(f[N - 1], NULL, NULL), MPROC_ECANCELED);
        rc = mproc_future_cancel(f[0]);
        CHECK(rc == MPROC_EBUSY || rc == MPROC_EALREADY);
        size_t idx;
        int got = 0;
        while (mproc_future_wait_any(f, N, 20000, &idx) == 0) {
            got++;
            mproc_future_close(f[idx]);
            f[idx] = NULL;
        }
        CHECK(got == N);
        CHECK(mpi_done_ok == N - 1);
        so = (struct mproc_pool_submit_opts){.task_timeout_ms = 100};
        CHECK_RC(mproc_pool_submit_ex(pool, nap, &x, 8, 0, &so, &f[0]), MPROC_ENOTSUP);
        int64_t in[50], out[50];
        for (int i = 0; i < 50; i++)
            in[i] = i;
        mproc_future *m;
        CHECK_RC(mproc_pool_map_async(pool, square, in, 50, 8, out, 8, NULL, &m), 0);
        CHECK_RC(mproc_future_wait(m, 20000), 0);
        CHECK_RC(mproc_future_result(m, NULL, NULL), 0);
        int bad = 0;
        for (int i = 0; i < 50; i++)
            bad += out[i] != (int64_t)i * i;
        CHECK(bad == 0);
        mproc_future_close(m);
        finish_pool(pool);
        rc = 0;
    }
    round_end(rc, served);
    struct mproc_pool_opts o = {.background = 1};
    rc = mproc_pool_create_mpi(&pool, &o);
    if (world_rank == 0)
        CHECK_RC(rc, MPROC_ENOTSUP);
    static const int want[3] = {0, MPROC_ENOTSUP, MPROC_ENOTSUP};
    round_end(rc, want);
}

static void pool_mpi_bad_options_fail_on_every_rank(void)
{
    mproc_pool *pool = NULL;
    struct mproc_pool_opts o = {.max_tasks_per_worker = 5};
    int rc = mproc_pool_create_mpi(&pool, &o);
    if (world_rank == 0)
        CHECK_RC(rc, MPROC_EINVAL);
    static const int want[3] = {0, MPROC_EINVAL, MPROC_EINVAL};
    round_end(rc, want);
    o = (struct mproc_pool_opts){.slot_bytes = 100};
    rc = mproc_pool_create_mpi(&pool, &o);
    if (world_rank == 0)
        CHECK_RC(rc, MPROC_EINVAL);
    round_end(rc, want);
    rc = mproc_pool_create_mpi(world_rank == 0 ? NULL : &pool, NULL);
    if (world_rank == 0)
        CHECK_RC(rc, MPROC_EINVAL);
    round_end(rc, want);
}

static void pool_mpi_one_rank_communicator_has_no_worker(void)
{
    if (world_rank == 0) {
        mproc_pool *pool = NULL;
        CHECK_RC(mproc_pool_create_mpi_comm(&pool, NULL, MPI_COMM_SELF), MPROC_EINVAL);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    mpicheck_begin(60);
    world_rank = mproc_mpi_init(&argc, &argv);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size != 3) {
        if (world_rank == 0)
            fprintf(stderr, "run with mpirun -n 3 (got %d ranks)\n", world_size);
        mproc_mpi_finalize();
        return 1;
    }
    pool_mpi_map_squares_every_item_with_any_chunk_size();
    pool_mpi_map_of_unregistered_task_gives_enoentry();
    pool_mpi_task_failures_are_per_item_statuses();
    pool_mpi_map_unordered_delivers_every_index_once();
    pool_mpi_future_gives_its_result();
    pool_mpi_initializer_and_task_ctx_are_each_ranks_own();
    pool_mpi_terminate_cancels_unfinished_futures();
    pool_mpi_free_without_join_releases_the_workers();
    pool_mpi_map_times_out_and_the_pool_stays_usable();
    pool_mpi_map_stream_pulls_every_item();
    pool_mpi_idle_workers_use_little_cpu();
    pool_mpi_callbacks_wait_many_map_async_and_cancel();
    pool_mpi_bad_options_fail_on_every_rank();
    pool_mpi_one_rank_communicator_has_no_worker();
    int status = world_rank == 0 ? mpicheck_end("test_pool_mpi") : 0;
    mproc_mpi_finalize();
    return status;
}
