/* test_wait.c - readiness descriptors (mproc_watch) and mproc_wait: each
 * object's watch becomes readable when another process (forked, spawned
 * and handed the object, or opening it by name) changes it; readiness is
 * level-triggered; mproc_wait over mixes of objects and descriptors; a
 * watcher killed while registered leaves nothing that slows or wedges
 * the others; a watcher whose peers die sees the object's usual state.
 *
 * Has its own main() (MPROC_TEST_MAIN): the spawned copies of this binary
 * run the entry points below, which report through their exit code.
 */
#include "process_util.h"

#include <sys/epoll.h>

/* Whether fd becomes readable within ms. */
static bool readable_within(int fd, int ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static bool readable_now(int fd)
{
    return readable_within(fd, 0);
}

/* Entry points (spawned children) ------------------------------------------ */

/* Watches the handed queue through a descriptor, takes one message, checks
 * it is "ping", answers "pong" on the same queue after the parent's message
 * is gone (exit code names the failing step). */
static int watch_handed_queue(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_queue *q;
    mproc_watch *w;
    char buf[16];
    if (mproc_arg_queue(0, &q) != 0)
        return 1;
    if (mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w) != 0)
        return 2;
    if (readable_now(mproc_watch_fd(w)))
        return 3; /* nothing put yet: the parent waits for our "ready" */
    mproc_event *ev;
    if (mproc_arg_event(1, &ev) != 0)
        return 4;
    mproc_event_set(ev);
    if (!readable_within(mproc_watch_fd(w), 5000))
        return 5;
    ssize_t n = mproc_queue_get(q, buf, sizeof buf, 0);
    if (n != 4 || memcmp(buf, "ping", 4) != 0)
        return 6;
    if (mproc_watch_rearm(w) != 0)
        return 7;
    mproc_watch_close(w);
    mproc_event_close(ev);
    mproc_queue_close(q);
    return 0;
}
MPROC_ENTRY(watch_handed_queue)

/* Tests ----------------------------------------------------------------- */

static int put_after_ms(void *arg)
{
    mproc_test_sleep_ms(50);
    return mproc_queue_put(arg, "x", 1, 1000) == 0 ? 0 : 1;
}

MPROC_TEST(wait, queue_watch_readable_after_put_in_forked_child)
{
    mproc_queue *q;
    mproc_watch *w;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    MPROC_ASSERT_OK(mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w));
    int fd = mproc_watch_fd(w);
    cr_assert(fd >= 0);
    cr_assert(!readable_now(fd), "empty queue: not readable");
    pid_t pid = mproc_test_fork(put_after_ms, q);
    cr_assert(readable_within(fd, 5000), "a put in another process makes it readable");
    cr_assert_eq(mproc_test_wait(pid, 5000), 0);
    char c;
    cr_assert_eq(mproc_queue_get(q, &c, 1, 0), 1);
    MPROC_ASSERT_RC(mproc_watch_rearm(w), 0);
    cr_assert(!readable_now(fd), "drained and rearmed: not readable");
    MPROC_ASSERT_OK(mproc_watch_close(w));
    MPROC_ASSERT_RC(mproc_watch_close(w), MPROC_EBADF);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(wait, queue_watch_is_level_triggered)
{
    mproc_queue *q;
    mproc_watch *w;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    MPROC_ASSERT_OK(mproc_queue_put(q, "a", 1, 0));
    MPROC_ASSERT_OK(mproc_queue_put(q, "b", 1, 0));
    MPROC_ASSERT_OK(mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w));
    int fd = mproc_watch_fd(w);
    cr_assert(readable_now(fd), "messages already there: readable at once");
    char c;
    cr_assert_eq(mproc_queue_get(q, &c, 1, 0), 1);
    MPROC_ASSERT_RC(mproc_watch_rearm(w), 1); /* one left: stays readable */
    cr_assert(readable_now(fd));
    cr_assert(readable_now(fd), "still readable: nothing consumed the readiness");
    MPROC_ASSERT_RC(mproc_watch_ready(w), 1);
    cr_assert_eq(mproc_queue_get(q, &c, 1, 0), 1);
    MPROC_ASSERT_RC(mproc_watch_rearm(w), 0);
    cr_assert(!readable_now(fd));
    MPROC_ASSERT_RC(mproc_watch_ready(w), 0);
    MPROC_ASSERT_OK(mproc_queue_shutdown(q));
    cr_assert(readable_within(fd, 5000), "shut down: readable (get says MPROC_ECLOSED)");
    MPROC_ASSERT_OK(mproc_watch_close(w));
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int get_one_after_ms(void *arg)
{
    char buf[4096];
    mproc_test_sleep_ms(50);
    return mproc_queue_get(arg, buf, sizeof buf, 1000) >= 0 ? 0 : 1;
}

MPROC_TEST(wait, queue_put_watch_readable_when_room_frees)
{
    mproc_queue *q;
    mproc_watch *w;
    struct mproc_queue_opts o = {.capacity = 4096, .max_msgs = 2};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    MPROC_ASSERT_OK(mproc_queue_put(q, "a", 1, 0));
    MPROC_ASSERT_OK(mproc_queue_put(q, "b", 1, 0));
    MPROC_ASSERT_RC(mproc_queue_watch(q, MPROC_WATCH_PUT, 1u << 30, &w), MPROC_EMSGSIZE);
    MPROC_ASSERT_RC(mproc_queue_watch(q, 3, 0, &w), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_queue_watch(q, MPROC_WATCH_PUT, 1, &w));
    int fd = mproc_watch_fd(w);
    cr_assert(!readable_now(fd), "full: not writable");
    pid_t pid = mproc_test_fork(get_one_after_ms, q);
    cr_assert(readable_within(fd, 5000), "a get in another process makes room");
    cr_assert_eq(mproc_test_wait(pid, 5000), 0);
    MPROC_ASSERT_OK(mproc_queue_put(q, "c", 1, 0));
    MPROC_ASSERT_RC(mproc_watch_rearm(w), 0);
    MPROC_ASSERT_OK(mproc_watch_close(w));
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

/* A waker that opened the objects by name. */
static int set_by_name(void *arg)
{
    const char *base = arg;
    char name[64];
    mproc_event *e;
    mproc_sem *s;
    mproc_queue *q;
    mproc_test_sleep_ms(30);
    snprintf(name, sizeof name, "%s-ev", base);
    if (mproc_event_open(&e, name) != 0)
        return 1;
    mproc_event_set(e);
    mproc_event_close(e);
    snprintf(name, sizeof name, "%s-sem", base);
    if (mproc_sem_open(&s, name) != 0)
        return 2;
    mproc_sem_release(s);
    mproc_sem_close(s);
    snprintf(name, sizeof name, "%s-q", base);
    if (mproc_queue_open(&q, name) != 0)
        return 3;
    int rc = mproc_queue_put(q, "n", 1, 1000);
    mproc_queue_close(q);
    return rc == 0 ? 0 : 4;
}

MPROC_TEST(wait, watches_see_a_waker_that_opened_the_objects_by_name)
{
    char base[32], name[64];
    snprintf(base, sizeof base, "tw%d", (int)getpid());
    mproc_event *e;
    mproc_sem *s;
    mproc_queue *q;
    snprintf(name, sizeof name, "%s-ev", base);
    MPROC_ASSERT_OK(mproc_event_create(&e, name));
    snprintf(name, sizeof name, "%s-sem", base);
    MPROC_ASSERT_OK(mproc_sem_create(&s, name, 0, 0));
    snprintf(name, sizeof name, "%s-q", base);
    MPROC_ASSERT_OK(mproc_queue_create(&q, name, NULL));
    mproc_watch *we, *ws, *wq;
    MPROC_ASSERT_OK(mproc_event_watch(e, &we));
    MPROC_ASSERT_OK(mproc_sem_watch(s, &ws));
    MPROC_ASSERT_OK(mproc_queue_watch(q, MPROC_WATCH_GET, 0, &wq));
    cr_assert(!readable_now(mproc_watch_fd(we)) && !readable_now(mproc_watch_fd(ws)) &&
              !readable_now(mproc_watch_fd(wq)));
    pid_t pid = mproc_test_fork(set_by_name, base);
    cr_assert(readable_within(mproc_watch_fd(we), 5000), "event set elsewhere");
    cr_assert(readable_within(mproc_watch_fd(ws), 5000), "semaphore released elsewhere");
    cr_assert(readable_within(mproc_watch_fd(wq), 5000), "queue put elsewhere");
    cr_assert_eq(mproc_test_wait(pid, 5000), 0);
    MPROC_ASSERT_OK(mproc_sem_acquire(s, 0));
    MPROC_ASSERT_RC(mproc_watch_rearm(ws), 0);
    MPROC_ASSERT_OK(mproc_event_clear(e));
    MPROC_ASSERT_RC(mproc_watch_rearm(we), 0);
    MPROC_ASSERT_OK(mproc_watch_close(we));
    MPROC_ASSERT_OK(mproc_watch_close(ws));
    MPROC_ASSERT_OK(mproc_watch_close(wq));
    MPROC_ASSERT_OK(mproc_event_close(e));
    MPROC_ASSERT_OK(mproc_sem_close(s));
    MPROC_ASSERT_OK(mproc_queue_close(q));
    snprintf(name, sizeof name, "%s-ev", base);
    mproc_event_unlink(name);
    snprintf(name, sizeof name, "%s-sem", base);
    mproc_sem_unlink(name);
}

struct lock_arg {
    mproc_lock *l;
    int die; /* 1: die holding it */
};

static int hold_lock(void *arg)
{
    struct lock_arg *a = arg;
    if (mproc_lock_acquire(a->l, 1000) != 0)
        return 1;
    mproc_test_sleep_ms(80);
    if (a->die)
        raise(SIGKILL);
    return mproc_lock_release(a->l) == 0 ? 0 : 2;
}

MPROC_TEST(wait, lock_watch_readable_when_released_or_owner_dies)
{
    mproc_lock *l;
    mproc_watch *w;
    MPROC_ASSERT_OK(mproc_lock_create(&l, NULL));
    for (int die = 0; die <= 1; die++) {
        struct lock_arg a = {l, die};
        pid_t pid = mproc_test_fork(hold_lock, &a);
        while (mproc_lock_acquire(l, 0) == 0) { /* wait until the child holds it */
            mproc_lock_release(l);
            mproc_test_sleep_ms(1);
        }
        MPROC_ASSERT_OK(mproc_lock_watch(l, &w));
        cr_assert(!readable_now(mproc_watch_fd(w)), "held: not readable");
        cr_assert(readable_within(mproc_watch_fd(w), 5000), "released or owner died");
        int st = mproc_test_wait(pid, 5000);
        if (die) {
            cr_assert(WIFSIGNALED(st));
            MPROC_ASSERT_RC(mproc_lock_acquire(l, 0), MPROC_EOWNERDEAD);
            MPROC_ASSERT_OK(mproc_lock_consistent(l));
        } else {
            cr_assert_eq(st, 0);
            MPROC_ASSERT_OK(mproc_lock_acquire(l, 0));
        }
        MPROC_ASSERT_OK(mproc_lock_release(l));
        MPROC_ASSERT_OK(mproc_watch_close(w));
    }
    MPROC_ASSERT_OK(mproc_lock_close(l));
}

static int barrier_party(void *arg)
{
    return mproc_barrier_wait(arg, 5000) >= 0 ? 0 : 1;
}

static int barrier_party_dies(void *arg)
{
    mproc_fault_arm("barrier.wait");
    mproc_barrier_wait(arg, 5000);
    return 9;
}

MPROC_TEST(wait, barrier_watch_readable_when_released_or_broken)
{
    mproc_barrier *b;
    mproc_watch *w;
    MPROC_ASSERT_OK(mproc_barrier_create(&b, NULL, 2));
    MPROC_ASSERT_OK(mproc_barrier_watch(b, &w));
    cr_assert(!readable_now(mproc_watch_fd(w)));
    pid_t p1 = mproc_test_fork(barrier_party, b);
    pid_t p2 = mproc_test_fork(barrier_party, b);
    cr_assert(readable_within(mproc_watch_fd(w), 5000), "the round was released");
    cr_assert_eq(mproc_test_wait(p1, 5000), 0);
    cr_assert_eq(mproc_test_wait(p2, 5000), 0);
    MPROC_ASSERT_RC(mproc_watch_rearm(w), 0);
    /* a party killed while it waits: the watcher (the last one left)
     * breaks the barrier */
    pid_t p3 = mproc_test_fork(barrier_party_dies, b);
    cr_assert(readable_within(mproc_watch_fd(w), 5000), "the barrier broke");
    cr_assert(WIFSIGNALED(mproc_test_wait(p3, 5000)));
    MPROC_ASSERT_RC(mproc_barrier_broken(b), 1);
    MPROC_ASSERT_OK(mproc_watch_close(w));
    MPROC_ASSERT_OK(mproc_barrier_close(b));
}

static int sq(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    int64_t x;
    if (in_len != sizeof x)
        return MPROC_EINVAL;
    memcpy(&x, in, sizeof x);
    x *= x;
    memcpy(out, &x, sizeof x);
    *out_len = sizeof x;
    return 0;
}

MPROC_TEST(wait, pool_and_future_watches_drive_an_epoll_loop)
{
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 2};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    mproc_future *f;
    int64_t x = 7;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sq, &x, sizeof x, sizeof x, &f));
    mproc_watch *wp, *wf;
    MPROC_ASSERT_OK(mproc_pool_watch(p, &wp));
    MPROC_ASSERT_OK(mproc_future_watch(f, &wf));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    cr_assert(ep >= 0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = wp};
    cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, mproc_watch_fd(wp), &ev), 0);
    ev.data.ptr = wf;
    cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, mproc_watch_fd(wf), &ev), 0);
    bool done = false;
    uint64_t until = now_ms() + 10000;
    while (!done && now_ms() < until) {
        struct epoll_event got[2];
        int k = epoll_wait(ep, got, 2, 1000);
        for (int i = 0; i < k; i++) {
            mproc_watch *w = got[i].data.ptr;
            if (w == wp)
                cr_assert(mproc_pool_poll(p) >= 0);
            else if (mproc_future_done(f) == 1)
                done = true;
            mproc_watch_rearm(w);
        }
    }
    cr_assert(done, "the future finished through the loop");
    const void *r;
    size_t rl;
    MPROC_ASSERT_OK(mproc_future_result(f, &r, &rl));
    cr_assert_eq(*(const int64_t *)r, 49);
    MPROC_ASSERT_RC(mproc_watch_rearm(wf), 1); /* finished: stays readable */
    close(ep);
    MPROC_ASSERT_OK(mproc_watch_close(wf));
    MPROC_ASSERT_OK(mproc_watch_close(wp));
    MPROC_ASSERT_OK(mproc_future_close(f));
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    MPROC_ASSERT_OK(mproc_pool_close(p));
}

static int die_or_square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x < 0) {
        mproc_test_sleep_ms(30);
        raise(SIGKILL);
    }
    return sq(in, in_len, out, out_len, ctx);
}

MPROC_TEST(wait, pool_watch_fires_when_a_worker_dies_mid_task)
{
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 1};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    mproc_watch *w;
    MPROC_ASSERT_OK(mproc_pool_watch(p, &w));
    mproc_future *f;
    int64_t x = -1;
    MPROC_ASSERT_OK(mproc_pool_submit(p, die_or_square, &x, sizeof x, sizeof x, &f));
    int done = 0;
    uint64_t until = now_ms() + 10000;
    while (!done && now_ms() < until) {
        if (!readable_within(mproc_watch_fd(w), 1000))
            continue;
        cr_assert(mproc_pool_poll(p) >= 0);
        done = mproc_future_done(f);
        mproc_watch_rearm(w);
    }
    cr_assert_eq(done, 1, "the death reached the loop through the watch");
    const void *r;
    size_t rl;
    MPROC_ASSERT_RC(mproc_future_result(f, &r, &rl), MPROC_EWORKERDIED);
    MPROC_ASSERT_OK(mproc_watch_close(w));
    MPROC_ASSERT_OK(mproc_future_close(f));
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    MPROC_ASSERT_OK(mproc_pool_close(p));
}

MPROC_TEST(wait, watch_bad_input)
{
    mproc_watch *w;
    mproc_queue *q;
    MPROC_ASSERT_RC(mproc_watch_create(NULL, MPROC_WAIT_EVENT, &w, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_watch_create(&w, MPROC_WAIT_EVENT, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_watch_create(&w, MPROC_WAIT_PIPE, &w, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_watch_create(&w, 999, &w, 0), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    MPROC_ASSERT_OK(mproc_queue_close(q));
    MPROC_ASSERT_RC(mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w), MPROC_EBADF);
    mproc_lock l;
    mproc_lock_init(&l);
    MPROC_ASSERT_OK(mproc_lock_destroy(&l));
    MPROC_ASSERT_RC(mproc_lock_watch(&l, &w), MPROC_EBADF);
    mproc_barrier b = {{0}};
    MPROC_ASSERT_RC(mproc_barrier_watch(&b, &w), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_watch_fd(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_watch_rearm(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_watch_close(NULL), MPROC_EINVAL);
}

static mproc_event *fork_ev;

static int inherited_watch_in_child(void *arg)
{
    mproc_watch *w = arg, *mine;
    if (mproc_watch_rearm(w) != MPROC_ENOTCHILD)
        return 1;
    if (mproc_watch_close(w) != 0)
        return 2;
    /* a watch of its own works: the child starts its own service */
    if (mproc_event_watch(fork_ev, &mine) != 0)
        return 3;
    if (readable_now(mproc_watch_fd(mine)))
        return 4;
    mproc_event_set(fork_ev);
    if (!readable_within(mproc_watch_fd(mine), 5000))
        return 5;
    mproc_event_clear(fork_ev);
    return mproc_watch_close(mine) == 0 ? 0 : 6;
}

MPROC_TEST(wait, watch_inherited_by_fork_is_inert_in_the_child)
{
    mproc_event *e;
    mproc_watch *w;
    MPROC_ASSERT_OK(mproc_event_create(&e, NULL));
    MPROC_ASSERT_OK(mproc_event_watch(e, &w));
    fork_ev = e;
    pid_t pid = mproc_test_fork(inherited_watch_in_child, w);
    cr_assert_eq(mproc_test_wait(pid, 5000), 0);
    MPROC_ASSERT_OK(mproc_event_set(e));
    cr_assert(readable_within(mproc_watch_fd(w), 5000), "the parent's watch still works");
    MPROC_ASSERT_OK(mproc_watch_close(w));
    MPROC_ASSERT_OK(mproc_event_close(e));
}

/* mproc_wait ---------------------------------------------------------------- */

MPROC_TEST(wait, wait_over_64_queues_returns_the_one_that_became_ready)
{
    enum { N = 64 };
    mproc_queue *q[N];
    struct mproc_wait_item it[N];
    struct mproc_queue_opts o = {.capacity = 4096};
    for (int i = 0; i < N; i++) {
        MPROC_ASSERT_OK(mproc_queue_create(&q[i], NULL, &o));
        it[i] = (struct mproc_wait_item){.kind = MPROC_WAIT_QUEUE_GET, .obj = q[i]};
    }
    MPROC_ASSERT_RC(mproc_wait(it, N, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_wait(it, N, 20), MPROC_ETIMEDOUT);
    pid_t pid = mproc_test_fork(put_after_ms, q[41]);
    MPROC_ASSERT_RC(mproc_wait(it, N, 5000), 1);
    for (int i = 0; i < N; i++)
        cr_assert_eq(it[i].ready, i == 41, "item %d", i);
    cr_assert_eq(mproc_test_wait(pid, 5000), 0);
    for (int i = 0; i < N; i++)
        MPROC_ASSERT_OK(mproc_queue_close(q[i]));
}

static int send_after_ms(void *arg)
{
    mproc_test_sleep_ms(50);
    return mproc_pipe_send(arg, "hi", 2, 1000) == 0 ? 0 : 1;
}

MPROC_TEST(wait, wait_over_a_mix_of_objects_and_descriptors)
{
    mproc_queue *q;
    mproc_event *e;
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    MPROC_ASSERT_OK(mproc_event_create(&e, NULL));
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    struct mproc_wait_item it[3] = {
        {.kind = MPROC_WAIT_QUEUE_GET, .obj = q},
        {.kind = MPROC_WAIT_EVENT, .obj = e},
        {.kind = MPROC_WAIT_PIPE, .obj = a},
    };
    MPROC_ASSERT_RC(mproc_wait(it, 3, 0), MPROC_EAGAIN);
    pid_t pid = mproc_test_fork(send_after_ms, b);
    MPROC_ASSERT_RC(mproc_wait(it, 3, 5000), 1);
    cr_assert(it[2].ready && !it[0].ready && !it[1].ready);
    cr_assert_eq(mproc_test_wait(pid, 5000), 0);
    char buf[8];
    cr_assert_eq(mproc_pipe_recv(a, buf, sizeof buf, 0), 2);
    /* an object while descriptors are in the set too */
    pid = mproc_test_fork(put_after_ms, q);
    MPROC_ASSERT_RC(mproc_wait(it, 3, 5000), 1);
    cr_assert(it[0].ready && !it[1].ready && !it[2].ready);
    cr_assert_eq(mproc_test_wait(pid, 5000), 0);
    MPROC_ASSERT_OK(mproc_event_set(e));
    MPROC_ASSERT_RC(mproc_wait(it, 3, 0), 2);
    cr_assert(it[0].ready && it[1].ready && !it[2].ready);
    /* a process item */
    mproc_process *pr = start_fork(sleep_forever, NULL);
    struct mproc_wait_item one = {.kind = MPROC_WAIT_PROCESS, .obj = pr};
    MPROC_ASSERT_RC(mproc_wait(&one, 1, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_process_kill(pr));
    MPROC_ASSERT_RC(mproc_wait(&one, 1, 5000), 1);
    struct mproc_exit st;
    MPROC_ASSERT_OK(mproc_process_join(pr, 5000, &st));
    MPROC_ASSERT_OK(mproc_process_close(pr));
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
    MPROC_ASSERT_OK(mproc_event_close(e));
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

struct sync_set {
    mproc_sem *sem;
    mproc_cond *cond;
    mproc_barrier *bar;
};

static int release_then_meet(void *arg)
{
    struct sync_set *ss = arg;
    mproc_test_sleep_ms(30);
    if (mproc_sem_release(ss->sem) != 0)
        return 1;
    return mproc_barrier_wait(ss->bar, 5000) >= 0 ? 0 : 2;
}

static int meet_later(void *arg)
{
    struct sync_set *ss = arg;
    mproc_test_sleep_ms(100);
    return mproc_barrier_wait(ss->bar, 5000) >= 0 ? 0 : 1;
}

MPROC_TEST(wait, wait_over_sync_objects_sees_each_change)
{
    struct sync_set ss;
    MPROC_ASSERT_OK(mproc_sem_create(&ss.sem, NULL, 0, 0));
    MPROC_ASSERT_OK(mproc_cond_create(&ss.cond, NULL));
    MPROC_ASSERT_OK(mproc_barrier_create(&ss.bar, NULL, 2));
    MPROC_ASSERT_OK(mproc_cond_acquire(ss.cond, 0)); /* held here: its lock is not free */
    struct mproc_wait_item it[3] = {
        {.kind = MPROC_WAIT_SEM, .obj = ss.sem},
        {.kind = MPROC_WAIT_COND_LOCK, .obj = ss.cond},
        {.kind = MPROC_WAIT_BARRIER, .obj = ss.bar},
    };
    MPROC_ASSERT_RC(mproc_wait(it, 3, 0), MPROC_EAGAIN);
    pid_t a = mproc_test_fork(release_then_meet, &ss);
    pid_t b = mproc_test_fork(meet_later, &ss);
    MPROC_ASSERT_RC(mproc_wait(it, 3, 5000), 1);
    cr_assert(it[0].ready && !it[1].ready && !it[2].ready, "the semaphore first");
    MPROC_ASSERT_OK(mproc_sem_acquire(ss.sem, 0));
    MPROC_ASSERT_OK(mproc_cond_release(ss.cond));
    MPROC_ASSERT_RC(mproc_wait(&it[1], 1, 0), 1);    /* the lock is free now */
    MPROC_ASSERT_RC(mproc_wait(&it[2], 1, 5000), 1); /* the two children meet */
    cr_assert_eq(mproc_test_wait(a, 5000), 0);
    cr_assert_eq(mproc_test_wait(b, 5000), 0);
    /* again with a descriptor among the items (the watch service's path) */
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    struct mproc_wait_item two[2] = {{.kind = MPROC_WAIT_BARRIER, .obj = ss.bar},
                                     {.kind = MPROC_WAIT_FD, .fd = fds[0]}};
    a = mproc_test_fork(meet_later, &ss);
    b = mproc_test_fork(meet_later, &ss);
    MPROC_ASSERT_RC(mproc_wait(two, 2, 5000), 1);
    cr_assert(two[0].ready && !two[1].ready);
    cr_assert_eq(mproc_test_wait(a, 5000), 0);
    cr_assert_eq(mproc_test_wait(b, 5000), 0);
    close(fds[0]);
    close(fds[1]);
    MPROC_ASSERT_OK(mproc_sem_close(ss.sem));
    MPROC_ASSERT_OK(mproc_cond_close(ss.cond));
    MPROC_ASSERT_OK(mproc_barrier_close(ss.bar));
}

MPROC_TEST(wait, wait_drives_a_future_to_its_end)
{
    mproc_pool *p;
    struct mproc_pool_opts o = {.workers = 1};
    MPROC_ASSERT_OK(mproc_pool_create(&p, &o));
    mproc_future *f;
    int64_t x = 5;
    MPROC_ASSERT_OK(mproc_pool_submit(p, sq, &x, sizeof x, sizeof x, &f));
    struct mproc_wait_item it = {.kind = MPROC_WAIT_FUTURE, .obj = f};
    MPROC_ASSERT_RC(mproc_wait(&it, 1, 10000), 1);
    MPROC_ASSERT_RC(mproc_future_done(f), 1);
    MPROC_ASSERT_OK(mproc_future_close(f));
    MPROC_ASSERT_OK(mproc_pool_shutdown(p));
    MPROC_ASSERT_OK(mproc_pool_join(p, 10000));
    MPROC_ASSERT_OK(mproc_pool_close(p));
}

MPROC_TEST(wait, wait_bad_input)
{
    struct mproc_wait_item it = {.kind = MPROC_WAIT_EVENT, .obj = NULL};
    MPROC_ASSERT_RC(mproc_wait(NULL, 1, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_wait(&it, 1, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_wait(&it, 0, MPROC_FOREVER), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_wait(&it, 0, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_wait(&it, 0, 5), MPROC_ETIMEDOUT);
    it = (struct mproc_wait_item){.kind = MPROC_WAIT_FD, .fd = -1};
    MPROC_ASSERT_RC(mproc_wait(&it, 1, 0), MPROC_EINVAL);
    it = (struct mproc_wait_item){.kind = 77, .obj = &it};
    MPROC_ASSERT_RC(mproc_wait(&it, 1, 0), MPROC_EINVAL);
    mproc_event e = MPROC_EVENT_INITIALIZER;
    it = (struct mproc_wait_item){.kind = MPROC_WAIT_EVENT, .obj = &e};
    MPROC_ASSERT_RC(mproc_wait(&it, 1, -5), MPROC_EINVAL);
}

/* Crashes --------------------------------------------------------------- */

/* A child that registers a watch and is killed at a named point. */
static int watcher_killed(void *arg)
{
    mproc_queue *q = arg;
    mproc_watch *w;
    mproc_fault_arm("watch.armed");
    mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w);
    return 9; /* not reached */
}

static int watcher_killed_in_service(void *arg)
{
    mproc_queue *q = arg;
    mproc_watch *w;
    /* the first announcement is the caller's own probe; the service's is
     * the first one of the thread: killed while the service has announced */
    mproc_fault_arm("watch.service.announced");
    if (mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w) != 0)
        return 1;
    mproc_test_sleep_ms(5000);
    return 9;
}

MPROC_TEST(wait, watcher_killed_while_registered_leaves_the_queue_working)
{
    int (*victims[])(void *) = {watcher_killed, watcher_killed_in_service};
    for (size_t v = 0; v < sizeof victims / sizeof victims[0]; v++) {
        mproc_queue *q;
        MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
        pid_t pid = mproc_test_fork(victims[v], q);
        int st = mproc_test_wait(pid, 5000);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "victim %zu killed at its point", v);
        /* puts and gets go on; the stale announcement costs one wake */
        char buf[8];
        for (int i = 0; i < 1000; i++) {
            MPROC_ASSERT_OK(mproc_queue_put(q, "m", 1, 0));
            cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 0), 1);
        }
        /* and a new watcher works */
        mproc_watch *w;
        MPROC_ASSERT_OK(mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w));
        cr_assert(!readable_now(mproc_watch_fd(w)));
        pid = mproc_test_fork(put_after_ms, q);
        cr_assert(readable_within(mproc_watch_fd(w), 5000));
        cr_assert_eq(mproc_test_wait(pid, 5000), 0);
        MPROC_ASSERT_OK(mproc_watch_close(w));
        MPROC_ASSERT_OK(mproc_queue_close(q));
    }
}

static int event_watcher_killed(void *arg)
{
    mproc_watch *w;
    mproc_fault_arm("watch.armed");
    mproc_event_watch(arg, &w);
    return 9;
}

MPROC_TEST(wait, event_watcher_killed_while_registered_does_not_wedge_setters)
{
    mproc_event *e;
    MPROC_ASSERT_OK(mproc_event_create(&e, NULL));
    pid_t pid = mproc_test_fork(event_watcher_killed, e);
    cr_assert(WIFSIGNALED(mproc_test_wait(pid, 5000)));
    MPROC_ASSERT_OK(mproc_event_set(e));
    MPROC_ASSERT_OK(mproc_event_wait(e, 0));
    MPROC_ASSERT_OK(mproc_event_clear(e));
    MPROC_ASSERT_RC(mproc_event_wait(e, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_event_close(e));
}

/* A producer killed between its claim and its publish, with a watcher in
 * this process: the watcher (the last one left) repairs the position and
 * becomes readable; the get then skips the lost message. */
static int producer_killed_mid_put(void *arg)
{
    mproc_fault_arm("queue.put.entry_half");
    mproc_queue_put(arg, "lost", 4, 1000);
    return 9;
}

MPROC_TEST(wait, watcher_whose_producer_dies_mid_put_sees_the_loss)
{
    mproc_queue *q;
    mproc_watch *w;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    MPROC_ASSERT_OK(mproc_queue_watch(q, MPROC_WATCH_GET, 0, &w));
    pid_t pid = mproc_test_fork(producer_killed_mid_put, q);
    cr_assert(WIFSIGNALED(mproc_test_wait(pid, 5000)));
    cr_assert(readable_within(mproc_watch_fd(w), 5000), "the repair makes it readable");
    char buf[8];
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 0), MPROC_EAGAIN);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.lost, 1);
    MPROC_ASSERT_RC(mproc_watch_rearm(w), 0);
    MPROC_ASSERT_OK(mproc_queue_put(q, "ok", 2, 0));
    cr_assert(readable_within(mproc_watch_fd(w), 5000));
    MPROC_ASSERT_OK(mproc_watch_close(w));
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

/* Spawn ----------------------------------------------------------------- */

MPROC_TEST(wait, watcher_in_a_spawned_child_sees_the_parents_put)
{
    mproc_queue *q;
    mproc_event *ready;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    MPROC_ASSERT_OK(mproc_event_create(&ready, NULL));
    struct mproc_object objs[] = {{MPROC_OBJ_QUEUE, q}, {MPROC_OBJ_EVENT, ready}};
    drop_sandbox_env();
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
                                   .entry = "watch_handed_queue",
                                   .objects = objs,
                                   .n_objects = 2};
    mproc_process *p;
    MPROC_ASSERT_OK(mproc_process_start(&p, NULL, NULL, &o));
    MPROC_ASSERT_OK(mproc_event_wait(ready, 10000));
    mproc_test_sleep_ms(20);
    MPROC_ASSERT_OK(mproc_queue_put(q, "ping", 4, 1000));
    assert_exited(join_ok(p), 0);
    MPROC_ASSERT_OK(mproc_process_close(p));
    MPROC_ASSERT_OK(mproc_event_close(ready));
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST_MAIN()
