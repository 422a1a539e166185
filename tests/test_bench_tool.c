/* test_bench_tool.c - `mproc bench`: running the benchmark binaries, passing
 * their CSV through, and the SVG charts of --plot.
 *
 * The real benchmarks take minutes and measure speed, which tests never do;
 * these tests point the tool at a directory of fake benchmarks (tiny shell
 * scripts named bench_*, through MPROC_BENCH_DIR) or feed it CSV with
 * --from, and check what it prints, its exit status and the files it
 * writes. Each test works in its own mkdtemp directory and removes it.
 */
#include "harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define OUT_MAX 65536

static char out[OUT_MAX];
static char tmpdir[64];

static void make_tmpdir(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/mproc-bt-XXXXXX");
    cr_assert(mkdtemp(tmpdir) != NULL);
}

/* Removes tmpdir and what the tests put in it (files, one level of dirs). */
static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    cr_assert(d != NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        cr_assert(lstat(p, &st) == 0);
        if (S_ISDIR(st.st_mode))
            remove_tree(p);
        else
            cr_assert(unlink(p) == 0);
    }
    closedir(d);
    cr_assert(rmdir(dir) == 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    size_t n = strlen(text);
    cr_assert(write(fd, text, n) == (ssize_t)n);
    cr_assert(close(fd) == 0);
}

static char *read_file(const char *path)
{
    static char buf[OUT_MAX];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    cr_assert(n >= 0);
    buf[n] = 0;
    close(fd);
    return buf;
}

/* run_tool - run `mproc bench args...`; stdout alone goes to `out` (stderr
 * to `err_out` if not NULL, else it is discarded). Returns the exit code. */
static int run_bench(const char *const *args, char *err_out, size_t err_cap)
{
    const char *dir = getenv("MPROC_TEST_BUILD");
    cr_assert(dir != NULL, "MPROC_TEST_BUILD is not set (run through ctest)");
    char tool[4096];
    snprintf(tool, sizeof tool, "%s/mproc", dir);
    cr_assert(access(tool, X_OK) == 0, "%s: not built", tool);
    const char *argv[32] = {tool, "bench"};
    int argc = 2;
    for (; args[argc - 2]; argc++)
        argv[argc] = args[argc - 2];
    argv[argc] = NULL;

    char errpath[128];
    snprintf(errpath, sizeof errpath, "%s/.stderr", tmpdir);
    int p[2];
    cr_assert(pipe2(p, O_CLOEXEC) == 0);
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        dup2(p[1], 1);
        if (e >= 0)
            dup2(e, 2);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(p[0], out + n, sizeof out - 1 - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        cr_assert(r > 0);
        n += (size_t)r;
        cr_assert(n < sizeof out - 1, "tool output too long");
    }
    out[n] = '\0';
    close(p[0]);
    int status = mproc_test_wait(pid, 20000);
    cr_assert(status >= 0, "the tool hung");
    if (err_out)
        snprintf(err_out, err_cap, "%s", read_file(errpath));
    unlink(errpath);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int count_of(const char *hay, const char *needle)
{
    int k = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        k++;
    return k;
}

static const char CSV[] = "area,case,impl,median,min,max,unit\n"
                          "# a comment line\n"
                          "queue,1to1_64B,mproc,40,38,41,Mmsg/s\n"
                          "queue,1to1_64B,pipe,1.9,1.8,2,Mmsg/s\n"
                          "queue,1to1_4KiB,mproc,9,8,10,GB/s\n"
                          "queue,1to1_4KiB,pipe,2.5,2.4,2.6,GB/s\n"
                          "queue,pingpong_spin_64B,mproc-poll,0.25,0.2,0.3,us/op\n"
                          "queue,pingpong_spin_64B,pipe-nonblock-poll,8,7,9,us/op\n"
                          "area,case,impl,median,min,max,unit\n"
                          "pool,map_chunk1,mproc,900,850,1000,ns/op\n"
                          "pool,map_chunk1,py-mp.Pool,40000,39000,42000,ns/op\n";

MPROC_TEST(bench_tool, from_csv_passes_rows_through_with_one_header)
{
    make_tmpdir();
    char csv[128];
    snprintf(csv, sizeof csv, "%s/in.csv", tmpdir);
    write_file(csv, CSV, 0600);
    cr_assert_eq(run_bench((const char *[]){"--from", csv, NULL}, NULL, 0), 0);
    cr_assert_eq(count_of(out, "area,case,impl,median,min,max,unit\n"), 1, "%s", out);
    cr_assert(strncmp(out, "area,case,", 10) == 0);
    cr_assert(strstr(out, "# a comment line\n") != NULL);
    cr_assert(strstr(out, "pool,map_chunk1,py-mp.Pool,40000,39000,42000,ns/op\n") != NULL);
    cr_assert_eq(count_of(out, "\n"), 10, "%s", out);
    remove_tree(tmpdir);
}

MPROC_TEST(bench_tool, plot_writes_throughput_latency_and_per_area_charts)
{
    make_tmpdir();
    char csv[128], plots[128], path[256], err[4096];
    snprintf(csv, sizeof csv, "%s/in.csv", tmpdir);
    snprintf(plots, sizeof plots, "%s/plots", tmpdir); /* created by the tool */
    write_file(csv, CSV, 0600);
    cr_assert_eq(run_bench((const char *[]){"--from", csv, "--plot", plots, NULL}, err, sizeof err),
                 0, "%s", err);
    static const char *const files[] = {"throughput_queue.svg", "rate_queue.svg",
                                        "latency_queue.svg", "pool_ns_op.svg"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", plots, files[i]);
        const char *svg = read_file(path);
        cr_assert(strncmp(svg, "<?xml", 5) == 0, "%s", files[i]);
        cr_assert(strstr(svg, "</svg>\n") != NULL, "%s", files[i]);
        cr_assert(strstr(svg, ">mproc") != NULL, "%s: mproc missing", files[i]);
    }
    snprintf(path, sizeof path, "%s/throughput_queue.svg", plots);
    const char *svg = read_file(path);
    cr_assert(strstr(svg, "4 KiB") != NULL && strstr(svg, "64 B") != NULL);
    cr_assert(strstr(svg, "#d62728") != NULL, "mproc is drawn in red");
    remove_tree(tmpdir);
}

MPROC_TEST(bench_tool, plot_escapes_markup_and_skips_unusable_values)
{
    make_tmpdir();
    char csv[128], plots[128], path[256];
    snprintf(csv, sizeof csv, "%s/in.csv", tmpdir);
    snprintf(plots, sizeof plots, "%s/plots", tmpdir);
    write_file(csv,
               "sync,c<1>,<script>&x\",5,4,6,ns/op\n"
               "sync,c<1>,mproc,nan,nan,nan,ns/op\n"
               "sync,c<1>,neg,-3,-4,-2,ns/op\n"
               "sync,broken,impl,abc,1,2,ns/op\n"
               "sync,short,row\n"
               "sync,c2,zero,0,0,0,ns/op\n",
               0600);
    cr_assert_eq(run_bench((const char *[]){"--from", csv, "--plot", plots, NULL}, NULL, 0), 0);
    snprintf(path, sizeof path, "%s/sync_ns_op.svg", plots);
    const char *svg = read_file(path);
    cr_assert(strstr(svg, "&lt;script&gt;&amp;x&quot;") != NULL, "%s", svg);
    cr_assert(strstr(svg, "<script>") == NULL);
    cr_assert(strstr(svg, "c&lt;1&gt;") != NULL);
    cr_assert(strstr(svg, ">neg<") == NULL, "a negative value has no place on a log scale");
    cr_assert(strstr(svg, "nan") == NULL && strstr(svg, "inf") == NULL);
    remove_tree(tmpdir);
}

static void fake_bench(const char *name, const char *body)
{
    char path[256], text[1024];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    snprintf(text, sizeof text, "#!/bin/sh\n%s", body);
    write_file(path, text, 0700);
}

MPROC_TEST(bench_tool, runs_every_benchmark_in_name_order_and_reports_failures)
{
    make_tmpdir();
    fake_bench("bench_b", "echo area,case,impl,median,min,max,unit\n"
                          "echo b,c,mproc,2,2,2,ns/op\n"
                          "echo progress >&2\n"
                          "exit 3\n");
    fake_bench("bench_a", "echo area,case,impl,median,min,max,unit\n"
                          "echo \"# scale $MPROC_BENCH_SCALE reps $MPROC_BENCH_REPS\"\n"
                          "echo a,c,mproc,1,1,1,ns/op\n");
    fake_bench("bench_c.txt", "exit 0\n"); /* has a dot: not a benchmark */
    char notexec[256];
    snprintf(notexec, sizeof notexec, "%s/bench_d", tmpdir);
    write_file(notexec, "#!/bin/sh\necho d,c,x,1,1,1,ns/op\n", 0600); /* not executable */
    cr_assert(setenv("MPROC_BENCH_DIR", tmpdir, 1) == 0);
    char err[4096];
    int rc = run_bench((const char *[]){"--scale", "0.5", "--reps", "3", NULL}, err, sizeof err);
    cr_assert_eq(rc, 1, "a failing benchmark makes the run fail");
    cr_assert_str_eq(out, "area,case,impl,median,min,max,unit\n"
                          "# scale 0.5 reps 3\n"
                          "a,c,mproc,1,1,1,ns/op\n"
                          "b,c,mproc,2,2,2,ns/op\n");
    cr_assert(strstr(err, "[1/2] bench_a") != NULL, "%s", err);
    cr_assert(strstr(err, "[2/2] bench_b FAILED") != NULL, "%s", err);
    cr_assert(strstr(err, "progress") != NULL, "the benchmark's stderr passes through");

    rc = run_bench((const char *[]){"--only", "_a", NULL}, NULL, 0);
    cr_assert_eq(rc, 0);
    cr_assert(strstr(out, "a,c,mproc") != NULL && strstr(out, "b,c,mproc") == NULL, "%s", out);

    rc = run_bench((const char *[]){"--list", NULL}, NULL, 0);
    cr_assert_eq(rc, 0);
    cr_assert_eq(count_of(out, "\n"), 2, "%s", out);
    cr_assert(strstr(out, "/bench_a\n") != NULL && strstr(out, "/bench_b\n") != NULL);

    rc = run_bench((const char *[]){"--only", "nothing-matches", NULL}, NULL, 0);
    cr_assert_eq(rc, 2, "no benchmark found is a usage error");
    unsetenv("MPROC_BENCH_DIR");
    remove_tree(tmpdir);
}

/* 1 when pid is gone (or a zombie about to be reaped by init), within ~3 s. */
static int gone_soon(pid_t pid)
{
    for (int i = 0; i < 300; i++) {
        char path[64], st[256];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return 1;
        ssize_t n = read(fd, st, sizeof st - 1);
        close(fd);
        st[n > 0 ? n : 0] = 0;
        const char *rp = strrchr(st, ')');
        if (rp && rp[1] == ' ' && rp[2] == 'Z')
            return 1;
        mproc_test_sleep_ms(10);
    }
    return 0;
}

static pid_t read_pid(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    long v = strtol(read_file(path), NULL, 10);
    cr_assert(v > 0, "%s: no pid written", name);
    return (pid_t)v;
}

MPROC_TEST(bench_tool, timeout_kills_the_benchmark_and_everything_it_forked)
{
    make_tmpdir();
    char body[512];
    snprintf(body, sizeof body,
             "echo area,case,impl,median,min,max,unit\n"
             "echo t,c,mproc,1,1,1,ns/op\n"
             "sleep 60 & echo $! > %s/child.pid\n"
             "echo $$ > %s/bench.pid\n"
             "wait\n",
             tmpdir, tmpdir);
    fake_bench("bench_hang", body);
    cr_assert(setenv("MPROC_BENCH_DIR", tmpdir, 1) == 0);
    char err[4096];
    int rc = run_bench((const char *[]){"--timeout", "1", NULL}, err, sizeof err);
    unsetenv("MPROC_BENCH_DIR");
    cr_assert_eq(rc, 1, "a benchmark past its timeout fails the run");
    cr_assert(strstr(out, "t,c,mproc,1,1,1,ns/op\n") != NULL, "rows before the hang are kept");
    cr_assert(strstr(err, "still running after 1 s: killed") != NULL, "%s", err);
    cr_assert(gone_soon(read_pid("bench.pid")));
    cr_assert(gone_soon(read_pid("child.pid")), "the benchmark's child was killed too");
    remove_tree(tmpdir);
}

MPROC_TEST(bench_tool, leftover_process_of_a_finished_benchmark_is_killed_and_not_waited_for)
{
    make_tmpdir();
    char body[512];
    /* the leftover keeps stdout open: EOF would only come in 60 s */
    snprintf(body, sizeof body,
             "sleep 60 & echo $! > %s/child.pid\n"
             "echo l,c,mproc,1,1,1,ns/op\n"
             "exit 0\n",
             tmpdir);
    fake_bench("bench_leak", body);
    cr_assert(setenv("MPROC_BENCH_DIR", tmpdir, 1) == 0);
    int rc = run_bench((const char *[]){"--timeout", "30", NULL}, NULL, 0);
    unsetenv("MPROC_BENCH_DIR");
    cr_assert_eq(rc, 0);
    cr_assert_str_eq(out, "l,c,mproc,1,1,1,ns/op\n");
    cr_assert(gone_soon(read_pid("child.pid")));
    remove_tree(tmpdir);
}

MPROC_TEST(bench_tool, rejects_bad_options)
{
    make_tmpdir();
    cr_assert_eq(run_bench((const char *[]){"--reps", "0", NULL}, NULL, 0), 2);
    cr_assert_eq(run_bench((const char *[]){"--reps", "2.5", NULL}, NULL, 0), 2);
    cr_assert_eq(run_bench((const char *[]){"--scale", "-1", NULL}, NULL, 0), 2);
    cr_assert_eq(run_bench((const char *[]){"--scale", "x", NULL}, NULL, 0), 2);
    cr_assert_eq(run_bench((const char *[]){"--timeout", "-1", NULL}, NULL, 0), 2);
    cr_assert_eq(run_bench((const char *[]){"--bogus", NULL}, NULL, 0), 2);
    cr_assert_eq(run_bench((const char *[]){"extra", NULL}, NULL, 0), 2);
    cr_assert_eq(run_bench((const char *[]){"--from", "/nonexistent/x.csv", NULL}, NULL, 0), 2);
    cr_assert_eq(run_bench((const char *[]){"--help", NULL}, NULL, 0), 0);
    cr_assert(strstr(out, "usage: mproc bench") != NULL);
    remove_tree(tmpdir);
}
