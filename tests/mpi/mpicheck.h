/* mpicheck.h - a minimal checker for the MPI test programs, which run
 * under mpirun and so cannot use Criterion's runner.
 *
 * Only rank 0 checks: CHECK(cond) counts a pass or prints the failure;
 * mpicheck_begin() arms an alarm so that a hang fails the test (the whole
 * job is aborted when one rank dies of SIGALRM), mpicheck_end() prints
 * "N passed, M failed" and returns the exit status. Each test also checks
 * the world size it got.
 */
#ifndef MPROC_MPICHECK_H
#define MPROC_MPICHECK_H

#include <mpi.h>
#include <stdio.h>
#include <unistd.h>

static int mpicheck_passed, mpicheck_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            mpicheck_passed++;                                                                     \
        } else {                                                                                   \
            mpicheck_failed++;                                                                     \
            fprintf(stderr, "%s:%d: %s: check failed: %s\n", __FILE__, __LINE__, __func__, #cond); \
        }                                                                                          \
    } while (0)

#define CHECK_RC(expr, want)                                                                       \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ == (want)) {                                                                       \
            mpicheck_passed++;                                                                     \
        } else {                                                                                   \
            mpicheck_failed++;                                                                     \
            fprintf(stderr, "%s:%d: %s: %s returned %d (%s), expected %s\n", __FILE__, __LINE__,   \
                    __func__, #expr, rc_, mproc_err_name(rc_), #want);                             \
        }                                                                                          \
    } while (0)

static inline void mpicheck_begin(unsigned seconds)
{
    alarm(seconds);
}

/* The test's exit status on rank 0 (other ranks: 0). */
static inline int mpicheck_end(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, mpicheck_passed, mpicheck_failed);
    fflush(stdout);
    return mpicheck_failed ? 1 : 0;
}

#endif
