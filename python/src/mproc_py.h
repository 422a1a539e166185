/* mproc_py.h - what the parts of the extension module mproc._mproc share.
 *
 * The module is one shared object made of one C file per area (process,
 * queue, pipe, sync, shm, pool, ...). Each area adds its types and
 * functions to the module in its own init function, listed once in
 * areas.def; module.c calls them in that order.
 *
 * Conventions for every area:
 * - A call that may block releases the GIL around the wait
 *   and waits in slices so that a signal (Ctrl-C) is seen:
 *   mproc_py_wait_call() in pywait.h.
 * - An mproc error becomes a Python exception with mproc_py_raise(rc):
 *   the exception class follows Python's (TimeoutError, BrokenPipeError,
 *   OSError with errno, ValueError for MPROC_EINVAL, ...), the message is
 *   mproc_strerror(rc).
 */
#ifndef MPROC_PY_H
#define MPROC_PY_H

#ifndef PY_SSIZE_T_CLEAN
#define PY_SSIZE_T_CLEAN
#endif
#include <Python.h>

#include <mproc.h>

#define MPROC_PY_AREA(name) int mproc_py_init_##name(PyObject *module);
#include "areas.def"
#undef MPROC_PY_AREA

/* The module's own exceptions (set by module.c before any area runs). */
extern PyObject *mproc_py_Error;          /* mproc.MprocError(OSError) */
extern PyObject *mproc_py_OwnerDeadError; /* a lock whose holder died */

/* mproc_py_raise - set the Python exception for mproc code rc (< 0) and
 * return NULL, so `return mproc_py_raise(rc);` ends a method. */
PyObject *mproc_py_raise(int rc);

/* mproc_py_timeout_ms - a Python timeout (None, or seconds as int/float,
 * negative treated as 0) to milliseconds: MPROC_FOREVER for None. With
 * block false the timeout is 0. Returns -2 with an exception set on a bad
 * argument. */
int mproc_py_timeout_ms(PyObject *timeout, int block, int *out_ms);

#endif
