/* pipe.c - framed messages over a connected AF_UNIX stream socket (see
 * mproc/pipe.h).
 *
 * Wire format: every message is a 16-byte header followed by the payload.
 *
 *   u32 magic  PIPE_MAGIC ("MPF1"); anything else is MPROC_EBADMSG
 *   u32 nfds   file descriptors sent with this frame (0..MPROC_PIPE_MAX_FDS)
 *   u64 len    payload bytes (<= the receiver's max message size)
 *
 * Native byte order: both ends are on one machine.
 *
 * Sending: header and payload go out in one system call: a small frame
 * without descriptors is copied into one buffer and sent with send(), any
 * other with one sendmsg (an iovec of two). Descriptors ride in SCM_RIGHTS on
 * the sendmsg that carries the header's first byte: the kernel attaches
 * them to the first skb of that call. With MPROC_FOREVER the socket's own
 * blocking is used (no poll); with a finite timeout MSG_DONTWAIT + poll. A
 * send that times out after part of the frame went out cannot take it back:
 * the rest is kept in `sbuf` and goes out before anything else.
 *
 * Receiving: the end reads ahead into `rbuf` (RBUF_SIZE bytes), so one
 * recvmsg may bring several small frames, and a small frame costs one
 * system call. A frame that does not fit in rbuf is read straight into its
 * destination after the header: a large payload is copied once, by the
 * kernel. If the timeout strikes inside such a frame, the part already read
 * moves to `pend` and the next call resumes there; nothing is lost.
 *
 * Descriptors and read-ahead: a recvmsg never returns descriptors of two
 * skbs (the kernel stops after an skb that carries some), but it may return
 * bytes of earlier frames together with them. So every batch of received
 * descriptors is queued with the stream offsets [start, end) of the read
 * that brought it, and a frame whose header starts at stream offset X and
 * announces n > 0 descriptors takes the oldest batch if start <= X < end
 * and the batch holds exactly n; batches that end at or before X were sent
 * with frames that did not announce them (a confused or hostile peer) and
 * are closed. Any other mismatch, and MSG_CTRUNC, is MPROC_EBADMSG.
 *
 * Errors on the receive side are sticky in `broken` (EBADMSG, ECONNRESET):
 * once the stream is out of step, no later frame can be trusted. A peer
 * that closed after whole frames gives MPROC_ECLOSED after the last one.
 *
 * No shared memory, no atomics: one end is used by one thread at a time.
 */
#include "internal.h"

#include "handle.h"
#include "linux/sock.h"
#include "pipe_internal.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_MAGIC 0x3146504Du /* "MPF1" */
#define HDR_SIZE 16
#define RBUF_SIZE (64 * 1024)
/* The kernel never passes more than SCM_MAX_FD (253) in one message; room
 * for all of them means MSG_CTRUNC can only come from a real problem. */
#define CMSG_FDS_MAX 253
#define POLL_STACK 64
#define SMALL_FRAME 2048

struct frame_hdr {
    uint32_t magic;
    uint32_t nfds;
    uint64_t len;
};
_Static_assert(sizeof(struct frame_hdr) == HDR_SIZE, "frame header size");

struct fd_batch {
    struct fd_batch *next;
    uint64_t start, end; /* stream offsets of the read that brought it */
    size_t n;
    int fds[];
};

struct mproc_pipe {
    _Atomic uint32_t magic; /* MPROC__H_PIPE, MPROC__H_CLOSED (handle.h) */
    int fd;
    bool can_send, can_recv;
    bool eof;   /* the peer's end is closed (recvmsg returned 0) */
    int broken; /* sticky receive error, 0 if none */
    size_t max_msg;
    /* read-ahead: bytes [rpos, rend) of rbuf are received, not yet consumed */
    char *rbuf;
    size_t rpos, rend;
    uint64_t rx_off; /* bytes received from the socket so far */
    struct fd_batch *fdq, **fdq_tail;
    /* a large frame interrupted by a timeout */
    bool pending;
    struct frame_hdr pend_hdr;
    char *pend_buf; /* malloc'd, max(len, 1) bytes */
    size_t pend_got;
    struct fd_batch *pend_fds;
    /* the unsent rest of a frame whose send timed out */
    char *sbuf;
    size_t slen, spos;
};

static void batch_free(struct fd_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        close(b->fds[i]);
    free(b);
}

int mproc__pipe_wrap(int fd, bool can_send, bool can_recv, struct mproc_pipe **out)
{
    struct mproc_pipe *p = calloc(1, sizeof *p);
    char *rbuf = can_recv ? malloc(RBUF_SIZE) : NULL;
    if (p == NULL || (can_recv && rbuf == NULL)) {
        free(p);
        free(rbuf);
        return MPROC_ENOMEM;
    }
    atomic_init(&p->magic, MPROC__H_PIPE);
    p->fd = fd;
    p->can_send = can_send;
    p->can_recv = can_recv;
    p->max_msg = MPROC_PIPE_DEFAULT_MAX_MSG;
    p->rbuf = rbuf;
    p->fdq_tail = &p->fdq;
    *out = p;
    return 0;
}

int mproc_pipe_create(mproc_pipe **a, mproc_pipe **b, unsigned flags)
{
    if (a == NULL || b == NULL || a == b || (flags & ~MPROC_PIPE_ONEWAY) != 0)
        return MPROC_EINVAL;
    bool duplex = !(flags & MPROC_PIPE_ONEWAY);
    int sv[2];
    int rc = mproc__sock_pair(sv);
    if (rc < 0)
        return rc;
    mproc_pipe *pa, *pb;
    if ((rc = mproc__pipe_wrap(sv[0], duplex, true, &pa)) < 0) {
        close(sv[0]);
        close(sv[1]);
        return rc;
    }
    if ((rc = mproc__pipe_wrap(sv[1], true, duplex, &pb)) < 0) {
        mproc_pipe_close(pa);
        close(sv[1]);
        return rc;
    }
    *a = pa;
    *b = pb;
    return 0;
}

/* Send side ------------------------------------------------------------------ */

static int send_errno(void)
{
    if (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN)
        return MPROC_ECLOSED;
    return mproc__err();
}

/* Write out the rest of a timed-out frame. 0 when nothing is left. */
static int flush_rest(mproc_pipe *p, const struct mproc__deadline *d)
{
    while (p->sbuf != NULL) {
        int flags = MSG_NOSIGNAL | (d->forever ? 0 : MSG_DONTWAIT);
        ssize_t n = send(p->fd, p->sbuf + p->spos, p->slen - p->spos, flags);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* Nobody will ever read the rest: drop it. */
                int rc = send_errno();
                free(p->sbuf);
                p->sbuf = NULL;
                return rc;
            }
            int rc = mproc__fd_wait(p->fd, POLLOUT, d);
            if (rc < 0)
                return rc;
            continue;
        }
        p->spos += (size_t)n;
        if (p->spos == p->slen) {
            free(p->sbuf);
            p->sbuf = NULL;
        }
    }
    return 0;
}

/* Keep bytes [sent, 16 + len) of the frame for later; if there is no memory
 * for that, finish the frame now, ignoring the timeout, rather than leave
 * the stream out of step. */
static int keep_rest(mproc_pipe *p, const struct frame_hdr *h, const void *buf, size_t len,
                     size_t sent)
{
    size_t total = HDR_SIZE + len, rest = total - sent;
    char *s = malloc(rest);
    if (s == NULL) {
        struct mproc__deadline forever;
        mproc__deadline_init(&forever, MPROC_FOREVER);
        while (sent < total) {
            const char *src =
                sent < HDR_SIZE ? (const char *)h + sent : (const char *)buf + (sent - HDR_SIZE);
            size_t chunk = sent < HDR_SIZE ? HDR_SIZE - sent : total - sent;
            ssize_t n = send(p->fd, src, chunk, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return send_errno();
            sent += (size_t)n;
        }
        return 0;
    }
    size_t off = 0;
    if (sent < HDR_SIZE) {
        memcpy(s, (const char *)h + sent, HDR_SIZE - sent);
        off = HDR_SIZE - sent;
        sent = HDR_SIZE;
    }
    memcpy(s + off, (const char *)buf + (sent - HDR_SIZE), total - sent);
    p->sbuf = s;
    p->slen = rest;
    p->spos = 0;
    return 0;
}

static int send_frame(mproc_pipe *p, const void *buf, size_t len, const int *fds, size_t nfds,
                      int timeout_ms)
{
    int hc = mproc__handle_check(p, MPROC__H_PIPE);
    if (hc < 0)
        return hc;
    if ((buf == NULL && len > 0) || (fds == NULL && nfds > 0) || nfds > MPROC_PIPE_MAX_FDS)
        return MPROC_EINVAL;
    struct mproc__deadline d;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    if (!p->can_send)
        return MPROC_EBADF;
    if (len > p->max_msg)
        return MPROC_EMSGSIZE;
    if (p->sbuf != NULL && (rc = flush_rest(p, &d)) < 0)
        return rc;

    struct frame_hdr h = {.magic = PIPE_MAGIC, .nfds = (uint32_t)nfds, .len = len};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * MPROC_PIPE_MAX_FDS)];
    } ctl;
    size_t total = HDR_SIZE + len, sent = 0;
    int flags = MSG_NOSIGNAL | (d.forever ? 0 : MSG_DONTWAIT);
    /* A small frame without descriptors is copied into one buffer and sent
     * with send(): the kernel's sendmsg path (copying the msghdr, importing
     * the iovec) costs more than copying up to SMALL_FRAME bytes. */
    char small[SMALL_FRAME];
    bool contiguous = nfds == 0 && total <= SMALL_FRAME;
    if (contiguous) {
        memcpy(small, &h, HDR_SIZE);
        if (len)
            memcpy(small + HDR_SIZE, buf, len);
    }
    while (sent < total) {
        ssize_t n;
        if (contiguous) {
            n = send(p->fd, small + sent, total - sent, flags);
        } else {
            struct iovec iov[2];
            int niov = 0;
            if (sent < HDR_SIZE)
                iov[niov++] = (struct iovec){(char *)&h + sent, HDR_SIZE - sent};
            size_t boff = sent < HDR_SIZE ? 0 : sent - HDR_SIZE;
            if (len > boff)
                iov[niov++] = (struct iovec){(char *)buf + boff, len - boff};
            struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
            if (sent == 0 && nfds > 0) {
                /* The descriptors go with the frame's first byte (see the
                 * note at the top). */
                memset(&ctl, 0, sizeof ctl);
                m.msg_control = ctl.buf;
                m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&m);
                c->cmsg_level = SOL_SOCKET;
                c->cmsg_type = SCM_RIGHTS;
                c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
            }
            n = sendmsg(p->fd, &m, flags);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                return send_errno();
            rc = mproc__fd_wait(p->fd, POLLOUT, &d);
            if (rc == MPROC_ETIMEDOUT && sent > 0)
                return keep_rest(p, &h, buf, len, sent);
            if (rc < 0)
                return rc;
            continue;
        }
        sent += (size_t)n;
    }
    return 0;
}

int mproc_pipe_send(mproc_pipe *p, const void *buf, size_t len, int timeout_ms)
{
    return mproc__try_once(send_frame(p, buf, len, NULL, 0, timeout_ms), timeout_ms);
}

int mproc_pipe_send_fds(mproc_pipe *p, const void *buf, size_t len, const int *fds, size_t nfds,
                        int timeout_ms)
{
    int hc = mproc__handle_check(p, MPROC__H_PIPE);
    if (hc < 0)
        return hc;
    if (nfds == 0)
        return MPROC_EINVAL;
    for (size_t i = 0; fds != NULL && i < nfds; i++)
        if (fds[i] < 0)
            return MPROC_EBADF;
    return mproc__try_once(send_frame(p, buf, len, fds, nfds, timeout_ms), timeout_ms);
}

int mproc_pipe_flush(mproc_pipe *p, int timeout_ms)
{
    int rc = mproc__handle_check(p, MPROC__H_PIPE);
    if (rc < 0)
        return rc;
    struct mproc__deadline d;
    rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    return mproc__try_once(flush_rest(p, &d), timeout_ms);
}

/* Receive side ---------------------------------------------------------------- */

/* Queue the descriptors a recvmsg brought, with the stream range of the
 * bytes it read. */
static int take_cmsgs(mproc_pipe *p, struct msghdr *m, uint64_t start, uint64_t end)
{
    int rc = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        struct fd_batch *b = malloc(sizeof *b + n * sizeof(int));
        if (b == NULL) {
            for (size_t i = 0; i < n; i++) {
                int fd;
                memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
                close(fd);
            }
            rc = MPROC_ENOMEM;
            continue;
        }
        b->next = NULL;
        b->start = start;
        b->end = end;
        b->n = n;
        memcpy(b->fds, CMSG_DATA(c), n * sizeof(int));
        *p->fdq_tail = b;
        p->fdq_tail = &b->next;
    }
    if (m->msg_flags & MSG_CTRUNC)
        rc = MPROC_EBADMSG;
    return rc;
}

/* One recvmsg of at most cap bytes into dst. Returns the byte count (> 0),
 * MPROC_ECLOSED at end of stream, MPROC_ETIMEDOUT, or an error. `waitall`
 * asks the kernel to fill all of cap when blocking. */
static ssize_t rx(mproc_pipe *p, void *dst, size_t cap, bool waitall,
                  const struct mproc__deadline *d)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int) * CMSG_FDS_MAX)];
    } ctl;
    if (p->eof)
        return MPROC_ECLOSED;
    for (;;) {
        struct iovec iov = {dst, cap};
        struct msghdr m = {.msg_iov = &iov,
                           .msg_iovlen = 1,
                           .msg_control = ctl.buf,
                           .msg_controllen = sizeof ctl.buf};
        int flags = MSG_CMSG_CLOEXEC;
        /* With the rest of a timed-out send still to go out, never sleep
         * in recvmsg: the peer may be waiting for that rest before it
         * answers, so the wait below also pushes it out. */
        bool block = d->forever && p->sbuf == NULL;
        flags |= block ? (waitall ? MSG_WAITALL : 0) : MSG_DONTWAIT;
        ssize_t n = recvmsg(p->fd, &m, flags);
        if (n > 0 || (n == 0 && m.msg_controllen > 0)) {
            int rc = take_cmsgs(p, &m, p->rx_off, p->rx_off + (uint64_t)n);
            p->rx_off += (uint64_t)n;
            if (rc < 0) {
                /* Descriptors were lost, and the bytes of this read with
                 * them: the stream cannot be trusted any more. */
                p->broken = rc;
                return rc;
            }
            if (n > 0)
                return n;
        }
        if (n == 0) {
            p->eof = true;
            return MPROC_ECLOSED;
        }
        if (errno == EINTR)
            continue;
        if (errno == ECONNRESET) {
            p->eof = true;
            return MPROC_ECLOSED;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return mproc__err();
        int rc = mproc__fd_wait(p->fd, p->sbuf ? POLLIN | POLLOUT : POLLIN, d);
        if (rc < 0)
            return rc;
        if (p->sbuf != NULL) {
            struct mproc__deadline now;
            mproc__deadline_init(&now, 0);
            flush_rest(p, &now); /* a closed peer shows up in recvmsg */
        }
    }
}

static int set_broken(mproc_pipe *p, int err)
{
    p->broken = err;
    return err;
}

/* Make sure rbuf holds at least `need` (<= RBUF_SIZE) unconsumed bytes. */
static int buffer_at_least(mproc_pipe *p, size_t need, const struct mproc__deadline *d)
{
    while (p->rend - p->rpos < need) {
        if (p->rpos == p->rend) {
            p->rpos = p->rend = 0;
        } else if (RBUF_SIZE - p->rpos < need) {
            memmove(p->rbuf, p->rbuf + p->rpos, p->rend - p->rpos);
            p->rend -= p->rpos;
            p->rpos = 0;
        }
        ssize_t n = rx(p, p->rbuf + p->rend, RBUF_SIZE - p->rend, false, d);
        if (n == MPROC_ECLOSED)
            /* Whole frames before the end are fine; the end inside one is
             * a reset. */
            return p->rend == p->rpos ? MPROC_ECLOSED : set_broken(p, MPROC_ECONNRESET);
        if (n < 0)
            return (int)n;
        p->rend += (size_t)n;
    }
    return 0;
}

/* Read the next header (kept in rbuf, not consumed) and validate it. */
static int next_header(mproc_pipe *p, struct frame_hdr *h, const struct mproc__deadline *d)
{
    int rc = buffer_at_least(p, HDR_SIZE, d);
    if (rc < 0)
        return rc;
    memcpy(h, p->rbuf + p->rpos, HDR_SIZE);
    if (h->magic != PIPE_MAGIC || h->nfds > MPROC_PIPE_MAX_FDS || h->len > p->max_msg)
        return set_broken(p, MPROC_EBADMSG);
    return 0;
}

/* Take the descriptor batch of the frame whose header is at stream offset
 * x (see the note at the top). *out is NULL for a frame without any. */
static int claim_fds(mproc_pipe *p, uint64_t x, uint32_t nfds, struct fd_batch **out)
{
    while (p->fdq != NULL && p->fdq->end <= x) {
        struct fd_batch *b = p->fdq;
        p->fdq = b->next;
        batch_free(b);
    }
    if (p->fdq == NULL)
        p->fdq_tail = &p->fdq;
    *out = NULL;
    if (nfds == 0)
        return 0;
    struct fd_batch *b = p->fdq;
    if (b == NULL || b->start > x || b->n != nfds)
        return set_broken(p, MPROC_EBADMSG);
    p->fdq = b->next;
    if (p->fdq == NULL)
        p->fdq_tail = &p->fdq;
    *out = b;
    return 0;
}

/* Hand the batch to the caller (or close it). */
static void deliver_fds(struct fd_batch *b, int *fds, size_t *nfds)
{
    if (nfds != NULL)
        *nfds = b ? b->n : 0;
    if (b != NULL && fds != NULL) {
        memcpy(fds, b->fds, b->n * sizeof(int));
        free(b);
        return;
    }
    batch_free(b);
}

/* Read the rest of a large frame straight into dst[0..len), got bytes of
 * which are there already. On a timeout the part read moves to p->pend. */
static ssize_t read_direct(mproc_pipe *p, char *dst, bool dst_is_malloced, size_t got,
                           const struct frame_hdr *h, struct fd_batch *b,
                           const struct mproc__deadline *d)
{
    size_t len = (size_t)h->len;
    while (got < len) {
        ssize_t n = rx(p, dst + got, len - got, true, d);
        if (n == MPROC_ETIMEDOUT) {
            char *keep = dst_is_malloced ? dst : malloc(len);
            if (keep == NULL) {
                batch_free(b);
                return set_broken(p, MPROC_ENOMEM);
            }
            if (!dst_is_malloced)
                memcpy(keep, dst, got);
            p->pending = true;
            p->pend_hdr = *h;
            p->pend_buf = keep;
            p->pend_got = got;
            p->pend_fds = b;
            return MPROC_ETIMEDOUT;
        }
        if (n < 0) {
            if (dst_is_malloced)
                free(dst);
            batch_free(b);
            return set_broken(p, n == MPROC_ECLOSED ? MPROC_ECONNRESET : (int)n);
        }
        got += (size_t)n;
    }
    return (ssize_t)len;
}

/* Finish a frame a timeout interrupted. */
static ssize_t recv_pending(mproc_pipe *p, void *buf, size_t cap, void **aout, int *fds,
                            size_t *nfds, const struct mproc__deadline *d)
{
    size_t len = (size_t)p->pend_hdr.len;
    if ((aout == NULL && len > cap) || (nfds != NULL && p->pend_hdr.nfds > *nfds))
        return MPROC_EMSGSIZE;
    struct frame_hdr h = p->pend_hdr;
    char *pb = p->pend_buf;
    struct fd_batch *b = p->pend_fds;
    p->pending = false;
    p->pend_buf = NULL;
    p->pend_fds = NULL;
    ssize_t n = read_direct(p, pb, true, p->pend_got, &h, b, d);
    if (n < 0)
        return n; /* pending again (timeout), or broken and freed */
    if (aout != NULL) {
        *aout = pb;
    } else {
        memcpy(buf, pb, len);
        free(pb);
    }
    deliver_fds(b, fds, nfds);
    return n;
}

/* What every receive checks first: the timeout, the direction, and a pipe
 * already broken by a bad frame or a dead peer. */
static int recv_begin(const mproc_pipe *p, int timeout_ms, struct mproc__deadline *d)
{
    int rc = mproc__deadline_init(d, timeout_ms);
    if (rc < 0)
        return rc;
    if (!p->can_recv)
        return MPROC_EBADF;
    return p->broken;
}

/* The receive of every flavour: into buf (cap bytes), or, with aout, into
 * a buffer malloc'd here; descriptors into fds (room *nfds) or closed. */
static ssize_t recv_frame(mproc_pipe *p, void *buf, size_t cap, void **aout, int *fds, size_t *nfds,
                          int timeout_ms)
{
    int hc = mproc__handle_check(p, MPROC__H_PIPE);
    if (hc < 0)
        return hc;
    if ((aout == NULL && buf == NULL && cap > 0) || (nfds != NULL && fds == NULL && *nfds > 0))
        return MPROC_EINVAL;
    struct mproc__deadline d;
    int rc = recv_begin(p, timeout_ms, &d);
    if (rc < 0)
        return rc;
    if (p->pending)
        return recv_pending(p, buf, cap, aout, fds, nfds, &d);

    struct frame_hdr h;
    if ((rc = next_header(p, &h, &d)) < 0)
        return rc;
    size_t len = (size_t)h.len;
    if ((aout == NULL && len > cap) || (nfds != NULL && h.nfds > *nfds))
        return MPROC_EMSGSIZE;
    char *dst = buf;
    if (aout != NULL && (dst = malloc(len ? len : 1)) == NULL)
        return MPROC_ENOMEM;

    if (HDR_SIZE + len <= RBUF_SIZE) {
        /* Small: complete it in rbuf (a timeout keeps every byte there). */
        if ((rc = buffer_at_least(p, HDR_SIZE + len, &d)) < 0) {
            if (aout != NULL)
                free(dst);
            return rc;
        }
    }
    uint64_t x = p->rx_off - (p->rend - p->rpos);
    struct fd_batch *b;
    if ((rc = claim_fds(p, x, h.nfds, &b)) < 0) {
        if (aout != NULL)
            free(dst);
        return rc;
    }
    size_t have = p->rend - p->rpos - HDR_SIZE;
    if (have > len)
        have = len;
    memcpy(dst, p->rbuf + p->rpos + HDR_SIZE, have);
    p->rpos += HDR_SIZE + have;
    if (have < len) {
        ssize_t n = read_direct(p, dst, aout != NULL, have, &h, b, &d);
        if (n < 0)
            return n;
    }
    if (aout != NULL)
        *aout = dst;
    deliver_fds(b, fds, nfds);
    return (ssize_t)len;
}

ssize_t mproc_pipe_recv(mproc_pipe *p, void *buf, size_t cap, int timeout_ms)
{
    return mproc__try_once_sz(recv_frame(p, buf, cap, NULL, NULL, NULL, timeout_ms), timeout_ms);
}

ssize_t mproc_pipe_recv_alloc(mproc_pipe *p, void **out, int timeout_ms)
{
    int hc = mproc__handle_check(p, MPROC__H_PIPE);
    if (hc < 0)
        return hc;
    if (out == NULL)
        return MPROC_EINVAL;
    return mproc__try_once_sz(recv_frame(p, NULL, 0, out, NULL, NULL, timeout_ms), timeout_ms);
}

ssize_t mproc_pipe_recv_fds(mproc_pipe *p, void *buf, size_t cap, int *fds, size_t *nfds,
                            int timeout_ms)
{
    int hc = mproc__handle_check(p, MPROC__H_PIPE);
    if (hc < 0)
        return hc;
    if (nfds == NULL)
        return MPROC_EINVAL;
    return mproc__try_once_sz(recv_frame(p, buf, cap, NULL, fds, nfds, timeout_ms), timeout_ms);
}

ssize_t mproc_pipe_next_size(mproc_pipe *p, int timeout_ms)
{
    int rc = mproc__handle_check(p, MPROC__H_PIPE);
    if (rc < 0)
        return rc;
    struct mproc__deadline d;
    rc = recv_begin(p, timeout_ms, &d);
    if (rc < 0)
        return rc;
    if (p->pending)
        return (ssize_t)p->pend_hdr.len;
    struct frame_hdr h;
    if ((rc = next_header(p, &h, &d)) < 0)
        return mproc__try_once(rc, timeout_ms);
    return (ssize_t)h.len;
}

/* Something for recv to report without touching the socket. */
static bool ready_in_user_space(const mproc_pipe *p)
{
    return p->broken || p->eof || p->pending || p->rend > p->rpos;
}

int mproc_pipe_poll(mproc_pipe *p, int timeout_ms)
{
    int hc = mproc__handle_check(p, MPROC__H_PIPE);
    if (hc < 0)
        return hc;
    if (!p->can_recv)
        return MPROC_EBADF;
    return mproc_pipe_wait(&p, 1, timeout_ms, NULL);
}

int mproc_pipe_wait(mproc_pipe *const *pipes, size_t n, int timeout_ms, int *ready)
{
    if (pipes == NULL && n > 0)
        return MPROC_EINVAL;
    struct mproc__deadline d;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n; i++) {
        if ((rc = mproc__handle_check(pipes[i], MPROC__H_PIPE)) < 0)
            return rc;
        if (!pipes[i]->can_recv)
            return MPROC_EINVAL;
    }
    struct pollfd stack[POLL_STACK], *pfd = stack;
    if (n > POLL_STACK && (pfd = calloc(n, sizeof *pfd)) == NULL)
        return MPROC_ENOMEM;
    int count = 0;
    for (;;) {
        bool any_buffered = false;
        for (size_t i = 0; i < n; i++) {
            /* Push out what a timed-out send left, when it does not block. */
            if (pipes[i]->sbuf != NULL) {
                struct mproc__deadline now;
                mproc__deadline_init(&now, 0);
                flush_rest(pipes[i], &now);
            }
            any_buffered |= ready_in_user_space(pipes[i]);
            /* POLLOUT too while a rest waits to go out, so a long wait
             * keeps pushing it (the peer may need it to answer). */
            short ev = pipes[i]->sbuf ? POLLIN | POLLOUT : POLLIN;
            pfd[i] = (struct pollfd){.fd = pipes[i]->fd, .events = ev};
        }
        int ms = any_buffered ? 0 : mproc__deadline_remaining_ms(&d);
        int r = n > 0 ? poll(pfd, (nfds_t)n, ms) : poll(NULL, 0, ms);
        if (r < 0 && errno != EINTR) {
            rc = mproc__err();
            break;
        }
        count = 0;
        for (size_t i = 0; r >= 0 && i < n; i++) {
            bool ok = ready_in_user_space(pipes[i]) ||
                      (pfd[i].revents & (POLLIN | POLLHUP | POLLERR | POLLNVAL)) != 0;
            if (ready != NULL)
                ready[i] = ok;
            count += ok;
        }
        if (count > 0 || (r >= 0 && mproc__deadline_expired(&d))) {
            rc = count;
            if (ready != NULL && count == 0)
                memset(ready, 0, n * sizeof *ready);
            break;
        }
    }
    if (pfd != stack)
        free(pfd);
    return rc;
}

int mproc_pipe_set_max_msg(mproc_pipe *p, size_t max)
{
    int rc = mproc__handle_check(p, MPROC__H_PIPE);
    if (rc < 0)
        return rc;
    if (max == 0 || max > SIZE_MAX / 2)
        return MPROC_EINVAL;
    p->max_msg = max;
    return 0;
}

int mproc__pipe_handover(const mproc_pipe *p, int *fd_out, bool *can_send, bool *can_recv)
{
    if (p == NULL)
        return MPROC_EINVAL;
    /* What this handle holds would be lost to the child, and the stream
     * it reads would start in the middle of a frame. */
    if (p->rpos != p->rend || p->pending || p->fdq != NULL || p->sbuf != NULL)
        return MPROC_EBUSY;
    int fd = fcntl(p->fd, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return mproc__err();
    *fd_out = fd;
    *can_send = p->can_send;
    *can_recv = p->can_recv;
    return 0;
}

int mproc_pipe_fd(const mproc_pipe *p)
{
    int rc = mproc__handle_check(p, MPROC__H_PIPE);
    return rc < 0 ? rc : p->fd;
}

int mproc_pipe_close(mproc_pipe *p)
{
    int rc = mproc__handle_close(p, MPROC__H_PIPE);
    if (rc < 0)
        return rc;
    if (p->sbuf != NULL) {
        struct mproc__deadline now;
        mproc__deadline_init(&now, 0);
        flush_rest(p, &now);
        free(p->sbuf);
    }
    close(p->fd);
    while (p->fdq != NULL) {
        struct fd_batch *b = p->fdq;
        p->fdq = b->next;
        batch_free(b);
    }
    batch_free(p->pend_fds);
    free(p->pend_buf);
    free(p->rbuf);
    p->fd = -1;
    p->sbuf = p->pend_buf = p->rbuf = NULL;
    p->pend_fds = NULL;
    mproc__handle_retire(p);
    return 0;
}
