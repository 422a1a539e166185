/* demo_pool.c - the seed's count through the Pool: 100 chunks of 1,000,000
 * counted by the pool's workers, the sum printed as total_number=100000000
 * with the time, like
 *
 *     with Pool() as pool:
 *         total_number = sum(pool.map(count_to, [1_000_000] * 100))
 *
 * Each item is one chunk to count (chunk size 1: the items are large, so the
 * work is balanced item by item). On a terminal the ready-made progress bar
 * runs on stderr.
 */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <string.h>

#define CHUNKS 100
#define PER_CHUNK 1000000LL

static int count_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    long long n;
    if (in_len != sizeof n || *out_len < sizeof n)
        return MPROC_EINVAL;
    memcpy(&n, in, sizeof n);
    long long c = demo_count_to(n);
    memcpy(out, &c, sizeof c);
    *out_len = sizeof c;
    return 0;
}
MPROC_TASK(count_task);

int demo_pool(void)
{
    printf("== The count through the Pool: %d chunks of %lld\n", CHUNKS, PER_CHUNK);
    fflush(stdout);
    long long in[CHUNKS], out[CHUNKS];
    for (int i = 0; i < CHUNKS; i++)
        in[i] = PER_CHUNK;

    double t0 = demo_seconds();
    mproc_pool *pool;
    int rc = mproc_pool_create(&pool, NULL);
    if (rc < 0) {
        fprintf(stderr, "mproc_pool_create: %s\n", mproc_strerror(rc));
        return 1;
    }
    struct mproc_pool_map_opts mo = {.chunksize = 1, .progress = mproc_pool_progress_bar};
    rc = mproc_pool_map(pool, count_task, in, CHUNKS, sizeof in[0], out, sizeof out[0], &mo,
                        MPROC_FOREVER);
    int workers = mproc_pool_workers(pool);
    mproc_pool_shutdown(pool);
    int jrc = mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_close(pool);
    double t = demo_seconds() - t0;
    if (rc < 0 || jrc < 0) {
        fprintf(stderr, "mproc_pool_map: %s\n", mproc_strerror(rc < 0 ? rc : jrc));
        return 1;
    }
    long long total = 0;
    for (int i = 0; i < CHUNKS; i++)
        total += out[i];
    printf("pool of %d      %7.3f s   total_number=%lld\n", workers, t, total);
    return total == CHUNKS * PER_CHUNK ? 0 : 1;
}
