/* shm.c - user shared memory segments (see mproc/shm.h).
 *
 * Model: a thin handle around struct mproc__seg (segment.h), kind
 * MPROC__SEG_SHM. The body is the user's bytes; mproc never reads or writes
 * it after creation (the kernel zeroed it), so there is no protocol inside
 * and no memory order to keep beyond the header's publish (release store of
 * the magic in mproc__seg_publish, acquire load in mproc__seg_check).
 *
 * Lifetime: close never unlinks, so a process that only attaches can never
 * take a segment away from others. mproc_shm_unlink(name) removes the name,
 * like every other named object's unlink (and like Python's
 * SharedMemory.unlink()): anyone who may open it may unlink it.
 *
 * Anonymous segments are memfds sealed against shrinking and growing
 * (linux/shmfile.c), so a peer cannot truncate them under our mapping.
 * Named segments are opened with O_NOFOLLOW and must be regular files of
 * our uid; their header is validated against the file size before use.
 */
#include "internal.h"

#include "handle.h"
#include "linux/sysmem.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct mproc_shm {
    _Atomic uint32_t magic; /* MPROC__H_SHM, MPROC__H_CLOSED (handle.h) */
    struct mproc__seg seg;
};

static mproc_shm *shm_alloc(void)
{
    mproc_shm *s = calloc(1, sizeof *s);
    if (s)
        atomic_init(&s->magic, MPROC__H_SHM);
    return s;
}

int mproc_shm_create(mproc_shm **out, const char *name, size_t size)
{
    if (out == NULL || size == 0)
        return MPROC_EINVAL;
    if (name != NULL && name[0] != '\0') {
        int rc = mproc__name_check(name);
        if (rc < 0)
            return rc;
    }
    if (size > SIZE_MAX / 2)
        return MPROC_ENOMEM;
    /* Before anything exists: fallocate on a memfd of an absurd size would
     * not fail but eat memory until the OOM killer comes. */
    int rc = mproc__sysmem_check(size + MPROC__SEG_HDR_SIZE, name != NULL);
    if (rc < 0)
        return rc;
    mproc_shm *s = shm_alloc();
    if (s == NULL)
        return MPROC_ENOMEM;
    rc = mproc__seg_create(&s->seg, name, MPROC__SEG_SHM, size);
    if (rc < 0) {
        free(s);
        /* EFBIG from ftruncate means "more than tmpfs can hold": report it
         * as the space problem it is. */
        return rc == MPROC_EFBIG ? MPROC_ENOSPC : rc;
    }
    mproc__seg_publish(&s->seg);
    *out = s;
    return 0;
}

int mproc_shm_open(mproc_shm **out, const char *name)
{
    if (out == NULL)
        return MPROC_EINVAL;
    int rc = mproc__name_check(name);
    if (rc < 0)
        return rc;
    mproc_shm *s = shm_alloc();
    if (s == NULL)
        return MPROC_ENOMEM;
    rc = mproc__seg_open(&s->seg, name, MPROC__SEG_SHM);
    if (rc < 0) {
        free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int mproc_shm_from_fd(mproc_shm **out, int fd)
{
    if (out == NULL)
        return MPROC_EINVAL;
    if (fd < 0)
        return MPROC_EBADF;
    mproc_shm *s = shm_alloc();
    if (s == NULL)
        return MPROC_ENOMEM;
    int rc = mproc__seg_from_fd(&s->seg, fd, MPROC__SEG_SHM);
    if (rc < 0) {
        free(s);
        return rc;
    }
    /* The header carries the name of a named segment. It came from shared
     * memory and may be truncated (the header holds 71 bytes of it), so it
     * is kept for mproc_shm_name() only if it is well formed and the file
     * at that name is the very file behind fd. */
    char name[sizeof s->seg.hdr->name], path[MPROC__PATH_MAX];
    memcpy(name, s->seg.hdr->name, sizeof name);
    name[sizeof name - 1] = '\0';
    struct stat a, b;
    if (name[0] != '\0' && mproc__name_check(name) == 0) {
        mproc__shm_path(path, name);
        if (fstat(s->seg.fd, &a) == 0 && lstat(path, &b) == 0 && a.st_dev == b.st_dev &&
            a.st_ino == b.st_ino)
            memcpy(s->seg.name, name, sizeof name);
    }
    *out = s;
    return 0;
}

void *mproc_shm_ptr(const mproc_shm *s)
{
    return mproc__handle_check(s, MPROC__H_SHM) == 0 ? s->seg.body : NULL;
}

size_t mproc_shm_size(const mproc_shm *s)
{
    return mproc__handle_check(s, MPROC__H_SHM) == 0 ? s->seg.body_size : 0;
}

const char *mproc_shm_name(const mproc_shm *s)
{
    return mproc__handle_check(s, MPROC__H_SHM) == 0 ? s->seg.name : "";
}

int mproc_shm_fd(const mproc_shm *s)
{
    int rc = mproc__handle_check(s, MPROC__H_SHM);
    return rc < 0 ? rc : s->seg.fd;
}

int mproc_shm_unlink(const char *name)
{
    return mproc__seg_unlink(name, MPROC__SEG_SHM);
}

int mproc_shm_close(mproc_shm *s)
{
    int rc = mproc__handle_close(s, MPROC__H_SHM);
    if (rc < 0)
        return rc;
    mproc__seg_close(&s->seg, false);
    mproc__handle_retire(s);
    return 0;
}
