/* test_lock.c - Lock and RLock: mutual exclusion across processes, timeouts,
 * ownership errors, standalone (anonymous and named) locks. Owner death is
 * in test_sync_crash.c. */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>

struct shared {
    mproc_lock lock;
    mproc_rlock rlock;
    _Atomic int ready;
    long counter;
};

static struct shared *shared_map(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    cr_assert(p != MAP_FAILED);
    return p; /* zero-filled: the locks are valid and unlocked */
}

static void wait_ready(struct shared *s)
{
    for (int i = 0; i < 5000 && !atomic_load(&s->ready); i++)
        mproc_test_sleep_ms(1);
    cr_assert(atomic_load(&s->ready), "child never got ready");
}

static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    mproc_test_wait(pid, 5000);
}

static int hold_lock_forever(void *arg)
{
    struct shared *s = arg;
    if (mproc_lock_acquire(&s->lock, MPROC_FOREVER) != 0)
        return 1;
    atomic_store(&s->ready, 1);
    for (;;)
        pause();
}

MPROC_TEST(lock, zeroed_memory_is_an_unlocked_lock)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_lock_acquire(&s->lock, 0));
    cr_assert_eq(mproc_lock_held(&s->lock), 1);
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    cr_assert_eq(mproc_lock_held(&s->lock), 0);
    MPROC_ASSERT_OK(mproc_lock_destroy(&s->lock));
    munmap(s, sizeof *s);
}

MPROC_TEST(lock, init_resets_to_unlocked)
{
    mproc_lock l = MPROC_LOCK_INITIALIZER;
    MPROC_ASSERT_OK(mproc_lock_acquire(&l, MPROC_FOREVER));
    MPROC_ASSERT_RC(mproc_lock_destroy(&l), MPROC_EBUSY);
    MPROC_ASSERT_OK(mproc_lock_init(&l));
    MPROC_ASSERT_OK(mproc_lock_acquire(&l, 0));
    MPROC_ASSERT_OK(mproc_lock_release(&l));
}

MPROC_TEST(lock, acquire_by_owner_again_gives_ebusy_instead_of_deadlock)
{
    mproc_lock l = MPROC_LOCK_INITIALIZER;
    MPROC_ASSERT_OK(mproc_lock_acquire(&l, MPROC_FOREVER));
    MPROC_ASSERT_RC(mproc_lock_acquire(&l, MPROC_FOREVER), MPROC_EBUSY);
    MPROC_ASSERT_RC(mproc_lock_acquire(&l, 0), MPROC_EBUSY);
    MPROC_ASSERT_OK(mproc_lock_release(&l));
}

MPROC_TEST(lock, release_of_unheld_lock_gives_enotowner)
{
    mproc_lock l = MPROC_LOCK_INITIALIZER;
    MPROC_ASSERT_RC(mproc_lock_release(&l), MPROC_ENOTOWNER);
    MPROC_ASSERT_RC(mproc_lock_consistent(&l), MPROC_ENOTOWNER);
}

MPROC_TEST(lock, release_by_other_process_gives_enotowner)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(hold_lock_forever, s);
    wait_ready(s);
    MPROC_ASSERT_RC(mproc_lock_release(&s->lock), MPROC_ENOTOWNER);
    kill_and_reap(pid);
    munmap(s, sizeof *s);
}

MPROC_TEST(lock, try_fails_while_another_process_holds_it)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(hold_lock_forever, s);
    wait_ready(s);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, 30), MPROC_ETIMEDOUT);
    kill_and_reap(pid);
    munmap(s, sizeof *s);
}

MPROC_TEST(lock, bad_arguments_give_einval)
{
    mproc_lock l = MPROC_LOCK_INITIALIZER;
    MPROC_ASSERT_RC(mproc_lock_acquire(NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_lock_acquire(&l, -5), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_lock_release(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_lock_init(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_lock_create(NULL, NULL), MPROC_EINVAL);
    mproc_lock *p = (mproc_lock *)0x1;
    MPROC_ASSERT_RC(mproc_lock_create(&p, "bad/name"), MPROC_EINVAL);
    cr_assert_eq(p, (mproc_lock *)0x1, "out-param written on failure");
    MPROC_ASSERT_RC(mproc_lock_close(&l), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_lock_close(NULL), MPROC_EINVAL);
}

#define ROUNDS 20000

static int count_under_lock(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (mproc_lock_acquire(&s->lock, 10000) != 0)
            return 1;
        long v = s->counter; /* a non-atomic read-modify-write: the lock's job */
        __asm__ __volatile__("" ::: "memory");
        s->counter = v + 1;
        if (mproc_lock_release(&s->lock) != 0)
            return 2;
    }
    return 0;
}

MPROC_TEST(lock, excludes_across_three_processes)
{
    struct shared *s = shared_map();
    pid_t a = mproc_test_fork(count_under_lock, s);
    pid_t b = mproc_test_fork(count_under_lock, s);
    cr_assert_eq(count_under_lock(s), 0);
    int sa = mproc_test_wait(a, 20000), sb = mproc_test_wait(b, 20000);
    cr_assert(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
    cr_assert(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
    cr_assert_eq(s->counter, 3L * ROUNDS);
    munmap(s, sizeof *s);
}

static int wait_then_take(void *arg)
{
    struct shared *s = arg;
    atomic_store(&s->ready, 1);
    int rc = mproc_lock_acquire(&s->lock, MPROC_FOREVER);
    if (rc != 0)
        return 1;
    s->counter = 42;
    mproc_lock_release(&s->lock);
    return 0;
}

MPROC_TEST(lock, sleeping_waiter_is_woken_by_release)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_lock_acquire(&s->lock, 0));
    pid_t pid = mproc_test_fork(wait_then_take, s);
    wait_ready(s);
    mproc_test_sleep_ms(50); /* let it go to sleep in the kernel */
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(s->counter, 42);
    munmap(s, sizeof *s);
}

static int child_sees_parent_lock_held(void *arg)
{
    mproc_lock *l = arg;
    if (mproc_lock_held(l))
        return 1; /* the parent's thread owns it, not the child */
    return mproc_lock_acquire(l, 0) == MPROC_EAGAIN ? 0 : 2;
}

MPROC_TEST(lock, anonymous_lock_is_shared_with_forked_child)
{
    mproc_lock *l = NULL;
    int shm_before = mproc_test_shm_count();
    MPROC_ASSERT_OK(mproc_lock_create(&l, NULL));
    cr_assert_eq(mproc_test_shm_count(), shm_before, "anonymous lock made a /dev/shm entry");
    MPROC_ASSERT_OK(mproc_lock_acquire(l, 0));
    pid_t pid = mproc_test_fork(child_sees_parent_lock_held, l);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    MPROC_ASSERT_OK(mproc_lock_release(l));
    MPROC_ASSERT_OK(mproc_lock_close(l));
}

static int open_named_and_try(void *arg)
{
    (void)arg;
    mproc_lock *l;
    if (mproc_lock_open(&l, "test-lock-named") != 0)
        return 1;
    int rc = mproc_lock_acquire(l, 0);
    mproc_lock_close(l);
    return rc == MPROC_EAGAIN ? 0 : 2;
}

MPROC_TEST(lock, named_lock_is_opened_by_name)
{
    mproc_lock *l, *dup;
    mproc_lock_unlink("test-lock-named");
    MPROC_ASSERT_OK(mproc_lock_create(&l, "test-lock-named"));
    MPROC_ASSERT_RC(mproc_lock_create(&dup, "test-lock-named"), MPROC_EEXIST);
    MPROC_ASSERT_OK(mproc_lock_acquire(l, 0));
    pid_t pid = mproc_test_fork(open_named_and_try, NULL);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
    MPROC_ASSERT_OK(mproc_lock_release(l));
    MPROC_ASSERT_OK(mproc_lock_close(l));
    MPROC_ASSERT_OK(mproc_lock_unlink("test-lock-named"));
    MPROC_ASSERT_RC(mproc_lock_open(&l, "test-lock-named"), MPROC_ENOENT);
    MPROC_ASSERT_RC(mproc_lock_unlink("test-lock-named"), MPROC_ENOENT);
}

MPROC_TEST(lock, opening_another_kind_gives_eforeign)
{
    mproc_event *e;
    mproc_lock *l;
    mproc_event_unlink("test-lock-kind");
    MPROC_ASSERT_OK(mproc_event_create(&e, "test-lock-kind"));
    MPROC_ASSERT_RC(mproc_lock_open(&l, "test-lock-kind"), MPROC_EFOREIGN);
    MPROC_ASSERT_RC(mproc_lock_unlink("test-lock-kind"), MPROC_EFOREIGN);
    MPROC_ASSERT_RC(mproc_lock_close((mproc_lock *)(void *)e), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_event_close(e));
    MPROC_ASSERT_OK(mproc_event_unlink("test-lock-kind"));
}

MPROC_TEST(rlock, owner_nests_and_frees_at_depth_zero)
{
    mproc_rlock l = MPROC_RLOCK_INITIALIZER;
    MPROC_ASSERT_OK(mproc_rlock_acquire(&l, 0));
    MPROC_ASSERT_OK(mproc_rlock_acquire(&l, 0));
    MPROC_ASSERT_OK(mproc_rlock_acquire(&l, MPROC_FOREVER));
    cr_assert_eq(mproc_rlock_depth(&l), 3u);
    MPROC_ASSERT_OK(mproc_rlock_release(&l));
    MPROC_ASSERT_OK(mproc_rlock_release(&l));
    MPROC_ASSERT_RC(mproc_rlock_destroy(&l), MPROC_EBUSY);
    MPROC_ASSERT_OK(mproc_rlock_release(&l));
    cr_assert_eq(mproc_rlock_depth(&l), 0u);
    MPROC_ASSERT_RC(mproc_rlock_release(&l), MPROC_ENOTOWNER);
    MPROC_ASSERT_OK(mproc_rlock_destroy(&l));
}

static int try_rlock(void *arg)
{
    mproc_rlock *l = arg;
    return mproc_rlock_acquire(l, 20) == MPROC_ETIMEDOUT ? 0 : 1;
}

MPROC_TEST(rlock, other_process_cannot_enter_while_nested)
{
    mproc_rlock *l;
    MPROC_ASSERT_OK(mproc_rlock_create(&l, NULL));
    MPROC_ASSERT_OK(mproc_rlock_acquire(l, 0));
    MPROC_ASSERT_OK(mproc_rlock_acquire(l, 0));
    MPROC_ASSERT_OK(mproc_rlock_release(l));
    pid_t pid = mproc_test_fork(try_rlock, l);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    MPROC_ASSERT_OK(mproc_rlock_release(l));
    MPROC_ASSERT_OK(mproc_rlock_close(l));
}

static void *count_thread(void *arg)
{
    return (void *)(intptr_t)count_under_lock(arg);
}

static int count_with_two_threads(void *arg)
{
    pthread_t t;
    if (pthread_create(&t, NULL, count_thread, arg) != 0)
        return 1;
    int mine = count_under_lock(arg);
    void *theirs;
    pthread_join(t, &theirs);
    return mine || theirs ? 2 : 0;
}

MPROC_TEST(lock, excludes_threads_of_two_processes_together)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(count_with_two_threads, s);
    cr_assert_eq(count_with_two_threads(s), 0);
    int st = mproc_test_wait(pid, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    cr_assert_eq(s->counter, 4L * ROUNDS);
    munmap(s, sizeof *s);
}
