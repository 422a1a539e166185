/* bench.c - `mproc bench`: run the benchmark binaries one after another,
 * pass their CSV through, and optionally draw SVG charts of it.
 *
 *   mproc bench [--only SUBSTR] [--scale F] [--reps N] [--timeout S] [--plot DIR]
 *   mproc bench --from FILE [--plot DIR]     (FILE "-" = stdin)
 *   mproc bench --list
 *
 * Where the benchmarks are: $MPROC_BENCH_DIR if set, else bench/ next to
 * this executable (the build tree puts the tool at build/mproc and the
 * benchmarks at build/bench/bench_*). Benchmarks are not installed: an
 * installed tool finds none (and never runs whatever bench_* its bin/
 * directory holds) and says that this is a build-tree command.
 * The executable is found through /proc/self/exe, so the tool works from any
 * working directory. Every regular executable file named bench_* there is a
 * benchmark; they run in name order.
 *
 * Output: stdout carries one CSV header line (area,case,impl,median,min,max,
 * unit) and then every row and `#` comment line of every benchmark, as it
 * comes; stderr carries a progress line per benchmark ("[2/5] bench_pool")
 * and the benchmarks' own progress lines. --scale and --reps set
 * MPROC_BENCH_SCALE and MPROC_BENCH_REPS for the children.
 *
 * Exit status: 0 if every benchmark exited 0, 1 if one failed (its rows are
 * still passed on), 2 for bad usage or when no benchmark was found.
 *
 * Each benchmark runs in a child (fork + execv, stdout through a
 * close-on-exec pipe, stdin /dev/null) in a process group of its own; the
 * tool waits for it before starting the next one, so two benchmarks never
 * compete for the CPUs. A benchmark that runs past --timeout (default 900 s)
 * is killed with its whole group and counts as failed; when it exits, what
 * it left running in its group is killed too; SIGINT, SIGTERM or SIGHUP to
 * the tool kill the running benchmark's group before the tool dies.
 */
#include "tool.h"

#include "bench_plot.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct rows {
    struct bench_row *v;
    size_t n, cap;
};

static int rows_add(struct rows *rs, const struct bench_row *r)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        struct bench_row *v = realloc(rs->v, cap * sizeof *v);
        if (!v)
            return -1;
        rs->v = v;
        rs->cap = cap;
    }
    rs->v[rs->n++] = *r;
    return 0;
}

/* One line of CSV (with its newline, if it had one): to stdout (only the
 * first header of all), and kept for the charts if it is a row. */
static void handle_line(const char *line, struct rows *rs, int *header_done)
{
    if (strncmp(line, "area,case,", 10) == 0) {
        if (*header_done)
            return;
        *header_done = 1;
    }
    fputs(line, stdout);
    if (line[0] && line[strlen(line) - 1] != '\n')
        fputc('\n', stdout);
    fflush(stdout);
    struct bench_row r;
    if (bench_row_parse(line, &r) && rows_add(rs, &r) < 0)
        fprintf(stderr, "mproc bench: out of memory, row not kept for the charts\n");
}

/* Pass the CSV of f to stdout (one header in total) and keep its rows. */
static void pass_through(FILE *f, struct rows *rs, int *header_done)
{
    char line[1024];
    while (fgets(line, sizeof line, f))
        handle_line(line, rs, header_done);
}

/* The directory of the benchmarks into dir (PATH_MAX): 0, or -1 when there
 * is none (dir then names where they were looked for, when it got that far). */
static int bench_dir(char *dir)
{
    const char *env = getenv("MPROC_BENCH_DIR");
    if (env && *env) {
        snprintf(dir, PATH_MAX, "%s", env);
        return 0;
    }
    char exe[PATH_MAX - 16]; /* room for "/bench" in dir */
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0)
        return -1;
    exe[k] = 0;
    char *slash = strrchr(exe, '/');
    if (!slash)
        return -1;
    *slash = 0;
    struct stat st;
    snprintf(dir, PATH_MAX, "%s/bench", exe);
    if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
        return 0;
    return -1;
}

static int is_bench(const struct dirent *d)
{
    return strncmp(d->d_name, "bench_", 6) == 0 && !strchr(d->d_name, '.');
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* consume - line[0..used) holds bytes read; pass on every complete line and
 * return how many bytes of an incomplete one are left at the start. */
static size_t consume(char *line, size_t used, size_t cap, struct rows *rs, int *header_done)
{
    line[used] = 0;
    char *start = line, *nl;
    while ((nl = strchr(start, '\n')) != NULL) {
        char c = nl[1];
        nl[1] = 0;
        handle_line(start, rs, header_done);
        nl[1] = c;
        start = nl + 1;
    }
    used -= (size_t)(start - line);
    memmove(line, start, used);
    if (used == cap - 1) { /* an overlong line: pass it on in pieces */
        line[used] = 0;
        handle_line(line, rs, header_done);
        used = 0;
    }
    return used;
}

/* The process group of the benchmark running now (0: none). A benchmark
 * runs in a group of its own so that a timeout or an interrupt of the tool
 * reaches every process it forked. */
static volatile sig_atomic_t g_group;

static void on_signal(int sig)
{
    if (g_group > 0)
        kill(-(pid_t)g_group, SIGKILL);
    signal(sig, SIG_DFL);
    raise(sig);
}

/* Runs one benchmark, at most timeout_s seconds (0: no limit); returns its
 * exit code (or 128 + signal, 124 for a timeout, 127 if it could not run). */
static int run_one(const char *path, double timeout_s, struct rows *rs, int *header_done)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return 127;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (dup2(fds[1], 1) < 0 || (devnull >= 0 && dup2(devnull, 0) < 0))
            _exit(127);
        execl(path, path, (char *)NULL);
        fprintf(stderr, "mproc bench: cannot run %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return 127;
    }
    setpgid(pid, pid); /* also here: no window before the child's own call */
    g_group = pid;
    double deadline = timeout_s > 0 ? seconds_now() + timeout_s : 0;
    int timed_out = 0;
    char line[1024];
    size_t used = 0;
    /* Read until EOF, the deadline, or the benchmark's exit: a process it
     * left behind may keep the pipe open (and EOF away) for ever. */
    int exited = 0;
    while (!exited) {
        int wait_ms = 200;
        if (deadline) {
            double left = deadline - seconds_now();
            if (left <= 0) {
                timed_out = 1;
                break;
            }
            if (left < 0.2)
                wait_ms = (int)(left * 1000) + 1;
        }
        struct pollfd p = {fds[0], POLLIN, 0};
        int r = poll(&p, 1, wait_ms);
        if (r < 0 && errno != EINTR)
            break;
        if (r <= 0) {
            siginfo_t si;
            si.si_pid = 0;
            if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
                exited = 1;
            continue;
        }
        ssize_t k;
        do {
            k = read(fds[0], line + used, sizeof line - 1 - used);
        } while (k < 0 && errno == EINTR);
        if (k <= 0)
            break; /* EOF: the benchmark (and every child holding stdout) is gone */
        used = consume(line, used + (size_t)k, sizeof line, rs, header_done);
    }
    /* the benchmark has exited: take what it wrote last, without waiting */
    for (struct pollfd p = {fds[0], POLLIN, 0}; exited && poll(&p, 1, 0) > 0;) {
        ssize_t k = read(fds[0], line + used, sizeof line - 1 - used);
        if (k <= 0)
            break;
        used = consume(line, used + (size_t)k, sizeof line, rs, header_done);
    }
    if (used) {
        line[used] = 0;
        handle_line(line, rs, header_done);
    }
    /* EOF before the exit (it closed its stdout): wait for the exit, still
     * within the deadline */
    while (!timed_out && !exited) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
            break;
        if (deadline && seconds_now() >= deadline)
            timed_out = 1;
        else
            usleep(50000);
    }
    if (timed_out) {
        fprintf(stderr, "mproc bench: %s still running after %.0f s: killed\n", path, timeout_s);
        kill(-pid, SIGKILL);
    }
    close(fds[0]);
    /* Once the benchmark has exited, but before it is reaped (its zombie
     * keeps the group id from being reused), whatever it left running in
     * its group goes with it. */
    siginfo_t si;
    while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR) {
    }
    kill(-pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    g_group = 0;
    if (timed_out)
        return 124;
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 127;
}

static void bench_usage(FILE *f)
{
    fprintf(f, "usage: mproc bench [--only SUBSTR] [--scale F] [--reps N] [--timeout S]\n"
               "                   [--plot DIR]\n"
               "       mproc bench --from FILE [--plot DIR]\n"
               "       mproc bench --list\n"
               "\n"
               "  --only SUBSTR  run only the benchmarks whose name contains SUBSTR\n"
               "  --scale F      multiply the operation counts by F (MPROC_BENCH_SCALE)\n"
               "  --reps N       rounds per row (MPROC_BENCH_REPS)\n"
               "  --timeout S    kill a benchmark (and all it forked) after S seconds\n"
               "                 (default 900, 0: no limit); it counts as failed\n"
               "  --plot DIR     write SVG charts into DIR (created if missing)\n"
               "  --from FILE    take the CSV from FILE ('-': stdin) instead of running\n"
               "  --list         list the benchmarks found and exit\n"
               "  -h, --help     this text\n");
}

const struct tool_cmd tool_cmd_bench = {
    "bench", "run the benchmarks (CSV on stdout; --plot DIR writes SVG charts)", bench_usage,
    tool_bench};

static int write_plots(const char *dir, const struct rows *rs)
{
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        fprintf(stderr, "mproc bench: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    int k = bench_plot_write(dir, rs->v, rs->n);
    if (k < 0) {
        fprintf(stderr, "mproc bench: writing the charts into %s failed: %s\n", dir,
                strerror(errno));
        return -1;
    }
    fprintf(stderr, "mproc bench: %d chart%s in %s\n", k, k == 1 ? "" : "s", dir);
    return 0;
}

int tool_bench(int argc, char **argv)
{
    static const struct option opts[] = {
        {"only", required_argument, 0, 'o'},    {"scale", required_argument, 0, 's'},
        {"reps", required_argument, 0, 'r'},    {"plot", required_argument, 0, 'p'},
        {"from", required_argument, 0, 'f'},    {"list", no_argument, 0, 'l'},
        {"timeout", required_argument, 0, 't'}, {0, 0, 0, 0}};
    double timeout_s = 900;
    const char *only = NULL, *plot = NULL, *from = NULL;
    int list = 0, c;
    while ((c = tool_getopt(&tool_cmd_bench, argc, argv, "", opts)) > 0) {
        switch (c) {
        case 'o':
            only = optarg;
            break;
        case 's':
        case 'r': {
            char *end;
            double v = strtod(optarg, &end);
            if (end == optarg || *end || !(v > 0) || (c == 'r' && v != (double)(int)v))
                return tool_usage_error(&tool_cmd_bench, "--%s wants a positive %s, not '%s'",
                                        c == 's' ? "scale" : "reps",
                                        c == 's' ? "number" : "integer", optarg);
            setenv(c == 's' ? "MPROC_BENCH_SCALE" : "MPROC_BENCH_REPS", optarg, 1);
            break;
        }
        case 't': {
            char *end;
            timeout_s = strtod(optarg, &end);
            if (end == optarg || *end || !(timeout_s >= 0))
                return tool_usage_error(&tool_cmd_bench,
                                        "--timeout wants seconds >= 0 (0: no limit), not '%s'",
                                        optarg);
            break;
        }
        case 'p':
            plot = optarg;
            break;
        case 'f':
            from = optarg;
            break;
        case 'l':
            list = 1;
            break;
        }
    }
    if (c != TOOL_OPT_END)
        return tool_status(c);
    if (tool_operands(&tool_cmd_bench, argc, argv, 0) != 0)
        return 2;
    struct rows rs = {0};
    int header_done = 0, rc = 0;
    if (from) {
        FILE *f = strcmp(from, "-") == 0 ? stdin : fopen(from, "re");
        if (!f) {
            fprintf(stderr, "mproc bench: cannot read %s: %s\n", from, strerror(errno));
            return 2;
        }
        pass_through(f, &rs, &header_done);
        if (f != stdin)
            fclose(f);
    } else {
        char dir[PATH_MAX] = "";
        struct dirent **names = NULL;
        int n = bench_dir(dir) == 0 ? scandir(dir, &names, is_bench, alphasort) : -1;
        int total = 0;
        char(*paths)[PATH_MAX + 256] = n > 0 ? calloc((size_t)n, sizeof *paths) : NULL;
        for (int i = 0; i < n; i++) {
            struct stat st;
            char p[PATH_MAX + 256];
            snprintf(p, sizeof p, "%s/%s", dir, names[i]->d_name);
            if (paths && (!only || strstr(names[i]->d_name, only)) && stat(p, &st) == 0 &&
                S_ISREG(st.st_mode) && access(p, X_OK) == 0)
                memcpy(paths[total++], p, sizeof p);
            free(names[i]);
        }
        free(names);
        if (total == 0) {
            fprintf(stderr,
                    "mproc bench: no benchmark%s%s found in %s; benchmarks are not installed, "
                    "`mproc bench` runs those of a build tree: configure the sources with "
                    "cmake -DMPROC_BUILD_BENCH=ON (the default), build, then run "
                    "<build>/mproc bench (or set MPROC_BENCH_DIR to their directory)\n",
                    only ? " matching " : "", only ? only : "", dir[0] ? dir : "(unknown)");
            free(paths);
            return 2;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        if (!list) {
            sigaction(SIGINT, &sa, NULL);
            sigaction(SIGTERM, &sa, NULL);
            sigaction(SIGHUP, &sa, NULL);
        }
        for (int i = 0; i < total; i++) {
            const char *base = strrchr(paths[i], '/') + 1;
            if (list) {
                printf("%s\n", paths[i]);
                continue;
            }
            fprintf(stderr, "mproc bench: [%d/%d] %s ...\n", i + 1, total, base);
            double t0 = seconds_now();
            int k = run_one(paths[i], timeout_s, &rs, &header_done);
            fprintf(stderr, "mproc bench: [%d/%d] %s %s in %.1f s\n", i + 1, total, base,
                    k == 0 ? "done" : "FAILED", seconds_now() - t0);
            if (k != 0) {
                fprintf(stderr, "mproc bench: %s exited with %d\n", base, k);
                rc = 1;
            }
        }
        free(paths);
        if (list)
            return 0;
    }
    if (plot && write_plots(plot, &rs) < 0)
        rc = 1;
    free(rs.v);
    return rc;
}
