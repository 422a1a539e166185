/* capture.c - output capture of a local pool's workers (opts.capture_output).
 *
 * Model: each worker w writes its stdout into pipe 2w and its stderr into
 * pipe 2w + 1 (dup2'd over fds 1 and 2 right after fork; the pipes outlive
 * worker generations, so a replacement writes into the same ones). A thread
 * of the owner polls the read ends, cuts what arrives into lines per pipe
 * and hands each complete line over at once: either to the user's callback
 * or, by default, as one write() of "[worker W pid P] line\n" to the
 * owner's own stdout or stderr, so lines of different workers never
 * interleave mid-line. A line longer than LINE_MAX_BYTES is handed over in
 * pieces of that size. When the pool stops, what is left is read and an
 * unfinished last line handed over as it is.
 *
 * Who touches what: the thread owns the buffers and the read ends; the
 * owner only creates and (after the workers are gone) stops it. A stop
 * request is one byte on a wake-up pipe.
 */
#include "capture.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdio_ext.h>
#include <stdlib.h>
#include <unistd.h>

#define LINE_MAX_BYTES 4096

struct pipe_buf {
    int rfd, wfd;
    size_t len;
    char buf[LINE_MAX_BYTES];
};

struct mproc__capture {
    int workers;
    const unsigned char *pid0;
    size_t pid_stride;
    mproc_pool_output_fn fn;
    void *arg;
    int wake[2];
    pthread_t thread;
    struct pipe_buf *p; /* 2 * workers */
};

static void emit(struct mproc__capture *c, int idx, const char *line, size_t len)
{
    int w = idx / 2, stream = idx % 2 ? 2 : 1;
    const int32_t *pp = (const int32_t *)(const void *)(c->pid0 + (size_t)w * c->pid_stride);
    pid_t pid = __atomic_load_n(pp, __ATOMIC_RELAXED);
    if (c->fn) {
        c->fn(c->arg, w, pid, stream, line, len);
        return;
    }
    char out[LINE_MAX_BYTES + 64];
    int n = snprintf(out, 64, "[worker %d pid %d] ", w, (int)pid);
    if (n < 0 || n >= 64)
        n = 0;
    memcpy(out + n, line, len);
    out[n + len] = '\n';
    size_t total = (size_t)n + len + 1, off = 0;
    while (off < total) {
        ssize_t r = write(stream, out + off, total - off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
}

/* Read what pipe idx has; false at end of file or error. */
static bool drain(struct mproc__capture *c, int idx)
{
    struct pipe_buf *b = &c->p[idx];
    ssize_t r = read(b->rfd, b->buf + b->len, sizeof b->buf - b->len);
    if (r < 0)
        return errno == EINTR || errno == EAGAIN;
    if (r == 0)
        return false;
    b->len += (size_t)r;
    size_t start = 0;
    for (size_t i = 0; i < b->len; i++) {
        if (b->buf[i] == '\n') {
            emit(c, idx, b->buf + start, i - start);
            start = i + 1;
        }
    }
    if (start == 0 && b->len == sizeof b->buf) {
        emit(c, idx, b->buf, b->len); /* a very long line: in pieces */
        start = b->len;
    }
    memmove(b->buf, b->buf + start, b->len - start);
    b->len -= start;
    return true;
}

static void *capture_main(void *arg)
{
    struct mproc__capture *c = arg;
    int n = 2 * c->workers;
    struct pollfd *fds = calloc((size_t)n + 1, sizeof *fds);
    if (!fds)
        return NULL;
    for (int i = 0; i < n; i++)
        fds[i] = (struct pollfd){.fd = c->p[i].rfd, .events = POLLIN};
    fds[n] = (struct pollfd){.fd = c->wake[0], .events = POLLIN};
    bool stopping = false;
    while (!stopping) {
        if (poll(fds, (nfds_t)n + 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[n].revents)
            stopping = true;
        for (int i = 0; i < n; i++)
            if (fds[i].fd >= 0 && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) && !drain(c, i))
                fds[i].fd = -1;
    }
    /* The workers are gone: take what is left (the read ends are
     * non-blocking), then the unfinished last lines. */
    for (int i = 0; i < n; i++) {
        while (c->p[i].rfd >= 0) {
            size_t before = c->p[i].len;
            struct pollfd one = {.fd = c->p[i].rfd, .events = POLLIN};
            if (poll(&one, 1, 0) <= 0 || !drain(c, i) || c->p[i].len == before)
                break;
        }
        if (c->p[i].len)
            emit(c, i, c->p[i].buf, c->p[i].len);
        c->p[i].len = 0;
    }
    free(fds);
    return NULL;
}

static void close_all(struct mproc__capture *c)
{
    for (int i = 0; i < 2 * c->workers; i++) {
        if (c->p[i].rfd >= 0)
            close(c->p[i].rfd);
        if (c->p[i].wfd >= 0)
            close(c->p[i].wfd);
    }
    if (c->wake[0] >= 0)
        close(c->wake[0]);
    if (c->wake[1] >= 0)
        close(c->wake[1]);
    free(c->p);
    free(c);
}

int mproc__capture_start(struct mproc__capture **out, int workers, const int32_t *pid0,
                         size_t pid_stride, mproc_pool_output_fn fn, void *arg)
{
    struct mproc__capture *c = calloc(1, sizeof *c);
    if (!c)
        return MPROC_ENOMEM;
    c->workers = workers;
    c->pid0 = (const unsigned char *)pid0;
    c->pid_stride = pid_stride;
    c->fn = fn;
    c->arg = arg;
    c->wake[0] = c->wake[1] = -1;
    c->p = calloc(2 * (size_t)workers, sizeof *c->p);
    if (!c->p) {
        free(c);
        return MPROC_ENOMEM;
    }
    for (int i = 0; i < 2 * workers; i++)
        c->p[i].rfd = c->p[i].wfd = -1;
    int rc = 0;
    for (int i = 0; i < 2 * workers && rc == 0; i++) {
        int fd[2];
        if (pipe2(fd, O_CLOEXEC) < 0) {
            rc = mproc__err();
            break;
        }
        c->p[i].rfd = fd[0];
        c->p[i].wfd = fd[1];
        (void)fcntl(fd[0], F_SETFL, O_NONBLOCK);
    }
    if (rc == 0 && pipe2(c->wake, O_CLOEXEC) < 0)
        rc = mproc__err();
    if (rc == 0) {
        int e = pthread_create(&c->thread, NULL, capture_main, c);
        if (e != 0)
            rc = e == EAGAIN ? MPROC_EAGAIN : MPROC_ENOMEM;
    }
    if (rc < 0) {
        close_all(c);
        return rc;
    }
    *out = c;
    return 0;
}

void mproc__capture_child(struct mproc__capture *c, int w)
{
    if (!c)
        return;
    /* What the owner had buffered in stdout is the owner's to write, not
     * ours; and a pipe would make stdout fully buffered: lines it is. */
    __fpurge(stdout);
    (void)setvbuf(stdout, NULL, _IOLBF, BUFSIZ);
    (void)dup2(c->p[2 * w].wfd, STDOUT_FILENO);
    (void)dup2(c->p[2 * w + 1].wfd, STDERR_FILENO);
    for (int i = 0; i < 2 * c->workers; i++) {
        close(c->p[i].rfd);
        close(c->p[i].wfd);
    }
    close(c->wake[0]);
    close(c->wake[1]);
}

void mproc__capture_stop(struct mproc__capture *c)
{
    if (!c)
        return;
    char one = 1;
    while (write(c->wake[1], &one, 1) < 0 && errno == EINTR)
        ;
    pthread_join(c->thread, NULL);
    close_all(c);
}
