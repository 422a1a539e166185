/* ring.h - the ceiling: a minimal fixed-slot ring in shared memory.
 *
 * What the benchmarks compare mproc's Queue against when they ask "how close
 * to the hardware is it": a bounded MPMC ring after Dmitry Vyukov, with a
 * sequence number per slot, fixed-size messages, spinning and nothing else —
 * no blocking, no wake-ups, no crash safety, no validation of anything the
 * peer wrote. Never use it for real work.
 *
 * Layout (one anonymous MAP_SHARED mapping made before fork):
 *
 *   0     head  (enqueue position), alone on 128 bytes
 *   128   tail  (dequeue position), alone on 128 bytes
 *   256   slots: slot i at 256 + i * stride; each slot = u64 seq, payload
 *
 * stride is 128 bytes by default (a slot and its neighbour never share the
 * pair of lines the adjacent-line prefetcher fetches together) or 64 bytes
 * in the variant that shows what that prefetcher costs (payload <= 56 B).
 *
 * Protocol (per slot, positions are free-running u64):
 *   seq == pos          the slot is free for the producer that claims pos
 *   seq == pos + 1      the message at pos is ready for the consumer
 *   seq == pos + slots  freed again for the producer of pos + slots
 * A producer claims pos by CAS on head (relaxed: the slot's seq carries the
 * ordering), copies the payload and publishes with a release store of
 * seq = pos + 1; a consumer claims by CAS on tail after an acquire load of
 * seq, copies out and releases with seq = pos + slots. Waiting spins with
 * `pause`; after RING_SPINS failed tries it calls sched_yield() so that more
 * spinners than CPUs (2 producers + 2 consumers on 2 CPUs) still progress.
 *
 * GCC __atomic builtins on plain integers, so the header is both C and C++.
 */
#ifndef MPROC_BENCH_RING_H
#define MPROC_BENCH_RING_H

#include <sched.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RING_HDR 256
#define RING_SPINS 256

struct ring {
    uint64_t head;
    char pad0[120];
    uint64_t tail;
    char pad1[120];
    /* slots follow; mask and stride are kept in the process-local handle */
};

struct ring_handle {
    struct ring *r;
    unsigned char *slots;
    uint64_t nslots, mask, stride;
};

static inline void ring_relax(unsigned *spins)
{
    if (++*spins >= RING_SPINS) {
        *spins = 0;
        sched_yield();
    } else {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

/* ring_stride - the slot size for messages of `size` bytes, rounded up to
 * `align` (128 or 64). */
static inline uint64_t ring_stride(size_t size, uint64_t align)
{
    return (8 + (uint64_t)size + align - 1) / align * align;
}

static inline size_t ring_bytes(uint64_t nslots, uint64_t stride)
{
    return RING_HDR + (size_t)(nslots * stride);
}

/* ring_init - mem holds ring_bytes(); nslots a power of two. */
static inline void ring_init(struct ring_handle *h, void *mem, uint64_t nslots, uint64_t stride)
{
    h->r = (struct ring *)mem;
    h->slots = (unsigned char *)mem + RING_HDR;
    h->nslots = nslots;
    h->mask = nslots - 1;
    h->stride = stride;
    h->r->head = 0;
    h->r->tail = 0;
    for (uint64_t i = 0; i < nslots; i++)
        *(uint64_t *)(h->slots + i * stride) = i;
}

static inline void ring_put(struct ring_handle *h, const void *msg, size_t len)
{
    uint64_t pos = __atomic_load_n(&h->r->head, __ATOMIC_RELAXED);
    unsigned spins = 0;
    unsigned char *slot;
    for (;;) {
        slot = h->slots + (pos & h->mask) * h->stride;
        uint64_t seq = __atomic_load_n((uint64_t *)slot, __ATOMIC_ACQUIRE);
        int64_t dif = (int64_t)(seq - pos);
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&h->r->head, &pos, pos + 1, 1, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
                break;
        } else if (dif < 0) {
            ring_relax(&spins); /* full */
            pos = __atomic_load_n(&h->r->head, __ATOMIC_RELAXED);
        } else {
            pos = __atomic_load_n(&h->r->head, __ATOMIC_RELAXED);
        }
    }
    memcpy(slot + 8, msg, len);
    __atomic_store_n((uint64_t *)slot, pos + 1, __ATOMIC_RELEASE);
}

/* ring_try_get - copy the oldest message out; 0 when the ring was empty. */
static inline int ring_try_get(struct ring_handle *h, void *msg, size_t len)
{
    uint64_t pos = __atomic_load_n(&h->r->tail, __ATOMIC_RELAXED);
    unsigned char *slot;
    for (;;) {
        slot = h->slots + (pos & h->mask) * h->stride;
        uint64_t seq = __atomic_load_n((uint64_t *)slot, __ATOMIC_ACQUIRE);
        int64_t dif = (int64_t)(seq - (pos + 1));
        if (dif == 0) {
            if (__atomic_compare_exchange_n(&h->r->tail, &pos, pos + 1, 1, __ATOMIC_RELAXED,
                                            __ATOMIC_RELAXED))
                break;
        } else if (dif < 0) {
            return 0;
        } else {
            pos = __atomic_load_n(&h->r->tail, __ATOMIC_RELAXED);
        }
    }
    memcpy(msg, slot + 8, len);
    __atomic_store_n((uint64_t *)slot, pos + h->nslots, __ATOMIC_RELEASE);
    return 1;
}

static inline void ring_get(struct ring_handle *h, void *msg, size_t len)
{
    unsigned spins = 0;
    while (!ring_try_get(h, msg, len))
        ring_relax(&spins);
}

#endif
