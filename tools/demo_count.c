/* demo_count.c - the seed's program 1: count to 100,000,000 with one
 * process, with two processes (50,000,000 each) and with two threads.
 *
 * The two children put their counts on an mproc Queue, as the seed's
 * children put theirs on a multiprocessing.Queue; the parent gets both and
 * adds them up. The counting loop is demo_count_to(), which the compiler cannot fold, so the
 * times are those of really counting, as the Python original does.
 */
#include "tool.h"

#include <mproc.h>
#include <pthread.h>
#include <stdio.h>

#define TOTAL 100000000LL
#define HALF (TOTAL / 2)

struct child_arg {
    mproc_queue *q;
    long long n;
};

static int count_and_put(void *arg)
{
    const struct child_arg *a = arg;
    long long c = demo_count_to(a->n);
    return mproc_queue_put(a->q, &c, sizeof c, MPROC_FOREVER) == 0 ? 0 : 1;
}

static void *count_thread(void *arg)
{
    long long *n = arg;
    *n = demo_count_to(*n);
    return NULL;
}

static int two_processes(long long *total)
{
    mproc_queue *q;
    if (mproc_queue_create(&q, NULL, NULL) != 0)
        return -1;
    struct child_arg a = {q, HALF};
    mproc_process *p[2] = {NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = mproc_process_start(&p[i], count_and_put, &a, NULL);
    *total = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        long long c;
        if (mproc_queue_get(q, &c, sizeof c, MPROC_FOREVER) != (ssize_t)sizeof c)
            rc = -1;
        else
            *total += c;
    }
    for (int i = 0; i < 2; i++) {
        struct mproc_exit st;
        if (p[i] && (mproc_process_join(p[i], MPROC_FOREVER, &st) != 0 || !st.exited || st.code))
            rc = -1;
        mproc_process_close(p[i]);
    }
    mproc_queue_close(q);
    return rc;
}

int demo_count(void)
{
    printf("== The seed's program 1: counting to 100,000,000\n");
    fflush(stdout);

    double t0 = demo_seconds();
    long long one = demo_count_to(TOTAL);
    double t_one = demo_seconds() - t0;
    printf("one process    %7.3f s   total_number=%lld\n", t_one, one);
    fflush(stdout);

    long long two = 0;
    t0 = demo_seconds();
    int rc = two_processes(&two);
    double t_two = demo_seconds() - t0;
    if (rc != 0) {
        printf("two processes  failed\n");
        return 1;
    }
    printf("two processes  %7.3f s   total_number=%lld   (%.2fx one process)\n", t_two, two,
           t_one / t_two);
    fflush(stdout);

    long long halves[2] = {HALF, HALF};
    pthread_t th[2];
    t0 = demo_seconds();
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, count_thread, &halves[i]) != 0)
            return 1;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    double t_threads = demo_seconds() - t0;
    printf("two threads    %7.3f s   total_number=%lld   (%.2fx one process)\n", t_threads,
           halves[0] + halves[1], t_one / t_threads);
    printf("(the seed's Python on its 2-core machine: 1.3 s with two processes, 2.9 s with two "
           "threads)\n");
    fflush(stdout);
    return one == TOTAL && two == TOTAL && halves[0] + halves[1] == TOTAL ? 0 : 1;
}
