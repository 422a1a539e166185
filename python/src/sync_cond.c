/* sync_cond.c - mproc._mproc's Condition and Barrier (see sync.c for the
 * model shared with the locks).
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
 *
 * Barrier: a core barrier; with an action, a second one: the last to arrive
 * at the first runs the action while the others wait at the second, and an
 * action that raises breaks both (threading's rule). A core barrier wait
 * that times out breaks the barrier, so a Barrier wait is one wait of the
 * caller's whole timeout, not sliced.
 */
#include "sync_py.h"

#include <unistd.h>

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

static PyObject *BrokenBarrierError;

/* Barrier ---------------------------------------------------------------- */

static PyObject *barrier_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return mproc_py_sync_new(type, K_BARRIER);
}

static void barrier_dealloc(PyObject *self)
{
    BarrierObject *b = (BarrierObject *)self;
    if (b->b2)
        mproc_barrier_close(b->b2);
    b->b2 = NULL;
    Py_CLEAR(b->action);
    mproc_py_sync_dealloc(self);
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
        if (!(b->base.obj = mproc_py_sync_import(K_BARRIER, f)))
            return -1;
        if (fd2 && fd2 != Py_None) {
            f = PyLong_AsLong(fd2);
            if (f == -1 && PyErr_Occurred())
                return -1;
            if (!(b->b2 = mproc_py_sync_import(K_BARRIER, f)))
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
    PyThreadState *ts = PyEval_SaveThread();
    rc = mproc_barrier_wait(bar, ms);
    PyEval_RestoreThread(ts);
    return rc;
}

static PyObject *barrier_wait_m(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    BarrierObject *b = (BarrierObject *)self;
    PyObject *timeout = Py_None;
    int ms;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &timeout))
        return NULL;
    if (mproc_py_sync_check_open(&b->base) < 0)
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
    uint64_t start = mproc_py_sync_now_ms();
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
            uint64_t spent = mproc_py_sync_now_ms() - start;
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
    if (mproc_py_sync_check_open(&b->base) < 0)
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
    if (mproc_py_sync_check_open(&b->base) < 0)
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
    if (mproc_py_sync_check_open(&b->base) < 0)
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
    if (mproc_py_sync_check_open(&b->base) < 0)
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
    if (mproc_py_sync_check_open(&b->base) < 0)
        return NULL;
    int r = mproc_barrier_parties(b->base.obj);
    return r < 0 ? mproc_py_raise(r) : PyLong_FromLong(r);
}

static PyObject *barrier_n_waiting(PyObject *self, void *unused)
{
    (void)unused;
    BarrierObject *b = (BarrierObject *)self;
    if (mproc_py_sync_check_open(&b->base) < 0)
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
    if (mproc_py_sync_check_open(&b->base) < 0)
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
    if (mproc_py_sync_check_open(&b->base) < 0)
        return NULL;
    int fd = mproc_py_sync_export(K_BARRIER, b->base.obj), fd2 = -1;
    if (fd < 0)
        return NULL;
    if (b->b2 && (fd2 = mproc_py_sync_export(K_BARRIER, b->b2)) < 0) {
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
    if (!PyObject_TypeCheck(lock, mproc_py_LockType) &&
        !PyObject_TypeCheck(lock, mproc_py_RLockType)) {
        PyErr_SetString(PyExc_TypeError, "Condition needs an mproc Lock or RLock");
        return -1;
    }
    if (mproc_py_sync_check_open((SyncObject *)lock) < 0)
        return -1;
    if (fd && fd != Py_None) {
        int f = PyLong_AsLong(fd);
        if (f == -1 && PyErr_Occurred())
            return -1;
        if (!(c->c = mproc_py_sync_import(K_COND, f)))
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
        PyThreadState *ts = PyEval_SaveThread();
        rc = mproc_cond_acquire(c, MPROC_FOREVER);
        PyEval_RestoreThread(ts);
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
    return mproc_py_sync_lock_acquire((PyObject *)c->lock, args, nargs, kwnames);
}

static PyObject *cond_release(PyObject *self, PyObject *unused)
{
    CondObject *c = (CondObject *)self;
    if (cond_check(c) < 0)
        return NULL;
    return mproc_py_sync_lock_release((PyObject *)c->lock, unused);
}

static PyObject *cond_enter(PyObject *self, PyObject *unused)
{
    CondObject *c = (CondObject *)self;
    if (cond_check(c) < 0)
        return NULL;
    return mproc_py_sync_lock_enter((PyObject *)c->lock, unused);
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
    if (!mproc_py_sync_lock_mine(l)) {
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
    int rc = mproc_py_wait_call(mproc_py_sync_cond_wait, c->c, ms);
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
            PyThreadState *ts = PyEval_SaveThread();
            arc = l->kind == K_RLOCK ? mproc_rlock_acquire(o, MPROC_FOREVER)
                                     : mproc_lock_acquire(o, MPROC_FOREVER);
            PyEval_RestoreThread(ts);
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
    if (!mproc_py_sync_lock_mine(c->lock)) {
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
    int fd = mproc_py_sync_export(K_COND, c->c);
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
     "notify(n=1): wake n waiters (or all there are); more may wake: loop on the predicate."},
    {"notify_all", cond_notify_all, METH_NOARGS, "Wake every waiter."},
    {"_export_fd", cond_export, METH_NOARGS, "A new descriptor of the object (for spawn)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef cond_getset[] = {
    {"_lock", cond_get_lock, NULL, "the condition's lock", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};
#define SPEC(var, pyname, obj, newf, initf, deallocf, methods, getset)                             \
    static PyType_Slot var##_slots[] = {                                                           \
        {Py_tp_new, newf},        {Py_tp_init, initf},    {Py_tp_dealloc, deallocf},               \
        {Py_tp_methods, methods}, {Py_tp_getset, getset}, {0, NULL},                               \
    };                                                                                             \
    static PyType_Spec var##_spec = {"mproc._mproc." pyname, sizeof(obj), 0,                       \
                                     Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, var##_slots};

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

int mproc_py_sync_init_cond(PyObject *m)
{
    PyObject *threading = PyImport_ImportModule("threading");
    if (!threading)
        return -1;
    BrokenBarrierError = PyObject_GetAttrString(threading, "BrokenBarrierError");
    Py_DECREF(threading);
    if (!BrokenBarrierError || !mproc_py_sync_add_type(m, &barrier_spec) ||
        !mproc_py_sync_add_type(m, &cond_spec))
        return -1;
    return 0;
}
