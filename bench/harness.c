/* harness.c - see harness.h. */
#include "harness.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int bench_reps(void)
{
    const char *s = getenv("MPROC_BENCH_REPS");
    int r = s ? atoi(s) : 7;
    return r < 1 ? 1 : r;
}

uint64_t bench_scale(uint64_t n)
{
    const char *s = getenv("MPROC_BENCH_SCALE");
    double f = s ? atof(s) : 1.0;
    if (f <= 0)
        f = 1.0;
    uint64_t m = (uint64_t)((double)n * f);
    return m ? m : 1;
}

void bench_pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

void bench_print_header(void)
{
    printf("area,case,impl,median,min,max,unit\n");
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double convert(double ns_per_op, const char *unit, double bytes)
{
    if (strcmp(unit, "Mmsg/s") == 0)
        return ns_per_op > 0 ? 1e3 / ns_per_op : 0;
    if (strcmp(unit, "GB/s") == 0)
        return ns_per_op > 0 ? bytes / ns_per_op : 0;
    if (strcmp(unit, "us/op") == 0)
        return ns_per_op / 1e3;
    if (strcmp(unit, "ms/op") == 0)
        return ns_per_op / 1e6;
    return ns_per_op;
}

int bench_run(const char *area, const char *casename, struct bench_case *cases, int ncases,
              const char *unit, double bytes_per_op)
{
    int reps = bench_reps();
    double *samples = calloc((size_t)reps * (size_t)ncases, sizeof *samples);
    for (int r = 0; r < reps; r++) {
        for (int c = 0; c < ncases; c++) {
            uint64_t ns = cases[c].fn(cases[c].n, cases[c].arg);
            samples[c * reps + r] = (double)ns / (double)cases[c].n;
        }
    }
    int best = 0;
    for (int c = 0; c < ncases; c++) {
        double *s = samples + c * reps;
        qsort(s, (size_t)reps, sizeof *s, cmp_double);
        cases[c].median = s[reps / 2];
        cases[c].min = s[0];
        cases[c].max = s[reps - 1];
        if (cases[c].median < cases[best].median)
            best = c;
        double med = convert(cases[c].median, unit, bytes_per_op);
        double lo = convert(cases[c].min, unit, bytes_per_op);
        double hi = convert(cases[c].max, unit, bytes_per_op);
        if (lo > hi) {
            double t = lo;
            lo = hi;
            hi = t;
        }
        printf("%s,%s,%s,%.4g,%.4g,%.4g,%s\n", area, casename, cases[c].impl, med, lo, hi, unit);
    }
    fflush(stdout);
    free(samples);
    return best;
}
