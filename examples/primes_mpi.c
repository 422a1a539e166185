/* primes_mpi.c - count the primes below N with a pool: the same code runs on
 * one machine (a local pool of forked workers) or across an MPI job (the
 * MPI pool: rank 0 maps, the other ranks serve).
 *
 *   ./primes_mpi [N]                    local: mproc_cpu_count() workers
 *   mpiexec -n 5 ./primes_mpi [N]       MPI: rank 0 + 4 worker ranks
 *
 * Build: cc primes_mpi.c $(pkg-config --cflags --libs mproc) -lmproc_mpi
 * with mpicc (or link MPI yourself). The task is registered with MPROC_TASK:
 * over MPI it travels by its name, not by a pointer.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime */
#include <mproc.h>
#include <mproc/pool_mpi.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct range {
    uint64_t lo, hi;
};

static int is_prime(uint64_t n)
{
    if (n < 2)
        return 0;
    if (n % 2 == 0)
        return n == 2;
    for (uint64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0)
            return 0;
    return 1;
}

/* One item: a range [lo, hi); its result: how many primes it holds. */
static int count_primes(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    struct range r;
    if (in_len != sizeof r || *out_len < sizeof(uint64_t))
        return MPROC_EINVAL;
    memcpy(&r, in, sizeof r);
    uint64_t count = 0;
    for (uint64_t n = r.lo; n < r.hi; n++)
        count += (uint64_t)is_prime(n);
    memcpy(out, &count, sizeof count);
    *out_len = sizeof count;
    return 0;
}
MPROC_TASK(count_primes)

int main(int argc, char **argv)
{
    int rank = mproc_mpi_init(&argc, &argv);
    int size = 1;
    if (rank < 0) {
        fprintf(stderr, "MPI_Init failed\n");
        return 1;
    }
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    uint64_t limit = argc > 1 ? strtoull(argv[1], NULL, 10) : 2000000;

    mproc_pool *pool;
    int rc = size > 1 ? mproc_pool_create_mpi(&pool, NULL) : mproc_pool_create(&pool, NULL);
    if (rc == MPROC_MPI_SERVED) { /* a worker rank: rank 0 is done with us */
        mproc_mpi_finalize();
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "pool: %s\n", mproc_strerror(rc));
        mproc_mpi_finalize();
        return 1;
    }

    enum { STEP = 10000 };
    size_t n = (size_t)((limit + STEP - 1) / STEP);
    struct range *in = malloc(n * sizeof *in);
    uint64_t *counts = malloc(n * sizeof *counts);
    for (size_t i = 0; i < n; i++) {
        in[i].lo = (uint64_t)i * STEP;
        in[i].hi = in[i].lo + STEP < limit ? in[i].lo + STEP : limit;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = mproc_pool_map(pool, count_primes, in, n, sizeof *in, counts, sizeof *counts, NULL,
                        MPROC_FOREVER);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    uint64_t total = 0;
    for (size_t i = 0; rc == 0 && i < n; i++)
        total += counts[i];
    if (rc == 0)
        printf("%llu primes below %llu (%d %s, %.3f s)\n", (unsigned long long)total,
               (unsigned long long)limit, mproc_pool_workers(pool),
               size > 1 ? "MPI worker ranks" : "local workers",
               (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    else
        fprintf(stderr, "map: %s\n", mproc_strerror(rc));
    mproc_pool_shutdown(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_close(pool);
    free(in);
    free(counts);
    mproc_mpi_finalize();
    return rc == 0 ? 0 : 1;
}
