/* sync.c - mproc._mproc's locks, semaphores, conditions, events and
 * barriers: multiprocessing.synchronize's classes on the core's standalone
 * sync objects (src/sync). python/mproc/synchronize.py subclasses them to
 * add the context argument and pickling for a spawned child.
 *
 * Each Python object owns one anonymous standalone object (a memfd page):
 * a forked child inherits the mapping and uses the same object; a spawned
 * child gets a descriptor of it (export_fd in the parent, from_fd in the
 * child: the core's hand-over pair of src/sync/standalone.c) and maps it.
 * Dealloc closes the object in this process only.
 *
 * Waiting: the GIL is released around every wait, and a wait with a
 * timeout is cut into slices of at most SLICE_MS so that a signal handler
 * (KeyboardInterrupt) runs between them. An uncontended Lock/RLock acquire
 * is tried first with the GIL held (one compare-and-swap) when the word
 * reads free. The exception is a Barrier: a core barrier wait that times
 * out breaks the barrier, so it is one wait of the caller's whole timeout.
 *
 * Owner death (the mproc extra): an acquire that returns MPROC_EOWNERDEAD
 * leaves the caller holding the lock and raises mproc.OwnerDeadError;
 * make_consistent() marks the protected state repaired (the core's
 * *_consistent). Released without it, the lock becomes unusable
 * (MprocError, errno ENOTRECOVERABLE, from then on).
 *
 * Condition: multiprocessing lets the condition use any Lock or RLock, but
 * a core mproc_cond owns its lock. So a Condition pairs the user's lock L
 * with a core condition C whose own lock only guards the hand-off: a waiter
 * holding L takes C, releases L, waits on C (which releases C atomically),
 * then releases C and takes L again; a notifier holding L takes C, notifies
 * and releases C. Both take L before C, so no deadlock; a notify cannot
 * fall between a waiter's release of L and its sleep because the waiter
 * holds C over that gap. C protects no data of its own: if its holder died,
 * the next taker marks it consistent and goes on.
 */
#include "mproc_py.h"

#include "sync/sync.h"

#include <fcntl.h>
#include <unistd.h>

#define SLICE_MS 100

enum kind { K_LOCK, K_RLOCK, K_SEM, K_EVENT, K_BARRIER, K_COND };

static const struct {
    unsigned seg;
    size_t size;
} kinds[] = {
    [K_LOCK] = {MPROC__SEG_LOCK, sizeof(mproc_lock)},
    [K_RLOCK] = {MPROC__SEG_RLOCK, sizeof(mproc_rlock)},
    [K_SEM] = {MPROC__SEG_SEM, MPROC__SEM_SEG_BODY},
    [K_EVENT] = {MPROC__SEG_EVENT, sizeof(mproc_event)},
    [K_BARRIER] = {MPROC__SEG_BARRIER, sizeof(mproc_barrier)},
    [K_COND] = {MPROC__SEG_COND, sizeof(mproc_cond)},
};

typedef struct {
    PyObject_HEAD void *obj; /* the core object (mproc_lock *, ...), NULL if none */
    enum kind kind;
    unsigned maxvalue; /* BoundedSemaphore: its bound; 0 otherwise */
} SyncObject;

typedef struct {
    SyncObject base;   /* obj: the first barrier */
    mproc_barrier *b2; /* the action's second barrier, or NULL */
    PyObject *action;
    double timeout; /* the default wait timeout in s; < 0: None */
} BarrierObject;

typedef struct {
    PyObject_HEAD SyncObject *lock; /* a Lock or RLock (L) */
    mproc_cond *c;                  /* the hand-off condition (C) */
} CondObject;

static PyTypeObject *LockType, *RLockType, *SemType, *EventType, *BarrierType, *CondType;
static PyObject *BrokenBarrierError;

/* The core's close for each kind. */
static int sync_close(enum kind k, void *obj)
{
    switch (k) {
    case K_LOCK:
        return mproc_lock_close(obj);
    case K_RLOCK:
        return mproc_rlock_close(obj);
    case K_SEM:
        return mproc_sem_close(obj);
    case K_EVENT:
        return mproc_event_close(obj);
    case K_BARRIER:
        return mproc_barrier_close(obj);
    case K_COND:
        return mproc_cond_close(obj);
    }
    return MPROC_EINVAL;
}

/* A new descriptor of a standalone object, for a spawned child (the caller
 * owns it), or -1 with an exception set. */
static int sync_export(enum kind k, const void *obj)
{
    int fd = -1;
    int rc = mproc__sync_handover(obj, kinds[k].seg, kinds[k].size, &fd);
    if (rc < 0) {
        mproc_py_raise(rc);
        return -1;
    }
    return fd;
}

/* Map the standalone object behind fd (the caller keeps fd). */
static void *sync_import(enum kind k, int fd)
{
    void *obj = NULL;
    int rc = mproc__sync_from_fd(&obj, fd, kinds[k].seg, kinds[k].size);
    if (rc < 0) {
        mproc_py_raise(rc);
        return NULL;
    }
    return obj;
}

/* Waiting in slices ------------------------------------------------------ */

typedef int (*wait_fn)(void *obj, int timeout_ms);

static uint64_t now_ms(void)
{
    return mproc__now_ns() / 1000000u;
}

/* Call fn(obj, t) with the GIL released until it returns something other
 * than a timeout or the whole timeout_ms has passed, running signal
 * handlers between slices. Returns the last code (MPROC_ETIMEDOUT when the
 * time ran out, MPROC_EAGAIN for a try), or INT_MIN with an exception set
 * (a signal handler raised). */
static int wait_sliced(wait_fn fn, void *obj, int timeout_ms)
{
    int rc;
    if (timeout_ms == 0)
        return fn(obj, 0);
    bool forever = timeout_ms == MPROC_FOREVER;
    uint64_t deadline = forever ? 0 : now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        int slice = SLICE_MS;
        if (!forever) {
            uint64_t now = now_ms();
            if (now >= deadline)
                return MPROC_ETIMEDOUT;
            if (deadline - now < (uint64_t)slice)
                slice = (int)(deadline - now);
        }
        Py_BEGIN_ALLOW_THREADS rc = fn(obj, slice);
        Py_END_ALLOW_THREADS if (rc != MPROC_ETIMEDOUT && rc != MPROC_EAGAIN) return rc;
        if (PyErr_CheckSignals() < 0)
            return INT_MIN;
    }
}

static int lock_wait(void *o, int t)
{
    return mproc_lock_acquire(o, t);
}

static int rlock_wait(void *o, int t)
{
    return mproc_rlock_acquire(o, t);
}

static int sem_wait(void *o, int t)
{
    return mproc_sem_acquire(o, t);
}

static int event_wait(void *o, int t)
{
    return mproc_event_wait(o, t);
}

static int cond_wait(void *o, int t)
{
    return mproc_cond_wait(o, t);
}

/* Sleep timeout_ms in slices (a Lock acquired again by its owner: nothing
 * can release it meanwhile, multiprocessing would wait the timeout too). */
static int no_wait(void *o, int t)
{
    (void)o;
    if (t > 0) {
        struct timespec ts = {t / 1000, (long)(t % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    return MPROC_ETIMEDOUT;
}

static int check_open(SyncObject *s)
{
    if (s->obj == NULL) {
        PyErr_SetString(PyExc_ValueError, "the synchronization object is not initialised");
        return -1;
    }
    return 0;
}

/* Lock and RLock --------------------------------------------------------- */

static bool lk_free(const void *obj)
{
    const struct mproc__lk *l = obj;
    return atomic_load_explicit(&((struct mproc__lk *)l)->word, memory_order_relaxed) == 0;
}

/* Acquire L (timeout_ms as mproc): 1 acquired, 0 not, -1 exception (also
 * OwnerDeadError: then the caller holds the lock). */
static int lock_acquire_ms(SyncObject *s, int timeout_ms)
{
    int rc;
    bool rl = s->kind == K_RLOCK;
    /* Uncontended (or nested): one CAS with the GIL held. */
    if (rl ? (lk_free(s->obj) || mproc_rlock_depth(s->obj) > 0) : lk_free(s->obj)) {
        rc = rl ? mproc_rlock_acquire(s->obj, 0) : mproc_lock_acquire(s->obj, 0);
        if (rc == 0)
            return 1;
        if (rc != MPROC_EAGAIN && rc != MPROC_ETIMEDOUT && rc != MPROC_EBUSY)
            goto fail;
        if (timeout_ms == 0 && rc != MPROC_EBUSY)
            return 0;
    }
    rc = wait_sliced(rl ? rlock_wait : lock_wait, s->obj, timeout_ms);
    if (rc == MPROC_EBUSY) {
        if (timeout_ms == MPROC_FOREVER) {
            PyErr_SetString(PyExc_RuntimeError,
                            "Lock.acquire() by the thread that holds it would wait forever "
                            "(use an RLock to nest)");
            return -1;
        }
        rc = wait_sliced(no_wait, NULL, timeout_ms);
    }
    if (rc == 0)
        return 1;
    if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
        return 0;
    if (rc == INT_MIN)
        return -1;
fail:
    mproc_py_raise(rc);
    return -1;
}

static int lock_release_obj(SyncObject *s)
{
    int rc = s->kind == K_RLOCK ? mproc_rlock_release(s->obj) : mproc_lock_release(s->obj);
    if (rc == 0)
        return 0;
    if (rc == MPROC_ENOTOWNER) {
        if (s->kind == K_RLOCK)
            PyErr_SetString(PyExc_AssertionError,
                            "attempt to release recursive lock not owned by thread");
        else if (lk_free(s->obj))
            PyErr_SetString(PyExc_ValueError, "semaphore or lock released too many times");
        else
            PyErr_SetString(PyExc_RuntimeError,
                            "cannot release a Lock held by another thread or process "
                            "(an mproc Lock belongs to the thread that acquired it)");
        return -1;
    }
    mproc_py_raise(rc);
    return -1;
}

static int lock_mine(SyncObject *s)
{
    return s->kind == K_RLOCK ? mproc_rlock_depth(s->obj) > 0 : mproc_lock_held(s->obj) == 1;
}

static PyObject *new_sync(PyTypeObject *type, enum kind k)
{
    SyncObject *s = (SyncObject *)type->tp_alloc(type, 0);
    if (s)
        s->kind = k;
    return (PyObject *)s;
}

static PyObject *lock_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return new_sync(type, K_LOCK);
}

static PyObject *rlock_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return new_sync(type, K_RLOCK);
}

/* __init__(*, _fd=None): a new lock, or the one behind a handed-over fd. */
static int sync_init_common(SyncObject *s, PyObject *fdobj)
{
    if (s->obj)
        return 0;
    if (fdobj && fdobj != Py_None) {
        int fd = PyLong_AsLong(fdobj);
        if (fd == -1 && PyErr_Occurred())
            return -1;
        s->obj = sync_import(s->kind, fd);
        return s->obj ? 0 : -1;
    }
    int rc;
    switch (s->kind) {
    case K_LOCK:
        rc = mproc_lock_create((mproc_lock **)&s->obj, NULL);
        break;
    case K_RLOCK:
        rc = mproc_rlock_create((mproc_rlock **)&s->obj, NULL);
        break;
    case K_EVENT:
        rc = mproc_event_create((mproc_event **)&s->obj, NULL);
        break;
    default:
        rc = MPROC_EINVAL;
    }
    if (rc < 0) {
        s->obj = NULL;
        mproc_py_raise(rc);
        return -1;
    }
    return 0;
}

static int lock_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"_fd", NULL};
    PyObject *fd = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|$O", kwlist, &fd))
        return -1;
    return sync_init_common((SyncObject *)self, fd);
}

static void sync_dealloc(PyObject *self)
{
    SyncObject *s = (SyncObject *)self;
    if (s->obj)
        sync_close(s->kind, s->obj);
    s->obj = NULL;
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp); /* a heap type: its instances hold a reference */
}

/* acquire(block=True, timeout=None) arguments (vectorcall: this is the
 * hot path of every lock) to a core timeout in *ms; -1 with an exception. */
static int parse_block_timeout(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames, int *ms)
{
    PyObject *block = NULL, *timeout = Py_None;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs == 0 && nkw == 0) {
        *ms = MPROC_FOREVER;
        return 0;
    }
    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "acquire() takes at most 2 arguments (%zd given)", nargs);
        return -1;
    }
    if (nargs > 0)
        block = args[0];
    if (nargs > 1)
        timeout = args[1];
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *k = PyTuple_GET_ITEM(kwnames, i), *v = args[nargs + i];
        if (PyUnicode_CompareWithASCIIString(k, "block") == 0 && nargs < 1)
            block = v;
        else if (PyUnicode_CompareWithASCIIString(k, "timeout") == 0 && nargs < 2)
            timeout = v;
        else {
            PyErr_Format(PyExc_TypeError, "acquire() got an unexpected or repeated argument %R", k);
            return -1;
        }
    }
    int b = block ? PyObject_IsTrue(block) : 1;
    if (b < 0)
        return -1;
    return mproc_py_timeout_ms(timeout, b, ms) < 0 ? -1 : 0;
}

static PyObject *lock_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    SyncObject *s = (SyncObject *)self;
    int ms;
    if (check_open(s) < 0 || parse_block_timeout(args, nargs, kwnames, &ms) < 0)
        return NULL;
    int r = lock_acquire_ms(s, ms);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *lock_release(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0 || lock_release_obj(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *lock_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int r = lock_acquire_ms(s, MPROC_FOREVER);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *lock_exit(PyObject *self, PyObject *args)
{
    (void)args;
    return lock_release(self, NULL);
}

static PyObject *lock_make_consistent(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int rc = s->kind == K_RLOCK ? mproc_rlock_consistent(s->obj) : mproc_lock_consistent(s->obj);
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *sync_is_mine(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    return PyBool_FromLong(lock_mine(s));
}

/* The owner's pid, 0 if free, -1 if unknown. */
static PyObject *lock_owner_pid(PyObject *self, void *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    struct mproc__lk *l = s->obj;
    if (lk_free(l))
        return PyLong_FromLong(0);
    return PyLong_FromLong(atomic_load_explicit(&l->rec_pid, memory_order_relaxed));
}

static PyObject *rlock_count(PyObject *self, void *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    return PyLong_FromUnsignedLong(mproc_rlock_depth(s->obj));
}

static PyObject *sync_export_fd(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int fd = sync_export(s->kind, s->obj);
    return fd < 0 ? NULL : PyLong_FromLong(fd);
}

static PyMethodDef lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))lock_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None) -> bool. Raises mproc.OwnerDeadError (holding the "
     "lock) if its previous owner died holding it."},
    {"release", lock_release, METH_NOARGS, "Release the lock (only its owner may)."},
    {"__enter__", lock_enter, METH_NOARGS, NULL},
    {"__exit__", lock_exit, METH_VARARGS, NULL},
    {"make_consistent", lock_make_consistent, METH_NOARGS,
     "After OwnerDeadError: declare the protected state repaired."},
    {"_is_mine", sync_is_mine, METH_NOARGS, "Whether the calling thread holds the lock."},
    {"_export_fd", sync_export_fd, METH_NOARGS, "A new descriptor of the object (for spawn)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef lock_getset[] = {
    {"_owner_pid", lock_owner_pid, NULL, "pid of the owner; 0 when free", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyGetSetDef rlock_getset[] = {
    {"_owner_pid", lock_owner_pid, NULL, "pid of the owner; 0 when free", NULL},
    {"_count", rlock_count, NULL, "how many times the calling thread holds it", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Semaphore -------------------------------------------------------------- */

static PyObject *sem_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return new_sync(type, K_SEM);
}

/* __init__(value=1, *, _bounded=False, _fd=None) */
static int sem_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"value", "_bounded", "_fd", NULL};
    SyncObject *s = (SyncObject *)self;
    long long value = 1;
    int bounded = 0;
    PyObject *fd = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|L$pO", kwlist, &value, &bounded, &fd))
        return -1;
    if (s->obj)
        return 0;
    if (value < 0 || value > (long long)MPROC_SEM_VALUE_MAX) {
        PyErr_SetString(PyExc_ValueError, "semaphore initial value must be >= 0 and < 2**31");
        return -1;
    }
    s->maxvalue = bounded ? (unsigned)value : 0;
    if (fd && fd != Py_None)
        return sync_init_common(s, fd);
    int rc = mproc_sem_create((mproc_sem **)&s->obj, NULL, (unsigned)value,
                              bounded ? MPROC_SEM_BOUNDED : 0);
    if (rc < 0) {
        s->obj = NULL;
        mproc_py_raise(rc);
        return -1;
    }
    return 0;
}

static PyObject *sem_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    SyncObject *s = (SyncObject *)self;
    int ms;
    if (check_open(s) < 0 || parse_block_timeout(args, nargs, kwnames, &ms) < 0)
        return NULL;
    int rc = mproc_sem_value(s->obj) > 0 ? mproc_sem_acquire(s->obj, 0) : MPROC_EAGAIN;
    if (rc == MPROC_EAGAIN && ms != 0)
        rc = wait_sliced(sem_wait, s->obj, ms);
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
        Py_RETURN_FALSE;
    return rc == INT_MIN ? NULL : mproc_py_raise(rc);
}

static PyObject *sem_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int rc = wait_sliced(sem_wait, s->obj, MPROC_FOREVER);
    if (rc == 0)
        Py_RETURN_TRUE;
    return rc == INT_MIN ? NULL : mproc_py_raise(rc);
}

static PyObject *sem_release(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int rc = mproc_sem_release(s->obj);
    if (rc == 0)
        Py_RETURN_NONE;
    if (rc == MPROC_ERANGE || rc == MPROC_EOVERFLOW) {
        PyErr_SetString(PyExc_ValueError, "semaphore or lock released too many times");
        return NULL;
    }
    return mproc_py_raise(rc);
}

static PyObject *sem_exit(PyObject *self, PyObject *args)
{
    (void)args;
    return sem_release(self, NULL);
}

static PyObject *sem_get_value(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int v = mproc_sem_value(s->obj);
    return v < 0 ? mproc_py_raise(v) : PyLong_FromLong(v);
}

static PyObject *sem_maxvalue(PyObject *self, void *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (s->maxvalue == 0)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(s->maxvalue);
}

static PyMethodDef sem_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))sem_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None) -> bool"},
    {"release", sem_release, METH_NOARGS, "Give one unit back (any process may)."},
    {"__enter__", sem_enter, METH_NOARGS, NULL},
    {"__exit__", sem_exit, METH_VARARGS, NULL},
    {"get_value", sem_get_value, METH_NOARGS, "The units available now."},
    {"_export_fd", sync_export_fd, METH_NOARGS, "A new descriptor of the object (for spawn)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef sem_getset[] = {
    {"_maxvalue", sem_maxvalue, NULL, "the bound of a BoundedSemaphore, else None", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Event ------------------------------------------------------------------ */

static PyObject *event_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return new_sync(type, K_EVENT);
}

static PyObject *event_is_set(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int r = mproc_event_is_set(s->obj);
    return r < 0 ? mproc_py_raise(r) : PyBool_FromLong(r);
}

static PyObject *event_set(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int rc = mproc_event_set(s->obj);
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *event_clear(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (check_open(s) < 0)
        return NULL;
    int rc = mproc_event_clear(s->obj);
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *event_wait_m(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    SyncObject *s = (SyncObject *)self;
    PyObject *timeout = Py_None;
    int ms;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &timeout))
        return NULL;
    if (check_open(s) < 0 || mproc_py_timeout_ms(timeout, 1, &ms) < 0)
        return NULL;
    if (mproc_event_is_set(s->obj) == 1)
        Py_RETURN_TRUE;
    int rc = wait_sliced(event_wait, s->obj, ms);
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
        Py_RETURN_FALSE;
    return rc == INT_MIN ? NULL : mproc_py_raise(rc);
}

static PyMethodDef event_methods[] = {
    {"is_set", event_is_set, METH_NOARGS, "Whether the flag is set."},
    {"set", event_set, METH_NOARGS, "Set the flag and wake every waiter."},
    {"clear", event_clear, METH_NOARGS, "Clear the flag."},
    {"wait", (PyCFunction)(void (*)(void))event_wait_m, METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool: True once the flag is set, False on timeout."},
    {"_export_fd", sync_export_fd, METH_NOARGS, "A new descriptor of the object (for spawn)."},
    {NULL, NULL, 0, NULL},
};

/* Barrier ---------------------------------------------------------------- */

static PyObject *barrier_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return new_sync(type, K_BARRIER);
}

static void barrier_dealloc(PyObject *self)
{
    BarrierObject *b = (BarrierObject *)self;
    if (b->b2)
        mproc_barrier_close(b->b2);
    b->b2 = NULL;
    Py_CLEAR(b->action);
    sync_dealloc(self);
}

/* __init__(parties, action=None, timeout=None, *, _fd=None, _fd2=None) */
static int barrier_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"parties", "action", "timeout", "_fd", "_fd2", NULL};
    BarrierObject *b = (BarrierObject *)self;
    long parties;
    PyObject *action = Py_None, *timeout = Py_None, *fd = NULL, *fd2 = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "l|OO$OO", kwlist, &parties, &action, &timeout, &fd,
                                     &fd2))
        return -1;
    if (b->base.obj)
        return 0;
    if (parties < 1 || parties > MPROC_BARRIER_PARTIES_MAX) {
        PyErr_Format(PyExc_ValueError, "parties must be 1..%d", MPROC_BARRIER_PARTIES_MAX);
        return -1;
    }
    if (action != Py_None && !PyCallable_Check(action)) {
        PyErr_SetString(PyExc_TypeError, "action must be callable or None");
        return -1;
    }
    b->timeout = -1;
    if (timeout != Py_None) {
        b->timeout = PyFloat_AsDouble(timeout);
        if (b->timeout == -1 && PyErr_Occurred())
            return -1;
        if (b->timeout < 0)
            b->timeout = 0;
    }
    Py_INCREF(action);
    Py_XSETREF(b->action, action);
    bool has_action = action != Py_None;
    if (fd && fd != Py_None) {
        int f = PyLong_AsLong(fd);
        if (f == -1 && PyErr_Occurred())
            return -1;
        if (!(b->base.obj = sync_import(K_BARRIER, f)))
            return -1;
        if (fd2 && fd2 != Py_None) {
            f = PyLong_AsLong(fd2);
            if (f == -1 && PyErr_Occurred())
                return -1;
            if (!(b->b2 = sync_import(K_BARRIER, f)))
                return -1;
        }
        return 0;
    }
    int rc = mproc_barrier_create((mproc_barrier **)&b->base.obj, NULL, (unsigned)parties);
    if (rc == 0 && has_action) {
        rc = mproc_barrier_create(&b->b2, NULL, (unsigned)parties);
        if (rc < 0)
            b->b2 = NULL;
    }
    if (rc < 0) {
        mproc_py_raise(rc);
        return -1;
    }
    return 0;
}

static PyObject *broken_error(void)
{
    PyErr_SetNone(BrokenBarrierError);
    return NULL;
}

/* One core barrier wait with the GIL released: the whole timeout at once. */
static int barrier_wait_one(mproc_barrier *bar, int ms)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS rc = mproc_barrier_wait(bar, ms);
    Py_END_ALLOW_THREADS return rc;
}

static PyObject *barrier_wait_m(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    BarrierObject *b = (BarrierObject *)self;
    PyObject *timeout = Py_None;
    int ms;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &timeout))
        return NULL;
    if (check_open(&b->base) < 0)
        return NULL;
    if (timeout == Py_None && b->timeout >= 0) {
        PyObject *t = PyFloat_FromDouble(b->timeout);
        if (!t)
            return NULL;
        int r = mproc_py_timeout_ms(t, 1, &ms);
        Py_DECREF(t);
        if (r < 0)
            return NULL;
    } else if (mproc_py_timeout_ms(timeout, 1, &ms) < 0) {
        return NULL;
    }
    uint64_t start = now_ms();
    int idx = barrier_wait_one(b->base.obj, ms);
    if (idx < 0) {
        if (idx == MPROC_EBROKEN || idx == MPROC_ETIMEDOUT || idx == MPROC_EAGAIN) {
            if (b->b2)
                mproc_barrier_abort(b->b2);
            return broken_error();
        }
        return mproc_py_raise(idx);
    }
    if (b->b2) {
        /* The last to arrive runs the action while the others wait at the
         * second barrier; an action that raises breaks both. */
        if (idx == mproc_barrier_parties(b->base.obj) - 1 && b->action != Py_None) {
            PyObject *r = PyObject_CallNoArgs(b->action);
            if (!r) {
                mproc_barrier_abort(b->b2);
                mproc_barrier_abort(b->base.obj);
                return NULL;
            }
            Py_DECREF(r);
        }
        if (ms > 0) {
            uint64_t spent = now_ms() - start;
            ms = spent >= (uint64_t)ms ? 1 : ms - (int)spent;
        }
        int rc = barrier_wait_one(b->b2, ms);
        if (rc < 0) {
            mproc_barrier_abort(b->base.obj);
            if (rc == MPROC_EBROKEN || rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
                return broken_error();
            return mproc_py_raise(rc);
        }
    }
    if (PyErr_CheckSignals() < 0)
        return NULL;
    return PyLong_FromLong(idx);
}

static PyObject *barrier_reset(PyObject *self, PyObject *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (check_open(&b->base) < 0)
        return NULL;
    int rc = mproc_barrier_reset(b->base.obj);
    if (rc == 0 && b->b2)
        rc = mproc_barrier_reset(b->b2);
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *barrier_abort(PyObject *self, PyObject *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (check_open(&b->base) < 0)
        return NULL;
    int rc = mproc_barrier_abort(b->base.obj);
    if (rc == 0 && b->b2)
        rc = mproc_barrier_abort(b->b2);
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *barrier_join_m(PyObject *self, PyObject *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (check_open(&b->base) < 0)
        return NULL;
    int rc = mproc_barrier_join(b->base.obj);
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *barrier_leave_m(PyObject *self, PyObject *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (check_open(&b->base) < 0)
        return NULL;
    int rc = mproc_barrier_leave(b->base.obj);
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *barrier_parties(PyObject *self, void *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (check_open(&b->base) < 0)
        return NULL;
    int r = mproc_barrier_parties(b->base.obj);
    return r < 0 ? mproc_py_raise(r) : PyLong_FromLong(r);
}

static PyObject *barrier_n_waiting(PyObject *self, void *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (check_open(&b->base) < 0)
        return NULL;
    int r = mproc_barrier_n_waiting(b->base.obj);
    if (r >= 0 && b->b2) {
        int r2 = mproc_barrier_n_waiting(b->b2);
        r = r2 < 0 ? r2 : r + r2;
    }
    return r < 0 ? mproc_py_raise(r) : PyLong_FromLong(r);
}

static PyObject *barrier_broken(PyObject *self, void *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (check_open(&b->base) < 0)
        return NULL;
    int r = mproc_barrier_broken(b->base.obj);
    if (r == 0 && b->b2)
        r = mproc_barrier_broken(b->b2);
    return r < 0 ? mproc_py_raise(r) : PyBool_FromLong(r);
}

static PyObject *barrier_timeout(PyObject *self, void *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (b->timeout < 0)
        Py_RETURN_NONE;
    return PyFloat_FromDouble(b->timeout);
}

static PyObject *barrier_action(PyObject *self, void *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    return Py_NewRef(b->action ? b->action : Py_None);
}

/* (fd, fd2 or None) for a spawned child. */
static PyObject *barrier_export(PyObject *self, PyObject *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (check_open(&b->base) < 0)
        return NULL;
    int fd = sync_export(K_BARRIER, b->base.obj), fd2 = -1;
    if (fd < 0)
        return NULL;
    if (b->b2 && (fd2 = sync_export(K_BARRIER, b->b2)) < 0) {
        close(fd);
        return NULL;
    }
    if (fd2 < 0)
        return Py_BuildValue("(iO)", fd, Py_None);
    return Py_BuildValue("(ii)", fd, fd2);
}

static PyMethodDef barrier_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))barrier_wait_m, METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> the arrival index (0 .. parties-1); threading.BrokenBarrierError "
     "if the barrier breaks (timeout, abort, reset, a waiting party died)."},
    {"reset", barrier_reset, METH_NOARGS, "Back to empty and unbroken."},
    {"abort", barrier_abort, METH_NOARGS, "Break the barrier."},
    {"join_party", barrier_join_m, METH_NOARGS,
     "Register this process as a party: its death breaks the barrier even when not waiting."},
    {"leave_party", barrier_leave_m, METH_NOARGS, "Undo join_party."},
    {"_export_fds", barrier_export, METH_NOARGS, "Descriptors of the object (for spawn)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef barrier_getset[] = {
    {"parties", barrier_parties, NULL, "The number of parties.", NULL},
    {"n_waiting", barrier_n_waiting, NULL, "How many wait now.", NULL},
    {"broken", barrier_broken, NULL, "Whether the barrier is broken.", NULL},
    {"_timeout", barrier_timeout, NULL, NULL, NULL},
    {"_action", barrier_action, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Condition -------------------------------------------------------------- */

static PyObject *cond_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return type->tp_alloc(type, 0);
}

static void cond_dealloc(PyObject *self)
{
    CondObject *c = (CondObject *)self;
    PyObject_GC_UnTrack(self);
    if (c->c)
        mproc_cond_close(c->c);
    c->c = NULL;
    Py_CLEAR(c->lock);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int cond_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((CondObject *)self)->lock);
    return 0;
}

static int cond_clear(PyObject *self)
{
    Py_CLEAR(((CondObject *)self)->lock);
    return 0;
}

/* __init__(lock, *, _fd=None): lock is an mproc Lock or RLock. */
static int cond_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"lock", "_fd", NULL};
    CondObject *c = (CondObject *)self;
    PyObject *lock, *fd = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|$O", kwlist, &lock, &fd))
        return -1;
    if (c->c)
        return 0;
    if (!PyObject_TypeCheck(lock, LockType) && !PyObject_TypeCheck(lock, RLockType)) {
        PyErr_SetString(PyExc_TypeError, "Condition needs an mproc Lock or RLock");
        return -1;
    }
    if (check_open((SyncObject *)lock) < 0)
        return -1;
    if (fd && fd != Py_None) {
        int f = PyLong_AsLong(fd);
        if (f == -1 && PyErr_Occurred())
            return -1;
        if (!(c->c = sync_import(K_COND, f)))
            return -1;
    } else {
        int rc = mproc_cond_create(&c->c, NULL);
        if (rc < 0) {
            c->c = NULL;
            mproc_py_raise(rc);
            return -1;
        }
    }
    Py_INCREF(lock);
    Py_XSETREF(c->lock, (SyncObject *)lock);
    return 0;
}

static int cond_check(CondObject *c)
{
    if (!c->c || !c->lock) {
        PyErr_SetString(PyExc_ValueError, "the Condition is not initialised");
        return -1;
    }
    return 0;
}

/* Take C, the hand-off lock (held only for instants by live processes). */
static int handoff_take(mproc_cond *c)
{
    int rc = mproc_cond_acquire(c, 0);
    if (rc == MPROC_EAGAIN) {
        Py_BEGIN_ALLOW_THREADS rc = mproc_cond_acquire(c, MPROC_FOREVER);
        Py_END_ALLOW_THREADS
    }
    if (rc == MPROC_EOWNERDEAD)
        rc = mproc_cond_consistent(c);
    if (rc < 0) {
        mproc_py_raise(rc);
        return -1;
    }
    return 0;
}

static PyObject *cond_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                              PyObject *kwnames)
{
    CondObject *c = (CondObject *)self;
    if (cond_check(c) < 0)
        return NULL;
    return lock_acquire((PyObject *)c->lock, args, nargs, kwnames);
}

static PyObject *cond_release(PyObject *self, PyObject *unused)
{
    CondObject *c = (CondObject *)self;
    if (cond_check(c) < 0)
        return NULL;
    return lock_release((PyObject *)c->lock, unused);
}

static PyObject *cond_enter(PyObject *self, PyObject *unused)
{
    CondObject *c = (CondObject *)self;
    if (cond_check(c) < 0)
        return NULL;
    return lock_enter((PyObject *)c->lock, unused);
}

static PyObject *cond_exit(PyObject *self, PyObject *args)
{
    (void)args;
    return cond_release(self, NULL);
}

static PyObject *cond_wait_m(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    CondObject *c = (CondObject *)self;
    PyObject *timeout = Py_None;
    int ms;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &timeout))
        return NULL;
    if (cond_check(c) < 0 || mproc_py_timeout_ms(timeout, 1, &ms) < 0)
        return NULL;
    SyncObject *l = c->lock;
    if (!lock_mine(l)) {
        PyErr_SetString(PyExc_AssertionError, "must acquire() condition before using wait()");
        return NULL;
    }
    if (handoff_take(c->c) < 0)
        return NULL;
    unsigned depth = l->kind == K_RLOCK ? mproc_rlock_depth(l->obj) : 1;
    for (unsigned i = 0; i < depth; i++) {
        int rc = l->kind == K_RLOCK ? mproc_rlock_release(l->obj) : mproc_lock_release(l->obj);
        if (rc < 0) {
            mproc_cond_release(c->c);
            return mproc_py_raise(rc);
        }
    }
    int rc = wait_sliced(cond_wait, c->c, ms);
    bool notified = rc == 0 || rc == MPROC_EOWNERDEAD;
    if (rc == MPROC_EOWNERDEAD)
        mproc_cond_consistent(c->c);
    mproc_cond_release(c->c);
    /* The lock comes back in every case, as in threading (not interruptible). */
    bool owner_dead = false;
    int arc = 0;
    for (unsigned i = 0; i < depth; i++) {
        void *o = l->obj;
        if (i == 0) {
            Py_BEGIN_ALLOW_THREADS arc = l->kind == K_RLOCK ? mproc_rlock_acquire(o, MPROC_FOREVER)
                                                            : mproc_lock_acquire(o, MPROC_FOREVER);
            Py_END_ALLOW_THREADS
        } else {
            arc = mproc_rlock_acquire(o, 0);
        }
        if (arc == MPROC_EOWNERDEAD)
            owner_dead = true;
        else if (arc < 0)
            break;
    }
    if (rc == INT_MIN)
        return NULL;
    if (arc < 0 && arc != MPROC_EOWNERDEAD)
        return mproc_py_raise(arc);
    if (owner_dead)
        return mproc_py_raise(MPROC_EOWNERDEAD);
    if (!notified && rc != MPROC_ETIMEDOUT && rc != MPROC_EAGAIN)
        return mproc_py_raise(rc);
    return PyBool_FromLong(notified);
}

static PyObject *cond_notify_n(CondObject *c, int n)
{
    if (cond_check(c) < 0)
        return NULL;
    if (!lock_mine(c->lock)) {
        PyErr_SetString(PyExc_AssertionError, "lock is not owned");
        return NULL;
    }
    if (handoff_take(c->c) < 0)
        return NULL;
    int rc = n < 0 ? mproc_cond_notify_all(c->c) : n == 0 ? 0 : mproc_cond_notify(c->c, n);
    mproc_cond_release(c->c);
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static PyObject *cond_notify(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"n", NULL};
    int n = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|i", kwlist, &n))
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "n must be >= 0");
        return NULL;
    }
    return cond_notify_n((CondObject *)self, n);
}

static PyObject *cond_notify_all(PyObject *self, PyObject *unused)
{
    (void)unused;
    return cond_notify_n((CondObject *)self, -1);
}

static PyObject *cond_export(PyObject *self, PyObject *unused)
{
    (void)unused;
    CondObject *c = (CondObject *)self;
    if (cond_check(c) < 0)
        return NULL;
    int fd = sync_export(K_COND, c->c);
    return fd < 0 ? NULL : PyLong_FromLong(fd);
}

static PyObject *cond_get_lock(PyObject *self, void *unused)
{
    (void)unused;
    CondObject *c = (CondObject *)self;
    if (cond_check(c) < 0)
        return NULL;
    return Py_NewRef((PyObject *)c->lock);
}

static PyMethodDef cond_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))cond_acquire, METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None): the condition's lock."},
    {"release", cond_release, METH_NOARGS, "Release the condition's lock."},
    {"__enter__", cond_enter, METH_NOARGS, NULL},
    {"__exit__", cond_exit, METH_VARARGS, NULL},
    {"wait", (PyCFunction)(void (*)(void))cond_wait_m, METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None) -> bool: release the lock, wait for a notify, take the lock back. "
     "False on timeout. May return True without a notify addressed to this waiter: loop on "
     "the predicate or use wait_for."},
    {"notify", (PyCFunction)(void (*)(void))cond_notify, METH_VARARGS | METH_KEYWORDS,
     "notify(n=1): wake up to n waiters (at least one if any waits)."},
    {"notify_all", cond_notify_all, METH_NOARGS, "Wake every waiter."},
    {"_export_fd", cond_export, METH_NOARGS, "A new descriptor of the object (for spawn)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef cond_getset[] = {
    {"_lock", cond_get_lock, NULL, "the condition's lock", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Types ------------------------------------------------------------------ */

#define SPEC(var, pyname, obj, newf, initf, deallocf, methods, getset)                             \
    static PyType_Slot var##_slots[] = {                                                           \
        {Py_tp_new, newf},        {Py_tp_init, initf},    {Py_tp_dealloc, deallocf},               \
        {Py_tp_methods, methods}, {Py_tp_getset, getset}, {0, NULL},                               \
    };                                                                                             \
    static PyType_Spec var##_spec = {"mproc._mproc." pyname, sizeof(obj), 0,                       \
                                     Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, var##_slots};

SPEC(lock, "Lock", SyncObject, lock_new, lock_init, sync_dealloc, lock_methods, lock_getset)
SPEC(rlock, "RLock", SyncObject, rlock_new, lock_init, sync_dealloc, lock_methods, rlock_getset)
SPEC(sem, "Semaphore", SyncObject, sem_new, sem_init, sync_dealloc, sem_methods, sem_getset)
SPEC(event, "Event", SyncObject, event_new, lock_init, sync_dealloc, event_methods, NULL)
SPEC(barrier, "Barrier", BarrierObject, barrier_new, barrier_init, barrier_dealloc, barrier_methods,
     barrier_getset)

static PyType_Slot cond_slots[] = {
    {Py_tp_new, cond_new},         {Py_tp_init, cond_init},
    {Py_tp_dealloc, cond_dealloc}, {Py_tp_traverse, cond_traverse},
    {Py_tp_clear, cond_clear},     {Py_tp_methods, cond_methods},
    {Py_tp_getset, cond_getset},   {0, NULL},
};
static PyType_Spec cond_spec = {"mproc._mproc.Condition", sizeof(CondObject), 0,
                                Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
                                cond_slots};

static PyTypeObject *add_type(PyObject *m, PyType_Spec *spec)
{
    PyObject *t = PyType_FromSpec(spec);
    if (!t)
        return NULL;
    const char *dot = strrchr(spec->name, '.');
    if (PyModule_AddObjectRef(m, dot + 1, t) < 0) {
        Py_DECREF(t);
        return NULL;
    }
    return (PyTypeObject *)t;
}

int mproc_py_init_sync(PyObject *m)
{
    PyObject *threading = PyImport_ImportModule("threading");
    if (!threading)
        return -1;
    BrokenBarrierError = PyObject_GetAttrString(threading, "BrokenBarrierError");
    Py_DECREF(threading);
    if (!BrokenBarrierError)
        return -1;
    if (!(LockType = add_type(m, &lock_spec)) || !(RLockType = add_type(m, &rlock_spec)) ||
        !(SemType = add_type(m, &sem_spec)) || !(EventType = add_type(m, &event_spec)) ||
        !(BarrierType = add_type(m, &barrier_spec)) || !(CondType = add_type(m, &cond_spec)))
        return -1;
    return 0;
}
