/* pyrun.h - run bench/python/mp_bench.py (Python's multiprocessing.Queue
 * and Pipe) as a subprocess and read back the time it measured itself.
 *
 * The script does its own fork, start barrier and timing (only the transfer
 * is timed, like in procs.h) and prints "total_ns <ns>" in --raw mode; a
 * bench_case built on py_run() is interleaved with the C peers per round,
 * like any other case (the interpreter's start-up is outside the timing).
 *
 * Where things are: the interpreter is $MPROC_BENCH_PYTHON or
 * /usr/bin/python3; the script is in $MPROC_BENCH_PYDIR or in python/ next
 * to this header's source path (__FILE__ is absolute in a CMake build).
 * Header-only, C and C++.
 */
#ifndef MPROC_BENCH_PYRUN_H
#define MPROC_BENCH_PYRUN_H

#include "procs.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static inline const char *py_interp(void)
{
    const char *p = getenv("MPROC_BENCH_PYTHON");
    return p && *p ? p : "/usr/bin/python3";
}

static inline const char *py_script(void)
{
    static char path[4096];
    if (path[0])
        return path;
    const char *dir = getenv("MPROC_BENCH_PYDIR");
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/mp_bench.py", dir);
    } else {
        const char *f = __FILE__;
        const char *slash = strrchr(f, '/');
        int len = slash ? (int)(slash - f) : 1;
        snprintf(path, sizeof path, "%.*s/python/mp_bench.py", len, slash ? f : ".");
    }
    return path;
}

/* py_run - one run; returns the script's total_ns, or 0 when it failed (the
 * caller reports). */
static inline uint64_t py_run_raw(const char *impl, const char *mode, size_t size, int nprod,
                                  int ncons, uint64_t n)
{
    char a_size[32], a_n[32], a_p[16], a_c[16];
    snprintf(a_size, sizeof a_size, "%zu", size);
    snprintf(a_n, sizeof a_n, "%llu", (unsigned long long)n);
    snprintf(a_p, sizeof a_p, "%d", nprod);
    snprintf(a_c, sizeof a_c, "%d", ncons);
    const char *argv[] = {py_interp(), py_script(), "--raw", "--impl", impl, "--mode",
                          mode,        "--size",    a_size,  "--n",    a_n,  "--prod",
                          a_p,         "--cons",    a_c,     NULL};
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return 0;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (devnull >= 0)
            dup2(devnull, 0);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        return 0;
    }
    char out[512];
    size_t got = 0;
    for (;;) {
        ssize_t k = read(fds[0], out + got, sizeof out - 1 - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
        if (got == sizeof out - 1)
            break;
    }
    out[got] = 0;
    close(fds[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return 0;
    const char *t = strstr(out, "total_ns ");
    if (!t)
        return 0;
    return strtoull(t + 9, NULL, 10);
}

/* py_available - the interpreter runs the script (a tiny run). */
static inline int py_available(void)
{
    static int known = -1;
    if (known < 0)
        known = access(py_interp(), X_OK) == 0 && access(py_script(), R_OK) == 0 &&
                py_run_raw("queue", "stream", 64, 1, 1, 10) > 0;
    return known;
}

struct py_job {
    const char *impl; /* "queue" or "pipe" */
    const char *mode; /* "stream" or "pingpong" */
    size_t size;
    int nprod, ncons;
    const char *what;
};

/* A bench_fn. */
static inline uint64_t py_case_fn(uint64_t n, void *arg)
{
    struct py_job *j = (struct py_job *)arg;
    uint64_t ns = py_run_raw(j->impl, j->mode, j->size, j->nprod, j->ncons, n);
    if (ns == 0) {
        bp_error(j->what, "python run failed");
        return 1;
    }
    return ns;
}

#endif
