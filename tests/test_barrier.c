/* test_barrier.c - Barrier: rounds across processes, arrival indexes,
 * timeout and abort break it, reset repairs it. Party deaths are in
 * test_sync_crash.c. */
#include "harness.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define PARTIES 3
#define ROUNDS 50

struct shared {
    mproc_barrier bar;
    _Atomic int phase[PARTIES];
    _Atomic int index_seen[ROUNDS][PARTIES];
};

static struct shared *shared_map(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    cr_assert(p != MAP_FAILED);
    return p;
}

struct party {
    struct shared *s;
    int me;
};

static int run_rounds(void *arg)
{
    struct party *p = arg;
    struct shared *s = p->s;
    for (int r = 0; r < ROUNDS; r++) {
        atomic_store(&s->phase[p->me], r);
        int idx = mproc_barrier_wait(&s->bar, 5000);
        if (idx < 0 || idx >= PARTIES)
            return 1;
        atomic_fetch_add(&s->index_seen[r][idx], 1);
        /* Nobody may be behind once the barrier let us through. */
        for (int o = 0; o < PARTIES; o++)
            if (atomic_load(&s->phase[o]) < r)
                return 2;
    }
    return 0;
}

MPROC_TEST(barrier, parties_meet_round_after_round_with_distinct_indexes)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_barrier_init(&s->bar, PARTIES));
    cr_assert_eq(mproc_barrier_parties(&s->bar), PARTIES);
    struct party ps[PARTIES];
    pid_t pids[PARTIES - 1];
    for (int i = 0; i < PARTIES; i++)
        ps[i] = (struct party){s, i};
    for (int i = 1; i < PARTIES; i++)
        pids[i - 1] = mproc_test_fork(run_rounds, &ps[i]);
    cr_assert_eq(run_rounds(&ps[0]), 0);
    for (int i = 0; i < PARTIES - 1; i++) {
        int st = mproc_test_wait(pids[i], 10000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    }
    for (int r = 0; r < ROUNDS; r++)
        for (int i = 0; i < PARTIES; i++)
            cr_assert_eq(atomic_load(&s->index_seen[r][i]), 1, "round %d index %d", r, i);
    MPROC_ASSERT_OK(mproc_barrier_destroy(&s->bar));
    munmap(s, sizeof *s);
}

MPROC_TEST(barrier, single_party_passes_at_once)
{
    mproc_barrier b;
    MPROC_ASSERT_OK(mproc_barrier_init(&b, 1));
    cr_assert_eq(mproc_barrier_wait(&b, 0), 0);
    cr_assert_eq(mproc_barrier_wait(&b, MPROC_FOREVER), 0);
}

static int expect_broken(void *arg)
{
    struct shared *s = arg;
    return mproc_barrier_wait(&s->bar, 5000) == MPROC_EBROKEN ? 0 : 1;
}

MPROC_TEST(barrier, timeout_of_one_waiter_breaks_it_for_the_others)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_barrier_init(&s->bar, 3));
    pid_t pid = mproc_test_fork(expect_broken, s);
    for (int i = 0; i < 5000 && mproc_barrier_n_waiting(&s->bar) < 1; i++)
        mproc_test_sleep_ms(1);
    MPROC_ASSERT_RC(mproc_barrier_wait(&s->bar, 50), MPROC_ETIMEDOUT);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_eq(mproc_barrier_broken(&s->bar), 1);
    cr_assert_eq(mproc_barrier_n_waiting(&s->bar), 0);
    MPROC_ASSERT_RC(mproc_barrier_wait(&s->bar, 1000), MPROC_EBROKEN);
    munmap(s, sizeof *s);
}

MPROC_TEST(barrier, abort_breaks_waiters_and_reset_repairs)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_barrier_init(&s->bar, 2));
    pid_t pid = mproc_test_fork(expect_broken, s);
    for (int i = 0; i < 5000 && mproc_barrier_n_waiting(&s->bar) < 1; i++)
        mproc_test_sleep_ms(1);
    MPROC_ASSERT_OK(mproc_barrier_abort(&s->bar));
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    MPROC_ASSERT_OK(mproc_barrier_reset(&s->bar));
    cr_assert_eq(mproc_barrier_broken(&s->bar), 0);
    MPROC_ASSERT_RC(mproc_barrier_wait(&s->bar, 10), MPROC_ETIMEDOUT);
    munmap(s, sizeof *s);
}

MPROC_TEST(barrier, reset_breaks_current_waiters)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_barrier_init(&s->bar, 2));
    pid_t pid = mproc_test_fork(expect_broken, s);
    for (int i = 0; i < 5000 && mproc_barrier_n_waiting(&s->bar) < 1; i++)
        mproc_test_sleep_ms(1);
    MPROC_ASSERT_OK(mproc_barrier_reset(&s->bar));
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_eq(mproc_barrier_broken(&s->bar), 0);
    munmap(s, sizeof *s);
}

MPROC_TEST(barrier, bad_arguments_and_uninitialised_memory)
{
    mproc_barrier b = {{0}}, *p;
    MPROC_ASSERT_RC(mproc_barrier_wait(&b, 0), MPROC_EINVAL); /* parties 0 */
    MPROC_ASSERT_RC(mproc_barrier_init(&b, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_barrier_init(&b, MPROC_BARRIER_PARTIES_MAX + 1), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_barrier_init(NULL, 2), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_barrier_create(&p, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_barrier_init(&b, 2));
    MPROC_ASSERT_RC(mproc_barrier_wait(&b, -2), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_barrier_join(&b));
    MPROC_ASSERT_RC(mproc_barrier_join(&b), MPROC_EEXIST);
    MPROC_ASSERT_OK(mproc_barrier_leave(&b));
}

static int named_party(void *arg)
{
    (void)arg;
    mproc_barrier *b;
    if (mproc_barrier_open(&b, "test-barrier-named") != 0)
        return 1;
    int rc = mproc_barrier_wait(b, 5000);
    mproc_barrier_close(b);
    return rc >= 0 ? 0 : 2;
}

MPROC_TEST(barrier, named_barrier_meets_an_opener)
{
    mproc_barrier *b;
    mproc_barrier_unlink("test-barrier-named");
    MPROC_ASSERT_OK(mproc_barrier_create(&b, "test-barrier-named", 2));
    pid_t pid = mproc_test_fork(named_party, NULL);
    int idx = mproc_barrier_wait(b, 5000);
    cr_assert(idx == 0 || idx == 1, "index %d", idx);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    MPROC_ASSERT_OK(mproc_barrier_close(b));
    MPROC_ASSERT_OK(mproc_barrier_unlink("test-barrier-named"));
}
