/* pool_worker_death.c - a pool whose worker is killed in the middle of a
 * task: that item fails with a report, every other item gets its result,
 * the dead worker is replaced and the pool goes on.
 *
 * The Python it mirrors, and where it differs:
 *
 *     def square(n):
 *         if n == 13 and first_time():
 *             os.kill(os.getpid(), signal.SIGKILL)
 *         return n * n
 *
 *     with Pool(2) as pool:
 *         print(pool.map(square, range(20)))   # multiprocessing.Pool hangs
 *                                              # here forever; the
 *                                              # ProcessPoolExecutor breaks
 *                                              # and refuses all later work
 *
 * Here the map returns MPROC_EWORKERDIED, the per-item statuses say that only
 * item 13 failed, and the error names the worker's pid and the signal. Items
 * the dead worker had been given but not started run on other workers: none
 * is lost, none runs twice. A second map on the same pool succeeds.
 * (opts.on_death can also retry the item, or fail the whole pool.)
 *
 * Build: cc pool_worker_death.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define N 20
#define VICTIM 13

/* Anonymous, created before the pool: every worker inherits it. */
static mproc_value *killed;

static int square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int64_t x;
    if (in_len != sizeof x || *out_len < sizeof x)
        return MPROC_EINVAL;
    memcpy(&x, in, sizeof x);
    int64_t times;
    /* The first worker to reach the victim item dies (SIGKILL: no clean-up). */
    if (x == VICTIM && mproc_value_add_i64(killed, 1, &times) == 0 && times == 1)
        raise(SIGKILL);
    x *= x;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

static int run_map(mproc_pool *pool, int64_t *in, int64_t *out, int *statuses,
                   struct mproc_pool_error *errors)
{
    struct mproc_pool_map_opts mo = {.chunksize = 1, .statuses = statuses, .errors = errors};
    return mproc_pool_map(pool, square, in, N, sizeof in[0], out, sizeof out[0], &mo, 30000);
}

int main(void)
{
    int rc = mproc_value_create(&killed, MPROC_TYPE_I64, NULL, MPROC_VALUE_RAW);
    if (rc < 0) {
        fprintf(stderr, "value: %s\n", mproc_strerror(rc));
        return 1;
    }
    mproc_pool *pool;
    struct mproc_pool_opts po = {.workers = 2}; /* on_death: MPROC_POOL_FAIL_TASK */
    rc = mproc_pool_create(&pool, &po);
    if (rc < 0) {
        fprintf(stderr, "pool: %s\n", mproc_strerror(rc));
        mproc_value_close(killed);
        return 1;
    }

    int64_t in[N], out[N];
    int statuses[N];
    struct mproc_pool_error errors[N];
    for (int i = 0; i < N; i++)
        in[i] = i;
    memset(out, 0, sizeof out);

    int ok = 1;
    rc = run_map(pool, in, out, statuses, errors);
    printf("first map: %s\n", mproc_err_name(rc)); /* MPROC_EWORKERDIED */
    for (int i = 0; i < N; i++) {
        if (statuses[i] == 0) {
            ok &= out[i] == in[i] * in[i];
        } else {
            printf("item %d: %s (worker %d, signal %d)\n", i, mproc_err_name(errors[i].code),
                   (int)errors[i].pid, errors[i].signal);
            ok &= i == VICTIM && errors[i].code == MPROC_EWORKERDIED && errors[i].signal == SIGKILL;
        }
    }
    ok &= rc == MPROC_EWORKERDIED && statuses[VICTIM] == MPROC_EWORKERDIED;

    /* The dead worker was replaced: the same pool runs the next map whole. */
    rc = run_map(pool, in, out, statuses, errors);
    printf("second map: %s, %d squared = %lld\n", mproc_err_name(rc), VICTIM,
           (long long)out[VICTIM]);
    ok &= rc == 0 && out[VICTIM] == VICTIM * VICTIM;

    mproc_pool_shutdown(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_close(pool);
    mproc_value_close(killed);
    return ok ? 0 : 1;
}
