/* sync_py.h - what the two files of mproc._mproc's synchronization area
 * share (sync.c: locks, semaphores, events; sync_cond.c: conditions and
 * barriers). See sync.c for the model. */
#ifndef MPROC_SYNC_PY_H
#define MPROC_SYNC_PY_H

#include "mproc_py.h"
#include "pywait.h"

#include "sync/sync.h"

enum kind { K_LOCK, K_RLOCK, K_SEM, K_EVENT, K_BARRIER, K_COND };

/* Every synchronization object but Condition: one core standalone object. */
typedef struct {
    PyObject_HEAD void *obj; /* the core object (mproc_lock *, ...), NULL if none */
    enum kind kind;
    unsigned maxvalue; /* BoundedSemaphore: its bound; 0 otherwise */
} SyncObject;

extern PyTypeObject *mproc_py_LockType, *mproc_py_RLockType;

/* Waits go through mproc_py_wait_call (pywait.h): fn(obj, slice_ms) with
 * the GIL released, signal handlers between slices. */
int mproc_py_sync_cond_wait(void *cond, int timeout_ms);
uint64_t mproc_py_sync_now_ms(void);

/* A new descriptor of a standalone object for a spawned child (the caller
 * owns it), or -1 with an exception set; import maps the one behind fd
 * (the caller keeps fd), or NULL with an exception set. */
int mproc_py_sync_export(enum kind k, const void *obj);
void *mproc_py_sync_import(enum kind k, int fd);

/* 0, or -1 with ValueError for an object never initialised. */
int mproc_py_sync_check_open(SyncObject *s);
/* Whether the calling thread holds the Lock or RLock s. */
int mproc_py_sync_lock_mine(SyncObject *s);
/* The Lock/RLock methods, for Condition to delegate to. */
PyObject *mproc_py_sync_lock_acquire(PyObject *self, PyObject *const *args, Py_ssize_t nargs,
                                     PyObject *kwnames);
PyObject *mproc_py_sync_lock_release(PyObject *self, PyObject *unused);
PyObject *mproc_py_sync_lock_enter(PyObject *self, PyObject *unused);
/* tp_new and tp_dealloc of the SyncObject types. */
PyObject *mproc_py_sync_new(PyTypeObject *type, enum kind k);
void mproc_py_sync_dealloc(PyObject *self);
/* Make a type from spec and add it to module m: a new reference, or NULL. */
PyTypeObject *mproc_py_sync_add_type(PyObject *m, PyType_Spec *spec);

/* sync_cond.c: add Condition and Barrier to m. */
int mproc_py_sync_init_cond(PyObject *m);

#endif
