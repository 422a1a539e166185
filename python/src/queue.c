/* queue.c - the C half of mproc.queues: _mproc.Queue, one mproc_queue that
 * carries pickled objects. mproc/queues.py adds the multiprocessing API
 * around it (Queue, SimpleQueue, JoinableQueue).
 *
 * put is synchronous: when it returns, the object is in the shared queue,
 * and the process may exit at once without losing it (no feeder thread).
 *
 * Messages: an object is pickled (protocol 5, reduction's dumps: the
 * module's reducers) and the pickle is the message; it starts with the
 * PROTO opcode 0x80. A bytes object is sent raw behind one 0x00 byte,
 * written straight into the ring with reserve/commit (one copy on each
 * side, no pickle); so are an int that fits in 64 bits (tag 0x01, 8 bytes)
 * and a str (tag 0x02, its UTF-8), the most common small messages: no
 * pickler runs for them on either side. A float, None, a bool, and a short
 * tuple of such scalars (ints, floats, strs, bytes, None, bools; at most
 * FLAT_ITEMS items and FLAT_MAX bytes) are "flat": a tag per item, with a
 * 4-byte length before a str's or bytes' contents; a tuple is TUPLE_TAG and
 * its item count first. Anything else is pickled. The decoder checks every
 * length against the message before it reads (the ring is shared memory).
 * A message larger than the ring does not fit in it: put spills it to a
 * file of its own in /dev/shm (mproc.queues._spill: 0600, O_EXCL, a
 * random name) and sends SPILL_TAG and the name; get reads the file back
 * and unlinks it (mproc.queues._unspill, which accepts only names of that
 * form). Such a message costs a file write and read: sizes the ring can
 * hold stay in shared memory.
 *
 * get takes a view of the next message in the ring and
 * unpickles from it directly (no intermediate copy), then releases it.
 *
 * Waiting: a put or get first tries once with the GIL held (no wait: the
 * common case costs no GIL hand-off); only when it would block does it
 * wait in slices with the GIL released (pywait.h), so other threads run
 * and Ctrl-C interrupts it.
 *
 * Errors: an unpicklable object fails in the caller (the pickler's
 * exception) and nothing is enqueued; a message larger than the queue's
 * capacity is a ValueError naming both sizes; a closed Queue is a
 * ValueError.
 */
#include "pywait.h"

#include <unistd.h>

#define RAW_BYTES_TAG 0x00
#define INT64_TAG 0x01
#define STR_TAG 0x02
#define TUPLE_TAG 0x03
#define FLOAT_TAG 0x04
#define NONE_TAG 0x05
#define TRUE_TAG 0x06
#define FALSE_TAG 0x07
#define SPILL_TAG 0x08
#define FLAT_MAX 512  /* bytes of a flat encoding, tag included */
#define FLAT_ITEMS 32 /* items of a flat tuple */
#define DEFAULT_CAPACITY ((size_t)16 << 20)

typedef struct {
    PyObject_HEAD mproc_queue *q;
    size_t cap; /* the largest message the ring takes */
    Py_ssize_t maxsize;
    int joinable;
} QueueObject;

static PyObject *queue_Empty, *queue_Full;
static PyObject *py_dumps, *py_loads, *py_protocol;

/* mproc.queues's spill helpers: looked up on first use. */
static PyObject *queues_attr(const char *name)
{
    PyObject *mod = PyImport_ImportModule("mproc.queues");
    if (mod == NULL)
        return NULL;
    PyObject *f = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return f;
}

/* spill(tag, data, len) -> the marker message (bytes), or NULL. */
static PyObject *spill(int tag, const char *data, size_t len)
{
    PyObject *f = queues_attr("_spill");
    if (f == NULL)
        return NULL;
    PyObject *mv = PyMemoryView_FromMemory((char *)data, (Py_ssize_t)len, PyBUF_READ);
    PyObject *r = mv ? PyObject_CallFunction(f, "iO", tag, mv) : NULL;
    if (mv && Py_REFCNT(mv) > 1) {
        PyObject *x = PyObject_CallMethod(mv, "release", NULL);
        if (x == NULL)
            Py_CLEAR(r);
        Py_XDECREF(x);
    }
    Py_XDECREF(mv);
    Py_DECREF(f);
    if (r != NULL && !PyBytes_Check(r)) {
        Py_DECREF(r);
        PyErr_SetString(PyExc_TypeError, "_spill did not return bytes");
        return NULL;
    }
    return r;
}

/* The spilled message a marker names, read back (its file is unlinked);
 * with discard, only unlink it. */
static PyObject *unspill(PyObject *marker, int discard)
{
    PyObject *f = queues_attr(discard ? "_discard" : "_unspill");
    if (f == NULL)
        return NULL;
    PyObject *r = PyObject_CallOneArg(f, marker);
    Py_DECREF(f);
    return r;
}

static int queue_check(QueueObject *self)
{
    if (self->q == NULL) {
        PyErr_Format(PyExc_ValueError, "Queue %R is closed", (PyObject *)self);
        return -1;
    }
    return 0;
}

static PyObject *queue_error(QueueObject *self, long rc, size_t len)
{
    switch (rc) {
    case MPROC_EBADF:
    case MPROC_ECLOSED:
        PyErr_Format(PyExc_ValueError, "Queue %R is closed", (PyObject *)self);
        return NULL;
    case MPROC_EMSGSIZE:
        PyErr_Format(PyExc_ValueError,
                     "message of %zu bytes is larger than the queue's capacity (%zd bytes): "
                     "create the Queue with a larger capacity=",
                     len, mproc_queue_capacity(self->q));
        return NULL;
    default:
        return mproc_py_raise((int)rc);
    }
}

static int Queue_init(QueueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"maxsize", "capacity", "joinable", "fd", NULL};
    Py_ssize_t maxsize = 0, capacity = 0;
    int joinable = 0, fd = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|n$npi:Queue", kwlist, &maxsize, &capacity,
                                     &joinable, &fd))
        return -1;
    if (self->q) {
        PyErr_SetString(PyExc_RuntimeError, "Queue already initialised");
        return -1;
    }
    if (capacity < 0) {
        PyErr_SetString(PyExc_ValueError, "capacity must be >= 0");
        return -1;
    }
    int rc;
    if (fd >= 0) {
        rc = mproc_queue_from_fd(&self->q, fd);
    } else {
        struct mproc_queue_opts o = {
            .capacity = capacity ? (size_t)capacity : DEFAULT_CAPACITY,
            .max_msgs = maxsize > 0 ? (size_t)maxsize : 0,
            .flags = joinable ? MPROC_QUEUE_JOINABLE : 0,
        };
        rc = mproc_queue_create(&self->q, NULL, &o);
    }
    if (rc < 0) {
        self->q = NULL;
        mproc_py_raise(rc);
        return -1;
    }
    if (fd >= 0) {
        struct mproc_queue_stats st;
        if (mproc_queue_stats(self->q, &st) == 0) {
            maxsize = (Py_ssize_t)st.max_msgs;
            joinable = (st.flags & MPROC_QUEUE_JOINABLE) != 0;
        }
    }
    ssize_t cap = mproc_queue_capacity(self->q);
    self->cap = cap > 0 ? (size_t)cap : 0;
    self->maxsize = maxsize > 0 ? maxsize : 0;
    self->joinable = joinable;
    return 0;
}

static void Queue_dealloc(QueueObject *self)
{
    if (self->q)
        (void)mproc_queue_close(self->q);
    self->q = NULL;
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* flat_scalar - encode one scalar at out (room bytes): the bytes used, or
 * 0 when x is not a flat scalar or does not fit. */
static size_t flat_scalar(PyObject *x, char *out, size_t room)
{
    if (x == Py_None || x == Py_True || x == Py_False) {
        if (room < 1)
            return 0;
        out[0] = x == Py_None ? NONE_TAG : x == Py_True ? TRUE_TAG : FALSE_TAG;
        return 1;
    }
    if (PyLong_CheckExact(x) || PyFloat_CheckExact(x)) {
        if (room < 9)
            return 0;
        if (PyFloat_CheckExact(x)) {
            double d = PyFloat_AS_DOUBLE(x);
            out[0] = FLOAT_TAG;
            memcpy(out + 1, &d, 8);
            return 9;
        }
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return 0;
        }
        out[0] = INT64_TAG;
        memcpy(out + 1, &v, 8);
        return 9;
    }
    const char *data;
    Py_ssize_t n;
    char tag;
    if (PyUnicode_CheckExact(x)) {
        data = PyUnicode_AsUTF8AndSize(x, &n);
        if (data == NULL) {
            PyErr_Clear();
            return 0;
        }
        tag = STR_TAG;
    } else if (PyBytes_CheckExact(x)) {
        data = PyBytes_AS_STRING(x);
        n = PyBytes_GET_SIZE(x);
        tag = RAW_BYTES_TAG;
    } else {
        return 0;
    }
    if ((size_t)n + 5 > room)
        return 0;
    uint32_t n32 = (uint32_t)n;
    out[0] = tag;
    memcpy(out + 1, &n32, 4);
    memcpy(out + 5, data, (size_t)n);
    return (size_t)n + 5;
}

/* flat_encode - obj as a flat message in out (FLAT_MAX bytes): its length,
 * or 0 when obj is not flat. */
static size_t flat_encode(PyObject *obj, char *out)
{
    if (!PyTuple_CheckExact(obj))
        return flat_scalar(obj, out, FLAT_MAX);
    Py_ssize_t k = PyTuple_GET_SIZE(obj);
    if (k > FLAT_ITEMS)
        return 0;
    out[0] = TUPLE_TAG;
    out[1] = (char)k;
    size_t pos = 2;
    for (Py_ssize_t i = 0; i < k; i++) {
        size_t n = flat_scalar(PyTuple_GET_ITEM(obj, i), out + pos, FLAT_MAX - pos);
        if (n == 0)
            return 0;
        pos += n;
    }
    return pos;
}

static PyObject *corrupt_message(void)
{
    PyErr_SetString(PyExc_ValueError, "a message in the queue is corrupt");
    return NULL;
}

/* flat_item - decode the scalar at p[*pos] (len bytes in all). */
static PyObject *flat_item(const char *p, size_t len, size_t *pos)
{
    if (*pos >= len)
        return corrupt_message();
    unsigned char tag = (unsigned char)p[(*pos)++];
    size_t left = len - *pos;
    switch (tag) {
    case NONE_TAG:
        Py_RETURN_NONE;
    case TRUE_TAG:
        Py_RETURN_TRUE;
    case FALSE_TAG:
        Py_RETURN_FALSE;
    case INT64_TAG:
    case FLOAT_TAG: {
        if (left < 8)
            return corrupt_message();
        char b[8];
        memcpy(b, p + *pos, 8);
        *pos += 8;
        if (tag == FLOAT_TAG) {
            double d;
            memcpy(&d, b, 8);
            return PyFloat_FromDouble(d);
        }
        long long v;
        memcpy(&v, b, 8);
        return PyLong_FromLongLong(v);
    }
    case STR_TAG:
    case RAW_BYTES_TAG: {
        uint32_t n;
        if (left < 4)
            return corrupt_message();
        memcpy(&n, p + *pos, 4);
        if (n > left - 4)
            return corrupt_message();
        const char *d = p + *pos + 4;
        *pos += 4 + (size_t)n;
        if (tag == STR_TAG)
            return PyUnicode_DecodeUTF8(d, (Py_ssize_t)n, "strict");
        return PyBytes_FromStringAndSize(d, (Py_ssize_t)n);
    }
    default:
        return corrupt_message();
    }
}

/* flat_tuple - decode a TUPLE_TAG message. */
static PyObject *flat_tuple(const char *p, size_t len)
{
    if (len < 2 || (unsigned char)p[1] > FLAT_ITEMS)
        return corrupt_message();
    Py_ssize_t k = (unsigned char)p[1];
    PyObject *t = PyTuple_New(k);
    if (t == NULL)
        return NULL;
    size_t pos = 2;
    for (Py_ssize_t i = 0; i < k; i++) {
        PyObject *x = flat_item(p, len, &pos);
        if (x == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, i, x);
    }
    if (pos != len) {
        Py_DECREF(t);
        return corrupt_message();
    }
    return t;
}

/* Put len bytes: data (already a message), or behind a one-byte tag. */
static int put_msg(QueueObject *self, const char *data, size_t len, int tag, int ms)
{
    if (tag < 0)
        return mproc_queue_put(self->q, data, len, ms);
    void *ptr;
    int rc = mproc_queue_reserve(self->q, len + 1, &ptr, ms);
    if (rc < 0)
        return rc;
    ((unsigned char *)ptr)[0] = (unsigned char)tag;
    memcpy((char *)ptr + 1, data, len);
    return mproc_queue_commit(self->q, len + 1);
}

static PyObject *queue_put(QueueObject *self, PyObject *obj, int block, PyObject *timeout)
{
    if (queue_check(self) < 0)
        return NULL;
    int ms;
    if (mproc_py_timeout_ms(timeout, block, &ms) < 0)
        return NULL;
    PyObject *msg = NULL;
    const char *data;
    size_t len;
    int tag = -1;
    char small[FLAT_MAX];
    if (PyLong_CheckExact(obj)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
        if (!overflow && !(v == -1 && PyErr_Occurred())) {
            small[0] = INT64_TAG;
            memcpy(small + 1, &v, sizeof v);
            data = small;
            len = 9;
            goto send;
        }
        PyErr_Clear();
    } else if (PyUnicode_CheckExact(obj)) {
        Py_ssize_t n;
        data = PyUnicode_AsUTF8AndSize(obj, &n);
        if (data != NULL) {
            tag = STR_TAG;
            len = (size_t)n;
            msg = Py_NewRef(obj);
            goto send;
        }
        PyErr_Clear();
    } else if (PyBytes_CheckExact(obj)) {
        tag = RAW_BYTES_TAG;
        msg = Py_NewRef(obj);
        data = PyBytes_AS_STRING(obj);
        len = (size_t)PyBytes_GET_SIZE(obj);
        goto send;
    } else if ((len = flat_encode(obj, small)) > 0) {
        data = small;
        goto send;
    }
    {
        PyObject *args[2] = {obj, py_protocol};
        msg = PyObject_Vectorcall(py_dumps, args, 2, NULL);
        if (msg == NULL)
            return NULL;
        if (!PyBytes_Check(msg)) {
            Py_DECREF(msg);
            PyErr_SetString(PyExc_TypeError, "the pickler did not return bytes");
            return NULL;
        }
        data = PyBytes_AS_STRING(msg);
        len = (size_t)PyBytes_GET_SIZE(msg);
    }
send:;
    int spilled = 0;
    if (len + (tag >= 0) > self->cap) {
        PyObject *marker = spill(tag, data, len);
        if (marker == NULL) {
            Py_XDECREF(msg);
            return NULL;
        }
        Py_XSETREF(msg, marker);
        data = PyBytes_AS_STRING(marker);
        len = (size_t)PyBytes_GET_SIZE(marker);
        tag = -1;
        spilled = 1;
    }
    int rc = put_msg(self, data, len, tag, 0);
    if (rc == MPROC_EAGAIN && ms != 0) {
        struct mproc_py_wait w;
        mproc_py_wait_init(&w, ms);
        for (;;) {
            int s = mproc_py_wait_next(&w);
            if (s < 0) {
                rc = MPROC_ETIMEDOUT;
                break;
            }
            PyThreadState *ts = PyEval_SaveThread();
            rc = put_msg(self, data, len, tag, s);
            PyEval_RestoreThread(ts);
            if (mproc_py_wait_more(&w, rc) <= 0)
                break;
            if (self->q == NULL) {
                rc = MPROC_EBADF;
                break;
            }
        }
    }
    if (spilled && rc != 0) {
        /* Not enqueued: nobody will read the file. */
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        PyObject *r = unspill(msg, 1);
        Py_XDECREF(r);
        PyErr_Clear();
        PyErr_Restore(et, ev, etb);
    }
    Py_XDECREF(msg);
    if (PyErr_Occurred())
        return NULL;
    if (rc == MPROC_EAGAIN || rc == MPROC_ETIMEDOUT) {
        PyErr_SetNone(queue_Full);
        return NULL;
    }
    if (rc < 0)
        return queue_error(self, rc, len + (tag >= 0));
    Py_RETURN_NONE;
}

static PyObject *Queue_put(QueueObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    static char *kw[] = {"obj", "block", "timeout", NULL};
    PyObject *obj = NULL, *timeout = Py_None;
    int block = 1;
    if (kwnames == NULL && nargs >= 1 && nargs <= 3) {
        if (nargs >= 2 && (block = PyObject_IsTrue(args[1])) < 0)
            return NULL;
        return queue_put(self, args[0], block, nargs == 3 ? args[2] : Py_None);
    }
    PyObject *t, *d;
    if (mproc_py_fastcall_args(args, nargs, kwnames, &t, &d) < 0)
        return NULL;
    int ok = PyArg_ParseTupleAndKeywords(t, d, "O|pO:put", kw, &obj, &block, &timeout);
    PyObject *r = ok ? queue_put(self, obj, block, timeout) : NULL;
    Py_DECREF(t);
    Py_XDECREF(d);
    return r;
}

static PyObject *Queue_put_nowait(QueueObject *self, PyObject *obj)
{
    return queue_put(self, obj, 0, Py_None);
}

/* The object in a message of len bytes at ptr. */
static PyObject *decode(const char *ptr, size_t len)
{
    if (len > 0 && (unsigned char)ptr[0] == RAW_BYTES_TAG)
        return PyBytes_FromStringAndSize(ptr + 1, (Py_ssize_t)len - 1);
    if (len == 9 && (unsigned char)ptr[0] == INT64_TAG) {
        long long v;
        memcpy(&v, ptr + 1, sizeof v);
        return PyLong_FromLongLong(v);
    }
    if (len > 0 && (unsigned char)ptr[0] == STR_TAG)
        return PyUnicode_DecodeUTF8(ptr + 1, (Py_ssize_t)len - 1, "strict");
    if (len > 0 && (unsigned char)ptr[0] == TUPLE_TAG)
        return flat_tuple(ptr, len);
    if (len > 0 && (unsigned char)ptr[0] >= FLOAT_TAG && (unsigned char)ptr[0] <= FALSE_TAG) {
        size_t pos = 0;
        PyObject *x = flat_item(ptr, len, &pos);
        if (x != NULL && pos != len) {
            Py_DECREF(x);
            return corrupt_message();
        }
        return x;
    }
    return mproc_py_loads_mem(ptr, len);
}

static PyObject *queue_get(QueueObject *self, int block, PyObject *timeout)
{
    if (queue_check(self) < 0)
        return NULL;
    int ms;
    if (mproc_py_timeout_ms(timeout, block, &ms) < 0)
        return NULL;
    const void *ptr;
    ssize_t n = mproc_queue_get_view(self->q, &ptr, 0);
    if (n == MPROC_EAGAIN && ms != 0) {
        struct mproc_py_wait w;
        mproc_py_wait_init(&w, ms);
        for (;;) {
            int s = mproc_py_wait_next(&w);
            if (s < 0) {
                n = MPROC_ETIMEDOUT;
                break;
            }
            PyThreadState *ts = PyEval_SaveThread();
            n = mproc_queue_get_view(self->q, &ptr, s);
            PyEval_RestoreThread(ts);
            int more = mproc_py_wait_more(&w, n);
            if (more < 0)
                return NULL; /* only after a timeout: no view is held */
            if (!more)
                break;
            if (self->q == NULL) {
                n = MPROC_EBADF;
                break;
            }
        }
    }
    if (n == MPROC_EAGAIN || n == MPROC_ETIMEDOUT) {
        PyErr_SetNone(queue_Empty);
        return NULL;
    }
    if (n < 0)
        return queue_error(self, n, 0);
    mproc_queue *q = self->q;
    if (n > 0 && *(const unsigned char *)ptr == SPILL_TAG) {
        /* Copy the marker out and give the ring back before the file I/O. */
        PyObject *marker = PyBytes_FromStringAndSize(ptr, n);
        (void)mproc_queue_release_view(q);
        if (marker == NULL)
            return NULL;
        PyObject *b = unspill(marker, 0);
        Py_DECREF(marker);
        if (b == NULL)
            return NULL;
        if (!PyBytes_Check(b) || PyBytes_GET_SIZE(b) == 0 ||
            *(unsigned char *)PyBytes_AS_STRING(b) == SPILL_TAG) {
            Py_DECREF(b);
            return corrupt_message();
        }
        PyObject *obj = decode(PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        Py_DECREF(b);
        return obj;
    }
    PyObject *obj = decode(ptr, (size_t)n);
    (void)mproc_queue_release_view(q);
    return obj;
}

static PyObject *Queue_get(QueueObject *self, PyObject *const *args, Py_ssize_t nargs,
                           PyObject *kwnames)
{
    static char *kw[] = {"block", "timeout", NULL};
    PyObject *timeout = Py_None;
    int block = 1;
    if (kwnames == NULL && nargs <= 2) {
        if (nargs >= 1 && (block = PyObject_IsTrue(args[0])) < 0)
            return NULL;
        return queue_get(self, block, nargs == 2 ? args[1] : Py_None);
    }
    PyObject *t, *d;
    if (mproc_py_fastcall_args(args, nargs, kwnames, &t, &d) < 0)
        return NULL;
    int ok = PyArg_ParseTupleAndKeywords(t, d, "|pO:get", kw, &block, &timeout);
    PyObject *r = ok ? queue_get(self, block, timeout) : NULL;
    Py_DECREF(t);
    Py_XDECREF(d);
    return r;
}

static PyObject *Queue_get_nowait(QueueObject *self, PyObject *unused)
{
    (void)unused;
    return queue_get(self, 0, Py_None);
}

static PyObject *Queue_qsize(QueueObject *self, PyObject *unused)
{
    (void)unused;
    if (queue_check(self) < 0)
        return NULL;
    ssize_t n = mproc_queue_qsize(self->q);
    if (n < 0)
        return queue_error(self, n, 0);
    return PyLong_FromSsize_t(n);
}

static PyObject *Queue_empty(QueueObject *self, PyObject *unused)
{
    (void)unused;
    if (queue_check(self) < 0)
        return NULL;
    int rc = mproc_queue_empty(self->q);
    if (rc < 0)
        return queue_error(self, rc, 0);
    return PyBool_FromLong(rc);
}

static PyObject *Queue_full(QueueObject *self, PyObject *unused)
{
    (void)unused;
    if (queue_check(self) < 0)
        return NULL;
    if (self->maxsize > 0) {
        ssize_t n = mproc_queue_qsize(self->q);
        if (n < 0)
            return queue_error(self, n, 0);
        if (n >= self->maxsize)
            Py_RETURN_TRUE;
    }
    int rc = mproc_queue_full(self->q);
    if (rc < 0)
        return queue_error(self, rc, 0);
    return PyBool_FromLong(rc);
}

static PyObject *Queue_close(QueueObject *self, PyObject *unused)
{
    (void)unused;
    if (self->q) {
        mproc_queue *q = self->q;
        self->q = NULL;
        (void)mproc_queue_close(q);
    }
    Py_RETURN_NONE;
}

static PyObject *Queue_task_done(QueueObject *self, PyObject *unused)
{
    (void)unused;
    if (queue_check(self) < 0)
        return NULL;
    int rc = mproc_queue_task_done(self->q);
    if (rc == MPROC_ERANGE) {
        PyErr_SetString(PyExc_ValueError, "task_done() called too many times");
        return NULL;
    }
    if (rc == MPROC_ENOTSUP) {
        PyErr_SetString(PyExc_ValueError, "task_done() needs a JoinableQueue");
        return NULL;
    }
    if (rc < 0)
        return queue_error(self, rc, 0);
    Py_RETURN_NONE;
}

/* join(timeout=None) -> True when every task is done, False on timeout. */
/* One slice of Queue.join, with the GIL released; closed meanwhile: EBADF. */
static int join_slice(void *arg, int ms)
{
    QueueObject *self = arg;
    return self->q ? mproc_queue_join(self->q, ms) : MPROC_EBADF;
}

static PyObject *Queue_join(QueueObject *self, PyObject *args)
{
    PyObject *timeout = Py_None;
    if (!PyArg_ParseTuple(args, "|O:join", &timeout))
        return NULL;
    if (queue_check(self) < 0)
        return NULL;
    int ms;
    if (mproc_py_timeout_ms(timeout, 1, &ms) < 0)
        return NULL;
    int rc = mproc_py_wait_call(join_slice, self, ms);
    if (rc == INT_MIN)
        return NULL;
    if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
        Py_RETURN_FALSE;
    if (rc == MPROC_ENOTSUP) {
        PyErr_SetString(PyExc_ValueError, "join() needs a JoinableQueue");
        return NULL;
    }
    if (rc < 0)
        return queue_error(self, rc, 0);
    Py_RETURN_TRUE;
}

static PyObject *Queue_fileno(QueueObject *self, PyObject *unused)
{
    (void)unused;
    if (queue_check(self) < 0)
        return NULL;
    return PyLong_FromLong(mproc_queue_fd(self->q));
}

static PyObject *Queue_stats(QueueObject *self, PyObject *unused)
{
    (void)unused;
    if (queue_check(self) < 0)
        return NULL;
    struct mproc_queue_stats st;
    int rc = mproc_queue_stats(self->q, &st);
    if (rc < 0)
        return queue_error(self, rc, 0);
    return Py_BuildValue(
        "{sKsKsKsKsKsKsKsKsKsKsKsI}", "puts", (unsigned long long)st.puts, "gets",
        (unsigned long long)st.gets, "bytes_in", (unsigned long long)st.bytes_in, "bytes_out",
        (unsigned long long)st.bytes_out, "lost", (unsigned long long)st.lost, "msgs",
        (unsigned long long)st.msgs, "bytes_used", (unsigned long long)st.bytes_used, "high_water",
        (unsigned long long)st.high_water, "capacity", (unsigned long long)st.capacity, "max_msgs",
        (unsigned long long)st.max_msgs, "unfinished", (unsigned long long)st.unfinished,
        "participants", st.participants);
}

static PyObject *Queue_get_closed(QueueObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->q == NULL);
}

static PyObject *Queue_get_maxsize(QueueObject *self, void *closure)
{
    (void)closure;
    return PyLong_FromSsize_t(self->maxsize);
}

static PyObject *Queue_get_joinable(QueueObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->joinable);
}

static PyMethodDef Queue_methods[] = {
    {"put", (PyCFunction)(void (*)(void))Queue_put, METH_FASTCALL | METH_KEYWORDS,
     "put(obj, block=True, timeout=None): enqueue obj (pickled); queue.Full on timeout."},
    {"put_nowait", (PyCFunction)Queue_put_nowait, METH_O, "put(obj, False)"},
    {"get", (PyCFunction)(void (*)(void))Queue_get, METH_FASTCALL | METH_KEYWORDS,
     "get(block=True, timeout=None) -> the next object; queue.Empty on timeout."},
    {"get_nowait", (PyCFunction)Queue_get_nowait, METH_NOARGS, "get(False)"},
    {"qsize", (PyCFunction)Queue_qsize, METH_NOARGS,
     "The number of messages in the queue (exact when no put or get is in progress)."},
    {"empty", (PyCFunction)Queue_empty, METH_NOARGS, "Whether the queue is empty."},
    {"full", (PyCFunction)Queue_full, METH_NOARGS, "Whether the queue is full."},
    {"close", (PyCFunction)Queue_close, METH_NOARGS,
     "Release this process's handle; later calls raise ValueError."},
    {"task_done", (PyCFunction)Queue_task_done, METH_NOARGS,
     "JoinableQueue: one task taken from the queue is finished."},
    {"join", (PyCFunction)Queue_join, METH_VARARGS,
     "JoinableQueue: wait until every put was matched by task_done."},
    {"fileno", (PyCFunction)Queue_fileno, METH_NOARGS, "The queue's memfd (owned by it)."},
    {"stats", (PyCFunction)Queue_stats, METH_NOARGS, "The queue's counters as a dict."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Queue_getset[] = {
    {"_closed", (getter)Queue_get_closed, NULL, "closed in this process", NULL},
    {"_maxsize", (getter)Queue_get_maxsize, NULL, "the most messages (0: no count bound)", NULL},
    {"_joinable", (getter)Queue_get_joinable, NULL, "task_done/join available", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Queue_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mproc._mproc.Queue",
    .tp_basicsize = sizeof(QueueObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Queue(maxsize=0, *, capacity=0, joinable=False, fd=-1): a shared-memory "
              "queue of pickled objects.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Queue_init,
    .tp_dealloc = (destructor)Queue_dealloc,
    .tp_methods = Queue_methods,
    .tp_getset = Queue_getset,
};

/* set_pickler(dumps, loads): what Queue and Connection pickle with. */
static PyObject *py_set_pickler(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *d, *l;
    if (!PyArg_ParseTuple(args, "OO:set_pickler", &d, &l))
        return NULL;
    Py_XSETREF(py_dumps, Py_NewRef(d));
    Py_XSETREF(py_loads, Py_NewRef(l));
    Py_RETURN_NONE;
}

static PyMethodDef queue_functions[] = {
    {"set_pickler", py_set_pickler, METH_VARARGS,
     "set_pickler(dumps, loads): the pickling functions of Queue and Connection."},
    {NULL, NULL, 0, NULL},
};

PyObject *mproc_py_dumps(PyObject *obj)
{
    PyObject *args[2] = {obj, py_protocol};
    return PyObject_Vectorcall(py_dumps, args, 2, NULL);
}

PyObject *mproc_py_loads(PyObject *buf)
{
    return PyObject_CallOneArg(py_loads, buf);
}

PyObject *mproc_py_loads_mem(const void *p, size_t n)
{
    PyObject *mv = PyMemoryView_FromMemory((char *)p, (Py_ssize_t)n, PyBUF_READ);
    if (mv == NULL)
        return NULL;
    PyObject *obj = PyObject_CallOneArg(py_loads, mv);
    /* The memory is reused once we return: no reference may outlive it.
     * The unpickler keeps none; if anything did, release() cuts it off. */
    if (Py_REFCNT(mv) > 1) {
        PyObject *r = PyObject_CallMethod(mv, "release", NULL);
        if (r == NULL)
            Py_CLEAR(obj);
        Py_XDECREF(r);
    }
    Py_DECREF(mv);
    return obj;
}

int mproc_py_init_queue(PyObject *m)
{
    PyObject *qmod = PyImport_ImportModule("queue");
    if (qmod == NULL)
        return -1;
    queue_Empty = PyObject_GetAttrString(qmod, "Empty");
    queue_Full = PyObject_GetAttrString(qmod, "Full");
    Py_DECREF(qmod);
    PyObject *pmod = PyImport_ImportModule("pickle");
    if (pmod == NULL)
        return -1;
    py_dumps = PyObject_GetAttrString(pmod, "dumps");
    py_loads = PyObject_GetAttrString(pmod, "loads");
    Py_DECREF(pmod);
    py_protocol = PyLong_FromLong(5);
    if (!queue_Empty || !queue_Full || !py_dumps || !py_loads || !py_protocol)
        return -1;
    if (PyType_Ready(&Queue_Type) < 0)
        return -1;
    if (PyModule_AddObjectRef(m, "Queue", (PyObject *)&Queue_Type) < 0)
        return -1;
    return PyModule_AddFunctions(m, queue_functions);
}
