/* test_pipe.c - Pipe: framed messages between two processes, fd passing,
 * broken and hostile peers, named listener/connect. */
#include "harness.h"
#include <sys/prctl.h>
#include <time.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void fill_pattern(unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 31u + seed);
}

static bool check_pattern(const unsigned char *b, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        if (b[i] != (unsigned char)(i * 31u + seed))
            return false;
    return true;
}

static int exited_with(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* The end a child uses; the test closes its copy after the fork. */
struct ends {
    mproc_pipe *mine, *theirs;
};

static int child_echo(void *arg)
{
    struct ends *e = arg;
    mproc_pipe_close(e->mine);
    for (;;) {
        void *m;
        ssize_t n = mproc_pipe_recv_alloc(e->theirs, &m, 10000);
        if (n == MPROC_ECLOSED)
            return 0;
        if (n < 0)
            return 10;
        int rc = mproc_pipe_send(e->theirs, m, (size_t)n, 10000);
        free(m);
        if (rc != 0)
            return 11;
    }
}

MPROC_TEST(pipe, messages_round_trip_both_ways_at_every_size)
{
    static const size_t sizes[] = {0, 1, 64, 4096, 65536 - 16, 65536, 1 << 20, 16 << 20};
    struct ends e;
    MPROC_ASSERT_OK(mproc_pipe_create(&e.mine, &e.theirs, MPROC_PIPE_DUPLEX));
    pid_t pid = mproc_test_fork(child_echo, &e);
    MPROC_ASSERT_OK(mproc_pipe_close(e.theirs));
    unsigned char *out = malloc(16 << 20), *in = malloc(16 << 20);
    cr_assert(out && in);
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        fill_pattern(out, sizes[i], (unsigned)i);
        MPROC_ASSERT_OK(mproc_pipe_send(e.mine, out, sizes[i], 10000));
        ssize_t n = mproc_pipe_recv(e.mine, in, 16 << 20, 10000);
        cr_assert_eq(n, (ssize_t)sizes[i], "size %zu came back as %zd", sizes[i], n);
        cr_assert(check_pattern(in, sizes[i], (unsigned)i), "size %zu corrupted", sizes[i]);
    }
    MPROC_ASSERT_OK(mproc_pipe_close(e.mine));
    cr_assert_eq(exited_with(mproc_test_wait(pid, 10000)), 0);
    free(out);
    free(in);
}

MPROC_TEST(pipe, many_small_messages_arrive_in_order)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    for (int i = 0; i < 100; i++)
        MPROC_ASSERT_OK(mproc_pipe_send(b, &i, sizeof i, 1000));
    for (int i = 0; i < 100; i++) {
        int v = -1;
        cr_assert_eq(mproc_pipe_recv(a, &v, sizeof v, 1000), (ssize_t)sizeof v);
        cr_assert_eq(v, i);
    }
    MPROC_ASSERT_RC(mproc_pipe_recv(a, NULL, 0, 0), MPROC_EAGAIN);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

MPROC_TEST(pipe, one_way_pipe_refuses_the_wrong_direction)
{
    mproc_pipe *r, *w;
    MPROC_ASSERT_OK(mproc_pipe_create(&r, &w, MPROC_PIPE_ONEWAY));
    MPROC_ASSERT_RC(mproc_pipe_send(r, "x", 1, 0), MPROC_EBADF);
    char c;
    MPROC_ASSERT_RC((int)mproc_pipe_recv(w, &c, 1, 0), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_pipe_poll(w, 0), MPROC_EBADF);
    MPROC_ASSERT_OK(mproc_pipe_send(w, "x", 1, 0));
    cr_assert_eq(mproc_pipe_recv(r, &c, 1, 0), 1);
    cr_assert_eq(c, 'x');
    MPROC_ASSERT_OK(mproc_pipe_close(r));
    MPROC_ASSERT_OK(mproc_pipe_close(w));
}

struct big_arg {
    mproc_pipe *p;
    const void *m;
    size_t n;
};

static int child_send_big(void *arg)
{
    struct big_arg *a = arg;
    return mproc_pipe_send(a->p, a->m, a->n, 10000) == 0 ? 0 : 1;
}

MPROC_TEST(pipe, too_small_buffer_keeps_the_message)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    MPROC_ASSERT_OK(mproc_pipe_send(b, "hello world", 11, 0));
    MPROC_ASSERT_OK(mproc_pipe_send(b, "next", 4, 0));
    char buf[32];
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, buf, 5, 0), MPROC_EMSGSIZE);
    cr_assert_eq(mproc_pipe_next_size(a, 0), 11);
    cr_assert_eq(mproc_pipe_recv(a, buf, sizeof buf, 0), 11);
    cr_assert(memcmp(buf, "hello world", 11) == 0);
    cr_assert_eq(mproc_pipe_recv(a, buf, sizeof buf, 0), 4);
    cr_assert(memcmp(buf, "next", 4) == 0);
    /* The same for a frame larger than the read-ahead buffer. */
    size_t big = 1 << 20;
    unsigned char *m = malloc(big);
    fill_pattern(m, big, 7);
    struct big_arg ba = {b, m, big};
    pid_t pid = mproc_test_fork(child_send_big, &ba);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, buf, sizeof buf, 10000), MPROC_EMSGSIZE);
    cr_assert_eq(mproc_pipe_next_size(a, 0), (ssize_t)big);
    void *got;
    cr_assert_eq(mproc_pipe_recv_alloc(a, &got, 10000), (ssize_t)big);
    cr_assert(check_pattern(got, big, 7));
    free(got);
    free(m);
    cr_assert_eq(exited_with(mproc_test_wait(pid, 10000)), 0);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

MPROC_TEST(pipe, recv_alloc_gives_a_buffer_even_for_empty_messages)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    MPROC_ASSERT_OK(mproc_pipe_send(b, NULL, 0, 0));
    MPROC_ASSERT_OK(mproc_pipe_send(b, "abc", 3, 0));
    void *m = NULL;
    cr_assert_eq(mproc_pipe_recv_alloc(a, &m, 0), 0);
    cr_assert_not_null(m);
    free(m);
    cr_assert_eq(mproc_pipe_recv_alloc(a, &m, 0), 3);
    cr_assert(memcmp(m, "abc", 3) == 0);
    free(m);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

MPROC_TEST(pipe, recv_and_poll_time_out_when_nothing_comes)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    char c;
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, &c, 1, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, &c, 1, 30), MPROC_ETIMEDOUT);
    MPROC_ASSERT_RC(mproc_pipe_poll(a, 0), 0);
    MPROC_ASSERT_RC(mproc_pipe_poll(a, 30), 0);
    MPROC_ASSERT_RC((int)mproc_pipe_next_size(a, 20), MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

MPROC_TEST(pipe, poll_sees_messages_already_read_ahead)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    MPROC_ASSERT_OK(mproc_pipe_send(b, "one", 3, 0));
    MPROC_ASSERT_OK(mproc_pipe_send(b, "two", 3, 0));
    char buf[8];
    cr_assert_eq(mproc_pipe_recv(a, buf, sizeof buf, 0), 3);
    /* "two" came in the same read: the socket is empty, the end is not. */
    int n = -1;
    cr_assert_eq(ioctl(mproc_pipe_fd(a), FIONREAD, &n), 0);
    cr_assert_eq(n, 0);
    MPROC_ASSERT_RC(mproc_pipe_poll(a, 0), 1);
    cr_assert_eq(mproc_pipe_recv(a, buf, sizeof buf, 0), 3);
    MPROC_ASSERT_RC(mproc_pipe_poll(a, 0), 0);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

MPROC_TEST(pipe, wait_reports_which_of_many_pipes_are_ready)
{
    enum { N = 80 }; /* more than fit in wait's stack array */
    mproc_pipe *r[N], *w[N];
    for (int i = 0; i < N; i++)
        MPROC_ASSERT_OK(mproc_pipe_create(&r[i], &w[i], MPROC_PIPE_ONEWAY));
    int ready[N];
    MPROC_ASSERT_RC(mproc_pipe_wait(r, N, 20, ready), 0);
    for (int i = 0; i < N; i++)
        cr_assert_eq(ready[i], 0);
    MPROC_ASSERT_OK(mproc_pipe_send(w[3], "a", 1, 0));
    MPROC_ASSERT_OK(mproc_pipe_send(w[77], "b", 1, 0));
    MPROC_ASSERT_OK(mproc_pipe_close(w[50]));
    MPROC_ASSERT_RC(mproc_pipe_wait(r, N, MPROC_FOREVER, ready), 3);
    for (int i = 0; i < N; i++)
        cr_assert_eq(ready[i], i == 3 || i == 77 || i == 50, "pipe %d", i);
    char c;
    MPROC_ASSERT_RC((int)mproc_pipe_recv(r[50], &c, 1, 0), MPROC_ECLOSED);
    MPROC_ASSERT_RC(mproc_pipe_wait(r, N, 0, NULL), 3);
    mproc_pipe *bad[2] = {r[0], w[0]};
    MPROC_ASSERT_RC(mproc_pipe_wait(bad, 2, 0, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_wait(&w[0], 1, 0, NULL), MPROC_EINVAL);
    for (int i = 0; i < N; i++) {
        MPROC_ASSERT_OK(mproc_pipe_close(r[i]));
        if (i != 50)
            MPROC_ASSERT_OK(mproc_pipe_close(w[i]));
    }
}

static int child_send_then_close(void *arg)
{
    struct ends *e = arg;
    mproc_pipe_close(e->mine);
    int rc = mproc_pipe_send(e->theirs, "last words", 10, 5000);
    mproc_pipe_close(e->theirs);
    return rc == 0 ? 0 : 1;
}

MPROC_TEST(pipe, peer_close_gives_messages_in_flight_then_eclosed)
{
    struct ends e;
    MPROC_ASSERT_OK(mproc_pipe_create(&e.mine, &e.theirs, 0));
    pid_t pid = mproc_test_fork(child_send_then_close, &e);
    MPROC_ASSERT_OK(mproc_pipe_close(e.theirs));
    cr_assert_eq(exited_with(mproc_test_wait(pid, 5000)), 0);
    char buf[16];
    cr_assert_eq(mproc_pipe_recv(e.mine, buf, sizeof buf, 1000), 10);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(e.mine, buf, sizeof buf, 1000), MPROC_ECLOSED);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(e.mine, buf, sizeof buf, 0), MPROC_ECLOSED);
    MPROC_ASSERT_RC(mproc_pipe_poll(e.mine, 0), 1);
    MPROC_ASSERT_OK(mproc_pipe_close(e.mine));
}

MPROC_TEST(pipe, send_to_a_closed_peer_is_eclosed_not_sigpipe)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    /* Default SIGPIPE disposition: a SIGPIPE would kill the test. */
    signal(SIGPIPE, SIG_DFL);
    MPROC_ASSERT_RC(mproc_pipe_send(b, "x", 1, 0), MPROC_ECLOSED);
    MPROC_ASSERT_RC(mproc_pipe_send(b, "x", 1, MPROC_FOREVER), MPROC_ECLOSED);
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

/* A peer that writes half a frame straight to the socket and is killed. */
static int child_half_frame(void *arg)
{
    struct ends *e = arg;
    struct {
        uint32_t magic, nfds;
        uint64_t len;
    } h = {0x3146504Du, 0, 1000};
    int fd = mproc_pipe_fd(e->theirs);
    if (write(fd, &h, sizeof h) != (ssize_t)sizeof h || write(fd, "0123456789", 10) != 10)
        return 1;
    raise(SIGKILL);
    return 2;
}

MPROC_TEST(pipe, peer_killed_mid_frame_gives_econnreset)
{
    struct ends e;
    MPROC_ASSERT_OK(mproc_pipe_create(&e.mine, &e.theirs, 0));
    pid_t pid = mproc_test_fork(child_half_frame, &e);
    MPROC_ASSERT_OK(mproc_pipe_close(e.theirs));
    cr_assert_eq(exited_with(mproc_test_wait(pid, 5000)), 1000 + SIGKILL);
    char buf[2000];
    MPROC_ASSERT_RC((int)mproc_pipe_recv(e.mine, buf, sizeof buf, 1000), MPROC_ECONNRESET);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(e.mine, buf, sizeof buf, 0), MPROC_ECONNRESET);
    MPROC_ASSERT_OK(mproc_pipe_close(e.mine));
}

static int child_send_16mib(void *arg)
{
    struct ends *e = arg;
    mproc_pipe_close(e->mine);
    size_t n = 16 << 20;
    char *m = calloc(1, n);
    /* Blocks: nobody reads until the parent has seen the frame begin. */
    int rc = m ? mproc_pipe_send(e->theirs, m, n, MPROC_FOREVER) : 1;
    free(m);
    return rc == 0 ? 0 : 1;
}

MPROC_TEST(pipe, sender_killed_inside_a_large_send_gives_econnreset)
{
    struct ends e;
    MPROC_ASSERT_OK(mproc_pipe_create(&e.mine, &e.theirs, 0));
    pid_t pid = mproc_test_fork(child_send_16mib, &e);
    MPROC_ASSERT_OK(mproc_pipe_close(e.theirs));
    /* The header is in, and the socket holds far less than 16 MiB: the
     * child is blocked in the middle of the frame. */
    cr_assert_eq(mproc_pipe_next_size(e.mine, 5000), 16 << 20);
    char *buf = malloc(16 << 20);
    kill(pid, SIGKILL);
    cr_assert_eq(exited_with(mproc_test_wait(pid, 5000)), 1000 + SIGKILL);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(e.mine, buf, 16 << 20, 5000), MPROC_ECONNRESET);
    MPROC_ASSERT_RC(mproc_pipe_poll(e.mine, 0), 1);
    free(buf);
    MPROC_ASSERT_OK(mproc_pipe_close(e.mine));
}

static void raw_write(mproc_pipe *p, uint32_t magic, uint32_t nfds, uint64_t len)
{
    struct {
        uint32_t magic, nfds;
        uint64_t len;
    } h = {magic, nfds, len};
    cr_assert_eq(write(mproc_pipe_fd(p), &h, sizeof h), (ssize_t)sizeof h);
}

MPROC_TEST(pipe, garbage_headers_give_ebadmsg_and_nothing_is_allocated)
{
    static const struct {
        uint32_t magic, nfds;
        uint64_t len;
    } bad[] = {
        {0x3146504Du, 0, UINT64_MAX},       /* absurd length */
        {0x3146504Du, 0, (1ull << 30) + 1}, /* above the default maximum */
        {0xdeadbeefu, 0, 4},                /* not a frame at all */
        {0x3146504Du, 1000, 4},             /* too many descriptors */
        {0x3146504Du, 2, 4},                /* announces descriptors that never came */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mproc_pipe *a, *b;
        MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
        raw_write(b, bad[i].magic, bad[i].nfds, bad[i].len);
        cr_assert_eq(write(mproc_pipe_fd(b), "abcd", 4), 4);
        void *m = NULL;
        cr_assert_eq(mproc_pipe_recv_alloc(a, &m, 1000), MPROC_EBADMSG, "case %zu", i);
        cr_assert_null(m);
        /* Sticky: the stream is out of step for good. */
        MPROC_ASSERT_OK(mproc_pipe_send(b, "ok", 2, 0));
        cr_assert_eq(mproc_pipe_recv_alloc(a, &m, 0), MPROC_EBADMSG);
        MPROC_ASSERT_OK(mproc_pipe_close(a));
        MPROC_ASSERT_OK(mproc_pipe_close(b));
    }
}

MPROC_TEST(pipe, max_message_size_is_enforced_on_both_sides)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    MPROC_ASSERT_OK(mproc_pipe_set_max_msg(b, 100));
    char buf[200] = {0};
    MPROC_ASSERT_RC(mproc_pipe_send(b, buf, 101, 0), MPROC_EMSGSIZE);
    MPROC_ASSERT_OK(mproc_pipe_send(b, buf, 100, 0));
    MPROC_ASSERT_OK(mproc_pipe_set_max_msg(a, 50));
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, buf, sizeof buf, 0), MPROC_EBADMSG);
    MPROC_ASSERT_RC(mproc_pipe_set_max_msg(a, 0), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

static bool is_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);
    return fl >= 0 && (fl & FD_CLOEXEC);
}

static int child_attach_memfd(void *arg)
{
    struct ends *e = arg;
    mproc_pipe_close(e->mine);
    char buf[16];
    int fds[4];
    size_t nfds = 4;
    ssize_t n = mproc_pipe_recv_fds(e->theirs, buf, sizeof buf, fds, &nfds, 5000);
    if (n != 3 || memcmp(buf, "shm", 3) != 0 || nfds != 1)
        return 20;
    if (!is_cloexec(fds[0]))
        return 21;
    mproc_shm *s;
    int rc = mproc_shm_from_fd(&s, fds[0]);
    close(fds[0]);
    if (rc != 0)
        return 22;
    strcpy(mproc_shm_ptr(s), "written by the child");
    mproc_shm_close(s);
    rc = mproc_pipe_send(e->theirs, "done", 4, 5000);
    mproc_pipe_close(e->theirs);
    return rc == 0 ? 0 : 23;
}

MPROC_TEST(pipe, file_descriptors_pass_to_another_process)
{
    struct ends e;
    MPROC_ASSERT_OK(mproc_pipe_create(&e.mine, &e.theirs, 0));
    pid_t pid = mproc_test_fork(child_attach_memfd, &e);
    MPROC_ASSERT_OK(mproc_pipe_close(e.theirs));
    /* Created after the fork: the child can only get it through the pipe. */
    mproc_shm *s;
    MPROC_ASSERT_OK(mproc_shm_create(&s, NULL, 4096));
    int fd = mproc_shm_fd(s);
    MPROC_ASSERT_OK(mproc_pipe_send_fds(e.mine, "shm", 3, &fd, 1, 5000));
    char buf[8];
    cr_assert_eq(mproc_pipe_recv(e.mine, buf, sizeof buf, 5000), 4);
    cr_assert_eq(exited_with(mproc_test_wait(pid, 5000)), 0);
    cr_assert_str_eq(mproc_shm_ptr(s), "written by the child");
    MPROC_ASSERT_OK(mproc_shm_close(s));
    MPROC_ASSERT_OK(mproc_pipe_close(e.mine));
}

/* Frames with and without descriptors, read ahead together: each frame
 * gets exactly its own. */
MPROC_TEST(pipe, descriptors_stay_with_their_frames_through_read_ahead)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    int p1[2], p2[2];
    cr_assert_eq(pipe2(p1, O_CLOEXEC), 0);
    cr_assert_eq(pipe2(p2, O_CLOEXEC), 0);
    MPROC_ASSERT_OK(mproc_pipe_send(b, "A", 1, 0));
    MPROC_ASSERT_OK(mproc_pipe_send_fds(b, "B", 1, p1, 2, 0));
    MPROC_ASSERT_OK(mproc_pipe_send(b, "C", 1, 0));
    MPROC_ASSERT_OK(mproc_pipe_send_fds(b, "D", 1, &p2[1], 1, 0));
    MPROC_ASSERT_OK(mproc_pipe_send_fds(b, "E", 1, &p2[0], 1, 0));
    char c;
    int fds[4];
    size_t nfds;
    const char *order = "ABCDE";
    const size_t want[] = {0, 2, 0, 1, 1};
    int got_fds[5][2];
    for (int i = 0; i < 5; i++) {
        nfds = 4;
        cr_assert_eq(mproc_pipe_recv_fds(a, &c, 1, fds, &nfds, 0), 1);
        cr_assert_eq(c, order[i]);
        cr_assert_eq(nfds, want[i], "frame %c got %zu fds", c, nfds);
        memcpy(got_fds[i], fds, nfds * sizeof(int));
    }
    /* B's pair is p1 (write end works into read end); D's is p2's write
     * end, E's its read end. */
    cr_assert_eq(write(got_fds[1][1], "1", 1), 1);
    cr_assert_eq(read(p1[0], &c, 1), 1);
    cr_assert_eq(write(got_fds[3][0], "2", 1), 1);
    cr_assert_eq(read(got_fds[4][0], &c, 1), 1);
    cr_assert_eq(c, '2');
    /* A frame with descriptors read by plain recv: they are closed. */
    MPROC_ASSERT_OK(mproc_pipe_send_fds(b, "F", 1, p1, 2, 0));
    cr_assert_eq(mproc_pipe_recv(a, &c, 1, 0), 1);
    /* Not enough room for the descriptors: the message stays. */
    MPROC_ASSERT_OK(mproc_pipe_send_fds(b, "G", 1, p1, 2, 0));
    nfds = 1;
    MPROC_ASSERT_RC((int)mproc_pipe_recv_fds(a, &c, 1, fds, &nfds, 0), MPROC_EMSGSIZE);
    nfds = 2;
    cr_assert_eq(mproc_pipe_recv_fds(a, &c, 1, fds, &nfds, 0), 1);
    cr_assert_eq(nfds, 2u);
    close(fds[0]);
    close(fds[1]);
    close(got_fds[1][0]);
    close(got_fds[1][1]);
    close(got_fds[3][0]);
    close(got_fds[4][0]);
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);
    MPROC_ASSERT_RC(mproc_pipe_send_fds(b, "x", 1, NULL, 0, 0), MPROC_EINVAL);
    int badfd = 9999;
    MPROC_ASSERT_RC(mproc_pipe_send_fds(b, "x", 1, &badfd, 1, 0), MPROC_EBADF);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

/* A peer that attaches descriptors to a frame that does not announce them. */
static void raw_send_with_fd(mproc_pipe *p, int fd)
{
    struct {
        uint32_t magic, nfds;
        uint64_t len;
    } h = {0x3146504Du, 0, 1};
    char body = 'U';
    struct iovec iov[2] = {{&h, sizeof h}, {&body, 1}};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {
        .msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    cr_assert_eq(sendmsg(mproc_pipe_fd(p), &m, 0), (ssize_t)(sizeof h + 1));
}

MPROC_TEST(pipe, unannounced_descriptors_are_closed_not_handed_to_a_later_frame)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    int pp[2];
    cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
    raw_send_with_fd(b, pp[0]);
    MPROC_ASSERT_OK(mproc_pipe_send(b, "V", 1, 0));
    MPROC_ASSERT_OK(mproc_pipe_send_fds(b, "W", 1, &pp[1], 1, 0));
    char c;
    int fds[2];
    size_t nfds = 2;
    cr_assert_eq(mproc_pipe_recv_fds(a, &c, 1, fds, &nfds, 0), 1);
    cr_assert_eq(c, 'U');
    cr_assert_eq(nfds, 0u);
    nfds = 2;
    cr_assert_eq(mproc_pipe_recv_fds(a, &c, 1, fds, &nfds, 0), 1);
    cr_assert_eq(c, 'V');
    cr_assert_eq(nfds, 0u, "V must not get U's descriptor");
    nfds = 2;
    cr_assert_eq(mproc_pipe_recv_fds(a, &c, 1, fds, &nfds, 0), 1);
    cr_assert_eq(c, 'W');
    cr_assert_eq(nfds, 1u);
    /* W's descriptor is the write end of pp. */
    cr_assert_eq(write(fds[0], "z", 1), 1);
    cr_assert_eq(read(pp[0], &c, 1), 1);
    cr_assert_eq(c, 'z');
    close(fds[0]);
    close(pp[0]);
    close(pp[1]);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
    /* The harness's fd check proves U's descriptor was closed. */
}

MPROC_TEST(pipe, timed_out_send_and_recv_lose_nothing)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    /* Fill the socket: a send that cannot start sends nothing. */
    static char chunk[4096];
    int sent = 0;
    int rc;
    while ((rc = mproc_pipe_send(b, chunk, sizeof chunk, 0)) == 0)
        sent++;
    MPROC_ASSERT_RC(rc, MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_pipe_send(b, chunk, sizeof chunk, 20), MPROC_ETIMEDOUT);
    for (int i = 0; i < sent; i++)
        cr_assert_eq(mproc_pipe_recv(a, chunk, sizeof chunk, 0), (ssize_t)sizeof chunk);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, chunk, sizeof chunk, 0), MPROC_EAGAIN);

    /* A large send that times out part-way is accepted; the rest goes out
     * with flush. The receiver times out inside the frame and resumes. */
    size_t big = 4 << 20;
    unsigned char *m = malloc(big), *in = malloc(big);
    fill_pattern(m, big, 3);
    MPROC_ASSERT_OK(mproc_pipe_send(b, m, big, 0));
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, in, big, 10), MPROC_ETIMEDOUT);
    ssize_t n;
    int rounds = 0;
    while ((n = mproc_pipe_recv(a, in, big, 0)) == MPROC_EAGAIN) {
        rc = mproc_pipe_flush(b, 0);
        cr_assert(rc == 0 || rc == MPROC_EAGAIN);
        cr_assert(++rounds < 100000);
    }
    cr_assert_eq(n, (ssize_t)big);
    cr_assert(check_pattern(in, big, 3));
    MPROC_ASSERT_OK(mproc_pipe_flush(b, 0));
    /* The same with the library allocating. */
    MPROC_ASSERT_OK(mproc_pipe_send(b, m, big, 0));
    void *got;
    MPROC_ASSERT_RC((int)mproc_pipe_recv_alloc(a, &got, 10), MPROC_ETIMEDOUT);
    while ((n = mproc_pipe_recv_alloc(a, &got, 0)) == MPROC_EAGAIN)
        mproc_pipe_flush(b, 0);
    cr_assert_eq(n, (ssize_t)big);
    cr_assert(check_pattern(got, big, 3));
    free(got);
    free(m);
    free(in);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

static int child_take_big_then_ack(void *arg)
{
    struct ends *e = arg;
    mproc_pipe_close(e->mine);
    void *m;
    ssize_t n = mproc_pipe_recv_alloc(e->theirs, &m, 10000);
    if (n != 4 << 20)
        return 40;
    bool ok = check_pattern(m, (size_t)n, 9);
    free(m);
    int rc = mproc_pipe_send(e->theirs, "ack", 3, 10000);
    mproc_pipe_close(e->theirs);
    return ok && rc == 0 ? 0 : 41;
}

/* Request/response after a send that timed out part-way: the receive that
 * waits for the answer must push the rest of the request out meanwhile. */
MPROC_TEST(pipe, recv_pushes_out_the_rest_of_a_timed_out_send)
{
    struct ends e;
    MPROC_ASSERT_OK(mproc_pipe_create(&e.mine, &e.theirs, 0));
    size_t big = 4 << 20;
    unsigned char *m = malloc(big);
    fill_pattern(m, big, 9);
    MPROC_ASSERT_OK(mproc_pipe_send(e.mine, m, big, 0)); /* part-way: rest kept */
    free(m);
    pid_t pid = mproc_test_fork(child_take_big_then_ack, &e);
    MPROC_ASSERT_OK(mproc_pipe_close(e.theirs));
    char buf[8];
    cr_assert_eq(mproc_pipe_recv(e.mine, buf, sizeof buf, MPROC_FOREVER), 3);
    cr_assert_eq(exited_with(mproc_test_wait(pid, 10000)), 0);
    MPROC_ASSERT_OK(mproc_pipe_close(e.mine));
}

static void listener_name(char *buf, size_t n)
{
    snprintf(buf, n, "t-pipe-%d", (int)getpid());
}

static int child_connect(void *arg)
{
    const char *name = arg;
    mproc_pipe *p;
    if (mproc_pipe_connect(&p, name, 5000) != 0)
        return 30;
    int rc = mproc_pipe_send(p, "hi", 2, 5000);
    char buf[8];
    if (rc == 0 && mproc_pipe_recv(p, buf, sizeof buf, 5000) != 5)
        rc = 31;
    mproc_pipe_close(p);
    return rc == 0 ? 0 : 32;
}

MPROC_TEST(pipe, listener_accepts_a_client_from_another_process)
{
    char name[64];
    listener_name(name, sizeof name);
    /* The child starts first and waits for the listener to appear. */
    pid_t pid = mproc_test_fork(child_connect, name);
    mproc_test_sleep_ms(20);
    mproc_listener *l;
    MPROC_ASSERT_OK(mproc_listener_create(&l, name, 0));
    cr_assert(mproc_listener_fd(l) >= 0);
    mproc_listener *l2;
    MPROC_ASSERT_RC(mproc_listener_create(&l2, name, 0), MPROC_EEXIST);
    mproc_pipe *p;
    MPROC_ASSERT_OK(mproc_listener_accept(l, &p, 5000));
    char buf[8];
    cr_assert_eq(mproc_pipe_recv(p, buf, sizeof buf, 5000), 2);
    MPROC_ASSERT_OK(mproc_pipe_send(p, "hello", 5, 5000));
    cr_assert_eq(exited_with(mproc_test_wait(pid, 5000)), 0);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(p, buf, sizeof buf, 5000), MPROC_ECLOSED);
    MPROC_ASSERT_OK(mproc_pipe_close(p));
    MPROC_ASSERT_RC(mproc_listener_accept(l, &p, 20), MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_listener_close(l));
}

MPROC_TEST(pipe, connect_without_listener_is_refused_or_times_out)
{
    char name[64];
    listener_name(name, sizeof name);
    mproc_pipe *p;
    MPROC_ASSERT_RC(mproc_pipe_connect(&p, name, 0), MPROC_ECONNREFUSED);
    MPROC_ASSERT_RC(mproc_pipe_connect(&p, name, 30), MPROC_ETIMEDOUT);
    MPROC_ASSERT_RC(mproc_pipe_connect(&p, "bad/name", 0), MPROC_EINVAL);
    mproc_listener *l;
    MPROC_ASSERT_RC(mproc_listener_create(&l, "", 0), MPROC_EINVAL);
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    MPROC_ASSERT_RC(mproc_listener_create(&l, longname, 0), MPROC_ENAMETOOLONG);
    /* Accepted by the kernel's name check, too long for sun_path. */
    longname[150] = '\0';
    MPROC_ASSERT_RC(mproc_listener_create(&l, longname, 0), MPROC_ENAMETOOLONG);
}

MPROC_TEST(pipe, bad_arguments_are_errors)
{
    mproc_pipe *a, *b;
    MPROC_ASSERT_RC(mproc_pipe_create(NULL, &b, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_create(&a, &b, 42), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    MPROC_ASSERT_RC(mproc_pipe_send(NULL, "x", 1, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_send(a, NULL, 1, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_send(a, "x", 1, -5), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(NULL, NULL, 0, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_pipe_recv(a, NULL, 5, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_pipe_recv_alloc(a, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC((int)mproc_pipe_recv_fds(a, NULL, 0, NULL, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_poll(NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_wait(NULL, 1, 0, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_fd(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_close(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_listener_accept(NULL, &a, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_listener_close(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_connect(NULL, "x", 0), MPROC_EINVAL);
    cr_assert(is_cloexec(mproc_pipe_fd(a)));
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

/* Credentials: needs root to have a second uid at hand. */
struct cred_arg {
    char name[64];
    int expect_connect; /* what the client's connect must return */
};

static int child_connect_as_nobody(void *arg)
{
    struct cred_arg *a = arg;
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 50;
    mproc_pipe *p;
    int rc = mproc_pipe_connect(&p, a->name, 5000);
    if (rc != 0)
        return 51;
    /* Trusts the root listener; whether it is served is the listener's
     * choice: send, and see the answer or the close. */
    rc = mproc_pipe_send(p, "hi", 2, 5000);
    char buf[8];
    ssize_t n = mproc_pipe_recv(p, buf, sizeof buf, 5000);
    mproc_pipe_close(p);
    if (rc == MPROC_ECLOSED || (rc == 0 && n == MPROC_ECLOSED))
        return 3; /* turned away, before or after the send */
    return rc == 0 && n == 2 ? 0 : 52;
}

MPROC_TEST(pipe, listener_turns_away_other_users_unless_any_uid)
{
    if (geteuid() != 0)
        return; /* needs a second uid */
    struct cred_arg a;
    listener_name(a.name, sizeof a.name);
    mproc_listener *l;
    MPROC_ASSERT_OK(mproc_listener_create(&l, a.name, 0));
    pid_t pid = mproc_test_fork(child_connect_as_nobody, &a);
    mproc_pipe *p;
    MPROC_ASSERT_RC(mproc_listener_accept(l, &p, 300), MPROC_ETIMEDOUT);
    int st = exited_with(mproc_test_wait(pid, 5000));
    cr_assert_eq(st, 3, "the client was closed (status %d)", st);
    MPROC_ASSERT_OK(mproc_listener_close(l));

    MPROC_ASSERT_OK(mproc_listener_create(&l, a.name, MPROC_LISTENER_ANY_UID));
    pid = mproc_test_fork(child_connect_as_nobody, &a);
    MPROC_ASSERT_OK(mproc_listener_accept(l, &p, 5000));
    char buf[8];
    cr_assert_eq(mproc_pipe_recv(p, buf, sizeof buf, 5000), 2);
    MPROC_ASSERT_OK(mproc_pipe_send(p, "ok", 2, 5000));
    cr_assert_eq(exited_with(mproc_test_wait(pid, 5000)), 0);
    MPROC_ASSERT_OK(mproc_pipe_close(p));
    MPROC_ASSERT_OK(mproc_listener_close(l));
}

/* Connects as another user again and again until killed, with raw
 * sockets (cheaper than the listener's accept, so the backlog stays full),
 * keeping the last RING connections open. Bounded all the same: it dies
 * with the test process (the parent-death signal is set again after
 * setuid, which clears it) and stops by itself after 20 s, so a failed
 * assertion in the parent never leaves it spinning. */
static int child_flood_as_nobody(void *arg)
{
    enum { RING = 256 };
    struct cred_arg *a = arg;
    pid_t parent = getppid();
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 50;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
        return 51;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int n = snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "mproc-%s", a->name);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int ring[RING];
    for (int i = 0; i < RING; i++)
        ring[i] = -1;
    for (unsigned i = 0;; i = (i + 1) % RING) {
        if (ring[i] >= 0)
            close(ring[i]);
        ring[i] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
        (void)connect(ring[i], (struct sockaddr *)&sa, len);
        if (i == 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec - t0.tv_sec > 20)
                return 0;
        }
    }
}

/* Turned-away clients must not keep accept past its deadline: every one
 * of them used to restart the wait. */
MPROC_TEST(pipe, listener_accept_times_out_under_a_flood_of_other_users)
{
    if (geteuid() != 0)
        return; /* needs a second uid */
    struct cred_arg a;
    listener_name(a.name, sizeof a.name);
    mproc_listener *l;
    MPROC_ASSERT_OK(mproc_listener_create(&l, a.name, 0));
    pid_t pid = mproc_test_fork(child_flood_as_nobody, &a);
    mproc_pipe *p;
    /* Wait until the flood has begun: a client is waiting. */
    struct pollfd pfd = {.fd = mproc_listener_fd(l), .events = POLLIN};
    cr_assert_eq(poll(&pfd, 1, 5000), 1);
    MPROC_ASSERT_RC(mproc_listener_accept(l, &p, 200), MPROC_ETIMEDOUT);
    MPROC_ASSERT_RC(mproc_listener_accept(l, &p, 0), MPROC_EAGAIN);
    kill(pid, SIGKILL);
    mproc_test_wait(pid, 5000);
    MPROC_ASSERT_OK(mproc_listener_close(l));
}

static int child_listen_as_nobody(void *arg)
{
    struct cred_arg *a = arg;
    if (setgid(65534) != 0 || setuid(65534) != 0)
        return 60;
    mproc_listener *l;
    if (mproc_listener_create(&l, a->name, MPROC_LISTENER_ANY_UID) != 0)
        return 61;
    /* Stay until the parent has tried (it closes its end of the pipe). */
    mproc_pipe *p;
    int rc = mproc_listener_accept(l, &p, 5000);
    if (rc == 0)
        mproc_pipe_close(p);
    mproc_listener_close(l);
    return 0;
}

MPROC_TEST(pipe, client_refuses_a_listener_of_another_user)
{
    if (geteuid() != 0)
        return; /* needs a second uid */
    struct cred_arg a;
    listener_name(a.name, sizeof a.name);
    pid_t pid = mproc_test_fork(child_listen_as_nobody, &a);
    mproc_pipe *p;
    int rc;
    /* Wait for the listener to appear; then the answer is EACCES. */
    while ((rc = mproc_pipe_connect(&p, a.name, 0)) == MPROC_ECONNREFUSED)
        mproc_test_sleep_ms(5);
    MPROC_ASSERT_RC(rc, MPROC_EACCES);
    cr_assert_eq(exited_with(mproc_test_wait(pid, 10000)), 0);
}
