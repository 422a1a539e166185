/* demo_pool.c - the count through a Pool: N (100,000,000 by default) in
 * 100 chunks counted by the pool's workers, the sum printed as
 * total_number=N with the time, like
 *
 *     with Pool() as pool:
 *         total_number = sum(pool.map(count_to, [1_000_000] * 100))
 *
 * Each item is one chunk to count (chunk size 1: the items are large, so the
 * work is balanced item by item). The time includes starting the workers
 * and shutting them down. On a terminal the ready-made progress bar runs on
 * stderr.
 */
#include "tool.h"

#include <mproc.h>
#include <stdio.h>
#include <string.h>

#define CHUNKS 100

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

int demo_pool(const struct demo_opts *o)
{
    char per[32];
    printf("== The count through a Pool: %d chunks of %s%s\n", CHUNKS,
           o->count % CHUNKS ? "about " : "", demo_fmt_count(per, sizeof per, o->count / CHUNKS));
    fflush(stdout);
    long long in[CHUNKS], out[CHUNKS];
    for (int i = 0; i < CHUNKS; i++) /* the remainder of N / 100 goes to the first chunks */
        in[i] = o->count / CHUNKS + (i < o->count % CHUNKS);

    double t0 = demo_seconds();
    mproc_pool *pool;
    int rc = mproc_pool_create(&pool, NULL);
    if (rc < 0)
        return demo_fail("creating the pool", rc);
    struct mproc_pool_map_opts mo = {.chunksize = 1, .progress = mproc_pool_progress_bar};
    rc = mproc_pool_map(pool, count_task, in, CHUNKS, sizeof in[0], out, sizeof out[0], &mo,
                        MPROC_FOREVER);
    int workers = mproc_pool_workers(pool);
    mproc_pool_shutdown(pool);
    int jrc = mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_close(pool);
    double t = demo_seconds() - t0;
    if (rc < 0 || jrc < 0)
        return demo_fail("the pool's map", rc < 0 ? rc : jrc);
    long long total = 0;
    for (int i = 0; i < CHUNKS; i++)
        total += out[i];
    char label[32], tb[32];
    snprintf(label, sizeof label, "pool of %d", workers);
    printf("%-14s %9s  %-22s total_number=%lld\n", label, demo_fmt_time(tb, sizeof tb, t), "",
           total);
    return total == o->count ? 0 : demo_fail("the pool's count", 0);
}
