/* test_sync_crash.c - what survivors see when a holder or a waiter of a
 * lock, semaphore, condition, event or barrier is SIGKILLed (or its thread
 * exits) at the worst moment. */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shared {
    mproc_lock lock;
    mproc_rlock rlock;
    mproc_sem sem;
    mproc_cond cond;
    mproc_event event;
    mproc_barrier barrier;
    _Atomic int ready;
    _Atomic int ready2;
    long data;
};

static struct shared *shared_map(void)
{
    void *p = mmap(NULL, sizeof(struct shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                   -1, 0);
    cr_assert(p != MAP_FAILED);
    return p;
}

static void wait_flag(_Atomic int *flag)
{
    for (int i = 0; i < 5000 && !atomic_load(flag); i++)
        mproc_test_sleep_ms(1);
    cr_assert(atomic_load(flag), "child never got ready");
}

static void kill_and_reap(pid_t pid)
{
    kill(pid, SIGKILL);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status %d", st);
}

static void assert_exit0(pid_t pid)
{
    int st = mproc_test_wait(pid, 8000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d (exit %d)", st,
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static __attribute__((noreturn)) void park(void)
{
    for (;;)
        pause();
}

/* Lock ------------------------------------------------------------------------ */

static int hold_lock(void *arg)
{
    struct shared *s = arg;
    if (mproc_lock_acquire(&s->lock, MPROC_FOREVER) != 0)
        return 1;
    s->data = -1; /* half-done update */
    atomic_store(&s->ready, 1);
    park();
}

MPROC_TEST(sync_crash, lock_owner_killed_gives_eownerdead_and_consistent_repairs)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(hold_lock, s);
    wait_flag(&s->ready);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, MPROC_FOREVER), MPROC_EOWNERDEAD);
    cr_assert_eq(mproc_lock_held(&s->lock), 1);
    s->data = 0; /* repair */
    MPROC_ASSERT_OK(mproc_lock_consistent(&s->lock));
    MPROC_ASSERT_RC(mproc_lock_consistent(&s->lock), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    MPROC_ASSERT_OK(mproc_lock_acquire(&s->lock, 0));
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    munmap(s, sizeof *s);
}

MPROC_TEST(sync_crash, lock_try_once_detects_dead_owner_at_once)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(hold_lock, s);
    wait_flag(&s->ready);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, 0), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_lock_consistent(&s->lock));
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    munmap(s, sizeof *s);
}

MPROC_TEST(sync_crash, lock_released_without_consistent_becomes_notrecoverable)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(hold_lock, s);
    wait_flag(&s->ready);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, 1000), MPROC_EOWNERDEAD);
    MPROC_ASSERT_RC(mproc_lock_release(&s->lock), MPROC_ENOTRECOVERABLE);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, 0), MPROC_ENOTRECOVERABLE);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, MPROC_FOREVER), MPROC_ENOTRECOVERABLE);
    MPROC_ASSERT_OK(mproc_lock_init(&s->lock)); /* explicit re-init makes it usable */
    MPROC_ASSERT_OK(mproc_lock_acquire(&s->lock, 0));
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    munmap(s, sizeof *s);
}

static int recover_then_die(void *arg)
{
    struct shared *s = arg;
    if (mproc_lock_acquire(&s->lock, 2000) != MPROC_EOWNERDEAD)
        return 1;
    atomic_store(&s->ready2, 1);
    park(); /* dies while repairing */
}

MPROC_TEST(sync_crash, lock_recoverer_killed_passes_eownerdead_on)
{
    struct shared *s = shared_map();
    pid_t a = mproc_test_fork(hold_lock, s);
    wait_flag(&s->ready);
    kill_and_reap(a);
    pid_t b = mproc_test_fork(recover_then_die, s);
    wait_flag(&s->ready2);
    kill_and_reap(b);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, 0), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_lock_consistent(&s->lock));
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    munmap(s, sizeof *s);
}

static int waiter_expects_ownerdead(void *arg)
{
    struct shared *s = arg;
    atomic_store(&s->ready2, 1);
    int rc = mproc_lock_acquire(&s->lock, MPROC_FOREVER);
    if (rc != MPROC_EOWNERDEAD)
        return 10 + (rc == 0);
    mproc_lock_consistent(&s->lock);
    mproc_lock_release(&s->lock);
    return 0;
}

MPROC_TEST(sync_crash, lock_sleeping_waiter_takes_over_when_owner_is_killed)
{
    struct shared *s = shared_map();
    pid_t owner = mproc_test_fork(hold_lock, s);
    wait_flag(&s->ready);
    pid_t waiter = mproc_test_fork(waiter_expects_ownerdead, s);
    wait_flag(&s->ready2);
    mproc_test_sleep_ms(30); /* asleep in the kernel by now */
    kill_and_reap(owner);
    assert_exit0(waiter);
    MPROC_ASSERT_OK(mproc_lock_acquire(&s->lock, 0));
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    munmap(s, sizeof *s);
}

static int two_waiters_race(void *arg)
{
    struct shared *s = arg;
    atomic_fetch_add(&s->ready2, 1);
    int rc = mproc_lock_acquire(&s->lock, 5000);
    if (rc == MPROC_EOWNERDEAD) {
        s->data = 100; /* exactly one process may see this */
        mproc_test_sleep_ms(20);
        mproc_lock_consistent(&s->lock);
        mproc_lock_release(&s->lock);
        return 0;
    }
    if (rc == 0) {
        int repaired = s->data == 100;
        mproc_lock_release(&s->lock);
        return repaired ? 1 : 3;
    }
    return 2;
}

MPROC_TEST(sync_crash, lock_exactly_one_of_two_waiters_gets_eownerdead)
{
    struct shared *s = shared_map();
    pid_t owner = mproc_test_fork(hold_lock, s);
    wait_flag(&s->ready);
    pid_t w1 = mproc_test_fork(two_waiters_race, s);
    pid_t w2 = mproc_test_fork(two_waiters_race, s);
    for (int i = 0; i < 5000 && atomic_load(&s->ready2) < 2; i++)
        mproc_test_sleep_ms(1);
    kill_and_reap(owner);
    int s1 = mproc_test_wait(w1, 8000), s2 = mproc_test_wait(w2, 8000);
    cr_assert(WIFEXITED(s1) && WIFEXITED(s2));
    int e1 = WEXITSTATUS(s1), e2 = WEXITSTATUS(s2);
    cr_assert((e1 == 0 && e2 == 1) || (e1 == 1 && e2 == 0), "exits %d and %d", e1, e2);
    munmap(s, sizeof *s);
}

static void *thread_takes_lock_and_exits(void *arg)
{
    mproc_lock *l = arg;
    return (void *)(intptr_t)mproc_lock_acquire(l, 0);
}

MPROC_TEST(sync_crash, lock_owner_thread_that_exits_counts_as_dead)
{
    mproc_lock l = MPROC_LOCK_INITIALIZER;
    pthread_t t;
    void *ret;
    cr_assert_eq(pthread_create(&t, NULL, thread_takes_lock_and_exits, &l), 0);
    pthread_join(t, &ret);
    cr_assert_eq((intptr_t)ret, 0);
    MPROC_ASSERT_RC(mproc_lock_acquire(&l, MPROC_FOREVER), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_lock_consistent(&l));
    MPROC_ASSERT_OK(mproc_lock_release(&l));
}

static int hold_rlock_nested(void *arg)
{
    struct shared *s = arg;
    for (int i = 0; i < 3; i++)
        if (mproc_rlock_acquire(&s->rlock, MPROC_FOREVER) != 0)
            return 1;
    atomic_store(&s->ready, 1);
    park();
}

MPROC_TEST(sync_crash, rlock_owner_killed_new_owner_starts_at_depth_one)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(hold_rlock_nested, s);
    wait_flag(&s->ready);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_rlock_acquire(&s->rlock, 2000), MPROC_EOWNERDEAD);
    cr_assert_eq(mproc_rlock_depth(&s->rlock), 1u);
    MPROC_ASSERT_OK(mproc_rlock_consistent(&s->rlock));
    MPROC_ASSERT_OK(mproc_rlock_release(&s->rlock));
    cr_assert_eq(mproc_rlock_depth(&s->rlock), 0u);
    MPROC_ASSERT_OK(mproc_rlock_acquire(&s->rlock, 0));
    MPROC_ASSERT_OK(mproc_rlock_release(&s->rlock));
    munmap(s, sizeof *s);
}

/* Semaphore ------------------------------------------------------------------- */

static int hold_sem_unit(void *arg)
{
    struct shared *s = arg;
    if (mproc_sem_acquire(&s->sem, MPROC_FOREVER) != 0)
        return 1;
    atomic_store(&s->ready, 1);
    park();
}

MPROC_TEST(sync_crash, sem_tracked_units_of_killed_holder_come_back_to_waiter)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_sem_init(&s->sem, 1, MPROC_SEM_TRACKED | MPROC_SEM_BOUNDED));
    pid_t pid = mproc_test_fork(hold_sem_unit, s);
    wait_flag(&s->ready);
    MPROC_ASSERT_RC(mproc_sem_acquire(&s->sem, 0), MPROC_EAGAIN);
    kill_and_reap(pid);
    MPROC_ASSERT_OK(mproc_sem_acquire(&s->sem, 3000));
    cr_assert_eq(mproc_sem_value(&s->sem), 0);
    MPROC_ASSERT_OK(mproc_sem_release(&s->sem));
    cr_assert_eq(mproc_sem_value(&s->sem), 1);
    MPROC_ASSERT_RC(mproc_sem_release(&s->sem), MPROC_ENOTOWNER);
    munmap(s, sizeof *s);
}

MPROC_TEST(sync_crash, sem_tracked_try_once_recovers_dead_holder_at_once)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_sem_init(&s->sem, 1, MPROC_SEM_TRACKED));
    pid_t pid = mproc_test_fork(hold_sem_unit, s);
    wait_flag(&s->ready);
    kill_and_reap(pid);
    MPROC_ASSERT_OK(mproc_sem_acquire(&s->sem, 0));
    MPROC_ASSERT_OK(mproc_sem_release(&s->sem));
    munmap(s, sizeof *s);
}

static int sem_waiter(void *arg)
{
    struct shared *s = arg;
    atomic_store(&s->ready2, 1);
    return mproc_sem_acquire(&s->sem, 5000) == 0 ? 0 : 1;
}

MPROC_TEST(sync_crash, sem_tracked_sleeping_waiter_gets_unit_of_killed_holder)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_sem_init(&s->sem, 1, MPROC_SEM_TRACKED));
    pid_t holder = mproc_test_fork(hold_sem_unit, s);
    wait_flag(&s->ready);
    pid_t waiter = mproc_test_fork(sem_waiter, s);
    wait_flag(&s->ready2);
    mproc_test_sleep_ms(30);
    kill_and_reap(holder);
    assert_exit0(waiter);
    munmap(s, sizeof *s);
}

MPROC_TEST(sync_crash, sem_untracked_units_of_killed_holder_are_lost)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_sem_init(&s->sem, 1, 0));
    pid_t pid = mproc_test_fork(hold_sem_unit, s);
    wait_flag(&s->ready);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_sem_acquire(&s->sem, 100), MPROC_ETIMEDOUT);
    munmap(s, sizeof *s);
}

/* Condition ------------------------------------------------------------------- */

static int cond_waiter_dies_in_wait(void *arg)
{
    struct shared *s = arg;
    if (mproc_cond_acquire(&s->cond, MPROC_FOREVER) != 0)
        return 1;
    mproc_fault_arm("cond.wait");
    mproc_cond_wait(&s->cond, MPROC_FOREVER);
    return 2; /* not reached: killed inside the wait */
}

MPROC_TEST(sync_crash, cond_waiter_killed_in_wait_leaves_condition_usable)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(cond_waiter_dies_in_wait, s);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %d", st);
    /* It died after releasing the lock: no owner death to report. */
    MPROC_ASSERT_OK(mproc_cond_acquire(&s->cond, 0));
    MPROC_ASSERT_OK(mproc_cond_notify_all(&s->cond));
    MPROC_ASSERT_RC(mproc_cond_wait(&s->cond, 20), MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_cond_release(&s->cond));
    munmap(s, sizeof *s);
}

static int cond_waiter_expects_ownerdead(void *arg)
{
    struct shared *s = arg;
    if (mproc_cond_acquire(&s->cond, MPROC_FOREVER) != 0)
        return 1;
    atomic_store(&s->ready, 1);
    int rc = mproc_cond_wait(&s->cond, MPROC_FOREVER);
    if (rc != MPROC_EOWNERDEAD)
        return 10 + (rc == 0);
    mproc_cond_consistent(&s->cond);
    mproc_cond_release(&s->cond);
    return 0;
}

static int cond_notifier_dies_before_wake(void *arg)
{
    struct shared *s = arg;
    if (mproc_cond_acquire(&s->cond, MPROC_FOREVER) != 0)
        return 1;
    mproc_fault_arm("cond.notify");
    mproc_cond_notify(&s->cond, 1); /* dies between the bump and the wake */
    return 2;
}

MPROC_TEST(sync_crash, cond_notifier_killed_before_wake_strands_no_waiter)
{
    struct shared *s = shared_map();
    pid_t waiter = mproc_test_fork(cond_waiter_expects_ownerdead, s);
    wait_flag(&s->ready);
    mproc_test_sleep_ms(30);
    pid_t notifier = mproc_test_fork(cond_notifier_dies_before_wake, s);
    int st = mproc_test_wait(notifier, 5000);
    cr_assert(WIFSIGNALED(st), "status %d", st);
    /* The waiter wakes on its own, sees the notify, and inherits the lock
     * the notifier died holding. */
    assert_exit0(waiter);
    munmap(s, sizeof *s);
}

/* Event ----------------------------------------------------------------------- */

static int event_waiter(void *arg)
{
    struct shared *s = arg;
    atomic_store(&s->ready, 1);
    return mproc_event_wait(&s->event, 5000) == 0 ? 0 : 1;
}

static int event_setter_dies_before_wake(void *arg)
{
    struct shared *s = arg;
    mproc_fault_arm("event.set");
    mproc_event_set(&s->event);
    return 2;
}

MPROC_TEST(sync_crash, event_setter_killed_before_wake_strands_no_waiter)
{
    struct shared *s = shared_map();
    pid_t waiter = mproc_test_fork(event_waiter, s);
    wait_flag(&s->ready);
    mproc_test_sleep_ms(30);
    pid_t setter = mproc_test_fork(event_setter_dies_before_wake, s);
    int st = mproc_test_wait(setter, 5000);
    cr_assert(WIFSIGNALED(st), "status %d", st);
    assert_exit0(waiter);
    cr_assert_eq(mproc_event_is_set(&s->event), 1);
    munmap(s, sizeof *s);
}

/* Barrier --------------------------------------------------------------------- */

static int barrier_arrive_and_die(void *arg)
{
    struct shared *s = arg;
    mproc_fault_arm("barrier.wait");
    mproc_barrier_wait(&s->barrier, MPROC_FOREVER);
    return 2;
}

static int barrier_waiter_expects_broken(void *arg)
{
    struct shared *s = arg;
    int rc = mproc_barrier_wait(&s->barrier, 5000);
    return rc == MPROC_EBROKEN ? 0 : 1;
}

MPROC_TEST(sync_crash, barrier_waiter_killed_breaks_it_for_everyone)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_barrier_init(&s->barrier, 4));
    pid_t w = mproc_test_fork(barrier_waiter_expects_broken, s);
    pid_t dead = mproc_test_fork(barrier_arrive_and_die, s);
    int st = mproc_test_wait(dead, 5000);
    cr_assert(WIFSIGNALED(st), "status %d", st);
    MPROC_ASSERT_RC(mproc_barrier_wait(&s->barrier, 5000), MPROC_EBROKEN);
    assert_exit0(w);
    cr_assert_eq(mproc_barrier_broken(&s->barrier), 1);
    MPROC_ASSERT_RC(mproc_barrier_wait(&s->barrier, 0), MPROC_EBROKEN);
    MPROC_ASSERT_OK(mproc_barrier_reset(&s->barrier));
    cr_assert_eq(mproc_barrier_broken(&s->barrier), 0);
    munmap(s, sizeof *s);
}

static int barrier_join_and_park(void *arg)
{
    struct shared *s = arg;
    if (mproc_barrier_join(&s->barrier) != 0)
        return 1;
    atomic_store(&s->ready, 1);
    park();
}

MPROC_TEST(sync_crash, barrier_joined_party_killed_before_arriving_breaks_it)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_barrier_init(&s->barrier, 2));
    pid_t pid = mproc_test_fork(barrier_join_and_park, s);
    wait_flag(&s->ready);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_barrier_wait(&s->barrier, 5000), MPROC_EBROKEN);
    /* reset forgets the dead member: the barrier works again */
    MPROC_ASSERT_OK(mproc_barrier_reset(&s->barrier));
    MPROC_ASSERT_OK(mproc_barrier_join(&s->barrier));
    MPROC_ASSERT_OK(mproc_barrier_leave(&s->barrier));
    MPROC_ASSERT_RC(mproc_barrier_leave(&s->barrier), MPROC_ENOENT);
    munmap(s, sizeof *s);
}

/* Kill points and capacity ----------------------------------------------------- */

static int die_right_after_acquiring(void *arg)
{
    struct shared *s = arg;
    mproc_fault_arm("lock.held");
    mproc_lock_acquire(&s->lock, MPROC_FOREVER);
    return 2; /* not reached */
}

MPROC_TEST(sync_crash, lock_killed_at_lock_held_point_gives_eownerdead)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(die_right_after_acquiring, s);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "status %d", st);
    MPROC_ASSERT_RC(mproc_lock_acquire(&s->lock, 2000), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_lock_consistent(&s->lock));
    MPROC_ASSERT_OK(mproc_lock_release(&s->lock));
    munmap(s, sizeof *s);
}

static int hold_one_and_park(void *arg)
{
    struct shared *s = arg;
    if (mproc_sem_acquire(&s->sem, 1000) != 0)
        return 1;
    atomic_fetch_add(&s->ready, 1);
    park();
}

MPROC_TEST(sync_crash, sem_tracked_table_full_gives_enospc_until_holders_die)
{
    struct shared *s = shared_map();
    MPROC_ASSERT_OK(mproc_sem_init(&s->sem, 100, MPROC_SEM_TRACKED));
    pid_t pids[MPROC_SEM_TRACK_MAX];
    for (int i = 0; i < MPROC_SEM_TRACK_MAX; i++)
        pids[i] = mproc_test_fork(hold_one_and_park, s);
    for (int i = 0; i < 5000 && atomic_load(&s->ready) < MPROC_SEM_TRACK_MAX; i++)
        mproc_test_sleep_ms(1);
    cr_assert_eq(atomic_load(&s->ready), MPROC_SEM_TRACK_MAX);
    cr_assert_eq(mproc_sem_value(&s->sem), 100 - MPROC_SEM_TRACK_MAX);
    MPROC_ASSERT_RC(mproc_sem_acquire(&s->sem, 0), MPROC_ENOSPC);
    cr_assert_eq(mproc_sem_value(&s->sem), 100 - MPROC_SEM_TRACK_MAX, "ENOSPC took a unit");
    for (int i = 0; i < MPROC_SEM_TRACK_MAX; i++)
        kill_and_reap(pids[i]);
    MPROC_ASSERT_OK(mproc_sem_acquire(&s->sem, 0));
    cr_assert_eq(mproc_sem_value(&s->sem), 99);
    MPROC_ASSERT_OK(mproc_sem_release(&s->sem));
    munmap(s, sizeof *s);
}

/* Random kills --------------------------------------------------------------- */

struct pair {
    mproc_lock lock;
    _Atomic int started;
    long a, b; /* invariant under the lock: a == b */
    long repairs;
};

static int hammer_pair(void *arg)
{
    struct pair *p = arg;
    atomic_fetch_add(&p->started, 1);
    for (;;) {
        int rc = mproc_lock_acquire(&p->lock, 5000);
        if (rc == MPROC_EOWNERDEAD) {
            p->b = p->a;
            p->repairs++;
            mproc_lock_consistent(&p->lock);
        } else if (rc != 0) {
            return 1;
        } else if (p->a != p->b) {
            return 3; /* saw a half-done update without being told */
        }
        p->a++;
        for (volatile int k = 0; k < 50; k++)
            ;
        p->b++;
        mproc_lock_release(&p->lock);
    }
}

MPROC_TEST(sync_crash, lock_invariant_holds_across_twenty_random_kills)
{
    struct pair *p =
        mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(p != MAP_FAILED);
    pid_t survivor = mproc_test_fork(hammer_pair, p);
    unsigned seed = (unsigned)getpid();
    for (int round = 0; round < 20; round++) {
        atomic_store(&p->started, 0);
        pid_t victim = mproc_test_fork(hammer_pair, p);
        for (int i = 0; i < 5000 && atomic_load(&p->started) == 0; i++)
            mproc_test_sleep_ms(1);
        struct timespec ts = {0, (long)(rand_r(&seed) % 20000) * 1000};
        nanosleep(&ts, NULL);
        kill_and_reap(victim);
    }
    /* The survivor never saw a broken invariant and is still going. */
    mproc_test_sleep_ms(100);
    int st = mproc_test_wait(survivor, 0);
    cr_assert_eq(st, -1, "survivor ended with status %d", st); /* -1: still running, now killed */
    int rc = mproc_lock_acquire(&p->lock, 2000);
    cr_assert(rc == 0 || rc == MPROC_EOWNERDEAD, "final acquire %d", rc);
    if (rc == MPROC_EOWNERDEAD) {
        p->b = p->a;
        MPROC_ASSERT_OK(mproc_lock_consistent(&p->lock));
    }
    cr_assert_eq(p->a, p->b);
    cr_assert_gt(p->a, 0);
    cr_log_info("%ld updates, %ld repairs after owner deaths", p->a, p->repairs);
    MPROC_ASSERT_OK(mproc_lock_release(&p->lock));
    munmap(p, sizeof *p);
}

struct slots {
    mproc_sem sem;
    _Atomic int started;
};

static int hammer_slots(void *arg)
{
    struct slots *p = arg;
    atomic_fetch_add(&p->started, 1);
    for (;;) {
        int rc = mproc_sem_acquire(&p->sem, 5000);
        if (rc != 0)
            return 1;
        for (volatile int k = 0; k < 200; k++)
            ;
        rc = mproc_sem_release(&p->sem);
        if (rc != 0)
            return 2; /* MPROC_ERANGE here would mean a unit was counted twice */
    }
}

MPROC_TEST(sync_crash, sem_tracked_never_exceeds_its_bound_across_random_kills)
{
    struct slots *p =
        mmap(NULL, sizeof *p, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(p != MAP_FAILED);
    MPROC_ASSERT_OK(mproc_sem_init(&p->sem, 2, MPROC_SEM_TRACKED | MPROC_SEM_BOUNDED));
    pid_t survivor = mproc_test_fork(hammer_slots, p);
    unsigned seed = (unsigned)getpid();
    for (int round = 0; round < 20; round++) {
        atomic_store(&p->started, 0);
        pid_t victim = mproc_test_fork(hammer_slots, p);
        for (int i = 0; i < 5000 && atomic_load(&p->started) == 0; i++)
            mproc_test_sleep_ms(1);
        struct timespec ts = {0, (long)(rand_r(&seed) % 20000) * 1000};
        nanosleep(&ts, NULL);
        kill_and_reap(victim);
    }
    mproc_test_sleep_ms(50);
    int st = mproc_test_wait(survivor, 0);
    cr_assert_eq(st, -1, "survivor ended with status %d", st);
    /* Everyone is dead now: all their units come back, exactly. */
    int got = 0;
    while (got < 3 && mproc_sem_acquire(&p->sem, 200) == 0)
        got++;
    cr_assert_eq(got, 2, "%d units available after recovery, expected 2", got);
    for (int i = 0; i < got; i++)
        MPROC_ASSERT_OK(mproc_sem_release(&p->sem));
    munmap(p, sizeof *p);
}

/* Waiters killed in their sleep ------------------------------------------------ */

static int event_wait_forever(void *arg)
{
    struct shared *s = arg;
    atomic_store(&s->ready, 1);
    mproc_event_wait(&s->event, MPROC_FOREVER);
    return 0;
}

MPROC_TEST(sync_crash, event_waiter_killed_in_its_sleep_leaves_event_usable)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(event_wait_forever, s);
    wait_flag(&s->ready);
    mproc_test_sleep_ms(30);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_event_wait(&s->event, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_event_set(&s->event));
    cr_assert_eq(mproc_event_is_set(&s->event), 1);
    MPROC_ASSERT_OK(mproc_event_clear(&s->event));
    MPROC_ASSERT_RC(mproc_event_wait(&s->event, 10), MPROC_ETIMEDOUT);
    munmap(s, sizeof *s);
}

static int sem_wait_forever(void *arg)
{
    struct shared *s = arg;
    atomic_store(&s->ready, 1);
    mproc_sem_acquire(&s->sem, MPROC_FOREVER);
    return 0;
}

MPROC_TEST(sync_crash, sem_waiter_killed_in_its_sleep_costs_nothing)
{
    struct shared *s = shared_map();
    pid_t pid = mproc_test_fork(sem_wait_forever, s);
    wait_flag(&s->ready);
    mproc_test_sleep_ms(30);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_sem_destroy(&s->sem), MPROC_EBUSY); /* its flag is still there */
    MPROC_ASSERT_OK(mproc_sem_release(&s->sem));              /* ... until a release */
    MPROC_ASSERT_OK(mproc_sem_destroy(&s->sem));
    cr_assert_eq(mproc_sem_value(&s->sem), 1);
    MPROC_ASSERT_OK(mproc_sem_acquire(&s->sem, 0));
    munmap(s, sizeof *s);
}

static int hold_value_lock(void *arg)
{
    mproc_value *v = arg;
    if (mproc_value_acquire(v, MPROC_FOREVER) != 0)
        return 1;
    mproc_value_set_i64(v, -1); /* half-done */
    park();
}

MPROC_TEST(sync_crash, value_lock_owner_killed_gives_eownerdead)
{
    mproc_value *v;
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_I64, NULL, 0));
    pid_t pid = mproc_test_fork(hold_value_lock, v);
    int64_t x = 0;
    for (int i = 0; i < 5000 && x != -1; i++) {
        mproc_test_sleep_ms(1);
        mproc_value_get_i64(v, &x);
    }
    cr_assert_eq(x, -1);
    kill_and_reap(pid);
    MPROC_ASSERT_RC(mproc_value_acquire(v, 2000), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_value_set_i64(v, 0));
    MPROC_ASSERT_OK(mproc_value_consistent(v));
    MPROC_ASSERT_OK(mproc_value_release(v));
    MPROC_ASSERT_OK(mproc_value_close(v));
}

/* Killed inside a tracked operation: after the CAS on the word, after
 * applying it to the slot, before clearing it. Nothing is lost or made up. */
struct sem_kill_case {
    struct shared *s;
    const char *point;
    int release; /* die in the release instead of the acquire */
};

static int sem_die_at(void *arg)
{
    struct sem_kill_case *k = arg;
    if (k->release) {
        if (mproc_sem_acquire(&k->s->sem, 1000) != 0)
            return 1;
    }
    mproc_fault_arm(k->point);
    if (k->release)
        mproc_sem_release(&k->s->sem);
    else
        mproc_sem_acquire(&k->s->sem, 1000);
    return 2; /* not reached */
}

MPROC_TEST(sync_crash, sem_tracked_killed_inside_an_operation_loses_no_unit)
{
    static const struct {
        const char *point;
        int release;
    } cases[] = {
        {"sem.acquire.pending", 0}, {"sem.op.applied", 0}, {"sem.held", 0},
        {"sem.release.pending", 1}, {"sem.op.applied", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct shared *s = shared_map();
        MPROC_ASSERT_OK(mproc_sem_init(&s->sem, 2, MPROC_SEM_TRACKED | MPROC_SEM_BOUNDED));
        struct sem_kill_case k = {s, cases[i].point, cases[i].release};
        pid_t pid = mproc_test_fork(sem_die_at, &k);
        int st = mproc_test_wait(pid, 5000);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "%s: status %d", k.point, st);
        /* The survivor gets both units, and not a third. */
        MPROC_ASSERT_OK(mproc_sem_acquire(&s->sem, 2000));
        MPROC_ASSERT_OK(mproc_sem_acquire(&s->sem, 2000));
        MPROC_ASSERT_RC(mproc_sem_acquire(&s->sem, 50), MPROC_ETIMEDOUT);
        MPROC_ASSERT_OK(mproc_sem_release(&s->sem));
        MPROC_ASSERT_OK(mproc_sem_release(&s->sem));
        MPROC_ASSERT_RC(mproc_sem_release(&s->sem), MPROC_ENOTOWNER);
        cr_assert_eq(mproc_sem_value(&s->sem), 2, "%s", k.point);
        munmap(s, sizeof *s);
    }
}
