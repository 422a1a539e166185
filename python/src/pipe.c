/* pipe.c - the C half of mproc.connection: _mproc.Connection (one end of
 * an mproc_pipe) and _mproc.Listener (the core's named listener).
 * mproc/connection.py adds Pipe(), Client(), wait() and the context
 * manager around them.
 *
 * send(obj) sends the pickle (protocol 5) as one message, send_bytes the
 * bytes themselves; recv() unpickles whatever message comes next, exactly
 * as multiprocessing pairs them. A send returns once the whole message is
 * with the kernel (a rest the core kept after a slice is flushed before
 * returning), so a process may exit right after it.
 *
 * Threads: the core lets one thread at a time use an end, but Python
 * programs commonly receive in one thread while another sends. So every
 * call into the core here is a try that does not block (timeout 0), made
 * under the Connection's mutex, and the waiting between tries is a poll()
 * on the socket with the mutex and the GIL released (in slices, so Ctrl-C
 * works; after a short spin when linux/spin.h grants one). Holders of the
 * mutex never need the GIL, so taking it with the GIL held cannot
 * deadlock. A rest of a message that a try could not write stays in the
 * end and goes out first on the next call (the core's rule), so frames of
 * two senders never interleave.
 *
 * The peer's close (or death) after whole messages is
 * EOFError once they are read; a send to a closed peer is BrokenPipeError.
 */
#include "pywait.h"

#include "linux/spin.h"
#include "pipe_internal.h"

#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#define STACK_MSG 512

typedef struct {
    PyObject_HEAD mproc_pipe *p; /* NULL once closed; set to NULL under mu */
    int fd;                      /* the socket, for waiting without mu */
    int readable, writable;
    pthread_mutex_t mu; /* around every call into the core: never held while waiting */
    pid_t mu_pid;       /* the process mu belongs to (see conn_lock) */
} ConnObject;

typedef struct {
    PyObject_HEAD mproc_listener *l;
} ListenerObject;

static PyTypeObject Conn_Type;

static int conn_check(ConnObject *c, int want_read, int want_write)
{
    if (c->p == NULL) {
        PyErr_SetString(PyExc_OSError, "handle is closed");
        return -1;
    }
    if (want_read && !c->readable) {
        PyErr_SetString(PyExc_OSError, "connection is write-only");
        return -1;
    }
    if (want_write && !c->writable) {
        PyErr_SetString(PyExc_OSError, "connection is read-only");
        return -1;
    }
    return 0;
}

static PyObject *conn_error(long rc)
{
    switch (rc) {
    case MPROC_ECLOSED:
        PyErr_SetNone(PyExc_EOFError);
        return NULL;
    case MPROC_ECONNRESET:
        PyErr_SetString(PyExc_OSError, "got end of file during message");
        return NULL;
    case MPROC_EMSGSIZE:
        PyErr_SetString(PyExc_OSError, "bad message length");
        return NULL;
    default:
        return mproc_py_raise((int)rc);
    }
}

static ConnObject *conn_wrap(PyTypeObject *type, mproc_pipe *p, int readable, int writable)
{
    ConnObject *c = (ConnObject *)type->tp_alloc(type, 0);
    if (c == NULL) {
        mproc_pipe_close(p);
        return NULL;
    }
    c->p = p;
    c->fd = mproc_pipe_fd(p);
    c->readable = readable;
    c->writable = writable;
    pthread_mutex_init(&c->mu, NULL);
    c->mu_pid = mproc__self_pid();
    return c;
}

static void Conn_dealloc(ConnObject *c)
{
    if (c->p)
        (void)mproc_pipe_close(c->p);
    c->p = NULL;
    pthread_mutex_destroy(&c->mu);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

/* conn_lock - take the mutex. A forked child may inherit it locked by a
 * thread that does not exist there: the first use in a new process starts
 * from a fresh mutex (a child starts with one thread). */
static void conn_lock(ConnObject *c)
{
    pid_t self = mproc__self_pid();
    if (c->mu_pid != self) {
        pthread_mutex_init(&c->mu, NULL);
        c->mu_pid = self;
    }
    pthread_mutex_lock(&c->mu);
}

/* The tries: one core call that does not block, under the mutex. */
static ssize_t try_recv(ConnObject *c, void *buf, size_t cap)
{
    conn_lock(c);
    ssize_t n = c->p ? mproc_pipe_recv(c->p, buf, cap, 0) : MPROC_EBADF;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static ssize_t try_next(ConnObject *c, void *buf, size_t cap)
{
    (void)buf;
    (void)cap;
    conn_lock(c);
    ssize_t n = c->p ? mproc_pipe_next_size(c->p, 0) : MPROC_EBADF;
    pthread_mutex_unlock(&c->mu);
    return n;
}

static ssize_t try_poll(ConnObject *c, void *buf, size_t cap)
{
    (void)buf;
    (void)cap;
    conn_lock(c);
    int rc = c->p ? mproc_pipe_poll(c->p, 0) : MPROC_EBADF;
    pthread_mutex_unlock(&c->mu);
    return rc == 0 ? MPROC_EAGAIN : rc;
}

static int try_send(ConnObject *c, const char *buf, size_t len, bool flush)
{
    conn_lock(c);
    int rc;
    if (c->p == NULL)
        rc = MPROC_EBADF;
    else
        rc = flush ? mproc_pipe_flush(c->p, 0) : mproc_pipe_send(c->p, buf, len, 0);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* With the GIL released: wait at most ms for events on the socket. */
static void fd_wait(int fd, short events, int ms)
{
    struct pollfd pfd = {.fd = fd, .events = events};
    (void)poll(&pfd, 1, ms);
}

/* Send len bytes, then flush the rest a try could not write: waiting for
 * room with the GIL released; -2 when a signal handler raised. */
static int conn_send_raw(ConnObject *c, const char *buf, size_t len)
{
    int rc = try_send(c, buf, len, false);
    bool sent = rc == 0; /* accepted: what is left of it is the end's to flush */
    if (sent)
        rc = try_send(c, NULL, 0, true);
    if (rc != MPROC_EAGAIN)
        return rc;
    for (;;) {
        PyThreadState *ts = PyEval_SaveThread();
        fd_wait(c->fd, POLLOUT, MPROC_PY_SLICE_MS);
        if (!sent) {
            rc = try_send(c, buf, len, false);
            sent = rc == 0;
        }
        if (sent)
            rc = try_send(c, NULL, 0, true);
        PyEval_RestoreThread(ts);
        if (rc != MPROC_EAGAIN)
            return rc;
        if (PyErr_CheckSignals() < 0)
            return -2;
    }
}

static PyObject *send_result(int rc)
{
    if (rc == -2)
        return NULL;
    if (rc == MPROC_ECLOSED) {
        PyErr_SetString(PyExc_BrokenPipeError, "the other end of the connection is closed");
        return NULL;
    }
    if (rc == MPROC_EMSGSIZE) {
        PyErr_SetString(PyExc_ValueError, "message too long for a Connection (1 GiB at most)");
        return NULL;
    }
    if (rc < 0)
        return conn_error(rc);
    Py_RETURN_NONE;
}

static PyObject *Conn_send(ConnObject *c, PyObject *obj)
{
    if (conn_check(c, 0, 1) < 0)
        return NULL;
    PyObject *msg = mproc_py_dumps(obj);
    if (msg == NULL)
        return NULL;
    if (!PyBytes_Check(msg)) {
        Py_DECREF(msg);
        PyErr_SetString(PyExc_TypeError, "the pickler did not return bytes");
        return NULL;
    }
    int rc = conn_send_raw(c, PyBytes_AS_STRING(msg), (size_t)PyBytes_GET_SIZE(msg));
    Py_DECREF(msg);
    return send_result(rc);
}

static PyObject *Conn_send_bytes(ConnObject *c, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"buf", "offset", "size", NULL};
    Py_buffer view;
    Py_ssize_t offset = 0;
    PyObject *size_o = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "y*|nO:send_bytes", kwlist, &view, &offset, &size_o))
        return NULL;
    PyObject *ret = NULL;
    Py_ssize_t n = view.len;
    if (offset < 0) {
        PyErr_SetString(PyExc_ValueError, "offset is negative");
        goto out;
    }
    if (n < offset) {
        PyErr_SetString(PyExc_ValueError, "buffer length < offset");
        goto out;
    }
    Py_ssize_t size = n - offset;
    if (size_o != Py_None) {
        size = PyLong_AsSsize_t(size_o);
        if (size == -1 && PyErr_Occurred())
            goto out;
        if (size < 0) {
            PyErr_SetString(PyExc_ValueError, "size is negative");
            goto out;
        }
        if (offset + size > n) {
            PyErr_SetString(PyExc_ValueError, "buffer length < offset + size");
            goto out;
        }
    }
    if (conn_check(c, 0, 1) < 0)
        goto out;
    ret = send_result(conn_send_raw(c, (const char *)view.buf + offset, (size_t)size));
out:
    PyBuffer_Release(&view);
    return ret;
}

/* Receive the next message into buf (cap bytes), waiting as long as it
 * takes (-2: a signal handler raised). */
static struct mproc__spin_site recv_spin_site;

/* With the GIL released: wait until the socket has bytes, spinning on
 * poll(fd, 0) for the budget linux/spin.h grants (none when the peer may
 * need this CPU); a round trip then costs no sleep and wake-up. True when
 * bytes came while spinning. */
static bool conn_spin(int fd, struct mproc__spin *sp)
{
    mproc__spin_begin(sp, &recv_spin_site, -1, NULL);
    while (mproc__spin_more(sp)) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 0) > 0) {
            mproc__spin_end(sp, true);
            return true;
        }
    }
    return false;
}

typedef ssize_t (*try_fn)(ConnObject *c, void *buf, size_t cap);

/* Run a receive-side try until it has something to say, at most ms
 * (MPROC_FOREVER; 0: once): MPROC_ETIMEDOUT when the time ran out, -2 when a
 * signal handler raised. */
static ssize_t conn_wait_in(ConnObject *c, try_fn fn, void *buf, size_t cap, int ms)
{
    ssize_t n = fn(c, buf, cap);
    if (n != MPROC_EAGAIN || ms == 0)
        return n;
    struct mproc_py_wait w;
    mproc_py_wait_init(&w, ms);
    struct mproc__spin sp;
    bool spun = false, slept = false;
    for (;;) {
        int s = mproc_py_wait_next(&w);
        if (s < 0)
            return MPROC_ETIMEDOUT;
        PyThreadState *ts = PyEval_SaveThread();
        if (!spun) {
            spun = true;
            slept = !conn_spin(c->fd, &sp);
            if (slept)
                fd_wait(c->fd, POLLIN, s);
        } else {
            fd_wait(c->fd, POLLIN, s);
        }
        n = fn(c, buf, cap);
        if (slept && n != MPROC_EAGAIN) {
            mproc__spin_woken(&sp);
            slept = false;
        }
        PyEval_RestoreThread(ts);
        if (n != MPROC_EAGAIN)
            return n;
        if (PyErr_CheckSignals() < 0)
            return -2;
    }
}

static ssize_t conn_read(ConnObject *c, void *buf, size_t cap)
{
    return conn_wait_in(c, try_recv, buf, cap, MPROC_FOREVER);
}

static ssize_t conn_next(ConnObject *c, int ms)
{
    return conn_wait_in(c, try_next, NULL, 0, ms);
}

/* The next message as bytes (block forever), or NULL. */
static PyObject *conn_recv_bytes(ConnObject *c, Py_ssize_t maxlength)
{
    ssize_t n = conn_next(c, MPROC_FOREVER);
    if (n == -2)
        return NULL;
    if (n < 0)
        return conn_error(n);
    if (maxlength >= 0 && n > maxlength) {
        PyErr_SetString(PyExc_OSError, "bad message length");
        return NULL;
    }
    PyObject *b = PyBytes_FromStringAndSize(NULL, n);
    if (b == NULL)
        return NULL;
    ssize_t got = conn_read(c, PyBytes_AS_STRING(b), (size_t)n);
    if (got != n) {
        Py_DECREF(b);
        if (got == -2)
            return NULL;
        return conn_error(got < 0 ? got : MPROC_EPROTO);
    }
    return b;
}

static PyObject *Conn_recv(ConnObject *c, PyObject *unused)
{
    (void)unused;
    if (conn_check(c, 1, 0) < 0)
        return NULL;
    /* Most pickles are small: receive into the stack, waiting in slices
     * with the GIL released (a ping-pong rarely finds its answer already
     * there, so there is no try with the GIL first). */
    char small[STACK_MSG];
    ssize_t n = conn_read(c, small, sizeof small);
    if (n >= 0) {
        return mproc_py_loads_mem(small, (size_t)n);
    }
    if (n == -2)
        return NULL;
    if (n != MPROC_EMSGSIZE)
        return conn_error(n);
    PyObject *b = conn_recv_bytes(c, -1);
    if (b == NULL)
        return NULL;
    PyObject *obj = mproc_py_loads(b);
    Py_DECREF(b);
    return obj;
}

static PyObject *Conn_recv_bytes(ConnObject *c, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"maxlength", NULL};
    PyObject *maxo = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:recv_bytes", kwlist, &maxo))
        return NULL;
    Py_ssize_t maxlength = -1;
    if (maxo != Py_None) {
        maxlength = PyLong_AsSsize_t(maxo);
        if (maxlength == -1 && PyErr_Occurred())
            return NULL;
        if (maxlength < 0) {
            PyErr_SetString(PyExc_ValueError, "negative maxlength");
            return NULL;
        }
    }
    if (conn_check(c, 1, 0) < 0)
        return NULL;
    return conn_recv_bytes(c, maxlength);
}

/* _recv_into(buf, offset) -> bytes written at offset, or -1 - size when the
 * next message (left in the pipe) does not fit. */
static PyObject *Conn_recv_into(ConnObject *c, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t offset = 0;
    if (!PyArg_ParseTuple(args, "w*|n:_recv_into", &view, &offset))
        return NULL;
    PyObject *ret = NULL;
    if (offset < 0 || offset > view.len) {
        PyErr_SetString(PyExc_ValueError, offset < 0 ? "negative offset" : "offset too large");
        goto out;
    }
    if (conn_check(c, 1, 0) < 0)
        goto out;
    ssize_t n = conn_next(c, MPROC_FOREVER);
    if (n == -2)
        goto out;
    if (n < 0) {
        conn_error(n);
        goto out;
    }
    if (n > view.len - offset) {
        ret = PyLong_FromSsize_t(-1 - n);
        goto out;
    }
    ssize_t got = conn_read(c, (char *)view.buf + offset, (size_t)(view.len - offset));
    if (got == -2)
        goto out;
    if (got < 0) {
        conn_error(got);
        goto out;
    }
    ret = PyLong_FromSsize_t(got);
out:
    PyBuffer_Release(&view);
    return ret;
}

static PyObject *Conn_poll(ConnObject *c, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *timeout = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O:poll", kwlist, &timeout))
        return NULL;
    if (conn_check(c, 1, 0) < 0)
        return NULL;
    int ms = 0;
    if (timeout != NULL && mproc_py_timeout_ms(timeout, 1, &ms) < 0)
        return NULL;
    ssize_t rc = conn_wait_in(c, try_poll, NULL, 0, ms);
    if (rc == -2)
        return NULL;
    if (rc == MPROC_EAGAIN || rc == MPROC_ETIMEDOUT)
        Py_RETURN_FALSE;
    if (rc < 0)
        return conn_error(rc);
    Py_RETURN_TRUE;
}

static PyObject *Conn_fileno(ConnObject *c, PyObject *unused)
{
    (void)unused;
    if (conn_check(c, 0, 0) < 0)
        return NULL;
    return PyLong_FromLong(c->fd);
}

static PyObject *Conn_close(ConnObject *c, PyObject *unused)
{
    (void)unused;
    conn_lock(c);
    mproc_pipe *p = c->p;
    c->p = NULL;
    if (p)
        (void)mproc_pipe_close(p);
    pthread_mutex_unlock(&c->mu);
    Py_RETURN_NONE;
}

/* _handover() -> (fd, readable, writable): a new close-on-exec descriptor
 * of the socket for a spawned child (the caller closes it). */
static PyObject *Conn_handover(ConnObject *c, PyObject *unused)
{
    (void)unused;
    if (conn_check(c, 0, 0) < 0)
        return NULL;
    int fd;
    bool s, r;
    conn_lock(c);
    int rc = c->p ? mproc__pipe_handover(c->p, &fd, &s, &r) : MPROC_EBADF;
    pthread_mutex_unlock(&c->mu);
    if (rc == MPROC_EBUSY) {
        PyErr_SetString(PyExc_ValueError,
                        "this Connection holds received data not read yet: read it before "
                        "handing the Connection to a child");
        return NULL;
    }
    if (rc < 0)
        return conn_error(rc);
    return Py_BuildValue("(iOO)", fd, r ? Py_True : Py_False, s ? Py_True : Py_False);
}

/* _from_fd(fd, readable, writable): adopt a connected socket (owns fd). */
static PyObject *Conn_from_fd(PyObject *type, PyObject *args)
{
    int fd, r, w;
    if (!PyArg_ParseTuple(args, "ipp:_from_fd", &fd, &r, &w))
        return NULL;
    mproc_pipe *p;
    int rc = mproc__pipe_wrap(fd, w, r, &p);
    if (rc < 0)
        return conn_error(rc);
    return (PyObject *)conn_wrap((PyTypeObject *)type, p, r, w);
}

static PyObject *Conn_get_closed(ConnObject *c, void *cl)
{
    (void)cl;
    return PyBool_FromLong(c->p == NULL);
}

static PyObject *Conn_get_readable(ConnObject *c, void *cl)
{
    (void)cl;
    return PyBool_FromLong(c->readable);
}

static PyObject *Conn_get_writable(ConnObject *c, void *cl)
{
    (void)cl;
    return PyBool_FromLong(c->writable);
}

static PyMethodDef Conn_methods[] = {
    {"send", (PyCFunction)Conn_send, METH_O, "send(obj): send the pickled object."},
    {"recv", (PyCFunction)Conn_recv, METH_NOARGS,
     "recv() -> the next object; EOFError once the peer closed and all was read."},
    {"send_bytes", (PyCFunction)(void (*)(void))Conn_send_bytes, METH_VARARGS | METH_KEYWORDS,
     "send_bytes(buf, offset=0, size=None): send bytes as one message."},
    {"recv_bytes", (PyCFunction)(void (*)(void))Conn_recv_bytes, METH_VARARGS | METH_KEYWORDS,
     "recv_bytes(maxlength=None) -> the next message as bytes."},
    {"_recv_into", (PyCFunction)Conn_recv_into, METH_VARARGS,
     "_recv_into(buf, offset) -> size, or -1 - size if it does not fit."},
    {"poll", (PyCFunction)(void (*)(void))Conn_poll, METH_VARARGS | METH_KEYWORDS,
     "poll(timeout=0.0) -> whether a message can be read (None: wait as long as it takes)."},
    {"fileno", (PyCFunction)Conn_fileno, METH_NOARGS, "The socket (owned by the connection)."},
    {"close", (PyCFunction)Conn_close, METH_NOARGS, "Close this end."},
    {"_handover", (PyCFunction)Conn_handover, METH_NOARGS, NULL},
    {"_from_fd", (PyCFunction)Conn_from_fd, METH_VARARGS | METH_CLASS, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Conn_getset[] = {
    {"closed", (getter)Conn_get_closed, NULL, "True once closed", NULL},
    {"readable", (getter)Conn_get_readable, NULL, "True if this end receives", NULL},
    {"writable", (getter)Conn_get_writable, NULL, "True if this end sends", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Conn_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mproc._mproc.Connection",
    .tp_basicsize = sizeof(ConnObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "One end of a Pipe: framed messages over a socket pair.",
    .tp_dealloc = (destructor)Conn_dealloc,
    .tp_methods = Conn_methods,
    .tp_getset = Conn_getset,
};

/* pipe(duplex, cls) -> (conn1, conn2): with duplex false conn1 only
 * receives and conn2 only sends. */
static PyObject *py_pipe(PyObject *self, PyObject *args)
{
    (void)self;
    int duplex;
    PyObject *cls;
    if (!PyArg_ParseTuple(args, "pO!:pipe", &duplex, &PyType_Type, &cls))
        return NULL;
    if (!PyType_IsSubtype((PyTypeObject *)cls, &Conn_Type)) {
        PyErr_SetString(PyExc_TypeError, "cls must be a Connection type");
        return NULL;
    }
    mproc_pipe *a, *b;
    int rc = mproc_pipe_create(&a, &b, duplex ? MPROC_PIPE_DUPLEX : MPROC_PIPE_ONEWAY);
    if (rc < 0)
        return mproc_py_raise(rc);
    ConnObject *ca = conn_wrap((PyTypeObject *)cls, a, 1, duplex);
    ConnObject *cb = conn_wrap((PyTypeObject *)cls, b, duplex, 1);
    if (ca == NULL || cb == NULL) {
        Py_XDECREF(ca);
        Py_XDECREF(cb);
        return NULL;
    }
    PyObject *t = PyTuple_Pack(2, ca, cb);
    Py_DECREF(ca);
    Py_DECREF(cb);
    return t;
}

/* connect(name, timeout, cls) -> Connection to the listener `name`. */
static PyObject *py_connect(PyObject *self, PyObject *args)
{
    (void)self;
    const char *name;
    PyObject *timeout, *cls;
    if (!PyArg_ParseTuple(args, "sOO!:connect", &name, &timeout, &PyType_Type, &cls))
        return NULL;
    int ms;
    if (mproc_py_timeout_ms(timeout, 1, &ms) < 0)
        return NULL;
    struct mproc_py_wait w;
    mproc_py_wait_init(&w, ms);
    mproc_pipe *p = NULL;
    int rc;
    for (;;) {
        int s = mproc_py_wait_next(&w);
        if (s < 0) {
            rc = MPROC_ETIMEDOUT;
            break;
        }
        PyThreadState *ts = PyEval_SaveThread();
        rc = mproc_pipe_connect(&p, name, s);
        PyEval_RestoreThread(ts);
        int more = mproc_py_wait_more(&w, rc);
        if (more < 0)
            return NULL;
        if (!more)
            break;
    }
    if (rc == MPROC_ECONNREFUSED || rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN) {
        PyErr_Format(PyExc_ConnectionRefusedError, "no listener named %R",
                     PyTuple_GET_ITEM(args, 0));
        return NULL;
    }
    if (rc < 0)
        return mproc_py_raise(rc);
    return (PyObject *)conn_wrap((PyTypeObject *)cls, p, 1, 1);
}

static int Listener_init(ListenerObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"name", "any_uid", NULL};
    const char *name;
    int any = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|p:Listener", kwlist, &name, &any))
        return -1;
    if (self->l) {
        PyErr_SetString(PyExc_RuntimeError, "Listener already initialised");
        return -1;
    }
    int rc = mproc_listener_create(&self->l, name, any ? MPROC_LISTENER_ANY_UID : 0);
    if (rc < 0) {
        self->l = NULL;
        if (rc == MPROC_EEXIST)
            PyErr_Format(PyExc_OSError, "address %s is already in use", name);
        else
            mproc_py_raise(rc);
        return -1;
    }
    return 0;
}

static void Listener_dealloc(ListenerObject *self)
{
    if (self->l)
        (void)mproc_listener_close(self->l);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* _accept(timeout, cls) -> Connection, or None on timeout. */
static PyObject *Listener_accept(ListenerObject *self, PyObject *args)
{
    PyObject *timeout, *cls;
    if (!PyArg_ParseTuple(args, "OO!:_accept", &timeout, &PyType_Type, &cls))
        return NULL;
    if (self->l == NULL) {
        PyErr_SetString(PyExc_OSError, "listener is closed");
        return NULL;
    }
    int ms;
    if (mproc_py_timeout_ms(timeout, 1, &ms) < 0)
        return NULL;
    struct mproc_py_wait w;
    mproc_py_wait_init(&w, ms);
    mproc_pipe *p = NULL;
    int rc;
    for (;;) {
        int s = mproc_py_wait_next(&w);
        if (s < 0) {
            rc = MPROC_ETIMEDOUT;
            break;
        }
        PyThreadState *ts = PyEval_SaveThread();
        rc = mproc_listener_accept(self->l, &p, s);
        PyEval_RestoreThread(ts);
        int more = mproc_py_wait_more(&w, rc);
        if (more < 0)
            return NULL;
        if (!more)
            break;
        if (self->l == NULL) {
            rc = MPROC_EBADF;
            break;
        }
    }
    if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
        Py_RETURN_NONE;
    if (rc < 0)
        return mproc_py_raise(rc);
    return (PyObject *)conn_wrap((PyTypeObject *)cls, p, 1, 1);
}

static PyObject *Listener_close(ListenerObject *self, PyObject *unused)
{
    (void)unused;
    if (self->l) {
        mproc_listener *l = self->l;
        self->l = NULL;
        (void)mproc_listener_close(l);
    }
    Py_RETURN_NONE;
}

static PyObject *Listener_fileno(ListenerObject *self, PyObject *unused)
{
    (void)unused;
    if (self->l == NULL) {
        PyErr_SetString(PyExc_OSError, "listener is closed");
        return NULL;
    }
    return PyLong_FromLong(mproc_listener_fd(self->l));
}

static PyMethodDef Listener_methods[] = {
    {"_accept", (PyCFunction)Listener_accept, METH_VARARGS, NULL},
    {"close", (PyCFunction)Listener_close, METH_NOARGS, "Stop listening."},
    {"fileno", (PyCFunction)Listener_fileno, METH_NOARGS, "The listening socket."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject Listener_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mproc._mproc.Listener",
    .tp_basicsize = sizeof(ListenerObject),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "Listener(name, any_uid=False): a named local listener.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Listener_init,
    .tp_dealloc = (destructor)Listener_dealloc,
    .tp_methods = Listener_methods,
};

static PyMethodDef pipe_functions[] = {
    {"pipe", py_pipe, METH_VARARGS, "pipe(duplex, cls) -> (conn1, conn2)"},
    {"connect", py_connect, METH_VARARGS, "connect(name, timeout, cls) -> Connection"},
    {NULL, NULL, 0, NULL},
};

int mproc_py_init_pipe(PyObject *m)
{
    if (PyType_Ready(&Conn_Type) < 0 || PyType_Ready(&Listener_Type) < 0)
        return -1;
    if (PyModule_AddObjectRef(m, "Connection", (PyObject *)&Conn_Type) < 0 ||
        PyModule_AddObjectRef(m, "Listener", (PyObject *)&Listener_Type) < 0)
        return -1;
    return PyModule_AddFunctions(m, pipe_functions);
}
