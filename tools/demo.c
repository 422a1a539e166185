/* demo.c - `mproc demo`: the programs of the Python multiprocessing
 * tutorial mproc grew from, in C, one after another, timed; and the helpers
 * they share.
 *
 * Timed variants run --repeat times, interleaved (round r runs every
 * variant once, starting with a different one each round), and the median
 * is shown with the fastest and the slowest run: on a busy machine one run
 * can take twice as long as the next, and a single pair of runs gives
 * ratios that mean nothing.
 */
#include "tool.h"

#include <mproc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void demo_usage(FILE *f)
{
    fputs("usage: mproc demo [--count N] [--repeat N]\n"
          "\n"
          "Run, in C with mproc, the programs of the Python multiprocessing tutorial\n"
          "mproc grew from, one after another:\n"
          "  - counting to N in one process, then split in two processes (each puts\n"
          "    its count on a Queue) and in two threads, with what starting and\n"
          "    joining a process costs (fork and spawn);\n"
          "  - the list [42, None, 'hello'] from a child process through a Queue,\n"
          "    then through a Pipe, each from creating it to joining the child\n"
          "    (these two need msgpack-c at build time);\n"
          "  - two processes adding their counts of N/2 into a counter in shared\n"
          "    memory, under a semaphore;\n"
          "  - the count again, in 100 chunks, through a Pool.\n"
          "Each timed line shows the median of the runs and, in parentheses, the\n"
          "fastest and the slowest; the runs of the variants are interleaved, so a\n"
          "moment of load elsewhere on the machine hits them alike.\n"
          "\n"
          "options:\n"
          "  --count N   the number to count to (default 100,000,000; the digits may\n"
          "              be grouped with '_' or ',')\n"
          "  --repeat N  runs of each timed variant, 1 to 100 (default 5)\n"
          "  -h, --help  this text\n"
          "\n"
          "exit status: 0 ok, 1 a program failed, 2 usage\n",
          f);
}

static int run_demo(int argc, char **argv);

const struct tool_cmd tool_cmd_demo = {
    "demo", "run the tutorial's programs in C, side by side, timed", demo_usage, run_demo};

double demo_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The tutorial's loop: `while count < n: count += 1`. The empty asm with
 * the counter as an in/out operand makes the compiler keep every iteration,
 * as an interpreter would, without adding a memory access. */
long long demo_count_to(long long n)
{
    long long count = 0;
    while (count < n) {
        count += 1;
        __asm__ __volatile__("" : "+r"(count));
    }
    return count;
}

int demo_fail(const char *what, int rc)
{
    if (rc < 0)
        return tool_error(&tool_cmd_demo, "%s: %s", what, mproc_strerror(rc));
    return tool_error(&tool_cmd_demo, "%s: failed", what);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct demo_stats demo_stats_of(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    return (struct demo_stats){med, v[0], v[n - 1]};
}

const char *demo_fmt_time(char *buf, size_t cap, double s)
{
    if (s >= 10)
        snprintf(buf, cap, "%.1f s", s);
    else if (s >= 1)
        snprintf(buf, cap, "%.2f s", s);
    else if (s >= 0.1)
        snprintf(buf, cap, "%.0f ms", s * 1e3);
    else if (s >= 0.01)
        snprintf(buf, cap, "%.1f ms", s * 1e3);
    else if (s >= 0.001)
        snprintf(buf, cap, "%.2f ms", s * 1e3);
    else if (s >= 0.0001)
        snprintf(buf, cap, "%.0f us", s * 1e6);
    else
        snprintf(buf, cap, "%.1f us", s * 1e6);
    return buf;
}

void demo_print_row(const char *label, struct demo_stats s, long long total)
{
    char med[32], lo[32], hi[32], range[80];
    snprintf(range, sizeof range, "(%s .. %s)", demo_fmt_time(lo, sizeof lo, s.min),
             demo_fmt_time(hi, sizeof hi, s.max));
    printf("%-14s %9s  %-22s total_number=%lld", label, demo_fmt_time(med, sizeof med, s.median),
           range, total);
}

void demo_print_time_row(const char *label, struct demo_stats s)
{
    char med[32], lo[32], hi[32];
    printf("%-14s %9s  (%s .. %s)\n", label, demo_fmt_time(med, sizeof med, s.median),
           demo_fmt_time(lo, sizeof lo, s.min), demo_fmt_time(hi, sizeof hi, s.max));
}

const char *demo_fmt_count(char *buf, size_t cap, long long n)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%lld", n);
    size_t k = 0;
    for (int i = 0; i < len && k + 1 < cap; i++) {
        if (i > 0 && (len - i) % 3 == 0 && k + 2 < cap)
            buf[k++] = ',';
        buf[k++] = digits[i];
    }
    buf[k] = 0;
    return buf;
}

const char *demo_fmt_halves(char *buf, size_t cap, long long n)
{
    char a[32], b[32];
    if (n % 2 == 0)
        snprintf(buf, cap, "%s each", demo_fmt_count(a, sizeof a, n / 2));
    else
        snprintf(buf, cap, "%s and %s", demo_fmt_count(a, sizeof a, n / 2),
                 demo_fmt_count(b, sizeof b, n - n / 2));
    return buf;
}

static int run_demo(int argc, char **argv)
{
    static const struct option opts[] = {{"count", required_argument, NULL, 'c'},
                                         {"repeat", required_argument, NULL, 'r'},
                                         {NULL, 0, NULL, 0}};
    struct demo_opts o = {DEMO_COUNT_DEFAULT, DEMO_REPEAT_DEFAULT};
    int c;
    while ((c = tool_getopt(&tool_cmd_demo, argc, argv, "", opts)) > 0) {
        long long v;
        if (c == 'c') {
            if (!tool_parse_count(optarg, 2, 1000000000000LL, &v))
                return tool_usage_error(&tool_cmd_demo,
                                        "--count wants a whole number from 2 to "
                                        "1,000,000,000,000, not '%s'",
                                        optarg);
            o.count = v;
        } else if (c == 'r') {
            if (!tool_parse_count(optarg, 1, 100, &v))
                return tool_usage_error(&tool_cmd_demo,
                                        "--repeat wants a whole number from 1 to 100, not '%s'",
                                        optarg);
            o.repeat = (int)v;
        }
    }
    if (c != TOOL_OPT_END)
        return tool_status(c);
    if (tool_operands(&tool_cmd_demo, argc, argv, 0) != 0)
        return 2;

    int (*const programs[])(const struct demo_opts *) = {demo_count, demo_queue, demo_pipe,
                                                         demo_shm, demo_pool};
    int failed = 0;
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        if (i > 0)
            printf("\n");
        if (programs[i](&o) != 0)
            failed++;
        fflush(stdout);
    }
    return failed ? 1 : 0;
}
