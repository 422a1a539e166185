/* bench_process.c - what a process costs: start + join with mproc against
 * the raw system calls, for both start methods; and the counting speed-up
 * of the tutorial's counting program (one process against two).
 *
 * Rows (area "process"):
 *   start_join_fork   mproc_process_start(fork) + join + free  vs  fork + waitpid
 *   start_join_spawn  mproc_process_start(spawn) + join + free vs  posix_spawn of
 *                     this binary with "--exit-now" + waitpid
 *   count_100M        counting to 100,000,000 in one process vs in two
 *                     (the speed-up is printed as a comment)
 * Targets: fork start+join <= 1.1x raw; spawn <= 1.2x posix_spawn.
 *
 * The binary calls mproc_main() first (spawned children run bench_nop and
 * exit) and exits at once when given --exit-now (the posix_spawn peer).
 */
#include "harness.h"

#include <mproc.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static char *self_argv0;

static int bench_nop(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 0;
}
MPROC_ENTRY(bench_nop)

static int return_zero(void *arg)
{
    (void)arg;
    return 0;
}

static void join_or_die(mproc_process *p)
{
    struct mproc_exit st;
    if (mproc_process_join(p, MPROC_FOREVER, &st) != 0 || !st.exited || st.code != 0) {
        fprintf(stderr, "bench_process: child failed\n");
        exit(1);
    }
    mproc_process_close(p);
}

static uint64_t mproc_fork_case(uint64_t n, void *arg)
{
    (void)arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        mproc_process *p;
        if (mproc_process_start(&p, return_zero, NULL, NULL) != 0)
            exit(1);
        join_or_die(p);
    }
    return bench_now_ns() - t0;
}

static uint64_t raw_fork_case(uint64_t n, void *arg)
{
    (void)arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid == 0)
            _exit(0);
        int st;
        if (pid < 0 || waitpid(pid, &st, 0) != pid || st != 0)
            exit(1);
    }
    return bench_now_ns() - t0;
}

static uint64_t mproc_spawn_case(uint64_t n, void *arg)
{
    (void)arg;
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN, .entry = "bench_nop"};
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        mproc_process *p;
        if (mproc_process_start(&p, NULL, NULL, &o) != 0)
            exit(1);
        join_or_die(p);
    }
    return bench_now_ns() - t0;
}

static uint64_t raw_spawn_case(uint64_t n, void *arg)
{
    (void)arg;
    char *argv[] = {self_argv0, "--exit-now", NULL};
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        pid_t pid;
        int st;
        if (posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv, environ) != 0 ||
            waitpid(pid, &st, 0) != pid || st != 0)
            exit(1);
    }
    return bench_now_ns() - t0;
}

/* The tutorial's counting loop, kept honest (see tools/demo.c). */
static long long count_to(long long n)
{
    long long count = 0;
    while (count < n) {
        count += 1;
        __asm__ __volatile__("" : "+r"(count));
    }
    return count;
}

static long long count_total;

static uint64_t count_one(uint64_t n, void *arg)
{
    (void)arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++)
        if (count_to(count_total) != count_total)
            exit(1);
    return bench_now_ns() - t0;
}

static int count_half(void *arg)
{
    (void)arg;
    return count_to(count_total / 2) == count_total / 2 ? 0 : 1;
}

static uint64_t count_two(uint64_t n, void *arg)
{
    (void)arg;
    uint64_t t0 = bench_now_ns();
    for (uint64_t i = 0; i < n; i++) {
        mproc_process *p[2];
        for (int k = 0; k < 2; k++)
            if (mproc_process_start(&p[k], count_half, NULL, NULL) != 0)
                exit(1);
        for (int k = 0; k < 2; k++)
            join_or_die(p[k]);
    }
    return bench_now_ns() - t0;
}

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0)
        return 1;
    if (argc > 1 && strcmp(argv[1], "--exit-now") == 0)
        return 0;
    self_argv0 = argv[0];
    bench_print_header();

    struct bench_case fork_cases[] = {
        {.impl = "fork+waitpid", .fn = raw_fork_case, .n = bench_scale(200)},
        {.impl = "mproc", .fn = mproc_fork_case, .n = bench_scale(200)},
    };
    bench_run("process", "start_join_fork", fork_cases, 2, "us/op", 0);
    printf("# start_join_fork: mproc / raw = %.2fx (target <= 1.1x)\n",
           fork_cases[1].median / fork_cases[0].median);

    struct bench_case spawn_cases[] = {
        {.impl = "posix_spawn+waitpid", .fn = raw_spawn_case, .n = bench_scale(50)},
        {.impl = "mproc", .fn = mproc_spawn_case, .n = bench_scale(50)},
    };
    bench_run("process", "start_join_spawn", spawn_cases, 2, "us/op", 0);
    printf("# start_join_spawn: mproc / raw = %.2fx (target <= 1.2x)\n",
           spawn_cases[1].median / spawn_cases[0].median);

    count_total = (long long)bench_scale(100000000);
    struct bench_case count_cases[] = {
        {.impl = "one_process", .fn = count_one, .n = 1},
        {.impl = "two_processes", .fn = count_two, .n = 1},
    };
    bench_run("process", "count_100M", count_cases, 2, "ms/op", 0);
    printf("# count_100M (%lld): speed-up of two processes over one = %.2fx (cpus: %d)\n",
           count_total, count_cases[0].median / count_cases[1].median, mproc_cpu_count());
    fflush(stdout);
    return 0;
}
