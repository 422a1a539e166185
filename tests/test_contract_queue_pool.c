/* test_contract_queue_pool.c - double close and use after close of the
 * queue, pool and future handles: every call on a closed handle returns
 * MPROC_EBADF (it stays a closed shell in the quarantine of src/handle.h),
 * a second close never frees twice, and a future that outlives its pool
 * never reaches the pool's memory.
 *
 * Every code asserted here is one the header of the call lists.
 */
#include "harness.h"

#include <stdint.h>
#include <string.h>

static int twice(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int64_t x;
    if (in_len != sizeof x)
        return -EINVAL;
    memcpy(&x, in, sizeof x);
    x *= 2;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}
MPROC_TASK(twice);

static int no_input(void *arg, uint64_t index, void *item, size_t *item_len)
{
    (void)arg;
    (void)index;
    (void)item;
    (void)item_len;
    return 0; /* no item: the stream ends at once */
}

static mproc_pool *small_pool(void)
{
    struct mproc_pool_opts o = {.workers = 1};
    mproc_pool *p;
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    return p;
}

/* Push more closed handles through the quarantine than it holds, so that
 * the shells closed before are freed. */
static void churn_quarantine(void)
{
    for (int i = 0; i < 2 * 64 + 8; i++) {
        mproc_queue *q;
        MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
        MPROC_ASSERT_OK(mproc_queue_close(q));
    }
}

MPROC_TEST(contract, queue_closed_twice_or_used_after_close_is_ebadf)
{
    struct mproc_queue_opts o = {.flags = MPROC_QUEUE_JOINABLE};
    mproc_queue *q;
    char buf[16];
    void *ptr;
    const void *cptr;
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    MPROC_ASSERT_OK(mproc_queue_put(q, "left", 4, 0));
    MPROC_ASSERT_OK(mproc_queue_close(q));
    MPROC_ASSERT_RC(mproc_queue_close(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_put(q, "x", 1, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_put(q, "x", 1, MPROC_FOREVER), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 0), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, MPROC_FOREVER), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_queue_get_alloc(q, &ptr, 0), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_queue_peek_size(q, 0), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_queue_get_view(q, &cptr, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_release_view(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_reserve(q, 4, &ptr, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_commit(q, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_cancel(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_shutdown(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_task_done(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_join(q, 0), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_queue_qsize(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_empty(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_full(q), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_queue_capacity(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_fd(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_stats(q, &st), MPROC_EBADF);
    cr_assert_str_eq(mproc_queue_name(q), "");
}

MPROC_TEST(contract, queue_closed_in_middle_of_a_reservation_is_ebadf)
{
    mproc_queue *q;
    void *ptr;
    const void *view;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    MPROC_ASSERT_OK(mproc_queue_put(q, "abc", 3, 0));
    cr_assert_eq(mproc_queue_get_view(q, &view, 0), 3);
    MPROC_ASSERT_OK(mproc_queue_reserve(q, 8, &ptr, 0));
    MPROC_ASSERT_OK(mproc_queue_close(q));
    MPROC_ASSERT_RC(mproc_queue_commit(q, 8), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_release_view(q), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_queue_close(q), MPROC_EBADF);
}

MPROC_TEST(contract, pool_closed_twice_or_used_after_close_is_ebadf)
{
    mproc_pool *p = small_pool();
    int64_t in[3] = {1, 2, 3}, out[3];
    mproc_future *f;
    pid_t pids[4];
    struct mproc_pool_stats st;
    MPROC_ASSERT_OK(mproc_pool_map(p, twice, in, 3, sizeof *in, out, sizeof *out, NULL, 10000));
    cr_assert_eq(out[2], 6);
    MPROC_ASSERT_OK(mproc_pool_close(p));
    MPROC_ASSERT_RC(mproc_pool_close(p), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_map(p, twice, in, 3, sizeof *in, out, sizeof *out, NULL, 0),
                    MPROC_EBADF);
    MPROC_ASSERT_RC(
        mproc_pool_map_unordered(p, twice, in, 3, sizeof *in, sizeof *out, NULL, NULL, NULL, 0),
        MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_map_stream(p, twice, no_input, NULL, sizeof *in, sizeof *out, NULL,
                                          NULL, NULL, 0),
                    MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_submit(p, twice, in, sizeof *in, sizeof *out, &f), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_submit_ex(p, twice, in, sizeof *in, sizeof *out, NULL, &f),
                    MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_map_async(p, twice, in, 3, sizeof *in, out, sizeof *out, NULL, &f),
                    MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_shutdown(p), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_join(p, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_terminate(p), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_worker_pids(p, pids, 4), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_stats(p, &st), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_workers(p), MPROC_EBADF);
}

MPROC_TEST(contract, background_pool_closed_twice_is_ebadf)
{
    struct mproc_pool_opts o = {.workers = 1, .background = true};
    mproc_pool *p;
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    MPROC_ASSERT_OK(mproc_pool_close(p));
    MPROC_ASSERT_RC(mproc_pool_close(p), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pool_shutdown(p), MPROC_EBADF);
}

MPROC_TEST(contract, future_closed_twice_or_used_after_close_is_ebadf)
{
    mproc_pool *p = small_pool();
    int64_t x = 21;
    mproc_future *f;
    const void *res;
    size_t len, idx;
    struct mproc_pool_error err;
    MPROC_ASSERT_OK(mproc_pool_submit(p, twice, &x, sizeof x, sizeof x, &f));
    MPROC_ASSERT_OK(mproc_future_wait(f, 10000));
    MPROC_ASSERT_OK(mproc_future_close(f));
    MPROC_ASSERT_RC(mproc_future_close(f), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_future_wait(f, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_future_done(f), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_future_cancel(f), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_future_result(f, &res, &len), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_future_error(f, &err), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_future_wait_any(&f, 1, 0, &idx), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_future_wait_all(&f, 1, 0), MPROC_EBADF);
    /* A pending future closed: dropped, then EBADF as well. */
    MPROC_ASSERT_OK(mproc_pool_submit(p, twice, &x, sizeof x, sizeof x, &f));
    MPROC_ASSERT_OK(mproc_future_close(f));
    MPROC_ASSERT_RC(mproc_future_close(f), MPROC_EBADF);
    MPROC_ASSERT_OK(mproc_pool_close(p));
}

/* Closing the pool detaches its futures: a finished one keeps its result,
 * an unfinished one reports that it never finishes, and neither touches
 * the pool's memory, even once its shell has left the quarantine (ASan
 * checks that). */
MPROC_TEST(contract, future_outlives_its_closed_pool)
{
    mproc_pool *p = small_pool();
    int64_t x = 21, y;
    mproc_future *done, *pending;
    const void *res;
    size_t len;
    MPROC_ASSERT_OK(mproc_pool_submit(p, twice, &x, sizeof x, sizeof x, &done));
    MPROC_ASSERT_OK(mproc_future_wait(done, 10000));
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_close(p));
    churn_quarantine();
    MPROC_ASSERT_OK(mproc_future_result(done, &res, &len));
    cr_assert_eq(len, sizeof y);
    memcpy(&y, res, sizeof y);
    cr_assert_eq(y, 42);
    cr_assert_eq(mproc_future_done(done), 1);
    MPROC_ASSERT_OK(mproc_future_wait(done, 0));
    MPROC_ASSERT_OK(mproc_future_close(done));
    MPROC_ASSERT_RC(mproc_future_close(done), MPROC_EBADF);

    p = small_pool();
    MPROC_ASSERT_OK(mproc_pool_submit(p, twice, &x, sizeof x, sizeof x, &pending));
    MPROC_ASSERT_OK(mproc_pool_close(p));
    churn_quarantine();
    /* The pool's terminate finished it (cancelled, unless its result was
     * already in). */
    MPROC_ASSERT_OK(mproc_future_wait(pending, 0));
    cr_assert_eq(mproc_future_done(pending), 1);
    int rc = mproc_future_result(pending, &res, &len);
    cr_assert(rc == 0 || rc == MPROC_ECANCELED, "result after the pool closed: %d", rc);
    MPROC_ASSERT_OK(mproc_future_close(pending));
    MPROC_ASSERT_RC(mproc_future_close(pending), MPROC_EBADF);
}
