/* test_spin.c - how waiters spin (src/linux/spin.c): the policy's
 * deterministic parts, and hand-offs between two processes that share one
 * CPU, which must not pay a spin phase per message. */
#include "harness.h"
#include "linux/spin.h"

#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Pin this process (and the children it forks later) to the CPU it runs
 * on now: what `taskset -c <cpu>` does. */
static void pin_to_one_cpu(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    int cpu = sched_getcpu();
    CPU_SET(cpu < 0 ? 0 : cpu, &set);
    cr_assert_eq(sched_setaffinity(0, sizeof set, &set), 0);
    mproc__spin_forget();
}

/* The policy ------------------------------------------------------------------ */

MPROC_TEST(spin, skip_rule_says_when_the_peer_cannot_be_running)
{
    /* allowed, running, online, mine, peer */
    cr_assert(mproc__spin_skip_rule(1, 0, 0, -1, -1), "one allowed CPU, peer unknown");
    cr_assert(mproc__spin_skip_rule(0, 0, 1, -1, -1), "one online CPU");
    cr_assert(mproc__spin_skip_rule(8, 9, 8, -1, -1), "more runnable tasks than CPUs");
    cr_assert(mproc__spin_skip_rule(8, 9, 8, 3, 4), "more runnable tasks than CPUs");
    cr_assert(mproc__spin_skip_rule(8, 2, 8, 3, 3), "the peer ran on my CPU");
    cr_assert(mproc__spin_skip_rule(1, 2, 8, 3, 3), "pinned, and the peer ran on my CPU");
    cr_assert_not(mproc__spin_skip_rule(1, 2, 8, 3, 4), "pinned, but the peer runs elsewhere");
    cr_assert_not(mproc__spin_skip_rule(8, 2, 8, 3, 4), "peer elsewhere, machine not full");
    cr_assert_not(mproc__spin_skip_rule(8, 8, 8, -1, -1), "as many runnable as CPUs");
    cr_assert_not(mproc__spin_skip_rule(0, 0, 0, -1, -1), "nothing known: spin");
    cr_assert_not(mproc__spin_skip_rule(2, 0, 2, 1, -1), "peer CPU unknown, not pinned");
}

MPROC_TEST(spin, a_bumped_futex_word_changes_and_tells_the_wakers_cpu)
{
    _Atomic uint32_t w = 0xfffff005u; /* the count part about to wrap */
    for (int i = 0; i < 3; i++) {
        uint32_t before = atomic_load(&w);
        mproc__spin_bump(&w);
        uint32_t after = atomic_load(&w);
        cr_assert_neq(after, before, "every bump changes the word");
        int cpu = mproc__spin_cpu_now();
        if (cpu >= 0 && cpu < (int)MPROC__SPIN_BUMP_MASK)
            cr_assert_eq(mproc__spin_bump_cpu(after), cpu);
        else
            cr_assert_eq(mproc__spin_bump_cpu(after), -1);
    }
    cr_assert_eq(mproc__spin_bump_cpu(0), -1, "0: nobody woke anyone yet");
    cr_assert_eq(mproc__spin_hint_cpu(0), -1);
    cr_assert_eq(mproc__spin_hint_cpu(8), 7);
}

MPROC_TEST(spin, loadavg_parser_reads_the_running_count)
{
    int r = -1;
    MPROC_ASSERT_OK(mproc__spin_parse_loadavg("0.20 0.18 0.12 3/80 11206\n", &r));
    cr_assert_eq(r, 3);
    MPROC_ASSERT_OK(mproc__spin_parse_loadavg("12.00 9.50 7.25 130/2048 99", &r));
    cr_assert_eq(r, 130);
    MPROC_ASSERT_RC(mproc__spin_parse_loadavg("0.20 0.18 0.12", &r), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc__spin_parse_loadavg("", &r), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc__spin_parse_loadavg("a b c x/1 2", &r), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc__spin_parse_loadavg("0 0 0 99999999999999/1 2", &r), MPROC_EINVAL);
}

MPROC_TEST(spin, skipped_when_pinned_to_one_cpu)
{
    pin_to_one_cpu();
    cr_assert(mproc__spin_pointless(-1));
    struct mproc__spin_site site = {0};
    struct mproc__spin s;
    mproc__spin_begin(&s, &site, -1, NULL);
    cr_assert_eq(s.limit_ns, 0u);
    cr_assert_not(mproc__spin_more(&s), "no pause at all");
}

MPROC_TEST(spin, budget_is_time_and_bounded)
{
    struct mproc__spin_site site = {0};
    for (int i = 0; i < 50; i++) {
        struct mproc__spin s;
        mproc__spin_begin(&s, &site, -1, NULL);
        cr_assert_leq(s.limit_ns, MPROC__SPIN_CEIL_NS);
        if (s.limit_ns == 0)
            continue; /* skipped: this machine is busy or this CPU is ours alone */
        cr_assert_geq(s.limit_ns, MPROC__SPIN_FLOOR_NS);
        uint64_t t0 = now_ns();
        while (mproc__spin_more(&s))
            ;
        uint64_t spent = now_ns() - t0;
        /* Ends on the clock, not on a count of pauses: it ran at least its
         * budget (minus the clock read before t0), and it ended (the upper
         * bound only says "it stopped"; preemption may stretch it). */
        cr_assert_geq(spent + 1000, (uint64_t)s.limit_ns);
        cr_assert_lt(spent, 1000000000ull);
    }
}

MPROC_TEST(spin, budget_never_runs_past_the_deadline)
{
    struct mproc__spin_site site = {0};
    struct mproc__spin s;
    struct mproc__deadline d = {0};
    uint64_t end = now_ns() + 5000; /* 5 us from now */
    d.abs.tv_sec = (time_t)(end / 1000000000ull);
    d.abs.tv_nsec = (long)(end % 1000000000ull);
    mproc__spin_begin(&s, &site, -1, &d);
    cr_assert_leq(s.limit_ns, 5000u);
    end -= 1000000; /* passed */
    d.abs.tv_sec = (time_t)(end / 1000000000ull);
    d.abs.tv_nsec = (long)(end % 1000000000ull);
    mproc__spin_begin(&s, &site, -1, &d);
    cr_assert_eq(s.limit_ns, 0u);
    cr_assert_not(mproc__spin_more(&s));
}

#define MS 1000000ull

MPROC_TEST(spin, budget_shrinks_when_spinning_fails)
{
    struct mproc__spin_site site = {0};
    uint64_t t = 1000 * MS;
    cr_assert_eq(mproc__spin_budget_at(&site, t), MPROC__SPIN_INIT_NS);
    uint32_t prev = MPROC__SPIN_INIT_NS;
    for (int i = 0; i < 20; i++) {
        /* waits longer than the ceiling: spinning would not have paid */
        mproc__spin_feed_at(&site, false, 0, t);
        uint32_t b = mproc__spin_budget_at(&site, t);
        cr_assert(b < prev || b == MPROC__SPIN_FLOOR_NS, "budget %u after %u", b, prev);
        prev = b;
    }
    cr_assert_eq(prev, MPROC__SPIN_FLOOR_NS);
}

MPROC_TEST(spin, budget_follows_twice_the_longest_recent_wait)
{
    struct mproc__spin_site site = {0};
    uint64_t t = 1000 * MS;
    /* A wait of 150 us (say, the peer's wake-up on a VM) asks for 300 us... */
    mproc__spin_feed_at(&site, true, 150000, t);
    cr_assert_eq(mproc__spin_budget_at(&site, t), 300000u);
    /* ...quick waits right after do not lower it... */
    for (int i = 0; i < 1000; i++)
        mproc__spin_feed_at(&site, true, 100, t + 1000 * (uint64_t)i);
    cr_assert_eq(mproc__spin_budget_at(&site, t + MS), 300000u);
    /* ...time does: it halves per DECAY while nothing needs it... */
    cr_assert_eq(mproc__spin_budget_at(&site, t + MPROC__SPIN_DECAY_NS), 150000u);
    cr_assert_eq(mproc__spin_budget_at(&site, t + 2 * MPROC__SPIN_DECAY_NS), 75000u);
    cr_assert_eq(mproc__spin_budget_at(&site, t + 1000 * MPROC__SPIN_DECAY_NS),
                 MPROC__SPIN_FLOOR_NS);
    /* ...a longer wait raises it at once, never past the ceiling. */
    mproc__spin_feed_at(&site, true, 10 * MPROC__SPIN_CEIL_NS, t + 5 * MS);
    cr_assert_eq(mproc__spin_budget_at(&site, t + 5 * MS), MPROC__SPIN_CEIL_NS);
}

MPROC_TEST(spin, a_wait_that_ended_soon_after_sleeping_raises_the_budget)
{
    struct mproc__spin_site site = {0};
    for (int i = 0; i < 20; i++)
        mproc__spin_feed(&site, false, 0);
    cr_assert_eq(mproc__spin_budget(&site), MPROC__SPIN_FLOOR_NS);
    /* An episode whose budget ran out, then a wake-up 50 us after it began
     * (built by hand: on a busy machine a real one may be skipped). */
    struct mproc__spin s = {0};
    s.site = &site;
    s.adapt = true;
    /* A preemption between reading the clock and the call can make the
     * wake-up look later than the ceiling (which halves the budget): a few
     * tries, each from the floor again. */
    for (int tries = 0; tries < 20; tries++) {
        for (int i = 0; i < 20; i++)
            mproc__spin_feed(&site, false, 0);
        s.asleep = true;
        s.t0 = now_ns() - 50000;
        mproc__spin_woken(&s);
        if (mproc__spin_budget(&site) >= 100000u)
            break;
    }
    cr_assert_geq(mproc__spin_budget(&site), 100000u);
    mproc__spin_woken(&s); /* once only */
    /* A wait far past the ceiling halves it. */
    uint32_t b = mproc__spin_budget(&site);
    s.asleep = true;
    s.t0 = now_ns() - 100ull * MPROC__SPIN_CEIL_NS;
    mproc__spin_woken(&s);
    cr_assert_lt(mproc__spin_budget(&site), b);
}

/* Hand-offs on one CPU --------------------------------------------------------
 * Both processes pinned to one CPU: a waiter that spins keeps the peer it
 * waits for off the CPU. With a spin phase per wait, each trip costs that
 * phase (hundreds of microseconds with a pause-count budget); without one,
 * a trip costs about what a pipe's costs (tens of microseconds at worst on
 * a loaded machine). TRIPS round trips must finish within LIMIT_S: many
 * times what they need when waiters sleep at once, and well under what
 * they needed with the fixed pause-count spin. */
#define TRIPS 20000
#define LIMIT_NS (5ull * 1000000000ull)

struct pp {
    mproc_sem a, b;
    mproc_cond cv;
    _Atomic int turn;
    _Atomic int stop; /* set by the test once LIMIT_NS has passed */
};

static struct pp *pp_map(void)
{
    void *p =
        mmap(NULL, sizeof(struct pp), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(p, MAP_FAILED);
    memset(p, 0, sizeof(struct pp));
    return p;
}

static mproc_queue *qa, *qb;

static int queue_pong(void *arg)
{
    struct pp *s = arg;
    char m[64];
    for (int i = 0; i < TRIPS && !atomic_load(&s->stop); i++) {
        if (mproc_queue_get(qa, m, sizeof m, 10000) != (ssize_t)sizeof m)
            return 1;
        if (mproc_queue_put(qb, m, sizeof m, 10000) != 0)
            return 2;
    }
    return 0;
}

MPROC_TEST(spin, queue_ping_pong_on_one_cpu_does_not_spin_out_the_peer)
{
    pin_to_one_cpu();
    struct pp *s = pp_map();
    MPROC_ASSERT_OK(mproc_queue_create(&qa, NULL, NULL));
    MPROC_ASSERT_OK(mproc_queue_create(&qb, NULL, NULL));
    pid_t pid = mproc_test_fork(queue_pong, s);
    char m[64] = {0};
    uint64_t t0 = now_ns();
    int done = 0;
    for (; done < TRIPS && now_ns() - t0 < LIMIT_NS; done++) {
        MPROC_ASSERT_OK(mproc_queue_put(qa, m, sizeof m, 10000));
        cr_assert_eq(mproc_queue_get(qb, m, sizeof m, 10000), (ssize_t)sizeof m);
    }
    uint64_t took = now_ns() - t0;
    atomic_store(&s->stop, 1);
    if (done < TRIPS)
        (void)mproc_queue_put(qa, m, sizeof m, 0); /* the peer may wait for one more */
    int st = mproc_test_wait(pid, 20000);
    MPROC_ASSERT_OK(mproc_queue_close(qa));
    MPROC_ASSERT_OK(mproc_queue_close(qb));
    munmap(s, sizeof *s);
    cr_assert_eq(done, TRIPS, "%d of %d round trips in %.1f s (%.0f us each)", done, TRIPS,
                 (double)took / 1e9, (double)took / 1e3 / (done ? done : 1));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int sem_pong(void *arg)
{
    struct pp *s = arg;
    for (int i = 0; i < TRIPS && !atomic_load(&s->stop); i++) {
        if (mproc_sem_acquire(&s->a, 10000) != 0)
            return 1;
        if (mproc_sem_release(&s->b) != 0)
            return 2;
    }
    return 0;
}

MPROC_TEST(spin, semaphore_ping_pong_on_one_cpu_does_not_spin_out_the_peer)
{
    pin_to_one_cpu();
    struct pp *s = pp_map();
    MPROC_ASSERT_OK(mproc_sem_init(&s->a, 0, 0));
    MPROC_ASSERT_OK(mproc_sem_init(&s->b, 0, 0));
    pid_t pid = mproc_test_fork(sem_pong, s);
    uint64_t t0 = now_ns();
    int done = 0;
    for (; done < TRIPS && now_ns() - t0 < LIMIT_NS; done++) {
        MPROC_ASSERT_OK(mproc_sem_release(&s->a));
        MPROC_ASSERT_OK(mproc_sem_acquire(&s->b, 10000));
    }
    uint64_t took = now_ns() - t0;
    atomic_store(&s->stop, 1);
    if (done < TRIPS)
        (void)mproc_sem_release(&s->a);
    int st = mproc_test_wait(pid, 20000);
    munmap(s, sizeof *s);
    cr_assert_eq(done, TRIPS, "%d of %d round trips in %.1f s (%.0f us each)", done, TRIPS,
                 (double)took / 1e9, (double)took / 1e3 / (done ? done : 1));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Strict alternation through a Lock and a Condition: each side waits for
 * its turn, hands the turn over and notifies. */
static int cond_take_turns(struct pp *s, int me, int trips)
{
    for (int i = 0; i < trips && !atomic_load(&s->stop); i++) {
        if (mproc_cond_acquire(&s->cv, 10000) != 0)
            return 1;
        while (atomic_load(&s->turn) != me && !atomic_load(&s->stop)) {
            int rc = mproc_cond_wait(&s->cv, 10000);
            if (rc != 0 && rc != MPROC_ETIMEDOUT)
                return 2;
        }
        atomic_store(&s->turn, 1 - me);
        mproc_cond_notify(&s->cv, 1);
        if (mproc_cond_release(&s->cv) != 0)
            return 3;
    }
    return 0;
}

static int cond_pong(void *arg)
{
    return cond_take_turns(arg, 1, TRIPS);
}

MPROC_TEST(spin, lock_and_condition_hand_off_on_one_cpu_does_not_spin_out_the_peer)
{
    pin_to_one_cpu();
    struct pp *s = pp_map();
    MPROC_ASSERT_OK(mproc_cond_init(&s->cv));
    pid_t pid = mproc_test_fork(cond_pong, s);
    uint64_t t0 = now_ns();
    int done = 0;
    for (; done < TRIPS && now_ns() - t0 < LIMIT_NS; done++)
        cr_assert_eq(cond_take_turns(s, 0, 1), 0);
    uint64_t took = now_ns() - t0;
    if (done < TRIPS) {
        atomic_store(&s->stop, 1);
        mproc_cond_acquire(&s->cv, 1000);
        mproc_cond_notify_all(&s->cv);
        mproc_cond_release(&s->cv);
    }
    int st = mproc_test_wait(pid, 20000);
    munmap(s, sizeof *s);
    cr_assert_eq(done, TRIPS, "%d of %d round trips in %.1f s (%.0f us each)", done, TRIPS,
                 (double)took / 1e9, (double)took / 1e3 / (done ? done : 1));
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
