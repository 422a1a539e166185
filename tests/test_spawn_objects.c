/* test_spawn_objects.c - objects handed to a spawned child in the start call
 * (struct mproc_object, mproc_arg_<kind>): each kind reaches the child,
 * anonymous and named, the parent sees what the child did; bad input at
 * both ends; handed descriptors reach that one child only.
 *
 * Has its own main() (MPROC_TEST_MAIN): the spawned copies of this binary
 * run the entry points below. An entry reports through its exit code: 0 is
 * success, any other value names the step that failed.
 */
#include "process_util.h"

#include <dirent.h>
#include <sys/mman.h>

/* Entry points (run in the spawned child) ---------------------------------*/

static int put_hello(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_queue *q;
    if (mproc_arg_count() != 1 || mproc_arg_kind(0) != MPROC_OBJ_QUEUE)
        return 1;
    if (mproc_arg_queue(0, &q) != 0)
        return 2;
    int rc = mproc_queue_put(q, "hello", 5, 5000);
    mproc_queue_close(q);
    return rc == 0 ? 0 : 3;
}
MPROC_ENTRY(put_hello)

/* Echoes one message back, then sends "done". */
static int pipe_echo(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_pipe *p;
    char buf[64];
    if (mproc_arg_pipe(0, &p) != 0)
        return 1;
    ssize_t n = mproc_pipe_recv(p, buf, sizeof buf, 5000);
    int rc = n < 0 ? 2 : 0;
    if (rc == 0 && mproc_pipe_send(p, buf, (size_t)n, 5000) != 0)
        rc = 3;
    if (rc == 0 && mproc_pipe_send(p, "done", 4, 5000) != 0)
        rc = 4;
    mproc_pipe_close(p);
    return rc;
}
MPROC_ENTRY(pipe_echo)

/* Writes its argument bytes at the start of the handed segment. */
static int shm_write(const void *arg, size_t len)
{
    mproc_shm *s;
    if (mproc_arg_shm(0, &s) != 0)
        return 1;
    if (mproc_shm_size(s) < len)
        return 2;
    memcpy(mproc_shm_ptr(s), arg, len);
    mproc_shm_close(s);
    return 0;
}
MPROC_ENTRY(shm_write)

/* Takes the handed lock (or rlock) and dies holding it. */
static int lock_and_die(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    if (mproc_arg_kind(0) == MPROC_OBJ_LOCK) {
        mproc_lock *l;
        if (mproc_arg_lock(0, &l) != 0 || mproc_lock_acquire(l, 5000) != 0)
            return 1;
    } else {
        mproc_rlock *l;
        if (mproc_arg_rlock(0, &l) != 0 || mproc_rlock_acquire(l, 5000) != 0)
            return 2;
    }
    raise(SIGKILL);
    return 3;
}
MPROC_ENTRY(lock_and_die)

static int sem_release_twice(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_sem *s;
    if (mproc_arg_sem(0, &s) != 0)
        return 1;
    int rc = mproc_sem_release(s) == 0 && mproc_sem_release(s) == 0 ? 0 : 2;
    mproc_sem_close(s);
    return rc;
}
MPROC_ENTRY(sem_release_twice)

/* Object 0 a condition, 1 a value: set the value to 1 under the condition
 * and wake the waiter. */
static int cond_notify(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_cond *c;
    mproc_value *v;
    if (mproc_arg_cond(0, &c) != 0 || mproc_arg_value(1, &v) != 0)
        return 1;
    int rc = mproc_cond_acquire(c, 5000) == 0 ? 0 : 2;
    if (rc == 0) {
        mproc_value_set_i64(v, 1);
        if (mproc_cond_notify_all(c) != 0)
            rc = 3;
        mproc_cond_release(c);
    }
    mproc_cond_close(c);
    mproc_value_close(v);
    return rc;
}
MPROC_ENTRY(cond_notify)

static int event_set(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_event *e;
    if (mproc_arg_event(0, &e) != 0)
        return 1;
    int rc = mproc_event_set(e) == 0 ? 0 : 2;
    mproc_event_close(e);
    return rc;
}
MPROC_ENTRY(event_set)

static int barrier_meet(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_barrier *b;
    if (mproc_arg_barrier(0, &b) != 0)
        return 1;
    int rc = mproc_barrier_wait(b, 5000);
    mproc_barrier_close(b);
    return rc >= 0 ? 0 : 2;
}
MPROC_ENTRY(barrier_meet)

/* Object 0 a value (+= 5), object 1 an array (element i = i * i). */
static int value_and_array(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_value *v;
    mproc_array *a;
    if (mproc_arg_value(0, &v) != 0)
        return 1;
    if (mproc_arg_array(1, &a) != 0)
        return 2;
    int rc = mproc_value_add_i64(v, 5, NULL) == 0 ? 0 : 3;
    for (size_t i = 0; rc == 0 && i < mproc_array_len(a); i++)
        if (mproc_array_set_i64(a, i, (int64_t)(i * i)) != 0)
            rc = 4;
    mproc_value_close(v);
    mproc_array_close(a);
    return rc;
}
MPROC_ENTRY(value_and_array)

/* Object 0 is a queue: every other getter refuses it, indices past the end
 * are out of range, and asking twice gives two working handles. */
static int wrong_kind_and_range(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_lock *l;
    mproc_value *v;
    mproc_pipe *p;
    mproc_shm *s;
    mproc_queue *q1, *q2;
    if (mproc_arg_lock(0, &l) != MPROC_EFOREIGN || mproc_arg_value(0, &v) != MPROC_EFOREIGN ||
        mproc_arg_pipe(0, &p) != MPROC_EFOREIGN || mproc_arg_shm(0, &s) != MPROC_EFOREIGN)
        return 1;
    if (mproc_arg_queue(1, &q1) != MPROC_ERANGE || mproc_arg_kind(1) != MPROC_ERANGE ||
        mproc_arg_queue((size_t)-1, &q1) != MPROC_ERANGE)
        return 2;
    if (mproc_arg_queue(0, NULL) != MPROC_EINVAL)
        return 3;
    if (mproc_arg_queue(0, &q1) != 0)
        return 4;
    if (mproc_arg_queue(0, &q2) != 0)
        return 5;
    int rc = mproc_queue_put(q2, "x", 1, 5000) == 0 ? 0 : 6;
    mproc_queue_close(q1);
    mproc_queue_close(q2);
    return rc;
}
MPROC_ENTRY(wrong_kind_and_range)

/* 0 if no descriptor of this process refers to an mproc segment (a memfd
 * named "mproc" or a file /dev/shm/mproc-*). */
static int no_mproc_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 10;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        char path[300], target[256];
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strstr(target, "memfd:mproc") || strstr(target, "/dev/shm/mproc-"))
            found++;
    }
    closedir(d);
    return found ? 11 : 0;
}

static int check_no_mproc_fds(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return mproc_arg_count() == 0 ? no_mproc_fds() : 12;
}
MPROC_ENTRY(check_no_mproc_fds)

/* Has a queue; spawns a child of its own with nothing handed: that child
 * must not see the queue's descriptor. */
static int spawn_grandchild(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    mproc_process *p;
    struct mproc_exit st;
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
                                   .entry = "check_no_mproc_fds"};
    if (mproc_arg_count() != 1)
        return 1;
    if (mproc_process_start(&p, NULL, NULL, &o) != 0)
        return 2;
    int rc = mproc_process_join(p, 10000, &st);
    mproc_process_close(p);
    if (rc != 0 || !st.exited)
        return 3;
    return st.code == 0 ? 0 : 20 + st.code;
}
MPROC_ENTRY(spawn_grandchild)

/* Stdin was closed in the parent: it must stay closed here, not become a
 * handed object's descriptor. */
static int stdin_stays_closed(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    if (fcntl(0, F_GETFD) >= 0)
        return 1;
    return put_hello(NULL, 0) == 0 ? 0 : 2;
}
MPROC_ENTRY(stdin_stays_closed)

/* Helpers -------------------------------------------------------------------*/

static struct mproc_exit run_with(const char *entry, const struct mproc_object *objs, size_t n,
                                  const void *arg, size_t len)
{
    drop_sandbox_env();
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
                                   .entry = entry,
                                   .arg = arg,
                                   .arg_len = len,
                                   .objects = objs,
                                   .n_objects = n};
    mproc_process *p = NULL;
    MPROC_ASSERT_OK(mproc_process_start(&p, NULL, NULL, &o));
    struct mproc_exit st = join_ok(p);
    MPROC_ASSERT_OK(mproc_process_close(p));
    return st;
}

static int start_with(const char *entry, const struct mproc_object *objs, size_t n)
{
    drop_sandbox_env();
    struct mproc_process_opts o = {
        .start_method = MPROC_START_SPAWN, .entry = entry, .objects = objs, .n_objects = n};
    mproc_process *p = NULL;
    int rc = mproc_process_start(&p, NULL, NULL, &o);
    if (rc == 0) {
        join_ok(p);
        mproc_process_close(p);
    }
    cr_assert(rc != 0 || p != NULL);
    return rc;
}

static void name_for(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "spawnobj-%s-%d", what, (int)getpid());
}

/* Each kind -----------------------------------------------------------------*/

static void queue_roundtrip(const char *name)
{
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, name, NULL));
    struct mproc_object objs[] = {{MPROC_OBJ_QUEUE, q}};
    assert_exited(run_with("put_hello", objs, 1, NULL, 0), 0);
    char buf[16];
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 5000), 5);
    cr_assert_eq(memcmp(buf, "hello", 5), 0);
    /* The creator's close removes a queue's name. */
    MPROC_ASSERT_OK(mproc_queue_close(q));
    if (name)
        MPROC_ASSERT_RC(mproc_queue_unlink(name), MPROC_ENOENT);
}

MPROC_TEST(spawn_objects, anonymous_queue_reaches_the_spawned_child)
{
    queue_roundtrip(NULL);
}

MPROC_TEST(spawn_objects, named_queue_reaches_the_spawned_child)
{
    char name[64];
    name_for(name, sizeof name, "q");
    queue_roundtrip(name);
}

MPROC_TEST(spawn_objects, pipe_end_reaches_the_spawned_child)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, MPROC_PIPE_DUPLEX));
    struct mproc_object objs[] = {{MPROC_OBJ_PIPE, b}};
    drop_sandbox_env();
    struct mproc_process_opts o = {
        .start_method = MPROC_START_SPAWN, .entry = "pipe_echo", .objects = objs, .n_objects = 1};
    mproc_process *p;
    MPROC_ASSERT_OK(mproc_process_start(&p, NULL, NULL, &o));
    MPROC_ASSERT_OK(mproc_pipe_close(b)); /* the child has its own copy */
    MPROC_ASSERT_OK(mproc_pipe_send(a, "ping", 4, 5000));
    char buf[16];
    cr_assert_eq(mproc_pipe_recv(a, buf, sizeof buf, 5000), 4);
    cr_assert_eq(memcmp(buf, "ping", 4), 0);
    cr_assert_eq(mproc_pipe_recv(a, buf, sizeof buf, 5000), 4);
    cr_assert_eq(memcmp(buf, "done", 4), 0);
    assert_exited(join_ok(p), 0);
    /* The child's copy is gone with it: the stream ends. */
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, buf, sizeof buf, 5000), MPROC_ECLOSED);
    MPROC_ASSERT_OK(mproc_process_close(p));
    MPROC_ASSERT_OK(mproc_pipe_close(a));
}

MPROC_TEST(spawn_objects, pipe_end_with_unread_data_is_refused)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, MPROC_PIPE_DUPLEX));
    /* Two messages arrive in one read: the second waits in b's handle. */
    MPROC_ASSERT_OK(mproc_pipe_send(a, "one", 3, 5000));
    MPROC_ASSERT_OK(mproc_pipe_send(a, "two", 3, 5000));
    char buf[8];
    cr_assert_eq(mproc_pipe_recv(b, buf, sizeof buf, 5000), 3);
    struct mproc_object objs[] = {{MPROC_OBJ_PIPE, b}};
    MPROC_ASSERT_RC(start_with("pipe_echo", objs, 1), MPROC_EBUSY);
    cr_assert_eq(mproc_pipe_recv(b, buf, sizeof buf, 5000), 3);
    cr_assert_eq(memcmp(buf, "two", 3), 0, "the refused start lost a message");
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

static void shm_roundtrip(const char *name)
{
    mproc_shm *s;
    MPROC_ASSERT_OK(mproc_shm_create(&s, name, 4096));
    struct mproc_object objs[] = {{MPROC_OBJ_SHM, s}};
    static const char msg[] = "written by the spawned child";
    assert_exited(run_with("shm_write", objs, 1, msg, sizeof msg), 0);
    cr_assert_str_eq(mproc_shm_ptr(s), msg);
    MPROC_ASSERT_OK(mproc_shm_close(s));
    if (name)
        MPROC_ASSERT_OK(mproc_shm_unlink(name));
}

MPROC_TEST(spawn_objects, anonymous_shm_reaches_the_spawned_child)
{
    shm_roundtrip(NULL);
}

MPROC_TEST(spawn_objects, named_shm_reaches_the_spawned_child)
{
    char name[64];
    name_for(name, sizeof name, "shm");
    shm_roundtrip(name);
}

MPROC_TEST(spawn_objects, anonymous_lock_held_by_a_dead_child_gives_eownerdead)
{
    mproc_lock *l;
    MPROC_ASSERT_OK(mproc_lock_create(&l, NULL));
    struct mproc_object objs[] = {{MPROC_OBJ_LOCK, l}};
    assert_killed_by(run_with("lock_and_die", objs, 1, NULL, 0), SIGKILL);
    MPROC_ASSERT_RC(mproc_lock_acquire(l, 5000), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_lock_consistent(l));
    MPROC_ASSERT_OK(mproc_lock_release(l));
    MPROC_ASSERT_OK(mproc_lock_close(l));
}

MPROC_TEST(spawn_objects, named_lock_reaches_the_child_after_its_name_is_gone)
{
    char name[64];
    name_for(name, sizeof name, "lock");
    mproc_lock *l;
    MPROC_ASSERT_OK(mproc_lock_create(&l, name));
    struct mproc_object objs[] = {{MPROC_OBJ_LOCK, l}};
    drop_sandbox_env();
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
                                   .entry = "lock_and_die",
                                   .objects = objs,
                                   .n_objects = 1};
    mproc_process *p;
    MPROC_ASSERT_OK(mproc_process_start(&p, NULL, NULL, &o));
    /* The child holds a descriptor, not the name. */
    MPROC_ASSERT_OK(mproc_lock_unlink(name));
    assert_killed_by(join_ok(p), SIGKILL);
    MPROC_ASSERT_OK(mproc_process_close(p));
    MPROC_ASSERT_RC(mproc_lock_acquire(l, 5000), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_lock_consistent(l));
    MPROC_ASSERT_OK(mproc_lock_release(l));
    MPROC_ASSERT_OK(mproc_lock_close(l));
}

MPROC_TEST(spawn_objects, named_lock_unlinked_before_the_start_gives_enoent)
{
    char name[64];
    name_for(name, sizeof name, "gone");
    mproc_lock *l, *other;
    MPROC_ASSERT_OK(mproc_lock_create(&l, name));
    MPROC_ASSERT_OK(mproc_lock_unlink(name));
    struct mproc_object objs[] = {{MPROC_OBJ_LOCK, l}};
    MPROC_ASSERT_RC(start_with("lock_and_die", objs, 1), MPROC_ENOENT);
    /* A new object under the same name is not the one handed. */
    MPROC_ASSERT_OK(mproc_lock_create(&other, name));
    MPROC_ASSERT_RC(start_with("lock_and_die", objs, 1), MPROC_ENOENT);
    MPROC_ASSERT_OK(mproc_lock_close(other));
    MPROC_ASSERT_OK(mproc_lock_unlink(name));
    MPROC_ASSERT_OK(mproc_lock_close(l));
}

MPROC_TEST(spawn_objects, rlock_held_by_a_dead_child_gives_eownerdead)
{
    mproc_rlock *l;
    MPROC_ASSERT_OK(mproc_rlock_create(&l, NULL));
    struct mproc_object objs[] = {{MPROC_OBJ_RLOCK, l}};
    assert_killed_by(run_with("lock_and_die", objs, 1, NULL, 0), SIGKILL);
    MPROC_ASSERT_RC(mproc_rlock_acquire(l, 5000), MPROC_EOWNERDEAD);
    MPROC_ASSERT_OK(mproc_rlock_consistent(l));
    MPROC_ASSERT_OK(mproc_rlock_release(l));
    MPROC_ASSERT_OK(mproc_rlock_close(l));
}

MPROC_TEST(spawn_objects, semaphore_released_by_the_child_is_seen_by_the_parent)
{
    mproc_sem *s;
    MPROC_ASSERT_OK(mproc_sem_create(&s, NULL, 0, 0));
    struct mproc_object objs[] = {{MPROC_OBJ_SEM, s}};
    assert_exited(run_with("sem_release_twice", objs, 1, NULL, 0), 0);
    MPROC_ASSERT_OK(mproc_sem_acquire(s, 0));
    MPROC_ASSERT_OK(mproc_sem_acquire(s, 0));
    MPROC_ASSERT_RC(mproc_sem_acquire(s, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_sem_close(s));
}

MPROC_TEST(spawn_objects, condition_notified_by_the_child_wakes_the_parent)
{
    char name[64];
    name_for(name, sizeof name, "cond");
    mproc_cond *c;
    mproc_value *v;
    MPROC_ASSERT_OK(mproc_cond_create(&c, name));
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_I64, NULL, MPROC_VALUE_RAW));
    struct mproc_object objs[] = {{MPROC_OBJ_COND, c}, {MPROC_OBJ_VALUE, v}};
    MPROC_ASSERT_OK(mproc_cond_acquire(c, 5000));
    drop_sandbox_env();
    struct mproc_process_opts o = {
        .start_method = MPROC_START_SPAWN, .entry = "cond_notify", .objects = objs, .n_objects = 2};
    mproc_process *p;
    MPROC_ASSERT_OK(mproc_process_start(&p, NULL, NULL, &o));
    int64_t x = 0;
    for (int i = 0; i < 50 && x == 0; i++) {
        int rc = mproc_cond_wait(c, 200);
        cr_assert(rc == 0 || rc == MPROC_ETIMEDOUT, "cond_wait: %s", mproc_err_name(rc));
        MPROC_ASSERT_OK(mproc_value_get_i64(v, &x));
    }
    cr_assert_eq(x, 1);
    MPROC_ASSERT_OK(mproc_cond_release(c));
    assert_exited(join_ok(p), 0);
    MPROC_ASSERT_OK(mproc_process_close(p));
    MPROC_ASSERT_OK(mproc_cond_close(c));
    MPROC_ASSERT_OK(mproc_cond_unlink(name));
    MPROC_ASSERT_OK(mproc_value_close(v));
}

MPROC_TEST(spawn_objects, event_set_by_the_child_is_seen_by_the_parent)
{
    mproc_event *e;
    MPROC_ASSERT_OK(mproc_event_create(&e, NULL));
    struct mproc_object objs[] = {{MPROC_OBJ_EVENT, e}};
    assert_exited(run_with("event_set", objs, 1, NULL, 0), 0);
    cr_assert_eq(mproc_event_is_set(e), 1);
    MPROC_ASSERT_OK(mproc_event_close(e));
}

MPROC_TEST(spawn_objects, barrier_meets_the_spawned_child)
{
    mproc_barrier *b;
    MPROC_ASSERT_OK(mproc_barrier_create(&b, NULL, 2));
    struct mproc_object objs[] = {{MPROC_OBJ_BARRIER, b}};
    drop_sandbox_env();
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
                                   .entry = "barrier_meet",
                                   .objects = objs,
                                   .n_objects = 1};
    mproc_process *p;
    MPROC_ASSERT_OK(mproc_process_start(&p, NULL, NULL, &o));
    int rc = mproc_barrier_wait(b, 10000);
    cr_assert(rc >= 0, "barrier_wait: %s", mproc_err_name(rc));
    assert_exited(join_ok(p), 0);
    MPROC_ASSERT_OK(mproc_process_close(p));
    MPROC_ASSERT_OK(mproc_barrier_close(b));
}

static void value_array_roundtrip(const char *vname, const char *aname)
{
    mproc_value *v;
    mproc_array *a;
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_I64, vname, 0));
    MPROC_ASSERT_OK(mproc_array_create(&a, MPROC_TYPE_I32, 8, aname, 0));
    MPROC_ASSERT_OK(mproc_value_set_i64(v, 37));
    struct mproc_object objs[] = {{MPROC_OBJ_VALUE, v}, {MPROC_OBJ_ARRAY, a}};
    assert_exited(run_with("value_and_array", objs, 2, NULL, 0), 0);
    int64_t x;
    MPROC_ASSERT_OK(mproc_value_get_i64(v, &x));
    cr_assert_eq(x, 42);
    for (size_t i = 0; i < 8; i++) {
        MPROC_ASSERT_OK(mproc_array_get_i64(a, i, &x));
        cr_assert_eq(x, (int64_t)(i * i));
    }
    MPROC_ASSERT_OK(mproc_value_close(v));
    MPROC_ASSERT_OK(mproc_array_close(a));
    if (vname)
        MPROC_ASSERT_OK(mproc_value_unlink(vname));
    if (aname)
        MPROC_ASSERT_OK(mproc_array_unlink(aname));
}

MPROC_TEST(spawn_objects, anonymous_value_and_array_reach_the_spawned_child)
{
    value_array_roundtrip(NULL, NULL);
}

MPROC_TEST(spawn_objects, named_value_and_array_reach_the_spawned_child)
{
    char vn[64], an[64];
    name_for(vn, sizeof vn, "value");
    name_for(an, sizeof an, "array");
    value_array_roundtrip(vn, an);
}

/* Bad input -----------------------------------------------------------------*/

MPROC_TEST(spawn_objects, child_getters_refuse_wrong_kind_and_index_out_of_range)
{
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    struct mproc_object objs[] = {{MPROC_OBJ_QUEUE, q}};
    assert_exited(run_with("wrong_kind_and_range", objs, 1, NULL, 0), 0);
    char c;
    cr_assert_eq(mproc_queue_get(q, &c, 1, 5000), 1);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(spawn_objects, getters_in_a_process_that_was_not_spawned_give_erange)
{
    mproc_queue *q = NULL;
    mproc_lock *l = NULL;
    cr_assert_eq(mproc_arg_count(), 0);
    MPROC_ASSERT_RC(mproc_arg_kind(0), MPROC_ERANGE);
    MPROC_ASSERT_RC(mproc_arg_queue(0, &q), MPROC_ERANGE);
    MPROC_ASSERT_RC(mproc_arg_lock(0, &l), MPROC_ERANGE);
    cr_assert_null(q);
    cr_assert_null(l);
}

MPROC_TEST(spawn_objects, start_refuses_bad_objects_and_leaves_nothing_behind)
{
    mproc_queue *q;
    mproc_lock in_place = MPROC_LOCK_INITIALIZER;
    mproc_value *arr_as_value;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    MPROC_ASSERT_OK(mproc_value_create(&arr_as_value, MPROC_TYPE_I64, NULL, 0));
    int fds = mproc_test_fd_count();

    struct mproc_object null_ptr[] = {{MPROC_OBJ_QUEUE, q}, {MPROC_OBJ_LOCK, NULL}};
    MPROC_ASSERT_RC(start_with("put_hello", null_ptr, 2), MPROC_EINVAL);
    struct mproc_object bad_kind[] = {{MPROC_OBJ_QUEUE, q}, {99, q}};
    MPROC_ASSERT_RC(start_with("put_hello", bad_kind, 2), MPROC_EINVAL);
    struct mproc_object zero_kind[] = {{0, q}};
    MPROC_ASSERT_RC(start_with("put_hello", zero_kind, 1), MPROC_EINVAL);
    /* A lock in this process's own memory is not a standalone object. */
    struct mproc_object not_standalone[] = {{MPROC_OBJ_LOCK, &in_place}};
    MPROC_ASSERT_RC(start_with("put_hello", not_standalone, 1), MPROC_EINVAL);
    /* A Value handed as a lock: its kind does not match. */
    struct mproc_object mismatch[] = {{MPROC_OBJ_LOCK, mproc_value_ptr(arr_as_value)}};
    MPROC_ASSERT_RC(start_with("put_hello", mismatch, 1), MPROC_EINVAL);
    MPROC_ASSERT_RC(start_with("put_hello", NULL, 1), MPROC_EINVAL);
    struct mproc_object many[MPROC_SPAWN_MAX_OBJECTS + 1];
    for (size_t i = 0; i < MPROC_SPAWN_MAX_OBJECTS + 1; i++)
        many[i] = (struct mproc_object){MPROC_OBJ_QUEUE, q};
    MPROC_ASSERT_RC(start_with("put_hello", many, MPROC_SPAWN_MAX_OBJECTS + 1), MPROC_EINVAL);
    /* The fork method hands objects by inheritance only. */
    struct mproc_process_opts o = {.objects = many, .n_objects = 1};
    mproc_process *p = NULL;
    MPROC_ASSERT_RC(mproc_process_start(&p, sleep_forever, NULL, &o), MPROC_EINVAL);
    cr_assert_null(p);
    cr_assert_eq(mproc_test_fd_count(), fds, "a refused start left a descriptor open");
    cr_assert_eq(mproc_test_child_count(), 0);

    /* The most objects a start takes all arrive. */
    MPROC_ASSERT_OK(start_with("check_no_mproc_fds", NULL, 0));
    MPROC_ASSERT_RC(start_with("put_hello", many, MPROC_SPAWN_MAX_OBJECTS), 0);
    cr_assert_eq(mproc_test_fd_count(), fds);
    MPROC_ASSERT_OK(mproc_value_close(arr_as_value));
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

/* Descriptors go to that one child only -------------------------------------*/

/* In a forked child without stdin: hand a queue to a spawned grandchild. */
static int hand_without_stdin(void *arg)
{
    (void)arg;
    mproc_queue *q;
    if (mproc_queue_create(&q, NULL, NULL) != 0)
        return 1;
    close(0); /* now the lowest free number */
    struct mproc_object objs[] = {{MPROC_OBJ_QUEUE, q}};
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
                                   .entry = "stdin_stays_closed",
                                   .objects = objs,
                                   .n_objects = 1};
    mproc_process *p;
    struct mproc_exit st;
    if (mproc_process_start(&p, NULL, NULL, &o) != 0)
        return 2;
    int rc = mproc_process_join(p, 10000, &st);
    mproc_process_close(p);
    if (rc != 0 || !st.exited || st.code != 0)
        return 10 + (rc == 0 && st.exited ? st.code : 9);
    char buf[8];
    rc = mproc_queue_get(q, buf, sizeof buf, 5000) == 5 ? 0 : 3;
    mproc_queue_close(q);
    return rc;
}

MPROC_TEST(spawn_objects, a_handed_descriptor_never_takes_a_closed_stdio_number)
{
    drop_sandbox_env();
    pid_t c = mproc_test_fork(hand_without_stdin, NULL);
    int st = mproc_test_wait(c, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
}

MPROC_TEST(spawn_objects, handed_descriptors_do_not_reach_the_childs_own_children)
{
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    struct mproc_object objs[] = {{MPROC_OBJ_QUEUE, q}};
    assert_exited(run_with("spawn_grandchild", objs, 1, NULL, 0), 0);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

struct hander {
    mproc_queue *q;
    int failures;
};

static void *hand_queue_repeatedly(void *arg)
{
    struct hander *h = arg;
    struct mproc_object objs[] = {{MPROC_OBJ_QUEUE, h->q}};
    struct mproc_process_opts o = {
        .start_method = MPROC_START_SPAWN, .entry = "put_hello", .objects = objs, .n_objects = 1};
    for (int i = 0; i < 10; i++) {
        mproc_process *p;
        struct mproc_exit st;
        if (mproc_process_start(&p, NULL, NULL, &o) != 0) {
            h->failures++;
            continue;
        }
        if (mproc_process_join(p, 10000, &st) != 0 || !st.exited || st.code != 0)
            h->failures++;
        mproc_process_close(p);
    }
    return NULL;
}

MPROC_TEST(spawn_objects, a_sibling_started_meanwhile_gets_no_handed_descriptor)
{
    struct hander h = {0};
    MPROC_ASSERT_OK(mproc_queue_create(&h.q, NULL, NULL));
    drop_sandbox_env();
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, hand_queue_repeatedly, &h), 0);
    for (int i = 0; i < 10; i++)
        assert_exited(run_with("check_no_mproc_fds", NULL, 0, NULL, 0), 0);
    pthread_join(t, NULL);
    cr_assert_eq(h.failures, 0);
    char buf[8];
    for (int i = 0; i < 10; i++)
        cr_assert_eq(mproc_queue_get(h.q, buf, sizeof buf, 5000), 5);
    MPROC_ASSERT_OK(mproc_queue_close(h.q));
}

/* A hand-over record built by hand ------------------------------------------
 * The layout of src/linux/spawn.c (version 2), copied here on purpose: a
 * change of layout must show up as a failure of the valid case below. */

struct rec_hdr {
    uint32_t magic, version, entry_len, name_len;
    uint64_t arg_len;
    int32_t ppid, daemon;
    uint64_t pstart;
    uint32_t n_objs, reserved;
};
struct rec_obj {
    uint32_t kind, flags;
    int32_t fd;
    uint32_t reserved;
};

struct rec_case {
    uint32_t n_objs; /* as announced in the header */
    struct rec_obj obj;
};

/* In a forked child: write the record, point MPROC_SPAWN at it and call
 * mproc_main. A refused record makes it return < 0 (exit 0 here); an
 * accepted one runs put_hello and exits with its code. */
static int main_with_record(void *arg)
{
    const struct rec_case *c = arg;
    static const char entry[] = "put_hello";
    struct rec_hdr h = {.magic = 0x4e505348u,
                        .version = 2,
                        .entry_len = sizeof entry - 1,
                        .ppid = (int32_t)getppid(),
                        .n_objs = c->n_objs};
    int fd = memfd_create("record", MFD_ALLOW_SEALING);
    if (fd < 0)
        return 100;
    struct rec_obj o = c->obj;
    if (o.fd == -2)
        o.fd = fd; /* the record's own descriptor */
    if (write(fd, &h, sizeof h) != (ssize_t)sizeof h ||
        write(fd, entry, sizeof entry - 1) != (ssize_t)(sizeof entry - 1) ||
        write(fd, &o, sizeof o) != (ssize_t)sizeof o ||
        fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK) != 0)
        return 101;
    char var[64];
    snprintf(var, sizeof var, "%d:%d", fd, (int)getppid());
    setenv("MPROC_SPAWN", var, 1);
    char *argv[] = {"x", NULL};
    return mproc_main(1, argv) < 0 ? 0 : 102;
}

MPROC_TEST(spawn_objects, child_refuses_a_record_with_bad_objects)
{
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    int qfd = mproc_queue_fd(q);
    struct {
        const char *what;
        struct rec_case c;
    } bad[] = {
        {"a descriptor the child does not have", {1, {MPROC_OBJ_QUEUE, 0, 999, 0}}},
        {"a negative descriptor", {1, {MPROC_OBJ_QUEUE, 0, -1, 0}}},
        {"the record's own descriptor", {1, {MPROC_OBJ_QUEUE, 0, -2, 0}}},
        {"an unknown kind", {1, {99, 0, qfd, 0}}},
        {"kind 0", {1, {0, 0, qfd, 0}}},
        {"a Pipe end that is a file", {1, {MPROC_OBJ_PIPE, 3, qfd, 0}}},
        {"a Pipe end without a direction", {1, {MPROC_OBJ_PIPE, 0, qfd, 0}}},
        {"flags on a queue", {1, {MPROC_OBJ_QUEUE, 1, qfd, 0}}},
        {"a reserved field set", {1, {MPROC_OBJ_QUEUE, 0, qfd, 7}}},
        {"more objects than the file holds", {2, {MPROC_OBJ_QUEUE, 0, qfd, 0}}},
        {"fewer objects than the file holds", {0, {MPROC_OBJ_QUEUE, 0, qfd, 0}}},
        {"more than MPROC_SPAWN_MAX_OBJECTS",
         {MPROC_SPAWN_MAX_OBJECTS + 1, {MPROC_OBJ_QUEUE, 0, qfd, 0}}},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pid_t c = mproc_test_fork(main_with_record, &bad[i].c);
        int st = mproc_test_wait(c, 5000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %d", bad[i].what, st);
    }
    /* The same record with a good object is accepted (the layout above is
     * the library's): the entry runs and puts its message. */
    struct rec_case good = {1, {MPROC_OBJ_QUEUE, 0, qfd, 0}};
    pid_t c = mproc_test_fork(main_with_record, &good);
    int st = mproc_test_wait(c, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "valid record: status %d", st);
    char buf[8];
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 5000), 5);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST_MAIN()
