/* fault.h - the crash tests' kill points (test builds only).
 *
 * MPROC__KILL_POINT("queue.put.reserved") raises SIGKILL in the calling
 * process when the environment variable MPROC_KILL_AT names that point (with
 * an optional ":N", the Nth time it is reached; default the first), or when a
 * test armed it with mproc_fault_arm(). Compiled in only with
 * MPROC_FAULT_INJECTION (cmake -DMPROC_FAULT_INJECTION=ON, which `make test`
 * and the other test targets use); otherwise it is nothing at all, and the
 * library has neither src/fault.c nor mproc_fault_arm(): a shipped library
 * ignores MPROC_KILL_AT and exports no test hook (MPROC__TEST_API).
 */
#ifndef MPROC_FAULT_H
#define MPROC_FAULT_H

#include <mproc/common.h>

#ifdef MPROC_FAULT_INJECTION
extern int mproc__kill_armed;
void mproc__kill_point(const char *name);
#define MPROC__KILL_POINT(name)                                                                    \
    do {                                                                                           \
        if (__builtin_expect(!!mproc__kill_armed, 0))                                              \
            mproc__kill_point(name);                                                               \
    } while (0)
#else
#define MPROC__KILL_POINT(name) ((void)0)
#endif

/* MPROC__TEST_API marks an internal function that the tests call directly
 * (a parser, a backend's half): exported by test builds, hidden otherwise. */
#ifdef MPROC_FAULT_INJECTION
#define MPROC__TEST_API MPROC_API
#else
#define MPROC__TEST_API
#endif

/* mproc_fault_arm - testing aid: arm a named kill point in this process
 * ("queue.put.reserved", optionally ":N" for the Nth time it is reached), or
 * disarm with NULL. The process raises SIGKILL on itself when it gets there.
 * Exported only by libraries built with MPROC_FAULT_INJECTION; a test that
 * calls it is built only there (tests/CMakeLists.txt). */
MPROC_API void mproc_fault_arm(const char *spec);

#endif
