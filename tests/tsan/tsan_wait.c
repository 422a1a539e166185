/* tsan_wait.c - watches and mproc_wait used from several threads at once,
 * under ThreadSanitizer: producer threads put while a consumer thread
 * sleeps in poll on a watch and another in mproc_wait, and threads create,
 * rearm and close watches on an event while another sets and clears it.
 * Every message arrives exactly once; the service thread's state is only
 * touched under its lock (a race would be reported).
 */
#include "tsan.h"

#include <poll.h>
#include <stdatomic.h>

#define PRODUCERS 2
#define PER_PRODUCER 3000

struct ctx {
    mproc_queue *q;
    atomic_long got;
    atomic_int errors;
};

static void *put_worker(void *arg)
{
    struct ctx *c = arg;
    for (int i = 0; i < PER_PRODUCER; i++)
        if (mproc_queue_put(c->q, &i, sizeof i, 10000) != 0)
            atomic_fetch_add(&c->errors, 1);
    return NULL;
}

/* Takes messages only when its watch says so. */
static void *watch_consumer(void *arg)
{
    struct ctx *c = arg;
    mproc_watch *w;
    if (mproc_queue_watch(c->q, MPROC_WATCH_GET, 0, &w) != 0) {
        atomic_fetch_add(&c->errors, 1);
        return NULL;
    }
    while (atomic_load(&c->got) < PRODUCERS * PER_PRODUCER) {
        struct pollfd p = {.fd = mproc_watch_fd(w), .events = POLLIN};
        if (poll(&p, 1, 100) == 1) {
            int x;
            while (mproc_queue_get(c->q, &x, sizeof x, 0) == sizeof x)
                atomic_fetch_add(&c->got, 1);
            mproc_watch_rearm(w);
        }
    }
    mproc_watch_close(w);
    return NULL;
}

/* The same through mproc_wait. */
static void *wait_consumer(void *arg)
{
    struct ctx *c = arg;
    struct mproc_wait_item it = {.kind = MPROC_WAIT_QUEUE_GET, .obj = c->q};
    while (atomic_load(&c->got) < PRODUCERS * PER_PRODUCER) {
        if (mproc_wait(&it, 1, 100) == 1) {
            int x;
            if (mproc_queue_get(c->q, &x, sizeof x, 0) == sizeof x)
                atomic_fetch_add(&c->got, 1);
        }
    }
    return NULL;
}

static int queue_watch_and_wait_consumers_get_everything(void)
{
    struct ctx c = {0};
    struct mproc_queue_opts o = {.capacity = 8192};
    TSAN_CHECK_RC(mproc_queue_create(&c.q, NULL, &o), 0);
    pthread_t t[PRODUCERS + 2];
    for (int i = 0; i < PRODUCERS; i++)
        pthread_create(&t[i], NULL, put_worker, &c);
    pthread_create(&t[PRODUCERS], NULL, watch_consumer, &c);
    pthread_create(&t[PRODUCERS + 1], NULL, wait_consumer, &c);
    for (int i = 0; i < PRODUCERS + 2; i++)
        pthread_join(t[i], NULL);
    TSAN_CHECK(atomic_load(&c.errors) == 0);
    TSAN_CHECK(atomic_load(&c.got) == PRODUCERS * PER_PRODUCER);
    TSAN_CHECK_RC(mproc_queue_close(c.q), 0);
    return 0;
}

static mproc_event ev;
static atomic_int stop;

static void *watch_churn(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop)) {
        mproc_watch *w;
        if (mproc_event_watch(&ev, &w) != 0)
            return (void *)1;
        for (int i = 0; i < 5; i++) {
            struct pollfd p = {.fd = mproc_watch_fd(w), .events = POLLIN};
            poll(&p, 1, 1);
            mproc_watch_rearm(w);
        }
        mproc_watch_close(w);
    }
    return NULL;
}

static int watches_created_and_closed_while_the_event_flips(void)
{
    mproc_event_init(&ev);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, watch_churn, NULL);
    for (int i = 0; i < 2000; i++) {
        mproc_event_set(&ev);
        mproc_event_clear(&ev);
    }
    atomic_store(&stop, 1);
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(t[i], &r);
        bad += r != NULL;
    }
    TSAN_CHECK(bad == 0);
    return 0;
}

int main(int argc, char **argv)
{
    tsan_filter = argc > 1 ? argv[1] : NULL;
    alarm(240);
    tsan_run("queue_watch_and_wait_consumers_get_everything",
             queue_watch_and_wait_consumers_get_everything);
    tsan_run("watches_created_and_closed_while_the_event_flips",
             watches_created_and_closed_while_the_event_flips);
    return tsan_finish();
}
