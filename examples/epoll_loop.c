/* epoll_loop.c - one epoll loop serving a Queue, a Pipe and a Pool at once.
 *
 * A server built on epoll (or poll, libuv, libevent) reacts to mproc objects
 * through descriptors: a watch (mproc/wait.h) turns "a message is in the
 * queue" or "the pool has results" into an fd; a Pipe has its socket.
 *
 * Here one child process puts jobs into a queue and sends status lines over
 * a pipe; the loop hands every job to a pool of workers that square it, and
 * collects the results, all in one thread that sleeps only in epoll_wait.
 *
 * The rules of the loop:
 *  - a watch is level-triggered: after handling it, take what there is with
 *    timeout 0 (until MPROC_EAGAIN) and call mproc_watch_rearm;
 *  - a pipe reads ahead: receive with timeout 0 until MPROC_EAGAIN;
 *  - a pool is driven by its owner: when its watch fires, mproc_pool_poll
 *    collects the results (and notices dead workers), and each future's
 *    mproc_future_done tells whether it is finished.
 *
 * Build: cc epoll_loop.c $(pkg-config --cflags --libs mproc)
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <mproc.h>

#include <stdio.h>
#include <time.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#define JOBS 20

static mproc_queue *jobs;
static mproc_pipe *status_rx, *status_tx;

static int square(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
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

/* The child: jobs into the queue, a status line over the pipe now and then. */
static int client(void *arg)
{
    (void)arg;
    mproc_pipe_close(status_rx);
    for (int64_t i = 1; i <= JOBS; i++) {
        if (mproc_queue_put(jobs, &i, sizeof i, MPROC_FOREVER) < 0)
            return 1;
        if (i % 5 == 0) {
            char line[64];
            int n = snprintf(line, sizeof line, "client: %lld jobs sent", (long long)i);
            if (mproc_pipe_send(status_tx, line, (size_t)n, MPROC_FOREVER) < 0)
                return 2;
        }
        nanosleep(&(struct timespec){.tv_nsec = 2000000}, NULL);
    }
    mproc_pipe_close(status_tx);
    return 0;
}

enum { SRC_QUEUE, SRC_PIPE, SRC_POOL };

static int add(int ep, int fd, int tag)
{
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)tag};
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

int main(void)
{
    mproc_pool *pool;
    mproc_process *child;
    mproc_watch *qw, *pw;
    mproc_future *fut[JOBS] = {0};
    int64_t sum = 0;
    int submitted = 0, finished = 0, rc;
    bool pipe_open = true;

    struct mproc_pool_opts po = {.workers = 2};
    if ((rc = mproc_queue_create(&jobs, NULL, NULL)) < 0 ||
        (rc = mproc_pipe_create(&status_rx, &status_tx, MPROC_PIPE_ONEWAY)) < 0 ||
        (rc = mproc_process_start(&child, client, NULL, NULL)) < 0) {
        fprintf(stderr, "set-up: %s\n", mproc_strerror(rc));
        return 1;
    }
    /* The child's end: closed before the pool forks its workers, or they
     * would hold it open too and the pipe would never reach its end. */
    mproc_pipe_close(status_tx);
    if ((rc = mproc_pool_create(&pool, &po)) < 0) {
        fprintf(stderr, "pool: %s\n", mproc_strerror(rc));
        return 1;
    }

    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0 || mproc_queue_watch(jobs, MPROC_WATCH_GET, 0, &qw) < 0 ||
        mproc_pool_watch(pool, &pw) < 0 || add(ep, mproc_watch_fd(qw), SRC_QUEUE) < 0 ||
        add(ep, mproc_pipe_fd(status_rx), SRC_PIPE) < 0 ||
        add(ep, mproc_watch_fd(pw), SRC_POOL) < 0) {
        fprintf(stderr, "epoll set-up failed\n");
        return 1;
    }

    while (finished < JOBS || pipe_open) {
        struct epoll_event evs[3];
        int n = epoll_wait(ep, evs, 3, 10000);
        if (n == 0) {
            fprintf(stderr, "nothing happened for 10 s\n");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            switch (evs[i].data.u32) {
            case SRC_QUEUE: { /* jobs: hand each to the pool */
                int64_t x;
                while (submitted < JOBS && mproc_queue_get(jobs, &x, sizeof x, 0) == sizeof x) {
                    if (mproc_pool_submit(pool, square, &x, sizeof x, sizeof x, &fut[submitted]) <
                        0)
                        return 1;
                    submitted++;
                }
                mproc_watch_rearm(qw);
                break;
            }
            case SRC_PIPE: { /* status lines, until the child closes its end */
                char line[128];
                ssize_t len;
                while ((len = mproc_pipe_recv(status_rx, line, sizeof line - 1, 0)) >= 0) {
                    line[len] = '\0';
                    printf("%s\n", line);
                }
                if (len != MPROC_EAGAIN) { /* MPROC_ECLOSED: the child is done */
                    epoll_ctl(ep, EPOLL_CTL_DEL, mproc_pipe_fd(status_rx), NULL);
                    pipe_open = false;
                }
                break;
            }
            case SRC_POOL: /* results: collect them, then look at the futures */
                if (mproc_pool_poll(pool) < 0)
                    return 1;
                for (int k = 0; k < submitted; k++) {
                    if (fut[k] && mproc_future_done(fut[k]) == 1) {
                        const void *r;
                        size_t rl;
                        if (mproc_future_result(fut[k], &r, &rl) == 0 && rl == sizeof(int64_t)) {
                            int64_t v;
                            memcpy(&v, r, sizeof v);
                            sum += v;
                        }
                        mproc_future_close(fut[k]);
                        fut[k] = NULL;
                        finished++;
                    }
                }
                mproc_watch_rearm(pw);
                break;
            }
        }
    }
    printf("%d jobs squared, sum %lld\n", finished, (long long)sum);

    struct mproc_exit st;
    mproc_process_join(child, MPROC_FOREVER, &st);
    mproc_process_close(child);
    close(ep);
    mproc_watch_close(qw);
    mproc_watch_close(pw);
    mproc_pool_shutdown(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_close(pool);
    mproc_pipe_close(status_rx);
    mproc_queue_close(jobs);
    /* 1^2 + ... + 20^2 */
    return sum == (int64_t)JOBS * (JOBS + 1) * (2 * JOBS + 1) / 6 ? 0 : 1;
}
