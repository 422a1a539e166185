/* segment.c - create, open and validate mproc's shared segments.
 *
 * See segment.h for the layout. The rules:
 *  - the creator writes every header field, initialises the body, and
 *    publishes by storing the magic with release order, last;
 *  - an opener maps only what the file holds, then checks magic, version,
 *    kind and every size against the file before using any of them;
 *  - only the creator unlinks a named segment (mproc__seg_close(seg, true)).
 */
#include "internal.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const kind_names[] = {
    "?",         "shm",   "queue",   "lock",  "rlock", "semaphore",
    "condition", "event", "barrier", "value", "pool",
};

const char *mproc__seg_kind_name(unsigned kind)
{
    return kind < MPROC__ARRAY_LEN(kind_names) ? kind_names[kind] : "?";
}

static size_t page_round(size_t n)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    return (n + pg - 1) / pg * pg;
}

/* The creator's record: every header field but the magic. Named segments
 * get it written into the file before the file is sized, so an opener never
 * finds a file of ours without learning who is initialising it. */
static void seg_record(struct mproc__seg_hdr *h, const char *name, unsigned kind, size_t total,
                       size_t body_size)
{
    memset(h, 0, sizeof *h);
    h->version = MPROC__SEG_VERSION;
    h->kind = (uint16_t)kind;
    h->hdr_size = MPROC__SEG_HDR_SIZE;
    h->total_size = total;
    h->body_size = body_size;
    h->creator_pid = mproc__self_pid();
    h->creator_uid = (uint32_t)geteuid();
    h->creator_start = mproc__self_start();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->created_unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    if (name)
        snprintf(h->name, sizeof h->name, "%s", name);
}

int mproc__seg_create(struct mproc__seg *seg, const char *name, unsigned kind, size_t body_size)
{
    char rnd[32];
    struct mproc__seg_hdr rec;
    int rc, fd = -1;
    if (body_size > SIZE_MAX / 2)
        return MPROC_EINVAL;
    size_t total = page_round(MPROC__SEG_HDR_SIZE + body_size);

    if (name == NULL) {
        seg_record(&rec, NULL, kind, total, body_size);
        rc = mproc__memfd_create("mproc", total, &fd);
    } else {
        if (name[0] == '\0') {
            /* A random name that collides is retried, never reused. */
            for (int tries = 0;; tries++) {
                if ((rc = mproc__name_random(rnd, sizeof rnd)) < 0)
                    return rc;
                seg_record(&rec, rnd, kind, total, body_size);
                rc = mproc__shm_create(rnd, total, &rec, sizeof rec, &fd);
                if (rc != MPROC_EEXIST || tries == 8)
                    break;
            }
            name = rnd;
        } else {
            seg_record(&rec, name, kind, total, body_size);
            rc = mproc__shm_create(name, total, &rec, sizeof rec, &fd);
        }
    }
    if (rc < 0)
        return rc;

    void *map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        rc = mproc__err();
        if (name)
            mproc__shm_unlink(name);
        close(fd);
        return rc;
    }
    struct mproc__seg_hdr *h = map;
    if (name == NULL)
        memcpy(h, &rec, sizeof rec);

    seg->hdr = h;
    seg->body = (char *)map + MPROC__SEG_HDR_SIZE;
    seg->body_size = body_size;
    seg->map_size = total;
    seg->fd = fd;
    seg->owner = true;
    snprintf(seg->name, sizeof seg->name, "%s", name ? name : "");
    return 0;
}

void mproc__seg_publish(struct mproc__seg *seg)
{
    atomic_store_explicit(&seg->hdr->magic, MPROC__SEG_MAGIC, memory_order_release);
}

int mproc__seg_check(const struct mproc__seg_hdr *hdr, size_t file_size, unsigned kind)
{
    if (file_size < MPROC__SEG_HDR_SIZE)
        return MPROC_EFOREIGN;
    uint32_t magic =
        atomic_load_explicit(&((struct mproc__seg_hdr *)hdr)->magic, memory_order_acquire);
    if (magic == 0)
        return MPROC_EAGAIN;
    if (magic != MPROC__SEG_MAGIC)
        return MPROC_EFOREIGN;
    if (hdr->version != MPROC__SEG_VERSION)
        return MPROC_EVERSION;
    if (kind != 0 && hdr->kind != kind)
        return MPROC_EFOREIGN;
    if (hdr->hdr_size != MPROC__SEG_HDR_SIZE || hdr->total_size != file_size ||
        hdr->body_size > file_size - MPROC__SEG_HDR_SIZE)
        return MPROC_ECORRUPT;
    return 0;
}

/* A file whose magic is still 0, from a snapshot of its first n bytes:
 * MPROC_EAGAIN while someone may still be initialising it (its recorded
 * creator lives; or it holds no record yet but was written to within the
 * last MPROC_OPEN_WAIT_MS: a creator between its open and its first write),
 * MPROC_ECORRUPT when nobody will (the creator died, or a zero-filled file
 * that has not changed for longer than that). */
static int seg_unpublished(const struct mproc__seg_hdr *snap, size_t n, const struct stat *st)
{
    bool has_record =
        n >= offsetof(struct mproc__seg_hdr, created_unix_ns) && snap->creator_pid > 0;
    if (has_record)
        return mproc__proc_alive(snap->creator_pid, snap->creator_start) ? MPROC_EAGAIN
                                                                         : MPROC_ECORRUPT;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t age_ms = ((int64_t)now.tv_sec - (int64_t)st->st_mtim.tv_sec) * 1000 +
                     ((int64_t)now.tv_nsec - (int64_t)st->st_mtim.tv_nsec) / 1000000;
    return age_ms >= 0 && age_ms < MPROC_OPEN_WAIT_MS ? MPROC_EAGAIN : MPROC_ECORRUPT;
}

/* Wait (at most MPROC_OPEN_WAIT_MS, a deadline, so signals neither shorten
 * nor stretch it) until the file behind fd is published, then give its
 * final size. The header is read with pread, not through a mapping: the file
 * may still be shorter than a header while its creator sizes it. */
static int seg_wait_published(int fd, size_t *size_out)
{
    struct mproc__deadline d;
    mproc__deadline_init(&d, MPROC_OPEN_WAIT_MS);
    for (;;) {
        struct stat st;
        struct mproc__seg_hdr snap;
        if (fstat(fd, &st) != 0)
            return mproc__err();
        if (!S_ISREG(st.st_mode))
            return MPROC_EFOREIGN;
        size_t want = (size_t)st.st_size < sizeof snap ? (size_t)st.st_size : sizeof snap;
        memset(&snap, 0, sizeof snap);
        ssize_t n = want ? pread(fd, &snap, want, 0) : 0;
        if (n < 0)
            return mproc__err();
        if (n >= (ssize_t)sizeof snap.magic && atomic_load(&snap.magic) != 0) {
            /* Published (or foreign): the size is final now. The creator
             * sizes the file before it publishes. */
            if (fstat(fd, &st) != 0)
                return mproc__err();
            *size_out = (size_t)st.st_size;
            return 0;
        }
        int rc = seg_unpublished(&snap, (size_t)n, &st);
        if (rc != MPROC_EAGAIN)
            return rc;
        if (mproc__deadline_expired(&d))
            return MPROC_EAGAIN;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
}

static int seg_map_fd(struct mproc__seg *seg, int fd, unsigned kind)
{
    size_t size;
    int rc = seg_wait_published(fd, &size);
    if (rc < 0)
        return rc;
    if (size < MPROC__SEG_HDR_SIZE)
        return MPROC_EFOREIGN;
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return mproc__err();
    struct mproc__seg_hdr *h = map;
    rc = mproc__seg_check(h, size, kind);
    if (rc == MPROC_EAGAIN)
        rc = MPROC_ECORRUPT; /* published once, then zeroed under us */
    /* The header stays writable by peers: keep the body size that was
     * validated, never read it again. */
    uint64_t body = atomic_load_explicit((_Atomic uint64_t *)&h->body_size, memory_order_relaxed);
    if (rc == 0 && body > size - MPROC__SEG_HDR_SIZE)
        rc = MPROC_ECORRUPT;
    if (rc < 0) {
        munmap(map, size);
        return rc;
    }
    seg->hdr = h;
    seg->body = (char *)map + MPROC__SEG_HDR_SIZE;
    seg->body_size = (size_t)body;
    seg->map_size = size;
    seg->fd = fd;
    seg->owner = false;
    return 0;
}

int mproc__seg_open(struct mproc__seg *seg, const char *name, unsigned kind)
{
    int fd;
    size_t size;
    int rc = mproc__shm_open(name, &fd, &size);
    if (rc < 0)
        return rc;
    rc = seg_map_fd(seg, fd, kind);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    snprintf(seg->name, sizeof seg->name, "%s", name);
    return 0;
}

int mproc__seg_from_fd(struct mproc__seg *seg, int fd, unsigned kind)
{
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0)
        return MPROC_EBADF;
    if (!S_ISREG(st.st_mode))
        return MPROC_EFOREIGN;
    int dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return mproc__err();
    int rc = seg_map_fd(seg, dfd, kind);
    if (rc < 0) {
        close(dfd);
        return rc;
    }
    seg->name[0] = '\0';
    return 0;
}

void mproc__seg_close(struct mproc__seg *seg, bool unlink_name)
{
    if (seg->hdr) {
        munmap(seg->hdr, seg->map_size);
        seg->hdr = NULL;
        seg->body = NULL;
    }
    if (seg->fd >= 0) {
        close(seg->fd);
        seg->fd = -1;
    }
    if (unlink_name && seg->name[0])
        mproc__shm_unlink(seg->name);
}

int mproc__seg_unlink(const char *name, unsigned kind)
{
    struct mproc__seg seg;
    int rc;
    if (name == NULL)
        return MPROC_EINVAL;
    if ((rc = mproc__name_check(name)) < 0)
        return rc;
    rc = mproc__seg_open(&seg, name, kind);
    if (rc == 0)
        mproc__seg_close(&seg, false);
    else if (rc != MPROC_ECORRUPT && rc != MPROC_EAGAIN && rc != MPROC_EVERSION)
        return rc; /* ENOENT, EACCES, or another kind of object: leave it */
    return mproc__shm_unlink(name);
}
