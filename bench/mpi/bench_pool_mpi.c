/* bench_pool_mpi.c - per-task overhead of the MPI pool with chunk size 1,
 * against a raw MPI master/worker loop in C, under mpirun (rank 0 measures,
 * the other ranks serve). mpi4py.futures is measured by futures_bench.py
 * (bench/mpi/run.sh runs both and prints all rows).
 *
 *   mpirun -n 3 bench_pool_mpi        (MPROC_BENCH_SCALE, MPROC_BENCH_REPS)
 *
 * Each case runs n tasks that square an int64 (no work: the cost is the
 * pool's). Cases are interleaved per repetition by bench_run(); rank 0
 * broadcasts which case comes next and the workers follow:
 *   mproc      every rank calls mproc_pool_create_mpi; rank 0 times one
 *              mproc_pool_map(chunksize 1) of n items; then join.
 *   raw_mpi    the textbook loop: the master keeps one task per worker
 *              (MPI_Send / MPI_Recv(ANY_SOURCE), blocking), the workers
 *              MPI_Recv a task, compute, MPI_Send the result.
 *   raw_mpi_p  the same loop with 8 tasks in flight per worker (what a
 *              careful hand-written pipeline gets; reference only).
 */
#include "harness.h"

#include "mproc/pool_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CMD_QUIT = 0, CMD_MPROC = 1, CMD_RAW = 2, CMD_RAW_PIPE = 3 };
enum { TAG_TASK = 11, TAG_RES = 12, TAG_END = 13 };

static int world_size;

static int square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    x *= x;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}
MPROC_TASK(square)

static void command(int cmd)
{
    MPI_Bcast(&cmd, 1, MPI_INT, 0, MPI_COMM_WORLD);
}

static uint64_t run_mproc(uint64_t n, void *arg)
{
    (void)arg;
    command(CMD_MPROC);
    mproc_pool *pool;
    if (mproc_pool_create_mpi(&pool, NULL) != 0)
        abort();
    int64_t *in = malloc(n * sizeof *in), *out = malloc(n * sizeof *out);
    for (uint64_t i = 0; i < n; i++)
        in[i] = (int64_t)i;
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    uint64_t t0 = bench_now_ns();
    int rc = mproc_pool_map(pool, square, in, n, sizeof *in, out, sizeof *out, &mo, MPROC_FOREVER);
    uint64_t t = bench_now_ns() - t0;
    if (rc != 0 || out[n - 1] != in[n - 1] * in[n - 1])
        abort();
    mproc_pool_shutdown(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_close(pool);
    free(in);
    free(out);
    return t;
}

/* The master of the raw loop: `depth` tasks in flight per worker. */
static uint64_t raw_master(uint64_t n, int depth)
{
    int64_t *out = malloc(n * sizeof *out);
    uint64_t next = 0, done = 0;
    uint64_t t0 = bench_now_ns();
    for (int d = 0; d < depth; d++)
        for (int w = 1; w < world_size && next < n; w++, next++) {
            int64_t task[2] = {(int64_t)next, (int64_t)next};
            MPI_Send(task, 2, MPI_INT64_T, w, TAG_TASK, MPI_COMM_WORLD);
        }
    while (done < n) {
        int64_t res[2];
        MPI_Status st;
        MPI_Recv(res, 2, MPI_INT64_T, MPI_ANY_SOURCE, TAG_RES, MPI_COMM_WORLD, &st);
        out[res[0]] = res[1];
        done++;
        if (next < n) {
            int64_t task[2] = {(int64_t)next, (int64_t)next};
            MPI_Send(task, 2, MPI_INT64_T, st.MPI_SOURCE, TAG_TASK, MPI_COMM_WORLD);
            next++;
        }
    }
    uint64_t t = bench_now_ns() - t0;
    for (int w = 1; w < world_size; w++)
        MPI_Send(NULL, 0, MPI_BYTE, w, TAG_END, MPI_COMM_WORLD);
    if (out[n - 1] != (int64_t)((n - 1) * (n - 1)))
        abort();
    free(out);
    return t;
}

static void raw_worker(void)
{
    for (;;) {
        int64_t task[2];
        MPI_Status st;
        MPI_Recv(task, 2, MPI_INT64_T, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &st);
        if (st.MPI_TAG == TAG_END)
            return;
        int64_t out;
        size_t len = sizeof out;
        square(&task[1], sizeof task[1], &out, &len, NULL);
        int64_t res[2] = {task[0], out};
        MPI_Send(res, 2, MPI_INT64_T, 0, TAG_RES, MPI_COMM_WORLD);
    }
}

static uint64_t run_raw(uint64_t n, void *arg)
{
    (void)arg;
    command(CMD_RAW);
    return raw_master(n, 1);
}

static uint64_t run_raw_pipe(uint64_t n, void *arg)
{
    (void)arg;
    command(CMD_RAW_PIPE);
    return raw_master(n, 8);
}

int main(int argc, char **argv)
{
    int rank = mproc_mpi_init(&argc, &argv);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    if (world_size < 2) {
        fprintf(stderr, "run under mpirun -n 3 (or more)\n");
        mproc_mpi_finalize();
        return 1;
    }
    if (rank != 0) {
        for (;;) {
            int cmd;
            MPI_Bcast(&cmd, 1, MPI_INT, 0, MPI_COMM_WORLD);
            if (cmd == CMD_QUIT)
                break;
            if (cmd == CMD_MPROC) {
                mproc_pool *unused;
                mproc_pool_create_mpi(&unused, NULL);
            } else {
                raw_worker();
            }
        }
        mproc_mpi_finalize();
        return 0;
    }
    bench_print_header();
    printf("# %d ranks: rank 0 + %d workers; tasks square an int64, chunk size 1\n", world_size,
           world_size - 1);
    uint64_t n = bench_scale(20000);
    struct bench_case cases[] = {
        {.impl = "raw_mpi", .fn = run_raw, .n = n},
        {.impl = "raw_mpi_pipelined", .fn = run_raw_pipe, .n = n},
        {.impl = "mproc", .fn = run_mproc, .n = n},
    };
    bench_run("pool_mpi", "task_overhead_chunk1", cases, 3, "us/op", 0);
    command(CMD_QUIT);
    mproc_mpi_finalize();
    return 0;
}
