/* capture.h - output capture of a local pool's workers (capture.c). */
#ifndef MPROC_POOL_CAPTURE_H
#define MPROC_POOL_CAPTURE_H

#include "pool_internal.h"

struct mproc__capture;

/* mproc__capture_start - pipes for the stdout and stderr of `workers`
 * workers and a thread that reads them. Worker w's pid, named in the
 * prefix, is read (atomically) at pid0 + w * pid_stride bytes. 0 and *out;
 * MPROC_EMFILE / MPROC_ENOMEM / MPROC_EAGAIN. */
int mproc__capture_start(struct mproc__capture **out, int workers, const int32_t *pid0,
                         size_t pid_stride, mproc_pool_output_fn fn, void *arg);
/* mproc__capture_child - in worker w right after fork: its stdout and
 * stderr become its pipes; every other pipe end is closed. */
void mproc__capture_child(struct mproc__capture *c, int w);
/* mproc__capture_stop - read what is left (the workers are gone), hand
 * over unfinished lines, stop the thread, close everything. NULL: nothing. */
void mproc__capture_stop(struct mproc__capture *c);

#endif
