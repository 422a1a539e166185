/* mproc/shm.h - shared memory segments: anonymous (memfd) and named
 * (/dev/shm/mproc-<name>). Included by <mproc.h>.
 *
 * A segment is a block of bytes mapped by several processes. Two kinds:
 *
 *  - anonymous (name NULL): backed by a memfd. Inherited across fork (the
 *    child sees the same bytes at the same address) and passable to any
 *    other process as a file descriptor over a Pipe (mproc_pipe_send_fds +
 *    mproc_shm_from_fd). Nothing is left behind when the last process
 *    holding it exits, however it exits (even SIGKILL).
 *  - named: a file /dev/shm/mproc-<name>, opened by name from unrelated
 *    processes of the same user. The name is random ("" asks for one; read
 *    it back with mproc_shm_name()) unless you give one. Named segments
 *    outlive their processes until someone calls mproc_shm_unlink(name)
 *    (`mproc clean` removes leftovers of dead creators).
 *
 * Lifetime: close just unmaps and never unlinks; mproc_shm_unlink(name)
 * removes the name (any process that may open it may unlink it, as with
 * every named object in mproc). Objects are created 0600 with O_EXCL|O_NOFOLLOW|O_CLOEXEC, and
 * every byte is reserved at creation, so a full /dev/shm is MPROC_ENOSPC
 * from mproc_shm_create(), never a SIGBUS on first touch later. The size of
 * a segment never changes.
 *
 * Every segment begins with mproc's 128-byte header (magic, ABI version,
 * kind, sizes, creator); mproc_shm_ptr() is the body after it, aligned to
 * 128 bytes. Opening checks the header against the file and fails cleanly
 * (MPROC_EFOREIGN, MPROC_EVERSION, MPROC_ECORRUPT) on anything odd.
 *
 * Across fork: the child inherits the mapping and may use the handle; it
 * should mproc_shm_close() its copy. Across exec: the fd is close-on-exec
 * and the mapping is gone.
 */
#ifndef MPROC_SHM_H
#define MPROC_SHM_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_shm mproc_shm;

/* mproc_shm_create - create a segment with `size` usable bytes (zeroed)
 * and map it. name == NULL: anonymous; name == "": a fresh random name;
 * otherwise that name (1..200 bytes of [A-Za-z0-9._-], not starting with
 * '.'). Does not block.
 * Returns 0 and the handle in *out; MPROC_EINVAL (NULL out, size 0, bad
 * name), MPROC_ENAMETOOLONG, MPROC_EEXIST (the name is taken, also by a
 * symlink or anything else: nothing is followed or reused), MPROC_ENOSPC
 * (not enough free space in /dev/shm, or the reservation of the file or
 * memfd failed), MPROC_ENOMEM (size above RAM + swap, or out of memory),
 * MPROC_EMFILE. On failure nothing is left behind. */
MPROC_API int mproc_shm_create(mproc_shm **out, const char *name, size_t size);

/* mproc_shm_open - attach to the named segment `name` (as passed to create)
 * and map it. Does not block, except that it waits at most
 * MPROC_OPEN_WAIT_MS for a creator that is alive and still initialising the
 * segment ("Opening a named object" in common.h).
 * Returns 0 and *out; MPROC_EINVAL (NULL out, bad name), MPROC_ENAMETOOLONG,
 * MPROC_ENOENT, MPROC_EACCES (not a regular file of ours: a symlink, a
 * directory, another owner), MPROC_EFOREIGN (not an mproc shm segment),
 * MPROC_EVERSION (another ABI version), MPROC_ECORRUPT (header disagrees
 * with the file; the creator died before finishing; zero-filled with no
 * creator), MPROC_EAGAIN (its creator is still initialising it after
 * MPROC_OPEN_WAIT_MS), MPROC_ENOMEM, MPROC_EMFILE, MPROC_ENFILE. */
MPROC_API int mproc_shm_open(mproc_shm **out, const char *name);

/* mproc_shm_from_fd - attach to the segment behind fd (anonymous or named,
 * for example received with mproc_pipe_recv_fds()). The handle takes its own
 * duplicate: the caller still owns fd and should close it. Same errors as
 * mproc_shm_open() (but no name errors), MPROC_EBADF for a bad fd,
 * MPROC_EFOREIGN for an fd that is not a regular file. */
MPROC_API int mproc_shm_from_fd(mproc_shm **out, int fd);

/* mproc_shm_ptr - the first usable byte (128-byte aligned); valid until
 * mproc_shm_close(). mproc_shm_size - the number of usable bytes.
 * Both give NULL / 0 for a NULL or closed handle. */
MPROC_API void *mproc_shm_ptr(const mproc_shm *s);
MPROC_API size_t mproc_shm_size(const mproc_shm *s);

/* mproc_shm_name - the name ("" for an anonymous segment, "" for a NULL or
 * closed handle); valid until mproc_shm_close(). */
MPROC_API const char *mproc_shm_name(const mproc_shm *s);

/* mproc_shm_fd - the segment's file descriptor (owned by the handle; pass
 * it with mproc_pipe_send_fds(), never close it); MPROC_EINVAL for NULL,
 * MPROC_EBADF for a closed handle. */
MPROC_API int mproc_shm_fd(const mproc_shm *s);

/* mproc_shm_unlink - remove the name of a named segment, so that no one
 * else can open it; every mapping stays valid until closed. Like every
 * unlink in mproc (and Python's SharedMemory.unlink()) it takes the name,
 * and any process that may open the segment may unlink it.
 * Returns 0; MPROC_ENOENT (no such name), MPROC_EINVAL (NULL or a bad
 * name), MPROC_ENAMETOOLONG, MPROC_EFOREIGN (the name is not a
 * shared-memory segment of mproc's: left in place), MPROC_EACCES (not a
 * regular file of ours: left in place), MPROC_EMFILE, MPROC_ENFILE,
 * MPROC_ENOMEM. A segment whose creator died before finishing it (or that
 * is still being initialised after MPROC_OPEN_WAIT_MS) is removed. */
MPROC_API int mproc_shm_unlink(const char *name);
/* mproc_shm_close - unmap, close the fd and free the handle. Never unlinks.
 * Returns 0; MPROC_EINVAL for NULL; MPROC_EBADF if already closed (see
 * "Handles" in common.h). */
MPROC_API int mproc_shm_close(mproc_shm *s);

#ifdef __cplusplus
}
#endif
#endif
