/* pipe_internal.h - what pipe.c shares with pipe_listener.c. */
#ifndef MPROC_PIPE_INTERNAL_H
#define MPROC_PIPE_INTERNAL_H

#include <stdbool.h>

struct mproc_pipe;

/* mproc__pipe_wrap - a pipe end around a connected SOCK_STREAM socket in
 * blocking mode. Takes ownership of fd only on success. */
int mproc__pipe_wrap(int fd, bool can_send, bool can_recv, struct mproc_pipe **out);

/* mproc__pipe_handover - for a spawned child: a new close-on-exec
 * descriptor of the end's socket and its directions. MPROC_EBUSY if the
 * handle holds received bytes or descriptors not handed out yet, or the
 * unsent rest of a frame. */
int mproc__pipe_handover(const struct mproc_pipe *p, int *fd_out, bool *can_send, bool *can_recv);

#endif
