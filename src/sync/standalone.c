/* sync/standalone.c - primitives that live in a segment of their own.
 *
 * Layout: one page (or a few) holding struct mproc__seg_hdr (128 bytes,
 * kind MPROC__SEG_LOCK, _SEM, ...) followed by the object itself, whose size
 * is the segment's body_size. The caller gets a pointer to the object, of
 * the same type as an in-place object, and no separate handle: close finds
 * the header 128 bytes before the object, in the same page, checks it, and
 * unmaps exactly the size this library maps for that kind (never a size
 * read from shared memory). The fd is closed right after mapping: the
 * mapping keeps the object alive, a fork inherits it, an exec drops it.
 *
 * Named objects are /dev/shm/mproc-<name> (0600, O_EXCL on create). Nothing
 * is unlinked implicitly: mproc_<x>_unlink removes the name (POSIX
 * sem_unlink's model), after checking that the name is an object of the
 * expected kind.
 *
 * Close does not leave a hole where the object was: the shared mapping is
 * replaced (MAP_FIXED, atomically) by a private anonymous page whose header
 * says CLOSED_MAGIC, and that page is kept in a small quarantine (the oldest
 * is unmapped when it fills). A second close of the same pointer therefore
 * reads that header and returns MPROC_EBADF instead of faulting on an
 * unmapped page, for as long as the page is in the quarantine (the same
 * scheme as the heap handles' quarantine, handle.h).
 */
#include "sync.h"

#include <sys/mman.h>
#include <unistd.h>

#define CLOSED_MAGIC 0xc105edc1u
#define QUARANTINE 64

static _Atomic(void *) closed_ring[QUARANTINE];
static _Atomic unsigned closed_next;

static size_t sync_map_size(size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (MPROC__SEG_HDR_SIZE + size + pg - 1) / pg * pg;
}

/* Replace the mapping at h by a private page marked closed and quarantine
 * it; munmap if that fails (then a second close is not detected). */
static void sync_retire(struct mproc__seg_hdr *h, size_t map_size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    void *p = map_size == pg ? mmap(h, pg, PROT_READ | PROT_WRITE,
                                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
                             : MAP_FAILED;
    if (p != (void *)h) {
        munmap(h, map_size);
        return;
    }
    atomic_store_explicit(&h->magic, CLOSED_MAGIC, memory_order_release);
    unsigned i = atomic_fetch_add_explicit(&closed_next, 1, memory_order_relaxed);
    void *old =
        atomic_exchange_explicit(&closed_ring[i % QUARANTINE], (void *)h, memory_order_acq_rel);
    if (old)
        munmap(old, pg);
}

int mproc__sync_create(void **out, const char *name, unsigned kind, size_t size)
{
    struct mproc__seg seg;
    int rc;
    if (name && (rc = mproc__name_check(name)) < 0)
        return rc;
    rc = mproc__seg_create(&seg, name, kind, size);
    if (rc < 0)
        return rc;
    MPROC__ASSERT(seg.map_size == sync_map_size(size));
    close(seg.fd);
    *out = seg.body;
    return 0;
}

void mproc__sync_publish(void *obj)
{
    struct mproc__seg_hdr *h = (void *)((char *)obj - MPROC__SEG_HDR_SIZE);
    atomic_store_explicit(&h->magic, MPROC__SEG_MAGIC, memory_order_release);
}

void mproc__sync_discard(void *obj, size_t size)
{
    struct mproc__seg_hdr *h = (void *)((char *)obj - MPROC__SEG_HDR_SIZE);
    if (h->name[0])
        mproc__shm_unlink(h->name);
    munmap(h, sync_map_size(size));
}

int mproc__sync_open(void **out, const char *name, unsigned kind, size_t size)
{
    struct mproc__seg seg;
    int rc;
    if (!name)
        return MPROC_EINVAL;
    if ((rc = mproc__name_check(name)) < 0)
        return rc;
    rc = mproc__seg_open(&seg, name, kind);
    if (rc < 0)
        return rc;
    if (seg.body_size != size || seg.map_size != sync_map_size(size)) {
        mproc__seg_close(&seg, false);
        return MPROC_ECORRUPT;
    }
    close(seg.fd);
    *out = seg.body;
    return 0;
}

int mproc__sync_close(void *obj, unsigned kind, size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (!obj || ((uintptr_t)obj & (pg - 1)) != MPROC__SEG_HDR_SIZE)
        return MPROC_EINVAL;
    struct mproc__seg_hdr *h = (void *)((char *)obj - MPROC__SEG_HDR_SIZE);
    uint32_t magic = atomic_load_explicit(&h->magic, memory_order_acquire);
    if (magic == CLOSED_MAGIC)
        return MPROC_EBADF;
    if (magic != MPROC__SEG_MAGIC || h->kind != kind || h->body_size != size)
        return MPROC_EINVAL;
    sync_retire(h, sync_map_size(size));
    /* A lock (or rlock) used through the stale pointer says MPROC_EBADF
     * (if the page was kept; otherwise the address is unmapped). */
    if ((kind == MPROC__SEG_LOCK || kind == MPROC__SEG_RLOCK) &&
        atomic_load_explicit(&h->magic, memory_order_relaxed) == CLOSED_MAGIC)
        atomic_store_explicit(&((struct mproc__lk *)obj)->word, MPROC__LK_DESTROYED,
                              memory_order_release);
    return 0;
}

int mproc__sync_unlink(const char *name, unsigned kind)
{
    return mproc__seg_unlink(name, kind);
}
