/* process_util.h - helpers shared by the process tests (test_process.c,
 * test_daemon.c): starting and joining children with assertions, and the
 * main() that lets a test binary be re-executed by the spawn start method.
 */
#ifndef MPROC_TEST_PROCESS_UTIL_H
#define MPROC_TEST_PROCESS_UTIL_H

#include "harness.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static inline int sleep_forever(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

static inline int spawn_sleep(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return sleep_forever(NULL);
}
MPROC_ENTRY(spawn_sleep)

static inline mproc_process *start_fork(mproc_fn fn, void *arg)
{
    mproc_process *p = NULL;
    MPROC_ASSERT_OK(mproc_process_start(&p, fn, arg, NULL));
    cr_assert_not_null(p);
    return p;
}

/* Criterion's sandbox marks its workers with BXFI_MAP, and its constructor
 * aborts any process that inherits the variable without being a worker.
 * The variable has done its job once the test body runs. */
static inline void drop_sandbox_env(void)
{
    unsetenv("BXFI_MAP");
}

static inline mproc_process *start_spawn(const char *entry, const void *arg, size_t len)
{
    drop_sandbox_env();
    struct mproc_process_opts o = {
        .start_method = MPROC_START_SPAWN, .entry = entry, .arg = arg, .arg_len = len};
    mproc_process *p = NULL;
    MPROC_ASSERT_OK(mproc_process_start(&p, NULL, NULL, &o));
    return p;
}

/* Reads exactly len bytes within 5 s; false on EOF, error or timeout. */
static inline bool read_within(int fd, void *buf, size_t len)
{
    char *b = buf;
    while (len > 0) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 5000) <= 0)
            return false;
        ssize_t n = read(fd, b, len);
        if (n <= 0)
            return false;
        b += n;
        len -= (size_t)n;
    }
    return true;
}

static inline struct mproc_exit join_ok(mproc_process *p)
{
    struct mproc_exit st;
    MPROC_ASSERT_OK(mproc_process_join(p, 10000, &st));
    return st;
}

static inline void assert_exited(struct mproc_exit st, int code)
{
    cr_assert(st.exited && !st.signaled, "not a normal exit (signal %d)", st.signal);
    cr_assert_eq(st.code, code, "exit code %d, expected %d", st.code, code);
}

static inline void assert_killed_by(struct mproc_exit st, int sig)
{
    cr_assert(st.signaled && !st.exited, "not killed by a signal (exit code %d)", st.code);
    cr_assert_eq(st.signal, sig, "signal %d, expected %d", st.signal, sig);
}

/* MPROC_TEST_MAIN - the main() of a test binary that spawns: mproc_main()
 * first, so that a spawned copy runs its entry point, then Criterion.
 * Criterion runs each test in a re-executed copy of the binary; its sandbox
 * (BoxFort) redirects libcriterion's own main() to the test body but cannot
 * find ours (the executable has no DT_HASH table), so a worker hands itself
 * over to that main. */
#define MPROC_TEST_MAIN()                                                                          \
    int main(int argc, char *argv[])                                                               \
    {                                                                                              \
        if (mproc_main(argc, argv) < 0)                                                            \
            return 1;                                                                              \
        if (getenv("BXFI_MAP") != NULL) {                                                          \
            int (*criterion_main)(int, char **) = (int (*)(int, char **))dlsym(RTLD_NEXT, "main"); \
            if (criterion_main != NULL)                                                            \
                return criterion_main(argc, argv);                                                 \
        }                                                                                          \
        struct criterion_test_set *tests = criterion_initialize();                                 \
        int result = 0;                                                                            \
        if (criterion_handle_args(argc, argv, true))                                               \
            result = !criterion_run_all_tests(tests);                                              \
        criterion_finalize(tests);                                                                 \
        return result;                                                                             \
    }

#endif
