/* test_pool_mpi_backend.c - the MPI backend beneath the pool engine, driven
 * directly through its vtable (post / poll / release / stop / kill), under
 * mpirun -n 3: rank 0 is the owner, ranks 1 and 2 serve.
 *
 * Each case is one pool round: rank 0 starts the backend and checks what it
 * sees; the workers sit in mproc_pool_create_mpi_comm() and their return
 * codes are gathered to rank 0 and checked there.
 */
#include "mpicheck.h"
#include "pool/pool_internal.h"

#include "mproc/pool_mpi.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

MPROC_API extern const struct mproc__pool_backend mproc__pool_mpi_backend;
MPROC_API int mproc__pool_mpi_start(MPI_Comm comm, const struct mproc_pool_opts *r, void **be_out);

static int world_rank, world_size;

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

/* Item x: x % 4 == 1 fails with -5, == 2 returns 7 (-> ETASKFAILED), == 3
 * claims more output than it may write (-> EOVERFLOW). */
static int picky(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx, (void)in_len, (void)out;
    int64_t x;
    memcpy(&x, in, sizeof x);
    switch (x % 4) {
    case 1:
        return -5;
    case 2:
        return 7;
    case 3:
        *out_len += 1;
        return 0;
    }
    *out_len = 0;
    return 0;
}
MPROC_TASK(picky)

/* Echoes its input, whatever its length, and appends the length. */
static int echo_len(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    if (in_len + 1 > *out_len)
        return MPROC_EMSGSIZE;
    memcpy(out, in, in_len);
    ((unsigned char *)out)[in_len] = (unsigned char)in_len;
    *out_len = in_len + 1;
    return 0;
}
MPROC_TASK(echo_len)

static int nap(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)out, (void)ctx;
    struct timespec ts = {0, 50 * 1000000};
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

static int unregistered(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in, (void)in_len, (void)out, (void)out_len, (void)ctx;
    return 0;
}

static int init_fails_on_rank2(void *arg)
{
    (void)arg;
    return world_rank == 2 ? 1 : 0;
}

static const struct mproc__deadline forever = {.forever = true};

static struct mproc_pool_opts resolved(void)
{
    struct mproc_pool_opts o = {.slot_bytes = 64 * 1024, .slots_per_worker = 4};
    return o;
}

/* One round. Rank 0: starts the backend over a duplicate of the world (as
 * mproc_pool_create_mpi_comm does) and returns its status with *p set up;
 * workers: serve and return their code. */
static int round_begin(struct mproc_pool *p, const struct mproc_pool_opts *o)
{
    if (world_rank != 0) {
        mproc_pool *unused;
        return mproc_pool_create_mpi_comm(&unused, o, MPI_COMM_WORLD);
    }
    MPI_Comm dup;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    memset(p, 0, sizeof *p);
    p->ops = &mproc__pool_mpi_backend;
    p->opts = *o;
    return mproc__pool_mpi_start(dup, o, &p->be);
}

/* Gathers every worker's code; rank 0 checks them against want[rank]. */
static void round_end(int my_rc, const int *want)
{
    int *all = world_rank == 0 ? calloc((size_t)world_size, sizeof *all) : NULL;
    MPI_Gather(&my_rc, 1, MPI_INT, all, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (world_rank == 0) {
        for (int r = 1; r < world_size; r++) {
            if (all[r] != want[r])
                fprintf(stderr, "rank %d returned %d (%s), expected %d\n", r, all[r],
                        mproc_err_name(all[r]), want[r]);
            CHECK(all[r] == want[r]);
        }
        free(all);
    }
}

static const int served[3] = {0, MPROC_MPI_SERVED, MPROC_MPI_SERVED};

static int post_items(struct mproc_pool *p, mproc_task_fn fn, uint64_t token, const int64_t *in,
                      uint32_t count, uint32_t out_size)
{
    struct mproc__pool_chunk c = {.token = token,
                                  .fn = fn,
                                  .count = count,
                                  .in_stride = sizeof(int64_t),
                                  .out_size = out_size,
                                  .in = in};
    return p->ops->post(p, &c);
}

static void backend_runs_chunks_and_returns_results_in_views(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        CHECK_RC(rc, 0);
        CHECK(p.ops->max_chunks(&p) == 8);
        int64_t in[6][4];
        for (int c = 0; c < 6; c++) {
            for (int i = 0; i < 4; i++)
                in[c][i] = c * 4 + i;
            CHECK_RC(post_items(&p, square, 100 + (uint64_t)c, in[c], 4, 8), 0);
        }
        memset(in, 0, sizeof in); /* post copied the inputs */
        bool seen[6] = {false};
        for (int n = 0; n < 6; n++) {
            struct mproc__pool_event ev;
            CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
            CHECK(ev.kind == MPROC__POOL_EV_DONE && ev.count == 4 && ev.ndone == 4);
            CHECK(ev.token >= 100 && ev.token < 106 && !seen[ev.token - 100]);
            int c = (int)(ev.token - 100);
            seen[c] = true;
            CHECK(ev.worker == 0 || ev.worker == 1);
            for (int i = 0; i < 4; i++) {
                int64_t x, y;
                memcpy(&x, ev.in + i * ev.in_stride, 8);
                memcpy(&y, ev.out + i * ev.out_stride, 8);
                CHECK(ev.status[i] == 0 && ev.out_len[i] == 8);
                CHECK(x == c * 4 + i && y == x * x);
            }
            p.ops->release(&p, &ev);
        }
        struct mproc__pool_event ev;
        CHECK_RC(p.ops->poll(&p, &ev, NULL), MPROC_ETIMEDOUT);
        pid_t pids[4];
        CHECK_RC(p.ops->worker_pids(&p, pids, 4), 2);
        CHECK_RC(p.ops->stop(&p, &forever), 0);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
}

static void backend_chunk_of_unregistered_task_fails_each_item_with_enoentry(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        int64_t x[3] = {3, 4, 5};
        CHECK_RC(post_items(&p, unregistered, 1, x, 3, 8), 0);
        CHECK_RC(post_items(&p, square, 2, x, 1, 8), 0);
        struct mproc__pool_event ev;
        CHECK_RC(p.ops->poll(&p, &ev, &forever), 0); /* at once: no worker saw it */
        CHECK(ev.kind == MPROC__POOL_EV_DONE && ev.token == 1 && ev.count == 3);
        for (int i = 0; i < 3; i++) {
            int64_t in;
            memcpy(&in, ev.in + i * ev.in_stride, 8);
            CHECK(ev.status[i] == MPROC_ENOENTRY && ev.out_len[i] == 0 && in == x[i]);
        }
        p.ops->release(&p, &ev);
        CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
        CHECK(ev.token == 2 && ev.status[0] == 0);
        p.ops->release(&p, &ev);
        CHECK_RC(p.ops->stop(&p, &forever), 0);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
}

static void backend_task_failures_become_item_statuses(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        int64_t in[8] = {0, 1, 2, 3, 4, 5, 6, 7};
        CHECK_RC(post_items(&p, picky, 9, in, 8, 8), 0);
        struct mproc__pool_event ev;
        CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
        static const int want[4] = {0, -5, MPROC_ETASKFAILED, MPROC_EOVERFLOW};
        for (int i = 0; i < 8; i++) {
            CHECK(ev.status[i] == want[i % 4]);
            CHECK(ev.out_len[i] == 0);
        }
        p.ops->release(&p, &ev);
        CHECK_RC(p.ops->stop(&p, &forever), 0);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
}

static void backend_post_gives_eagain_when_every_worker_is_full(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    o.slots_per_worker = 2;
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        int64_t x = 5;
        for (int c = 0; c < 4; c++)
            CHECK_RC(post_items(&p, square, (uint64_t)c, &x, 1, 8), 0);
        CHECK_RC(post_items(&p, square, 4, &x, 1, 8), MPROC_EAGAIN);
        CHECK_RC(p.ops->stop(&p, NULL), MPROC_EBUSY);
        for (int c = 0; c < 4; c++) {
            struct mproc__pool_event ev;
            CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
            p.ops->release(&p, &ev);
        }
        CHECK_RC(post_items(&p, square, 4, &x, 1, 8), 0);
        struct mproc__pool_event ev;
        CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
        p.ops->release(&p, &ev);
        CHECK_RC(p.ops->stop(&p, &forever), 0);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
}

static void backend_refuses_a_chunk_larger_than_a_slot(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        size_t n = p.ops->max_items(&p, 8, 8);
        CHECK(n > 1000 && n < 64 * 1024 / 16);
        CHECK(p.ops->max_items(&p, 1u << 20, 8) == 0);
        int64_t *in = calloc(n + 1, 8);
        CHECK_RC(post_items(&p, square, 1, in, (uint32_t)n + 1, 8), MPROC_EMSGSIZE);
        CHECK_RC(post_items(&p, square, 1, in, (uint32_t)n, 8), 0); /* a full slot works */
        struct mproc__pool_event ev;
        CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
        CHECK(ev.count == n && ev.status[n - 1] == 0);
        p.ops->release(&p, &ev);
        free(in);
        CHECK_RC(p.ops->stop(&p, &forever), 0);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
}

static void backend_carries_items_of_varying_length(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        unsigned char in[5][16];
        uint32_t lens[5] = {0, 1, 7, 16, 3};
        for (int i = 0; i < 5; i++)
            memset(in[i], 'a' + i, 16);
        struct mproc__pool_chunk c = {.token = 77,
                                      .fn = echo_len,
                                      .count = 5,
                                      .in_stride = 16,
                                      .out_size = 17,
                                      .in = in,
                                      .in_lens = lens};
        CHECK_RC(p.ops->post(&p, &c), 0);
        struct mproc__pool_event ev;
        CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
        CHECK(ev.in_lens != NULL);
        for (int i = 0; i < 5; i++) {
            const unsigned char *o2 = ev.out + i * ev.out_stride;
            CHECK(ev.status[i] == 0 && ev.out_len[i] == lens[i] + 1);
            CHECK(o2[lens[i]] == lens[i] && (lens[i] == 0 || o2[0] == 'a' + i));
            CHECK(ev.in_lens && ev.in_lens[i] == lens[i]);
        }
        p.ops->release(&p, &ev);
        CHECK_RC(p.ops->stop(&p, &forever), 0);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
}

static void backend_kill_drops_queued_chunks_and_frees_every_worker(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        int64_t x[8] = {0};
        /* 2 workers x 4 chunks x 8 naps of 50 ms: 1.6 s each if all ran. */
        for (int c = 0; c < 8; c++)
            CHECK_RC(post_items(&p, nap, (uint64_t)c, x, 8, 0), 0);
        struct timespec ts = {0, 20 * 1000000};
        nanosleep(&ts, NULL);
        p.ops->kill(&p); /* returns once each worker finished its current nap */
        CHECK(p.ops->max_chunks(&p) == 8);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
}

static void idle_worker_uses_little_cpu(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        int64_t before[3] = {0}, after[3] = {0};
        for (int round = 0; round < 2; round++) {
            int64_t x = 0;
            CHECK_RC(post_items(&p, cpu_used, 0, &x, 1, 16), 0);
            CHECK_RC(post_items(&p, cpu_used, 1, &x, 1, 16), 0);
            for (int k = 0; k < 2; k++) {
                struct mproc__pool_event ev;
                CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
                int64_t v[2];
                memcpy(v, ev.out, sizeof v);
                if (v[0] >= 1 && v[0] <= 2)
                    (round ? after : before)[v[0]] = v[1];
                p.ops->release(&p, &ev);
            }
            if (round == 0)
                sleep(1);
        }
        for (int r = 1; r <= 2; r++) {
            double ms = (double)(after[r] - before[r]) / 1e6;
            printf("idle worker rank %d: %.1f ms of CPU over 1 s idle\n", r, ms);
            CHECK(before[r] > 0 && after[r] >= before[r]);
            CHECK(ms < 250.0); /* a spinning rank would show ~1000 ms */
        }
        CHECK_RC(p.ops->stop(&p, &forever), 0);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
}

static void failed_initializer_breaks_the_pool_on_every_rank(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    o.initializer = init_fails_on_rank2;
    int rc = round_begin(&p, &o);
    if (world_rank == 0)
        CHECK_RC(rc, MPROC_EBROKEN);
    static const int want[3] = {0, MPROC_MPI_SERVED, MPROC_EBROKEN};
    round_end(rc, want);
}

static void bad_options_fail_on_every_rank(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    o.max_tasks_per_worker = 10;
    int rc = round_begin(&p, &o);
    if (world_rank == 0)
        CHECK_RC(rc, MPROC_EINVAL);
    static const int want[3] = {0, MPROC_EINVAL, MPROC_EINVAL};
    round_end(rc, want);
    o = resolved();
    o.workers = 3; /* more than size - 1 */
    rc = round_begin(&p, &o);
    if (world_rank == 0)
        CHECK_RC(rc, MPROC_EINVAL);
    round_end(rc, want);
}

static void fewer_workers_than_ranks_leaves_the_rest_unused(void)
{
    struct mproc_pool p;
    struct mproc_pool_opts o = resolved();
    o.workers = 1;
    int rc = round_begin(&p, &o);
    if (world_rank == 0) {
        CHECK_RC(rc, 0);
        CHECK(p.ops->max_chunks(&p) == 4);
        int64_t x = 9;
        for (int c = 0; c < 3; c++)
            CHECK_RC(post_items(&p, square, (uint64_t)c, &x, 1, 8), 0);
        for (int c = 0; c < 3; c++) {
            struct mproc__pool_event ev;
            CHECK_RC(p.ops->poll(&p, &ev, &forever), 0);
            CHECK(ev.worker == 0);
            p.ops->release(&p, &ev);
        }
        CHECK_RC(p.ops->stop(&p, &forever), 0);
        p.ops->destroy(&p);
    }
    round_end(rc, served);
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
    backend_runs_chunks_and_returns_results_in_views();
    backend_chunk_of_unregistered_task_fails_each_item_with_enoentry();
    backend_task_failures_become_item_statuses();
    backend_post_gives_eagain_when_every_worker_is_full();
    backend_refuses_a_chunk_larger_than_a_slot();
    backend_carries_items_of_varying_length();
    backend_kill_drops_queued_chunks_and_frees_every_worker();
    idle_worker_uses_little_cpu();
    failed_initializer_breaks_the_pool_on_every_rank();
    bad_options_fail_on_every_rank();
    fewer_workers_than_ranks_leaves_the_rest_unused();
    int status = world_rank == 0 ? mpicheck_end("test_pool_mpi_backend") : 0;
    mproc_mpi_finalize();
    return status;
}
