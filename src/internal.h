/* internal.h - private helpers shared by every mproc source file.
 *
 * Nothing here is part of the ABI. Non-static private symbols are named
 * mproc__*; the Linux-specific seams live in src/linux/ and are declared in
 * src/linux/linux.h.
 */
#ifndef MPROC_INTERNAL_H
#define MPROC_INTERNAL_H

#include "mproc.h"

#include <assert.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#define MPROC__LIKELY(x) __builtin_expect(!!(x), 1)
#define MPROC__UNLIKELY(x) __builtin_expect(!!(x), 0)
#define MPROC__ASSERT(x) assert(x)
#define MPROC__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The negative errno of the last failed libc call: the library's only bridge
 * from errno to return codes. */
static inline int mproc__err(void)
{
    return errno > 0 ? -errno : MPROC_EIO;
}

/* Two neighbouring 64-byte lines are fetched together by the adjacent-line
 * prefetcher, so words written by different processes are kept 128 bytes
 * apart. */
#define MPROC__CACHELINE 64
#define MPROC__FALSE_SHARING 128

static inline void mproc__cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Deadlines ------------------------------------------------------------------
 * A timeout_ms argument turned into an absolute CLOCK_MONOTONIC instant once,
 * at the start of a call, so that retries after spurious wake-ups or EINTR
 * never extend the total wait. */
/* mproc__try_once - the one rule for a wait that cannot proceed: timeout 0
 * (try once) gives MPROC_EAGAIN, an expired positive timeout
 * MPROC_ETIMEDOUT. Public calls that wait pass their result through it. */
static inline int mproc__try_once(int rc, int timeout_ms)
{
    return rc == MPROC_ETIMEDOUT && timeout_ms == 0 ? MPROC_EAGAIN : rc;
}
static inline ssize_t mproc__try_once_sz(ssize_t rc, int timeout_ms)
{
    return rc == MPROC_ETIMEDOUT && timeout_ms == 0 ? MPROC_EAGAIN : rc;
}

struct mproc__deadline {
    bool forever;
    bool poll; /* timeout_ms == 0: try once */
    struct timespec abs;
};

/* mproc__deadline_init - 0, or MPROC_EINVAL for a negative timeout other than
 * MPROC_FOREVER. */
int mproc__deadline_init(struct mproc__deadline *d, int timeout_ms);
bool mproc__deadline_expired(const struct mproc__deadline *d);
/* Milliseconds left, rounded up; -1 for forever; 0 when expired. */
int mproc__deadline_remaining_ms(const struct mproc__deadline *d);
uint64_t mproc__now_ns(void);

/* Fault injection: MPROC__KILL_POINT (test builds only). */
#include "fault.h"

#include "linux/linux.h"
#include "segment.h"

/* Every fork() the library makes (a forked process, a fork pool's worker)
 * goes through mproc__fork, which calls the hooks set here around it: an
 * embedding runtime (the Python module: PyOS_BeforeFork/AfterFork_*) keeps
 * its state sane in both processes. prepare runs in the forking thread before
 * fork(), parent after it in the parent (also when fork failed), child first
 * thing in the child. Set once, before any fork; NULL members are skipped. */
struct mproc__fork_hooks {
    void (*prepare)(void);
    void (*parent)(void);
    void (*child)(void);
};
void mproc__fork_hooks_set(const struct mproc__fork_hooks *hooks);
pid_t mproc__fork(void);

#endif
