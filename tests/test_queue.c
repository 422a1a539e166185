/* test_queue.c - the shared-memory queue: semantics, processes, validation. */
#include "harness.h"

#include "internal.h"
#include "queue/queue_internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static mproc_queue *mk(size_t cap, size_t max_msgs, unsigned flags)
{
    mproc_queue *q = NULL;
    struct mproc_queue_opts o = {.capacity = cap, .max_msgs = max_msgs, .flags = flags};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    return q;
}

static void exited_ok(pid_t pid)
{
    int st = mproc_test_wait(pid, 20000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status 0x%x", st);
}

MPROC_TEST(queue, put_get_round_trip)
{
    mproc_queue *q = mk(0, 0, 0);
    MPROC_ASSERT_OK(mproc_queue_put(q, "hello", 5, 0));
    char buf[16];
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 0), 5);
    cr_assert(memcmp(buf, "hello", 5) == 0);
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, fifo_order_one_to_one_across_wraps)
{
    mproc_queue *q = mk(4096, 0, 0);
    uint32_t next_put = 0, next_get = 0;
    for (int round = 0; round < 2000; round++) {
        int n = (round * 7) % 13 + 1;
        for (int i = 0; i < n; i++) {
            char msg[200];
            size_t len = (next_put * 31) % sizeof msg;
            if (len < 4)
                len = 4;
            memset(msg, (int)next_put, len);
            memcpy(msg, &next_put, 4);
            if (mproc_queue_put(q, msg, len, 0) != 0)
                break;
            next_put++;
        }
        char out[256];
        ssize_t r;
        while ((r = mproc_queue_get(q, out, sizeof out, 0)) >= 0) {
            uint32_t id;
            memcpy(&id, out, 4);
            cr_assert_eq(id, next_get);
            size_t len = (id * 31) % 200;
            cr_assert_eq((size_t)r, len < 4 ? 4 : len);
            for (ssize_t j = 4; j < r; j++)
                cr_assert_eq((unsigned char)out[j], (unsigned char)id);
            next_get++;
        }
        MPROC_ASSERT_RC((int)r, MPROC_EAGAIN);
    }
    cr_assert_eq(next_get, next_put);
    cr_assert(next_put > 10000);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, variable_sizes_from_zero_to_exact_capacity)
{
    /* each message carries a 16-byte entry in the ring: a ring of 8192
     * bytes holds a message of 8176 */
    mproc_queue *q = mk(8192 - 16, 0, 0);
    ssize_t cap = mproc_queue_capacity(q);
    cr_assert_eq(cap, 8192 - 16);
    char *big = malloc((size_t)cap), *out = malloc((size_t)cap);
    for (ssize_t i = 0; i < cap; i++)
        big[i] = (char)(i * 7);
    MPROC_ASSERT_OK(mproc_queue_put(q, NULL, 0, 0));
    cr_assert_eq(mproc_queue_get(q, out, 0, 0), 0);
    /* exactly capacity, after the ring position moved (wraps in place) */
    MPROC_ASSERT_OK(mproc_queue_put(q, big, 100, 0));
    cr_assert_eq(mproc_queue_get(q, out, (size_t)cap, 0), 100);
    MPROC_ASSERT_OK(mproc_queue_put(q, big, (size_t)cap, 0));
    cr_assert_eq(mproc_queue_full(q), 1);
    MPROC_ASSERT_RC(mproc_queue_put(q, NULL, 0, 0), MPROC_EAGAIN);
    cr_assert_eq(mproc_queue_get(q, out, (size_t)cap, 0), cap);
    cr_assert(memcmp(big, out, (size_t)cap) == 0);
    free(big);
    free(out);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, put_over_capacity_is_emsgsize_and_enqueues_nothing)
{
    mproc_queue *q = mk(4080, 0, 0);
    cr_assert_eq(mproc_queue_capacity(q), 4080);
    char *big = calloc(1, 8192);
    MPROC_ASSERT_RC(mproc_queue_put(q, big, 4081, MPROC_FOREVER), MPROC_EMSGSIZE);
    cr_assert_eq(mproc_queue_qsize(q), 0);
    cr_assert_eq(mproc_queue_empty(q), 1);
    void *p;
    MPROC_ASSERT_RC(mproc_queue_reserve(q, 4081, &p, 0), MPROC_EMSGSIZE);
    free(big);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, small_receive_buffer_keeps_the_message)
{
    mproc_queue *q = mk(0, 0, 0);
    MPROC_ASSERT_OK(mproc_queue_put(q, "0123456789", 10, 0));
    char buf[16];
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, 4, 0), MPROC_EMSGSIZE);
    cr_assert_eq(mproc_queue_peek_size(q, 0), 10);
    cr_assert_eq(mproc_queue_qsize(q), 1);
    void *m = NULL;
    cr_assert_eq(mproc_queue_get_alloc(q, &m, 0), 10);
    cr_assert(memcmp(m, "0123456789", 10) == 0);
    free(m);
    cr_assert_eq(mproc_queue_qsize(q), 0);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, get_times_out_when_empty)
{
    mproc_queue *q = mk(0, 0, 0);
    char buf[8];
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 30), MPROC_ETIMEDOUT);
    MPROC_ASSERT_RC((int)mproc_queue_peek_size(q, 10), MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, put_times_out_when_full)
{
    mproc_queue *q = mk(4096 - 16, 0, 0); /* a ring of 4096 bytes */
    int n = 0;
    while (mproc_queue_put(q, "x", 1, 0) == 0)
        n++;
    cr_assert_eq(n, 4096 / 128); /* one 128-byte unit each, entry included */
    MPROC_ASSERT_RC(mproc_queue_put(q, "x", 1, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_queue_put(q, "x", 1, 30), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_queue_full(q), 1);
    cr_assert_eq(mproc_queue_qsize(q), n);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, max_msgs_bounds_the_count)
{
    mproc_queue *q = mk(4096, 3, 0);
    for (int i = 0; i < 3; i++)
        MPROC_ASSERT_OK(mproc_queue_put(q, "x", 1, 0));
    MPROC_ASSERT_RC(mproc_queue_put(q, "x", 1, 0), MPROC_EAGAIN);
    char buf[4];
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 0), 1);
    MPROC_ASSERT_OK(mproc_queue_put(q, "x", 1, 0));
    cr_assert(mproc_queue_capacity(q) >= 4096);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int drain_then_closed_child(void *arg)
{
    mproc_queue *q = arg;
    char buf[8];
    /* blocks until the parent shuts the queue down */
    ssize_t r = mproc_queue_get(q, buf, sizeof buf, 10000);
    mproc_queue_close(q);
    return r == MPROC_ECLOSED ? 0 : 1;
}

MPROC_TEST(queue, shutdown_wakes_waiters_then_drains_then_closed)
{
    mproc_queue *q = mk(0, 0, 0);
    pid_t pid = mproc_test_fork(drain_then_closed_child, q);
    mproc_test_sleep_ms(50);
    MPROC_ASSERT_OK(mproc_queue_shutdown(q));
    exited_ok(pid);
    MPROC_ASSERT_OK(mproc_queue_shutdown(q));
    MPROC_ASSERT_RC(mproc_queue_put(q, "a", 1, 0), MPROC_ECLOSED);
    MPROC_ASSERT_OK(mproc_queue_close(q));

    q = mk(0, 0, 0);
    MPROC_ASSERT_OK(mproc_queue_put(q, "a", 1, 0));
    MPROC_ASSERT_OK(mproc_queue_put(q, "b", 1, 0));
    MPROC_ASSERT_OK(mproc_queue_shutdown(q));
    char buf[4];
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, MPROC_FOREVER), 1);
    cr_assert_eq(buf[0], 'a');
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, MPROC_FOREVER), 1);
    cr_assert_eq(buf[0], 'b');
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, MPROC_FOREVER), MPROC_ECLOSED);
    MPROC_ASSERT_RC(mproc_queue_put(q, "c", 1, MPROC_FOREVER), MPROC_ECLOSED);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.closed, 1);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int putter_after_delay(void *arg)
{
    mproc_queue *q = arg;
    mproc_test_sleep_ms(100);
    int rc = mproc_queue_put(q, "wake", 4, 1000);
    mproc_queue_close(q);
    return rc == 0 ? 0 : 1;
}

MPROC_TEST(queue, blocked_getter_is_woken_by_put_from_another_process)
{
    mproc_queue *q = mk(0, 0, 0);
    pid_t pid = mproc_test_fork(putter_after_delay, q);
    char buf[8];
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 10000), 4);
    cr_assert(memcmp(buf, "wake", 4) == 0);
    exited_ok(pid);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int getter_after_delay(void *arg)
{
    mproc_queue *q = arg;
    mproc_test_sleep_ms(100);
    char buf[8];
    ssize_t r = mproc_queue_get(q, buf, sizeof buf, 1000);
    mproc_queue_close(q);
    return r == 1 ? 0 : 1;
}

MPROC_TEST(queue, blocked_putter_is_woken_by_get_from_another_process)
{
    mproc_queue *q = mk(4096, 0, 0);
    while (mproc_queue_put(q, "x", 1, 0) == 0)
        ;
    pid_t pid = mproc_test_fork(getter_after_delay, q);
    MPROC_ASSERT_OK(mproc_queue_put(q, "y", 1, 10000));
    exited_ok(pid);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

/* MPMC: 2 producers x N ids, 2 consumers report sums and counts through a
 * pipe; every id must arrive exactly once. */
#define MPMC_N 20000
struct mpmc {
    mproc_queue *q;
    int id;
    int fd;
};

static int mpmc_producer(void *arg)
{
    struct mpmc *a = arg;
    for (uint32_t i = 0; i < MPMC_N; i++) {
        uint32_t v[3] = {(uint32_t)a->id, i, i * 2654435761u};
        size_t len = 12 + (i % 50);
        char msg[64] = {0};
        memcpy(msg, v, 12);
        if (mproc_queue_put(a->q, msg, len, 10000) != 0)
            return 1;
    }
    mproc_queue_close(a->q);
    return 0;
}

static int mpmc_consumer(void *arg)
{
    struct mpmc *a = arg;
    char msg[64];
    for (;;) {
        ssize_t r = mproc_queue_get(a->q, msg, sizeof msg, 10000);
        if (r == MPROC_ECLOSED)
            break;
        if (r < 12)
            return 2;
        uint32_t v[3];
        memcpy(v, msg, 12);
        if (v[2] != v[1] * 2654435761u || (size_t)r != 12 + (v[1] % 50))
            return 3;
        uint32_t rec[2] = {v[0], v[1]};
        if (write(a->fd, rec, sizeof rec) != sizeof rec)
            return 4;
    }
    mproc_queue_close(a->q);
    return 0;
}

MPROC_TEST(queue, mpmc_two_by_two_delivers_each_message_once)
{
    mproc_queue *q = mk(16384, 0, 0);
    char name[64];
    snprintf(name, sizeof name, "/tmp/mproc-test-mpmc-%d", getpid());
    int fd = open(name, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_APPEND, 0600);
    unlink(name);
    cr_assert(fd >= 0);
    struct mpmc p0 = {q, 0, fd}, p1 = {q, 1, fd};
    pid_t c0 = mproc_test_fork(mpmc_consumer, &p0);
    pid_t c1 = mproc_test_fork(mpmc_consumer, &p1);
    pid_t a0 = mproc_test_fork(mpmc_producer, &p0);
    pid_t a1 = mproc_test_fork(mpmc_producer, &p1);
    exited_ok(a0);
    exited_ok(a1);
    MPROC_ASSERT_OK(mproc_queue_shutdown(q));
    exited_ok(c0);
    exited_ok(c1);
    static unsigned char seen[2][MPMC_N];
    memset(seen, 0, sizeof seen);
    lseek(fd, 0, SEEK_SET);
    uint32_t rec[2];
    size_t total = 0;
    while (read(fd, rec, sizeof rec) == sizeof rec) {
        cr_assert(rec[0] < 2 && rec[1] < MPMC_N);
        cr_assert_eq(seen[rec[0]][rec[1]], 0, "duplicate %u/%u", rec[0], rec[1]);
        seen[rec[0]][rec[1]] = 1;
        total++;
    }
    close(fd);
    cr_assert_eq(total, 2 * MPMC_N);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.puts, 2 * MPMC_N);
    cr_assert_eq(st.gets, 2 * MPMC_N);
    cr_assert_eq(st.lost, 0);
    cr_assert_eq(st.msgs, 0);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

struct thr {
    mproc_queue *q;
    int n;
    long sum;
};

static void *thr_put(void *arg)
{
    struct thr *t = arg;
    for (int i = 1; i <= t->n; i++)
        if (mproc_queue_put(t->q, &i, sizeof i, 10000) != 0)
            return (void *)1;
    return NULL;
}

static void *thr_get(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < t->n; i++) {
        int v;
        if (mproc_queue_get(t->q, &v, sizeof v, 10000) != sizeof v)
            return (void *)1;
        t->sum += v;
    }
    return NULL;
}

MPROC_TEST(queue, threads_of_one_process_share_a_handle)
{
    mproc_queue *q = mk(4096, 0, 0);
    struct thr t[4] = {{q, 5000, 0}, {q, 5000, 0}, {q, 5000, 0}, {q, 5000, 0}};
    pthread_t th[4];
    pthread_create(&th[0], NULL, thr_put, &t[0]);
    pthread_create(&th[1], NULL, thr_put, &t[1]);
    pthread_create(&th[2], NULL, thr_get, &t[2]);
    pthread_create(&th[3], NULL, thr_get, &t[3]);
    void *r;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], &r);
        cr_assert_null(r);
    }
    cr_assert_eq(t[2].sum + t[3].sum, 2L * 5000 * 5001 / 2);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.puts, 10000);
    cr_assert_eq(st.gets, 10000);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int open_named_child(void *arg)
{
    const char *name = arg;
    mproc_queue *q;
    if (mproc_queue_open(&q, name) != 0)
        return 1;
    int rc = mproc_queue_put(q, "named", 5, 1000);
    mproc_queue_close(q);
    return rc == 0 ? 0 : 2;
}

MPROC_TEST(queue, named_create_open_and_creator_unlinks)
{
    char name[64];
    snprintf(name, sizeof name, "test-q-%d", getpid());
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, name, NULL));
    cr_assert_str_eq(mproc_queue_name(q), name);
    mproc_queue *dup;
    MPROC_ASSERT_RC(mproc_queue_create(&dup, name, NULL), MPROC_EEXIST);
    pid_t pid = mproc_test_fork(open_named_child, name);
    exited_ok(pid);
    char buf[8];
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 1000), 5);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats_by_name(name, &st));
    cr_assert_eq(st.puts, 1);
    cr_assert_eq(st.gets, 1);
    MPROC_ASSERT_OK(mproc_queue_close(q));
    MPROC_ASSERT_RC(mproc_queue_open(&q, name), MPROC_ENOENT);
    MPROC_ASSERT_RC(mproc_queue_unlink(name), MPROC_ENOENT);
}

MPROC_TEST(queue, random_name_is_reported)
{
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, "", NULL));
    cr_assert(strlen(mproc_queue_name(q)) > 0);
    mproc_queue *q2;
    MPROC_ASSERT_OK(mproc_queue_open(&q2, mproc_queue_name(q)));
    MPROC_ASSERT_OK(mproc_queue_put(q2, "r", 1, 0));
    char b[2];
    cr_assert_eq(mproc_queue_get(q, b, 2, 0), 1);
    MPROC_ASSERT_OK(mproc_queue_close(q2));
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, open_of_missing_or_bad_name_fails_cleanly)
{
    mproc_queue *q;
    MPROC_ASSERT_RC(mproc_queue_open(&q, "no-such-queue-xyz"), MPROC_ENOENT);
    MPROC_ASSERT_RC(mproc_queue_open(&q, "../etc/passwd"), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_open(&q, ""), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_open(NULL, "x"), MPROC_EINVAL);
}

/* Write a raw segment file with a valid common header of another kind. */
static void write_foreign(const char *name, unsigned kind, unsigned version)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/shm/mproc-%s", name);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    size_t size = 65536;
    cr_assert(ftruncate(fd, (off_t)size) == 0);
    struct mproc__seg_hdr h = {0};
    h.magic = MPROC__SEG_MAGIC;
    h.version = (uint16_t)version;
    h.kind = (uint16_t)kind;
    h.hdr_size = MPROC__SEG_HDR_SIZE;
    h.total_size = size;
    h.body_size = size - MPROC__SEG_HDR_SIZE;
    h.creator_pid = getpid();
    cr_assert(pwrite(fd, &h, sizeof h, 0) == sizeof h);
    close(fd);
}

MPROC_TEST(queue, open_of_wrong_kind_is_eforeign_and_wrong_version_is_eversion)
{
    char name[64];
    mproc_queue *q;
    snprintf(name, sizeof name, "test-qk-%d", getpid());
    write_foreign(name, MPROC__SEG_SHM, MPROC__SEG_VERSION);
    MPROC_ASSERT_RC(mproc_queue_open(&q, name), MPROC_EFOREIGN);
    unlink(strcat(strcpy((char[256]){0}, "/dev/shm/mproc-"), name));
    write_foreign(name, MPROC__SEG_QUEUE, MPROC__SEG_VERSION + 1);
    MPROC_ASSERT_RC(mproc_queue_open(&q, name), MPROC_EVERSION);
    unlink(strcat(strcpy((char[256]){0}, "/dev/shm/mproc-"), name));
    /* the right kind but a body that is not a queue */
    write_foreign(name, MPROC__SEG_QUEUE, MPROC__SEG_VERSION);
    MPROC_ASSERT_RC(mproc_queue_open(&q, name), MPROC_EFOREIGN);
    unlink(strcat(strcpy((char[256]){0}, "/dev/shm/mproc-"), name));
}

/* Map the queue's file to patch it like a buggy or hostile peer would. */
static unsigned char *raw_map(mproc_queue *q, size_t *size)
{
    struct stat st;
    int fd = mproc_queue_fd(q);
    cr_assert(fstat(fd, &st) == 0);
    unsigned char *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    cr_assert(m != MAP_FAILED);
    *size = (size_t)st.st_size;
    return m;
}

MPROC_TEST(queue, version_mismatch_in_header_is_eversion_on_attach)
{
    mproc_queue *q = mk(0, 0, 0), *q2;
    size_t sz;
    unsigned char *m = raw_map(q, &sz);
    ((struct mproc__seg_hdr *)m)->version = MPROC__SEG_VERSION + 7;
    MPROC_ASSERT_RC(mproc_queue_from_fd(&q2, mproc_queue_fd(q)), MPROC_EVERSION);
    ((struct mproc__seg_hdr *)m)->version = MPROC__SEG_VERSION;
    /* the queue's own layout version sits right after its magic */
    uint32_t *qv = (uint32_t *)(m + MPROC__SEG_HDR_SIZE + 4);
    *qv += 1;
    MPROC_ASSERT_RC(mproc_queue_from_fd(&q2, mproc_queue_fd(q)), MPROC_EVERSION);
    *qv -= 1;
    /* a bad ring size is corruption */
    uint64_t *n_units = (uint64_t *)(m + MPROC__SEG_HDR_SIZE + 16);
    uint64_t save = *n_units;
    *n_units = 3;
    MPROC_ASSERT_RC(mproc_queue_from_fd(&q2, mproc_queue_fd(q)), MPROC_ECORRUPT);
    *n_units = save;
    MPROC_ASSERT_OK(mproc_queue_from_fd(&q2, mproc_queue_fd(q)));
    MPROC_ASSERT_OK(mproc_queue_close(q2));
    munmap(m, sz);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

/* Find the published entry of the only message (in front of it in the
 * ring): its stamp is PUB(0), 1 XOR the queue's stamp key. */
static uint64_t *find_entry(mproc_queue *q, unsigned char *m, size_t sz, uint64_t pos)
{
    uint64_t key = ((struct mproc_queue *)q)->skey;
    for (size_t off = MPROC__SEG_HDR_SIZE; off + 16 <= sz; off += 16) {
        uint64_t *e = (uint64_t *)(m + off);
        if (e[0] == ((pos + 1) ^ key) && (e[1] >> 32 & 0xFFFFFF) >= 1 && (uint32_t)e[1] == 5)
            return e;
    }
    return NULL;
}

MPROC_TEST(queue, corrupted_index_or_counters_give_ecorrupt_not_a_crash)
{
    /* one lane: its tail, head and rel are the first words of its lines */
    mproc_queue *q = NULL;
    struct mproc_queue_opts o = {.capacity = 4096, .lanes = 1};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    size_t sz;
    unsigned char *m = raw_map(q, &sz);
    MPROC_ASSERT_OK(mproc_queue_put(q, "abcde", 5, 0));
    uint64_t *e = find_entry(q, m, sz, 0);
    cr_assert_not_null(e);
    uint64_t save = e[1];
    char buf[8];
    e[1] = save | (0xFFFFFFull << 32); /* absurd unit count */
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 0), MPROC_ECORRUPT);
    e[1] = (save & ~0xFFFFFFFFull) | 0xFFFFFFF0u; /* absurd length */
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 0), MPROC_ECORRUPT);
    e[1] = save;
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 0), 5);
    /* a tail far ahead of rel: the counters cannot be right */
    struct stat st;
    fstat(mproc_queue_fd(q), &st);
    uint64_t *tail = NULL;
    for (size_t off = MPROC__SEG_HDR_SIZE + 128; off < 4096; off += 128) {
        uint64_t *w = (uint64_t *)(m + off);
        if (*w == 1) { /* tail, head and rel are each 1 now; tail comes first */
            tail = w;
            break;
        }
    }
    cr_assert_not_null(tail);
    *tail = 1u << 30;
    MPROC_ASSERT_RC(mproc_queue_put(q, "x", 1, 100), MPROC_ECORRUPT);
    /* rel beyond tail: also impossible */
    uint64_t *rel = tail + 2 * 128 / 8; /* tail, head, rel: 128 bytes apart */
    *tail = 1;
    cr_assert_eq(*rel, 1);
    *rel = 7;
    mproc_queue *q2; /* a fresh handle reads rel afresh */
    MPROC_ASSERT_OK(mproc_queue_from_fd(&q2, mproc_queue_fd(q)));
    MPROC_ASSERT_RC(mproc_queue_put(q2, "x", 1, MPROC_FOREVER), MPROC_ECORRUPT);
    *rel = 1;
    MPROC_ASSERT_OK(mproc_queue_put(q2, "x", 1, 0));
    MPROC_ASSERT_OK(mproc_queue_close(q2));
    cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 0), 1);
    /* a tail far ahead of an unpublished head: gets wait, then time out
     * (or, if the dead-peer check ran first, find the counters corrupt) */
    *tail = 1u << 30;
    ssize_t r = mproc_queue_get(q, buf, sizeof buf, 50);
    cr_assert(r == MPROC_ETIMEDOUT || r == MPROC_ECORRUPT, "%s", mproc_err_name((int)r));
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 300), MPROC_ECORRUPT);
    munmap(m, sz);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, zero_copy_reserve_commit_and_view_release)
{
    mproc_queue *q = mk(8192, 0, 0);
    void *w;
    MPROC_ASSERT_OK(mproc_queue_reserve(q, 5000, &w, 0));
    MPROC_ASSERT_RC(mproc_queue_reserve(q, 10, &w, 0), MPROC_EBUSY);
    memset(w, 'z', 4000);
    cr_assert_eq(mproc_queue_qsize(q), 0);
    char buf[8];
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, sizeof buf, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_queue_commit(q, 5001), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_queue_commit(q, 4000));
    MPROC_ASSERT_RC(mproc_queue_commit(q, 1), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_queue_reserve(q, 10, &w, 0));
    MPROC_ASSERT_OK(mproc_queue_cancel(q));
    MPROC_ASSERT_OK(mproc_queue_reserve(q, 3, &w, 0));
    memcpy(w, "end", 3);
    MPROC_ASSERT_OK(mproc_queue_commit(q, 3));
    const void *v;
    cr_assert_eq(mproc_queue_get_view(q, &v, 0), 4000);
    MPROC_ASSERT_RC((int)mproc_queue_get_view(q, &v, 0), MPROC_EBUSY);
    for (int i = 0; i < 4000; i++)
        cr_assert_eq(((const char *)v)[i], 'z');
    MPROC_ASSERT_OK(mproc_queue_release_view(q));
    MPROC_ASSERT_RC(mproc_queue_release_view(q), MPROC_EINVAL);
    /* the cancelled reservation is skipped, not delivered */
    cr_assert_eq(mproc_queue_get_view(q, &v, 0), 3);
    cr_assert(memcmp(v, "end", 3) == 0);
    MPROC_ASSERT_OK(mproc_queue_release_view(q));
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.puts, 2);
    cr_assert_eq(st.gets, 2);
    cr_assert_eq(st.lost, 0);
    cr_assert_eq(st.msgs, 0);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, zero_copy_messages_wrap_contiguously)
{
    mproc_queue *q = mk(8192, 0, 0);
    for (int i = 0; i < 50; i++) {
        void *w;
        size_t len = 3000 + (size_t)i * 13;
        MPROC_ASSERT_OK(mproc_queue_reserve(q, len, &w, 0));
        memset(w, i, len);
        MPROC_ASSERT_OK(mproc_queue_commit(q, len));
        const void *v;
        cr_assert_eq(mproc_queue_get_view(q, &v, 0), (ssize_t)len);
        for (size_t j = 0; j < len; j++)
            cr_assert_eq(((const unsigned char *)v)[j], (unsigned char)i);
        MPROC_ASSERT_OK(mproc_queue_release_view(q));
    }
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int worker_task_done(void *arg)
{
    mproc_queue *q = arg;
    char b[8];
    for (int i = 0; i < 5; i++) {
        if (mproc_queue_get(q, b, sizeof b, 5000) < 0)
            return 1;
        mproc_test_sleep_ms(10);
        if (mproc_queue_task_done(q) != 0)
            return 2;
    }
    mproc_queue_close(q);
    return 0;
}

MPROC_TEST(queue, joinable_task_done_and_join)
{
    mproc_queue *q = mk(0, 0, 0);
    MPROC_ASSERT_RC(mproc_queue_task_done(q), MPROC_ENOTSUP);
    MPROC_ASSERT_RC(mproc_queue_join(q, 0), MPROC_ENOTSUP);
    MPROC_ASSERT_OK(mproc_queue_close(q));

    q = mk(0, 0, MPROC_QUEUE_JOINABLE);
    MPROC_ASSERT_OK(mproc_queue_join(q, 0));
    MPROC_ASSERT_RC(mproc_queue_task_done(q), MPROC_ERANGE);
    for (int i = 0; i < 5; i++)
        MPROC_ASSERT_OK(mproc_queue_put(q, "t", 1, 0));
    MPROC_ASSERT_RC(mproc_queue_join(q, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_queue_join(q, 20), MPROC_ETIMEDOUT);
    pid_t pid = mproc_test_fork(worker_task_done, q);
    MPROC_ASSERT_OK(mproc_queue_join(q, 10000));
    exited_ok(pid);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.unfinished, 0);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int fork_child_uses_inherited(void *arg)
{
    mproc_queue *q = arg;
    char b[8];
    if (mproc_queue_get(q, b, sizeof b, 1000) != 6 || memcmp(b, "parent", 6) != 0)
        return 1;
    if (mproc_queue_put(q, "child", 5, 1000) != 0)
        return 2;
    struct mproc_queue_stats st;
    if (mproc_queue_stats(q, &st) != 0 || st.participants < 2)
        return 3;
    mproc_queue_close(q);
    return 0;
}

MPROC_TEST(queue, anonymous_queue_is_inherited_across_fork)
{
    mproc_queue *q = mk(0, 0, 0);
    MPROC_ASSERT_OK(mproc_queue_put(q, "parent", 6, 0)); /* parent is a participant */
    pid_t pid = mproc_test_fork(fork_child_uses_inherited, q);
    exited_ok(pid);
    char b[8];
    cr_assert_eq(mproc_queue_get(q, b, sizeof b, 1000), 5);
    cr_assert(memcmp(b, "child", 5) == 0);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.participants, 1); /* the child's record was released */
    cr_assert_eq(st.puts, 2);
    cr_assert_eq(st.gets, 2);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int fd_child(void *arg)
{
    int sock = *(int *)arg;
    char c;
    struct iovec iov = {&c, 1};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
    if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) != 1)
        return 1;
    int fd;
    memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof fd);
    mproc_queue *q;
    if (mproc_queue_from_fd(&q, fd) != 0)
        return 2;
    close(fd);
    int rc = mproc_queue_put(q, "viafd", 5, 1000);
    mproc_queue_close(q);
    return rc == 0 ? 0 : 3;
}

MPROC_TEST(queue, fd_passed_over_a_socket_attaches)
{
    int sv[2];
    cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    pid_t pid = mproc_test_fork(fd_child, &sv[1]);
    mproc_queue *q = mk(0, 0, 0);
    char c = 'q';
    struct iovec iov = {&c, 1};
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    int fd = mproc_queue_fd(q);
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    cr_assert(sendmsg(sv[0], &mh, 0) == 1);
    exited_ok(pid);
    char b[8];
    cr_assert_eq(mproc_queue_get(q, b, sizeof b, 1000), 5);
    cr_assert(memcmp(b, "viafd", 5) == 0);
    close(sv[0]);
    close(sv[1]);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, stats_count_puts_gets_bytes_and_high_water)
{
    mproc_queue *q = mk(65536 - 16, 0, 0);
    char buf[1000] = {0};
    for (int i = 0; i < 10; i++)
        MPROC_ASSERT_OK(mproc_queue_put(q, buf, 100, 0));
    for (int i = 0; i < 4; i++)
        cr_assert_eq(mproc_queue_get(q, buf, sizeof buf, 0), 100);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.puts, 10);
    cr_assert_eq(st.gets, 4);
    cr_assert_eq(st.bytes_in, 1000);
    cr_assert_eq(st.bytes_out, 400);
    cr_assert_eq(st.msgs, 6);
    cr_assert_eq(mproc_queue_qsize(q), 6);
    cr_assert_eq(st.bytes_used, 6 * 128);
    cr_assert_eq(st.high_water, 10 * 128);
    cr_assert_eq(st.capacity, 65536 - 16);
    cr_assert_eq(st.unit_size, 128);
    cr_assert_eq(st.participants, 1);
    cr_assert_eq(st.lost, 0);
    cr_assert_eq(st.creator_pid, getpid());
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, bad_arguments_are_errors_not_crashes)
{
    mproc_queue *q;
    struct mproc_queue_opts o = {.unit_size = 3};
    MPROC_ASSERT_RC(mproc_queue_create(NULL, NULL, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_create(&q, NULL, &o), MPROC_EINVAL);
    o = (struct mproc_queue_opts){.capacity = (size_t)1 << 40};
    MPROC_ASSERT_RC(mproc_queue_create(&q, NULL, &o), MPROC_EINVAL);
    o = (struct mproc_queue_opts){.flags = 0x80};
    MPROC_ASSERT_RC(mproc_queue_create(&q, NULL, &o), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_create(&q, "bad/name", NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_from_fd(&q, -1), MPROC_EBADF);
    char buf[4];
    MPROC_ASSERT_RC(mproc_queue_put(NULL, "x", 1, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_queue_get(NULL, buf, 4, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_close(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_shutdown(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_queue_qsize(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_stats(NULL, NULL), MPROC_EINVAL);
    q = mk(0, 0, 0);
    MPROC_ASSERT_RC(mproc_queue_put(q, "x", 1, -5), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_put(q, NULL, 1, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_queue_get(q, buf, 4, -2), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_queue_get(q, NULL, 4, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_queue_get_alloc(q, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_reserve(q, 1, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_commit(q, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_cancel(q), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_release_view(q), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_join(q, -3), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static void *put_once(void *arg)
{
    return (void *)(intptr_t)mproc_queue_put(arg, "t", 1, 0);
}

MPROC_TEST(queue, thread_exit_releases_its_participant_record)
{
    mproc_queue *q = mk(0, 0, 0);
    for (int i = 0; i < 300; i++) { /* more threads than records */
        pthread_t th;
        void *r;
        pthread_create(&th, NULL, put_once, q);
        pthread_join(th, &r);
        cr_assert_eq((intptr_t)r, 0);
    }
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.participants, 0);
    cr_assert_eq(st.puts, 300);
    cr_assert_eq(mproc_queue_qsize(q), 300);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

/* The participant table is sized by opts.participants (issue 10: a fixed
 * 256 surprised users with more threads). */
struct part_ctx {
    mproc_queue *q;
    pthread_barrier_t *hold;
    _Atomic int *enospc;
};

static void *put_and_hold(void *arg)
{
    struct part_ctx *c = arg;
    int rc = mproc_queue_put(c->q, "t", 1, 0);
    if (rc == MPROC_ENOSPC)
        atomic_fetch_add(c->enospc, 1);
    pthread_barrier_wait(c->hold); /* keep my record until everyone has one */
    return (void *)(intptr_t)rc;
}

static int live_threads_putting(mproc_queue *q, int n)
{
    pthread_barrier_t hold;
    _Atomic int enospc = 0;
    pthread_barrier_init(&hold, NULL, (unsigned)n);
    struct part_ctx c = {q, &hold, &enospc};
    pthread_t *th = calloc((size_t)n, sizeof *th);
    cr_assert(th != NULL);
    for (int i = 0; i < n; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, put_and_hold, &c), 0);
    for (int i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    free(th);
    pthread_barrier_destroy(&hold);
    return atomic_load(&enospc);
}

MPROC_TEST(queue, participants_option_sizes_the_record_table)
{
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = 1 << 16, .unit_size = 8, .participants = 400};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    /* 300 live threads at once: more than the old fixed 256 */
    cr_assert_eq(live_threads_putting(q, 300), 0);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert_eq(st.puts, 300);
    cr_assert_eq(st.participants, 0); /* exited threads gave theirs back */
    MPROC_ASSERT_OK(mproc_queue_close(q));

    o.participants = 3; /* this thread and two more fit; the rest are refused */
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    MPROC_ASSERT_OK(mproc_queue_put(q, "m", 1, 0));
    cr_assert_eq(live_threads_putting(q, 4), 2);
    MPROC_ASSERT_OK(mproc_queue_close(q));

    o.participants = 65537;
    MPROC_ASSERT_RC(mproc_queue_create(&q, NULL, &o), MPROC_EINVAL);
}

/* Lanes ===================================================================
 * Several producers on a queue with several lanes: each producer thread has
 * a lane of its own (the one with the fewest producers when it first
 * puts); capacity and max_msgs bound all lanes together; a getter finds
 * every lane. */

enum { LP = 4, LN = 3000 };

struct lane_msg {
    uint32_t producer, seq;
};

struct lane_world {
    mproc_queue *q;
    _Atomic int ready, go, turn;
    _Atomic int order_errors, bad;
    _Atomic int count[LP];
    _Atomic uint8_t seen[LP][LN];
};

static int lane_id; /* set in the parent before each fork */

/* A child waits for the test at most 20 s: a failed test leaves no child. */
static void lane_wait(_Atomic int *f, int value)
{
    for (int i = 0; i < 20000 && atomic_load(f) < value; i++)
        mproc_test_sleep_ms(1);
}

static struct lane_world *lane_world_new(const struct mproc_queue_opts *o)
{
    struct lane_world *w =
        mmap(NULL, sizeof *w, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(w != MAP_FAILED);
    MPROC_ASSERT_OK(mproc_queue_create(&w->q, NULL, o));
    return w;
}

static void lane_world_free(struct lane_world *w)
{
    MPROC_ASSERT_OK(mproc_queue_close(w->q));
    munmap(w, sizeof *w);
}

/* Lanes that took at least one message. */
static unsigned lanes_used(mproc_queue *q)
{
    struct mproc_queue *qi = (struct mproc_queue *)q;
    unsigned n = 0;
    for (uint32_t l = 0; l < qi->n_lanes; l++)
        n += atomic_load(&qi->lanes[l].tail) > 0;
    return n;
}

static int lane_stream_producer(void *arg)
{
    struct lane_world *w = arg;
    uint32_t id = (uint32_t)lane_id;
    struct lane_msg m = {id, 0};
    /* the first put chooses my lane; the next producer starts after it */
    if (mproc_queue_put(w->q, &m, sizeof m, 10000) != 0)
        return 1;
    atomic_fetch_add(&w->ready, 1);
    lane_wait(&w->go, 1);
    for (m.seq = 1; m.seq < LN; m.seq++)
        if (mproc_queue_put(w->q, &m, sizeof m, 10000) != 0)
            return 2;
    mproc_queue_close(w->q);
    return 0;
}

static int lane_stream_consumer(void *arg)
{
    struct lane_world *w = arg;
    int64_t last[LP];
    for (int i = 0; i < LP; i++)
        last[i] = -1;
    for (;;) {
        struct lane_msg m;
        ssize_t n = mproc_queue_get(w->q, &m, sizeof m, 10000);
        if (n == MPROC_ECLOSED)
            break;
        if (n != (ssize_t)sizeof m || m.producer >= LP || m.seq >= LN) {
            atomic_fetch_add(&w->bad, 1);
            return 1;
        }
        /* each producer's messages in the order it put them */
        if ((int64_t)m.seq <= last[m.producer])
            atomic_fetch_add(&w->order_errors, 1);
        last[m.producer] = m.seq;
        atomic_fetch_add(&w->seen[m.producer][m.seq], 1);
    }
    mproc_queue_close(w->q);
    return 0;
}

/* N producers and N consumers on four lanes: every message exactly once,
 * each producer's messages in its order for every consumer, each producer
 * in a lane of its own. */
MPROC_TEST(queue, lanes_n_producers_n_consumers_exactly_once_in_producer_order)
{
    struct mproc_queue_opts o = {.capacity = 1 << 14, .lanes = 4};
    struct lane_world *w = lane_world_new(&o);
    pid_t cons[LP], prod[LP];
    for (int i = 0; i < LP; i++)
        cons[i] = mproc_test_fork(lane_stream_consumer, w);
    for (int i = 0; i < LP; i++) {
        lane_id = i;
        prod[i] = mproc_test_fork(lane_stream_producer, w);
        for (int t = 0; t < 10000 && atomic_load(&w->ready) < i + 1; t++)
            mproc_test_sleep_ms(1);
        cr_assert_eq(atomic_load(&w->ready), i + 1, "producer %d never put", i);
    }
    atomic_store(&w->go, 1);
    for (int i = 0; i < LP; i++) {
        int st = mproc_test_wait(prod[i], 30000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer %d status 0x%x", i, st);
    }
    MPROC_ASSERT_OK(mproc_queue_shutdown(w->q));
    for (int i = 0; i < LP; i++) {
        int st = mproc_test_wait(cons[i], 30000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer %d status 0x%x", i, st);
    }
    cr_assert_eq(atomic_load(&w->bad), 0);
    cr_assert_eq(atomic_load(&w->order_errors), 0, "a producer's messages out of order");
    for (int p = 0; p < LP; p++)
        for (int s = 0; s < LN; s++)
            cr_assert_eq(atomic_load(&w->seen[p][s]), 1, "message %d/%d seen %d times", p, s,
                         atomic_load(&w->seen[p][s]));
    cr_assert_eq(lanes_used(w->q), 4u, "the producers did not spread over the lanes");
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(w->q, &st));
    cr_assert_eq(st.puts, (uint64_t)LP * LN);
    cr_assert_eq(st.gets, (uint64_t)LP * LN);
    cr_assert_eq(st.lost, 0);
    cr_assert_eq(st.msgs, 0);
    lane_world_free(w);
}

/* Puts up to 10 messages without waiting, counts them, stays alive (its
 * lane stays its own) until told. */
static int lane_filler(void *arg)
{
    struct lane_world *w = arg;
    char m[64] = {0};
    int n = 0;
    while (n < 10 && mproc_queue_put(w->q, m, sizeof m, 0) == 0)
        n++;
    atomic_store(&w->count[lane_id], n);
    atomic_fetch_add(&w->ready, 1);
    lane_wait(&w->go, 1);
    mproc_queue_close(w->q);
    return 0;
}

static void fill_from_lanes(struct lane_world *w, int expect_total)
{
    pid_t pid[LP];
    for (int i = 0; i < LP; i++) {
        lane_id = i;
        pid[i] = mproc_test_fork(lane_filler, w);
        for (int t = 0; t < 10000 && atomic_load(&w->ready) < i + 1; t++)
            mproc_test_sleep_ms(1);
        cr_assert_eq(atomic_load(&w->ready), i + 1);
    }
    int total = 0;
    for (int i = 0; i < LP; i++)
        total += atomic_load(&w->count[i]);
    cr_assert_eq(total, expect_total, "%d messages fit, the bound is %d", total, expect_total);
    cr_assert_eq(mproc_queue_full(w->q), 1);
    MPROC_ASSERT_RC(mproc_queue_put(w->q, "x", 1, 20), MPROC_ETIMEDOUT);
    cr_assert_eq(mproc_queue_qsize(w->q), expect_total);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(w->q, &st));
    cr_assert(st.bytes_used <= st.capacity + 16, "%llu bytes used",
              (unsigned long long)st.bytes_used);
    atomic_store(&w->go, 1);
    for (int i = 0; i < LP; i++) {
        int st2 = mproc_test_wait(pid[i], 10000);
        cr_assert(WIFEXITED(st2) && WEXITSTATUS(st2) == 0);
    }
    cr_assert(lanes_used(w->q) >= 2, "the fillers did not spread over the lanes");
    /* taking one message makes room for one, whichever lane it was in */
    char b[64];
    cr_assert_eq(mproc_queue_get(w->q, b, sizeof b, 0), 64);
    cr_assert_eq(mproc_queue_full(w->q), 0);
    MPROC_ASSERT_OK(mproc_queue_put(w->q, b, sizeof b, 1000));
    while (mproc_queue_get(w->q, b, sizeof b, 0) == 64)
        ;
    /* drained: a message as large as the capacity fits, though its bytes
     * were the other (now gone) producers' allot */
    ssize_t cap = mproc_queue_capacity(w->q);
    char *big = calloc(1, (size_t)cap);
    cr_assert_not_null(big);
    MPROC_ASSERT_OK(mproc_queue_put(w->q, big, (size_t)cap, 2000));
    cr_assert_eq(mproc_queue_get(w->q, big, (size_t)cap, 0), cap);
    free(big);
}

/* The byte bound and the message bound hold for all lanes together. */
MPROC_TEST(queue, lanes_hold_capacity_and_max_msgs_together)
{
    /* 4096 bytes = 32 units of 128: 32 messages of 64 bytes */
    struct mproc_queue_opts o = {.capacity = 4096, .lanes = 4};
    struct lane_world *w = lane_world_new(&o);
    fill_from_lanes(w, 32);
    lane_world_free(w);

    o.max_msgs = 13;
    w = lane_world_new(&o);
    fill_from_lanes(w, 13);
    lane_world_free(w);
}

/* Waits for its turn, puts one message (its first: its lane is chosen with
 * the earlier producers still alive, so it gets a lane of its own). */
static int lane_one_putter(void *arg)
{
    struct lane_world *w = arg;
    lane_wait(&w->turn, lane_id + 1);
    uint32_t v = (uint32_t)lane_id;
    int rc = mproc_queue_put(w->q, &v, sizeof v, 1000);
    atomic_fetch_add(&w->ready, 1);
    lane_wait(&w->go, 1);
    mproc_queue_close(w->q);
    return rc == 0 ? 0 : 1;
}

static void *lane_turns(void *arg)
{
    struct lane_world *w = arg;
    for (int i = 0; i < LP; i++) {
        /* once the getter sleeps, the next producer puts */
        struct mproc_queue_stats st;
        for (int t = 0; t < 10000; t++) {
            if (mproc_queue_stats(w->q, &st) == 0 && st.waiting_getters == 1)
                break;
            mproc_test_sleep_ms(1);
        }
        atomic_store(&w->turn, i + 1);
        lane_wait(&w->ready, i + 1);
    }
    return NULL;
}

MPROC_TEST(queue, lanes_a_blocked_get_wakes_for_a_put_in_any_lane)
{
    struct mproc_queue_opts o = {.capacity = 4096, .lanes = 4};
    struct lane_world *w = lane_world_new(&o);
    pid_t pid[LP];
    for (int i = 0; i < LP; i++) {
        lane_id = i;
        pid[i] = mproc_test_fork(lane_one_putter, w);
    }
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, lane_turns, w), 0);
    for (int i = 0; i < LP; i++) {
        uint32_t v = 99;
        cr_assert_eq(mproc_queue_get(w->q, &v, sizeof v, 5000), (ssize_t)sizeof v, "get %d", i);
        cr_assert_eq(v, (uint32_t)i);
    }
    pthread_join(th, NULL);
    atomic_store(&w->go, 1);
    for (int i = 0; i < LP; i++) {
        int st = mproc_test_wait(pid[i], 10000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    cr_assert_eq(lanes_used(w->q), 4u);
    lane_world_free(w);
}

MPROC_TEST(queue, lanes_option_is_checked)
{
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = 4096, .lanes = 33};
    MPROC_ASSERT_RC(mproc_queue_create(&q, NULL, &o), MPROC_EINVAL);
    o.lanes = 32;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    MPROC_ASSERT_OK(mproc_queue_close(q));
    o.capacity = 1ull << 32; /* 32 rings of 4 GiB */
    o.lanes = 32;
    MPROC_ASSERT_RC(mproc_queue_create(&q, NULL, &o), MPROC_EINVAL);
    o.capacity = 4096;
    o.lanes = 1; /* one lane: one total order */
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    for (int i = 0; i < 5; i++)
        MPROC_ASSERT_OK(mproc_queue_put(q, &i, sizeof i, 0));
    for (int i = 0; i < 5; i++) {
        int v;
        cr_assert_eq(mproc_queue_get(q, &v, sizeof v, 0), (ssize_t)sizeof v);
        cr_assert_eq(v, i);
    }
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static void *put_once_and_wait(void *arg)
{
    struct lane_world *w = arg;
    MPROC_ASSERT_OK(mproc_queue_put(w->q, "t", 1, 0));
    atomic_store(&w->ready, 1);
    lane_wait(&w->go, 1);
    return NULL;
}

/* A lane lock that names a live participant which does not hold it (a
 * scribbled word, or a holder stopped mid-claim) delays puts on that lane
 * by their timeout at most, never for ever. */
MPROC_TEST(queue, lanes_a_lock_held_by_a_live_participant_times_out)
{
    struct mproc_queue_opts o = {.capacity = 4096, .lanes = 1};
    struct lane_world *w = lane_world_new(&o);
    MPROC_ASSERT_OK(mproc_queue_put(w->q, "m", 1, 0)); /* my record */
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, put_once_and_wait, w), 0);
    lane_wait(&w->ready, 1);
    struct mproc_queue *qi = (struct mproc_queue *)w->q;
    uint32_t other = 0;
    for (uint32_t i = 0; i < qi->n_parts; i++)
        if (atomic_load(&qi->parts[i].owner) != 0 &&
            (uint32_t)atomic_load(&qi->parts[i].owner) != (uint32_t)syscall(SYS_gettid))
            other = i + 1;
    cr_assert_neq(other, 0u);
    atomic_store(&qi->lanes[0].lock, other);
    MPROC_ASSERT_RC(mproc_queue_put(w->q, "x", 1, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_queue_put(w->q, "x", 1, 30), MPROC_ETIMEDOUT);
    char b[4];
    cr_assert_eq(mproc_queue_get(w->q, b, sizeof b, 0), 1); /* getters go on */
    atomic_store(&qi->lanes[0].lock, 0);
    MPROC_ASSERT_OK(mproc_queue_put(w->q, "x", 1, 0));
    atomic_store(&w->go, 1);
    pthread_join(th, NULL);
    lane_world_free(w);
}

/* Causal order ============================================================
 * A put that returned before another put began is taken before it, in
 * whichever processes or threads they ran: the tutorial's pattern of
 * joining the producers, then putting a sentinel and getting until it. */

enum { CP = 4, CM = 50, CROUNDS = 6 };

struct causal_arg {
    mproc_queue *q;
    uint32_t round, producer;
};

static int causal_producer(void *arg)
{
    struct causal_arg *a = arg;
    for (uint32_t i = 0; i < CM; i++) {
        uint32_t m[3] = {a->round, a->producer, i};
        if (mproc_queue_put(a->q, m, sizeof m, 10000) != 0)
            return 1;
    }
    return 0;
}

static void *causal_producer_thread(void *arg)
{
    return (void *)(intptr_t)causal_producer(arg);
}

/* CROUNDS rounds: CP producers (forked, or threads of this process) each put
 * CM messages; once all are joined this process puts a sentinel and gets
 * until it: every producer message must come before it. */
static void causal_rounds(const struct mproc_queue_opts *o, int threads)
{
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, o));
    for (uint32_t r = 0; r < CROUNDS; r++) {
        struct causal_arg a[CP];
        pid_t pid[CP];
        pthread_t th[CP];
        for (uint32_t p = 0; p < CP; p++) {
            a[p] = (struct causal_arg){q, r, p};
            if (threads)
                cr_assert_eq(pthread_create(&th[p], NULL, causal_producer_thread, &a[p]), 0);
            else
                pid[p] = mproc_test_fork(causal_producer, &a[p]);
        }
        for (uint32_t p = 0; p < CP; p++) {
            if (threads) {
                void *rv;
                pthread_join(th[p], &rv);
                cr_assert_eq((intptr_t)rv, 0, "producer %u failed", p);
            } else {
                int st = mproc_test_wait(pid[p], 30000);
                cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer %u status 0x%x", p, st);
            }
        }
        uint32_t s[3] = {r, UINT32_MAX, 0};
        MPROC_ASSERT_OK(mproc_queue_put(q, s, sizeof s, 10000));
        int seen = 0;
        for (;;) {
            uint32_t m[3];
            cr_assert_eq(mproc_queue_get(q, m, sizeof m, 10000), (ssize_t)sizeof m);
            cr_assert_eq(m[0], r);
            if (m[1] == UINT32_MAX)
                break;
            seen++;
        }
        cr_assert_eq(seen, CP * CM, "round %u: the sentinel came after %d of %d messages", r, seen,
                     CP * CM);
    }
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

MPROC_TEST(queue, causal_order_producers_joined_then_sentinel)
{
    struct mproc_queue_opts o = {.capacity = 1 << 16}; /* the default lanes */
    causal_rounds(&o, 0);
    causal_rounds(&o, 1);
}

MPROC_TEST(queue, causal_order_with_lanes_producers_joined_then_sentinel)
{
    struct mproc_queue_opts o = {.capacity = 1 << 16, .lanes = 4};
    causal_rounds(&o, 0);
    causal_rounds(&o, 1);
}

/* A chain of puts across producers in different lanes: producer p puts
 * message i (i % CP == p) only after message i - 1's put returned (a
 * shared counter hands the turn on), while consumers take: each consumer
 * must see the chain in order, and every message exactly once. */
enum { CHAIN = 4000, CCONS = 3 };

struct chain_world {
    mproc_queue *q;
    _Atomic uint32_t turn;
    _Atomic int order_errors, bad, done;
    _Atomic uint8_t seen[CHAIN];
};

static int chain_producer(void *arg)
{
    struct chain_world *w = arg;
    uint32_t p = (uint32_t)lane_id;
    for (uint32_t i = p; i < CHAIN; i += CP) {
        struct timespec t0, now;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (int t = 0; atomic_load(&w->turn) != i; t++) {
            if ((t & 15) == 15) {
                sched_yield();
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (now.tv_sec - t0.tv_sec > 30)
                    return 1; /* 30 s without my turn: the test failed elsewhere */
            }
        }
        if (mproc_queue_put(w->q, &i, sizeof i, 10000) != 0)
            return 2;
        atomic_store(&w->turn, i + 1);
    }
    mproc_queue_close(w->q);
    return 0;
}

static int chain_consumer(void *arg)
{
    struct chain_world *w = arg;
    int64_t last = -1;
    for (;;) {
        uint32_t i;
        ssize_t n = mproc_queue_get(w->q, &i, sizeof i, 10000);
        if (n == MPROC_ECLOSED)
            break;
        if (n != (ssize_t)sizeof i || i >= CHAIN) {
            atomic_fetch_add(&w->bad, 1);
            return 1;
        }
        if ((int64_t)i <= last)
            atomic_fetch_add(&w->order_errors, 1);
        last = i;
        atomic_fetch_add(&w->seen[i], 1);
    }
    mproc_queue_close(w->q);
    return 0;
}

MPROC_TEST(queue, causal_order_with_lanes_chain_across_producers)
{
    struct mproc_queue_opts o = {.capacity = 1 << 14, .lanes = 4};
    struct chain_world *w =
        mmap(NULL, sizeof *w, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert(w != MAP_FAILED);
    MPROC_ASSERT_OK(mproc_queue_create(&w->q, NULL, &o));
    pid_t cons[CCONS], prod[CP];
    for (int i = 0; i < CCONS; i++)
        cons[i] = mproc_test_fork(chain_consumer, w);
    for (int i = 0; i < CP; i++) {
        lane_id = i;
        prod[i] = mproc_test_fork(chain_producer, w);
    }
    for (int i = 0; i < CP; i++) {
        int st = mproc_test_wait(prod[i], 50000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "producer %d status 0x%x", i, st);
    }
    MPROC_ASSERT_OK(mproc_queue_shutdown(w->q));
    for (int i = 0; i < CCONS; i++) {
        int st = mproc_test_wait(cons[i], 30000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "consumer %d status 0x%x", i, st);
    }
    cr_assert_eq(atomic_load(&w->bad), 0);
    cr_assert_eq(atomic_load(&w->order_errors), 0, "%d messages taken out of causal order",
                 atomic_load(&w->order_errors));
    for (int i = 0; i < CHAIN; i++)
        cr_assert_eq(atomic_load(&w->seen[i]), 1, "message %d seen %d times", i,
                     atomic_load(&w->seen[i]));
    struct mproc_queue *qi = (struct mproc_queue *)w->q;
    unsigned used = 0;
    for (uint32_t l = 0; l < qi->n_lanes; l++)
        used += atomic_load(&qi->lanes[l].tail) > 0;
    cr_assert(used >= 2, "the producers did not spread over the lanes");
    MPROC_ASSERT_OK(mproc_queue_close(w->q));
    munmap(w, sizeof *w);
}
