/* joinable_queue.c - workers take jobs from a JoinableQueue and mark each
 * one done; the producer waits until every job is finished.
 *
 * The Python it mirrors:
 *
 *     def worker(jobs, results):
 *         while True:
 *             n = jobs.get()
 *             if n is None:
 *                 jobs.task_done(); break
 *             results.put(n * n)
 *             jobs.task_done()
 *
 *     jobs, results = JoinableQueue(), Queue()
 *     ws = [Process(target=worker, args=(jobs, results)) for _ in range(3)]
 *     for w in ws: w.start()
 *     for n in range(1, 101): jobs.put(n)
 *     jobs.join()                      # every job done
 *     print(sum(results.get() for _ in range(100)))
 *     for w in ws: jobs.put(None)
 *     for w in ws: w.join()
 *
 * A queue created with MPROC_QUEUE_JOINABLE counts puts not yet matched by
 * mproc_queue_task_done; mproc_queue_join waits until that count is zero.
 *
 * Build: cc joinable_queue.c $(pkg-config --cflags --libs mproc)
 */
#include <mproc.h>

#include <stdint.h>
#include <stdio.h>

#define WORKERS 3
#define JOBS 100
#define STOP (-1) /* Python's None */

static mproc_queue *jobs, *results;

static int worker(void *arg)
{
    (void)arg;
    for (;;) {
        int64_t n;
        if (mproc_queue_get(jobs, &n, sizeof n, 10000) != (ssize_t)sizeof n)
            return 1;
        if (n == STOP)
            return mproc_queue_task_done(jobs) == 0 ? 0 : 1;
        int64_t sq = n * n;
        if (mproc_queue_put(results, &sq, sizeof sq, 10000) != 0)
            return 1;
        if (mproc_queue_task_done(jobs) != 0)
            return 1;
    }
}

int main(void)
{
    struct mproc_queue_opts jo = {.flags = MPROC_QUEUE_JOINABLE};
    int rc = mproc_queue_create(&jobs, NULL, &jo);
    if (rc == 0)
        rc = mproc_queue_create(&results, NULL, NULL);
    if (rc < 0) {
        fprintf(stderr, "queue: %s\n", mproc_strerror(rc));
        return 1;
    }

    mproc_process *ps[WORKERS];
    int started = 0, ok = 1;
    for (; started < WORKERS; started++) {
        rc = mproc_process_start(&ps[started], worker, NULL, NULL);
        if (rc < 0) {
            fprintf(stderr, "start: %s\n", mproc_strerror(rc));
            ok = 0;
            break;
        }
    }
    for (int64_t n = 1; ok && n <= JOBS; n++)
        ok = mproc_queue_put(jobs, &n, sizeof n, 10000) == 0;

    /* Returns once every job has been marked done by some worker. */
    if (ok && (rc = mproc_queue_join(jobs, 30000)) != 0) {
        fprintf(stderr, "join: %s\n", mproc_strerror(rc));
        ok = 0;
    }
    int64_t sum = 0;
    for (int i = 0; ok && i < JOBS; i++) {
        int64_t sq;
        ok = mproc_queue_get(results, &sq, sizeof sq, 10000) == (ssize_t)sizeof sq;
        sum += sq;
    }
    printf("sum of squares 1..%d = %lld\n", JOBS, (long long)sum);

    for (int i = 0; i < started; i++) {
        int64_t stop = STOP;
        mproc_queue_put(jobs, &stop, sizeof stop, 10000);
    }
    for (int i = 0; i < started; i++) {
        struct mproc_exit st;
        if (mproc_process_join(ps[i], 30000, &st) != 0 || !st.exited || st.code != 0)
            ok = 0;
        mproc_process_close(ps[i]);
    }
    mproc_queue_close(results);
    mproc_queue_close(jobs);
    return ok && sum == (int64_t)JOBS * (JOBS + 1) * (2 * JOBS + 1) / 6 ? 0 : 1;
}
