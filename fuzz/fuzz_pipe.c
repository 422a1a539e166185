/* fuzz_pipe.c - the Pipe's frame decoder against an arbitrary byte stream.
 *
 * The input is what a peer wrote into its end of the socket, byte for byte
 * (headers, payloads, garbage, a frame cut short), followed by the peer's
 * death (its end closed). The first input byte picks the receiver's
 * settings: the per-end message limit and the receive buffer size, and
 * which receive call to use. Every receive uses timeout 0, so a decoder that
 * waits for bytes that can never come is a fuzzer timeout; every receive
 * must end in a message or one of the documented codes, and after an error
 * the end must keep giving errors (sticky), never a message.
 */
#include "internal.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int known(ssize_t rc)
{
    return rc >= 0 || rc == MPROC_ECLOSED || rc == MPROC_ECONNRESET || rc == MPROC_EBADMSG ||
           rc == MPROC_EMSGSIZE || rc == MPROC_EAGAIN || rc == MPROC_ETIMEDOUT ||
           rc == MPROC_ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 65536) /* the socket buffer takes it without blocking */
        return 0;
    uint8_t mode = data[0];
    data++, size--;
    mproc_pipe *a, *b;
    if (mproc_pipe_create(&a, &b, MPROC_PIPE_DUPLEX) != 0)
        return 0;
    static const size_t limits[] = {0, 1, 16, 100, 4096, 70000, 1u << 20, 0};
    size_t limit = limits[mode & 7];
    if (limit)
        mproc_pipe_set_max_msg(a, limit);
    if (size && send(mproc_pipe_fd(b), data, size, MSG_NOSIGNAL) != (ssize_t)size)
        abort();
    mproc_pipe_close(b);

    size_t cap = (mode & 0x10) ? 8 : 2048;
    unsigned char *buf = malloc(cap);
    for (int i = 0; i < 4096; i++) {
        ssize_t rc;
        void *m = NULL;
        int fds[MPROC_PIPE_MAX_FDS];
        size_t nfds = MPROC_PIPE_MAX_FDS;
        switch ((mode >> 5) & 3) {
        case 0:
            rc = mproc_pipe_recv(a, buf, cap, 0);
            break;
        case 1:
            rc = mproc_pipe_recv_alloc(a, &m, 0);
            break;
        case 2:
            rc = mproc_pipe_recv_fds(a, buf, cap, fds, &nfds, 0);
            if (rc >= 0 && nfds != 0)
                abort(); /* nobody sent descriptors */
            break;
        default:
            rc = mproc_pipe_next_size(a, 0);
            if (rc >= 0)
                rc = mproc_pipe_recv_alloc(a, &m, 0);
            break;
        }
        if (rc == MPROC_EMSGSIZE) /* the message stays: take it whole */
            rc = mproc_pipe_recv_alloc(a, &m, 0);
        if (!known(rc))
            abort();
        if (m != NULL && rc > 0) /* ASan: all rc bytes are ours */
            (void)((volatile unsigned char *)m)[rc - 1];
        free(m);
        if (rc < 0) {
            /* The peer is gone: an error is final, never followed by a
             * message (a broken stream cannot be trusted again). */
            if (mproc_pipe_recv_alloc(a, &m, 0) >= 0)
                abort();
            free(m);
            break;
        }
    }
    free(buf);
    mproc_pipe_close(a);
    return 0;
}
