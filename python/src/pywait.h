/* pywait.h - waiting in slices with the GIL released (every area of
 * mproc._mproc), and the pickling helpers of Queue and Connection.
 *
 * A Python call that may block turns its timeout into a deadline once,
 * then calls the core in slices of at most MPROC_PY_SLICE_MS with the GIL
 * released; between slices it takes the GIL and runs the signal handlers
 * (PyErr_CheckSignals), so Ctrl-C interrupts any wait with
 * KeyboardInterrupt. The slice bounds only the reaction time to a signal:
 * a message or a child's end wakes the core at once.
 */
#ifndef MPROC_PY_WAIT_H
#define MPROC_PY_WAIT_H

#include "mproc_py.h"

#include "internal.h"

#define MPROC_PY_SLICE_MS 100

struct mproc_py_wait {
    int total_ms; /* 0: try once; MPROC_FOREVER */
    uint64_t end_ns;
};

static inline void mproc_py_wait_init(struct mproc_py_wait *w, int timeout_ms)
{
    w->total_ms = timeout_ms;
    w->end_ns = timeout_ms > 0 ? mproc__now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
}

/* mproc_py_wait_next - the timeout of the next slice: 0 for a try, else at
 * most MPROC_PY_SLICE_MS; -1 when the deadline has passed (the call then
 * reports its timeout). */
static inline int mproc_py_wait_next(const struct mproc_py_wait *w)
{
    if (w->total_ms == 0)
        return 0;
    if (w->total_ms == MPROC_FOREVER)
        return MPROC_PY_SLICE_MS;
    uint64_t now = mproc__now_ns();
    if (now >= w->end_ns)
        return -1;
    uint64_t left = (w->end_ns - now + 999999u) / 1000000u;
    return left < MPROC_PY_SLICE_MS ? (int)left : MPROC_PY_SLICE_MS;
}

/* mproc_py_wait_more - after a slice that ended with rc: whether to go on
 * (1), stop with rc (0), or stop because a signal handler raised (-1). */
static inline int mproc_py_wait_more(const struct mproc_py_wait *w, long rc)
{
    if ((rc != MPROC_ETIMEDOUT && rc != MPROC_EAGAIN) || w->total_ms == 0)
        return 0;
    if (PyErr_CheckSignals() < 0)
        return -1;
    return 1;
}

/* mproc_py_wait_call - fn(arg, slice_ms) with the GIL released, in slices
 * (mproc_py_wait_next), until it returns something other than a timeout or
 * timeout_ms has passed; signal handlers run between slices. Returns the
 * last code (MPROC_ETIMEDOUT when the time ran out, MPROC_EAGAIN for a
 * try), or INT_MIN with an exception set (a handler raised). A caller whose
 * object may be closed between slices has fn return MPROC_EBADF for it. */
typedef int (*mproc_py_wait_fn)(void *arg, int slice_ms);
int mproc_py_wait_call(mproc_py_wait_fn fn, void *arg, int timeout_ms);

/* mproc_py_as_int - a Python int as a C int (-1 with an exception set). */
static inline int mproc_py_as_int(PyObject *o)
{
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < INT32_MIN || v > INT32_MAX) {
        PyErr_SetString(PyExc_OverflowError, "value out of range for a C int");
        return -1;
    }
    return (int)v;
}

/* The pickling functions of Queue and Connection (queue.c; set from
 * mproc.reduction with _mproc.set_pickler): protocol 5. */
PyObject *mproc_py_dumps(PyObject *obj);
PyObject *mproc_py_loads(PyObject *buf);
/* mproc_py_loads_mem - unpickle n bytes at p that the caller reuses once
 * this returns (a ring slot, a stack buffer): no reference to them may
 * outlive the call, so a view something kept is released. */
PyObject *mproc_py_loads_mem(const void *p, size_t n);

/* mproc_py_fastcall_args - a METH_FASTCALL call's arguments as a tuple and
 * a dict (NULL when no keywords), for PyArg_ParseTupleAndKeywords on the
 * slow path. 0, or -1 with an exception set. */
static inline int mproc_py_fastcall_args(PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
                                         PyObject **tuple, PyObject **dict)
{
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    PyObject *t = PyTuple_New(nargs);
    PyObject *d = nkw ? PyDict_New() : NULL;
    if (t == NULL || (nkw && d == NULL))
        goto fail;
    for (Py_ssize_t i = 0; i < nargs; i++)
        PyTuple_SET_ITEM(t, i, Py_NewRef(args[i]));
    for (Py_ssize_t i = 0; i < nkw; i++)
        if (PyDict_SetItem(d, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
            goto fail;
    *tuple = t;
    *dict = d;
    return 0;
fail:
    Py_XDECREF(t);
    Py_XDECREF(d);
    return -1;
}

#endif
