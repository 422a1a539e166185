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
 * timeout is cut into slices of at most MPROC_PY_SLICE_MS (pywait.h) so that a signal handler
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
 * Condition and Barrier live in sync_cond.c; what they share with the
 * locks is declared in sync_py.h.
 */
#include "sync_py.h"

#include <fcntl.h>
#include <unistd.h>

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

PyTypeObject *mproc_py_LockType, *mproc_py_RLockType;

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
int mproc_py_sync_export(enum kind k, const void *obj)
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
void *mproc_py_sync_import(enum kind k, int fd)
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

uint64_t mproc_py_sync_now_ms(void)
{
    return mproc__now_ns() / 1000000u;
}

static int lock_wait(void *o, int t)
{
    return mproc_lock_acquire(o, t);
}

static int rlock_wait(void *o, int t)
{
    return mproc_rlock_acquire(o, t);
}

static int sem_wait_core(void *o, int t)
{
    return mproc_sem_acquire(o, t);
}

static int event_wait(void *o, int t)
{
    return mproc_event_wait(o, t);
}

int mproc_py_sync_cond_wait(void *o, int t)
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

int mproc_py_sync_check_open(SyncObject *s)
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
    rc = mproc_py_wait_call(rl ? rlock_wait : lock_wait, s->obj, timeout_ms);
    if (rc == MPROC_EBUSY) {
        if (timeout_ms == MPROC_FOREVER) {
            PyErr_SetString(PyExc_RuntimeError,
                            "Lock.acquire() by the thread that holds it would wait forever "
                            "(use an RLock to nest)");
            return -1;
        }
        rc = mproc_py_wait_call(no_wait, NULL, timeout_ms);
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

int mproc_py_sync_lock_mine(SyncObject *s)
{
    return s->kind == K_RLOCK ? mproc_rlock_depth(s->obj) > 0 : mproc_lock_held(s->obj) == 1;
}

PyObject *mproc_py_sync_new(PyTypeObject *type, enum kind k)
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
    return mproc_py_sync_new(type, K_LOCK);
}

static PyObject *rlock_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return mproc_py_sync_new(type, K_RLOCK);
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
        s->obj = mproc_py_sync_import(s->kind, fd);
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

void mproc_py_sync_dealloc(PyObject *self)
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

PyObject *mproc_py_sync_lock_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames)
{
    SyncObject *s = (SyncObject *)self;
    int ms;
    if (mproc_py_sync_check_open(s) < 0 || parse_block_timeout(args, nargs, kwnames, &ms) < 0)
        return NULL;
    int r = lock_acquire_ms(s, ms);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

PyObject *mproc_py_sync_lock_release(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (mproc_py_sync_check_open(s) < 0 || lock_release_obj(s) < 0)
        return NULL;
    Py_RETURN_NONE;
}

PyObject *mproc_py_sync_lock_enter(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (mproc_py_sync_check_open(s) < 0)
        return NULL;
    int r = lock_acquire_ms(s, MPROC_FOREVER);
    return r < 0 ? NULL : PyBool_FromLong(r);
}

static PyObject *lock_exit(PyObject *self, PyObject *args)
{
    (void)args;
    return mproc_py_sync_lock_release(self, NULL);
}

static PyObject *lock_make_consistent(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (mproc_py_sync_check_open(s) < 0)
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
    if (mproc_py_sync_check_open(s) < 0)
        return NULL;
    return PyBool_FromLong(mproc_py_sync_lock_mine(s));
}

/* The owner's pid, 0 if free, -1 if unknown. */
static PyObject *lock_owner_pid(PyObject *self, void *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (mproc_py_sync_check_open(s) < 0)
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
    if (mproc_py_sync_check_open(s) < 0)
        return NULL;
    return PyLong_FromUnsignedLong(mproc_rlock_depth(s->obj));
}

static PyObject *sync_export_fd(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (mproc_py_sync_check_open(s) < 0)
        return NULL;
    int fd = mproc_py_sync_export(s->kind, s->obj);
    return fd < 0 ? NULL : PyLong_FromLong(fd);
}

static PyMethodDef lock_methods[] = {
    {"acquire", (PyCFunction)(void (*)(void))mproc_py_sync_lock_acquire,
     METH_FASTCALL | METH_KEYWORDS,
     "acquire(block=True, timeout=None) -> bool. Raises mproc.OwnerDeadError (holding the "
     "lock) if its previous owner died holding it."},
    {"release", mproc_py_sync_lock_release, METH_NOARGS, "Release the lock (only its owner may)."},
    {"__enter__", mproc_py_sync_lock_enter, METH_NOARGS, NULL},
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
    return mproc_py_sync_new(type, K_SEM);
}

/* __init__(value=1, *, tracked=False, _bounded=False, _fd=None). tracked:
 * units belong to the process that took them and come back when it dies
 * (MPROC_SEM_TRACKED); only a holder may release. */
static int sem_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"value", "tracked", "_bounded", "_fd", NULL};
    SyncObject *s = (SyncObject *)self;
    long long value = 1;
    int bounded = 0, tracked = 0;
    PyObject *fd = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|L$ppO", kwlist, &value, &tracked, &bounded, &fd))
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
    unsigned flags = (bounded ? MPROC_SEM_BOUNDED : 0) | (tracked ? MPROC_SEM_TRACKED : 0);
    int rc = mproc_sem_create((mproc_sem **)&s->obj, NULL, (unsigned)value, flags);
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
    if (mproc_py_sync_check_open(s) < 0 || parse_block_timeout(args, nargs, kwnames, &ms) < 0)
        return NULL;
    int rc = mproc_sem_value(s->obj) > 0 ? mproc_sem_acquire(s->obj, 0) : MPROC_EAGAIN;
    if (rc == MPROC_EAGAIN && ms != 0)
        rc = mproc_py_wait_call(sem_wait_core, s->obj, ms);
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
    if (mproc_py_sync_check_open(s) < 0)
        return NULL;
    int rc = mproc_py_wait_call(sem_wait_core, s->obj, MPROC_FOREVER);
    if (rc == 0)
        Py_RETURN_TRUE;
    return rc == INT_MIN ? NULL : mproc_py_raise(rc);
}

static PyObject *sem_release(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (mproc_py_sync_check_open(s) < 0)
        return NULL;
    int rc = mproc_sem_release(s->obj);
    if (rc == 0)
        Py_RETURN_NONE;
    if (rc == MPROC_ERANGE || rc == MPROC_EOVERFLOW) {
        PyErr_SetString(PyExc_ValueError, "semaphore or lock released too many times");
        return NULL;
    }
    if (rc == MPROC_ENOTOWNER) {
        PyErr_SetString(PyExc_ValueError,
                        "a tracked semaphore is released only by a process that holds a unit");
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
    if (mproc_py_sync_check_open(s) < 0)
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
    return mproc_py_sync_new(type, K_EVENT);
}

static PyObject *event_is_set(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (mproc_py_sync_check_open(s) < 0)
        return NULL;
    int r = mproc_event_is_set(s->obj);
    return r < 0 ? mproc_py_raise(r) : PyBool_FromLong(r);
}

static PyObject *event_set(PyObject *self, PyObject *unused)
{
    (void)unused;
    SyncObject *s = (SyncObject *)self;
    if (mproc_py_sync_check_open(s) < 0)
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
    if (mproc_py_sync_check_open(s) < 0)
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
    if (mproc_py_sync_check_open(s) < 0 || mproc_py_timeout_ms(timeout, 1, &ms) < 0)
        return NULL;
    if (mproc_event_is_set(s->obj) == 1)
        Py_RETURN_TRUE;
    int rc = mproc_py_wait_call(event_wait, s->obj, ms);
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
/* Types ------------------------------------------------------------------ */

#define SPEC(var, pyname, obj, newf, initf, deallocf, methods, getset)                             \
    static PyType_Slot var##_slots[] = {                                                           \
        {Py_tp_new, newf},        {Py_tp_init, initf},    {Py_tp_dealloc, deallocf},               \
        {Py_tp_methods, methods}, {Py_tp_getset, getset}, {0, NULL},                               \
    };                                                                                             \
    static PyType_Spec var##_spec = {"mproc._mproc." pyname, sizeof(obj), 0,                       \
                                     Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, var##_slots};

SPEC(lock, "Lock", SyncObject, lock_new, lock_init, mproc_py_sync_dealloc, lock_methods,
     lock_getset)
SPEC(rlock, "RLock", SyncObject, rlock_new, lock_init, mproc_py_sync_dealloc, lock_methods,
     rlock_getset)
SPEC(sem, "Semaphore", SyncObject, sem_new, sem_init, mproc_py_sync_dealloc, sem_methods,
     sem_getset)
SPEC(event, "Event", SyncObject, event_new, lock_init, mproc_py_sync_dealloc, event_methods, NULL)

PyTypeObject *mproc_py_sync_add_type(PyObject *m, PyType_Spec *spec)
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
    if (!(mproc_py_LockType = mproc_py_sync_add_type(m, &lock_spec)) ||
        !(mproc_py_RLockType = mproc_py_sync_add_type(m, &rlock_spec)) ||
        !mproc_py_sync_add_type(m, &sem_spec) || !mproc_py_sync_add_type(m, &event_spec))
        return -1;
    return mproc_py_sync_init_cond(m);
}
