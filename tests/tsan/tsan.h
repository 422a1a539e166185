/* tsan.h - the tiny runner shared by the tests/tsan/tsan_*.c programs.
 *
 * Criterion cannot start under ThreadSanitizer (Criterion issue #274), so
 * these are plain programs: main() runs each case in turn, counts passes and
 * failures, prints "N passed, N failed" as its last line and exits nonzero on
 * any failure. alarm() bounds the whole program; a hang is a SIGALRM death.
 * ThreadSanitizer itself reports races (TSAN_OPTIONS=halt_on_error=1 turns a
 * report into a failing exit status).
 *
 * Children forked by a case report through their exit status only.
 */
#ifndef MPROC_TSAN_H
#define MPROC_TSAN_H

#include <mproc.h>

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int tsan_passed, tsan_failed;
/* argv[1], if given: run only the cases whose name contains it, or with a
 * leading '!', only those whose name does not. */
static const char *tsan_filter;

#define TSAN_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#define TSAN_CHECK_RC(call, expected)                                                              \
    do {                                                                                           \
        int rc__ = (int)(call);                                                                    \
        if (rc__ != (expected)) {                                                                  \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__,       \
                    #call, rc__, mproc_err_name(rc__), (int)(expected));                           \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* tsan_run - run one case and count it. */
static inline void tsan_run(const char *name, int (*fn)(void))
{
    if (tsan_filter && tsan_filter[0] == '!' && strstr(name, tsan_filter + 1))
        return;
    if (tsan_filter && tsan_filter[0] != '!' && !strstr(name, tsan_filter))
        return;
    fflush(stdout);
    int rc = fn();
    if (rc == 0) {
        tsan_passed++;
        printf("PASS %s\n", name);
    } else {
        tsan_failed++;
        printf("FAIL %s\n", name);
    }
    fflush(stdout);
}

/* tsan_finish - the summary line and the exit status. */
static inline int tsan_finish(void)
{
    printf("%d passed, %d failed\n", tsan_passed, tsan_failed);
    return tsan_failed ? 1 : 0;
}

/* tsan_spawn - start n threads running fn(args + i * size). 0 or -1. */
static inline int tsan_spawn(pthread_t *th, int n, void *(*fn)(void *), void *args, size_t size)
{
    for (int i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, fn, (char *)args + (size_t)i * size) != 0)
            return -1;
    return 0;
}

static inline void tsan_join(pthread_t *th, int n)
{
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
}

#endif
