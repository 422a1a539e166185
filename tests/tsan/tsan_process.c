/* tsan_process.c - process handles and pipes used from several threads,
 * under ThreadSanitizer.
 *
 * Process: one handle, several threads polling is_alive, joining with short
 * timeouts and killing it at once; every joiner ends with the same status.
 * Pipe: each end owned by one thread (the documented rule), request/response
 * between the two threads, every byte checked.
 */
#include "tsan.h"

#include <stdatomic.h>
#include <string.h>

#define THREADS 4

static int sleeper(void *arg)
{
    (void)arg;
    for (;;)
        pause();
    return 0;
}

struct joiner {
    mproc_process *p;
    int id;
    int rc;
    struct mproc_exit ex;
};

static void *join_worker(void *arg)
{
    struct joiner *j = arg;
    for (int i = 0; i < 2000; i++) {
        int alive = mproc_process_is_alive(j->p);
        if (alive < 0) {
            j->rc = alive;
            return NULL;
        }
        if (j->id == 0 && i == 20)
            mproc_process_kill(j->p);
        if (j->id == 1 && i == 25)
            mproc_process_terminate(j->p);
        int rc = mproc_process_join(j->p, 5, &j->ex);
        if (rc == 0) {
            j->rc = 0;
            return NULL;
        }
        if (rc != MPROC_ETIMEDOUT) {
            j->rc = rc;
            return NULL;
        }
        (void)mproc_process_pid(j->p);
    }
    j->rc = MPROC_ETIMEDOUT;
    return NULL;
}

static int process_join_kill_from_several_threads(void)
{
    for (int round = 0; round < 10; round++) {
        mproc_process *p;
        TSAN_CHECK_RC(mproc_process_start(&p, sleeper, NULL, NULL), 0);
        struct joiner j[THREADS];
        for (int i = 0; i < THREADS; i++)
            j[i] = (struct joiner){.p = p, .id = i, .rc = 1};
        pthread_t t[THREADS];
        TSAN_CHECK(tsan_spawn(t, THREADS, join_worker, j, sizeof j[0]) == 0);
        tsan_join(t, THREADS);
        for (int i = 0; i < THREADS; i++) {
            TSAN_CHECK_RC(j[i].rc, 0);
            TSAN_CHECK(j[i].ex.signaled);
            TSAN_CHECK(j[i].ex.signal == j[0].ex.signal);
        }
        TSAN_CHECK(mproc_process_is_alive(p) == 0);
        mproc_process_close(p);
    }
    return 0;
}

/* Several threads each start and join their own children at once. */
static int exit_with(void *arg)
{
    return (int)(intptr_t)arg;
}

static void *starter(void *arg)
{
    int *bad = arg;
    for (int i = 0; i < 20; i++) {
        mproc_process *p;
        if (mproc_process_start(&p, exit_with, (void *)(intptr_t)(i % 7), NULL) != 0) {
            (*bad)++;
            continue;
        }
        struct mproc_exit ex;
        if (mproc_process_join(p, 10000, &ex) != 0 || !ex.exited || ex.code != i % 7)
            (*bad)++;
        mproc_process_close(p);
    }
    return NULL;
}

static int process_start_join_from_several_threads(void)
{
    int bad[THREADS] = {0};
    pthread_t t[THREADS];
    TSAN_CHECK(tsan_spawn(t, THREADS, starter, bad, sizeof bad[0]) == 0);
    tsan_join(t, THREADS);
    for (int i = 0; i < THREADS; i++)
        TSAN_CHECK(bad[i] == 0);
    return 0;
}

#define PIPE_ROUNDS 2000

static void *echo_end(void *arg)
{
    mproc_pipe *b = arg;
    char buf[256];
    for (int i = 0; i < PIPE_ROUNDS; i++) {
        ssize_t n = mproc_pipe_recv(b, buf, sizeof buf, 10000);
        if (n < 0)
            return (void *)1;
        for (ssize_t k = 0; k < n; k++)
            buf[k] = (char)(buf[k] ^ 0x5a);
        if (mproc_pipe_send(b, buf, (size_t)n, 10000) != 0)
            return (void *)1;
    }
    return NULL;
}

static void *ask_end(void *arg)
{
    mproc_pipe *a = arg;
    char out[256], in[256];
    for (int i = 0; i < PIPE_ROUNDS; i++) {
        size_t len = (size_t)(i % 200) + 1;
        for (size_t k = 0; k < len; k++)
            out[k] = (char)(i + (int)k);
        if (mproc_pipe_send(a, out, len, 10000) != 0)
            return (void *)1;
        ssize_t n = mproc_pipe_recv(a, in, sizeof in, 10000);
        if (n != (ssize_t)len)
            return (void *)1;
        for (size_t k = 0; k < len; k++)
            if (in[k] != (char)(out[k] ^ 0x5a))
                return (void *)1;
    }
    return NULL;
}

static int pipe_request_response_between_threads(void)
{
    mproc_pipe *a, *b;
    TSAN_CHECK_RC(mproc_pipe_create(&a, &b, MPROC_PIPE_DUPLEX), 0);
    pthread_t ta, tb;
    TSAN_CHECK(pthread_create(&tb, NULL, echo_end, b) == 0);
    TSAN_CHECK(pthread_create(&ta, NULL, ask_end, a) == 0);
    void *ra, *rb;
    pthread_join(ta, &ra);
    pthread_join(tb, &rb);
    TSAN_CHECK(ra == NULL && rb == NULL);
    TSAN_CHECK_RC(mproc_pipe_close(a), 0);
    TSAN_CHECK_RC(mproc_pipe_close(b), 0);
    return 0;
}

/* A one-way pipe streaming large messages from one thread to another. */
static void *stream_sender(void *arg)
{
    mproc_pipe *w = arg;
    static char big[300000];
    for (int i = 0; i < 20; i++) {
        memset(big, 'a' + i, sizeof big);
        if (mproc_pipe_send(w, big, sizeof big - (size_t)i, 10000) != 0)
            return (void *)1;
    }
    return NULL;
}

static int pipe_streams_large_messages_between_threads(void)
{
    mproc_pipe *r, *w;
    TSAN_CHECK_RC(mproc_pipe_create(&r, &w, MPROC_PIPE_ONEWAY), 0);
    pthread_t t;
    TSAN_CHECK(pthread_create(&t, NULL, stream_sender, w) == 0);
    int bad = 0;
    for (int i = 0; i < 20; i++) {
        void *m = NULL;
        ssize_t n = mproc_pipe_recv_alloc(r, &m, 10000);
        if (n != 300000 - i)
            bad++;
        else
            for (ssize_t k = 0; k < n; k++)
                if (((char *)m)[k] != 'a' + i) {
                    bad++;
                    break;
                }
        free(m);
    }
    void *rs;
    pthread_join(t, &rs);
    TSAN_CHECK(bad == 0 && rs == NULL);
    TSAN_CHECK_RC(mproc_pipe_close(r), 0);
    TSAN_CHECK_RC(mproc_pipe_close(w), 0);
    return 0;
}

int main(int argc, char **argv)
{
    tsan_filter = argc > 1 ? argv[1] : NULL;
    alarm(240);
    tsan_run("process_join_kill_from_several_threads", process_join_kill_from_several_threads);
    tsan_run("process_start_join_from_several_threads", process_start_join_from_several_threads);
    tsan_run("pipe_request_response_between_threads", pipe_request_response_between_threads);
    tsan_run("pipe_streams_large_messages_between_threads",
             pipe_streams_large_messages_between_threads);
    return tsan_finish();
}
