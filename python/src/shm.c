/* shm.c - mproc._mproc's shared memory: SharedMemory (the base of
 * mproc.shared_memory.SharedMemory, on an mproc_shm segment), Storage (the
 * bytes of a sharedctypes Value or Array, on a raw core mproc_array) and
 * SharedValue (sharedctypes' synchronized wrapper, whose .value get/set of
 * a number is a single atomic load or store in C).
 *
 * SharedMemory and Storage export their bytes through the buffer protocol
 * (writable, format "B", one dimension), so memoryview, ctypes' from_buffer
 * and numpy.ndarray(buffer=...) work on them. Each counts the buffers it has
 * handed out; close() refuses with BufferError while any is held (the
 * memoryview that SharedMemory.buf caches is released first, and that
 * release fails with BufferError too while a view made from it, a numpy
 * array say, still lives), as Python's SharedMemory does through mmap.
 * A Storage closes its array when the last reference goes (a ctypes object
 * made on it keeps it alive).
 */
#include "mproc_py.h"

#include "sync/sync.h"

#include <structmember.h>

#include <unistd.h>

/* SharedMemory ----------------------------------------------------------- */

typedef struct {
    PyObject_HEAD mproc_shm *shm; /* NULL once closed */
    PyObject *name;               /* str, kept after close */
    Py_ssize_t size;
    PyObject *buf; /* the cached memoryview of .buf, or NULL */
    Py_ssize_t exports;
} ShmObject;

/* The error of a failed create/open/unlink, as Python's SharedMemory gives
 * it (FileNotFoundError / FileExistsError carry the name). */
static void shm_raise(int rc, PyObject *name)
{
    if (rc == MPROC_ENOENT || rc == MPROC_EEXIST || rc == MPROC_EACCES) {
        PyObject *e = rc == MPROC_ENOENT   ? PyExc_FileNotFoundError
                      : rc == MPROC_EEXIST ? PyExc_FileExistsError
                                           : PyExc_PermissionError;
        PyObject *args = Py_BuildValue("(isO)", -rc, mproc_strerror(rc), name);
        if (args) {
            PyErr_SetObject(e, args);
            Py_DECREF(args);
        }
        return;
    }
    mproc_py_raise(rc);
}

/* The name as mproc takes it: Python's callers may write "/name". */
static const char *shm_cname(PyObject *name)
{
    const char *s = PyUnicode_AsUTF8(name);
    if (s && s[0] == '/')
        s++;
    return s;
}

/* __init__(name=None, create=False, size=0) */
static int shm_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "create", "size", NULL};
    ShmObject *s = (ShmObject *)self;
    PyObject *name = Py_None;
    int create = 0;
    Py_ssize_t size = 0;
    int rc;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|Opn", kwlist, &name, &create, &size))
        return -1;
    if (s->shm) {
        PyErr_SetString(PyExc_RuntimeError, "SharedMemory is already initialised");
        return -1;
    }
    if (size < 0 || (create && size == 0)) {
        PyErr_SetString(PyExc_ValueError, "'size' must be a positive number different from zero");
        return -1;
    }
    if (name != Py_None && !PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "name must be a str or None");
        return -1;
    }
    if (!create && name == Py_None) {
        PyErr_SetString(PyExc_ValueError, "'name' can only be None if create=True");
        return -1;
    }
    const char *cname = name == Py_None ? "" : shm_cname(name);
    if (!cname)
        return -1;
    mproc_shm *shm = NULL;
    PyThreadState *ts = PyEval_SaveThread();
    rc = create ? mproc_shm_create(&shm, cname, (size_t)size) : mproc_shm_open(&shm, cname);
    PyEval_RestoreThread(ts);
    if (rc < 0) {
        shm_raise(rc, name);
        return -1;
    }
    PyObject *n = PyUnicode_FromString(mproc_shm_name(shm));
    if (!n) {
        mproc_shm_close(shm);
        if (create)
            mproc_shm_unlink(cname);
        return -1;
    }
    s->shm = shm;
    Py_XSETREF(s->name, n);
    s->size = (Py_ssize_t)mproc_shm_size(shm);
    return 0;
}

static int shm_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    ShmObject *s = (ShmObject *)self;
    if (!s->shm) {
        PyErr_SetString(PyExc_ValueError, "operation on a closed SharedMemory");
        return -1;
    }
    if (PyBuffer_FillInfo(view, self, mproc_shm_ptr(s->shm), s->size, 0, flags) < 0)
        return -1;
    s->exports++;
    return 0;
}

static void shm_releasebuffer(PyObject *self, Py_buffer *view)
{
    (void)view;
    ((ShmObject *)self)->exports--;
}

/* Release the cached memoryview, then close if nothing else holds a
 * buffer: 0, or -1 with BufferError set. */
static int shm_close_obj(ShmObject *s)
{
    if (s->buf) {
        PyObject *r = PyObject_CallMethod(s->buf, "release", NULL);
        if (!r)
            return -1;
        Py_DECREF(r);
        Py_CLEAR(s->buf);
    }
    if (!s->shm)
        return 0;
    if (s->exports > 0) {
        PyErr_SetString(PyExc_BufferError, "cannot close exported pointers exist");
        return -1;
    }
    mproc_shm_close(s->shm);
    s->shm = NULL;
    return 0;
}

static PyObject *shm_close(PyObject *self, PyObject *unused)
{
    (void)unused;
    if (shm_close_obj((ShmObject *)self) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *shm_unlink(PyObject *self, PyObject *unused)
{
    (void)unused;
    ShmObject *s = (ShmObject *)self;
    if (!s->name) {
        PyErr_SetString(PyExc_ValueError, "SharedMemory is not initialised");
        return NULL;
    }
    const char *cname = shm_cname(s->name);
    if (!cname)
        return NULL;
    int rc = mproc_shm_unlink(cname);
    if (rc < 0) {
        shm_raise(rc, s->name);
        return NULL;
    }
    Py_RETURN_NONE;
}

static void shm_dealloc(PyObject *self)
{
    ShmObject *s = (ShmObject *)self;
    PyObject_GC_UnTrack(self);
    Py_CLEAR(s->buf); /* it holds a reference to us: it is gone already */
    if (s->shm && s->exports == 0)
        mproc_shm_close(s->shm);
    s->shm = NULL;
    Py_CLEAR(s->name);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int shm_traverse(PyObject *self, visitproc visit, void *arg)
{
    Py_VISIT(((ShmObject *)self)->buf);
    return 0;
}

static int shm_clear(PyObject *self)
{
    ShmObject *s = (ShmObject *)self;
    if (s->buf) {
        /* A cycle through the memoryview: release it so that we may go. */
        PyObject *r = PyObject_CallMethod(s->buf, "release", NULL);
        if (r)
            Py_DECREF(r);
        else
            PyErr_Clear();
    }
    Py_CLEAR(s->buf);
    return 0;
}

static PyObject *shm_get_buf(PyObject *self, void *unused)
{
    (void)unused;
    ShmObject *s = (ShmObject *)self;
    if (!s->shm)
        Py_RETURN_NONE;
    if (!s->buf && !(s->buf = PyMemoryView_FromObject(self)))
        return NULL;
    return Py_NewRef(s->buf);
}

static PyObject *shm_get_name(PyObject *self, void *unused)
{
    (void)unused;
    ShmObject *s = (ShmObject *)self;
    return Py_NewRef(s->name ? s->name : Py_None);
}

static PyObject *shm_get_size(PyObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromSsize_t(((ShmObject *)self)->size);
}

static PyMethodDef shm_methods[] = {
    {"close", shm_close, METH_NOARGS,
     "Unmap the segment in this process (never removes it). BufferError while a view of "
     ".buf (a numpy array, a slice) is alive."},
    {"unlink", shm_unlink, METH_NOARGS,
     "Remove the segment's name (once, from any process); mappings stay valid until closed."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef shm_getset[] = {
    {"buf", shm_get_buf, NULL, "A writable memoryview of the segment's bytes (None once closed).",
     NULL},
    {"name", shm_get_name, NULL, "The segment's name (open it elsewhere with it).", NULL},
    {"size", shm_get_size, NULL, "The number of usable bytes.", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Storage ---------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD mproc_array *a;
    Py_ssize_t nbytes;
    Py_ssize_t exports;
} StorageObject;

/* __init__(type, n, *, _fd=None): n zeroed elements of core type `type`
 * (an mproc_type number), or the array behind a handed-over fd. */
static int storage_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"type", "n", "_fd", NULL};
    StorageObject *s = (StorageObject *)self;
    int type = 0, fd = -1;
    Py_ssize_t n = 0;
    int rc;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|in$i", kwlist, &type, &n, &fd))
        return -1;
    if (s->a) {
        PyErr_SetString(PyExc_RuntimeError, "Storage is already initialised");
        return -1;
    }
    if (fd >= 0) {
        rc = mproc__array_from_fd(&s->a, fd);
    } else {
        if (mproc_type_size((mproc_type)type) == 0 || n < 1) {
            PyErr_SetString(PyExc_ValueError, "bad element type or count");
            return -1;
        }
        rc = mproc_array_create(&s->a, (mproc_type)type, (size_t)n, NULL, MPROC_VALUE_RAW);
    }
    if (rc < 0) {
        s->a = NULL;
        mproc_py_raise(rc);
        return -1;
    }
    s->nbytes = (Py_ssize_t)(mproc_array_len(s->a) * mproc_type_size(mproc_array_type(s->a)));
    return 0;
}

static int storage_getbuffer(PyObject *self, Py_buffer *view, int flags)
{
    StorageObject *s = (StorageObject *)self;
    if (!s->a) {
        PyErr_SetString(PyExc_ValueError, "Storage is not initialised");
        return -1;
    }
    if (PyBuffer_FillInfo(view, self, mproc_array_ptr(s->a), s->nbytes, 0, flags) < 0)
        return -1;
    s->exports++;
    return 0;
}

static void storage_releasebuffer(PyObject *self, Py_buffer *view)
{
    (void)view;
    ((StorageObject *)self)->exports--;
}

static void storage_dealloc(PyObject *self)
{
    StorageObject *s = (StorageObject *)self;
    if (s->a)
        mproc_array_close(s->a);
    s->a = NULL;
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyObject *storage_export(PyObject *self, PyObject *unused)
{
    (void)unused;
    StorageObject *s = (StorageObject *)self;
    int fd = -1;
    int rc = s->a ? mproc__array_handover(s->a, &fd) : MPROC_EINVAL;
    return rc < 0 ? mproc_py_raise(rc) : PyLong_FromLong(fd);
}

static PyObject *storage_get_type(PyObject *self, void *unused)
{
    (void)unused;
    StorageObject *s = (StorageObject *)self;
    return PyLong_FromLong(s->a ? (long)mproc_array_type(s->a) : 0);
}

static PyObject *storage_get_len(PyObject *self, void *unused)
{
    (void)unused;
    StorageObject *s = (StorageObject *)self;
    return PyLong_FromSize_t(s->a ? mproc_array_len(s->a) : 0);
}

static PyObject *storage_get_nbytes(PyObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromSsize_t(((StorageObject *)self)->nbytes);
}

static PyMethodDef storage_methods[] = {
    {"_export_fd", storage_export, METH_NOARGS, "A new descriptor of the array (for spawn)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef storage_getset[] = {
    {"type", storage_get_type, NULL, "the core element type (mproc_type)", NULL},
    {"n", storage_get_len, NULL, "the number of elements", NULL},
    {"nbytes", storage_get_nbytes, NULL, "the number of bytes", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* SharedValue ------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD PyObject *storage; /* keeps the memory mapped */
    PyObject *obj;                   /* the ctypes object on it */
    void *ptr;                       /* its first byte */
    int type;                        /* mproc_type for the fast path, 0: through obj */
    PyObject *dict;
} SharedValueObject;

/* __init__(storage, obj, type): obj is a ctypes object made on storage. */
static int sv_init(PyObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"storage", "obj", "type", NULL};
    SharedValueObject *v = (SharedValueObject *)self;
    PyObject *storage, *obj;
    int type = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|i", kwlist, &storage, &obj, &type))
        return -1;
    Py_buffer view;
    if (PyObject_GetBuffer(obj, &view, PyBUF_SIMPLE | PyBUF_WRITABLE) < 0)
        return -1;
    void *ptr = view.buf;
    Py_ssize_t len = view.len;
    PyBuffer_Release(&view);
    if (type && (size_t)len < mproc_type_size((mproc_type)type)) {
        PyErr_SetString(PyExc_ValueError, "the object is smaller than its type");
        return -1;
    }
    Py_INCREF(storage);
    Py_INCREF(obj);
    Py_XSETREF(v->storage, storage);
    Py_XSETREF(v->obj, obj);
    v->ptr = ptr;
    v->type = type;
    return 0;
}

static PyObject *sv_get_value(PyObject *self, void *unused)
{
    (void)unused;
    SharedValueObject *v = (SharedValueObject *)self;
    void *p = v->ptr;
    switch (v->type) {
    case MPROC_TYPE_I8:
        return PyLong_FromLong(__atomic_load_n((int8_t *)p, __ATOMIC_ACQUIRE));
    case MPROC_TYPE_U8:
        return PyLong_FromLong(__atomic_load_n((uint8_t *)p, __ATOMIC_ACQUIRE));
    case MPROC_TYPE_I16:
        return PyLong_FromLong(__atomic_load_n((int16_t *)p, __ATOMIC_ACQUIRE));
    case MPROC_TYPE_U16:
        return PyLong_FromLong(__atomic_load_n((uint16_t *)p, __ATOMIC_ACQUIRE));
    case MPROC_TYPE_I32:
        return PyLong_FromLong(__atomic_load_n((int32_t *)p, __ATOMIC_ACQUIRE));
    case MPROC_TYPE_U32:
        return PyLong_FromUnsignedLong(__atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE));
    case MPROC_TYPE_I64:
        return PyLong_FromLongLong(__atomic_load_n((int64_t *)p, __ATOMIC_ACQUIRE));
    case MPROC_TYPE_U64:
        return PyLong_FromUnsignedLongLong(__atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE));
    case MPROC_TYPE_F32: {
        uint32_t bits = __atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE);
        float f;
        memcpy(&f, &bits, sizeof f);
        return PyFloat_FromDouble(f);
    }
    case MPROC_TYPE_F64: {
        uint64_t bits = __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE);
        double d;
        memcpy(&d, &bits, sizeof d);
        return PyFloat_FromDouble(d);
    }
    default:
        return v->obj ? PyObject_GetAttrString(v->obj, "value") : NULL;
    }
}

static int sv_set_value(PyObject *self, PyObject *x, void *unused)
{
    (void)unused;
    SharedValueObject *v = (SharedValueObject *)self;
    void *p = v->ptr;
    if (!x) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete the value");
        return -1;
    }
    if (v->type == MPROC_TYPE_F32 || v->type == MPROC_TYPE_F64) {
        double d = PyFloat_AsDouble(x);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        if (v->type == MPROC_TYPE_F32) {
            float f = (float)d;
            uint32_t bits;
            memcpy(&bits, &f, sizeof bits);
            __atomic_store_n((uint32_t *)p, bits, __ATOMIC_RELEASE);
        } else {
            uint64_t bits;
            memcpy(&bits, &d, sizeof bits);
            __atomic_store_n((uint64_t *)p, bits, __ATOMIC_RELEASE);
        }
        return 0;
    }
    if (v->type == 0)
        return v->obj ? PyObject_SetAttrString(v->obj, "value", x) : -1;
    /* ctypes' integers wrap (no overflow check) and refuse floats. */
    if (PyFloat_Check(x)) {
        PyErr_Format(PyExc_TypeError, "int expected instead of %s", Py_TYPE(x)->tp_name);
        return -1;
    }
    unsigned long long u = PyLong_AsUnsignedLongLongMask(x);
    if (u == (unsigned long long)-1 && PyErr_Occurred())
        return -1;
    switch (v->type) {
    case MPROC_TYPE_I8:
    case MPROC_TYPE_U8:
        __atomic_store_n((uint8_t *)p, (uint8_t)u, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_I16:
    case MPROC_TYPE_U16:
        __atomic_store_n((uint16_t *)p, (uint16_t)u, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_I32:
    case MPROC_TYPE_U32:
        __atomic_store_n((uint32_t *)p, (uint32_t)u, __ATOMIC_RELEASE);
        break;
    default:
        __atomic_store_n((uint64_t *)p, (uint64_t)u, __ATOMIC_RELEASE);
        break;
    }
    return 0;
}

static PyObject *sv_get_obj(PyObject *self, PyObject *unused)
{
    (void)unused;
    SharedValueObject *v = (SharedValueObject *)self;
    return Py_NewRef(v->obj ? v->obj : Py_None);
}

static PyObject *sv_get_storage(PyObject *self, void *unused)
{
    (void)unused;
    SharedValueObject *v = (SharedValueObject *)self;
    return Py_NewRef(v->storage ? v->storage : Py_None);
}

static PyObject *sv_get_type(PyObject *self, void *unused)
{
    (void)unused;
    return PyLong_FromLong(((SharedValueObject *)self)->type);
}

static int sv_traverse(PyObject *self, visitproc visit, void *arg)
{
    SharedValueObject *v = (SharedValueObject *)self;
    Py_VISIT(v->storage);
    Py_VISIT(v->obj);
    Py_VISIT(v->dict);
    return 0;
}

static int sv_clear(PyObject *self)
{
    SharedValueObject *v = (SharedValueObject *)self;
    Py_CLEAR(v->obj);
    Py_CLEAR(v->storage);
    Py_CLEAR(v->dict);
    return 0;
}

static void sv_dealloc(PyObject *self)
{
    PyObject_GC_UnTrack(self);
    sv_clear(self);
    PyTypeObject *tp = Py_TYPE(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static PyMethodDef sv_methods[] = {
    {"get_obj", sv_get_obj, METH_NOARGS, "The ctypes object in shared memory."},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef sv_members[] = {
    {"__dictoffset__", T_PYSSIZET, offsetof(SharedValueObject, dict), READONLY, NULL},
    {NULL, 0, 0, 0, NULL},
};

static PyGetSetDef sv_getset[] = {
    {"value", sv_get_value, sv_set_value,
     "The value (a single atomic load or store for numbers; take get_lock() for "
     "read-modify-write).",
     NULL},
    {"_storage", sv_get_storage, NULL, NULL, NULL},
    {"_type", sv_get_type, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

/* Types ------------------------------------------------------------------ */

static PyObject *generic_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    return type->tp_alloc(type, 0);
}

static PyType_Slot shm_slots[] = {
    {Py_tp_new, generic_new},
    {Py_tp_init, shm_init},
    {Py_tp_dealloc, shm_dealloc},
    {Py_tp_traverse, shm_traverse},
    {Py_tp_clear, shm_clear},
    {Py_tp_methods, shm_methods},
    {Py_tp_getset, shm_getset},
    {Py_bf_getbuffer, shm_getbuffer},
    {Py_bf_releasebuffer, shm_releasebuffer},
    {0, NULL},
};
static PyType_Spec shm_spec = {"mproc._mproc.SharedMemory", sizeof(ShmObject), 0,
                               Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
                               shm_slots};

static PyType_Slot storage_slots[] = {
    {Py_tp_new, generic_new},
    {Py_tp_init, storage_init},
    {Py_tp_dealloc, storage_dealloc},
    {Py_tp_methods, storage_methods},
    {Py_tp_getset, storage_getset},
    {Py_bf_getbuffer, storage_getbuffer},
    {Py_bf_releasebuffer, storage_releasebuffer},
    {0, NULL},
};
static PyType_Spec storage_spec = {"mproc._mproc.Storage", sizeof(StorageObject), 0,
                                   Py_TPFLAGS_DEFAULT, storage_slots};

static PyType_Slot sv_slots[] = {
    {Py_tp_new, generic_new},      {Py_tp_init, sv_init},     {Py_tp_dealloc, sv_dealloc},
    {Py_tp_traverse, sv_traverse}, {Py_tp_clear, sv_clear},   {Py_tp_methods, sv_methods},
    {Py_tp_members, sv_members},   {Py_tp_getset, sv_getset}, {0, NULL},
};
static PyType_Spec sv_spec = {"mproc._mproc.SharedValue", sizeof(SharedValueObject), 0,
                              Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
                              sv_slots};

static int add_type(PyObject *m, PyType_Spec *spec)
{
    PyObject *t = PyType_FromSpec(spec);
    if (!t)
        return -1;
    const char *dot = strrchr(spec->name, '.');
    int rc = PyModule_AddObjectRef(m, dot + 1, t);
    Py_DECREF(t);
    return rc;
}

int mproc_py_init_shm(PyObject *m)
{
    if (add_type(m, &shm_spec) < 0 || add_type(m, &storage_spec) < 0 || add_type(m, &sv_spec) < 0)
        return -1;
    return 0;
}
