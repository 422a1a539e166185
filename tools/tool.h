/* tool.h - the subcommands of the mproc command-line tool and what they
 * share: the argument parser and the messages of tools/cli.c, and the
 * demo's programs. */
#ifndef MPROC_TOOL_H
#define MPROC_TOOL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

/* A subcommand: `mproc <name> ...` calls run(argc, argv) with argv[0] the
 * command's name; usage(f) writes its help, starting "usage: mproc <name>"
 * (`mproc <name> --help` and `mproc help <name>`). The tool's own options
 * use a tool_cmd with name NULL. */
struct tool_cmd {
    const char *name;
    const char *summary; /* one line in `mproc --help` */
    void (*usage)(FILE *f);
    int (*run)(int argc, char **argv);
};

extern const struct tool_cmd tool_cmd_demo, tool_cmd_bench, tool_cmd_ls, tool_cmd_clean;
int tool_bench(int argc, char **argv);

/* What tool_getopt returns besides an option's value. */
enum {
    TOOL_OPT_END = -1,  /* no more options: operands start at optind */
    TOOL_OPT_HELP = -2, /* --help: the usage is on stdout; exit 0 */
    TOOL_OPT_FAIL = -3, /* a usage error, reported in one line; exit 2 */
};

/* tool_getopt - the next option of argv (argv[0] is the command's name)
 * for cmd, with getopt_long's `shortopts` and `longopts` (without "help":
 * -h and --help are added here). Returns the option's value (the val of its
 * struct option, or the letter of a short one), or one of TOOL_OPT_*. Call
 * it until it returns a negative value; then return tool_status() of that
 * value unless it was TOOL_OPT_END. */
int tool_getopt(const struct tool_cmd *cmd, int argc, char **argv, const char *shortopts,
                const struct option *longopts);

/* tool_status - the exit status for TOOL_OPT_HELP (0) or TOOL_OPT_FAIL (2). */
int tool_status(int opt);

/* tool_operands - after the options: more than `max` operands (max < 0:
 * any number) is a usage error. Returns 0, or 2 after the one line. */
int tool_operands(const struct tool_cmd *cmd, int argc, char **argv, int max);

/* tool_usage_error - "mproc <cmd>: <message> (try 'mproc <cmd> --help')"
 * on stderr (cmd NULL or unnamed: the tool's own); returns 2. */
int tool_usage_error(const struct tool_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* tool_error - "mproc <cmd>: <message>" on stderr, after flushing stdout;
 * returns 1. */
int tool_error(const struct tool_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* tool_parse_count - a whole number in [min, max] written in decimal
 * digits, optionally grouped with '_' or ',' ("100_000_000"). */
bool tool_parse_count(const char *s, long long min, long long max, long long *out);

/* The demo ---------------------------------------------------------------*/

/* What `mproc demo` runs with (its --count and --repeat). */
struct demo_opts {
    long long count; /* the total to count to, split in two for two workers */
    int repeat;      /* runs of each timed variant; the median is shown */
};

#define DEMO_COUNT_DEFAULT 100000000LL
#define DEMO_REPEAT_DEFAULT 5

/* The demo's programs, one file each (tools/demo_*.c). Each prints its own
 * lines and returns 0 on success, 1 after reporting a failure. */
int demo_count(const struct demo_opts *o); /* counting in one and in two processes or threads */
int demo_queue(const struct demo_opts *o); /* [42, None, 'hello'] through a Queue */
int demo_pipe(const struct demo_opts *o);  /* the same list through a Pipe */
int demo_shm(const struct demo_opts *o);   /* a shared-memory counter under a Semaphore */
int demo_pool(const struct demo_opts *o);  /* the count in chunks through a Pool */

/* Shared by the demos (tools/demo.c): the honest counting loop (the
 * compiler must not fold it away), the monotonic clock in seconds, a
 * failure message, and the summary of repeated timings. */
long long demo_count_to(long long n);
double demo_seconds(void);
int demo_fail(const char *what, int rc);

struct demo_stats {
    double median, min, max;
};
struct demo_stats demo_stats_of(double *v, int n); /* sorts v */

/* "68.2 ms", "1.31 s", "412 us": three significant digits and a unit. */
const char *demo_fmt_time(char *buf, size_t cap, double seconds);

/* One timed line of the demo, without its newline:
 * "two processes    41.5 ms  (40.2 ms .. 45.0 ms)  total_number=100000000" */
void demo_print_row(const char *label, struct demo_stats s, long long total);

/* A timed line with no total, with its newline:
 * "one child        1.52 ms  (1.40 ms .. 2.03 ms)" */
void demo_print_time_row(const char *label, struct demo_stats s);

/* "100,000,000" */
const char *demo_fmt_count(char *buf, size_t cap, long long n);

/* n split in two: "50,000,000 each", or "500 and 501" */
const char *demo_fmt_halves(char *buf, size_t cap, long long n);

#endif
