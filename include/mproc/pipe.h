/* mproc/pipe.h - Pipe: framed messages between two processes over a
 * socket pair, and a named listener for unrelated processes. Included by
 * <mproc.h>.
 *
 * Python's multiprocessing.Pipe in C. mproc_pipe_create() gives two
 * connected ends; fork, and each process keeps one end (and closes the
 * other). A message is any number of bytes (0 .. the maximum message size,
 * 1 GiB by default, see mproc_pipe_set_max_msg()); messages arrive whole, in
 * order, exactly once.
 *
 * Receiving: into your buffer (mproc_pipe_recv; a buffer too small gives
 * MPROC_EMSGSIZE and the message stays to be read, mproc_pipe_next_size()
 * tells its size), or into one the library allocates
 * (mproc_pipe_recv_alloc; you free() it).
 *
 * File descriptors travel with a message (mproc_pipe_send_fds /
 * mproc_pipe_recv_fds, SCM_RIGHTS); received ones are close-on-exec and
 * belong to the receiver.
 *
 * Ends of the stream: when the peer closed its end (or died) after whole
 * messages, recv returns every message still in flight and then
 * MPROC_ECLOSED; if the stream ended inside a message (peer killed while
 * sending), MPROC_ECONNRESET. send to a closed peer is MPROC_ECLOSED, never
 * SIGPIPE. A frame with a garbage header or a length above the maximum is
 * MPROC_EBADMSG, and the pipe stays broken (every later recv says so):
 * nothing is ever allocated from an unchecked length.
 *
 * Event loops: mproc_pipe_fd() is the socket. It becomes readable when
 * bytes arrive, but mproc reads ahead into a buffer of its own, so messages
 * may already be waiting in the pipe while the fd is NOT readable. Before
 * going back to your loop, receive with timeout 0 until MPROC_EAGAIN (or
 * ask mproc_pipe_poll(p, 0)). The fd itself stays in blocking mode: do not
 * read or write it yourself.
 *
 * Threads: one end may be used by one thread at a time (add your own lock).
 * Across fork: both processes hold the end; use it in one of them only.
 * Across exec: the socket is close-on-exec.
 */
#ifndef MPROC_PIPE_H
#define MPROC_PIPE_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_pipe mproc_pipe;
typedef struct mproc_listener mproc_listener;

/* Flags of mproc_pipe_create(). */
#define MPROC_PIPE_DUPLEX 0u /* both ends send and receive (default) */
#define MPROC_PIPE_ONEWAY 1u /* *a only receives, *b only sends (Pipe(duplex=False)) */

/* Flags of mproc_listener_create(). */
#define MPROC_LISTENER_ANY_UID 1u /* accept clients of any user (default: own uid only) */

/* Most file descriptors one message may carry. */
#define MPROC_PIPE_MAX_FDS 64

/* Default maximum message size (1 GiB); see mproc_pipe_set_max_msg(). */
#define MPROC_PIPE_DEFAULT_MAX_MSG ((size_t)1 << 30)

/* mproc_pipe_create - a connected pair of ends. flags: MPROC_PIPE_DUPLEX or
 * MPROC_PIPE_ONEWAY. Does not block.
 * Returns 0 and the ends in *a and *b; MPROC_EINVAL (NULL out, unknown
 * flag), MPROC_EMFILE / MPROC_ENFILE, MPROC_ENOMEM. */
MPROC_API int mproc_pipe_create(mproc_pipe **a, mproc_pipe **b, unsigned flags);

/* mproc_pipe_send - send len bytes as one message. Blocks while the
 * socket is full, at most timeout_ms.
 * Returns 0 once the message is accepted: handed to the kernel, or, if the
 * timeout struck after part of it was written, with the rest kept in the
 * end's own buffer; that rest goes out first on the next send, and is
 * pushed out while recv, poll or wait wait, and by mproc_pipe_flush()
 * (mproc_pipe_close() sends it only if that does not block).
 * MPROC_ETIMEDOUT if no byte of it could be written (nothing sent;
 * MPROC_EAGAIN when timeout_ms is 0);
 * MPROC_ECLOSED (peer closed or died); MPROC_EBADF (this end cannot send:
 * one-way pipe); MPROC_EMSGSIZE (len above the maximum message size);
 * MPROC_EINVAL (NULL pipe, NULL buf with len > 0, bad timeout). */
MPROC_API int mproc_pipe_send(mproc_pipe *p, const void *buf, size_t len, int timeout_ms);

/* mproc_pipe_send_fds - mproc_pipe_send() with nfds file descriptors
 * (1..MPROC_PIPE_MAX_FDS) attached. The kernel passes duplicates: the caller
 * still owns fds. Same returns, plus MPROC_EINVAL for nfds out of range and
 * MPROC_EBADF for a bad fd. */
MPROC_API int mproc_pipe_send_fds(mproc_pipe *p, const void *buf, size_t len, const int *fds,
                                  size_t nfds, int timeout_ms);

/* mproc_pipe_flush - write out what a timed-out send left in the end's
 * buffer. 0 when nothing is left; MPROC_ETIMEDOUT (MPROC_EAGAIN with
 * timeout 0), MPROC_ECLOSED. */
MPROC_API int mproc_pipe_flush(mproc_pipe *p, int timeout_ms);

/* mproc_pipe_recv - receive the next message into buf (cap bytes). Blocks
 * until a message has fully arrived, at most timeout_ms.
 * Returns its size (>= 0); MPROC_EMSGSIZE if it does not fit in cap (the
 * message stays: call again with a bigger buffer); MPROC_ETIMEDOUT
 * (MPROC_EAGAIN with timeout 0; nothing lost: a message that was half-read is kept for the next call);
 * MPROC_ECLOSED (peer gone, all messages read); MPROC_ECONNRESET (the stream
 * ended inside a message); MPROC_EBADMSG (garbage frame); MPROC_EBADF
 * (this end cannot receive); MPROC_EINVAL. File descriptors that came with
 * the message are closed: use mproc_pipe_recv_fds() to get them. */
MPROC_API ssize_t mproc_pipe_recv(mproc_pipe *p, void *buf, size_t cap, int timeout_ms);

/* mproc_pipe_recv_alloc - receive the next message into a buffer malloc'd
 * for it (at least 1 byte, even for an empty message); *out belongs to the
 * caller (free()). Returns its size; same errors as mproc_pipe_recv(), plus
 * MPROC_ENOMEM (the message stays). */
MPROC_API ssize_t mproc_pipe_recv_alloc(mproc_pipe *p, void **out, int timeout_ms);

/* mproc_pipe_recv_fds - receive the next message and the file descriptors
 * that came with it. *nfds is in: the room in fds[], out: how many were
 * received (0 if none); they are close-on-exec and belong to the caller.
 * MPROC_EMSGSIZE (message stays) if the bytes do not fit in cap or the fds
 * not in *nfds. Otherwise as mproc_pipe_recv(). */
MPROC_API ssize_t mproc_pipe_recv_fds(mproc_pipe *p, void *buf, size_t cap, int *fds, size_t *nfds,
                                      int timeout_ms);

/* mproc_pipe_next_size - wait (at most timeout_ms) until the next message
 * has begun to arrive and return its size without consuming it. Errors as
 * mproc_pipe_recv(). */
MPROC_API ssize_t mproc_pipe_next_size(mproc_pipe *p, int timeout_ms);

/* mproc_pipe_poll - wait at most timeout_ms until recv has something to
 * report: a message has begun to arrive, or the stream ended or broke.
 * Returns 1 (ready), 0 (timed out), MPROC_EBADF (this end cannot receive),
 * MPROC_EINVAL. Checks the end's own buffer first (see the note on event
 * loops above). */
MPROC_API int mproc_pipe_poll(mproc_pipe *p, int timeout_ms);

/* mproc_pipe_wait - multiprocessing.connection.wait(): wait at most
 * timeout_ms until at least one of the n ends is ready in the sense of
 * mproc_pipe_poll(). ready[i] is set to 1 or 0 for each end (may be NULL).
 * Returns the number of ready ends (0 on timeout); MPROC_EINVAL (NULL
 * pipes with n > 0, a NULL or send-only end, bad timeout), MPROC_ENOMEM. */
MPROC_API int mproc_pipe_wait(mproc_pipe *const *pipes, size_t n, int timeout_ms, int *ready);

/* mproc_pipe_set_max_msg - the largest message this end accepts from the
 * peer and sends (1 .. SIZE_MAX/2; default MPROC_PIPE_DEFAULT_MAX_MSG).
 * A larger incoming length is MPROC_EBADMSG before anything is allocated.
 * Returns 0 or MPROC_EINVAL. */
MPROC_API int mproc_pipe_set_max_msg(mproc_pipe *p, size_t max);

/* mproc_pipe_fd - the socket, for poll/epoll (owned by the end; see the note
 * on event loops above), or MPROC_EINVAL. */
MPROC_API int mproc_pipe_fd(const mproc_pipe *p);

/* mproc_pipe_close - close this end and free the handle (a pending rest of
 * a timed-out send is written only if that does not block). The peer's
 * recv then returns MPROC_ECLOSED after the messages in flight. File
 * descriptors received but not handed out are closed. Returns 0,
 * MPROC_EINVAL for NULL (which does nothing else), MPROC_EBADF if already
 * closed (see "Handles" in common.h).
 *
 * Closed ends: every pipe call above given an end that was closed returns
 * MPROC_EBADF (the same code as for an end that cannot do that direction),
 * for as long as the library keeps the closed handle (common.h). */
MPROC_API int mproc_pipe_close(mproc_pipe *p);

/* Named connections for unrelated processes --------------------------------
 * An abstract AF_UNIX socket "\0mproc-<name>" (nothing in the file system,
 * gone when the listener closes). Both sides check the other's credentials
 * (SO_PEERCRED): by default only processes of the same effective uid may
 * connect, and a client refuses a listener of another uid other than root
 * (abstract names are visible to everyone in the network namespace, so
 * anyone could bind one first). A listener made with MPROC_LISTENER_ANY_UID
 * is therefore reachable from other users only if it runs as root. */

/* mproc_listener_create - listen under name (as for shm names). flags: 0
 * or MPROC_LISTENER_ANY_UID. Returns 0 and *out; MPROC_EINVAL,
 * MPROC_ENAMETOOLONG, MPROC_EEXIST (the name is taken), MPROC_ENOMEM,
 * MPROC_EMFILE. */
MPROC_API int mproc_listener_create(mproc_listener **out, const char *name, unsigned flags);

/* mproc_listener_accept - wait at most timeout_ms for a client and return
 * its end in *out. Clients of another uid are turned away (unless
 * MPROC_LISTENER_ANY_UID) and the wait goes on. Returns 0;
 * MPROC_ETIMEDOUT (MPROC_EAGAIN with timeout 0), MPROC_EINVAL (NULL or a bad
 * timeout), MPROC_EBADF (closed listener), MPROC_EMFILE, MPROC_ENFILE,
 * MPROC_ENOMEM. */
MPROC_API int mproc_listener_accept(mproc_listener *l, mproc_pipe **out, int timeout_ms);

/* mproc_listener_fd - the listening socket (readable when a client waits);
 * MPROC_EINVAL for NULL, MPROC_EBADF for a closed listener. */
MPROC_API int mproc_listener_fd(const mproc_listener *l);

/* mproc_listener_close - stop listening and free. Returns 0; MPROC_EINVAL
 * for NULL; MPROC_EBADF if already closed. */
MPROC_API int mproc_listener_close(mproc_listener *l);

/* mproc_pipe_connect - connect to the listener `name`, waiting at most
 * timeout_ms for it to appear and accept the connection. Returns 0 and a
 * duplex end in *out; MPROC_ETIMEDOUT (no listener in time; with timeout 0
 * MPROC_ECONNREFUSED when there is none), MPROC_EACCES (the listener runs
 * under another uid), MPROC_EINVAL, MPROC_ENAMETOOLONG, MPROC_EMFILE,
 * MPROC_ENOMEM. */
MPROC_API int mproc_pipe_connect(mproc_pipe **out, const char *name, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
