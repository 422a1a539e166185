/* harness.h - what every mproc test file includes.
 *
 * Criterion runs each test in a process of its own; MPROC_TEST adds a
 * timeout and a check, after the test body, that the test left nothing
 * behind: no child process (zombie or alive), no file descriptor it opened,
 * no /dev/shm entry with mproc's prefix that one of the test's own processes
 * created (another suite running at the same time is never blamed).
 *
 * Children forked by a test report through their exit status
 * (mproc_test_child_exit); only the test's own process asserts.
 */
#ifndef MPROC_TEST_HARNESS_H
#define MPROC_TEST_HARNESS_H

#include <criterion/criterion.h>
#include <mproc.h>

#include "fault.h" /* mproc_fault_arm: test builds (MPROC_FAULT_INJECTION) only */

#include <stdbool.h>
#include <sys/types.h>

void mproc_test_setup(void);
void mproc_test_teardown(void);

#define MPROC_TEST_TIMEOUT 30.0

/* The leak check runs at the end of the test body itself (Criterion does
 * not count assertions made in .fini). A test that fails earlier skips it. */
#define MPROC_TEST(suite, name, ...)                                                               \
    static void mproc_test_body_##suite##_##name(void);                                            \
    Test(suite, name, .init = mproc_test_setup, .timeout = MPROC_TEST_TIMEOUT, ##__VA_ARGS__)      \
    {                                                                                              \
        mproc_test_body_##suite##_##name();                                                        \
        mproc_test_teardown();                                                                     \
    }                                                                                              \
    static void mproc_test_body_##suite##_##name(void)

/* Assert that an mproc call returned `expected`, naming both codes on failure. */
#define MPROC_ASSERT_RC(call, expected)                                                            \
    do {                                                                                           \
        int rc__ = (call);                                                                         \
        int ex__ = (expected);                                                                     \
        cr_assert(rc__ == ex__, "%s returned %d (%s), expected %d (%s)", #call, rc__,              \
                  mproc_err_name(rc__), ex__, mproc_err_name(ex__));                               \
    } while (0)
#define MPROC_ASSERT_OK(call) MPROC_ASSERT_RC(call, 0)

/* mproc_test_fork - fork a child that runs fn(arg) and _exits with its
 * return value (a crash gives a signal status). Returns the pid. */
pid_t mproc_test_fork(int (*fn)(void *), void *arg);
/* mproc_test_wait - wait for a child (at most timeout_ms), returning its
 * raw wait status, or -1 on timeout (the child is then SIGKILLed and
 * reaped, so nothing leaks). */
int mproc_test_wait(pid_t pid, int timeout_ms);
/* mproc_test_sleep_ms - sleep, resuming after signals. */
void mproc_test_sleep_ms(int ms);
/* Count of entries in /dev/shm whose name starts with "mproc-". */
int mproc_test_shm_count(void);
/* Number of open file descriptors of this process. */
int mproc_test_fd_count(void);
/* Number of child processes (alive or zombie) of this process. */
int mproc_test_child_count(void);

#endif
