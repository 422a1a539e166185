/* test_contract.c - the error contract at the edges a new user meets first:
 * names that exist but are not objects, objects nobody finished, children
 * whose status the kernel threw away, handles used after close, and the
 * number of processes a tracked semaphore admits.
 *
 * Every code asserted here is one the header of the call lists.
 */
#include "harness.h"

#include "internal.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void obj_name(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "contract-%s-%d", what, (int)getpid());
}

static void obj_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/dev/shm/mproc-%s", name);
}

/* The result of opening `name` as each kind of named object; kinds that
 * opened (they should not) are closed again. */
struct open_results {
    int queue, shm, lock, rlock, sem, cond, event, barrier, value, array;
};

static struct open_results open_every_kind(const char *name)
{
    struct open_results r;
    mproc_queue *q;
    mproc_shm *s;
    mproc_lock *l;
    mproc_rlock *rl;
    mproc_sem *sem;
    mproc_cond *c;
    mproc_event *e;
    mproc_barrier *b;
    mproc_value *v;
    mproc_array *a;
    if ((r.queue = mproc_queue_open(&q, name)) == 0)
        mproc_queue_close(q);
    if ((r.shm = mproc_shm_open(&s, name)) == 0)
        mproc_shm_close(s);
    if ((r.lock = mproc_lock_open(&l, name)) == 0)
        mproc_lock_close(l);
    if ((r.rlock = mproc_rlock_open(&rl, name)) == 0)
        mproc_rlock_close(rl);
    if ((r.sem = mproc_sem_open(&sem, name)) == 0)
        mproc_sem_close(sem);
    if ((r.cond = mproc_cond_open(&c, name)) == 0)
        mproc_cond_close(c);
    if ((r.event = mproc_event_open(&e, name)) == 0)
        mproc_event_close(e);
    if ((r.barrier = mproc_barrier_open(&b, name)) == 0)
        mproc_barrier_close(b);
    if ((r.value = mproc_value_open(&v, name)) == 0)
        mproc_value_close(v);
    if ((r.array = mproc_array_open(&a, name)) == 0)
        mproc_array_close(a);
    return r;
}

static void assert_all(const struct open_results *r, int expected, const char *what)
{
    const int got[] = {r->queue, r->shm,   r->lock,    r->rlock, r->sem,
                       r->cond,  r->event, r->barrier, r->value, r->array};
    static const char *const kinds[] = {"queue", "shm",   "lock",    "rlock", "sem",
                                        "cond",  "event", "barrier", "value", "array"};
    for (size_t i = 0; i < sizeof got / sizeof got[0]; i++)
        cr_assert(got[i] == expected, "%s: %s_open returned %s, expected %s", what, kinds[i],
                  mproc_err_name(got[i]), mproc_err_name(expected));
}

MPROC_TEST(contract, open_of_a_directory_named_like_an_object_is_eacces)
{
    char name[64], path[128];
    obj_name(name, sizeof name, "dir");
    obj_path(path, sizeof path, name);
    cr_assert(mkdir(path, 0700) == 0);
    struct open_results r = open_every_kind(name);
    rmdir(path);
    assert_all(&r, MPROC_EACCES, "a directory");
}

/* A file of `size` zero bytes whose last change is `age_s` seconds ago. */
static void plant_zeros(const char *path, size_t size, int age_s)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    cr_assert(ftruncate(fd, (off_t)size) == 0);
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= age_s;
    t[1] = t[0];
    cr_assert(futimens(fd, t) == 0);
    close(fd);
}

MPROC_TEST(contract, open_of_a_zero_filled_object_is_ecorrupt_at_once)
{
    char name[64], path[128];
    obj_name(name, sizeof name, "zero");
    obj_path(path, sizeof path, name);
    plant_zeros(path, 8192, 10);
    struct open_results r = open_every_kind(name);
    /* And unlink of any kind removes it. (ENOENT: /dev/shm is shared, and
     * a stray `mproc clean` elsewhere may have removed it first.) */
    int rc = mproc_lock_unlink(name);
    cr_assert(rc == 0 || rc == MPROC_ENOENT, "unlink: %s", mproc_err_name(rc));
    assert_all(&r, MPROC_ECORRUPT, "a zero-filled file");
}

/* A segment header with the creator's record but no magic: what a creator
 * leaves while it initialises the body. */
static void plant_unpublished(const char *path, pid_t creator)
{
    struct mproc__seg_hdr h;
    memset(&h, 0, sizeof h);
    h.version = MPROC__SEG_VERSION;
    h.kind = MPROC__SEG_SHM;
    h.hdr_size = MPROC__SEG_HDR_SIZE;
    h.total_size = 8192;
    h.body_size = 8192 - MPROC__SEG_HDR_SIZE;
    h.creator_pid = creator;
    h.creator_uid = (uint32_t)geteuid();
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    cr_assert(pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
    cr_assert(ftruncate(fd, 8192) == 0);
    close(fd);
}

static int exit_at_once(void *arg)
{
    (void)arg;
    return 0;
}

MPROC_TEST(contract, open_of_an_object_whose_creator_died_is_ecorrupt)
{
    char name[64], path[128];
    obj_name(name, sizeof name, "dead");
    obj_path(path, sizeof path, name);
    pid_t dead = mproc_test_fork(exit_at_once, NULL);
    cr_assert(mproc_test_wait(dead, 10000) == 0);
    plant_unpublished(path, dead);
    mproc_shm *s;
    int rc = mproc_shm_open(&s, name);
    (void)mproc_shm_unlink(name);
    MPROC_ASSERT_RC(rc, MPROC_ECORRUPT);
}

MPROC_TEST(contract, open_waits_for_a_live_creator_then_gives_eagain)
{
    char name[64], path[128];
    obj_name(name, sizeof name, "live");
    obj_path(path, sizeof path, name);
    plant_unpublished(path, getpid());
    mproc_shm *s;
    int rc = mproc_shm_open(&s, name);
    (void)mproc_shm_unlink(name);
    MPROC_ASSERT_RC(rc, MPROC_EAGAIN);
}

/* SIGCHLD ignored ============================================================ */

static int return_seven(void *arg)
{
    (void)arg;
    return 7;
}

static int exit_nine(void *arg)
{
    (void)arg;
    exit(9);
    return 0;
}

static int sleep_long(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

MPROC_TEST(contract, join_with_sigchld_ignored_reports_the_exit_code)
{
    signal(SIGCHLD, SIG_IGN);
    mproc_process *p;
    struct mproc_exit st;
    MPROC_ASSERT_OK(mproc_process_start(&p, return_seven, NULL, NULL));
    MPROC_ASSERT_OK(mproc_process_join(p, 10000, &st));
    cr_assert(st.exited == 1 && st.code == 7, "returned 7: exited %d code %d signaled %d",
              st.exited, st.code, st.signaled);
    MPROC_ASSERT_OK(mproc_process_close(p));

    MPROC_ASSERT_OK(mproc_process_start(&p, exit_nine, NULL, NULL));
    MPROC_ASSERT_OK(mproc_process_join(p, 10000, &st));
    cr_assert(st.exited == 1 && st.code == 9, "exit(9): exited %d code %d signaled %d", st.exited,
              st.code, st.signaled);
    MPROC_ASSERT_OK(mproc_process_close(p));
    signal(SIGCHLD, SIG_DFL);
}

MPROC_TEST(contract, join_with_sigchld_ignored_says_the_status_is_lost)
{
    signal(SIGCHLD, SIG_IGN);
    mproc_process *p;
    struct mproc_exit st = {.code = 123};
    MPROC_ASSERT_OK(mproc_process_start(&p, sleep_long, NULL, NULL));
    MPROC_ASSERT_OK(mproc_process_kill(p));
    MPROC_ASSERT_RC(mproc_process_join(p, 10000, &st), MPROC_ECHILD);
    cr_assert(st.code == 123, "status written on failure");
    /* Asking again gives the same answer. */
    MPROC_ASSERT_RC(mproc_process_join(p, 0, &st), MPROC_ECHILD);
    MPROC_ASSERT_OK(mproc_process_close(p));
    signal(SIGCHLD, SIG_DFL);
}

/* Double close and use after close ========================================== */

MPROC_TEST(contract, process_closed_twice_or_used_after_close_is_ebadf)
{
    mproc_process *p;
    MPROC_ASSERT_OK(mproc_process_start(&p, return_seven, NULL, NULL));
    MPROC_ASSERT_OK(mproc_process_join(p, 10000, NULL));
    MPROC_ASSERT_OK(mproc_process_close(p));
    MPROC_ASSERT_RC(mproc_process_close(p), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_process_join(p, 0, NULL), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_process_is_alive(p), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_process_kill(p), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_process_pidfd(p), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_process_pid(p), MPROC_EBADF);
    cr_assert(mproc_process_name(p) == NULL);
}

MPROC_TEST(contract, process_closed_while_running_is_ebadf)
{
    mproc_process *p;
    MPROC_ASSERT_OK(mproc_process_start(&p, sleep_long, NULL, NULL));
    MPROC_ASSERT_OK(mproc_process_kill(p));
    MPROC_ASSERT_OK(mproc_process_close(p));
    MPROC_ASSERT_RC(mproc_process_close(p), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_process_join(p, 0, NULL), MPROC_EBADF);
    /* The library still reaps it (the harness checks no child is left). */
    mproc_test_sleep_ms(50);
    mproc_process *q;
    MPROC_ASSERT_OK(mproc_process_start(&q, exit_at_once, NULL, NULL));
    MPROC_ASSERT_OK(mproc_process_join(q, 10000, NULL));
    MPROC_ASSERT_OK(mproc_process_close(q));
}

MPROC_TEST(contract, shm_closed_twice_or_used_after_close_is_ebadf)
{
    mproc_shm *s;
    MPROC_ASSERT_OK(mproc_shm_create(&s, NULL, 4096));
    MPROC_ASSERT_OK(mproc_shm_close(s));
    MPROC_ASSERT_RC(mproc_shm_close(s), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_shm_fd(s), MPROC_EBADF);
    cr_assert(mproc_shm_ptr(s) == NULL && mproc_shm_size(s) == 0);
}

MPROC_TEST(contract, pipe_closed_twice_or_used_after_close_is_ebadf)
{
    mproc_pipe *a, *b;
    char buf[8];
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_RC(mproc_pipe_close(a), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pipe_send(a, "x", 1, 0), MPROC_EBADF);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, buf, sizeof buf, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pipe_poll(a, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pipe_fd(a), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pipe_wait(&a, 1, 0, NULL), MPROC_EBADF);
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

MPROC_TEST(contract, listener_closed_twice_or_used_after_close_is_ebadf)
{
    char name[64];
    mproc_listener *l;
    mproc_pipe *p;
    obj_name(name, sizeof name, "lst");
    MPROC_ASSERT_OK(mproc_listener_create(&l, name, 0));
    MPROC_ASSERT_OK(mproc_listener_close(l));
    MPROC_ASSERT_RC(mproc_listener_close(l), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_listener_accept(l, &p, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_listener_fd(l), MPROC_EBADF);
}

MPROC_TEST(contract, value_and_array_closed_twice_or_used_after_close_is_ebadf)
{
    mproc_value *v;
    mproc_array *a;
    int64_t x;
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_I64, NULL, 0));
    MPROC_ASSERT_OK(mproc_value_close(v));
    MPROC_ASSERT_RC(mproc_value_close(v), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_value_get_i64(v, &x), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_value_set_i64(v, 1), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_value_acquire(v, 0), MPROC_EBADF);
    cr_assert(mproc_value_ptr(v) == NULL);

    MPROC_ASSERT_OK(mproc_array_create(&a, MPROC_TYPE_I32, 4, NULL, 0));
    MPROC_ASSERT_OK(mproc_array_close(a));
    MPROC_ASSERT_RC(mproc_array_close(a), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_array_add_i64(a, 0, 1, NULL), MPROC_EBADF);
    cr_assert(mproc_array_len(a) == 0 && mproc_array_ptr(a) == NULL);
}

MPROC_TEST(contract, standalone_sync_objects_closed_twice_are_ebadf)
{
    mproc_lock *l;
    mproc_rlock *rl;
    mproc_sem *s;
    mproc_cond *c;
    mproc_event *e;
    mproc_barrier *b;
    MPROC_ASSERT_OK(mproc_lock_create(&l, NULL));
    MPROC_ASSERT_OK(mproc_rlock_create(&rl, NULL));
    MPROC_ASSERT_OK(mproc_sem_create(&s, NULL, 1, 0));
    MPROC_ASSERT_OK(mproc_cond_create(&c, NULL));
    MPROC_ASSERT_OK(mproc_event_create(&e, NULL));
    MPROC_ASSERT_OK(mproc_barrier_create(&b, NULL, 2));
    MPROC_ASSERT_OK(mproc_lock_close(l));
    MPROC_ASSERT_OK(mproc_rlock_close(rl));
    MPROC_ASSERT_OK(mproc_sem_close(s));
    MPROC_ASSERT_OK(mproc_cond_close(c));
    MPROC_ASSERT_OK(mproc_event_close(e));
    MPROC_ASSERT_OK(mproc_barrier_close(b));
    MPROC_ASSERT_RC(mproc_lock_close(l), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_rlock_close(rl), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_sem_close(s), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_cond_close(c), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_event_close(e), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_barrier_close(b), MPROC_EBADF);
}

MPROC_TEST(contract, destroyed_lock_and_rlock_are_ebadf)
{
    mproc_lock l = MPROC_LOCK_INITIALIZER;
    mproc_rlock r = MPROC_RLOCK_INITIALIZER;
    MPROC_ASSERT_OK(mproc_lock_acquire(&l, 0));
    MPROC_ASSERT_RC(mproc_lock_destroy(&l), MPROC_EBUSY);
    MPROC_ASSERT_OK(mproc_lock_release(&l));
    MPROC_ASSERT_OK(mproc_lock_destroy(&l));
    MPROC_ASSERT_RC(mproc_lock_destroy(&l), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_lock_acquire(&l, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_lock_acquire(&l, 100), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_lock_release(&l), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_lock_consistent(&l), MPROC_EBADF);
    /* init makes it a lock again */
    MPROC_ASSERT_OK(mproc_lock_init(&l));
    MPROC_ASSERT_OK(mproc_lock_acquire(&l, 0));
    MPROC_ASSERT_OK(mproc_lock_release(&l));

    MPROC_ASSERT_OK(mproc_rlock_destroy(&r));
    MPROC_ASSERT_RC(mproc_rlock_destroy(&r), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_rlock_acquire(&r, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_rlock_release(&r), MPROC_EBADF);
}

MPROC_TEST(contract, destroyed_cond_and_barrier_are_ebadf)
{
    mproc_cond c = MPROC_COND_INITIALIZER;
    mproc_barrier b;
    MPROC_ASSERT_OK(mproc_cond_destroy(&c));
    MPROC_ASSERT_RC(mproc_cond_destroy(&c), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_cond_acquire(&c, 0), MPROC_EBADF);
    MPROC_ASSERT_OK(mproc_barrier_init(&b, 2));
    MPROC_ASSERT_OK(mproc_barrier_destroy(&b));
    MPROC_ASSERT_RC(mproc_barrier_destroy(&b), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_barrier_wait(&b, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_barrier_parties(&b), MPROC_EBADF);
    MPROC_ASSERT_OK(mproc_barrier_init(&b, 2));
    MPROC_ASSERT_RC(mproc_barrier_parties(&b), 2);
}

MPROC_TEST(contract, closed_standalone_lock_is_ebadf)
{
    mproc_lock *l;
    mproc_rlock *r;
    MPROC_ASSERT_OK(mproc_lock_create(&l, NULL));
    MPROC_ASSERT_OK(mproc_rlock_create(&r, NULL));
    MPROC_ASSERT_OK(mproc_lock_close(l));
    MPROC_ASSERT_OK(mproc_rlock_close(r));
    MPROC_ASSERT_RC(mproc_lock_acquire(l, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_lock_release(l), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_rlock_acquire(r, 0), MPROC_EBADF);
}

/* Tracked semaphore holders ================================================== */

#define HOLDERS 20

struct holder_arg {
    mproc_sem *sem;
    mproc_event *go;
};

static int hold_one_unit(void *arg)
{
    struct holder_arg *h = arg;
    int rc = mproc_sem_acquire(h->sem, 10000);
    if (rc != 0)
        return 10 + (rc == MPROC_ENOSPC);
    /* Hold it until every holder has one. */
    if (mproc_event_wait(h->go, 20000) != 0)
        return 20;
    return mproc_sem_release(h->sem) == 0 ? 0 : 30;
}

MPROC_TEST(contract, tracked_semaphore_of_20_admits_20_holder_processes)
{
    struct holder_arg h;
    MPROC_ASSERT_OK(mproc_sem_create(&h.sem, NULL, HOLDERS, MPROC_SEM_TRACKED));
    MPROC_ASSERT_OK(mproc_event_create(&h.go, NULL));
    mproc_process *p[HOLDERS];
    for (int i = 0; i < HOLDERS; i++)
        MPROC_ASSERT_OK(mproc_process_start(&p[i], hold_one_unit, &h, NULL));
    /* Wait (bounded) until all units are taken or someone gave up. */
    for (int ms = 0; ms < 20000 && mproc_sem_value(h.sem) > 0; ms += 10) {
        if (mproc_active_children(NULL, 0) < HOLDERS)
            break;
        mproc_test_sleep_ms(10);
    }
    MPROC_ASSERT_OK(mproc_event_set(h.go));
    int failed = 0, enospc = 0;
    for (int i = 0; i < HOLDERS; i++) {
        struct mproc_exit st;
        MPROC_ASSERT_OK(mproc_process_join(p[i], 30000, &st));
        failed += !(st.exited && st.code == 0);
        enospc += st.exited && st.code == 11;
        mproc_process_close(p[i]);
    }
    MPROC_ASSERT_OK(mproc_event_close(h.go));
    int left = mproc_sem_value(h.sem);
    MPROC_ASSERT_OK(mproc_sem_close(h.sem));
    cr_assert(failed == 0, "%d of %d holders failed (%d with MPROC_ENOSPC)", failed, HOLDERS,
              enospc);
    cr_assert(left == HOLDERS, "units after all released: %d", left);
}
