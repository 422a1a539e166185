/* demo_count.c - counting to N (100,000,000 by default) in one process,
 * in two processes (N/2 each) and in two threads, the tutorial's first
 * program:
 *
 *     def count_to(n, q): ... q.put(count)
 *     q = Queue(); ps = [Process(target=count_to, args=(N // 2, q)) for _ in range(2)]
 *     for p in ps: p.start()
 *     total_number = q.get() + q.get()
 *     for p in ps: p.join()
 *
 * The two children put their counts on an mproc Queue and the parent adds
 * them up, so the time of "two processes" includes starting them, the
 * queue and joining them; what a start + join costs alone is measured
 * after the counts and printed below them, to show how little of the time
 * it is. The counting loop is demo_count_to(), which the compiler cannot
 * fold, so the times are those of really counting.
 *
 * Each variant runs o->repeat times, interleaved (see demo.c); the ratio
 * is that of the medians.
 */
#include "tool.h"

#include <mproc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define START_SAMPLES_MIN 5

enum { ONE_PROCESS, TWO_PROCESSES, TWO_THREADS, NVARIANTS };

static const char *const variant_name[NVARIANTS] = {"one process", "two processes", "two threads"};

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

/* Starts a process running fn(arg) (fork) or the entry demo_exit_now
 * (spawn). 0 or a negative code. */
static int start_child(mproc_process **p, int (*fn)(void *), void *arg, int method)
{
    struct mproc_process_opts po = {.start_method = method};
    if (method == MPROC_START_SPAWN)
        po.entry = "demo_exit_now";
    int rc = mproc_process_start(p, method == MPROC_START_SPAWN ? NULL : fn, arg, &po);
    if (rc < 0) {
        *p = NULL;
        return rc;
    }
    return 0;
}

/* Joins p and releases it. 0, a negative code, or -1 if it did not exit 0. */
static int join_free(mproc_process *p)
{
    struct mproc_exit st;
    int rc = mproc_process_join(p, MPROC_FOREVER, &st);
    if (rc == 0 && (!st.exited || st.code != 0))
        rc = -1;
    mproc_process_close(p);
    return rc;
}

static int two_processes(mproc_queue *q, long long total_n, long long *total)
{
    struct child_arg a[2] = {{q, total_n / 2}, {q, total_n - total_n / 2}};
    mproc_process *p[2] = {NULL, NULL};
    int rc = 0;
    for (int i = 0; i < 2 && rc == 0; i++)
        rc = start_child(&p[i], count_and_put, &a[i], MPROC_START_FORK);
    *total = 0;
    for (int i = 0; i < 2 && rc == 0; i++) {
        long long c;
        ssize_t k = mproc_queue_get(q, &c, sizeof c, MPROC_FOREVER);
        if (k != (ssize_t)sizeof c)
            rc = k < 0 ? (int)k : -1;
        else
            *total += c;
    }
    for (int i = 0; i < 2; i++) {
        int jrc = p[i] ? join_free(p[i]) : 0;
        if (rc == 0)
            rc = jrc;
    }
    return rc;
}

static int two_threads(long long total_n, long long *total)
{
    long long n[2] = {total_n / 2, total_n - total_n / 2};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, count_thread, &n[i]) != 0) {
            if (i == 1)
                pthread_join(th[0], NULL);
            return MPROC_EAGAIN;
        }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    *total = n[0] + n[1];
    return 0;
}

/* Runs variant v once: its time into *t, its total into *total. */
static int run_variant(int v, mproc_queue *q, long long n, double *t, long long *total)
{
    int rc = 0;
    double t0 = demo_seconds();
    if (v == ONE_PROCESS)
        *total = demo_count_to(n);
    else if (v == TWO_PROCESSES)
        rc = two_processes(q, n, total);
    else
        rc = two_threads(n, total);
    *t = demo_seconds() - t0;
    return rc;
}

static int exit_now(void *arg)
{
    (void)arg;
    return 0;
}

static int demo_exit_now(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 0;
}
MPROC_ENTRY(demo_exit_now);

/* The median time of a start + join with the given method, over n runs. */
static int start_join_cost(int method, int n, double *median)
{
    double *t = malloc((size_t)n * sizeof *t);
    if (!t)
        return MPROC_ENOMEM;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        mproc_process *p;
        double t0 = demo_seconds();
        rc = start_child(&p, exit_now, NULL, method);
        if (rc == 0)
            rc = join_free(p);
        t[i] = demo_seconds() - t0;
    }
    if (rc == 0)
        *median = demo_stats_of(t, n).median;
    free(t);
    return rc;
}

static void print_row(int v, struct demo_stats s, long long total, double one_median)
{
    demo_print_row(variant_name[v], s, total);
    if (v != ONE_PROCESS)
        printf("   %.2fx as fast as one process", one_median / s.median);
    printf("\n");
}

/* How to read the figures: the runs, the CPUs, and the load of the machine
 * (the 1-minute load average before the runs) when other processes leave
 * fewer than two CPUs free for the two workers. */
static void print_context(int repeat, double load)
{
    int cpus = mproc_cpu_count();
    printf("median of %d run%s each, interleaved (fastest .. slowest); %d CPU%s", repeat,
           repeat == 1 ? "" : "s", cpus, cpus == 1 ? "" : "s");
    if (load >= 0)
        printf(", load average %.2f", load);
    printf("\n");
    if (cpus < 2)
        printf("with one CPU, two workers cannot be faster than one\n");
    else if (load >= 0 && cpus - load < 1.5)
        printf("other processes keep the CPUs busy: the two workers do not get two CPUs to "
               "themselves\n");
}

int demo_count(const struct demo_opts *o)
{
    char num[32], half[80];
    printf("== Counting to %s: in one process, then split in two (%s)\n",
           demo_fmt_count(num, sizeof num, o->count), demo_fmt_halves(half, sizeof half, o->count));
    fflush(stdout);

    mproc_queue *q;
    int rc = mproc_queue_create(&q, NULL, NULL);
    if (rc < 0)
        return demo_fail("creating the queue", rc);
    double *t = calloc((size_t)NVARIANTS * (size_t)o->repeat, sizeof *t);
    if (!t) {
        mproc_queue_close(q);
        return demo_fail("timing", MPROC_ENOMEM);
    }
    long long total[NVARIANTS] = {0};
    double load = -1; /* before our own runs add to it */
    if (getloadavg(&load, 1) != 1)
        load = -1;
    for (int r = 0; r < o->repeat && rc == 0; r++) {
        for (int k = 0; k < NVARIANTS && rc == 0; k++) {
            int v = (r + k) % NVARIANTS;
            rc = run_variant(v, q, o->count, &t[v * o->repeat + r], &total[v]);
            if (rc == 0 && total[v] != o->count)
                rc = -1;
            if (rc != 0)
                demo_fail(variant_name[v], rc);
        }
    }
    mproc_queue_close(q);
    if (rc == 0) {
        struct demo_stats s[NVARIANTS];
        for (int v = 0; v < NVARIANTS; v++)
            s[v] = demo_stats_of(&t[v * o->repeat], o->repeat);
        for (int v = 0; v < NVARIANTS; v++)
            print_row(v, s[v], total[v], s[ONE_PROCESS].median);
        print_context(o->repeat, load);
    }
    free(t);
    if (rc != 0)
        return 1;
    fflush(stdout);

    /* What the two processes' time includes besides counting. */
    int n = o->repeat < START_SAMPLES_MIN ? START_SAMPLES_MIN : o->repeat;
    double fork_t = 0, spawn_t = 0;
    rc = start_join_cost(MPROC_START_FORK, n, &fork_t);
    if (rc != 0)
        return demo_fail("start + join with fork", rc);
    rc = start_join_cost(MPROC_START_SPAWN, n, &spawn_t);
    if (rc != 0)
        return demo_fail("start + join with spawn", rc);
    char f[32], sp[32];
    printf("starting and joining a process costs %s with fork, %s with spawn (median of %d)\n",
           demo_fmt_time(f, sizeof f, fork_t), demo_fmt_time(sp, sizeof sp, spawn_t), n);
    return 0;
}
