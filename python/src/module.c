/* module.c - mproc._mproc: the module object, its exceptions and the
 * helpers every area shares (see mproc_py.h). */
#include "mproc_py.h"
#include "pywait.h"

#include <limits.h>

#include <errno.h>
#include <math.h>

PyObject *mproc_py_Error;
PyObject *mproc_py_OwnerDeadError;

PyObject *mproc_py_raise(int rc)
{
    PyObject *type = mproc_py_Error;
    switch (rc) {
    case MPROC_ETIMEDOUT:
        type = PyExc_TimeoutError;
        break;
    case MPROC_EINVAL:
        type = PyExc_ValueError;
        break;
    case MPROC_ENOMEM:
        return PyErr_NoMemory();
    case MPROC_EPIPE:
        type = PyExc_BrokenPipeError;
        break;
    case MPROC_EOWNERDEAD:
        type = mproc_py_OwnerDeadError;
        break;
    default:
        break;
    }
    PyObject *args = Py_BuildValue("(is)", -rc, mproc_strerror(rc));
    if (args) {
        PyErr_SetObject(type, args);
        Py_DECREF(args);
    }
    return NULL;
}

int mproc_py_timeout_ms(PyObject *timeout, int block, int *out_ms)
{
    if (!block) {
        *out_ms = 0;
        return 0;
    }
    if (timeout == NULL || timeout == Py_None) {
        *out_ms = MPROC_FOREVER;
        return 0;
    }
    double s = PyFloat_AsDouble(timeout);
    if (s == -1.0 && PyErr_Occurred())
        return -2;
    if (isnan(s)) {
        PyErr_SetString(PyExc_ValueError, "timeout must be a number or None");
        return -2;
    }
    if (s <= 0) {
        *out_ms = 0;
        return 0;
    }
    double ms = ceil(s * 1000.0);
    *out_ms = ms >= (double)INT32_MAX ? INT32_MAX : (int)ms;
    return 0;
}

static struct PyModuleDef mproc_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "mproc._mproc",
    .m_doc = "mproc for Python: the C part (use the mproc package).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__mproc(void)
{
    PyObject *m = PyModule_Create(&mproc_module);
    if (!m)
        return NULL;
    mproc_py_Error = PyErr_NewExceptionWithDoc(
        "mproc.MprocError", "An error reported by the mproc library.", PyExc_OSError, NULL);
    if (!mproc_py_Error || PyModule_AddObjectRef(m, "MprocError", mproc_py_Error) < 0)
        goto fail;
    mproc_py_OwnerDeadError = PyErr_NewExceptionWithDoc(
        "mproc.OwnerDeadError",
        "The previous holder of a lock died holding it; the caller holds it now "
        "and should repair the protected state, then call make_consistent().",
        mproc_py_Error, NULL);
    if (!mproc_py_OwnerDeadError ||
        PyModule_AddObjectRef(m, "OwnerDeadError", mproc_py_OwnerDeadError) < 0)
        goto fail;
    if (PyModule_AddStringConstant(m, "version", mproc_version_string()) < 0)
        goto fail;
#define MPROC_PY_AREA(name)                                                                        \
    if (mproc_py_init_##name(m) < 0)                                                               \
        goto fail;
#include "areas.def"
#undef MPROC_PY_AREA
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}

int mproc_py_wait_call(mproc_py_wait_fn fn, void *arg, int timeout_ms)
{
    struct mproc_py_wait w;
    mproc_py_wait_init(&w, timeout_ms);
    for (;;) {
        int s = mproc_py_wait_next(&w);
        if (s < 0)
            return MPROC_ETIMEDOUT;
        PyThreadState *ts = PyEval_SaveThread();
        int rc = fn(arg, s);
        PyEval_RestoreThread(ts);
        int more = mproc_py_wait_more(&w, rc);
        if (more < 0)
            return INT_MIN;
        if (!more)
            return rc;
    }
}
