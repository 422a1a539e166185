/* fault.c - named kill points for crash tests.
 *
 * A test arms a point by setting MPROC_KILL_AT=<name>[:<n>] in the environment
 * of the process that must die, or with mproc_fault_arm() (usually right
 * after fork). The check on the hot path is one load of mproc__kill_armed;
 * only an armed process compares names.
 *
 * CMake compiles this file only into test builds (MPROC_FAULT_INJECTION=ON):
 * a library built without it has no kill point, no mproc_fault_arm() and
 * does not read MPROC_KILL_AT.
 */
#include "internal.h"

#ifndef MPROC_FAULT_INJECTION
#error "src/fault.c belongs to builds with MPROC_FAULT_INJECTION only (CMakeLists.txt)"
#endif

#include <signal.h>
#include <stdlib.h>

int mproc__kill_armed;
static char kill_name[96];
static long kill_countdown;

static void fault_arm(const char *spec)
{
    const char *colon = strrchr(spec, ':');
    size_t n = colon ? (size_t)(colon - spec) : strlen(spec);
    if (n == 0 || n >= sizeof kill_name) {
        mproc__kill_armed = 0;
        return;
    }
    memcpy(kill_name, spec, n);
    kill_name[n] = '\0';
    kill_countdown = colon ? strtol(colon + 1, NULL, 10) : 1;
    if (kill_countdown < 1)
        kill_countdown = 1;
    mproc__kill_armed = 1;
}

__attribute__((constructor)) static void fault_init(void)
{
    const char *spec = getenv("MPROC_KILL_AT");
    if (spec && *spec)
        fault_arm(spec);
}

/* mproc_fault_arm - arm (or with NULL, disarm) a kill point in this process
 * only. Exported for the tests, by test builds only. */
MPROC_API void mproc_fault_arm(const char *spec)
{
    if (spec == NULL || *spec == '\0')
        mproc__kill_armed = 0;
    else
        fault_arm(spec);
}

void mproc__kill_point(const char *name)
{
    if (strcmp(name, kill_name) != 0)
        return;
    if (--kill_countdown > 0)
        return;
    raise(SIGKILL);
}
