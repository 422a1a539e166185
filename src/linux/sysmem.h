/* linux/sysmem.h - how much memory a shared segment may ask for.
 *
 * Reserving a segment's pages up front (posix_fallocate) is what turns a
 * full /dev/shm into MPROC_ENOSPC at creation instead of SIGBUS later; but
 * on a memfd (no size limit of its own) fallocate of an absurd size does
 * not fail, it allocates until the OOM killer steps in. So sizes are
 * checked against the machine before anything is created.
 */
#ifndef MPROC_LINUX_SYSMEM_H
#define MPROC_LINUX_SYSMEM_H

#include <stdbool.h>
#include <stddef.h>

/* mproc__sysmem_check - 0 if `bytes` could possibly be reserved:
 * MPROC_ENOMEM above physical memory + swap; for a named object
 * (named == true) also MPROC_ENOSPC above the free space of /dev/shm. */
int mproc__sysmem_check(size_t bytes, bool named);

#endif
