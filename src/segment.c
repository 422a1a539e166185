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

int mproc__seg_create(struct mproc__seg *seg, const char *name, unsigned kind, size_t body_size)
{
    char rnd[32];
    int rc, fd = -1;
    if (body_size > SIZE_MAX / 2)
        return MPROC_EINVAL;
    size_t total = page_round(MPROC__SEG_HDR_SIZE + body_size);

    if (name == NULL) {
        rc = mproc__memfd_create("mproc", total, &fd);
    } else {
        if (name[0] == '\0') {
            /* A random name that collides is retried, never reused. */
            for (int tries = 0;; tries++) {
                if ((rc = mproc__name_random(rnd, sizeof rnd)) < 0)
                    return rc;
                rc = mproc__shm_create(rnd, total, &fd);
                if (rc != MPROC_EEXIST || tries == 8)
                    break;
            }
            name = rnd;
        } else {
            rc = mproc__shm_create(name, total, &fd);
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

static int seg_map_fd(struct mproc__seg *seg, int fd, size_t size, unsigned kind, bool wait_ready)
{
    if (size < MPROC__SEG_HDR_SIZE)
        return MPROC_EFOREIGN;
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return mproc__err();
    struct mproc__seg_hdr *h = map;
    int rc = mproc__seg_check(h, size, kind);
    /* A creator may still be initialising: give it up to 1 s (a deadline,
     * so signals do not shorten or stretch it), unless it is already dead
     * (then it never will). After that, MPROC_EAGAIN: try again later. */
    struct mproc__deadline d;
    mproc__deadline_init(&d, 1000);
    while (rc == MPROC_EAGAIN && wait_ready && !mproc__deadline_expired(&d)) {
        if (h->creator_pid != 0 && !mproc__proc_alive(h->creator_pid, h->creator_start)) {
            rc = MPROC_ECORRUPT;
            break;
        }
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
        rc = mproc__seg_check(h, size, kind);
    }
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
    rc = seg_map_fd(seg, fd, size, kind, true);
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
    int rc = seg_map_fd(seg, dfd, (size_t)st.st_size, kind, true);
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
