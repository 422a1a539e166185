/* harness.h - the small benchmark harness every bench_*.c uses.
 *
 * A benchmark case is a function that performs `n` operations and returns
 * the elapsed nanoseconds it measured itself (so that set-up, forks and
 * joins can stay outside the timed part). bench_run() calls every case of a
 * row in turn, `reps` rounds interleaved (peer A, peer B, mproc, A, B, ...),
 * so that a host moving the vCPUs disturbs all of them alike, and reports
 * the median and the range of the per-operation cost.
 *
 * Output: one CSV row per case on stdout:
 *   area,case,impl,median,min,max,unit
 * and `# ...` comment lines for humans. MPROC_BENCH_REPS and
 * MPROC_BENCH_SCALE (a factor on n) tune a run from the environment.
 */
#ifndef MPROC_BENCH_HARNESS_H
#define MPROC_BENCH_HARNESS_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t (*bench_fn)(uint64_t n, void *arg);

struct bench_case {
    const char *impl; /* "mproc", "pipe", "zmq", ... */
    bench_fn fn;
    void *arg;
    uint64_t n; /* operations per repetition */
    /* filled by bench_run */
    double median, min, max; /* ns per operation */
};

/* bench_run - run the cases interleaved and print one row each.
 * `unit` says how to print: "ns/op", "Mmsg/s", "GB/s" (with bytes_per_op),
 * "us/op". Returns the index of the fastest case. */
int bench_run(const char *area, const char *casename, struct bench_case *cases, int ncases,
              const char *unit, double bytes_per_op);

uint64_t bench_now_ns(void);
int bench_reps(void);
uint64_t bench_scale(uint64_t n);
/* Pin the calling process to one CPU (ignored if it fails). */
void bench_pin(int cpu);
/* bench_print_header - the CSV header line, once per binary. */
void bench_print_header(void);

#endif
