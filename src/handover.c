/* handover.c - objects handed to a spawned child: the parent's side (one new
 * descriptor per object, made for the start call) and the child's
 * (mproc_arg_<kind>: attach object i, validated as an open would).
 *
 * Parent: mproc__handover_collect turns each {kind, ptr} into a kind, flags
 * and a fresh close-on-exec descriptor: a dup of the handle's own for a
 * Queue, a shared-memory segment or a Pipe end; for a standalone sync
 * object, Value or Array, the one the kept table gives (see
 * sync/standalone.c: a dup for an anonymous one, the name opened again and
 * checked for a named one). linux/spawn.c passes them to the new child only;
 * mproc__handover_release closes them once the child is started (or the
 * start failed).
 *
 * Child: mproc_main gives the table read and checked by linux/spawn.c to
 * mproc__handover_adopt. It stays for the life of the process, with the
 * descriptors (close-on-exec): each mproc_arg_<kind> call attaches a new
 * handle from a dup of descriptor i, owned by the caller, so asking twice is
 * as safe as opening twice. The table is written once, before the entry
 * runs, and only read afterwards: no lock.
 */
#include "internal.h"
#include "linux/child.h"
#include "pipe_internal.h"
#include "sync/sync.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static struct mproc__handoff_obj *handed;
static size_t n_handed;

/* The segment kind and size of each standalone sync object kind. */
static int sync_kind(int kind, unsigned *seg_kind, size_t *size)
{
    switch (kind) {
    case MPROC_OBJ_LOCK:
        *seg_kind = MPROC__SEG_LOCK;
        *size = sizeof(mproc_lock);
        return 1;
    case MPROC_OBJ_RLOCK:
        *seg_kind = MPROC__SEG_RLOCK;
        *size = sizeof(mproc_rlock);
        return 1;
    case MPROC_OBJ_SEM:
        *seg_kind = MPROC__SEG_SEM;
        *size = MPROC__SEM_SEG_BODY;
        return 1;
    case MPROC_OBJ_COND:
        *seg_kind = MPROC__SEG_COND;
        *size = sizeof(mproc_cond);
        return 1;
    case MPROC_OBJ_EVENT:
        *seg_kind = MPROC__SEG_EVENT;
        *size = sizeof(mproc_event);
        return 1;
    case MPROC_OBJ_BARRIER:
        *seg_kind = MPROC__SEG_BARRIER;
        *size = sizeof(mproc_barrier);
        return 1;
    default:
        return 0;
    }
}

static int dup_cloexec(int fd, int *out)
{
    if (fd < 0)
        return MPROC_EINVAL;
    int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (d < 0)
        return mproc__err();
    *out = d;
    return 0;
}

static int collect_one(const struct mproc_object *in, struct mproc__handoff_obj *o)
{
    unsigned seg_kind;
    size_t size;
    const void *ptr = in->ptr;
    memset(o, 0, sizeof *o);
    o->fd = -1;
    if (ptr == NULL)
        return MPROC_EINVAL;
    o->kind = (uint32_t)in->kind;
    switch (in->kind) {
    case MPROC_OBJ_QUEUE:
        return dup_cloexec(mproc_queue_fd(ptr), &o->fd);
    case MPROC_OBJ_SHM:
        return dup_cloexec(mproc_shm_fd(ptr), &o->fd);
    case MPROC_OBJ_PIPE: {
        bool snd, rcv;
        int rc = mproc__pipe_handover(ptr, &o->fd, &snd, &rcv);
        o->flags = (snd ? MPROC__OBJ_SEND : 0) | (rcv ? MPROC__OBJ_RECV : 0);
        return rc;
    }
    case MPROC_OBJ_VALUE:
    case MPROC_OBJ_ARRAY:
        if (in->kind == MPROC_OBJ_VALUE && mproc__array_len(ptr) != 1)
            return MPROC_EINVAL;
        return mproc__array_handover(ptr, &o->fd);
    default:
        if (!sync_kind(in->kind, &seg_kind, &size))
            return MPROC_EINVAL;
        return mproc__sync_handover(ptr, seg_kind, size, &o->fd);
    }
}

int mproc__handover_collect(const struct mproc_object *in, size_t n,
                            struct mproc__handoff_obj *objs)
{
    for (size_t i = 0; i < n; i++) {
        int rc = collect_one(&in[i], &objs[i]);
        /* A parent that closed stdin, say, could get 0..2 here, and the
         * child would read its stdin from a queue's memory. */
        if (rc == 0 && objs[i].fd < 3) {
            int d = fcntl(objs[i].fd, F_DUPFD_CLOEXEC, 3);
            rc = d < 0 ? mproc__err() : 0;
            close(objs[i].fd);
            objs[i].fd = d;
        }
        if (rc < 0) {
            mproc__handover_release(objs, i + 1);
            return rc;
        }
    }
    return 0;
}

void mproc__handover_release(struct mproc__handoff_obj *objs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (objs[i].fd >= 0)
            close(objs[i].fd);
        objs[i].fd = -1;
    }
}

void mproc__handover_adopt(struct mproc__handoff_obj *objs, size_t n)
{
    handed = objs;
    n_handed = n;
}

MPROC_API int mproc_arg_count(void)
{
    return (int)n_handed;
}

MPROC_API int mproc_arg_kind(size_t i)
{
    return i < n_handed ? (int)handed[i].kind : MPROC_ERANGE;
}

/* Descriptor i if it holds an object of `kind`. */
static int arg_fd(size_t i, int kind, const void *out)
{
    if (out == NULL)
        return MPROC_EINVAL;
    if (i >= n_handed)
        return MPROC_ERANGE;
    if (handed[i].kind != (uint32_t)kind)
        return MPROC_EFOREIGN;
    return handed[i].fd;
}

MPROC_API int mproc_arg_queue(size_t i, mproc_queue **out)
{
    int fd = arg_fd(i, MPROC_OBJ_QUEUE, out);
    return fd < 0 ? fd : mproc_queue_from_fd(out, fd);
}

MPROC_API int mproc_arg_shm(size_t i, mproc_shm **out)
{
    int fd = arg_fd(i, MPROC_OBJ_SHM, out);
    return fd < 0 ? fd : mproc_shm_from_fd(out, fd);
}

MPROC_API int mproc_arg_pipe(size_t i, mproc_pipe **out)
{
    int fd = arg_fd(i, MPROC_OBJ_PIPE, out), d;
    if (fd < 0)
        return fd;
    int rc = dup_cloexec(fd, &d);
    if (rc < 0)
        return rc;
    unsigned f = handed[i].flags;
    rc = mproc__pipe_wrap(d, f & MPROC__OBJ_SEND, f & MPROC__OBJ_RECV, out);
    if (rc < 0)
        close(d);
    return rc;
}

static int arg_sync(size_t i, int kind, void **out)
{
    unsigned seg_kind;
    size_t size;
    int fd = arg_fd(i, kind, out);
    if (fd < 0)
        return fd;
    (void)sync_kind(kind, &seg_kind, &size);
    return mproc__sync_from_fd(out, fd, seg_kind, size);
}

#define ARG_SYNC(name, type, kind)                                                                 \
    MPROC_API int mproc_arg_##name(size_t i, type **out)                                           \
    {                                                                                              \
        void *obj;                                                                                 \
        int rc = arg_sync(i, kind, out ? &obj : NULL);                                             \
        if (rc == 0)                                                                               \
            *out = obj;                                                                            \
        return rc;                                                                                 \
    }
ARG_SYNC(lock, mproc_lock, MPROC_OBJ_LOCK)
ARG_SYNC(rlock, mproc_rlock, MPROC_OBJ_RLOCK)
ARG_SYNC(sem, mproc_sem, MPROC_OBJ_SEM)
ARG_SYNC(cond, mproc_cond, MPROC_OBJ_COND)
ARG_SYNC(event, mproc_event, MPROC_OBJ_EVENT)
ARG_SYNC(barrier, mproc_barrier, MPROC_OBJ_BARRIER)

MPROC_API int mproc_arg_array(size_t i, mproc_array **out)
{
    int fd = arg_fd(i, MPROC_OBJ_ARRAY, out);
    return fd < 0 ? fd : mproc__array_from_fd(out, fd);
}

MPROC_API int mproc_arg_value(size_t i, mproc_value **out)
{
    mproc_array *a;
    int fd = arg_fd(i, MPROC_OBJ_VALUE, out);
    if (fd < 0)
        return fd;
    int rc = mproc__array_from_fd(&a, fd);
    if (rc < 0)
        return rc;
    if (mproc__array_len(a) != 1) {
        mproc_array_close(a);
        return MPROC_EFOREIGN;
    }
    *out = (mproc_value *)(void *)a;
    return 0;
}
