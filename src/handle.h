/* handle.h - the state word of heap handles, and their quarantine.
 *
 * Every library-allocated handle (mproc_process, mproc_shm, mproc_pipe,
 * mproc_listener, mproc_array (and mproc_value, the same struct), mproc_queue,
 * mproc_pool, mproc_future) starts with an
 * `_Atomic uint32_t magic`: its kind's MPROC__H_* value while open,
 * MPROC__H_CLOSED once closed. Each public call checks it on entry, so a
 * call on a closed handle returns MPROC_EBADF instead of touching freed
 * resources, and a second close returns MPROC_EBADF instead of freeing twice.
 *
 * A closed handle's memory is not freed at once: its shell (resources
 * released, magic CLOSED) goes into a small process-wide quarantine, and
 * only the oldest shell is freed when a newer one arrives. So the memory a
 * stale pointer points to stays a closed handle for the next
 * MPROC__QUARANTINE closes instead of being handed to the next malloc,
 * which could make a stale call act on an unrelated object. Past that it
 * is freed: a use after that many further closes is undefined, as with any
 * pointer to freed memory.
 */
#ifndef MPROC_HANDLE_H
#define MPROC_HANDLE_H

#include <stdatomic.h>
#include <stdint.h>

#define MPROC__H_CLOSED 0xc105edc1u
#define MPROC__H_PROCESS 0x50524f43u  /* "PROC" */
#define MPROC__H_SHM 0x53484d5fu      /* "SHM_" */
#define MPROC__H_PIPE 0x50495045u     /* "PIPE" */
#define MPROC__H_LISTENER 0x4c53544eu /* "LSTN" */
#define MPROC__H_ARRAY 0x41525259u    /* "ARRY" */
#define MPROC__H_QUEUE 0x51554555u    /* "QUEU" */
#define MPROC__H_POOL 0x504f4f4cu     /* "POOL" */
#define MPROC__H_FUTURE 0x46555452u   /* "FUTR" */
#define MPROC__H_WATCH 0x57415443u    /* "WATC" */

#define MPROC__QUARANTINE 64

/* mproc__handle_check - 0 if h is an open handle of that kind; MPROC_EINVAL
 * for NULL; MPROC_EBADF for a closed handle (or one of another kind). */
static inline int mproc__handle_check(const void *h, uint32_t magic)
{
    if (h == NULL)
        return MPROC_EINVAL;
    uint32_t m = atomic_load_explicit((_Atomic uint32_t *)h, memory_order_acquire);
    return MPROC__LIKELY(m == magic) ? 0 : MPROC_EBADF;
}

/* mproc__handle_close - mark h closed, exactly once: 0 for the one caller
 * that closed it, MPROC_EBADF for every later (or concurrent) one,
 * MPROC_EINVAL for NULL. The caller then releases what h holds and hands
 * the shell to mproc__handle_retire. */
static inline int mproc__handle_close(void *h, uint32_t magic)
{
    if (h == NULL)
        return MPROC_EINVAL;
    uint32_t m = magic;
    return atomic_compare_exchange_strong_explicit((_Atomic uint32_t *)h, &m, MPROC__H_CLOSED,
                                                   memory_order_acq_rel, memory_order_acquire)
               ? 0
               : MPROC_EBADF;
}

/* mproc__handle_retire - put a closed shell (malloc'ed, magic CLOSED) into
 * the quarantine; the oldest shell there is freed. Lock-free, so it is
 * safe in a fork child of a threaded parent. */
void mproc__handle_retire(void *h);

#endif
