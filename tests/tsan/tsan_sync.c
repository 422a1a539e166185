/* tsan_sync.c - lock, rlock, semaphore, condition, event and barrier under
 * contention from several threads, under ThreadSanitizer.
 *
 * The data each primitive protects is plain (non-atomic) memory: if a
 * primitive failed to order the threads' accesses, ThreadSanitizer reports
 * a data race, and the exact counts at the end go wrong.
 */
#include "tsan.h"

#include <stdatomic.h>
#include <string.h>

#define THREADS 4
#define ROUNDS 3000

static mproc_lock lock;
static mproc_rlock rlock;
static mproc_sem sem;
static mproc_cond cond;
static mproc_event event;
static mproc_barrier barrier;

static long plain_counter; /* protected by the primitive under test */
static atomic_int failures;

static void fail(const char *what, int rc)
{
    fprintf(stderr, "%s: %d (%s)\n", what, rc, mproc_err_name(rc));
    atomic_fetch_add(&failures, 1);
}

static void *lock_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc = mproc_lock_acquire(&lock, 10000);
        if (rc != 0)
            return fail("lock_acquire", rc), NULL;
        if (mproc_lock_held(&lock) != 1)
            fail("lock_held", 0);
        plain_counter++;
        if ((rc = mproc_lock_release(&lock)) != 0)
            return fail("lock_release", rc), NULL;
    }
    return NULL;
}

static int lock_counts_exactly_under_contention(void)
{
    plain_counter = 0;
    TSAN_CHECK_RC(mproc_lock_init(&lock), 0);
    pthread_t t[THREADS];
    TSAN_CHECK(tsan_spawn(t, THREADS, lock_worker, NULL, 0) == 0);
    tsan_join(t, THREADS);
    TSAN_CHECK(atomic_load(&failures) == 0);
    TSAN_CHECK(plain_counter == (long)THREADS * ROUNDS);
    TSAN_CHECK_RC(mproc_lock_destroy(&lock), 0);
    return 0;
}

static void *rlock_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc = mproc_rlock_acquire(&rlock, 10000);
        if (rc != 0)
            return fail("rlock_acquire", rc), NULL;
        if ((rc = mproc_rlock_acquire(&rlock, 0)) != 0)
            return fail("rlock_acquire nested", rc), NULL;
        if (mproc_rlock_depth(&rlock) != 2)
            fail("rlock_depth", (int)mproc_rlock_depth(&rlock));
        plain_counter++;
        mproc_rlock_release(&rlock);
        plain_counter++;
        if ((rc = mproc_rlock_release(&rlock)) != 0)
            return fail("rlock_release", rc), NULL;
    }
    return NULL;
}

static int rlock_nests_and_counts_exactly(void)
{
    plain_counter = 0;
    TSAN_CHECK_RC(mproc_rlock_init(&rlock), 0);
    pthread_t t[THREADS];
    TSAN_CHECK(tsan_spawn(t, THREADS, rlock_worker, NULL, 0) == 0);
    tsan_join(t, THREADS);
    TSAN_CHECK(atomic_load(&failures) == 0);
    TSAN_CHECK(plain_counter == 2L * THREADS * ROUNDS);
    TSAN_CHECK_RC(mproc_rlock_destroy(&rlock), 0);
    return 0;
}

/* A binary semaphore used as a mutex, and a counting one whose holders never
 * exceed its value. */
static atomic_int inside, max_inside;

static void *sem_worker(void *arg)
{
    int binary = *(int *)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc = mproc_sem_acquire(&sem, 10000);
        if (rc != 0)
            return fail("sem_acquire", rc), NULL;
        int now = atomic_fetch_add(&inside, 1) + 1;
        int m = atomic_load(&max_inside);
        while (now > m && !atomic_compare_exchange_weak(&max_inside, &m, now))
            ;
        if (binary)
            plain_counter++;
        atomic_fetch_sub(&inside, 1);
        if ((rc = mproc_sem_release(&sem)) != 0)
            return fail("sem_release", rc), NULL;
    }
    return NULL;
}

static int sem_run(unsigned value, unsigned flags)
{
    plain_counter = 0;
    atomic_store(&max_inside, 0);
    int binary = value == 1;
    TSAN_CHECK_RC(mproc_sem_init(&sem, value, flags), 0);
    pthread_t t[THREADS];
    TSAN_CHECK(tsan_spawn(t, THREADS, sem_worker, &binary, 0) == 0);
    tsan_join(t, THREADS);
    TSAN_CHECK(atomic_load(&failures) == 0);
    TSAN_CHECK(atomic_load(&max_inside) <= (int)value);
    if (binary)
        TSAN_CHECK(plain_counter == (long)THREADS * ROUNDS);
    TSAN_CHECK(mproc_sem_value(&sem) == (int)value);
    TSAN_CHECK_RC(mproc_sem_destroy(&sem), 0);
    return 0;
}

static int sem_binary_excludes_and_counting_bounds_holders(void)
{
    if (sem_run(1, 0) != 0 || sem_run(2, MPROC_SEM_BOUNDED) != 0)
        return 1;
    return sem_run(2, MPROC_SEM_TRACKED);
}

/* Condition: a bounded buffer of plain ints; producers wait for room,
 * consumers for items; sums must match. */
#define COND_CAP 4
static int buf[COND_CAP];
static int buf_n;
static long consumed_sum, consumed_n;

static void *cond_producer(void *arg)
{
    (void)arg;
    for (int i = 1; i <= ROUNDS; i++) {
        int rc = mproc_cond_acquire(&cond, 10000);
        if (rc != 0)
            return fail("cond_acquire", rc), NULL;
        while (buf_n == COND_CAP)
            if ((rc = mproc_cond_wait(&cond, 10000)) != 0) {
                mproc_cond_release(&cond);
                return fail("cond_wait (producer)", rc), NULL;
            }
        buf[buf_n++] = i;
        mproc_cond_notify_all(&cond);
        mproc_cond_release(&cond);
    }
    return NULL;
}

static void *cond_consumer(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc = mproc_cond_acquire(&cond, 10000);
        if (rc != 0)
            return fail("cond_acquire", rc), NULL;
        while (buf_n == 0)
            if ((rc = mproc_cond_wait(&cond, 10000)) != 0) {
                mproc_cond_release(&cond);
                return fail("cond_wait (consumer)", rc), NULL;
            }
        consumed_sum += buf[--buf_n];
        consumed_n++;
        mproc_cond_notify_all(&cond);
        mproc_cond_release(&cond);
    }
    return NULL;
}

static int cond_bounded_buffer_exact(void)
{
    consumed_sum = consumed_n = 0;
    buf_n = 0;
    TSAN_CHECK_RC(mproc_cond_init(&cond), 0);
    pthread_t p[2], c[2];
    TSAN_CHECK(tsan_spawn(c, 2, cond_consumer, NULL, 0) == 0);
    TSAN_CHECK(tsan_spawn(p, 2, cond_producer, NULL, 0) == 0);
    tsan_join(p, 2);
    tsan_join(c, 2);
    TSAN_CHECK(atomic_load(&failures) == 0);
    TSAN_CHECK(consumed_n == 2L * ROUNDS);
    TSAN_CHECK(consumed_sum == 2L * ROUNDS * (ROUNDS + 1) / 2);
    TSAN_CHECK_RC(mproc_cond_destroy(&cond), 0);
    return 0;
}

/* Event: data written before set is visible to every waiter after wait. */
static long event_payload;

static void *event_waiter(void *arg)
{
    long *seen = arg;
    int rc = mproc_event_wait(&event, 10000);
    if (rc != 0)
        return fail("event_wait", rc), NULL;
    *seen = event_payload;
    return NULL;
}

static int event_publishes_data_to_all_waiters(void)
{
    for (int round = 0; round < 50; round++) {
        TSAN_CHECK_RC(mproc_event_init(&event), 0);
        long seen[THREADS] = {0};
        pthread_t t[THREADS];
        TSAN_CHECK(tsan_spawn(t, THREADS, event_waiter, seen, sizeof seen[0]) == 0);
        event_payload = 1000 + round;
        TSAN_CHECK_RC(mproc_event_set(&event), 0);
        tsan_join(t, THREADS);
        for (int i = 0; i < THREADS; i++)
            TSAN_CHECK(seen[i] == 1000 + round);
        TSAN_CHECK_RC(mproc_event_destroy(&event), 0);
    }
    return atomic_load(&failures) != 0;
}

/* Barrier: in each round every thread writes its own cell, then after the
 * barrier reads all cells (written by others before the barrier). */
#define BARRIER_ROUNDS 300
static long cells[THREADS];
static atomic_int leaders[BARRIER_ROUNDS];

static void *barrier_worker(void *arg)
{
    int id = *(int *)arg;
    for (int r = 0; r < BARRIER_ROUNDS; r++) {
        cells[id] = (long)r * 100 + id;
        int rc = mproc_barrier_wait(&barrier, 10000);
        if (rc < 0)
            return fail("barrier_wait", rc), NULL;
        if (rc == THREADS - 1)
            atomic_fetch_add(&leaders[r], 1);
        for (int i = 0; i < THREADS; i++)
            if (cells[i] != (long)r * 100 + i)
                fail("barrier cell", (int)cells[i]);
        rc = mproc_barrier_wait(&barrier, 10000); /* nobody rewrites cells early */
        if (rc < 0)
            return fail("barrier_wait 2", rc), NULL;
    }
    return NULL;
}

static int barrier_orders_rounds_and_elects_one_last(void)
{
    TSAN_CHECK_RC(mproc_barrier_init(&barrier, THREADS), 0);
    int ids[THREADS];
    for (int i = 0; i < THREADS; i++)
        ids[i] = i;
    pthread_t t[THREADS];
    TSAN_CHECK(tsan_spawn(t, THREADS, barrier_worker, ids, sizeof ids[0]) == 0);
    tsan_join(t, THREADS);
    TSAN_CHECK(atomic_load(&failures) == 0);
    for (int r = 0; r < BARRIER_ROUNDS; r++)
        TSAN_CHECK(atomic_load(&leaders[r]) == 1);
    TSAN_CHECK_RC(mproc_barrier_destroy(&barrier), 0);
    return 0;
}

/* A standalone (shared memory) lock used by threads of two processes. */
static int lock_child(void *arg)
{
    mproc_lock *l = arg;
    for (int i = 0; i < ROUNDS; i++) {
        if (mproc_lock_acquire(l, 10000) != 0)
            return 1;
        mproc_lock_release(l);
    }
    return 0;
}

static mproc_lock *shared_lock;

static void *shared_lock_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        int rc = mproc_lock_acquire(shared_lock, 10000);
        if (rc != 0)
            return fail("shared lock_acquire", rc), NULL;
        plain_counter++;
        mproc_lock_release(shared_lock);
    }
    return NULL;
}

static int shared_lock_threads_of_two_processes(void)
{
    plain_counter = 0;
    TSAN_CHECK_RC(mproc_lock_create(&shared_lock, NULL), 0);
    mproc_process *child;
    TSAN_CHECK_RC(mproc_process_start(&child, lock_child, shared_lock, NULL), 0);
    pthread_t t[2];
    TSAN_CHECK(tsan_spawn(t, 2, shared_lock_worker, NULL, 0) == 0);
    tsan_join(t, 2);
    struct mproc_exit ex;
    TSAN_CHECK_RC(mproc_process_join(child, 20000, &ex), 0);
    mproc_process_close(child);
    TSAN_CHECK(ex.exited && ex.code == 0);
    TSAN_CHECK(atomic_load(&failures) == 0);
    TSAN_CHECK(plain_counter == 2L * ROUNDS);
    TSAN_CHECK_RC(mproc_lock_close(shared_lock), 0);
    return 0;
}

int main(int argc, char **argv)
{
    tsan_filter = argc > 1 ? argv[1] : NULL;
    alarm(240);
    tsan_run("lock_counts_exactly_under_contention", lock_counts_exactly_under_contention);
    tsan_run("rlock_nests_and_counts_exactly", rlock_nests_and_counts_exactly);
    tsan_run("sem_binary_excludes_and_counting_bounds_holders",
             sem_binary_excludes_and_counting_bounds_holders);
    tsan_run("cond_bounded_buffer_exact", cond_bounded_buffer_exact);
    tsan_run("event_publishes_data_to_all_waiters", event_publishes_data_to_all_waiters);
    tsan_run("barrier_orders_rounds_and_elects_one_last",
             barrier_orders_rounds_and_elects_one_last);
    tsan_run("shared_lock_threads_of_two_processes", shared_lock_threads_of_two_processes);
    return tsan_finish();
}
