/* linux/shmfile.c - files in /dev/shm for named objects, memfds for
 * anonymous ones.
 *
 * We open /dev/shm/<prefix><name> ourselves instead of calling shm_open so
 * that O_NOFOLLOW and O_EXCL are guaranteed and the path is under our
 * control. Objects are created 0600 regardless of the umask (fchmod after
 * creation narrows nothing that O_EXCL did not already make ours).
 */
#include "../internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int mproc__name_check(const char *name)
{
    if (name == NULL || name[0] == '\0' || name[0] == '.')
        return MPROC_EINVAL;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return MPROC_EINVAL;
        if (n >= MPROC__NAME_MAX)
            return MPROC_ENAMETOOLONG;
    }
    return 0;
}

int mproc__name_random(char *out, size_t outsz)
{
    unsigned char raw[12];
    static const char hex[] = "0123456789abcdef";
    if (outsz < 2 + 2 * sizeof raw)
        return MPROC_ERANGE;
    int rc = mproc__random_bytes(raw, sizeof raw);
    if (rc < 0)
        return rc;
    out[0] = 'r';
    for (size_t i = 0; i < sizeof raw; i++) {
        out[1 + 2 * i] = hex[raw[i] >> 4];
        out[2 + 2 * i] = hex[raw[i] & 15];
    }
    out[1 + 2 * sizeof raw] = '\0';
    return 0;
}

void mproc__shm_path(char *buf, const char *name)
{
    snprintf(buf, MPROC__PATH_MAX, "%s%s%s", MPROC__SHM_DIR, MPROC__SHM_PREFIX, name);
}

static int reserve(int fd, size_t size)
{
    if (size == 0)
        return 0;
    if (ftruncate(fd, (off_t)size) != 0)
        return mproc__err();
    int rc = posix_fallocate(fd, 0, (off_t)size);
    if (rc != 0)
        return rc == EFBIG ? MPROC_ENOSPC : -rc;
    return 0;
}

int mproc__shm_create(const char *name, size_t size, const void *head, size_t head_len, int *fd_out)
{
    int rc = mproc__name_check(name);
    if (rc < 0)
        return rc;
    char path[MPROC__PATH_MAX];
    mproc__shm_path(path, name);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return mproc__err();
    /* The head first, before the file gets its size: an opener that finds
     * the file a moment later reads who is creating it. */
    if ((head_len > 0 && pwrite(fd, head, head_len, 0) != (ssize_t)head_len) ||
        fchmod(fd, 0600) != 0 || (rc = reserve(fd, size)) < 0) {
        if (rc == 0)
            rc = mproc__err();
        unlink(path);
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

int mproc__shm_open(const char *name, int *fd_out, size_t *size_out)
{
    int rc = mproc__name_check(name);
    if (rc < 0)
        return rc;
    char path[MPROC__PATH_MAX];
    mproc__shm_path(path, name);
    int fd = open(path, O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        /* A name that exists but is no regular file (a symlink, a
         * directory, a socket, a device) is "not ours": MPROC_EACCES, the
         * same answer fstat's check below gives for a FIFO. */
        switch (errno) {
        case ENOENT:
        case EACCES:
        case EMFILE:
        case ENFILE:
        case ENOMEM:
            return mproc__err();
        default:
            return MPROC_EACCES;
        }
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        rc = mproc__err();
        close(fd);
        return rc;
    }
    if (!S_ISREG(st.st_mode) || st.st_uid != geteuid()) {
        close(fd);
        return MPROC_EACCES;
    }
    *fd_out = fd;
    *size_out = (size_t)st.st_size;
    return 0;
}

int mproc__shm_unlink(const char *name)
{
    int rc = mproc__name_check(name);
    if (rc < 0)
        return rc;
    char path[MPROC__PATH_MAX];
    mproc__shm_path(path, name);
    return unlink(path) == 0 ? 0 : mproc__err();
}

int mproc__memfd_create(const char *tag, size_t size, int *fd_out)
{
    int fd = memfd_create(tag, MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return mproc__err();
    int rc = reserve(fd, size);
    if (rc < 0) {
        close(fd);
        return rc;
    }
    /* The size is fixed from now on: a peer cannot shrink the object under
     * our mappings (which would turn our reads into SIGBUS). */
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    *fd_out = fd;
    return 0;
}
