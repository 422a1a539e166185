/* test_cond.c - Condition: wait/notify across processes, timeouts,
 * wait_for with a predicate, ownership errors. Deaths are in
 * test_sync_crash.c. */
#include "harness.h"

#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct shared {
    mproc_cond cond;
    _Atomic int waiting;
    long items;
    long woken;
};

static struct shared *shared_map(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    cr_assert(p != MAP_FAILED);
    return p;
}

static bool has_items(void *arg)
{
    return ((struct shared *)arg)->items > 0;
}

static int consumer(void *arg)
{
    struct shared *s = arg;
    if (mproc_cond_acquire(&s->cond, 5000) != 0)
        return 1;
    atomic_fetch_add(&s->waiting, 1);
    int rc = mproc_cond_wait_for(&s->cond, has_items, s, 5000);
    if (rc == 0) {
        s->items--;
        s->woken++;
    }
    mproc_cond_release(&s->cond);
    return rc == 0 ? 0 : 2;
}

static void wait_waiting(struct shared *s, int n)
{
    for (int i = 0; i < 5000 && atomic_load(&s->waiting) < n; i++)
        mproc_test_sleep_ms(1);
    cr_assert_eq(atomic_load(&s->waiting), n);
    mproc_test_sleep_ms(20); /* they released the lock and sleep */
}

MPROC_TEST(cond, notify_wakes_a_waiting_process)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(consumer, s);
    wait_waiting(s, 1);
    MPROC_ASSERT_OK(mproc_cond_acquire(&s->cond, 1000));
    s->items = 1;
    MPROC_ASSERT_OK(mproc_cond_notify(&s->cond, 1));
    MPROC_ASSERT_OK(mproc_cond_release(&s->cond));
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_eq(s->items, 0);
    munmap(s, sizeof *s);
}

MPROC_TEST(cond, notify_all_wakes_every_waiting_process)
{
    struct shared *s = shared_map();
    pid_t pids[3];
    for (int i = 0; i < 3; i++)
        pids[i] = mproc_test_fork(consumer, s);
    wait_waiting(s, 3);
    MPROC_ASSERT_OK(mproc_cond_acquire(&s->cond, 1000));
    s->items = 3;
    MPROC_ASSERT_OK(mproc_cond_notify_all(&s->cond));
    MPROC_ASSERT_OK(mproc_cond_release(&s->cond));
    for (int i = 0; i < 3; i++) {
        int st = mproc_test_wait(pids[i], 5000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    }
    cr_assert_eq(s->woken, 3);
    munmap(s, sizeof *s);
}

MPROC_TEST(cond, wait_times_out_and_still_holds_the_lock)
{
    mproc_cond c = MPROC_COND_INITIALIZER;
    MPROC_ASSERT_OK(mproc_cond_acquire(&c, 0));
    MPROC_ASSERT_RC(mproc_cond_wait(&c, 30), MPROC_ETIMEDOUT);
    MPROC_ASSERT_RC(mproc_cond_wait(&c, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_cond_destroy(&c), MPROC_EBUSY);
    MPROC_ASSERT_OK(mproc_cond_release(&c));
    MPROC_ASSERT_OK(mproc_cond_destroy(&c));
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static bool always(void *arg)
{
    (void)arg;
    return true;
}

MPROC_TEST(cond, wait_for_checks_the_predicate_first_and_times_out)
{
    mproc_cond c = MPROC_COND_INITIALIZER;
    MPROC_ASSERT_OK(mproc_cond_acquire(&c, 0));
    MPROC_ASSERT_OK(mproc_cond_wait_for(&c, always, NULL, 0));
    MPROC_ASSERT_RC(mproc_cond_wait_for(&c, never, NULL, 30), MPROC_ETIMEDOUT);
    MPROC_ASSERT_RC(mproc_cond_wait_for(&c, never, NULL, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_cond_release(&c));
}

MPROC_TEST(cond, wait_and_notify_without_the_lock_give_enotowner)
{
    mproc_cond c = MPROC_COND_INITIALIZER;
    MPROC_ASSERT_RC(mproc_cond_wait(&c, 0), MPROC_ENOTOWNER);
    MPROC_ASSERT_RC(mproc_cond_wait_for(&c, always, NULL, 0), MPROC_ENOTOWNER);
    MPROC_ASSERT_RC(mproc_cond_notify(&c, 1), MPROC_ENOTOWNER);
    MPROC_ASSERT_RC(mproc_cond_notify_all(&c), MPROC_ENOTOWNER);
    MPROC_ASSERT_RC(mproc_cond_release(&c), MPROC_ENOTOWNER);
    MPROC_ASSERT_RC(mproc_cond_wait(NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_cond_wait_for(&c, NULL, NULL, 0), MPROC_EINVAL);
}

MPROC_TEST(cond, named_condition_round_trip)
{
    mproc_cond *c, *c2;
    mproc_cond_unlink("test-cond-named");
    MPROC_ASSERT_OK(mproc_cond_create(&c, "test-cond-named"));
    MPROC_ASSERT_OK(mproc_cond_open(&c2, "test-cond-named"));
    MPROC_ASSERT_OK(mproc_cond_acquire(c, 0));
    MPROC_ASSERT_RC(mproc_cond_acquire(c2, 0), MPROC_EBUSY); /* same lock, same thread */
    MPROC_ASSERT_OK(mproc_cond_release(c2));
    MPROC_ASSERT_OK(mproc_cond_close(c2));
    MPROC_ASSERT_OK(mproc_cond_close(c));
    MPROC_ASSERT_OK(mproc_cond_unlink("test-cond-named"));
}
