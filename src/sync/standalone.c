/* sync/standalone.c - primitives that live in a segment of their own.
 *
 * Layout: one page (or a few) holding struct mproc__seg_hdr (128 bytes,
 * kind MPROC__SEG_LOCK, _SEM, ...) followed by the object itself, whose size
 * is the segment's body_size. The caller gets a pointer to the object, of
 * the same type as an in-place object, and no separate handle: close finds
 * the header 128 bytes before the object, in the same page, checks it, and
 * unmaps exactly the size this library maps for that kind (never a size
 * read from shared memory). The mapping keeps the object alive, a fork
 * inherits it, an exec drops it; the fd is kept only where a hand-over to a
 * spawned child needs it (below).
 *
 * Named objects are /dev/shm/mproc-<name> (0600, O_EXCL on create). Nothing
 * is unlinked implicitly: mproc_<x>_unlink removes the name (POSIX
 * sem_unlink's model), after checking that the name is an object of the
 * expected kind.
 *
 * Handing over to a spawned child
 * -------------------------------
 * A spawned child gets each object as a descriptor. A mapping alone cannot
 * give one back, so this process keeps a small table (the "kept" table),
 * keyed by the address of each segment it maps (standalone sync objects and
 * Values/Arrays, see value.c):
 *   - an anonymous segment keeps its descriptor (close-on-exec) until it is
 *     closed: there is no other way to reach a memfd again;
 *   - a named one keeps its name and the file's (device, inode), and holds
 *     no descriptor: handing it over opens the name again and checks that
 *     it is still the same file.
 * The table is copied by fork with the descriptors it holds, so a forked
 * child can hand the objects on as well. Lookups are linear from the newest
 * entry: programs have few standalone objects and close the newest first.
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

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct kept {
    const void *map;
    int fd;     /* anonymous: the segment's descriptor; named: -1 */
    char *name; /* named: the user's name (malloc'd); anonymous: NULL */
    dev_t dev;
    ino_t ino;
};

static pthread_mutex_t kept_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t kept_once = PTHREAD_ONCE_INIT;
static struct kept *kept;
static size_t n_kept, cap_kept;

/* A fork while another thread holds kept_mu must not leave the child's copy
 * locked forever: hold it across fork. */
static void kept_prepare(void)
{
    pthread_mutex_lock(&kept_mu);
}

static void kept_release(void)
{
    pthread_mutex_unlock(&kept_mu);
}

static void kept_init(void)
{
    pthread_atfork(kept_prepare, kept_release, kept_release);
}

int mproc__sync_keep(const void *map, int fd, const char *name)
{
    struct stat st;
    char *copy = NULL;
    pthread_once(&kept_once, kept_init);
    if (name && name[0]) {
        copy = strdup(name);
        if (copy == NULL || fstat(fd, &st) != 0) {
            int rc = copy == NULL ? MPROC_ENOMEM : mproc__err();
            free(copy);
            close(fd);
            return rc;
        }
    }
    pthread_mutex_lock(&kept_mu);
    if (n_kept == cap_kept) {
        size_t cap = cap_kept ? cap_kept * 2 : 16;
        struct kept *grown = realloc(kept, cap * sizeof *grown);
        if (grown == NULL) {
            pthread_mutex_unlock(&kept_mu);
            free(copy);
            close(fd);
            return MPROC_ENOMEM;
        }
        kept = grown;
        cap_kept = cap;
    }
    struct kept *k = &kept[n_kept++];
    memset(k, 0, sizeof *k);
    k->map = map;
    if (copy) {
        k->fd = -1;
        k->name = copy;
        k->dev = st.st_dev;
        k->ino = st.st_ino;
        close(fd);
    } else {
        k->fd = fd;
    }
    pthread_mutex_unlock(&kept_mu);
    return 0;
}

void mproc__sync_forget(const void *map)
{
    pthread_mutex_lock(&kept_mu);
    for (size_t i = n_kept; i-- > 0;) {
        if (kept[i].map != map)
            continue;
        if (kept[i].fd >= 0)
            close(kept[i].fd);
        free(kept[i].name);
        kept[i] = kept[--n_kept];
        break;
    }
    pthread_mutex_unlock(&kept_mu);
}

int mproc__sync_handover_fd(const void *map, int *fd_out)
{
    int fd = -1, rc = MPROC_EINVAL;
    char *name = NULL;
    dev_t dev = 0;
    ino_t ino = 0;
    pthread_mutex_lock(&kept_mu);
    for (size_t i = n_kept; i-- > 0;) {
        if (kept[i].map != map)
            continue;
        if (kept[i].fd >= 0) {
            fd = fcntl(kept[i].fd, F_DUPFD_CLOEXEC, 0);
            rc = fd < 0 ? mproc__err() : 0;
        } else {
            name = strdup(kept[i].name);
            dev = kept[i].dev;
            ino = kept[i].ino;
            rc = name ? 0 : MPROC_ENOMEM;
        }
        break;
    }
    pthread_mutex_unlock(&kept_mu);
    if (rc == 0 && name) {
        /* Opened again outside the lock: the name may have been unlinked
         * or given to another object since; only the same file will do. */
        size_t size;
        struct stat st;
        rc = mproc__shm_open(name, &fd, &size);
        if (rc == 0 && (fstat(fd, &st) != 0 || st.st_dev != dev || st.st_ino != ino)) {
            close(fd);
            rc = MPROC_ENOENT;
        }
        free(name);
    }
    if (rc < 0)
        return rc;
    *fd_out = fd;
    return 0;
}

/* The segment header of a standalone object, or NULL if obj is not one of
 * this kind and size (checked as close checks it). */
static struct mproc__seg_hdr *sync_hdr(const void *obj, unsigned kind, size_t size)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (!obj || ((uintptr_t)obj & (pg - 1)) != MPROC__SEG_HDR_SIZE)
        return NULL;
    struct mproc__seg_hdr *h = (void *)((char *)obj - MPROC__SEG_HDR_SIZE);
    if (atomic_load_explicit(&h->magic, memory_order_acquire) != MPROC__SEG_MAGIC ||
        h->kind != kind || h->body_size != size)
        return NULL;
    return h;
}

int mproc__sync_handover(const void *obj, unsigned kind, size_t size, int *fd_out)
{
    struct mproc__seg_hdr *h = sync_hdr(obj, kind, size);
    return h ? mproc__sync_handover_fd(h, fd_out) : MPROC_EINVAL;
}

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
    if ((rc = mproc__sync_keep(seg.hdr, seg.fd, name ? seg.name : NULL)) < 0) {
        if (name)
            mproc__shm_unlink(name);
        munmap(seg.hdr, seg.map_size);
        return rc;
    }
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
    mproc__sync_forget(h);
    munmap(h, sync_map_size(size));
}

/* Check the sizes of a mapped segment and keep it (see above). */
static int sync_adopt(void **out, struct mproc__seg *seg, size_t size, const char *name)
{
    if (seg->body_size != size || seg->map_size != sync_map_size(size)) {
        mproc__seg_close(seg, false);
        return MPROC_ECORRUPT;
    }
    int rc = mproc__sync_keep(seg->hdr, seg->fd, name);
    if (rc < 0) {
        munmap(seg->hdr, seg->map_size);
        return rc;
    }
    *out = seg->body;
    return 0;
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
    return sync_adopt(out, &seg, size, name);
}

int mproc__sync_from_fd(void **out, int fd, unsigned kind, size_t size)
{
    struct mproc__seg seg;
    int rc = mproc__seg_from_fd(&seg, fd, kind);
    if (rc < 0)
        return rc;
    /* Kept by descriptor even when named: it came without a name. */
    return sync_adopt(out, &seg, size, NULL);
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
    mproc__sync_forget(h);
    sync_retire(h, sync_map_size(size));
    /* A lock (or rlock) used through the stale pointer says MPROC_EBADF
     * (if the page was kept; otherwise the address is unmapped). */
    if ((kind == MPROC__SEG_LOCK || kind == MPROC__SEG_RLOCK) &&
        atomic_load_explicit(&h->magic, memory_order_relaxed) == CLOSED_MAGIC)
        atomic_store_explicit(&((struct mproc__lk *)obj)->word, MPROC__LK_DESTROYED,
                              memory_order_release);
    return 0;
}
