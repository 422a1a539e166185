/* linux/spin.h - how long a waiter spins before it sleeps: a budget in
 * time that adapts, and is skipped when spinning cannot pay.
 *
 * A waiter that expects another process to act soon (publish a message,
 * release a lock) may spin instead of sleeping in the kernel: a sleep plus
 * its wake-up costs both sides system calls and a context switch. Spinning
 * pays only while the process waited for is running on another CPU; when it
 * needs the waiter's CPU, every nanosecond spun delays the very event waited
 * for. So each waiting episode:
 *
 *  1. is skipped (budget 0: sleep at once) when the peer cannot be running:
 *     the waiter may run on one CPU only (sched_getaffinity), the machine
 *     has more runnable tasks than online CPUs (/proc/loadavg), or the peer
 *     published the CPU it last ran on and that is the waiter's CPU;
 *  2. otherwise spins for a budget measured on the clock, never in pause
 *     instructions (a pause takes 10 cycles on one CPU model and 140 on
 *     another): the clock is read every few pauses;
 *  3. reports whether spinning ended the wait and after how long; each call
 *     site (struct mproc__spin_site, one per kind of wait, per process) keeps
 *     an average of "twice what a successful spin needed", pulled down to the
 *     floor by spins that failed; now and then one episode probes with the
 *     ceiling so that a budget that shrank can grow back.
 *
 * MPROC_SPIN_NS=<ns> in the environment (read once) fixes the budget and
 * turns adaptation off; 0 never spins. The skip rules always apply.
 *
 * Everything here is process-local (no shared memory): a peer in another
 * process learns nothing from it but the CPU hint it publishes itself.
 */
#ifndef MPROC_LINUX_SPIN_H
#define MPROC_LINUX_SPIN_H

#include "../internal.h"

#include <stddef.h>

/* Budgets (ns). Why these values:
 * - FLOOR: spinning for about as long as blocking costs, then blocking, is
 *   within 2x of the best possible choice (Karlin et al., SOSP 1991). A
 *   futex sleep + wake costs the two sides two system calls, a context
 *   switch and an inter-processor interrupt: a few microseconds.
 * - CEIL: a wait that needs more than this is sleeping's business: the
 *   few microseconds a sleep costs are then a small fraction of the wait.
 * - INIT: where a site starts before it has seen anything.
 * - PROBE: a site whose budget shrank spins for CEIL at most once per this
 *   interval, so the probes cost at most CEIL/PROBE = 0.5 % of a CPU.
 * - CLOCK_PAUSES: pauses between two clock reads. Not a budget: it sets
 *   how far past the budget a spin may run (a few pauses, well under a
 *   microsecond on any CPU) against the cost of reading the clock.
 * - SAMPLE: how long a sample of the machine's load (or of the thread's
 *   affinity) is trusted. The scheduler balances load on a scale of
 *   milliseconds; reading /proc/loadavg costs a few microseconds, so one
 *   read per 10 ms costs well under 0.1 % of one CPU. */
#define MPROC__SPIN_FLOOR_NS 2000u
#define MPROC__SPIN_CEIL_NS 50000u
#define MPROC__SPIN_INIT_NS 20000u
#define MPROC__SPIN_PROBE_NS 10000000ull
#define MPROC__SPIN_CLOCK_PAUSES 4u
#define MPROC__SPIN_SAMPLE_NS 10000000ull

/* One kind of wait in this process (e.g. "queue getters"): its adaptive
 * budget. Zero-initialised statics are ready to use. */
struct mproc__spin_site {
    _Atomic uint32_t budget_ns; /* 0: not yet set (MPROC__SPIN_INIT_NS) */
    _Atomic uint64_t probe_at;  /* last probe (ns, CLOCK_MONOTONIC) */
};

/* One waiting episode, on the waiter's stack. */
struct mproc__spin {
    struct mproc__spin_site *site;
    uint64_t t0;       /* start (ns) */
    uint32_t limit_ns; /* this episode's budget; 0 = do not spin */
    uint32_t spent_ns; /* at the last clock read */
    uint32_t pauses;   /* since the last clock read */
    bool begun;
    bool adapt; /* report the outcome to the site */
};

/* mproc__spin_begin - start an episode at `site`. peer_cpu: the CPU the
 * process waited for last said it runs on, or -1 if unknown. Decides the
 * budget (0 when spinning cannot pay). An episode the same thread left
 * without an end (see mproc__spin_more) is counted as a success first. */
MPROC_API void mproc__spin_begin(struct mproc__spin *s, struct mproc__spin_site *site,
                                 int peer_cpu);

/* The clock read of mproc__spin_more (out of line: the rare part). */
MPROC_API bool mproc__spin_clock(struct mproc__spin *s);

/* mproc__spin_more - one pause; true while the budget lasts (re-check the
 * condition, then call again), false once it is spent or was 0: the episode
 * is then over (counted as a failure) and the next wait begins anew. A caller
 * that finds its condition true may simply stop calling: the episode is
 * then counted as a success, when the thread next begins one. */
static inline bool mproc__spin_more(struct mproc__spin *s)
{
    if (s->limit_ns == 0) {
        s->begun = false;
        return false;
    }
    mproc__cpu_relax();
    if (++s->pauses < MPROC__SPIN_CLOCK_PAUSES)
        return true;
    return mproc__spin_clock(s);
}

/* mproc__spin_end - the episode is over: ok = the condition came true while
 * spinning (false: the waiter goes to sleep). Feeds the site. */
MPROC_API void mproc__spin_end(struct mproc__spin *s, bool ok);

/* mproc__spin_cpu - the CPU this thread runs on, from the rseq area glibc
 * registers (one load, for fast paths); -1 when there is none. A hint: the
 * thread may move right after. */
extern const ptrdiff_t __rseq_offset __attribute__((weak));
extern const unsigned int __rseq_size __attribute__((weak));
static inline int mproc__spin_cpu(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
    if (&__rseq_size != NULL && __rseq_size != 0) {
        /* struct rseq: u32 cpu_id_start, then u32 cpu_id (-1, -2: none) */
        int32_t cpu = *(const volatile int32_t *)((const char *)__builtin_thread_pointer() +
                                                  __rseq_offset + 4);
        return cpu >= 0 ? cpu : -1;
    }
#endif
    return -1;
}

/* Test hooks (exported for tests/test_spin.c only). -------------------------- */

/* The skip rule as a pure function: true when spinning cannot pay.
 * allowed: CPUs in the waiter's affinity mask (0 unknown); running and
 * online: runnable tasks and online CPUs of the machine (0 unknown); mine
 * and peer: the waiter's and the peer's CPU (-1 unknown). */
MPROC_API bool mproc__spin_skip_rule(int allowed, int running, int online, int mine, int peer);
/* The running count (field 4, "running/total") of /proc/loadavg text; 0 or
 * MPROC_EINVAL. */
MPROC_API int mproc__spin_parse_loadavg(const char *text, int *running);
/* The live skip decision (cached samples); forget drops the caches. */
MPROC_API bool mproc__spin_pointless(int peer_cpu);
MPROC_API void mproc__spin_forget(void);
/* Fold one outcome into a site; read a site's budget. */
MPROC_API void mproc__spin_feed(struct mproc__spin_site *site, bool ok, uint32_t spent_ns);
MPROC_API uint32_t mproc__spin_budget(struct mproc__spin_site *site);

#endif
