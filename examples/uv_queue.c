/* uv_queue.c - a libuv loop that reacts to a Queue and an Event of mproc.
 *
 * libuv watches descriptors with uv_poll_t; a watch (mproc/wait.h) gives
 * one for "a message is in the queue" and one for "the event is set". A
 * child process puts ten messages and then sets the event; the loop prints
 * the messages as they come and stops when the event is set and the queue
 * is empty. A uv_timer_t ticks meanwhile, to show the loop stays free.
 *
 * Built only where libuv is found (pkg-config libuv; Debian: libuv1-dev):
 *     cc uv_queue.c $(pkg-config --cflags --libs mproc libuv)
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, and libuv's pthread types */
#include <mproc.h>
#include <uv.h>

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define MSGS 10

static mproc_queue *q;
static mproc_event *done;
static mproc_watch *qw, *ew;
static uv_poll_t qpoll, epoll_h;
static uv_timer_t tick;
static int received, ticks;

static int producer(void *arg)
{
    (void)arg;
    for (int i = 0; i < MSGS; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "message %d", i);
        if (mproc_queue_put(q, msg, (size_t)n, MPROC_FOREVER) < 0)
            return 1;
        nanosleep(&(struct timespec){.tv_nsec = 3000000}, NULL);
    }
    return mproc_event_set(done) < 0 ? 2 : 0;
}

static void drain_queue(void)
{
    char buf[64];
    ssize_t n;
    while ((n = mproc_queue_get(q, buf, sizeof buf - 1, 0)) >= 0) {
        buf[n] = '\0';
        printf("got %s\n", buf);
        received++;
    }
}

static void stop_all(void)
{
    uv_poll_stop(&qpoll);
    uv_poll_stop(&epoll_h);
    uv_timer_stop(&tick);
}

static void on_queue(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
    drain_queue();
    mproc_watch_rearm(qw); /* level-triggered: stays readable if more came */
}

static void on_event(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)status;
    (void)events;
    if (mproc_event_is_set(done) == 1) {
        drain_queue(); /* everything was put before the event was set */
        stop_all();
    } else {
        mproc_watch_rearm(ew);
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    ticks++;
}

int main(void)
{
    mproc_process *child;
    if (mproc_queue_create(&q, NULL, NULL) < 0 || mproc_event_create(&done, NULL) < 0)
        return 1;
    if (mproc_process_start(&child, producer, NULL, NULL) < 0)
        return 1;
    if (mproc_queue_watch(q, MPROC_WATCH_GET, 0, &qw) < 0 || mproc_event_watch(done, &ew) < 0)
        return 1;

    uv_loop_t *loop = uv_default_loop();
    uv_poll_init(loop, &qpoll, mproc_watch_fd(qw));
    uv_poll_init(loop, &epoll_h, mproc_watch_fd(ew));
    uv_poll_start(&qpoll, UV_READABLE, on_queue);
    uv_poll_start(&epoll_h, UV_READABLE, on_event);
    uv_timer_init(loop, &tick);
    uv_timer_start(&tick, on_tick, 5, 5);
    uv_run(loop, UV_RUN_DEFAULT);

    printf("%d messages, %d timer ticks meanwhile\n", received, ticks);
    uv_close((uv_handle_t *)&qpoll, NULL);
    uv_close((uv_handle_t *)&epoll_h, NULL);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);

    struct mproc_exit st;
    mproc_process_join(child, MPROC_FOREVER, &st);
    mproc_process_close(child);
    mproc_watch_close(qw);
    mproc_watch_close(ew);
    mproc_event_close(done);
    mproc_queue_close(q);
    return received == MSGS && st.exited && st.code == 0 ? 0 : 1;
}
