/* mproc/common.h - what every part of mproc shares: the export macro, the
 * error model, timeouts and the library version.
 *
 * Included by <mproc.h>; do not include it on its own.
 *
 * Errors
 * ------
 * Every fallible call returns an int (an ssize_t for byte counts): 0 (or a
 * count >= 0) on success, a negative code on failure. Codes that have an errno twin are exactly
 * -errno (MPROC_EAGAIN == -EAGAIN), so `strerror(-rc)` works for them too;
 * codes of mproc's own live in [-4199, -4000]. Nothing sets errno for you and
 * nothing keeps thread-local error state. Out-parameters are written only on
 * success.
 *
 * Timeouts
 * --------
 * A call that can block takes one `int timeout_ms`: 0 tries once and never
 * sleeps, a positive value waits at most that many milliseconds (measured on
 * CLOCK_MONOTONIC, so changes of the wall clock do not matter), and
 * MPROC_FOREVER waits as long as it takes. Any other negative value is
 * MPROC_EINVAL. A wait interrupted by a signal resumes with the time that is
 * left; it never returns EINTR.
 *
 * One rule for a wait that does not succeed, in every call: a try
 * (timeout 0) returns MPROC_EAGAIN, a positive timeout that passes returns
 * MPROC_ETIMEDOUT. (A call that reports readiness as a count, like
 * mproc_pipe_poll(), returns 0 instead.)
 *
 * Opening a named object
 * ----------------------
 * Every *_open of a named object (queue, shm, lock, rlock, semaphore,
 * condition, event, barrier, value, array) follows one rule when the object
 * exists but is not initialised yet:
 *   - its creator is alive and still initialising it: open waits for it,
 *     at most MPROC_OPEN_WAIT_MS, then returns MPROC_EAGAIN (try later);
 *   - its creator died before finishing, or the file is zero-filled with no
 *     creator recorded and unchanged for MPROC_OPEN_WAIT_MS: MPROC_ECORRUPT
 *     at once (the *_unlink of that kind removes it).
 * A name that exists but is not a regular file owned by the caller (a
 * directory, a symlink, another user's file) is MPROC_EACCES; a regular file
 * that is not an mproc object of that kind is MPROC_EFOREIGN.
 *
 * Handles
 * -------
 * A call on a handle that was closed returns MPROC_EBADF while the handle's
 * memory is still held by the library (see docs/design.md: closed handles
 * are kept a while before they are freed); a second close returns
 * MPROC_EBADF and never crashes. NULL is MPROC_EINVAL.
 */
#ifndef MPROC_COMMON_H
#define MPROC_COMMON_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(MPROC_STATIC)
#define MPROC_API
#elif defined(MPROC_BUILDING)
#define MPROC_API __attribute__((visibility("default")))
#else
#define MPROC_API
#endif

#define MPROC_VERSION_MAJOR 0
#define MPROC_VERSION_MINOR 1
#define MPROC_VERSION_PATCH 0
#define MPROC_VERSION_STRING "0.1.0"
/* MPROC_VERSION_HEX: 0x00MMmmpp, for #if comparisons. */
#define MPROC_VERSION_HEX                                                                          \
    ((MPROC_VERSION_MAJOR << 16) | (MPROC_VERSION_MINOR << 8) | MPROC_VERSION_PATCH)

/* mproc_version - the version of the library actually linked, as
 * MPROC_VERSION_HEX; mproc_version_string() as "M.m.p". */
MPROC_API unsigned mproc_version(void);
MPROC_API const char *mproc_version_string(void);

/* Timeouts: see the note at the top of this file. */
#define MPROC_FOREVER (-1)
/* The longest a *_open waits for a creator that is still initialising the
 * object (see "Opening a named object" above). */
#define MPROC_OPEN_WAIT_MS 1000

/* Error codes that mirror errno. */
#define MPROC_EPERM (-EPERM)
#define MPROC_ENOENT (-ENOENT)
#define MPROC_ESRCH (-ESRCH)
#define MPROC_EINTR (-EINTR)
#define MPROC_EIO (-EIO)
#define MPROC_EBADF (-EBADF) /* invalid or closed handle (or fd) */
#define MPROC_ECHILD (-ECHILD)
#define MPROC_EAGAIN (-EAGAIN)
#define MPROC_ENOMEM (-ENOMEM)
#define MPROC_EACCES (-EACCES)
#define MPROC_EFAULT (-EFAULT)
#define MPROC_EBUSY (-EBUSY)
#define MPROC_EEXIST (-EEXIST)
#define MPROC_EINVAL (-EINVAL)
#define MPROC_ENFILE (-ENFILE)
#define MPROC_EMFILE (-EMFILE)
#define MPROC_EFBIG (-EFBIG)
#define MPROC_ENOSPC (-ENOSPC)
#define MPROC_EPIPE (-EPIPE)
#define MPROC_ERANGE (-ERANGE)
#define MPROC_ENAMETOOLONG (-ENAMETOOLONG)
#define MPROC_ENOSYS (-ENOSYS)
#define MPROC_EPROTO (-EPROTO)
#define MPROC_EBADMSG (-EBADMSG)
#define MPROC_EOVERFLOW (-EOVERFLOW)
#define MPROC_EMSGSIZE (-EMSGSIZE)
#define MPROC_ENOTSUP (-ENOTSUP)
#define MPROC_ECONNRESET (-ECONNRESET)
#define MPROC_ECONNREFUSED (-ECONNREFUSED)
#define MPROC_ETIMEDOUT (-ETIMEDOUT)
#define MPROC_ECANCELED (-ECANCELED)
#define MPROC_EALREADY (-EALREADY)
#define MPROC_EOWNERDEAD (-EOWNERDEAD)
#define MPROC_ENOTRECOVERABLE (-ENOTRECOVERABLE)

/* Error codes of mproc's own. */
#define MPROC_ECLOSED (-4001)     /* the object was closed: nothing more will come */
#define MPROC_EBROKEN (-4002)     /* a barrier or a pool is broken (a party died or gave up) */
#define MPROC_EFOREIGN (-4003)    /* not an mproc object of the expected kind (bad magic) */
#define MPROC_EVERSION (-4004)    /* an mproc object of another ABI version */
#define MPROC_ECORRUPT (-4005)    /* shared state failed validation (corrupt or hostile peer) */
#define MPROC_EPEERDEAD (-4006)   /* the peer process died (reserved: no call returns it yet) */
#define MPROC_ENOENTRY (-4007)    /* no entry point registered under that name */
#define MPROC_ENOTCHILD (-4008)   /* the process is not a child of this process */
#define MPROC_ETASKFAILED (-4009) /* a pool task returned an error */
#define MPROC_EWORKERDIED (-4010) /* a pool worker died while running the task */
#define MPROC_ELOST                                                                                \
    (-4011)                     /* a message was lost because its writer died (reserved: no
                                     call returns it yet; queue losses are counted in
                                     mproc_queue_stats.lost) */
#define MPROC_ENOTOWNER (-4012) /* released by a thread that does not hold it */

/* mproc_strerror - a short English description of an mproc error code (or of
 * one of the -errno values above). Never NULL; 0 gives "success", unknown
 * codes give "unknown error". */
MPROC_API const char *mproc_strerror(int err);

/* mproc_err_name - the symbolic name of an error code ("MPROC_ETIMEDOUT"),
 * "MPROC_OK" for 0, "MPROC_EUNKNOWN" for codes it does not know. Never NULL. */
MPROC_API const char *mproc_err_name(int err);

#ifdef __cplusplus
}
#endif
#endif
