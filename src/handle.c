/* handle.c - the quarantine of closed handles (see handle.h).
 *
 * A ring of MPROC__QUARANTINE slots shared by all kinds of handle: retire
 * takes the next slot with one atomic add, swaps the new shell in and frees
 * the shell it displaced. Two retires never get the same slot until the
 * counter wraps past MPROC__QUARANTINE more retires, and the swap is atomic,
 * so no shell is freed twice or lost. The shells still in the ring at exit
 * stay reachable from it (leak checkers do not report them).
 */
#include "internal.h"

#include "handle.h"

#include <stdlib.h>

static _Atomic(void *) ring[MPROC__QUARANTINE];
static _Atomic unsigned ring_next;

void mproc__handle_retire(void *h)
{
    if (h == NULL)
        return;
    MPROC__ASSERT(atomic_load_explicit((_Atomic uint32_t *)h, memory_order_relaxed) ==
                  MPROC__H_CLOSED);
    unsigned i = atomic_fetch_add_explicit(&ring_next, 1, memory_order_relaxed);
    void *old = atomic_exchange_explicit(&ring[i % MPROC__QUARANTINE], h, memory_order_acq_rel);
    free(old);
}
