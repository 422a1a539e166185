/* primes_pool.c - count primes with a pool of worker processes.
 *
 * The Python it mirrors:
 *
 *     def is_prime(n): ...
 *     with Pool() as pool:
 *         flags = pool.map(is_prime, range(N))
 *     print(sum(flags))
 *
 * A task gets one input item as bytes and writes its result as bytes; the
 * pool copies both through shared memory. mproc_pool_map stores item i's
 * result at out[i], in order, whichever worker ran it. The ready-made
 * mproc_pool_progress_bar draws "[#####     ]  50% 100000/200000" on a
 * terminal while it runs.
 *
 * Build: cc primes_pool.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 200000

static int is_prime(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    uint64_t n;
    if (in_len != sizeof n || *out_len < 1)
        return MPROC_EINVAL;
    memcpy(&n, in, sizeof n);
    uint8_t prime = n >= 2;
    for (uint64_t d = 2; prime && d * d <= n; d++)
        if (n % d == 0)
            prime = 0;
    *(uint8_t *)out = prime;
    *out_len = 1;
    return 0;
}
MPROC_TASK(is_prime); /* a name, for the spawn and MPI backends */

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0)
        return 1;

    uint64_t *in = malloc(N * sizeof *in);
    uint8_t *flags = malloc(N);
    if (!in || !flags)
        return 1;
    for (uint64_t i = 0; i < N; i++)
        in[i] = i;

    mproc_pool *pool;
    int rc = mproc_pool_create(&pool, NULL); /* mproc_cpu_count() workers */
    if (rc < 0) {
        fprintf(stderr, "mproc_pool_create: %s\n", mproc_strerror(rc));
        return 1;
    }
    /* A progress bar on stderr when it is a terminal (nothing otherwise);
     * chunks of 2000 items so that it moves smoothly. */
    struct mproc_pool_map_opts mo = {.chunksize = 2000, .progress = mproc_pool_progress_bar};
    rc = mproc_pool_map(pool, is_prime, in, N, sizeof *in, flags, 1, &mo, MPROC_FOREVER);
    if (rc == 0) {
        long count = 0;
        for (size_t i = 0; i < N; i++)
            count += flags[i];
        printf("%ld primes below %d, found by %d worker processes\n", count, N,
               mproc_pool_workers(pool));
        rc = count == 17984 ? 0 : 1; /* pi(200000) */
    } else {
        fprintf(stderr, "mproc_pool_map: %s\n", mproc_strerror(rc));
    }
    mproc_pool_shutdown(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_close(pool);
    free(in);
    free(flags);
    return rc == 0 ? 0 : 1;
}
