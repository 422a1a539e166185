/* fault.c - named kill points for crash tests.
 *
 * A test arms a point by setting MPROC_KILL_AT=<name>[:<n>] in the environment
 * of the process that must die (usually right after fork, with
 * mproc_fault_arm()). The check on the hot path is one load of
 * mproc__kill_armed; only an armed process compares names.
 */
#include "internal.h"

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
 * only. Exported for tests; a no-op in builds without fault injection. */
MPROC_API void mproc_fault_arm(const char *spec)
{
#ifdef MPROC_FAULT_INJECTION
    if (spec == NULL || *spec == '\0')
        mproc__kill_armed = 0;
    else
        fault_arm(spec);
#else
    (void)spec;
#endif
}

#ifdef MPROC_FAULT_INJECTION
void mproc__kill_point(const char *name)
{
    if (strcmp(name, kill_name) != 0)
        return;
    if (--kill_countdown > 0)
        return;
    raise(SIGKILL);
}
#endif
