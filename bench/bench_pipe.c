/* bench_pipe.c - mproc's Pipe against the raw socket pair it is built on,
 * and against Python's multiprocessing.Pipe, in the same run, interleaved.
 *
 * Rows (area "pipe"; CSV area,case,impl,median,min,max,unit):
 *   1to1_64B            one-way stream of 64 B messages, Mmsg/s
 *   1to1_1MiB           one-way stream of 1 MiB messages, GB/s
 *   pingpong_sleep_64B  round trip of 64 B, both sides blocking, us/op
 *
 * What "raw" means: an AF_UNIX socketpair with the kernel's default buffer
 * sizes, fixed-size messages written and read with plain write/read loops
 * (SOCK_STREAM: no framing at all, the receiver knows the size) or one
 * datagram per message (SOCK_SEQPACKET, 64 B rows only: a 1 MiB datagram
 * does not fit the default buffers). mproc's Pipe adds its framing, its
 * read-ahead buffer and its checks on top of such a SOCK_STREAM pair; the
 * target is to stay within 10% of the raw pair.
 *
 * Processes: every case forks a sender and a receiver anew (procs.h), sender
 * on CPU 0, receiver on CPU 1, start barrier, and only the transfer is
 * timed (to the receiver's last message, or the initiator's last reply).
 * The receiver checks that ids arrive in order and complete.
 *
 * The mproc cases are compiled only when <mproc/pipe.h> declares the Pipe
 * (MPROC_PIPE_DUPLEX) and are left out at run time when creating one fails.
 * MPROC_BENCH_SCALE scales the message counts, MPROC_BENCH_REPS the rounds;
 * MPROC_BENCH_ONLY=substring keeps the rows whose case name contains it.
 */
#include "procs.h"
#include "pyrun.h"

#include <mproc.h>

#include <sys/socket.h>

#define PB_MAXCASES 8

enum pb_kind { PB_MPROC, PB_STREAM, PB_SEQPACKET };

struct pb_job {
    enum pb_kind kind;
    size_t size;
    uint64_t n;
    int pingpong;
    const char *what;
    /* per run */
    int sv[2];
#ifdef MPROC_PIPE_DUPLEX
    mproc_pipe *a, *b; /* stream: a receives, b sends; ping-pong: A on a, B on b */
#endif
};

static struct bp_ctl *g_ctl;

static int pb_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int pb_read_all(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t k = read(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int pb_setup(struct pb_job *j)
{
    if (j->kind == PB_MPROC) {
#ifdef MPROC_PIPE_DUPLEX
        return mproc_pipe_create(&j->a, &j->b, j->pingpong ? MPROC_PIPE_DUPLEX : MPROC_PIPE_ONEWAY);
#else
        return -1;
#endif
    }
    int type = j->kind == PB_STREAM ? SOCK_STREAM : SOCK_SEQPACKET;
    return socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, j->sv);
}

static void pb_teardown(struct pb_job *j)
{
    if (j->kind == PB_MPROC) {
#ifdef MPROC_PIPE_DUPLEX
        mproc_pipe_close(j->a);
        mproc_pipe_close(j->b);
        j->a = j->b = NULL;
#endif
        return;
    }
    close(j->sv[0]);
    close(j->sv[1]);
}

/* side 0 sends on the stream rows and initiates the ping-pong; side 1
 * receives / echoes. Each side closes the end it does not use. */
static void pb_child_init(struct pb_job *j, int side)
{
    if (j->kind == PB_MPROC) {
#ifdef MPROC_PIPE_DUPLEX
        if (j->pingpong ? side == 0 : side == 1) {
            mproc_pipe_close(j->b);
            j->b = NULL;
        } else {
            mproc_pipe_close(j->a);
            j->a = NULL;
        }
#endif
        return;
    }
    close(j->sv[side == 0 ? 1 : 0]);
}

/* The end this side uses, for the raw sockets. */
static int pb_fd(const struct pb_job *j, int side)
{
    return j->sv[side == 0 ? 0 : 1];
}

static int pb_send(struct pb_job *j, int side, const void *buf)
{
    if (j->kind == PB_MPROC) {
#ifdef MPROC_PIPE_DUPLEX
        mproc_pipe *p = j->a ? j->a : j->b;
        return mproc_pipe_send(p, buf, j->size, MPROC_FOREVER) == 0 ? 0 : -1;
#else
        return -1;
#endif
    }
    if (j->kind == PB_STREAM)
        return pb_write_all(pb_fd(j, side), buf, j->size);
    for (;;) {
        ssize_t k = send(pb_fd(j, side), buf, j->size, 0);
        if (k < 0 && errno == EINTR)
            continue;
        return k == (ssize_t)j->size ? 0 : -1;
    }
}

static int pb_recv(struct pb_job *j, int side, void *buf)
{
    if (j->kind == PB_MPROC) {
#ifdef MPROC_PIPE_DUPLEX
        mproc_pipe *p = j->a ? j->a : j->b;
        return mproc_pipe_recv(p, buf, j->size, MPROC_FOREVER) == (ssize_t)j->size ? 0 : -1;
#else
        return -1;
#endif
    }
    if (j->kind == PB_STREAM)
        return pb_read_all(pb_fd(j, side), buf, j->size);
    for (;;) {
        ssize_t k = recv(pb_fd(j, side), buf, j->size, 0);
        if (k < 0 && errno == EINTR)
            continue;
        return k == (ssize_t)j->size ? 0 : -1;
    }
}

static void pb_child_fini(struct pb_job *j)
{
    if (j->kind == PB_MPROC) {
#ifdef MPROC_PIPE_DUPLEX
        mproc_pipe_close(j->a ? j->a : j->b);
        j->a = j->b = NULL;
#endif
        return;
    }
}

static int pb_child(int role, int idx, void *arg, struct bp_ctl *ctl)
{
    struct pb_job *j = arg;
    int side = role == BP_PRODUCER ? 0 : 1;
    (void)idx;
    pb_child_init(j, side);
    unsigned char *buf = aligned_alloc(64, (j->size + 63) / 64 * 64);
    if (!buf)
        return 20;
    memset(buf, 0x5a, j->size);
    int rc = 0;
    bp_start(ctl);
    for (uint64_t i = 0; i < j->n && rc == 0; i++) {
        uint64_t id;
        if (side == 0) {
            memcpy(buf, &i, 8);
            if (pb_send(j, side, buf) != 0)
                rc = 11;
            else if (j->pingpong && pb_recv(j, side, buf) != 0)
                rc = 12;
            else if (j->pingpong && (memcpy(&id, buf, 8), id != i))
                rc = 13;
        } else {
            if (pb_recv(j, side, buf) != 0)
                rc = 12;
            else if (j->pingpong && pb_send(j, side, buf) != 0)
                rc = 11;
            else if (!j->pingpong && (memcpy(&id, buf, 8), id != i))
                rc = 13;
        }
    }
    if (rc == 0 && (side == 0) == (j->pingpong != 0))
        ctl->t_end[side] = bench_now_ns();
    pb_child_fini(j);
    free(buf);
    return rc;
}

static uint64_t pb_case_fn(uint64_t n, void *arg)
{
    struct pb_job *j = arg;
    j->n = n;
    if (pb_setup(j) != 0) {
        bp_error(j->what, "set-up failed");
        return 1;
    }
    struct bp_spec s;
    memset(&s, 0, sizeof s);
    s.nprod = 1;
    s.ncons = 1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    s.pin_prod[0] = 0;
    s.pin_cons[0] = ncpu > 1 ? 1 : 0;
    s.fn = pb_child;
    s.arg = j;
    s.what = j->what;
    uint64_t ns = bp_run(&s, g_ctl);
    pb_teardown(j);
    return ns;
}

struct pb_row {
    const char *name;
    struct bench_case cases[PB_MAXCASES];
    int ncases;
};

static void pb_add(struct pb_row *r, const char *impl, enum pb_kind kind, size_t size, int pp,
                   double est_ns)
{
    struct pb_job *j = calloc(1, sizeof *j);
    char *what = malloc(128);
    if (!j || !what)
        exit(1);
    snprintf(what, 128, "%s/%s", r->name, impl);
    j->kind = kind;
    j->size = size;
    j->pingpong = pp;
    j->what = what;
    if (pb_setup(j) != 0) {
        printf("# %s: not available here (set-up failed), left out\n", what);
        free(j);
        free(what);
        return;
    }
    pb_teardown(j);
    struct bench_case *c = &r->cases[r->ncases++];
    memset(c, 0, sizeof *c);
    c->impl = impl;
    c->fn = pb_case_fn;
    c->arg = j;
    uint64_t n = (uint64_t)(60e6 / est_ns);
    c->n = bench_scale(n < 8 ? 8 : n);
}

static void pb_add_py(struct pb_row *r, const char *mode, size_t size, double est_ns)
{
    if (!py_available())
        return;
    struct py_job *j = calloc(1, sizeof *j);
    char *what = malloc(128);
    if (!j || !what)
        exit(1);
    snprintf(what, 128, "%s/py-mp.Pipe", r->name);
    j->impl = "pipe";
    j->mode = mode;
    j->size = size;
    j->nprod = 1;
    j->ncons = 1;
    j->what = what;
    struct bench_case *c = &r->cases[r->ncases++];
    memset(c, 0, sizeof *c);
    c->impl = "py-mp.Pipe";
    c->fn = py_case_fn;
    c->arg = j;
    uint64_t n = (uint64_t)(60e6 / est_ns);
    c->n = bench_scale(n < 8 ? 8 : n);
}

static int pb_wanted(const char *name)
{
    const char *only = getenv("MPROC_BENCH_ONLY");
    return !only || !*only || strstr(name, only) != NULL;
}

/* Runs the row, then frees its jobs. */
static void pb_row_run(struct pb_row *r, const char *unit, double bytes)
{
    if (r->ncases > 0) {
        fprintf(stderr, "bench_pipe: %s (%d cases)\n", r->name, r->ncases);
        bench_run("pipe", r->name, r->cases, r->ncases, unit, bytes);
    }
    for (int i = 0; i < r->ncases; i++) {
        if (r->cases[i].fn == py_case_fn) {
            struct py_job *j = r->cases[i].arg;
            free((char *)j->what);
            free(j);
        } else {
            struct pb_job *j = r->cases[i].arg;
            free((char *)j->what);
            free(j);
        }
    }
    r->ncases = 0;
}

static void pb_stream_row(const char *name, size_t size, const char *unit, double est_base,
                          double est_py)
{
    if (!pb_wanted(name))
        return;
    struct pb_row r = {.name = name};
    double est = est_base + 0.25 * (double)size;
    pb_add(&r, "mproc", PB_MPROC, size, 0, est);
    pb_add(&r, "socketpair-stream", PB_STREAM, size, 0, est);
    if (size <= 4096)
        pb_add(&r, "socketpair-seqpacket", PB_SEQPACKET, size, 0, est);
    pb_add_py(&r, "stream", size, est_py + 15 * (double)size);
    pb_row_run(&r, unit, (double)size);
}

static void pb_pingpong_row(void)
{
    const char *name = "pingpong_sleep_64B";
    if (!pb_wanted(name))
        return;
    struct pb_row r = {.name = name};
    pb_add(&r, "mproc", PB_MPROC, 64, 1, 15000);
    pb_add(&r, "socketpair-stream", PB_STREAM, 64, 1, 15000);
    pb_add(&r, "socketpair-seqpacket", PB_SEQPACKET, 64, 1, 15000);
    pb_add_py(&r, "pingpong", 64, 150000);
    pb_row_run(&r, "us/op", 64);
}

int main(int argc, char **argv)
{
    if (mproc_main(argc, argv) < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    g_ctl = bp_shared_alloc(sizeof *g_ctl);
    bench_print_header();
    printf("# bench_pipe: sender / initiator on CPU 0, receiver / echoer on CPU 1; reps %d\n",
           bench_reps());
    pb_stream_row("1to1_64B", 64, "Mmsg/s", 1500, 20000);
    pb_stream_row("1to1_1MiB", (size_t)1 << 20, "GB/s", 1500, 20000);
    pb_pingpong_row();
    bp_shared_free(g_ctl, sizeof *g_ctl);
    return bp_failed ? 1 : 0;
}
