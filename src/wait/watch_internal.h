/* wait/watch_internal.h - watches as mproc_wait uses them (watch.c). */
#ifndef MPROC_WAIT_WATCH_INTERNAL_H
#define MPROC_WAIT_WATCH_INTERNAL_H

#include "probe.h"

/* mproc__watch_new - a watch of src that signals efd (not owned: several
 * watches may share one), armed at once. 0, MPROC_ENOMEM, MPROC_EAGAIN. */
int mproc__watch_new_shared(mproc_watch **out, const struct mproc__wsrc *src, int efd);
/* Re-arm without draining the shared descriptor: 1 ready now (efd
 * signalled), 0 armed. */
int mproc__watch_rearm_shared(mproc_watch *w);
/* Stop and free a watch of mproc__watch_new_shared (efd stays open). */
void mproc__watch_free_shared(mproc_watch *w);

#endif
