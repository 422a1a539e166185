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
 *     the machine has more runnable tasks than online CPUs (/proc/loadavg),
 *     or the peer published the CPU it ran on (a lock's owner when it took
 *     the lock, the last process that woke sleepers of the object) and that
 *     is the waiter's CPU, or nothing is known of the peer and the waiter
 *     may run on one CPU only (sched_getaffinity: under `taskset -c N` both
 *     sides probably share it; processes pinned to different CPUs learn so
 *     at their first wake-up, from the waker's CPU);
 *  2. otherwise spins for a budget measured on the clock, never in pause
 *     instructions (a pause takes 10 cycles on one CPU model and 140 on
 *     another): the clock is read every few pauses;
 *  3. learns, per call site (struct mproc__spin_site, one per kind of wait,
 *     per process), how long waits take: a wait that ended while spinning,
 *     or soon after the waiter went to sleep (within the ceiling), asks for
 *     twice the time it took, and the budget holds the largest recent ask,
 *     halving for every MPROC__SPIN_DECAY_NS without one; a wait longer
 *     than the ceiling halves it at once (spinning would not have paid).
 *
 * Learning from waits that ended after a sleep matters: two processes that
 * both fell asleep wake each other with the kernel's wake-up latency (tens
 * to hundreds of microseconds on a VM); a waiter whose budget stayed below
 * that would never see them return to spinning.
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

#include <sched.h>
#include <stddef.h>

/* Budgets (ns). Why these values:
 * - FLOOR: spinning for about as long as blocking costs, then blocking, is
 *   within 2x of the best possible choice (Karlin et al., SOSP 1991). A
 *   futex sleep + wake costs the two sides two system calls, a context
 *   switch and an inter-processor interrupt: a few microseconds at best.
 * - CEIL: above the wake-up latency of a sleeping process on an idle CPU,
 *   which is what a sleep really costs the sleeper: a few microseconds on
 *   bare metal, up to a hundred or more on a busy virtual machine whose
 *   idle vCPU the host descheduled (bench_queue's pingpong_sleep_64B futex
 *   row measures it). A wait longer than this is sleeping's business.
 * - INIT: where a site starts before it has seen anything.
 * - DECAY: the budget's half-life while no wait needs it. Long against
 *   the waits it covers (so that one sleep, after a hiccup of the peer,
 *   keeps a pair of processes spinning for thousands of hand-offs), short
 *   against what a person notices as a busy CPU.
 * - CLOCK_PAUSES: pauses between two clock reads. Not a budget: it sets
 *   how far past the budget a spin may run (a few pauses, well under a
 *   microsecond on any CPU) against the cost of reading the clock.
 * - SAMPLE: how long a sample of the machine's load (or of the thread's
 *   affinity) is trusted. The scheduler balances load on a scale of
 *   milliseconds; reading /proc/loadavg costs a few microseconds, so one
 *   read per 10 ms costs well under 0.1 % of one CPU. */
#define MPROC__SPIN_FLOOR_NS 2000u
#define MPROC__SPIN_CEIL_NS 500000u
#define MPROC__SPIN_INIT_NS 20000u
#define MPROC__SPIN_DECAY_NS 10000000ull
#define MPROC__SPIN_CLOCK_PAUSES 4u
#define MPROC__SPIN_SAMPLE_NS 10000000ull

/* One kind of wait in this process (e.g. "queue getters"): its adaptive
 * budget. Zero-initialised statics are ready to use. */
struct mproc__spin_site {
    _Atomic uint32_t peak_ns; /* 0: nothing seen yet (MPROC__SPIN_INIT_NS) */
    _Atomic uint64_t peak_at; /* when peak_ns was set (ns, CLOCK_MONOTONIC) */
};

/* One waiting episode, on the waiter's stack. */
struct mproc__spin {
    struct mproc__spin_site *site;
    uint64_t t0;       /* start (ns) */
    uint32_t limit_ns; /* this episode's budget; 0 = do not spin */
    uint32_t spent_ns; /* at the last clock read */
    uint32_t pauses;   /* since the last clock read */
    bool begun;
    bool adapt;  /* report the outcome to the site */
    bool asleep; /* the budget ran out: the waiter sleeps */
    /* Set when the spin was skipped because the peer may need this CPU
     * (more runnable than CPUs, or it runs on mine): handing the CPU over
     * with sched_yield() then pays. Not when I am merely pinned and do not
     * know where the peer runs (it may well be on another CPU). */
    bool yield_pays;
};

/* mproc__spin_begin - start an episode at `site`. peer_cpu: the CPU the
 * process waited for last said it runs on, or -1 if unknown. Decides the
 * budget (0 when spinning cannot pay), never past the caller's deadline
 * (NULL: none). An episode the same thread left without an end (see
 * mproc__spin_more) is counted as a success first. */
MPROC__TEST_API void mproc__spin_begin(struct mproc__spin *s, struct mproc__spin_site *site,
                                       int peer_cpu, const struct mproc__deadline *d);

/* The clock read of mproc__spin_more (out of line: the rare part). */
MPROC__TEST_API bool mproc__spin_clock(struct mproc__spin *s);

/* mproc__spin_more - one pause; true while the budget lasts (re-check the
 * condition, then call again), false once it is spent or was 0: the waiter
 * should sleep, call mproc__spin_woken once its condition came true, and
 * begin a new episode before it spins again. A caller
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

/* mproc__spin_end - the condition came true while spinning (ok), or the
 * wait ends with nothing worth learning from (!ok: an error). */
MPROC__TEST_API void mproc__spin_end(struct mproc__spin *s, bool ok);

/* mproc__spin_woken - after mproc__spin_more said false and the waiter
 * slept: its condition came true (or it was woken for it). Teaches the site
 * how long the whole wait took. Does nothing for other episodes. */
MPROC__TEST_API void mproc__spin_woken(struct mproc__spin *s);

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

/* mproc__spin_cpu_now - the same, falling back to sched_getcpu(). */
MPROC__TEST_API int mproc__spin_cpu_now(void);

/* CPU hints in words of shared memory: 1 + CPU, 0 = unknown. A waker
 * stores its CPU so that the next waiter of the object knows where the
 * process it waits for runs. */
static inline uint32_t mproc__spin_hint(void)
{
    int cpu = mproc__spin_cpu_now();
    return cpu >= 0 ? (uint32_t)cpu + 1 : 0;
}
static inline int mproc__spin_hint_cpu(uint32_t hint)
{
    return hint != 0 && hint <= INT32_MAX ? (int)(hint - 1) : -1;
}

/* A futex word that only counts wake-ups (sleepers compare the whole word:
 * any change wakes them) carries the last waker's CPU in its low
 * MPROC__SPIN_BUMP_BITS bits (1 + CPU, 0 unknown; CPUs past 4094 are not
 * told); the count moves in the bits above, so every bump changes the
 * word. mproc__spin_bump replaces atomic_fetch_add(word, 1) (seq_cst). */
#define MPROC__SPIN_BUMP_BITS 12u
#define MPROC__SPIN_BUMP_MASK ((1u << MPROC__SPIN_BUMP_BITS) - 1)
MPROC__TEST_API void mproc__spin_bump(_Atomic uint32_t *word);
static inline int mproc__spin_bump_cpu(uint32_t v)
{
    return (int)(v & MPROC__SPIN_BUMP_MASK) - 1;
}

/* Test hooks (exported for tests/test_spin.c only). -------------------------- */

/* The skip rule as a pure function: true when spinning cannot pay.
 * allowed: CPUs in the waiter's affinity mask (0 unknown); running and
 * online: runnable tasks and online CPUs of the machine (0 unknown); mine
 * and peer: the waiter's and the peer's CPU (-1 unknown); a known peer CPU
 * decides over the affinity. */
MPROC__TEST_API bool mproc__spin_skip_rule(int allowed, int running, int online, int mine,
                                           int peer);
/* The running count (field 4, "running/total") of /proc/loadavg text; 0 or
 * MPROC_EINVAL. */
MPROC__TEST_API int mproc__spin_parse_loadavg(const char *text, int *running);
/* The live skip decision (cached samples); forget drops the caches. */
MPROC__TEST_API bool mproc__spin_pointless(int peer_cpu);
MPROC__TEST_API void mproc__spin_forget(void);
/* Fold one wait into a site (ok: it took took_ns; !ok: longer than the
 * ceiling); read a site's budget. The _at forms take the time (ns). */
MPROC__TEST_API void mproc__spin_feed(struct mproc__spin_site *site, bool ok, uint32_t took_ns);
MPROC__TEST_API uint32_t mproc__spin_budget(struct mproc__spin_site *site);
MPROC__TEST_API void mproc__spin_feed_at(struct mproc__spin_site *site, bool ok, uint32_t took_ns,
                                         uint64_t now);
MPROC__TEST_API uint32_t mproc__spin_budget_at(struct mproc__spin_site *site, uint64_t now);

/* Yielding where spinning cannot pay: the spin was skipped because the
 * process waited for may need this CPU (more runnable tasks than CPUs, or
 * both on one CPU). A futex sleep then costs a context switch and a wake-up
 * per hand-off; sched_yield() hands the CPU over at once and comes back when
 * the scheduler lets us run again, so the waiter re-checks its condition
 * after each yield, for at most a time budget, then sleeps.
 *
 * mproc__spin_yield_begin - start a yield phase: for limit_ns, or (limit_ns
 * 0) for the site's learned budget, which mproc__spin_yield_done then
 * teaches (a wait that ended while yielding, or soon after the sleep that
 * followed, asks for twice what it took; one longer than
 * MPROC__SPIN_CEIL_NS halves it). site may be NULL with a fixed limit. */
struct mproc__spin_yield {
    struct mproc__spin_site *site;
    uint64_t t0;
    uint64_t limit_ns;
};
static inline void mproc__spin_yield_begin(struct mproc__spin_yield *y,
                                           struct mproc__spin_site *site, uint64_t limit_ns)
{
    y->site = site;
    y->t0 = mproc__now_ns();
    y->limit_ns = limit_ns ? limit_ns : mproc__spin_budget(site);
}
/* Yield once: true while the budget lasts (re-check, then call again). */
static inline bool mproc__spin_yield_more(struct mproc__spin_yield *y)
{
    sched_yield();
    return mproc__now_ns() - y->t0 < y->limit_ns;
}
/* The condition came true: while yielding, or after the sleep that followed. */
static inline void mproc__spin_yield_done(struct mproc__spin_yield *y)
{
    if (!y->site)
        return;
    uint64_t took = mproc__now_ns() - y->t0;
    mproc__spin_feed(y->site, took <= MPROC__SPIN_CEIL_NS,
                     took > UINT32_MAX ? UINT32_MAX : (uint32_t)took);
    y->site = NULL;
}

#endif
