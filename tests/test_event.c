/* test_event.c - Event: set/clear/is_set/wait across processes. The setter
 * dying between set and wake is in test_sync_crash.c. */
#include "harness.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct shared {
    mproc_event ev;
    _Atomic int ready;
};

static struct shared *shared_map(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    cr_assert(p != MAP_FAILED);
    return p;
}

MPROC_TEST(event, zeroed_memory_is_an_unset_event)
{
    struct shared *s = shared_map();
    cr_assert_eq(mproc_event_is_set(&s->ev), 0);
    MPROC_ASSERT_RC(mproc_event_wait(&s->ev, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_event_wait(&s->ev, 20), MPROC_ETIMEDOUT);
    munmap(s, sizeof *s);
}

MPROC_TEST(event, set_stays_set_until_cleared)
{
    mproc_event e = MPROC_EVENT_INITIALIZER;
    MPROC_ASSERT_OK(mproc_event_set(&e));
    MPROC_ASSERT_OK(mproc_event_set(&e));
    cr_assert_eq(mproc_event_is_set(&e), 1);
    MPROC_ASSERT_OK(mproc_event_wait(&e, 0));
    MPROC_ASSERT_OK(mproc_event_wait(&e, MPROC_FOREVER));
    MPROC_ASSERT_OK(mproc_event_clear(&e));
    cr_assert_eq(mproc_event_is_set(&e), 0);
    MPROC_ASSERT_RC(mproc_event_wait(&e, 0), MPROC_EAGAIN);
}

static int waiter(void *arg)
{
    struct shared *s = arg;
    atomic_fetch_add(&s->ready, 1);
    return mproc_event_wait(&s->ev, 5000) == 0 ? 0 : 1;
}

MPROC_TEST(event, set_wakes_every_waiting_process)
{
    struct shared *s = shared_map();
    pid_t pids[3];
    for (int i = 0; i < 3; i++)
        pids[i] = mproc_test_fork(waiter, s);
    for (int i = 0; i < 5000 && atomic_load(&s->ready) < 3; i++)
        mproc_test_sleep_ms(1);
    mproc_test_sleep_ms(20);
    MPROC_ASSERT_OK(mproc_event_set(&s->ev));
    for (int i = 0; i < 3; i++) {
        int st = mproc_test_wait(pids[i], 5000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    }
    munmap(s, sizeof *s);
}

MPROC_TEST(event, garbage_in_the_word_gives_ecorrupt)
{
    mproc_event e;
    memset(&e, 0x5a, sizeof e);
    MPROC_ASSERT_RC(mproc_event_wait(&e, 10), MPROC_ECORRUPT);
    cr_assert_eq(mproc_event_is_set(&e), 0);
    MPROC_ASSERT_OK(mproc_event_init(&e));
    MPROC_ASSERT_RC(mproc_event_wait(NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_event_wait(&e, -3), MPROC_EINVAL);
}

static int open_and_set(void *arg)
{
    (void)arg;
    mproc_event *e;
    if (mproc_event_open(&e, "test-event-named") != 0)
        return 1;
    mproc_event_set(e);
    mproc_event_close(e);
    return 0;
}

MPROC_TEST(event, named_event_is_set_by_an_unrelated_opener)
{
    mproc_event *e;
    mproc_event_unlink("test-event-named");
    MPROC_ASSERT_OK(mproc_event_create(&e, "test-event-named"));
    pid_t pid = mproc_test_fork(open_and_set, NULL);
    MPROC_ASSERT_OK(mproc_event_wait(e, 5000));
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MPROC_ASSERT_OK(mproc_event_close(e));
    MPROC_ASSERT_OK(mproc_event_unlink("test-event-named"));
}
