/* linux/linux.h - the thin seam between mproc and the Linux kernel.
 *
 * Everything that names a Linux-only system call (futex, pidfd, memfd,
 * prctl, /proc, cgroups, getrandom) is declared here and implemented in
 * the .c files beside it, so that a port knows exactly what it has to provide.
 */
#ifndef MPROC_LINUX_H
#define MPROC_LINUX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mproc__deadline;

/* futex.c ---------------------------------------------------------------------
 * Process-shared futexes (never FUTEX_PRIVATE_FLAG: the words live in shared
 * memory). */

/* mproc__futex_wait - sleep while *word == expected, until woken or the
 * deadline passes (NULL deadline: forever). Returns 0 when woken, when the
 * value differed, or on a signal (the caller re-checks its condition in every
 * case), MPROC_ETIMEDOUT when the deadline passed. */
int mproc__futex_wait(_Atomic uint32_t *word, uint32_t expected, const struct mproc__deadline *d);
/* mproc__futex_wait_ms - the same with a relative cap of at most `cap_ms`
 * milliseconds on top of the deadline (used by waits that must look around
 * now and then, for example for a dead peer). */
int mproc__futex_wait_capped(_Atomic uint32_t *word, uint32_t expected,
                             const struct mproc__deadline *d, int cap_ms);
/* mproc__futex_wake - wake up to n sleepers (INT32_MAX: all); returns how
 * many were woken. */
int mproc__futex_wake(_Atomic uint32_t *word, int n);

/* mproc__futex_waitv - sleep until one of n words (n <= MPROC__WAITV_MAX)
 * no longer holds its value or is woken, or the deadline passes (NULL:
 * forever): futex_waitv(2), Linux 5.16. Returns 0 (woken, a value
 * differed, a signal: re-check), MPROC_ETIMEDOUT, MPROC_ENOSYS (an
 * older kernel: the caller naps instead), MPROC_EFAULT (a word is not
 * mapped: the caller naps, re-checks). */
#define MPROC__WAITV_MAX 128
int mproc__futex_waitv(_Atomic uint32_t *const *words, const uint32_t *vals, unsigned n,
                       const struct mproc__deadline *d);

/* eventfd (futexv.c): a non-blocking, close-on-exec counter descriptor.
 * mproc__evfd_new: the fd or a negative code; _signal makes it readable;
 * _drain makes it unreadable again. */
int mproc__evfd_new(void);
void mproc__evfd_signal(int fd);
void mproc__evfd_drain(int fd);

/* mproc__fd_wait - poll fd for events until ready or the deadline passes
 * (fdwait.c): 0 ready (also on POLLHUP/POLLERR), MPROC_ETIMEDOUT, or a
 * negative code. EINTR is retried with the time left. */
int mproc__fd_wait(int fd, short events, const struct mproc__deadline *d);

/* proc.c ----------------------------------------------------------------------
 * Identity and liveness of processes. A pid alone can be reused; a pid
 * together with its start time (field 22 of /proc/<pid>/stat, in clock ticks
 * since boot) names one process for the life of the machine. */

pid_t mproc__self_pid(void); /* cached, refreshed in the child after fork */
pid_t mproc__self_tid(void); /* cached per thread */
uint64_t mproc__self_start(void);

/* mproc__fork_generation - non-zero, and different in every process this
 * copy of the library runs in (a fork changes it, in the child, whichever
 * code forked): handles compare it to notice that they were inherited.
 * One load on the fast path: the word lives in a MADV_WIPEONFORK page that
 * every child receives zero-filled (linux/proc.c). */
extern _Atomic(_Atomic uint32_t *) mproc__gen_word;
uint32_t mproc__fork_generation_slow(void);
static inline uint32_t mproc__fork_generation(void)
{
    _Atomic uint32_t *w = atomic_load_explicit(&mproc__gen_word, memory_order_acquire);
    uint32_t g = atomic_load_explicit(w, memory_order_acquire);
    return __builtin_expect(g != 0, 1) ? g : mproc__fork_generation_slow();
}

/* mproc__self - who this thread is (pid, tid, process start time), cached
 * per thread and refreshed when the fork generation changes. */
struct mproc__self {
    uint32_t gen;
    pid_t tid;
    pid_t pid;
    uint64_t start;
};
extern __thread struct mproc__self mproc__self_tls __attribute__((tls_model("initial-exec")));
void mproc__self_refresh(void);
static inline const struct mproc__self *mproc__self(void)
{
    if (__builtin_expect(mproc__self_tls.gen != mproc__fork_generation(), 0))
        mproc__self_refresh();
    return &mproc__self_tls;
}

/* mproc__proc_start - start time of pid (or thread id); 0 if it does not
 * exist or cannot be read. */
uint64_t mproc__proc_start(pid_t pid);
/* mproc__proc_alive - true while the process (or thread) `pid` runs and, if
 * start != 0, is the same process that had that start time. Zombies are
 * dead. */
bool mproc__proc_alive(pid_t pid, uint64_t start);
/* mproc__tid_alive - true while thread `tid` exists and is not a zombie. */
bool mproc__tid_alive(pid_t tid);

/* random.c ---------------------------------------------------------------------*/
/* mproc__random_bytes - fill buf from getrandom(); 0 or a negative code. */
int mproc__random_bytes(void *buf, size_t n);

/* shmfile.c --------------------------------------------------------------------
 * Files in /dev/shm that back named objects, and memfds that back anonymous
 * ones. Every name gets the prefix "mproc-" on disk so that `mproc ls` and
 * `mproc clean` can find mproc's objects and never touch anyone else's. */

#define MPROC__NAME_MAX 200 /* user part of a name */
#define MPROC__SHM_PREFIX "mproc-"
#define MPROC__SHM_DIR "/dev/shm/"
#define MPROC__PATH_MAX (sizeof(MPROC__SHM_DIR) + sizeof(MPROC__SHM_PREFIX) + MPROC__NAME_MAX + 1)

/* mproc__name_check - MPROC_EINVAL unless name is 1..MPROC__NAME_MAX bytes of
 * [A-Za-z0-9._-] not starting with '.'; MPROC_ENAMETOOLONG if too long. */
int mproc__name_check(const char *name);
/* mproc__name_random - a fresh random name ("r" + 24 hex digits). */
int mproc__name_random(char *out, size_t outsz);
/* mproc__shm_path - "/dev/shm/mproc-<name>" into buf (MPROC__PATH_MAX). */
void mproc__shm_path(char *buf, const char *name);
/* mproc__shm_create - create a new object, 0600, O_EXCL|O_NOFOLLOW|O_CLOEXEC,
 * with `size` bytes reserved up front (posix_fallocate), so a full /dev/shm
 * fails here with MPROC_ENOSPC rather than with SIGBUS later. head_len
 * bytes of head are written at offset 0 right after the file appears, before
 * it is sized (the creator's record, see segment.h). On failure nothing is
 * left behind. MPROC_EEXIST if the name is taken. */
int mproc__shm_create(const char *name, size_t size, const void *head, size_t head_len,
                      int *fd_out);
/* mproc__shm_open - open an existing object read-write (O_NOFOLLOW|
 * O_CLOEXEC). It must be a regular file owned by the caller's effective uid:
 * MPROC_EACCES otherwise (a symlink, a directory, any other kind of file, or
 * another owner). Besides: MPROC_ENOENT, MPROC_EMFILE, MPROC_ENFILE,
 * MPROC_ENOMEM. *size_out gets its size. */
int mproc__shm_open(const char *name, int *fd_out, size_t *size_out);
/* mproc__shm_unlink - remove the name; MPROC_ENOENT if it is gone. */
int mproc__shm_unlink(const char *name);
/* mproc__memfd_create - an anonymous object of `size` reserved bytes. */
int mproc__memfd_create(const char *tag, size_t size, int *fd_out);

#endif
