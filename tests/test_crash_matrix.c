/* test_crash_matrix.c - every role of every capability, SIGKILLed at its
 * worst moment, against what the survivors must see. The table `matrix`
 * below is the matrix of docs/RELIABILITY.md, row for row.
 *
 * A cell is (role, kill point, victim, check). The victim is a forked child
 * that arms the point with mproc_fault_arm("<point>:N") and dies the Nth
 * time it reaches it ("user.*" points are moments in the caller's own code:
 * the victim raises SIGKILL there itself). The survivors are the test
 * process and, where a role needs company, further children that report
 * through their exit status. For every cell, MPROC_STRESS times (default 3;
 * `make stress` sets 100) with a different N each time, the check asserts:
 *  - the victim died of SIGKILL, every survivor finished within its timeout
 *    (no survivor uses MPROC_FOREVER);
 *  - no message corrupted or delivered twice; lost <= what the victim held,
 *    and the loss equals the queue's `lost` counter;
 *  - nothing left behind: no process (orphans come back to the test process,
 *    a child subreaper, and must be gone), no /dev/shm entry (the harness).
 * A cell stops repeating after CELL_BUDGET_MS so that a large MPROC_STRESS
 * still fits the per-test timeout; it always runs at least once.
 */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CELL_BUDGET_MS 20000
#define SURVIVOR_TIMEOUT_MS 5000 /* no survivor may wait longer than this */
#define SURV_MSGS 300
#define MAX_IDS 512

static int stress(void)
{
    const char *s = getenv("MPROC_STRESS");
    int n = s ? atoi(s) : 3;
    return n > 0 ? n : 3;
}

/* What every cell's processes share (MAP_SHARED, made before any fork). */
struct world {
    mproc_queue *q;
    mproc_lock lock;
    mproc_rlock rlock;
    mproc_sem sem;
    mproc_cond cond;
    mproc_event event;
    mproc_barrier barrier;
    _Atomic int flag;
    _Atomic int ready;
    _Atomic int runs[64]; /* pool cells: how often each item ran */
    long data;
    int nth; /* the victim dies the nth time it reaches the point */
    const char *point;
    int rec_fd; /* a consumer victim appends (tag, id) of what it got */
    pid_t daemons[2];
    char name[64];
};

struct cell {
    const char *name;  /* the test's name */
    const char *role;  /* the victim's role */
    const char *point; /* where it dies */
    int (*victim)(void *world);
    void (*check)(struct world *w, pid_t victim);
    unsigned lanes; /* queue cells: opts.lanes (0 = the default) */
};

static void arm(struct world *w)
{
    char spec[96];
    snprintf(spec, sizeof spec, "%s:%d", w->point, w->nth);
    mproc_fault_arm(spec);
}

static void assert_killed(pid_t pid)
{
    int st = mproc_test_wait(pid, SURVIVOR_TIMEOUT_MS);
    cr_assert(st != -1, "victim did not die in time");
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "victim status 0x%x", st);
}

static void assert_exit0(pid_t pid, const char *who)
{
    int st = mproc_test_wait(pid, 2 * SURVIVOR_TIMEOUT_MS);
    cr_assert(st != -1, "%s blocked past its timeout", who);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s status 0x%x (exit %d)", who, st,
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

static void wait_flag(_Atomic int *f, int value)
{
    for (int i = 0; i < SURVIVOR_TIMEOUT_MS && atomic_load(f) < value; i++)
        mproc_test_sleep_ms(1);
    cr_assert(atomic_load(f) >= value, "a child never got ready");
}

/* Queue cells ================================================================
 * A surviving producer child puts SURV_MSGS (tag 0); the victim (tag 1)
 * produces or consumes; the test process consumes until the producers are
 * gone, shuts the queue down and drains it. Then the ledger is exact. */

struct msg {
    uint32_t tag, id, check;
};

static uint32_t check_of(uint32_t tag, uint32_t id)
{
    return (tag * 2654435761u) ^ (id * 40503u) ^ 0x3c3c3c3cu;
}

static int put_msgs(mproc_queue *q, uint32_t tag, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct msg m = {tag, i, check_of(tag, i)};
        int rc = mproc_queue_put(q, &m, sizeof m, SURVIVOR_TIMEOUT_MS);
        if (rc != 0) {
            fprintf(stderr, "put %u/%u: %s\n", tag, i, mproc_err_name(rc));
            return 1;
        }
    }
    return 0;
}

static int surviving_producer(void *arg)
{
    struct world *w = arg;
    int rc = put_msgs(w->q, 0, SURV_MSGS);
    mproc_queue_close(w->q);
    return rc;
}

static int queue_producer_victim(void *arg)
{
    struct world *w = arg;
    arm(w);
    put_msgs(w->q, 1, (uint32_t)w->nth + 10);
    return 90; /* the kill point did not fire */
}

/* Moves allot to its lane as it fills the queue (which holds 128 of its
 * messages), doubling it each time from a batch of 16 units: at least four
 * times before the queue is full, so it dies at its ((nth - 1) % 4 + 1)th. */
static int queue_credit_victim(void *arg)
{
    struct world *w = arg;
    char spec[96];
    snprintf(spec, sizeof spec, "%s:%d", w->point, (w->nth - 1) % 4 + 1);
    mproc_fault_arm(spec);
    put_msgs(w->q, 1, 128);
    return 90; /* the kill point did not fire */
}

static int record_msg(struct world *w, const void *p, ssize_t n)
{
    struct msg m;
    if (n != (ssize_t)sizeof m)
        return 1;
    memcpy(&m, p, sizeof m);
    uint32_t rec[2] = {m.tag, m.id};
    if (m.check != check_of(m.tag, m.id) || write(w->rec_fd, rec, sizeof rec) != sizeof rec)
        return 1;
    return 0;
}

static int queue_consumer_victim(void *arg)
{
    struct world *w = arg;
    arm(w);
    for (;;) {
        struct msg m;
        ssize_t n = mproc_queue_get(w->q, &m, sizeof m, SURVIVOR_TIMEOUT_MS);
        if (n < 0 || record_msg(w, &m, n) != 0)
            return 91;
    }
}

/* Zero copy: the victim dies in its own code while holding a reservation
 * (after writing the bytes, before commit) or a view (before release). */
static int queue_reserver_victim(void *arg)
{
    struct world *w = arg;
    for (uint32_t i = 0;; i++) {
        void *p;
        if (mproc_queue_reserve(w->q, sizeof(struct msg), &p, SURVIVOR_TIMEOUT_MS) != 0)
            return 92;
        struct msg m = {1, i, check_of(1, i)};
        memcpy(p, &m, sizeof m);
        if ((int)i + 1 == w->nth)
            raise(SIGKILL);
        if (mproc_queue_commit(w->q, sizeof m) != 0)
            return 93;
    }
}

static int queue_viewer_victim(void *arg)
{
    struct world *w = arg;
    for (int i = 1;; i++) {
        const void *p;
        ssize_t n = mproc_queue_get_view(w->q, &p, SURVIVOR_TIMEOUT_MS);
        if (n < 0)
            return 91; /* closed before its nth message */
        if (i == w->nth)
            raise(SIGKILL);
        if (record_msg(w, p, n) != 0 || mproc_queue_release_view(w->q) != 0)
            return 95;
    }
}

struct ledger {
    unsigned char seen[2][MAX_IDS];
    uint32_t offered[2];
    int dups, bad;
};

static void ledger_add(struct ledger *l, uint32_t tag, uint32_t id)
{
    if (tag > 1 || id >= l->offered[tag] || id >= MAX_IDS) {
        l->bad++;
        return;
    }
    if (l->seen[tag][id]++)
        l->dups++;
}

static int tmp_fd(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/mproc-crash-matrix-%d", getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    unlink(path);
    cr_assert(fd >= 0);
    return fd;
}

static void check_queue(struct world *w, pid_t victim, bool victim_produces)
{
    static struct ledger l;
    memset(&l, 0, sizeof l);
    l.offered[0] = SURV_MSGS;
    /* ids >= nth never offered; a victim killed before claiming (holding
     * its lane's lock) never offered its nth either */
    bool before_claim = strcmp(w->point, "queue.put.lane_locked") == 0;
    l.offered[1] = victim_produces ? (uint32_t)w->nth - before_claim : 0;
    pid_t prod = mproc_test_fork(surviving_producer, w);
    bool victim_reaped = false, prod_reaped = false;
    int vst = 0, pst = 0;
    time_t t0 = time(NULL);
    for (;;) {
        struct msg m;
        ssize_t n = mproc_queue_get(w->q, &m, sizeof m, 20);
        if (n == (ssize_t)sizeof m) {
            cr_assert_eq(m.check, check_of(m.tag, m.id), "corrupted message %u/%u", m.tag, m.id);
            ledger_add(&l, m.tag, m.id);
            continue;
        }
        if (n == MPROC_ECLOSED)
            break;
        cr_assert(n == MPROC_ETIMEDOUT, "get: %s", mproc_err_name((int)n));
        if (!victim_reaped && waitpid(victim, &vst, WNOHANG) == victim)
            victim_reaped = true;
        if (!prod_reaped && waitpid(prod, &pst, WNOHANG) == prod)
            prod_reaped = true;
        /* Producers done (and a producing victim dead): no more will come. */
        if (prod_reaped && (victim_reaped || !victim_produces))
            MPROC_ASSERT_OK(mproc_queue_shutdown(w->q));
        cr_assert(time(NULL) - t0 < 20, "survivors stuck");
    }
    cr_assert(WIFEXITED(pst) && WEXITSTATUS(pst) == 0, "surviving producer status 0x%x", pst);
    if (!victim_reaped) {
        /* A consuming victim may still wait in get: the shutdown ends it,
         * or it died at its point. */
        int st = mproc_test_wait(victim, SURVIVOR_TIMEOUT_MS);
        cr_assert(st != -1, "victim blocked past its timeout");
        vst = st;
    }
    bool killed = WIFSIGNALED(vst) && WTERMSIG(vst) == SIGKILL;
    /* A consumer victim may see the queue closed before its nth get. */
    cr_assert(killed || (!victim_produces && WIFEXITED(vst) && WEXITSTATUS(vst) == 91),
              "victim status 0x%x", vst);
    uint32_t rec[2];
    lseek(w->rec_fd, 0, SEEK_SET);
    while (read(w->rec_fd, rec, sizeof rec) == sizeof rec)
        ledger_add(&l, rec[0], rec[1]);
    cr_assert_eq(l.dups, 0, "%d messages delivered twice", l.dups);
    cr_assert_eq(l.bad, 0, "%d messages never offered", l.bad);
    uint64_t miss = 0;
    for (int t = 0; t < 2; t++)
        for (uint32_t i = 0; i < l.offered[t]; i++)
            miss += !l.seen[t][i];
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(w->q, &st));
    cr_assert(miss <= (killed ? 1u : 0u), "%llu messages missing", (unsigned long long)miss);
    cr_assert_eq(st.lost, miss, "lost counter %llu != %llu missing", (unsigned long long)st.lost,
                 (unsigned long long)miss);
    cr_assert_eq(st.msgs, 0);
}

static void check_queue_put_side(struct world *w, pid_t victim)
{
    check_queue(w, victim, true);
}

static void check_queue_get_side(struct world *w, pid_t victim)
{
    check_queue(w, victim, false);
}

/* Lanes: the victim dies right after moving allot to its lane, holding the
 * credit lock. What it published is delivered, nothing is lost, and the
 * queue still takes a message as large as its capacity: the lock is taken
 * over and the dead lane's allot taken back. */
static void check_queue_credit(struct world *w, pid_t victim)
{
    assert_killed(victim);
    struct msg m;
    ssize_t n;
    uint32_t next = 0;
    while ((n = mproc_queue_get(w->q, &m, sizeof m, 0)) == (ssize_t)sizeof m) {
        cr_assert(m.tag == 1 && m.check == check_of(m.tag, m.id), "corrupted message");
        cr_assert_eq(m.id, next, "out of order: %u, expected %u", m.id, next);
        next++;
    }
    MPROC_ASSERT_RC((int)n, MPROC_EAGAIN);
    ssize_t cap = mproc_queue_capacity(w->q);
    cr_assert(cap > 0);
    char *big = calloc(1, (size_t)cap);
    cr_assert_not_null(big);
    big[cap - 1] = 7;
    MPROC_ASSERT_OK(mproc_queue_put(w->q, big, (size_t)cap, SURVIVOR_TIMEOUT_MS));
    big[cap - 1] = 0;
    cr_assert_eq(mproc_queue_get(w->q, big, (size_t)cap, SURVIVOR_TIMEOUT_MS), cap);
    cr_assert_eq(big[cap - 1], 7);
    free(big);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(w->q, &st));
    cr_assert_eq(st.lost, 0);
    cr_assert_eq(st.msgs, 0);
}

/* Sync cells ================================================================= */

static int lock_victim(void *arg)
{
    struct world *w = arg;
    w->nth = 1;
    arm(w);
    if (mproc_lock_acquire(&w->lock, SURVIVOR_TIMEOUT_MS) != 0)
        return 90;
    return 91;
}

static void check_lock(struct world *w, pid_t victim)
{
    assert_killed(victim);
    MPROC_ASSERT_RC(mproc_lock_acquire(&w->lock, SURVIVOR_TIMEOUT_MS), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_lock_consistent(&w->lock));
    MPROC_ASSERT_OK(mproc_lock_release(&w->lock));
    MPROC_ASSERT_OK(mproc_lock_acquire(&w->lock, 0));
    MPROC_ASSERT_OK(mproc_lock_release(&w->lock));
}

static int rlock_victim(void *arg)
{
    struct world *w = arg;
    /* Dies holding it at depth 2 (lock.held fires when the lock core is
     * taken, i.e. at depth 1; a nested level never reaches it). */
    if (mproc_rlock_acquire(&w->rlock, SURVIVOR_TIMEOUT_MS) != 0 ||
        mproc_rlock_acquire(&w->rlock, SURVIVOR_TIMEOUT_MS) != 0)
        return 90;
    raise(SIGKILL);
    return 91;
}

static void check_rlock(struct world *w, pid_t victim)
{
    assert_killed(victim);
    MPROC_ASSERT_RC(mproc_rlock_acquire(&w->rlock, SURVIVOR_TIMEOUT_MS), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_rlock_consistent(&w->rlock));
    cr_assert_eq(mproc_rlock_depth(&w->rlock), 1u);
    MPROC_ASSERT_OK(mproc_rlock_release(&w->rlock));
    cr_assert_eq(mproc_rlock_depth(&w->rlock), 0u);
}

static int sem_victim(void *arg)
{
    struct world *w = arg;
    w->nth = 1;
    arm(w);
    mproc_sem_acquire(&w->sem, SURVIVOR_TIMEOUT_MS);
    return 91;
}

static void check_sem(struct world *w, pid_t victim)
{
    assert_killed(victim);
    /* The dead holder's unit comes back (tracked semaphore of value 1). */
    MPROC_ASSERT_OK(mproc_sem_acquire(&w->sem, SURVIVOR_TIMEOUT_MS));
    MPROC_ASSERT_OK(mproc_sem_release(&w->sem));
    cr_assert_eq(mproc_sem_value(&w->sem), 1);
}

/* A survivor waiting on the condition for w->flag. */
static int cond_survivor(void *arg)
{
    struct world *w = arg;
    int rc = mproc_cond_acquire(&w->cond, SURVIVOR_TIMEOUT_MS);
    if (rc != 0 && rc != MPROC_EOWNERDEAD)
        return 10;
    if (rc == MPROC_EOWNERDEAD)
        mproc_cond_consistent(&w->cond);
    atomic_fetch_add(&w->ready, 1);
    while (!atomic_load(&w->flag)) {
        rc = mproc_cond_wait(&w->cond, SURVIVOR_TIMEOUT_MS);
        if (rc == MPROC_EOWNERDEAD)
            mproc_cond_consistent(&w->cond);
        else if (rc != 0)
            return 11;
    }
    mproc_cond_release(&w->cond);
    return 0;
}

static int cond_waiter_victim(void *arg)
{
    struct world *w = arg;
    w->nth = 1;
    arm(w);
    if (mproc_cond_acquire(&w->cond, SURVIVOR_TIMEOUT_MS) != 0)
        return 90;
    mproc_cond_wait(&w->cond, SURVIVOR_TIMEOUT_MS);
    return 91;
}

static void check_cond_waiter(struct world *w, pid_t victim)
{
    pid_t surv = mproc_test_fork(cond_survivor, w);
    wait_flag(&w->ready, 1);
    assert_killed(victim);
    int rc = mproc_cond_acquire(&w->cond, SURVIVOR_TIMEOUT_MS);
    cr_assert(rc == 0 || rc == MPROC_EOWNERDEAD, "acquire: %s", mproc_err_name(rc));
    if (rc == MPROC_EOWNERDEAD)
        MPROC_ASSERT_OK(mproc_cond_consistent(&w->cond));
    atomic_store(&w->flag, 1);
    MPROC_ASSERT_OK(mproc_cond_notify_all(&w->cond));
    MPROC_ASSERT_OK(mproc_cond_release(&w->cond));
    assert_exit0(surv, "condition waiter");
}

static int cond_notifier_victim(void *arg)
{
    struct world *w = arg;
    for (int i = 0; i < SURVIVOR_TIMEOUT_MS && atomic_load(&w->ready) < 1; i++)
        mproc_test_sleep_ms(1);
    w->nth = 1;
    arm(w);
    if (mproc_cond_acquire(&w->cond, SURVIVOR_TIMEOUT_MS) != 0)
        return 90;
    atomic_store(&w->flag, 1);
    mproc_cond_notify_all(&w->cond);
    return 91;
}

static void check_cond_notifier(struct world *w, pid_t victim)
{
    pid_t surv = mproc_test_fork(cond_survivor, w);
    assert_killed(victim);
    assert_exit0(surv, "condition waiter");
}

static int event_survivor(void *arg)
{
    struct world *w = arg;
    atomic_fetch_add(&w->ready, 1);
    return mproc_event_wait(&w->event, SURVIVOR_TIMEOUT_MS) == 0 ? 0 : 10;
}

static int event_victim(void *arg)
{
    struct world *w = arg;
    for (int i = 0; i < SURVIVOR_TIMEOUT_MS && atomic_load(&w->ready) < 2; i++)
        mproc_test_sleep_ms(1);
    w->nth = 1;
    arm(w);
    mproc_event_set(&w->event);
    return 91;
}

static void check_event(struct world *w, pid_t victim)
{
    pid_t s1 = mproc_test_fork(event_survivor, w);
    pid_t s2 = mproc_test_fork(event_survivor, w);
    assert_killed(victim);
    assert_exit0(s1, "event waiter 1");
    assert_exit0(s2, "event waiter 2");
    cr_assert_eq(mproc_event_is_set(&w->event), 1);
}

static int barrier_survivor(void *arg)
{
    struct world *w = arg;
    atomic_fetch_add(&w->ready, 1);
    /* Broken if it sees the death; an index if the dead party's arrival
     * already counted and completed the barrier. Never a timeout. */
    int rc = mproc_barrier_wait(&w->barrier, SURVIVOR_TIMEOUT_MS);
    return rc == MPROC_EBROKEN || rc >= 0 ? 0 : 10 + (rc == MPROC_ETIMEDOUT);
}

static int barrier_victim(void *arg)
{
    struct world *w = arg;
    for (int i = 0; i < SURVIVOR_TIMEOUT_MS && atomic_load(&w->ready) < 1; i++)
        mproc_test_sleep_ms(1);
    w->nth = 1;
    arm(w);
    mproc_barrier_wait(&w->barrier, SURVIVOR_TIMEOUT_MS);
    return 91;
}

static void check_barrier(struct world *w, pid_t victim)
{
    /* Three parties: one survivor waits, the victim arrives second (never
     * last, so it reaches the point) and dies, the other survivor arrives
     * after the death. Neither survivor may time out. */
    pid_t s1 = mproc_test_fork(barrier_survivor, w);
    assert_killed(victim);
    pid_t s2 = mproc_test_fork(barrier_survivor, w);
    assert_exit0(s1, "barrier party 1");
    assert_exit0(s2, "barrier party 2");
    MPROC_ASSERT_OK(mproc_barrier_reset(&w->barrier));
    cr_assert_eq(mproc_barrier_broken(&w->barrier), 0);
}

/* Pool cell ==================================================================
 * The victim is a pool worker: the task of item `nth` SIGKILLs its own
 * process the first time it runs. The world's flag (shared memory) makes
 * it die only once. */

static struct world *pool_world;

static int pool_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int v;
    if (in_len != sizeof v)
        return MPROC_EINVAL;
    memcpy(&v, in, sizeof v);
    if (v == pool_world->nth && atomic_fetch_add(&pool_world->flag, 1) == 0)
        raise(SIGKILL);
    v = v * 3 + 1;
    memcpy(out, &v, sizeof v);
    *out_len = sizeof v;
    return 0;
}

static int pool_driver(void *arg)
{
    (void)arg;
    return 0; /* the pool runs in the test process itself: see check_pool */
}

static void run_pool_map(struct world *w, int on_death)
{
    struct mproc_pool_opts o = {.workers = 2, .on_death = on_death};
    mproc_pool *pool;
    MPROC_ASSERT_OK(mproc_pool_create(&pool, &o));
    enum { N = 40 };
    int in[N], out[N];
    for (int i = 0; i < N; i++)
        in[i] = i, out[i] = -1;
    atomic_store(&w->flag, 0);
    int rc = mproc_pool_map(pool, pool_task, in, N, sizeof in[0], out, sizeof out[0], NULL,
                            2 * SURVIVOR_TIMEOUT_MS);
    struct mproc_pool_stats st;
    MPROC_ASSERT_OK(mproc_pool_stats(pool, &st));
    cr_assert_eq(st.worker_deaths, 1u);
    if (on_death == MPROC_POOL_RETRY_TASK) {
        MPROC_ASSERT_OK(rc);
    } else {
        MPROC_ASSERT_RC(rc, MPROC_EWORKERDIED);
    }
    /* Every other item ran exactly once with the right result; the killed
     * one is either failed (untouched) or retried. */
    for (int i = 0; i < N; i++)
        if (i != w->nth || on_death == MPROC_POOL_RETRY_TASK)
            cr_assert_eq(out[i], i * 3 + 1, "item %d", i);
    /* The dead worker was replaced: the pool still works. */
    int again = 7, res = 0;
    atomic_store(&w->flag, 1);
    MPROC_ASSERT_OK(mproc_pool_map(pool, pool_task, &again, 1, sizeof again, &res, sizeof res, NULL,
                                   2 * SURVIVOR_TIMEOUT_MS));
    cr_assert_eq(res, 22);
    MPROC_ASSERT_OK(mproc_pool_shutdown(pool));
    MPROC_ASSERT_OK(mproc_pool_join(pool, 2 * SURVIVOR_TIMEOUT_MS));
    mproc_pool_close(pool);
}

static void check_pool(struct world *w, pid_t victim)
{
    assert_exit0(victim, "pool driver");
    pool_world = w;
    run_pool_map(w, MPROC_POOL_FAIL_TASK);
    run_pool_map(w, MPROC_POOL_RETRY_TASK);
}

/* Parent with daemon children ================================================
 * The victim starts two daemon children, reports their pids and dies: at
 * the kill point inside mproc_process_start (right after fork, before the
 * child armed its parent-death signal), or in its own code afterwards. The
 * test process is a child subreaper: orphans come back to it, and every one
 * must be gone within the timeout. */

static int park(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

static int daemon_parent_victim(void *arg)
{
    struct world *w = arg;
    struct mproc_process_opts o = {.daemon = 1};
    w->nth = 1 + w->nth % 2; /* the first or the second start */
    if (w->point[0] != 'u')
        arm(w);
    for (int i = 0; i < 2; i++) {
        mproc_process *p;
        if (mproc_process_start(&p, park, NULL, &o) != 0)
            return 90;
        w->daemons[i] = mproc_process_pid(p);
    }
    raise(SIGKILL);
    return 91;
}

static void check_daemons(struct world *w, pid_t victim)
{
    assert_killed(victim);
    /* Reap whatever comes back to us until nothing is left. */
    for (int i = 0; i < 2 * SURVIVOR_TIMEOUT_MS; i++) {
        int st;
        pid_t r = waitpid(-1, &st, WNOHANG);
        if (r < 0 && errno == ECHILD)
            return;
        if (r == 0)
            mproc_test_sleep_ms(1);
    }
    cr_assert_fail("a daemon child outlived its dead parent (pids %d %d)", (int)w->daemons[0],
                   (int)w->daemons[1]);
}

/* Creator of a named object ==================================================
 * The victim creates a named queue and a named lock, puts 5 messages, takes
 * the lock and dies. Survivors open both by name and get everything; the
 * name stays (nobody can tell a crashed creator from a slow one) until a
 * survivor unlinks it. */

static int creator_victim(void *arg)
{
    struct world *w = arg;
    mproc_queue *q;
    mproc_lock *l;
    if (mproc_queue_create(&q, w->name, NULL) != 0)
        return 90;
    char lname[80];
    snprintf(lname, sizeof lname, "%s-lock", w->name);
    if (mproc_lock_create(&l, lname) != 0)
        return 92;
    if (put_msgs(q, 1, 5) != 0 || mproc_lock_acquire(l, 0) != 0)
        return 93;
    raise(SIGKILL);
    return 91;
}

static void check_creator(struct world *w, pid_t victim)
{
    assert_killed(victim);
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_open(&q, w->name));
    for (uint32_t i = 0; i < 5; i++) {
        struct msg m;
        cr_assert_eq(mproc_queue_get(q, &m, sizeof m, SURVIVOR_TIMEOUT_MS), (ssize_t)sizeof m);
        cr_assert(m.tag == 1 && m.id == i && m.check == check_of(1, i));
    }
    MPROC_ASSERT_OK(mproc_queue_put(q, "ok", 2, 0));
    char buf[4];
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 0), 2);
    char lname[80];
    snprintf(lname, sizeof lname, "%s-lock", w->name);
    mproc_lock *l;
    MPROC_ASSERT_OK(mproc_lock_open(&l, lname));
    MPROC_ASSERT_RC(mproc_lock_acquire(l, SURVIVOR_TIMEOUT_MS), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_lock_consistent(l));
    MPROC_ASSERT_OK(mproc_lock_release(l));
    MPROC_ASSERT_OK(mproc_lock_close(l));
    MPROC_ASSERT_OK(mproc_queue_close(q));
    /* Not the creator: closing leaves the names; the survivor cleans up. */
    MPROC_ASSERT_OK(mproc_queue_unlink(w->name));
    MPROC_ASSERT_OK(mproc_lock_unlink(lname));
    MPROC_ASSERT_RC(mproc_queue_open(&q, w->name), MPROC_ENOENT);
}

/* Pool cells at the worker's kill points: one worker (the first to run the
 * initializer; a pool of one, so that it surely reaches its point) is armed; it dies right after claiming a chunk (before the
 * queue's head moves on: the others must step over it) or after finishing
 * every item of a chunk but before publishing DONE (the owner must keep
 * all of them). */

static int pool_arm_once(void *arg)
{
    struct world *w = arg;
    if (atomic_fetch_add(&w->flag, 1) == 0)
        arm(w);
    return 0;
}

static int pool_plain_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int v;
    if (in_len != sizeof v)
        return MPROC_EINVAL;
    memcpy(&v, in, sizeof v);
    atomic_fetch_add(&pool_world->runs[v], 1);
    v = v * 3 + 1;
    memcpy(out, &v, sizeof v);
    *out_len = sizeof v;
    return 0;
}

static void check_pool_point(struct world *w, pid_t victim)
{
    assert_exit0(victim, "pool driver");
    pool_world = w;
    bool claimed = strcmp(w->point, "pool.worker.claimed") == 0;
    atomic_store(&w->flag, 0);
    memset((void *)w->runs, 0, sizeof w->runs);
    struct mproc_pool_opts o = {.workers = 1, .initializer = pool_arm_once, .init_arg = w};
    mproc_pool *pool;
    MPROC_ASSERT_OK(mproc_pool_create(&pool, &o));
    enum { N = 40 };
    int in[N], out[N], st[N];
    for (int i = 0; i < N; i++)
        in[i] = i, out[i] = -1;
    struct mproc_pool_map_opts mo = {.chunksize = claimed ? 1 : 4, .statuses = st};
    int rc = mproc_pool_map(pool, pool_plain_task, in, N, sizeof in[0], out, sizeof out[0], &mo,
                            2 * SURVIVOR_TIMEOUT_MS);
    struct mproc_pool_stats s;
    MPROC_ASSERT_OK(mproc_pool_stats(pool, &s));
    cr_assert_eq(s.worker_deaths, 1u);
    int failed = 0;
    for (int i = 0; i < N; i++) {
        cr_assert(atomic_load(&w->runs[i]) <= 1, "item %d ran twice", i);
        if (st[i] == 0) {
            cr_assert_eq(out[i], i * 3 + 1, "item %d", i);
            cr_assert_eq(atomic_load(&w->runs[i]), 1, "item %d", i);
        } else {
            cr_assert_eq(st[i], MPROC_EWORKERDIED, "item %d", i);
            failed++;
        }
    }
    /* Claimed: the one claimed item fails, unstarted (it never ran). Before
     * DONE: every item of the chunk had finished, nothing fails. */
    cr_assert_eq(failed, claimed ? 1 : 0);
    MPROC_ASSERT_RC(rc, claimed ? MPROC_EWORKERDIED : 0);
    int again = 7, res = 0;
    MPROC_ASSERT_OK(mproc_pool_map(pool, pool_plain_task, &again, 1, sizeof again, &res, sizeof res,
                                   NULL, 2 * SURVIVOR_TIMEOUT_MS));
    cr_assert_eq(res, 22);
    MPROC_ASSERT_OK(mproc_pool_shutdown(pool));
    MPROC_ASSERT_OK(mproc_pool_join(pool, 2 * SURVIVOR_TIMEOUT_MS));
    MPROC_ASSERT_OK(mproc_pool_close(pool));
}

/* Pool cells where the pool itself kills the worker: a cancel of the running
 * future, or an item overrunning its timeout. Item `nth` hangs; every other
 * item must run exactly once, the pool replaces the worker and goes on. */

static int pool_hang_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int v;
    if (in_len != sizeof v)
        return MPROC_EINVAL;
    memcpy(&v, in, sizeof v);
    atomic_fetch_add(&pool_world->runs[v], 1);
    if (v == pool_world->nth) {
        atomic_store(&pool_world->flag, 1);
        for (;;)
            pause();
    }
    v = v * 3 + 1;
    memcpy(out, &v, sizeof v);
    *out_len = sizeof v;
    return 0;
}

static void check_pool_kill(struct world *w, pid_t victim)
{
    assert_exit0(victim, "pool driver");
    pool_world = w;
    bool cancel = strcmp(w->point, "user.cancel") == 0;
    atomic_store(&w->flag, 0);
    memset((void *)w->runs, 0, sizeof w->runs);
    struct mproc_pool_opts o = {.workers = 2, .task_timeout_ms = cancel ? 0 : 300};
    mproc_pool *pool;
    MPROC_ASSERT_OK(mproc_pool_create(&pool, &o));
    enum { N = 24 };
    mproc_future *f[N];
    for (int i = 0; i < N; i++)
        MPROC_ASSERT_OK(mproc_pool_submit(pool, pool_hang_task, &i, sizeof i, sizeof i, &f[i]));
    if (cancel) {
        for (int i = 0; i < 2 * SURVIVOR_TIMEOUT_MS && !atomic_load(&w->flag); i++)
            mproc_test_sleep_ms(1);
        cr_assert(atomic_load(&w->flag), "the hanging item never started");
        MPROC_ASSERT_OK(mproc_future_cancel(f[w->nth]));
        /* The last one too: queued (it must never run) or already finished. */
        int rc = mproc_future_cancel(f[N - 1]);
        cr_assert(rc == 0 || rc == MPROC_EALREADY, "cancel: %s", mproc_err_name(rc));
    }
    MPROC_ASSERT_OK(mproc_future_wait_all(f, N, 2 * SURVIVOR_TIMEOUT_MS));
    for (int i = 0; i < N; i++) {
        int rc = mproc_future_result(f[i], NULL, NULL);
        if (i == w->nth) {
            MPROC_ASSERT_RC(rc, cancel ? MPROC_ECANCELED : MPROC_ETIMEDOUT);
            cr_assert_eq(atomic_load(&w->runs[i]), 1);
        } else if (cancel && i == N - 1 && rc == MPROC_ECANCELED) {
            cr_assert_eq(atomic_load(&w->runs[i]), 0, "a cancelled queued task ran");
        } else {
            MPROC_ASSERT_RC(rc, 0);
            cr_assert_eq(atomic_load(&w->runs[i]), 1, "item %d", i);
        }
        MPROC_ASSERT_OK(mproc_future_close(f[i]));
    }
    struct mproc_pool_stats s;
    MPROC_ASSERT_OK(mproc_pool_stats(pool, &s));
    cr_assert_eq(s.worker_deaths, 0u);
    cr_assert_eq(cancel ? s.timed_out : s.cancelled, 0u);
    MPROC_ASSERT_OK(mproc_pool_shutdown(pool));
    MPROC_ASSERT_OK(mproc_pool_join(pool, 2 * SURVIVOR_TIMEOUT_MS));
    MPROC_ASSERT_OK(mproc_pool_close(pool));
}

/* The matrix ================================================================ */

static const struct cell matrix[] = {
    {"producer_killed_after_reserving", "producer", "queue.put.reserved", queue_producer_victim,
     check_queue_put_side},
    {"producer_killed_mid_copy", "producer", "queue.put.copying", queue_producer_victim,
     check_queue_put_side},
    {"producer_killed_before_publish", "producer", "queue.put.before_publish",
     queue_producer_victim, check_queue_put_side},
    {"producer_killed_with_entry_half_written", "producer", "queue.put.entry_half",
     queue_producer_victim, check_queue_put_side},
    {"producer_killed_holding_reservation", "zero-copy producer", "user.reserved",
     queue_reserver_victim, check_queue_put_side},
    {"consumer_killed_after_claiming", "consumer", "queue.get.claimed", queue_consumer_victim,
     check_queue_get_side},
    {"consumer_killed_mid_copy", "consumer", "queue.get.copying", queue_consumer_victim,
     check_queue_get_side},
    {"consumer_killed_before_release", "consumer", "queue.get.before_release",
     queue_consumer_victim, check_queue_get_side},
    {"consumer_killed_holding_view", "zero-copy consumer", "user.view", queue_viewer_victim,
     check_queue_get_side},
    /* the lanes' own state (docs/queue.md, "Lanes") */
    {"producer_killed_before_setting_summary_bit", "producer (4 lanes)", "queue.put.before_summary",
     queue_producer_victim, check_queue_put_side, 4},
    {"producer_killed_holding_lane_lock", "producer (4 lanes)", "queue.put.lane_locked",
     queue_producer_victim, check_queue_put_side, 4},
    {"producer_killed_holding_credit", "producer (4 lanes)", "queue.put.credit_held",
     queue_credit_victim, check_queue_credit, 4},
    {"consumer_killed_between_clearing_bit_and_recheck", "consumer (4 lanes)",
     "queue.get.bit_cleared", queue_consumer_victim, check_queue_get_side, 4},
    {"lock_holder_killed", "lock holder", "lock.held", lock_victim, check_lock},
    {"rlock_holder_killed_nested", "rlock holder", "user.nested", rlock_victim, check_rlock},
    {"sem_holder_killed", "semaphore holder", "sem.held", sem_victim, check_sem},
    {"cond_waiter_killed_before_sleeping", "condition waiter", "cond.wait", cond_waiter_victim,
     check_cond_waiter},
    {"cond_notifier_killed_before_waking", "condition notifier", "cond.notify",
     cond_notifier_victim, check_cond_notifier},
    {"event_setter_killed_before_waking", "event setter", "event.set", event_victim, check_event},
    {"barrier_party_killed_waiting", "barrier party", "barrier.wait", barrier_victim,
     check_barrier},
    {"pool_worker_killed_mid_task", "pool worker", "user.task", pool_driver, check_pool},
    {"pool_worker_killed_after_claiming", "pool worker", "pool.worker.claimed", pool_driver,
     check_pool_point},
    {"pool_worker_killed_before_done", "pool worker", "pool.worker.before_done", pool_driver,
     check_pool_point},
    {"pool_worker_cancelled_mid_task", "pool worker (cancelled)", "user.cancel", pool_driver,
     check_pool_kill},
    {"pool_worker_timed_out_mid_task", "pool worker (timed out)", "user.timeout", pool_driver,
     check_pool_kill},
    {"daemon_parent_killed_at_fork", "parent with daemon children", "process.start.forked",
     daemon_parent_victim, check_daemons},
    {"daemon_parent_killed_after_start", "parent with daemon children", "user.started",
     daemon_parent_victim, check_daemons},
    {"named_creator_killed", "creator of a named segment", "user.created", creator_victim,
     check_creator},
};

static struct world *world_new(const struct cell *c, int rep)
{
    struct world *w =
        mmap(NULL, sizeof *w, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(w != MAP_FAILED);
    w->point = c->point;
    w->nth = 1 + rep % 7;
    w->rec_fd = tmp_fd();
    snprintf(w->name, sizeof w->name, "h9-matrix-%d-%d", (int)getpid(), rep);
    if (c->check == check_queue_put_side || c->check == check_queue_get_side ||
        c->check == check_queue_credit) {
        /* often full */
        struct mproc_queue_opts o = {.capacity = 1024, .unit_size = 16, .lanes = c->lanes};
        MPROC_ASSERT_OK(mproc_queue_create(&w->q, NULL, &o));
    }
    MPROC_ASSERT_OK(mproc_lock_init(&w->lock));
    MPROC_ASSERT_OK(mproc_rlock_init(&w->rlock));
    MPROC_ASSERT_OK(mproc_sem_init(&w->sem, 1, MPROC_SEM_TRACKED));
    MPROC_ASSERT_OK(mproc_cond_init(&w->cond));
    MPROC_ASSERT_OK(mproc_event_init(&w->event));
    MPROC_ASSERT_OK(mproc_barrier_init(&w->barrier, 3));
    return w;
}

static void world_free(struct world *w)
{
    if (w->q)
        MPROC_ASSERT_OK(mproc_queue_close(w->q));
    close(w->rec_fd);
    munmap(w, sizeof *w);
}

static void run_cell(const char *name)
{
    const struct cell *c = NULL;
    for (size_t i = 0; i < sizeof matrix / sizeof matrix[0]; i++)
        if (strcmp(matrix[i].name, name) == 0)
            c = &matrix[i];
    cr_assert_not_null(c, "no cell %s", name);
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int reps = stress(), done = 0;
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int rep = 0; rep < reps; rep++) {
        struct world *w = world_new(c, rep);
        pid_t victim = mproc_test_fork(c->victim, w);
        c->check(w, victim);
        world_free(w);
        done++;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > CELL_BUDGET_MS)
            break;
    }
    fprintf(stderr, "matrix: %-28s %-26s %d/%d runs passed\n", c->role, c->point, done, reps);
}

#define CELL(name)                                                                                 \
    MPROC_TEST(crash_matrix, name)                                                                 \
    {                                                                                              \
        run_cell(#name);                                                                           \
    }

CELL(producer_killed_after_reserving)
CELL(producer_killed_mid_copy)
CELL(producer_killed_before_publish)
CELL(producer_killed_with_entry_half_written)
CELL(producer_killed_holding_reservation)
CELL(consumer_killed_after_claiming)
CELL(consumer_killed_mid_copy)
CELL(consumer_killed_before_release)
CELL(consumer_killed_holding_view)
CELL(producer_killed_before_setting_summary_bit)
CELL(producer_killed_holding_lane_lock)
CELL(producer_killed_holding_credit)
CELL(consumer_killed_between_clearing_bit_and_recheck)
CELL(lock_holder_killed)
CELL(rlock_holder_killed_nested)
CELL(sem_holder_killed)
CELL(cond_waiter_killed_before_sleeping)
CELL(cond_notifier_killed_before_waking)
CELL(event_setter_killed_before_waking)
CELL(barrier_party_killed_waiting)
CELL(pool_worker_killed_mid_task)
CELL(pool_worker_killed_after_claiming)
CELL(pool_worker_killed_before_done)
CELL(pool_worker_cancelled_mid_task)
CELL(pool_worker_timed_out_mid_task)
CELL(daemon_parent_killed_at_fork)
CELL(daemon_parent_killed_after_start)
CELL(named_creator_killed)
