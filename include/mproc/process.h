/* mproc/process.h - processes: start, join, terminate; entry points; CPUs.
 *
 * Python's multiprocessing.Process in C. A process runs a function with one
 * argument. Two start methods:
 *
 *  - MPROC_START_FORK (default): fork(); the child runs fn(arg) with a copy of
 *    the parent's memory and returns its exit code. Cheap, but unsafe in a
 *    parent that has other threads (only async-signal-safe calls are allowed
 *    in the child then — the same rule as for fork itself).
 *  - MPROC_START_SPAWN: re-executes the program (/proc/self/exe) and runs an
 *    entry point registered under a name with MPROC_ENTRY(). The argument
 *    bytes are copied to the child, and Queues, Pipe ends, shared memory and
 *    sync objects can be handed to it (see "Objects handed to a spawned
 *    child" below). Safe with threads; needs the program to call
 *    mproc_main() at the top of main().
 *
 * Waiting uses pidfds: no SIGCHLD handler is ever installed, and mproc never
 * reaps a child it did not start. Every process started here is reaped by
 * mproc_process_join() (or, if the handle is freed before the child ends, by
 * the next mproc call that looks at children — see mproc_process_close()).
 *
 * Daemon children (opts.daemon) die with their parent: on a normal exit of
 * the parent (atexit) they are killed, and when the parent dies any other way
 * (even SIGKILL) the kernel sends them SIGKILL (PR_SET_PDEATHSIG, checked
 * against the parent that started them). Note that PR_SET_PDEATHSIG fires
 * when the *thread* that started the child exits: start daemon children from
 * a thread that lives as long as the process.
 *
 * Across fork: a handle belongs to the process that started the child; in a
 * forked grandchild it is inert (every call returns MPROC_ENOTCHILD).
 * Across exec: the pidfd is close-on-exec, the child keeps running. A spawned
 * child gets only the descriptors of the objects handed to it.
 */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mproc_process mproc_process;
struct mproc_object;

/* A function run in a child. Its return value is the child's exit code
 * (0..255). */
typedef int (*mproc_fn)(void *arg);

/* An entry point run by the spawn start method, by pool workers started by
 * spawn and by MPI ranks: gets the argument bytes the parent passed. */
typedef int (*mproc_entry_fn)(const void *arg, size_t len);

enum mproc_start_method { MPROC_START_FORK = 0, MPROC_START_SPAWN = 1 };

struct mproc_process_opts {
    const char *name;  /* shown by mproc_process_name(); NULL: "mproc-<n>" */
    int start_method;  /* MPROC_START_FORK (default) or MPROC_START_SPAWN */
    int daemon;        /* nonzero: dies with its parent (see above) */
    const char *entry; /* spawn: the registered entry name */
    const void *arg;   /* spawn: argument bytes copied to the child */
    size_t arg_len;
    /* spawn: objects handed to the child (see "Objects handed to a spawned
     * child" below); the child gets them with mproc_arg_<kind>(i, ...). */
    const struct mproc_object *objects;
    size_t n_objects;
};

/* mproc_process_start - start a child running fn(arg) (fork method), or the
 * entry opts->entry with opts->arg bytes and the objects opts->objects
 * (spawn method; fn must be NULL then). opts may be NULL (fork, not a
 * daemon). Does not block beyond the fork or exec itself.
 * Returns 0 and a handle in *out; MPROC_EINVAL (NULL out, NULL fn for fork,
 * fn given for spawn, bad method, NULL arg with arg_len > 0, spawn in a
 * program whose main() did not call mproc_main(): the copy would run main()
 * from the top; objects given to a fork start, NULL objects with
 * n_objects > 0, more than MPROC_SPAWN_MAX_OBJECTS, an unknown kind, a NULL
 * pointer, a sync object that is not standalone, an Array of more than one
 * element given as MPROC_OBJ_VALUE), MPROC_EBUSY (a handed
 * Pipe end holds received data not yet read, or the unsent rest of a
 * message), MPROC_ENOENT (a handed named sync object, Value or Array whose
 * name was unlinked or now names another object), MPROC_ENOENTRY (spawn:
 * name not registered in this program), MPROC_ENAMETOOLONG (name over 63
 * bytes), MPROC_EMSGSIZE (spawn argument over 1 GiB), MPROC_EAGAIN /
 * MPROC_ENOMEM / MPROC_EMFILE (no more processes, memory or descriptors).
 * Nothing is left behind on failure.
 *
 * Always check the result before using *out: on failure *out is not
 * written.
 *
 *     mproc_process *p;
 *     int rc = mproc_process_start(&p, work, NULL, NULL);
 *     if (rc < 0) { fprintf(stderr, "start: %s\n", mproc_strerror(rc)); return 1; } */
MPROC_API int mproc_process_start(mproc_process **out, mproc_fn fn, void *arg,
                                  const struct mproc_process_opts *opts);

/* Exit status of a finished process, from mproc_process_join(). */
struct mproc_exit {
    int exited;   /* 1: exited normally with `code` */
    int code;     /* exit code 0..255 if exited */
    int signaled; /* 1: killed by signal `signal` */
    int signal;
    int core_dumped;
};

/* mproc_process_join - wait up to timeout_ms for the child to end and reap it.
 * 0 and *status (may be NULL) when it ended; MPROC_ETIMEDOUT if it is still
 * running when a positive timeout passes, MPROC_EAGAIN if it is still
 * running and timeout_ms is 0 (call again later); MPROC_EINVAL for NULL or a
 * bad timeout; MPROC_EBADF for a closed handle; MPROC_ENOTCHILD if the
 * handle was inherited across fork; MPROC_ECHILD if the child ended but its
 * status is lost: the kernel reaped it because SIGCHLD is ignored (SIG_IGN or
 * SA_NOCLDWAIT), or another waiter (waitpid(-1)) did. With SIGCHLD ignored
 * *when the child was started*, a fork child that returns from fn or calls
 * exit() still reports its code (it publishes it on its way out); one killed
 * by a signal, one that calls _exit() or exec, and a spawn child give
 * MPROC_ECHILD. Joining an already joined process returns the same result
 * (and status) again. */
MPROC_API int mproc_process_join(mproc_process *p, int timeout_ms, struct mproc_exit *status);

/* mproc_process_is_alive - 1 if running, 0 if it ended (it is not reaped by
 * this call); MPROC_EINVAL (NULL), MPROC_EBADF (closed handle),
 * MPROC_ENOTCHILD (inherited across fork). */
MPROC_API int mproc_process_is_alive(mproc_process *p);

/* mproc_process_terminate - send SIGTERM; mproc_process_kill - SIGKILL;
 * mproc_process_signal - any signal. 0 also when the process has already
 * ended (nothing is sent then: the pidfd makes that race-free).
 * MPROC_ENOTCHILD for an inherited handle, MPROC_EINVAL for NULL or a bad
 * signal, MPROC_EBADF for a closed handle. */
MPROC_API int mproc_process_terminate(mproc_process *p);
MPROC_API int mproc_process_kill(mproc_process *p);
MPROC_API int mproc_process_signal(mproc_process *p, int sig);

/* mproc_process_pid - the child's pid; mproc_process_name - its name
 * (valid as long as the handle); mproc_process_pidfd - its pidfd (for
 * poll/epoll: readable once it ended; owned by the handle). For NULL: pid and
 * pidfd MPROC_EINVAL, name NULL; for a closed handle: MPROC_EBADF, NULL. */
MPROC_API pid_t mproc_process_pid(const mproc_process *p);
MPROC_API const char *mproc_process_name(const mproc_process *p);
MPROC_API int mproc_process_pidfd(const mproc_process *p);

/* mproc_process_close - release the handle. A child still running is not
 * killed (a daemon one still is when this process exits) and is reaped
 * later, without blocking, by the library's bookkeeping (or at exit).
 * Returns 0; MPROC_EINVAL for NULL; MPROC_EBADF if it was closed already
 * (a second close never crashes; see "Handles" in common.h). Must not race
 * with other calls on the same handle; any other pair of calls on one handle
 * may come from different threads. */
MPROC_API int mproc_process_close(mproc_process *p);

/* mproc_active_children - up to max handles of this process's children that
 * are still running (like multiprocessing.active_children()); returns the
 * count (which may exceed max). The handles stay owned by their starters. */
MPROC_API int mproc_active_children(mproc_process **out, int max);

/* mproc_parent_alive - 1 if the process that started this one (with mproc)
 * is still alive, 0 if it died, MPROC_ESRCH if this process was not started
 * by mproc. */
MPROC_API int mproc_parent_alive(void);

/* mproc_current_name - this process's name ("MainProcess" if not started by
 * mproc); mproc_current_pid - its pid. */
MPROC_API const char *mproc_current_name(void);
MPROC_API pid_t mproc_current_pid(void);

/* mproc_cpu_count - the number of CPUs this process may really use: the
 * size of its affinity mask, lowered by a cgroup CPU quota (v2 cpu.max or
 * v1 cfs_quota_us / cfs_period_us, the smallest along the hierarchy),
 * rounded up. Always >= 1. mproc_cpu_count_host - CPUs online on the host. */
MPROC_API int mproc_cpu_count(void);
MPROC_API int mproc_cpu_count_host(void);

/* Entry points ----------------------------------------------------------------
 * A function pointer means nothing in a process started by exec or on another
 * machine, so functions that must run there are registered under a name:
 *
 *     static int worker(const void *arg, size_t len) { ...; return 0; }
 *     MPROC_ENTRY(worker);                // registers "worker"
 *
 * Registration happens before main() runs (a constructor), so every process
 * running the same program knows the same names. */

/* mproc_entry_register - register fn under name (at most 63 bytes of
 * [A-Za-z0-9_.-]). MPROC_EEXIST if the name is taken by another function,
 * MPROC_EINVAL for a bad name or NULL fn, MPROC_ENOMEM. Registering the same
 * pair twice is fine. */
MPROC_API int mproc_entry_register(const char *name, mproc_entry_fn fn);
/* mproc_entry_find - the function registered under name, or NULL. */
MPROC_API mproc_entry_fn mproc_entry_find(const char *name);

#define MPROC_ENTRY_NAMED(name_str, fn)                                                            \
    __attribute__((constructor)) static void mproc__entry_ctor_##fn(void)                          \
    {                                                                                              \
        (void)mproc_entry_register(name_str, fn);                                                  \
    }
#define MPROC_ENTRY(fn) MPROC_ENTRY_NAMED(#fn, fn)

/* Objects handed to a spawned child -------------------------------------------
 * A forked child inherits the parent's objects. A spawned child is a fresh
 * run of the program, so the objects it should share are handed to it in the
 * start call, the way Python passes a Queue to a spawn Process:
 *
 *     struct mproc_object objs[] = {{MPROC_OBJ_QUEUE, q}, {MPROC_OBJ_LOCK, lock}};
 *     struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
 *                                    .entry = "worker",
 *                                    .objects = objs, .n_objects = 2};
 *     rc = mproc_process_start(&p, NULL, NULL, &o);
 *
 *     static int worker(const void *arg, size_t len)   // in the child
 *     {
 *         mproc_queue *q; mproc_lock *lock;
 *         if (mproc_arg_queue(0, &q) < 0 || mproc_arg_lock(1, &lock) < 0)
 *             return 1;
 *         ...
 *         mproc_lock_close(lock); mproc_queue_close(q);
 *         return 0;
 *     }
 *
 * Kinds and what `ptr` points to: MPROC_OBJ_QUEUE (mproc_queue *),
 * MPROC_OBJ_PIPE (mproc_pipe *, one end), MPROC_OBJ_SHM (mproc_shm *),
 * MPROC_OBJ_LOCK, _RLOCK, _SEM, _COND, _EVENT, _BARRIER (a standalone
 * object from mproc_<kind>_create or _open; an object placed in your own
 * memory travels with that memory, e.g. inside a handed mproc_shm),
 * MPROC_OBJ_VALUE (mproc_value *), MPROC_OBJ_ARRAY (mproc_array *).
 * Anonymous and named objects both work.
 *
 * How: each object travels as a file descriptor. The start call duplicates
 * the object's descriptor (a named sync object, Value or Array is opened
 * again by its name and checked to be the very same object), and only the
 * new child inherits the copies: they stay close-on-exec for every other
 * child, even one started at the same moment by another thread. The child
 * validates each one as mproc_<kind>_open would (magic, version, kind,
 * sizes) when it asks for it.
 *
 * The parent keeps its own handles and may go on using them. A Pipe end
 * is shared by both processes afterwards (use it from one at a time); an
 * end that holds data it received but has not handed out yet, or the rest
 * of a message whose send timed out, is refused with MPROC_EBUSY: that
 * data lives in the parent's handle.
 *
 * Cost: an anonymous standalone sync object, Value or Array keeps its
 * descriptor open (close-on-exec) while this process has it, so that it can
 * be handed on; named ones do not hold a descriptor. */

enum mproc_object_kind {
    MPROC_OBJ_QUEUE = 1,
    MPROC_OBJ_PIPE,
    MPROC_OBJ_SHM,
    MPROC_OBJ_LOCK,
    MPROC_OBJ_RLOCK,
    MPROC_OBJ_SEM,
    MPROC_OBJ_COND,
    MPROC_OBJ_EVENT,
    MPROC_OBJ_BARRIER,
    MPROC_OBJ_VALUE,
    MPROC_OBJ_ARRAY,
};

/* One handed object: its kind and the parent's handle or pointer. */
struct mproc_object {
    int kind;
    const void *ptr;
};

struct mproc_queue;
struct mproc_pipe;
struct mproc_shm;
struct mproc_lock;
struct mproc_rlock;
struct mproc_sem;
struct mproc_cond;
struct mproc_event;
struct mproc_barrier;
struct mproc_value;
struct mproc_array;

/* Most objects one start call may hand over. */
#define MPROC_SPAWN_MAX_OBJECTS 64

/* mproc_arg_count - the number of objects handed to this process by the
 * spawn start call that started it; 0 in any other process. */
MPROC_API int mproc_arg_count(void);

/* mproc_arg_kind - the kind (enum mproc_object_kind) of handed object i, or
 * MPROC_ERANGE if i >= mproc_arg_count(). */
MPROC_API int mproc_arg_kind(size_t i);

/* mproc_arg_<kind> - attach to handed object i. Each call gives a new
 * handle (or pointer) that the caller owns and releases with the kind's
 * own close call (mproc_queue_close, mproc_pipe_close, mproc_lock_close,
 * ...), exactly as if it had been opened. Does not block.
 * Returns 0 and *out; MPROC_EINVAL (NULL out), MPROC_ERANGE (i >=
 * mproc_arg_count(), also in a process that was not spawned),
 * MPROC_EFOREIGN (object i is of another kind, or not an mproc object),
 * MPROC_EVERSION, MPROC_ECORRUPT (the segment fails validation),
 * MPROC_ENOMEM / MPROC_EMFILE. Nothing is written to *out on failure. */
MPROC_API int mproc_arg_queue(size_t i, struct mproc_queue **out);
MPROC_API int mproc_arg_pipe(size_t i, struct mproc_pipe **out);
MPROC_API int mproc_arg_shm(size_t i, struct mproc_shm **out);
MPROC_API int mproc_arg_lock(size_t i, struct mproc_lock **out);
MPROC_API int mproc_arg_rlock(size_t i, struct mproc_rlock **out);
MPROC_API int mproc_arg_sem(size_t i, struct mproc_sem **out);
MPROC_API int mproc_arg_cond(size_t i, struct mproc_cond **out);
MPROC_API int mproc_arg_event(size_t i, struct mproc_event **out);
MPROC_API int mproc_arg_barrier(size_t i, struct mproc_barrier **out);
MPROC_API int mproc_arg_value(size_t i, struct mproc_value **out);
MPROC_API int mproc_arg_array(size_t i, struct mproc_array **out);

/* mproc_main - call first in main() of any program that uses the spawn
 * start method (or a pool started with it, or the MPI backend). In a normal
 * run it returns 0 at once. In a process started by spawn it runs the
 * requested entry point and exits with its result: it never returns. A
 * negative code means the spawn hand-over was broken (the process should
 * exit). */
MPROC_API int mproc_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif
#endif
