/* test_sem.c - Semaphore and BoundedSemaphore: counting, timeouts, bounds,
 * hand-off across processes, tracked ownership, standalone semaphores.
 * Holder death is in test_sync_crash.c. */
#include "harness.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct shared {
    mproc_sem a, b;
    _Atomic int inside;
    _Atomic int max_inside;
};

static struct shared *shared_map(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    cr_assert(p != MAP_FAILED);
    return p;
}

MPROC_TEST(sem, zeroed_memory_is_a_semaphore_at_zero)
{
    struct shared *s = shared_map();
    cr_assert_eq(mproc_sem_value(&s->a), 0);
    MPROC_ASSERT_RC(mproc_sem_acquire(&s->a, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_sem_release(&s->a));
    MPROC_ASSERT_OK(mproc_sem_acquire(&s->a, 0));
    MPROC_ASSERT_OK(mproc_sem_destroy(&s->a));
    munmap(s, sizeof *s);
}

MPROC_TEST(sem, counts_units_down_and_up)
{
    mproc_sem s;
    MPROC_ASSERT_OK(mproc_sem_init(&s, 3, 0));
    for (int i = 0; i < 3; i++)
        MPROC_ASSERT_OK(mproc_sem_acquire(&s, 0));
    cr_assert_eq(mproc_sem_value(&s), 0);
    MPROC_ASSERT_RC(mproc_sem_acquire(&s, 20), MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_sem_release(&s));
    MPROC_ASSERT_OK(mproc_sem_release(&s));
    cr_assert_eq(mproc_sem_value(&s), 2);
    /* unbounded: may go above the initial value */
    MPROC_ASSERT_OK(mproc_sem_release(&s));
    MPROC_ASSERT_OK(mproc_sem_release(&s));
    cr_assert_eq(mproc_sem_value(&s), 4);
}

MPROC_TEST(sem, bounded_release_above_initial_value_gives_erange)
{
    mproc_sem s;
    MPROC_ASSERT_OK(mproc_sem_init(&s, 2, MPROC_SEM_BOUNDED));
    MPROC_ASSERT_RC(mproc_sem_release(&s), MPROC_ERANGE);
    MPROC_ASSERT_OK(mproc_sem_acquire(&s, 0));
    MPROC_ASSERT_OK(mproc_sem_release(&s));
    MPROC_ASSERT_RC(mproc_sem_release(&s), MPROC_ERANGE);
    cr_assert_eq(mproc_sem_value(&s), 2);
}

MPROC_TEST(sem, release_at_value_max_gives_eoverflow)
{
    mproc_sem s;
    MPROC_ASSERT_OK(mproc_sem_init(&s, MPROC_SEM_VALUE_MAX, 0));
    MPROC_ASSERT_RC(mproc_sem_release(&s), MPROC_EOVERFLOW);
}

MPROC_TEST(sem, bad_arguments_give_einval)
{
    mproc_sem s, *p;
    MPROC_ASSERT_RC(mproc_sem_init(NULL, 0, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_sem_init(&s, 0, 0x80), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_sem_init(&s, MPROC_SEM_VALUE_MAX + 1u, 0), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_sem_init(&s, 0, 0));
    MPROC_ASSERT_RC(mproc_sem_acquire(&s, -7), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_sem_acquire(NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_sem_release(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_sem_value(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_sem_create(&p, NULL, 0, 0x80), MPROC_EINVAL);
}

static int released_by_other(void *arg)
{
    struct shared *s = arg;
    return mproc_sem_release(&s->a) == 0 ? 0 : 1;
}

MPROC_TEST(sem, any_process_may_release_untracked)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(released_by_other, s);
    MPROC_ASSERT_OK(mproc_sem_acquire(&s->a, 5000));
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    munmap(s, sizeof *s);
}

#define PINGS 2000

static int pong(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < PINGS; i++) {
        if (mproc_sem_acquire(&s->a, 5000) != 0)
            return 1;
        if (mproc_sem_release(&s->b) != 0)
            return 2;
    }
    return 0;
}

MPROC_TEST(sem, ping_pong_between_two_processes)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(pong, s);
    for (int i = 0; i < PINGS; i++) {
        MPROC_ASSERT_OK(mproc_sem_release(&s->a));
        MPROC_ASSERT_OK(mproc_sem_acquire(&s->b, 5000));
    }
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(mproc_sem_value(&s->a), 0);
    cr_assert_eq(mproc_sem_value(&s->b), 0);
    munmap(s, sizeof *s);
}

static int limited_section(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < 200; i++) {
        if (mproc_sem_acquire(&s->a, 5000) != 0)
            return 1;
        int now = atomic_fetch_add(&s->inside, 1) + 1;
        int m = atomic_load(&s->max_inside);
        while (now > m && !atomic_compare_exchange_weak(&s->max_inside, &m, now))
            ;
        for (volatile int k = 0; k < 1000; k++)
            ;
        atomic_fetch_sub(&s->inside, 1);
        if (mproc_sem_release(&s->a) != 0)
            return 2;
    }
    return 0;
}

MPROC_TEST(sem, tracked_bounded_admits_at_most_value_processes)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_sem_init(&s->a, 2, MPROC_SEM_TRACKED | MPROC_SEM_BOUNDED));
    pid_t pids[4];
    for (int i = 0; i < 4; i++)
        pids[i] = mproc_test_fork(limited_section, s);
    for (int i = 0; i < 4; i++) {
        int st = mproc_test_wait(pids[i], 10000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d status %d", i, st);
    }
    cr_assert_leq(atomic_load(&s->max_inside), 2);
    cr_assert_eq(mproc_sem_value(&s->a), 2);
    munmap(s, sizeof *s);
}

static int release_without_holding(void *arg)
{
    struct shared *s = arg;
    return mproc_sem_release(&s->a) == MPROC_ENOTOWNER ? 0 : 1;
}

MPROC_TEST(sem, tracked_release_by_non_holder_gives_enotowner)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_sem_init(&s->a, 1, MPROC_SEM_TRACKED));
    MPROC_ASSERT_OK(mproc_sem_acquire(&s->a, 0));
    pid_t pid = mproc_test_fork(release_without_holding, s);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MPROC_ASSERT_OK(mproc_sem_release(&s->a));
    MPROC_ASSERT_RC(mproc_sem_release(&s->a), MPROC_ENOTOWNER);
    munmap(s, sizeof *s);
}

static int sem_open_and_release(void *arg)
{
    (void)arg;
    mproc_sem *s;
    if (mproc_sem_open(&s, "test-sem-named") != 0)
        return 1;
    int rc = mproc_sem_release(s);
    mproc_sem_close(s);
    return rc == 0 ? 0 : 2;
}

MPROC_TEST(sem, named_semaphore_is_shared_by_name)
{
    mproc_sem *s;
    mproc_sem_unlink("test-sem-named");
    MPROC_ASSERT_OK(mproc_sem_create(&s, "test-sem-named", 0, 0));
    pid_t pid = mproc_test_fork(sem_open_and_release, NULL);
    MPROC_ASSERT_OK(mproc_sem_acquire(s, 5000));
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MPROC_ASSERT_OK(mproc_sem_close(s));
    MPROC_ASSERT_OK(mproc_sem_unlink("test-sem-named"));
}

MPROC_TEST(sem, anonymous_semaphore_keeps_its_flags)
{
    mproc_sem *s;
    MPROC_ASSERT_OK(mproc_sem_create(&s, NULL, 1, MPROC_SEM_BOUNDED));
    cr_assert_eq(mproc_sem_value(s), 1);
    MPROC_ASSERT_RC(mproc_sem_release(s), MPROC_ERANGE);
    MPROC_ASSERT_OK(mproc_sem_close(s));
}
