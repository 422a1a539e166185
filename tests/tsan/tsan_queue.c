/* tsan_queue.c - the queue used from several threads (and a forked process)
 * at once, under ThreadSanitizer: every message arrives exactly once, with
 * its bytes intact, and the counters match.
 *
 * Messages carry (producer, seq, check). Consumers mark a shared "seen"
 * table (one byte per message, written with atomics); at the end every entry
 * must be exactly 1. Small capacities keep producers blocking on a full
 * queue, so both wake-up paths are exercised.
 */
#include "tsan.h"

#include <stdatomic.h>
#include <string.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define PER_PRODUCER 4000

struct msg {
    uint32_t producer, seq, check;
};

static uint32_t check_of(uint32_t p, uint32_t s)
{
    return (p * 2654435761u) ^ (s * 40503u) ^ 0xa5a5a5a5u;
}

struct ctx {
    mproc_queue *q;
    int zero_copy;
    _Atomic unsigned char seen[PRODUCERS + 1][PER_PRODUCER];
    atomic_long received;
    atomic_int errors;
    long expected;
};

struct worker {
    struct ctx *c;
    uint32_t id;
};

static void *producer(void *arg)
{
    struct worker *w = arg;
    for (uint32_t s = 0; s < PER_PRODUCER; s++) {
        struct msg m = {w->id, s, check_of(w->id, s)};
        /* Lengths vary so records wrap the ring at different offsets. */
        size_t len = sizeof m + (s % 17);
        int rc;
        if (w->c->zero_copy) {
            void *ptr;
            rc = mproc_queue_reserve(w->c->q, len, &ptr, 10000);
            if (rc == 0) {
                memset(ptr, 0x77, len);
                memcpy(ptr, &m, sizeof m);
                rc = mproc_queue_commit(w->c->q, len);
            }
        } else {
            char buf[sizeof m + 17];
            memset(buf, 0x77, sizeof buf);
            memcpy(buf, &m, sizeof m);
            rc = mproc_queue_put(w->c->q, buf, len, 10000);
        }
        if (rc != 0) {
            fprintf(stderr, "producer %u: put %u: %s\n", w->id, s, mproc_err_name(rc));
            atomic_fetch_add(&w->c->errors, 1);
            return NULL;
        }
    }
    return NULL;
}

static int take(struct ctx *c, struct msg *m, size_t *len)
{
    char buf[64];
    if (c->zero_copy) {
        const void *ptr;
        ssize_t n = mproc_queue_get_view(c->q, &ptr, 50);
        if (n < 0)
            return (int)n;
        if ((size_t)n >= sizeof m && (size_t)n <= sizeof buf)
            memcpy(buf, ptr, (size_t)n);
        *len = (size_t)n;
        int rc = mproc_queue_release_view(c->q);
        if (rc != 0)
            return rc;
    } else {
        ssize_t n = mproc_queue_get(c->q, buf, sizeof buf, 50);
        if (n < 0)
            return (int)n;
        *len = (size_t)n;
    }
    if (*len < sizeof *m || *len > sizeof buf)
        return MPROC_EBADMSG;
    memcpy(m, buf, sizeof *m);
    for (size_t i = sizeof *m; i < *len; i++)
        if ((unsigned char)buf[i] != 0x77)
            return MPROC_EBADMSG;
    return 0;
}

static void *consumer(void *arg)
{
    struct worker *w = arg;
    struct ctx *c = w->c;
    while (atomic_load(&c->received) < c->expected && atomic_load(&c->errors) == 0) {
        struct msg m = {0, 0, 0};
        size_t len = 0;
        int rc = take(c, &m, &len);
        if (rc == MPROC_ETIMEDOUT)
            continue;
        if (rc != 0 || m.producer > PRODUCERS || m.seq >= PER_PRODUCER ||
            m.check != check_of(m.producer, m.seq) || len != sizeof m + (m.seq % 17)) {
            fprintf(stderr, "consumer %u: bad message (%s)\n", w->id, mproc_err_name(rc));
            atomic_fetch_add(&c->errors, 1);
            return NULL;
        }
        atomic_fetch_add(&c->seen[m.producer][m.seq], 1);
        atomic_fetch_add(&c->received, 1);
    }
    return NULL;
}

static int check_exact(struct ctx *c, int producers)
{
    TSAN_CHECK(atomic_load(&c->errors) == 0);
    TSAN_CHECK(atomic_load(&c->received) == c->expected);
    for (int p = 0; p < producers; p++)
        for (int s = 0; s < PER_PRODUCER; s++)
            TSAN_CHECK(atomic_load(&c->seen[p][s]) == 1);
    struct mproc_queue_stats st;
    TSAN_CHECK_RC(mproc_queue_stats(c->q, &st), 0);
    TSAN_CHECK(st.puts == (uint64_t)c->expected);
    TSAN_CHECK(st.gets == (uint64_t)c->expected);
    TSAN_CHECK(st.lost == 0);
    TSAN_CHECK(st.msgs == 0);
    return 0;
}

static int run_threads(int zero_copy)
{
    static struct ctx c;
    memset(&c, 0, sizeof c);
    struct mproc_queue_opts o = {.capacity = 4096, .unit_size = 32};
    TSAN_CHECK_RC(mproc_queue_create(&c.q, NULL, &o), 0);
    c.zero_copy = zero_copy;
    c.expected = (long)PRODUCERS * PER_PRODUCER;
    struct worker pw[PRODUCERS], cw[CONSUMERS];
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    for (int i = 0; i < PRODUCERS; i++)
        pw[i] = (struct worker){&c, (uint32_t)i};
    for (int i = 0; i < CONSUMERS; i++)
        cw[i] = (struct worker){&c, (uint32_t)i};
    TSAN_CHECK(tsan_spawn(ct, CONSUMERS, consumer, cw, sizeof cw[0]) == 0);
    TSAN_CHECK(tsan_spawn(pt, PRODUCERS, producer, pw, sizeof pw[0]) == 0);
    tsan_join(pt, PRODUCERS);
    tsan_join(ct, CONSUMERS);
    int rc = check_exact(&c, PRODUCERS);
    TSAN_CHECK_RC(mproc_queue_close(c.q), 0);
    return rc;
}

static int queue_two_by_two_threads_exact(void)
{
    return run_threads(0);
}

static int queue_zero_copy_two_by_two_threads_exact(void)
{
    return run_threads(1);
}

/* A forked child produces as producer PRODUCERS while two threads of this
 * process produce too and two consume: threads and processes mixed. */
static int child_produce(void *arg)
{
    struct worker w = {arg, PRODUCERS};
    producer(&w);
    return atomic_load(&((struct ctx *)arg)->errors) ? 1 : 0;
}

static int queue_threads_and_a_process_exact(void)
{
    static struct ctx c;
    memset(&c, 0, sizeof c);
    struct mproc_queue_opts o = {.capacity = 8192};
    TSAN_CHECK_RC(mproc_queue_create(&c.q, NULL, &o), 0);
    c.expected = (long)(PRODUCERS + 1) * PER_PRODUCER;
    mproc_process *child;
    TSAN_CHECK_RC(mproc_process_start(&child, child_produce, &c, NULL), 0);
    struct worker pw[PRODUCERS], cw[CONSUMERS];
    pthread_t pt[PRODUCERS], ct[CONSUMERS];
    for (int i = 0; i < PRODUCERS; i++)
        pw[i] = (struct worker){&c, (uint32_t)i};
    for (int i = 0; i < CONSUMERS; i++)
        cw[i] = (struct worker){&c, (uint32_t)i};
    TSAN_CHECK(tsan_spawn(ct, CONSUMERS, consumer, cw, sizeof cw[0]) == 0);
    TSAN_CHECK(tsan_spawn(pt, PRODUCERS, producer, pw, sizeof pw[0]) == 0);
    tsan_join(pt, PRODUCERS);
    tsan_join(ct, CONSUMERS);
    struct mproc_exit ex;
    TSAN_CHECK_RC(mproc_process_join(child, 20000, &ex), 0);
    mproc_process_close(child);
    TSAN_CHECK(ex.exited && ex.code == 0);
    int rc = check_exact(&c, PRODUCERS + 1);
    TSAN_CHECK_RC(mproc_queue_close(c.q), 0);
    return rc;
}

/* Shutdown from one thread while others block in put and get: every one of
 * them returns (MPROC_ECLOSED or a drained message), none hangs. */
static void *blocked_getter(void *arg)
{
    mproc_queue *q = arg;
    char buf[8];
    ssize_t n;
    while ((n = mproc_queue_get(q, buf, sizeof buf, 10000)) >= 0)
        ;
    return (void *)(intptr_t)n;
}

static int queue_shutdown_wakes_blocked_threads(void)
{
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = 256, .unit_size = 64};
    TSAN_CHECK_RC(mproc_queue_create(&q, NULL, &o), 0);
    pthread_t g[3];
    for (int i = 0; i < 3; i++)
        TSAN_CHECK(pthread_create(&g[i], NULL, blocked_getter, q) == 0);
    usleep(50000);
    TSAN_CHECK_RC(mproc_queue_shutdown(q), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(g[i], &r);
        TSAN_CHECK((intptr_t)r == MPROC_ECLOSED);
    }
    TSAN_CHECK_RC(mproc_queue_put(q, "x", 1, 0), MPROC_ECLOSED);
    TSAN_CHECK_RC(mproc_queue_close(q), 0);
    return 0;
}

int main(int argc, char **argv)
{
    tsan_filter = argc > 1 ? argv[1] : NULL;
    alarm(240);
    tsan_run("queue_two_by_two_threads_exact", queue_two_by_two_threads_exact);
    tsan_run("queue_zero_copy_two_by_two_threads_exact", queue_zero_copy_two_by_two_threads_exact);
    tsan_run("queue_threads_and_a_process_exact", queue_threads_and_a_process_exact);
    tsan_run("queue_shutdown_wakes_blocked_threads", queue_shutdown_wakes_blocked_threads);
    return tsan_finish();
}
