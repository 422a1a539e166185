/* pool.c - mproc._mproc.PoolCore: multiprocessing.Pool's engine on the C
 * pool (src/pool), for mproc.pool.Pool and mproc.futures.ProcessPoolExecutor.
 *
 * Model
 * -----
 * One C pool per Pool, in background mode: the core's service thread
 * dispatches chunks and collects results while Python does anything else.
 * Workers are forked by the core (through the fork hooks of fork.c) and run
 * one C task function, py_task, on every item. A job is one async map of
 * the core (mproc_pool_map_async) over n items:
 *
 *   - map/starmap/map_async/apply_async/imap chunks/submit are all jobs;
 *     a synchronous map sends its calls as several jobs (one per chunk, or
 *     MAP_BATCH single calls) and waits for them in the calling thread
 *     (GIL released, in slices so that Ctrl-C is seen), unpickling each
 *     as it finishes while the next ones run;
 *   - an async job carries a Python callable; when the core finishes it
 *     (on the service thread, under the pool's lock, without the GIL) its
 *     record moves to the done list, which collect() hands to Python (one
 *     handler thread in pool.py, as multiprocessing's result handler).
 *
 * Items (the input of one task): struct item_hdr, then the pickled
 * function and the pickled arguments. Every item of a job has the same
 * stride (the largest item's size); an item larger than IN_INLINE_MAX
 * travels in a file of /dev/shm instead (its name inline), written by the
 * owner and removed when the job is collected. Results: one kind byte
 * (value, exception, or either of them in a file), then the pickle (or the
 * file's name): a result that does not fit the job's out_size is written
 * by the worker to a file that the owner reads and removes. Files are named
 * mproc-py-<owner pid>-<pool>-<random>, 0600, O_EXCL|O_NOFOLLOW; closing the
 * pool removes any of its own that are left (a worker killed mid-write).
 *
 * In the worker the GIL is taken per task (PyEval_RestoreThread/SaveThread
 * on the thread state worker_init kept), so threads a task starts can run
 * between tasks. The function is unpickled once per worker as long as the
 * same pickled bytes come (the last one is cached).
 *
 * Locks: the pool's lock (core) is never taken with the GIL held (the
 * service thread takes the GIL while holding it, to fork a replacement
 * worker), so every core call from here releases the GIL first. The done
 * list has a mutex of its own, taken under the pool's lock by on_done and
 * alone by collect().
 */
#include "mproc_py.h"
#include "pywait.h"

#include "internal.h"
#include "pool/engine.h"
#include "pool/local_owner.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Kinds of call an item makes. */
enum { CALL_ONE = 0, CALL_STAR = 1, CALL_ARGS_KWARGS = 2 };
/* An item that is a chunk of calls (chunksize > 1, as multiprocessing's
 * tasks): its arguments are a list, its result (results, exception bytes
 * or None) where the calls stopped at the first exception. */
#define CALL_CHUNK 4
/* Kinds of result (first byte of a result). */
enum { RES_VALUE = 0, RES_EXC = 1, RES_FILE = 2 /* | RES_EXC */ };

struct item_hdr {
    uint8_t call;
    uint8_t in_file; /* 1: the function and arguments are in the file named inline */
    uint16_t pad;
    uint32_t func_len;
    uint32_t args_len;
};

#define IN_INLINE_MAX (256u * 1024) /* larger items travel in a file */
#define OUT_MIN 64u                 /* room for a file name at least */
#define OUT_MAX (256u * 1024)       /* the most result capacity a job gets per item */
#define OUT_BUDGET (32u << 20)      /* result capacity of one job, all items (then OUT_MIN) */
#define SLOT_BYTES (1u << 20)       /* one C slot holds the largest inline item + result */
#define FILE_NAME_MAX 64u

#define MAP_BATCH 512        /* single calls per job of a synchronous map */
#define ST_PENDING INT32_MIN /* an item's status before the core delivers it */

static PyObject *pk_dumps, *pk_loads, *pk_PicklingError;
static PyObject *py_protocol;            /* 5 */
static PyObject *h_wrap_exc, *h_rebuild; /* helpers from mproc.pool */
static PyObject *WorkerLostError, *TaskTimeoutError;

/* Fork hooks: fork.c (pycore) installs Python's. Until it is part of the
 * module, pool.c installs the same steps, unless fork.c is linked in. */
#pragma weak mproc_py_init_fork
int mproc_py_init_fork(PyObject *module);

static _Thread_local PyGILState_STATE pool_fork_gil;
static void pool_fork_prepare(void)
{
    pool_fork_gil = PyGILState_Ensure();
    PyOS_BeforeFork();
}
static void pool_fork_parent(void)
{
    PyOS_AfterFork_Parent();
    PyGILState_Release(pool_fork_gil);
}
static void pool_fork_child(void)
{
    PyOS_AfterFork_Child();
    if (pool_fork_gil == PyGILState_LOCKED)
        PyGILState_Release(pool_fork_gil);
    else
        (void)PyEval_SaveThread();
}

/* Files for large items and results ----------------------------------------- */

static void file_name(char *out, pid_t owner, unsigned pool_id)
{
    uint64_t r = 0;
    (void)mproc__random_bytes(&r, sizeof r);
    snprintf(out, FILE_NAME_MAX, "/mproc-py-%d-%u-%016llx", (int)owner, pool_id,
             (unsigned long long)r);
}

/* Write len bytes to a new file; 0 or -errno. */
static int file_write(const char *name, const void *buf, size_t len)
{
    int fd = shm_open(name, O_CREAT | O_EXCL | O_RDWR | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = -errno;
            close(fd);
            shm_unlink(name);
            return e;
        }
        p += w;
        len -= (size_t)w;
    }
    close(fd);
    return 0;
}

/* The file's bytes as a new bytes object (GIL held), or NULL with an
 * exception; removes it when unlink is set. */
static PyObject *file_read(const char *name, int unlink_it)
{
    int fd = shm_open(name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC, 0);
    if (fd < 0)
        return PyErr_Format(mproc_py_Error, "mproc.pool: lost the data file %s: %s", name,
                            strerror(errno));
    struct stat st;
    PyObject *b = NULL;
    if (fstat(fd, &st) == 0 && (b = PyBytes_FromStringAndSize(NULL, st.st_size))) {
        char *p = PyBytes_AS_STRING(b);
        size_t left = (size_t)st.st_size;
        while (left > 0) {
            ssize_t r = read(fd, p, left);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                Py_CLEAR(b);
                PyErr_SetString(mproc_py_Error, "mproc.pool: short read of a data file");
                break;
            }
            p += r;
            left -= (size_t)r;
        }
    }
    close(fd);
    if (unlink_it)
        shm_unlink(name);
    return b;
}

/* Remove what is left of the files of pool pool_id of this process. */
static void files_sweep(pid_t owner, unsigned pool_id)
{
    char prefix[48];
    int n = snprintf(prefix, sizeof prefix, "mproc-py-%d-%u-", (int)owner, pool_id);
    DIR *d = opendir("/dev/shm");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, prefix, (size_t)n) == 0) {
            char name[300];
            snprintf(name, sizeof name, "/%s", e->d_name);
            shm_unlink(name);
        }
    }
    closedir(d);
}

/* The worker side ----------------------------------------------------------- */

static PyThreadState *w_ts; /* the worker's thread state, between tasks */
static PyObject *w_func;    /* the last function unpickled */
static char *w_func_bytes;
static size_t w_func_len;
static pid_t w_owner;
static unsigned w_pool_id;

static int worker_init(void *arg);

static void flush_std(void)
{
    static const char *const names[] = {"stdout", "stderr"};
    for (int i = 0; i < 2; i++) {
        PyObject *s = PySys_GetObject(names[i]); /* borrowed */
        if (s && s != Py_None) {
            PyObject *r = PyObject_CallMethod(s, "flush", NULL);
            if (!r)
                PyErr_Clear();
            Py_XDECREF(r);
        }
    }
}

/* Store a result (kind + bytes) into out, or into a file named in out. */
static int put_result(uint8_t kind, PyObject *bytes, unsigned char *out, size_t *out_len)
{
    size_t len = (size_t)PyBytes_GET_SIZE(bytes);
    if (1 + len <= *out_len) {
        out[0] = kind;
        memcpy(out + 1, PyBytes_AS_STRING(bytes), len);
        *out_len = 1 + len;
        return 0;
    }
    char name[FILE_NAME_MAX];
    file_name(name, w_owner, w_pool_id);
    int rc = file_write(name, PyBytes_AS_STRING(bytes), len);
    if (rc < 0)
        return rc;
    size_t nl = strlen(name);
    out[0] = (uint8_t)(kind | RES_FILE);
    memcpy(out + 1, name, nl);
    *out_len = 1 + nl;
    return 0;
}

/* The pending exception as _wrap_exception's bytes (cleared), or NULL. */
static PyObject *exception_bytes(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (tb && v)
        PyException_SetTraceback(v, tb);
    PyObject *b = v && h_wrap_exc ? PyObject_CallOneArg(h_wrap_exc, v) : NULL;
    Py_XDECREF(t);
    Py_XDECREF(v);
    Py_XDECREF(tb);
    return b;
}

/* Encode the pending exception as the item's result. */
static int put_exception(unsigned char *out, size_t *out_len)
{
    PyObject *b = exception_bytes();
    int rc;
    if (b && PyBytes_Check(b)) {
        rc = put_result(RES_EXC, b, out, out_len);
    } else {
        PyErr_Clear();
        rc = MPROC_ETASKFAILED;
    }
    Py_XDECREF(b);
    return rc;
}

static PyObject *get_func(const char *p, size_t len)
{
    if (w_func && len == w_func_len && memcmp(p, w_func_bytes, len) == 0)
        return Py_NewRef(w_func);
    PyObject *mv = PyMemoryView_FromMemory((char *)p, (Py_ssize_t)len, PyBUF_READ);
    PyObject *f = mv ? PyObject_CallOneArg(pk_loads, mv) : NULL;
    Py_XDECREF(mv);
    if (!f)
        return NULL;
    char *copy = PyMem_RawMalloc(len ? len : 1);
    if (copy) {
        memcpy(copy, p, len);
        PyMem_RawFree(w_func_bytes);
        Py_XSETREF(w_func, Py_NewRef(f));
        w_func_bytes = copy;
        w_func_len = len;
    }
    return f;
}

static PyObject *exception_bytes(void);

/* The calls of a chunk: (results, None), or (results so far, the first
 * exception as _wrap_exception's bytes). */
static PyObject *run_chunk(PyObject *func, PyObject *a, int call)
{
    if (!PyList_Check(a))
        return PyErr_Format(mproc_py_Error, "mproc.pool: a corrupt task chunk");
    Py_ssize_t n = PyList_GET_SIZE(a);
    PyObject *res = PyList_New(0), *exc = NULL;
    if (!res)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *x = PyList_GET_ITEM(a, i), *r;
        if (call == CALL_STAR) {
            PyObject *t = PySequence_Tuple(x);
            r = t ? PyObject_Call(func, t, NULL) : NULL;
            Py_XDECREF(t);
        } else {
            r = PyObject_CallOneArg(func, x);
        }
        if (!r) {
            exc = exception_bytes();
            if (!exc) {
                Py_DECREF(res);
                return NULL;
            }
            break;
        }
        int rc = PyList_Append(res, r);
        Py_DECREF(r);
        if (rc < 0) {
            Py_DECREF(res);
            return NULL;
        }
    }
    PyObject *t = PyTuple_Pack(2, res, exc ? exc : Py_None);
    Py_DECREF(res);
    Py_XDECREF(exc);
    return t;
}

static PyObject *run_item(const unsigned char *in, size_t in_len, PyObject **hold)
{
    struct item_hdr h;
    if (in_len < sizeof h)
        return PyErr_Format(mproc_py_Error, "mproc.pool: a corrupt task item");
    memcpy(&h, in, sizeof h);
    const char *p = (const char *)in + sizeof h;
    size_t avail = in_len - sizeof h;
    if (h.in_file) {
        char name[FILE_NAME_MAX];
        size_t nl = strnlen(p, avail < FILE_NAME_MAX - 1 ? avail : FILE_NAME_MAX - 1);
        memcpy(name, p, nl);
        name[nl] = '\0';
        *hold = file_read(name, 0);
        if (!*hold)
            return NULL;
        p = PyBytes_AS_STRING(*hold);
        avail = (size_t)PyBytes_GET_SIZE(*hold);
    }
    if ((uint64_t)h.func_len + h.args_len > avail)
        return PyErr_Format(mproc_py_Error, "mproc.pool: a corrupt task item");
    PyObject *func = get_func(p, h.func_len);
    if (!func)
        return NULL;
    PyObject *mv = PyMemoryView_FromMemory((char *)p + h.func_len, h.args_len, PyBUF_READ);
    PyObject *a = mv ? PyObject_CallOneArg(pk_loads, mv) : NULL;
    Py_XDECREF(mv);
    PyObject *r = NULL;
    if (a && (h.call & CALL_CHUNK)) {
        r = run_chunk(func, a, h.call & ~CALL_CHUNK);
    } else if (a) {
        if (h.call == CALL_ONE) {
            r = PyObject_CallOneArg(func, a);
        } else if (h.call == CALL_STAR) {
            PyObject *t = PySequence_Tuple(a);
            r = t ? PyObject_Call(func, t, NULL) : NULL;
            Py_XDECREF(t);
        } else if (PyTuple_Check(a) && PyTuple_GET_SIZE(a) == 2 &&
                   PyTuple_Check(PyTuple_GET_ITEM(a, 0))) {
            PyObject *kw = PyTuple_GET_ITEM(a, 1);
            r = PyObject_Call(func, PyTuple_GET_ITEM(a, 0), kw == Py_None ? NULL : kw);
        } else {
            PyErr_SetString(mproc_py_Error, "mproc.pool: a corrupt task item");
        }
    }
    Py_XDECREF(a);
    Py_DECREF(func);
    return r;
}

/* The task every item runs (see "Items" above). It always returns 0: a
 * Python exception is the item's result; only a result that cannot be
 * stored at all fails the item with a code. */
static int py_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    if (!w_ts)
        return MPROC_EINVAL;
    PyEval_RestoreThread(w_ts);
    PyObject *hold = NULL;
    PyObject *r = run_item(in, in_len, &hold);
    Py_XDECREF(hold);
    int rc;
    PyObject *b = r ? PyObject_CallFunctionObjArgs(pk_dumps, r, py_protocol, NULL) : NULL;
    Py_XDECREF(r);
    if (b) {
        rc = put_result(RES_VALUE, b, out, out_len);
        Py_DECREF(b);
    } else {
        rc = put_exception(out, out_len);
    }
    flush_std();
    w_ts = PyEval_SaveThread();
    return rc;
}

/* The owner side ------------------------------------------------------------ */

typedef struct PoolCore PoolCore;

struct pjob {
    struct pjob *next, *prev;
    PoolCore *core;
    mproc_future *f;
    uint64_t id;
    PyObject *cb;   /* async: called by the handler as cb(results, errors) */
    size_t n;       /* items of the C job */
    size_t nitems;  /* calls: n, or more when each item is a chunk */
    size_t pychunk; /* calls per item (1, or the chunk size of CALL_CHUNK) */
    int call;
    unsigned char *in;
    size_t in_stride;
    unsigned char *out;
    size_t out_size;
    int *st;
    size_t *olen;
    struct mproc_pool_error *err;
    char (*files)[FILE_NAME_MAX]; /* input files to remove */
    size_t nfiles;
    /* Streamed jobs (imap): calls are handed over as they arrive. Under
     * the pool's lock: rep (1 per item handed over), lo (the lowest item
     * not handed over); under self->mu: finished, pqueued, pnext. */
    bool stream;
    bool finished; /* on_done ran */
    bool pqueued;  /* on the partial list */
    struct pjob *pnext;
    unsigned char *rep;
    size_t lo;
    size_t *newly; /* collect(): items to hand over now */
    size_t nnew;
};

struct PoolCore {
    PyObject_HEAD mproc_pool *pool;
    pid_t owner;
    unsigned id;
    int workers;
    /* Result capacity per item, learned from results that did not fit:
     * one for single calls, one for chunks of calls. */
    _Atomic unsigned out_hint[2];
    PyObject *initializer, *initargs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct pjob *outstanding; /* async jobs not finished */
    struct pjob *done_head, *done_tail;
    struct pjob *partial_head, *partial_tail; /* streamed jobs with news */
    /* The pool as calls that run without the GIL may use it (collect()'s
     * scans of streamed jobs, submitting, abandoning, terminating, joining;
     * NULL once close begins), and how many such uses are under way: close
     * waits for them before it frees the pool. Both under mu. */
    mproc_pool *scan_pool;
    int scanning;
    uint64_t next_id;
    bool stopping; /* collect() returns None once nothing is left */
};

static _Atomic unsigned pool_seq;

/* Runs first in every worker (the core's initializer), with arg the
 * PoolCore, inherited by fork: keeps a thread state for the tasks and runs
 * the Python initializer. */
static int worker_init(void *arg)
{
    PoolCore *self = arg;
    (void)PyGILState_Ensure(); /* kept for the life of the worker */
    w_owner = self->owner;
    w_pool_id = self->id;
    int rc = 0;
    if (self->initializer && self->initializer != Py_None) {
        PyObject *r = PyObject_CallObject(self->initializer, self->initargs);
        if (!r) {
            PyObject *t, *v, *tb;
            PyErr_Fetch(&t, &v, &tb);
            PyErr_NormalizeException(&t, &v, &tb);
            fprintf(stderr, "mproc.pool: the initializer failed in worker %d:\n", (int)getpid());
            fflush(stderr);
            if (v)
                PyErr_Display(t, v, tb);
            Py_XDECREF(t);
            Py_XDECREF(v);
            Py_XDECREF(tb);
            rc = 1;
        }
        Py_XDECREF(r);
    }
    w_ts = PyEval_SaveThread();
    return rc;
}

static void pjob_free(struct pjob *j)
{
    if (!j)
        return;
    for (size_t i = 0; i < j->nfiles; i++)
        shm_unlink(j->files[i]);
    free(j->files);
    free(j->in);
    free(j->out);
    free(j->st);
    free(j->olen);
    free(j->err);
    free(j->rep);
    free(j->newly);
    Py_XDECREF(j->cb);
    free(j);
}

/* Pickle func once and every item into one array of items; returns the job
 * (no future yet) or NULL with an exception. */
/* The task function, pickled (by reference for a plain function), or NULL
 * with a PicklingError that says why. */
/* The class of the "cannot pickle" error for the exception pending now
 * (the pickler's, which becomes its cause): pickle.PicklingError, or for a
 * built-in error a subclass of both (mproc.pool._pickling_error_class), so
 * that the `except RuntimeError` / `except TypeError` that catches what
 * multiprocessing lets through catches mproc's too. A new reference; the
 * pending exception stays as it was. */
static PyObject *pickling_error_class(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyObject *cls = Py_NewRef(pk_PicklingError);
    if (t && PyType_Check(t)) {
        PyObject *mod = PyImport_ImportModule("mproc.pool");
        PyObject *c = mod ? PyObject_CallMethod(mod, "_pickling_error_class", "O", t) : NULL;
        Py_XDECREF(mod);
        if (c && PyType_Check(c))
            Py_SETREF(cls, c);
        else
            Py_XDECREF(c);
        PyErr_Clear();
    }
    PyErr_Restore(t, v, tb);
    return cls;
}

/* ": <the pending exception's text>", or "" (a new reference, never NULL
 * unless out of memory: then ""); the pending exception stays. */
static PyObject *pending_text(void)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyObject *text = v ? PyObject_Str(v) : NULL;
    PyObject *out = text && PyUnicode_GET_LENGTH(text) ? PyUnicode_FromFormat(": %U", text) : NULL;
    Py_XDECREF(text);
    if (!out) {
        PyErr_Clear();
        out = PyUnicode_FromString("");
    }
    PyErr_Restore(t, v, tb);
    return out;
}

static PyObject *pickle_func(PyObject *func)
{
    PyObject *fb = PyObject_CallFunctionObjArgs(pk_dumps, func, py_protocol, NULL);
    if (!fb) {
        PyObject *cls = pickling_error_class();
        PyObject *cause_text = pending_text();
        _PyErr_FormatFromCause(cls,
                               "mproc.pool: cannot pickle the task function %R (functions are "
                               "sent to the workers by reference: define it at module level)%U",
                               func, cause_text);
        Py_DECREF(cls);
        Py_DECREF(cause_text);
    }
    return fb;
}

/* A job for the calls items[start, start + count) of func (pickled: fb):
 * one item per call, or per pychunk calls (CALL_CHUNK). NULL with an
 * exception (PicklingError naming the call that cannot be pickled). */
static struct pjob *pack(PoolCore *self, PyObject *fb, PyObject *items, Py_ssize_t start,
                         Py_ssize_t nitems, int call, size_t pychunk)
{
    if (pychunk <= 1 || call == CALL_ARGS_KWARGS)
        pychunk = 1;
    else
        call |= CALL_CHUNK;
    Py_ssize_t n = (Py_ssize_t)(((size_t)nitems + pychunk - 1) / pychunk);
    Py_INCREF(fb);
    struct pjob *j = calloc(1, sizeof *j);
    PyObject **pk = PyMem_Calloc(n ? (size_t)n : 1, sizeof *pk);
    if (!j || !pk) {
        PyErr_NoMemory();
        goto fail;
    }
    j->core = self;
    j->n = (size_t)n;
    j->nitems = (size_t)nitems;
    j->pychunk = pychunk;
    j->call = call;
    size_t flen = (size_t)PyBytes_GET_SIZE(fb);
    /* Inputs of one job stay within OUT_BUDGET bytes too: a rare large
     * item among many small ones travels in a file instead of widening
     * every item's stride. */
    size_t in_budget = OUT_BUDGET / (n ? (size_t)n : 1);
    if (in_budget < 256)
        in_budget = 256;
    size_t stride = sizeof(struct item_hdr) + FILE_NAME_MAX, nbig = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it;
        Py_ssize_t at = start + i * (Py_ssize_t)pychunk;
        if (call & CALL_CHUNK) {
            Py_ssize_t end = at + (Py_ssize_t)pychunk;
            it = PyList_GetSlice(items, at, end < start + nitems ? end : start + nitems);
        } else {
            it = Py_NewRef(PyList_GET_ITEM(items, at));
        }
        pk[i] = it ? PyObject_CallFunctionObjArgs(pk_dumps, it, py_protocol, NULL) : NULL;
        if (!pk[i]) {
            if (it) {
                PyObject *cls = pickling_error_class();
                PyObject *cause_text = pending_text();
                _PyErr_FormatFromCause(cls,
                                       "mproc.pool: cannot pickle the arguments of task %zd: "
                                       "%.200R%U",
                                       at, it, cause_text);
                Py_DECREF(cls);
                Py_DECREF(cause_text);
            }
            Py_XDECREF(it);
            goto fail;
        }
        Py_DECREF(it);
        size_t sz = sizeof(struct item_hdr) + flen + (size_t)PyBytes_GET_SIZE(pk[i]);
        if (sz > IN_INLINE_MAX || sz > in_budget)
            nbig++;
        else if (sz > stride)
            stride = sz;
    }
    stride = (stride + 7) & ~(size_t)7;
    j->in_stride = stride;
    j->in = malloc(stride * (n ? (size_t)n : 1));
    if (nbig)
        j->files = calloc(nbig, sizeof *j->files);
    if (!j->in || (nbig && !j->files)) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char *dst = j->in + (size_t)i * stride;
        size_t alen = (size_t)PyBytes_GET_SIZE(pk[i]);
        struct item_hdr h = {
            .call = (uint8_t)call, .func_len = (uint32_t)flen, .args_len = (uint32_t)alen};
        if (sizeof h + flen + alen > IN_INLINE_MAX || sizeof h + flen + alen > in_budget) {
            char *name = j->files[j->nfiles];
            file_name(name, self->owner, self->id);
            char *buf = malloc(flen + alen);
            int rc = buf ? 0 : -ENOMEM;
            if (buf) {
                memcpy(buf, PyBytes_AS_STRING(fb), flen);
                memcpy(buf + flen, PyBytes_AS_STRING(pk[i]), alen);
                rc = file_write(name, buf, flen + alen);
                free(buf);
            }
            if (rc < 0) {
                errno = -rc;
                PyErr_SetFromErrno(PyExc_OSError);
                goto fail;
            }
            j->nfiles++;
            h.in_file = 1;
            memcpy(dst, &h, sizeof h);
            memset(dst + sizeof h, 0, FILE_NAME_MAX);
            memcpy(dst + sizeof h, name, strlen(name));
        } else {
            memcpy(dst, &h, sizeof h);
            memcpy(dst + sizeof h, PyBytes_AS_STRING(fb), flen);
            memcpy(dst + sizeof h + flen, PyBytes_AS_STRING(pk[i]), alen);
        }
        Py_CLEAR(pk[i]);
    }
    PyMem_Free(pk);
    Py_DECREF(fb);
    size_t nn = n ? (size_t)n : 1;
    size_t hint = self->out_hint[(call & CALL_CHUNK) != 0];
    size_t budget = OUT_BUDGET / nn;
    j->out_size = hint < budget ? hint : budget < OUT_MIN ? OUT_MIN : budget;
    j->out = malloc(nn * j->out_size);
    j->st = malloc(nn * sizeof *j->st);
    j->olen = malloc(nn * sizeof *j->olen);
    j->err = malloc(nn * sizeof *j->err);
    if (!j->out || !j->st || !j->olen || !j->err) {
        PyErr_NoMemory();
        pjob_free(j);
        return NULL;
    }
    for (size_t i = 0; i < nn; i++) /* until delivered (never: "broken") */
        j->st[i] = ST_PENDING;
    return j;
fail:
    if (pk)
        for (Py_ssize_t i = 0; i < n; i++)
            Py_XDECREF(pk[i]);
    PyMem_Free(pk);
    Py_DECREF(fb);
    pjob_free(j);
    return NULL;
}

static PyObject *item_error(const struct mproc_pool_error *e, int code)
{
    PyObject *exc = NULL;
    if (code == MPROC_EWORKERDIED) {
        char how[96];
        if (e->signal > 0) {
            const char *sn = sigabbrev_np(e->signal);
            snprintf(how, sizeof how, "was killed by signal %d (SIG%s)", e->signal, sn ? sn : "?");
        } else {
            snprintf(how, sizeof how, "exited with code %d", e->exit_code);
        }
        PyObject *msg = PyUnicode_FromFormat("worker process %d %s while running task %llu",
                                             (int)e->pid, how, (unsigned long long)e->index);
        exc = msg ? PyObject_CallOneArg(WorkerLostError, msg) : NULL;
        Py_XDECREF(msg);
        if (exc) {
            PyObject *v;
            if ((v = PyLong_FromLong(e->pid))) {
                PyObject_SetAttrString(exc, "pid", v);
                Py_DECREF(v);
            }
            if ((v = PyLong_FromLong(e->signal))) {
                PyObject_SetAttrString(exc, "signal", v);
                Py_DECREF(v);
            }
            if ((v = e->signal > 0 ? Py_NewRef(Py_None) : PyLong_FromLong(e->exit_code))) {
                PyObject_SetAttrString(exc, "exitcode", v);
                Py_DECREF(v);
            }
        }
    } else if (code == MPROC_ETIMEDOUT) {
        exc = PyObject_CallFunction(TaskTimeoutError, "is", ETIMEDOUT,
                                    "the task ran past its timeout: its worker was killed");
        if (exc && e->pid) {
            PyObject *v = PyLong_FromLong(e->pid);
            if (v) {
                PyObject_SetAttrString(exc, "pid", v);
                Py_DECREF(v);
            }
        }
    } else {
        const char *msg =
            code == MPROC_ECANCELED ? "the pool was terminated before the task finished"
            : code == MPROC_EBROKEN ? "the pool is broken: a worker died and the pool's policy is "
                                      "'break', or its workers could not initialise"
                                    : mproc_strerror(code);
        exc = PyObject_CallFunction(mproc_py_Error, "is", -code, msg);
    }
    return exc;
}

/* Item i's outcome: a new reference to the value (*ok = 1) or to an
 * exception instance (*ok = 0); NULL with an exception set on failure. */
static PyObject *item_outcome(PoolCore *self, struct pjob *j, size_t i, int *ok)
{
    int st = j->st[i] == ST_PENDING ? MPROC_EBROKEN : j->st[i];
    if (st != 0) {
        struct mproc_pool_error e = j->err[i];
        e.index *= j->pychunk; /* the first call of the item */
        *ok = 0;
        return item_error(&e, st);
    }
    const unsigned char *o = j->out + i * j->out_size;
    size_t len = j->olen[i];
    if (len < 1 || len > j->out_size) {
        *ok = 0;
        return PyObject_CallFunction(mproc_py_Error, "is", EPROTO, "mproc.pool: a corrupt result");
    }
    uint8_t kind = o[0];
    PyObject *data;
    if (kind & RES_FILE) {
        char name[FILE_NAME_MAX];
        size_t nl = len - 1 < FILE_NAME_MAX - 1 ? len - 1 : FILE_NAME_MAX - 1;
        memcpy(name, o + 1, nl);
        name[nl] = '\0';
        data = file_read(name, 1);
        if (!data)
            return NULL;
        int k = (j->call & CALL_CHUNK) != 0;
        size_t sz = (size_t)PyBytes_GET_SIZE(data) + 1, hint = self->out_hint[k];
        while (hint < sz && hint < OUT_MAX)
            hint *= 2;
        if (hint > self->out_hint[k])
            self->out_hint[k] = (unsigned)hint;
    } else {
        data = PyMemoryView_FromMemory((char *)o + 1, (Py_ssize_t)(len - 1), PyBUF_READ);
        if (!data)
            return NULL;
    }
    PyObject *v = PyObject_CallOneArg(kind & RES_EXC && h_rebuild ? h_rebuild : pk_loads, data);
    Py_DECREF(data);
    *ok = v && !(kind & RES_EXC);
    return v;
}

/* errs[i] = exc (a new dict on first use); 0 or -1. */
static int set_error(PyObject **errs, size_t i, PyObject *exc)
{
    if (!*errs && !(*errs = PyDict_New()))
        return -1;
    PyObject *k = PyLong_FromSize_t(i);
    int rc = k ? PyDict_SetItem(*errs, k, exc) : -1;
    Py_XDECREF(k);
    return rc;
}

/* Where the outcomes of calls go: one call per sink() call, with the
 * call's index, ok and the value or the exception (borrowed). */
typedef int (*sink_fn)(void *ctx, size_t index, int ok, PyObject *v);

/* Into a results list and an errors dict (job_outcomes). */
struct list_sink {
    PyObject *res;
    PyObject **errs;
    size_t off;
};
static int to_list(void *ctx, size_t index, int ok, PyObject *v)
{
    struct list_sink *ls = ctx;
    if (ok)
        return PyList_SetItem(ls->res, (Py_ssize_t)(ls->off + index), Py_NewRef(v));
    return set_error(ls->errs, ls->off + index, v);
}

/* Into the run of one item of a streamed job: calls base, base + 1, ... */
struct run_sink {
    PyObject *res;
    PyObject *errs;
    size_t base;
};
static int to_run(void *ctx, size_t index, int ok, PyObject *v)
{
    struct run_sink *rs = ctx;
    if (ok)
        return PyList_SetItem(rs->res, (Py_ssize_t)(index - rs->base), Py_NewRef(v));
    return set_error(&rs->errs, index - rs->base, v);
}

/* Spread the outcome v of chunk item i over its calls (see CALL_CHUNK). */
static int spread_chunk(struct pjob *j, size_t i, PyObject *v, int ok, sink_fn sink, void *ctx)
{
    size_t base = i * j->pychunk;
    size_t cnt = j->nitems - base < j->pychunk ? j->nitems - base : j->pychunk, m = 0;
    PyObject *exc = NULL;
    int rc = 0;
    if (!ok) {
        exc = Py_NewRef(v);
    } else if (PyTuple_Check(v) && PyTuple_GET_SIZE(v) == 2 &&
               PyList_Check(PyTuple_GET_ITEM(v, 0))) {
        PyObject *r = PyTuple_GET_ITEM(v, 0), *eb = PyTuple_GET_ITEM(v, 1);
        m = (size_t)PyList_GET_SIZE(r) < cnt ? (size_t)PyList_GET_SIZE(r) : cnt;
        for (size_t k = 0; k < m && rc == 0; k++)
            rc = sink(ctx, base + k, 1, PyList_GET_ITEM(r, k));
        if (eb != Py_None)
            exc = h_rebuild ? PyObject_CallOneArg(h_rebuild, eb) : NULL;
        else if (m < cnt)
            exc = PyObject_CallFunction(mproc_py_Error, "is", EPROTO,
                                        "mproc.pool: a chunk came back short");
        if (!exc && PyErr_Occurred()) {
            PyObject *t, *tb;
            PyErr_Fetch(&t, &exc, &tb);
            PyErr_NormalizeException(&t, &exc, &tb);
            Py_XDECREF(t);
            Py_XDECREF(tb);
        }
    } else {
        exc = PyObject_CallFunction(mproc_py_Error, "is", EPROTO, "mproc.pool: a corrupt result");
    }
    for (size_t k = m; exc && k < cnt && rc == 0; k++)
        rc = sink(ctx, base + k, 0, exc);
    Py_XDECREF(exc);
    return rc;
}

/* Hand item i's calls to sink; 0, or -1 with an exception. */
static int item_emit(PoolCore *self, struct pjob *j, size_t i, sink_fn sink, void *ctx)
{
    int ok;
    PyObject *v = item_outcome(self, j, i, &ok);
    if (!v) {
        /* Could not even decode it: that becomes the item's error. */
        PyObject *t, *tb;
        PyErr_Fetch(&t, &v, &tb);
        PyErr_NormalizeException(&t, &v, &tb);
        Py_XDECREF(t);
        Py_XDECREF(tb);
        if (!v)
            v = Py_NewRef(Py_None);
        ok = 0;
    }
    int rc = j->call & CALL_CHUNK ? spread_chunk(j, i, v, ok, sink, ctx) : sink(ctx, i, ok, v);
    Py_DECREF(v);
    return rc;
}

/* Store the job's outcomes at res[off ...] (values; None where a call
 * failed) and its errors in *errs ({index: exception}, made on first use).
 * 0, or -1 with an exception. */
static int job_outcomes_into(PoolCore *self, struct pjob *j, PyObject *res, PyObject **errs,
                             size_t off)
{
    struct list_sink ls = {res, errs, off};
    for (size_t i = 0; i < j->n; i++)
        if (item_emit(self, j, i, to_list, &ls) < 0)
            return -1;
    return 0;
}

static PyObject *none_list(size_t n)
{
    PyObject *res = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; res && i < n; i++)
        PyList_SET_ITEM(res, (Py_ssize_t)i, Py_NewRef(Py_None));
    return res;
}

/* The job's (results, errors or None), a new 2-tuple. */
static PyObject *job_outcomes(PoolCore *self, struct pjob *j)
{
    PyObject *res = none_list(j->nitems), *errs = NULL;
    if (!res || job_outcomes_into(self, j, res, &errs, 0) < 0) {
        Py_XDECREF(res);
        Py_XDECREF(errs);
        return NULL;
    }
    PyObject *t = PyTuple_Pack(2, res, errs ? errs : Py_None);
    Py_DECREF(res);
    Py_XDECREF(errs);
    return t;
}

static void on_done(void *arg, mproc_future *f)
{
    (void)f;
    struct pjob *j = arg;
    PoolCore *self = j->core;
    pthread_mutex_lock(&self->mu);
    j->finished = true;
    if (j->prev)
        j->prev->next = j->next;
    else
        self->outstanding = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->next = j->prev = NULL;
    if (self->done_tail)
        self->done_tail->next = j;
    else
        self->done_head = j;
    self->done_tail = j;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
}

/* A streamed job delivered items (the core's progress callback: on the
 * service thread, under the pool's lock): collect() hands them over. */
static void on_progress(void *arg, uint64_t done, uint64_t total)
{
    (void)done;
    (void)total;
    struct pjob *j = arg;
    PoolCore *self = j->core;
    pthread_mutex_lock(&self->mu);
    if (!j->pqueued && !j->finished) {
        j->pqueued = true;
        j->pnext = NULL;
        if (self->partial_tail)
            self->partial_tail->pnext = j;
        else
            self->partial_head = j;
        self->partial_tail = j;
        pthread_cond_broadcast(&self->cv);
    }
    pthread_mutex_unlock(&self->mu);
}

/* Under the pool's lock: the items of streamed job j delivered and not yet
 * handed over, into j->newly (nothing if it finished: its final hand-over
 * takes all). */
static void stream_scan(struct pjob *j)
{
    j->nnew = 0;
    if (j->finished || !j->f)
        return;
    size_t hi = j->f->job->dispatched < j->n ? (size_t)j->f->job->dispatched : j->n;
    if (hi <= j->lo)
        return;
    free(j->newly);
    j->newly = malloc((hi - j->lo) * sizeof *j->newly);
    if (!j->newly)
        return; /* handed over with the rest at the end */
    for (size_t i = j->lo; i < hi; i++) {
        if (!j->rep[i] && j->st[i] != ST_PENDING) {
            j->rep[i] = 1;
            j->newly[j->nnew++] = i;
        }
    }
    while (j->lo < j->n && j->rep[j->lo])
        j->lo++;
}

static int check_pool(PoolCore *self)
{
    if (!self->pool) {
        PyErr_SetString(PyExc_ValueError, "Pool not running");
        return -1;
    }
    if (self->owner != getpid()) {
        PyErr_SetString(PyExc_RuntimeError, "a pool belongs to the process that created it");
        return -1;
    }
    return 0;
}

/* The pool, for a use without the GIL that close must wait for, or NULL
 * once close has begun; pool_leave ends the use. GIL released. */
static mproc_pool *pool_enter(PoolCore *self)
{
    pthread_mutex_lock(&self->mu);
    mproc_pool *p = self->scan_pool;
    if (p)
        self->scanning++;
    pthread_mutex_unlock(&self->mu);
    return p;
}

static void pool_leave(PoolCore *self)
{
    pthread_mutex_lock(&self->mu);
    self->scanning--;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
}

/* Start job j: an async map of its items; async jobs get on_done. A job
 * that cannot start leaves `outstanding` with a wake-up, so that a
 * collect() waiting for the last outstanding job (terminate racing with a
 * feeder thread that is submitting) sees it go. */
static int start_job(PoolCore *self, struct pjob *j, size_t chunksize, int timeout_ms, int async)
{
    (void)chunksize; /* a chunk of calls is one item: the C chunks hold one each */
    struct mproc_pool_map_opts mo = {.chunksize = 1,
                                     .statuses = j->st,
                                     .out_lens = j->olen,
                                     .errors = j->err,
                                     .task_timeout_ms = timeout_ms};
    if (async && j->stream) {
        mo.progress = on_progress;
        mo.progress_arg = j;
    }
    int rc;
    if (async) {
        pthread_mutex_lock(&self->mu);
        j->id = ++self->next_id;
        j->next = self->outstanding;
        if (j->next)
            j->next->prev = j;
        self->outstanding = j;
        pthread_mutex_unlock(&self->mu);
    }
    {
        PyThreadState *save_ = PyEval_SaveThread();
        mproc_pool *pool = pool_enter(self);
        if (!pool) {
            rc = MPROC_ECLOSED;
        } else {
            rc = mproc_pool_map_async(pool, py_task, j->in, j->n, j->in_stride, j->out, j->out_size,
                                      &mo, &j->f);
            if (rc == 0 && async) {
                mproc__pool_lock(pool);
                if (j->f->done) {
                    on_done(j, j->f);
                } else {
                    j->f->job->on_done = on_done;
                    j->f->job->on_done_arg = j;
                }
                mproc__pool_unlock(pool);
            }
            pool_leave(self);
        }
        PyEval_RestoreThread(save_);
    }
    if (rc < 0) {
        if (async) {
            pthread_mutex_lock(&self->mu);
            if (j->prev)
                j->prev->next = j->next;
            else
                self->outstanding = j->next;
            if (j->next)
                j->next->prev = j->prev;
            j->next = j->prev = NULL;
            pthread_cond_broadcast(&self->cv);
            pthread_mutex_unlock(&self->mu);
        }
        if (rc == MPROC_ECLOSED || rc == MPROC_ECANCELED) {
            PyErr_SetString(PyExc_ValueError, "Pool not running");
        } else if (rc == MPROC_EBROKEN || rc == MPROC_EMSGSIZE) {
            struct mproc_pool_error e = {.code = rc, .exit_code = -1};
            PyObject *exc = item_error(&e, rc);
            if (exc) {
                PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
                Py_DECREF(exc);
            }
        } else {
            mproc_py_raise(rc);
        }
        return rc;
    }
    return 0;
}

static int parse_job_args(PyObject *args, PyObject **func, PyObject **items, int *call,
                          Py_ssize_t *chunksize, int *timeout_ms)
{
    PyObject *tmo = Py_None;
    if (!PyArg_ParseTuple(args, "OO!in|O", func, &PyList_Type, items, call, chunksize, &tmo))
        return -1;
    if (*call < CALL_ONE || *call > CALL_ARGS_KWARGS || *chunksize < 0) {
        PyErr_SetString(PyExc_ValueError, "bad job arguments");
        return -1;
    }
    *timeout_ms = 0;
    if (tmo != Py_None) {
        if (mproc_py_timeout_ms(tmo, 1, timeout_ms) < 0)
            return -1;
        if (*timeout_ms == 0)
            *timeout_ms = 1;
    }
    return 0;
}

/* Whether job j finished (collecting what has arrived); GIL held. */
static bool job_done(struct pjob *j)
{
    int rc;
    {
        PyThreadState *save_ = PyEval_SaveThread();
        rc = mproc_future_done(j->f);
        PyEval_RestoreThread(save_);
    }
    return rc != 0;
}

static void job_drop(struct pjob *j)
{
    if (j->f) {
        {
            PyThreadState *save_ = PyEval_SaveThread();
            mproc_future_close(j->f); /* abandons the job if it did not finish */
            PyEval_RestoreThread(save_);
        }
        j->f = NULL;
    }
    pjob_free(j);
}

/* map(func, items, call, chunksize, task_timeout) -> (results, errors):
 * runs the calls and waits for them in this thread. The calls go out as
 * several jobs (one per chunk, or MAP_BATCH single calls each), each
 * started as soon as it is pickled and decoded as soon as it is done, so
 * that pickling, running and unpickling overlap. */
static PyObject *core_map(PoolCore *self, PyObject *args)
{
    PyObject *func, *items;
    int call, tmo;
    Py_ssize_t chunksize;
    if (parse_job_args(args, &func, &items, &call, &chunksize, &tmo) < 0 || check_pool(self) < 0)
        return NULL;
    PyObject *fb = pickle_func(func);
    if (!fb)
        return NULL;
    Py_ssize_t nitems = PyList_GET_SIZE(items);
    size_t pychunk = chunksize > 1 && call != CALL_ARGS_KWARGS ? (size_t)chunksize : 1;
    Py_ssize_t per = pychunk > 1 ? (Py_ssize_t)pychunk : MAP_BATCH;
    Py_ssize_t njobs = (nitems + per - 1) / per, started = 0, decoded = 0;
    /* Jobs out at once: enough to fill every slot twice over, few enough
     * that a huge map does not sit in memory pickled all at once. */
    Py_ssize_t ahead = 16 * (Py_ssize_t)(self->workers > 0 ? self->workers : 1);
    struct pjob **jobs = PyMem_Calloc(njobs ? (size_t)njobs : 1, sizeof *jobs);
    PyObject *res = none_list((size_t)nitems), *errs = NULL, *broken = NULL;
    bool failed = !jobs || !res;
    if (failed && !PyErr_Occurred())
        PyErr_NoMemory();
    while (!failed && decoded < njobs) {
        if (started < njobs && started - decoded < ahead) {
            Py_ssize_t at = started * per, cnt = nitems - at < per ? nitems - at : per;
            struct pjob *j = pack(self, fb, items, at, cnt, call, pychunk);
            int src = j ? start_job(self, j, 1, tmo, 0) : -1;
            if (src < 0) {
                pjob_free(j);
                if (src == MPROC_EBROKEN) {
                    /* The pool broke under this map: the jobs already out
                     * say why (a worker's death); the rest never runs. */
                    PyObject *t, *tb;
                    PyErr_Fetch(&t, &broken, &tb);
                    PyErr_NormalizeException(&t, &broken, &tb);
                    Py_XDECREF(t);
                    Py_XDECREF(tb);
                    njobs = started;
                    continue;
                }
                failed = true;
                break;
            }
            jobs[started++] = j;
            if (!job_done(jobs[decoded]))
                continue;
        } else {
            int rc;
            {
                PyThreadState *save_ = PyEval_SaveThread();
                rc = mproc_future_wait(jobs[decoded]->f, MPROC_PY_SLICE_MS);
                PyEval_RestoreThread(save_);
            }
            if (rc == MPROC_ETIMEDOUT) {
                failed = PyErr_CheckSignals() < 0;
                continue;
            }
            if (rc < 0 && rc != MPROC_EBROKEN) {
                mproc_py_raise(rc);
                failed = true;
                break;
            } /* broken: what was not delivered reads as broken (pack) */
        }
        if (job_outcomes_into(self, jobs[decoded], res, &errs, (size_t)(decoded * per)) < 0) {
            failed = true;
            break;
        }
        job_drop(jobs[decoded]);
        jobs[decoded++] = NULL;
    }
    for (Py_ssize_t k = decoded; jobs && k < started; k++)
        job_drop(jobs[k]);
    PyMem_Free(jobs);
    Py_DECREF(fb);
    /* The first call that never went out gets the pool's error (the map
     * raises the error of the lowest index). */
    if (broken && !failed && set_error(&errs, (size_t)(started * per), broken) < 0)
        failed = true;
    Py_XDECREF(broken);
    if (failed) {
        Py_XDECREF(res);
        Py_XDECREF(errs);
        return NULL;
    }
    PyObject *t = PyTuple_Pack(2, res, errs ? errs : Py_None);
    Py_DECREF(res);
    Py_XDECREF(errs);
    return t;
}

/* submit(func, items, call, chunksize, task_timeout, callback, stream=False)
 * -> job id: callback(results, errors) runs on the thread that calls
 * collect(); a streamed job's callback gets (runs, None) each time calls
 * arrive, runs a list of (first call's index, values, None or {offset:
 * exception}), one per item. */
static PyObject *core_submit(PoolCore *self, PyObject *args)
{
    PyObject *func, *items, *cb, *tmo = Py_None;
    int call, timeout_ms = 0, stream = 0;
    Py_ssize_t chunksize;
    if (!PyArg_ParseTuple(args, "OO!inOO|p", &func, &PyList_Type, &items, &call, &chunksize, &tmo,
                          &cb, &stream))
        return NULL;
    if (call < CALL_ONE || call > CALL_ARGS_KWARGS || chunksize < 0) {
        PyErr_SetString(PyExc_ValueError, "bad job arguments");
        return NULL;
    }
    if (tmo != Py_None) {
        if (mproc_py_timeout_ms(tmo, 1, &timeout_ms) < 0)
            return NULL;
        if (timeout_ms == 0)
            timeout_ms = 1;
    }
    if (check_pool(self) < 0)
        return NULL;
    PyObject *fb = pickle_func(func);
    if (!fb)
        return NULL;
    struct pjob *j = pack(self, fb, items, 0, PyList_GET_SIZE(items), call, (size_t)chunksize);
    Py_DECREF(fb);
    if (!j)
        return NULL;
    j->cb = Py_NewRef(cb);
    if (stream) {
        j->stream = true;
        j->rep = calloc(j->n ? j->n : 1, 1);
        if (!j->rep) {
            pjob_free(j);
            return PyErr_NoMemory();
        }
    }
    if (start_job(self, j, (size_t)chunksize, timeout_ms, 1) < 0) {
        pjob_free(j);
        return NULL;
    }
    return PyLong_FromUnsignedLongLong(j->id);
}

/* Item i of streamed job j as a run (base, values, errors or None): its
 * calls base, base + 1, ... with errors keyed from 0. New reference. */
static PyObject *item_run(PoolCore *self, struct pjob *j, size_t i)
{
    size_t base = i * j->pychunk;
    size_t cnt = j->nitems - base < j->pychunk ? j->nitems - base : j->pychunk;
    struct run_sink rs = {none_list(cnt), NULL, base};
    PyObject *t = NULL;
    if (rs.res && item_emit(self, j, i, to_run, &rs) == 0)
        t = Py_BuildValue("(nOO)", (Py_ssize_t)base, rs.res, rs.errs ? rs.errs : Py_None);
    Py_XDECREF(rs.res);
    Py_XDECREF(rs.errs);
    return t;
}

/* The entry collect() returns for job j: (cb, results, errors), or for a
 * streamed job (cb, runs, None) with the runs of the items in `idx` (NULL:
 * every item not handed over yet). New reference, or NULL. */
static PyObject *job_entry(PoolCore *self, struct pjob *j, const size_t *idx, size_t nidx)
{
    PyObject *o;
    if (!j->stream) {
        o = job_outcomes(self, j);
    } else {
        PyObject *runs = PyList_New(0);
        size_t n = idx ? nidx : j->n;
        for (size_t k = 0; runs && k < n; k++) {
            size_t i = idx ? idx[k] : k;
            if (!idx && j->rep[i])
                continue;
            PyObject *r = item_run(self, j, i);
            if (!r || PyList_Append(runs, r) < 0)
                Py_CLEAR(runs);
            Py_XDECREF(r);
        }
        o = runs ? PyTuple_Pack(2, runs, Py_None) : NULL;
        Py_XDECREF(runs);
    }
    if (!o)
        return NULL;
    PyObject *t = PyTuple_Pack(3, j->cb, PyTuple_GET_ITEM(o, 0), PyTuple_GET_ITEM(o, 1));
    Py_DECREF(o);
    return t;
}

/* collect(timeout) -> list of (callback, results, errors) (see submit), []
 * at the timeout, or None once stop() was called and nothing is left. */
static PyObject *core_collect(PoolCore *self, PyObject *args)
{
    PyObject *tmo = Py_None;
    int ms;
    if (!PyArg_ParseTuple(args, "|O", &tmo) || mproc_py_timeout_ms(tmo, 1, &ms) < 0)
        return NULL;
    struct pjob *batch = NULL, *partial = NULL;
    mproc_pool *pool = NULL;
    bool end = false;
    {
        PyThreadState *save_ = PyEval_SaveThread();
        struct mproc__deadline d;
        mproc__deadline_init(&d, ms);
        pthread_mutex_lock(&self->mu);
        for (;;) {
            if (self->done_head || self->partial_head) {
                batch = self->done_head;
                self->done_head = self->done_tail = NULL;
                partial = self->partial_head;
                self->partial_head = self->partial_tail = NULL;
                for (struct pjob *j = partial; j; j = j->pnext)
                    j->pqueued = false;
                if (partial && (pool = self->scan_pool))
                    self->scanning++;
                break;
            }
            if (self->stopping && !self->outstanding) {
                end = true;
                break;
            }
            if (d.poll || mproc__deadline_expired(&d))
                break;
            if (d.forever)
                pthread_cond_wait(&self->cv, &self->mu);
            else
                pthread_cond_timedwait(&self->cv, &self->mu, &d.abs);
        }
        pthread_mutex_unlock(&self->mu);
        if (pool) {
            /* A partial job is not freed before this thread's next collect
             * (only its final entry frees it), and finished is written
             * under the pool's lock too: scanning under it is safe; close
             * waits for `scanning` before it frees the pool. */
            mproc__pool_lock(pool);
            for (struct pjob *j = partial; j; j = j->pnext)
                stream_scan(j);
            mproc__pool_unlock(pool);
            pthread_mutex_lock(&self->mu);
            self->scanning--;
            pthread_cond_broadcast(&self->cv);
            pthread_mutex_unlock(&self->mu);
        }
        for (struct pjob *j = batch; j; j = j->next) {
            mproc_future_close(j->f);
            j->f = NULL;
        }
        PyEval_RestoreThread(save_);
    }
    if (end)
        Py_RETURN_NONE;
    PyObject *list = PyList_New(0);
    for (struct pjob *j = partial; list && j; j = j->pnext) {
        if (!j->nnew) /* items stream_scan marked handed over go out now */
            continue;
        PyObject *t = job_entry(self, j, j->newly, j->nnew);
        if (!t || PyList_Append(list, t) < 0)
            Py_CLEAR(list);
        Py_XDECREF(t);
        j->nnew = 0;
    }
    while (batch) {
        struct pjob *j = batch;
        batch = j->next;
        PyObject *t = list ? job_entry(self, j, NULL, 0) : NULL;
        if (!t || PyList_Append(list, t) < 0)
            Py_CLEAR(list);
        Py_XDECREF(t);
        pjob_free(j);
    }
    return list;
}

/* Whether a worker claimed a chunk of job (under the pool's lock): the
 * local backend's slot word of each chunk in flight says POSTED until a
 * worker takes it. */
static bool job_started(mproc_pool *p, struct mproc__pool_job *job)
{
    struct lp *lp = p->be;
    for (uint32_t t = 0; t < p->ctab_size; t++) {
        const struct mproc__pool_pchunk *c = p->ctab[t];
        if (!c || c->job != job)
            continue;
        for (uint32_t i = 0; i < lp->nslots; i++) {
            const struct lp_posted *ps = &lp->posted[i];
            if (ps->in_use && ps->token == c->token &&
                mproc__lp_state(atomic_load(&lp->m.ctl[i])) != MPROC__LP_POSTED)
                return true;
        }
    }
    return false;
}

/* abandon(job id, queued_only=False) -> True if the job was dropped before
 * it finished: its queued items never run, a running one's result is
 * dropped. With queued_only, a job a worker has started is left alone
 * (False), as concurrent.futures cancels only what has not started (a
 * worker that claims it in the instant between the check and the drop runs
 * it, and its result is dropped). */
static PyObject *core_abandon(PoolCore *self, PyObject *args)
{
    unsigned long long id;
    int queued_only = 0;
    if (!PyArg_ParseTuple(args, "K|p", &id, &queued_only))
        return NULL;
    if (!self->pool || self->owner != getpid())
        Py_RETURN_FALSE;
    struct pjob *found = NULL;
    {
        PyThreadState *save_ = PyEval_SaveThread();
        mproc_pool *pool = pool_enter(self);
        if (!pool) {
            PyEval_RestoreThread(save_);
            Py_RETURN_FALSE;
        }
        mproc__pool_lock(pool);
        pthread_mutex_lock(&self->mu);
        for (struct pjob *j = self->outstanding; j; j = j->next) {
            if (j->id == id) {
                if (!j->f->done && !j->stream && !(queued_only && job_started(pool, j->f->job))) {
                    found = j;
                    if (j->prev)
                        j->prev->next = j->next;
                    else
                        self->outstanding = j->next;
                    if (j->next)
                        j->next->prev = j->prev;
                    pthread_cond_broadcast(&self->cv);
                }
                break;
            }
        }
        pthread_mutex_unlock(&self->mu);
        if (found)
            mproc_future_close(found->f);
        mproc__pool_unlock(pool);
        pool_leave(self);
        PyEval_RestoreThread(save_);
    }
    if (!found)
        Py_RETURN_FALSE;
    pjob_free(found);
    Py_RETURN_TRUE;
}

static PyObject *core_stop(PoolCore *self, PyObject *unused)
{
    (void)unused;
    pthread_mutex_lock(&self->mu);
    self->stopping = true;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    Py_RETURN_NONE;
}

static PyObject *core_shutdown(PoolCore *self, PyObject *unused)
{
    (void)unused;
    if (self->pool && self->owner == getpid()) {
        PyThreadState *save_ = PyEval_SaveThread();
        mproc_pool *pool = pool_enter(self);
        if (pool) {
            mproc_pool_shutdown(pool);
            pool_leave(self);
        }
        PyEval_RestoreThread(save_);
    }
    Py_RETURN_NONE;
}

/* One slice of core_join, with the GIL released. */
static int join_slice(void *arg, int slice_ms)
{
    PoolCore *self = arg;
    mproc_pool *pool = pool_enter(self);
    int rc = pool ? mproc_pool_join(pool, slice_ms) : 0;
    if (pool)
        pool_leave(self);
    return rc;
}

/* join(timeout) -> True when every worker is gone, False at the timeout. */
static PyObject *core_join(PoolCore *self, PyObject *args)
{
    PyObject *tmo = Py_None;
    int ms;
    if (!PyArg_ParseTuple(args, "|O", &tmo) || mproc_py_timeout_ms(tmo, 1, &ms) < 0)
        return NULL;
    if (!self->pool)
        Py_RETURN_TRUE;
    if (check_pool(self) < 0)
        return NULL;
    int rc = mproc_py_wait_call(join_slice, self, ms);
    if (rc == INT_MIN)
        return NULL;
    if (rc == 0)
        Py_RETURN_TRUE;
    if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
        Py_RETURN_FALSE;
    return mproc_py_raise(rc);
}

static PyObject *core_terminate(PoolCore *self, PyObject *unused)
{
    (void)unused;
    if (self->pool && self->owner == getpid()) {
        PyThreadState *save_ = PyEval_SaveThread();
        mproc_pool *pool = pool_enter(self);
        if (pool) {
            mproc_pool_terminate(pool);
            pool_leave(self);
        }
        PyEval_RestoreThread(save_);
    }
    Py_RETURN_NONE;
}

static void core_release(PoolCore *self)
{
    if (!self->pool)
        return;
    mproc_pool *p = self->pool;
    self->pool = NULL;
    if (self->owner != getpid()) {
        /* A forked child: only memory to release; the done list's mutex may
         * be a copy taken mid-way. */
        mproc_pool_close(p);
        return;
    }
    {
        PyThreadState *save_ = PyEval_SaveThread();
        pthread_mutex_lock(&self->mu);
        self->scan_pool = NULL;
        while (self->scanning)
            pthread_cond_wait(&self->cv, &self->mu);
        pthread_mutex_unlock(&self->mu);
        mproc_pool_close(p); /* terminates; unfinished jobs finish as cancelled */
        PyEval_RestoreThread(save_);
    }
    pthread_mutex_lock(&self->mu);
    self->stopping = true;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
    files_sweep(self->owner, self->id);
}

/* close(): terminate if needed and release the C pool. Jobs not collected
 * stay for collect() (they finished as cancelled). */
static PyObject *core_close(PoolCore *self, PyObject *unused)
{
    (void)unused;
    core_release(self);
    Py_RETURN_NONE;
}

static PyObject *core_pids(PoolCore *self, PyObject *unused)
{
    (void)unused;
    if (check_pool(self) < 0)
        return NULL;
    pid_t pids[4096];
    int n;
    {
        PyThreadState *save_ = PyEval_SaveThread();
        mproc_pool *pool = pool_enter(self);
        n = pool ? mproc_pool_worker_pids(pool, pids, 4096) : 0;
        if (pool)
            pool_leave(self);
        PyEval_RestoreThread(save_);
    }
    if (n < 0)
        return mproc_py_raise(n);
    PyObject *l = PyList_New(n);
    for (int i = 0; l && i < n; i++) {
        PyObject *v = PyLong_FromLong(pids[i]);
        if (!v) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, i, v);
    }
    return l;
}

static PyObject *core_stats(PoolCore *self, PyObject *unused)
{
    (void)unused;
    if (check_pool(self) < 0)
        return NULL;
    struct mproc_pool_stats s;
    int rc;
    {
        PyThreadState *save_ = PyEval_SaveThread();
        mproc_pool *pool = pool_enter(self);
        rc = pool ? mproc_pool_stats(pool, &s) : MPROC_ECLOSED;
        if (pool)
            pool_leave(self);
        PyEval_RestoreThread(save_);
    }
    if (rc < 0)
        return mproc_py_raise(rc);
    return Py_BuildValue("{sKsKsKsKsKsKsKsK}", "items_done", s.items_done, "items_failed",
                         s.items_failed, "worker_deaths", s.worker_deaths, "worker_retired",
                         s.worker_retired, "redispatched", s.redispatched, "retried", s.retried,
                         "timed_out", s.timed_out, "cancelled", s.cancelled);
}

static int core_init(PoolCore *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"processes", "initializer", "initargs",     "maxtasks",
                             "on_death",  "max_retries", "task_timeout", NULL};
    int processes = 0, on_death = 0, max_retries = 0;
    unsigned long long maxtasks = 0;
    PyObject *init = Py_None, *initargs = NULL, *tmo = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|iOO!KiiO", kwlist, &processes, &init,
                                     &PyTuple_Type, &initargs, &maxtasks, &on_death, &max_retries,
                                     &tmo))
        return -1;
    if (self->pool) {
        PyErr_SetString(PyExc_RuntimeError, "PoolCore already started");
        return -1;
    }
    struct mproc_pool_opts o = {.workers = processes,
                                .initializer = worker_init,
                                .max_tasks_per_worker =
                                    maxtasks > UINT32_MAX ? UINT32_MAX : (unsigned)maxtasks,
                                .on_death = on_death,
                                .max_retries = max_retries,
                                .slot_bytes = SLOT_BYTES,
                                .background = 1};
    if (tmo != Py_None) {
        if (mproc_py_timeout_ms(tmo, 1, &o.task_timeout_ms) < 0)
            return -1;
        if (o.task_timeout_ms == 0)
            o.task_timeout_ms = 1;
    }
    self->owner = getpid();
    self->id = ++pool_seq;
    self->out_hint[0] = 256;
    self->out_hint[1] = 4096;
    Py_XSETREF(self->initializer, Py_NewRef(init));
    Py_XSETREF(self->initargs, initargs ? Py_NewRef(initargs) : PyTuple_New(0));
    o.init_arg = self; /* worker_init finds its initializer there */
    int rc = mproc_pool_create(&self->pool, &o);
    if (rc < 0) {
        self->pool = NULL;
        mproc_py_raise(rc);
        return -1;
    }
    self->workers = mproc_pool_workers(self->pool);
    pthread_mutex_lock(&self->mu);
    self->scan_pool = self->pool;
    pthread_mutex_unlock(&self->mu);
    return 0;
}

static PyObject *core_new(PyTypeObject *type, PyObject *args, PyObject *kw)
{
    (void)args;
    (void)kw;
    PoolCore *self = (PoolCore *)type->tp_alloc(type, 0);
    if (!self)
        return NULL;
    pthread_mutex_init(&self->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&self->cv, &ca);
    pthread_condattr_destroy(&ca);
    return (PyObject *)self;
}

static void core_dealloc(PoolCore *self)
{
    core_release(self);
    if (self->owner && self->owner != getpid()) {
        /* Inherited across fork: nothing here is ours to touch. */
        Py_XDECREF(self->initializer);
        Py_XDECREF(self->initargs);
        Py_TYPE(self)->tp_free((PyObject *)self);
        return;
    }
    for (struct pjob *j = self->done_head, *nx; j; j = nx) {
        nx = j->next;
        if (j->f)
            mproc_future_close(j->f);
        pjob_free(j);
    }
    for (struct pjob *j = self->outstanding, *nx; j; j = nx) {
        nx = j->next;
        if (j->f)
            mproc_future_close(j->f);
        pjob_free(j);
    }
    Py_XDECREF(self->initializer);
    Py_XDECREF(self->initargs);
    pthread_mutex_destroy(&self->mu);
    pthread_cond_destroy(&self->cv);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *core_get_workers(PoolCore *self, void *closure)
{
    (void)closure;
    return PyLong_FromLong(self->workers);
}

static PyMethodDef core_methods[] = {
    {"map", (PyCFunction)core_map, METH_VARARGS,
     "map(func, items, call, chunksize, task_timeout=None) -> (results, errors)"},
    {"submit", (PyCFunction)core_submit, METH_VARARGS,
     "submit(func, items, call, chunksize, task_timeout, callback, stream=False) -> job id"},
    {"collect", (PyCFunction)core_collect, METH_VARARGS,
     "collect(timeout=None) -> [(callback, results, errors)], or None when stopped"},
    {"abandon", (PyCFunction)core_abandon, METH_VARARGS,
     "abandon(job id, queued_only=False) -> bool"},
    {"stop", (PyCFunction)core_stop, METH_NOARGS, "collect() ends once nothing is left"},
    {"shutdown", (PyCFunction)core_shutdown, METH_NOARGS, "no more work"},
    {"join", (PyCFunction)core_join, METH_VARARGS, "join(timeout=None) -> bool"},
    {"terminate", (PyCFunction)core_terminate, METH_NOARGS, "kill the workers now"},
    {"close", (PyCFunction)core_close, METH_NOARGS, "release the C pool"},
    {"pids", (PyCFunction)core_pids, METH_NOARGS, "the workers' pids"},
    {"stats", (PyCFunction)core_stats, METH_NOARGS, "the pool's counters"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef core_getset[] = {
    {"workers", (getter)core_get_workers, NULL, "number of workers", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PoolCore_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mproc._mproc.PoolCore",
    .tp_basicsize = sizeof(PoolCore),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "The C pool under mproc.pool.Pool (internal).",
    .tp_new = core_new,
    .tp_init = (initproc)core_init,
    .tp_dealloc = (destructor)core_dealloc,
    .tp_methods = core_methods,
    .tp_getset = core_getset,
};

/* _pool_helpers(wrap_exc, rebuild_exc): the Python halves of passing an
 * exception from a worker (pool.py). */
static PyObject *pool_helpers(PyObject *m, PyObject *args)
{
    (void)m;
    PyObject *w, *r;
    if (!PyArg_ParseTuple(args, "OO", &w, &r))
        return NULL;
    Py_XSETREF(h_wrap_exc, Py_NewRef(w));
    Py_XSETREF(h_rebuild, Py_NewRef(r));
    Py_RETURN_NONE;
}

static PyMethodDef pool_functions[] = {
    {"_pool_helpers", pool_helpers, METH_VARARGS, NULL},
    {NULL, NULL, 0, NULL},
};

int mproc_py_init_pool(PyObject *m)
{
    if (!mproc_py_init_fork) {
        static const struct mproc__fork_hooks hooks = {
            .prepare = pool_fork_prepare,
            .parent = pool_fork_parent,
            .child = pool_fork_child,
        };
        mproc__fork_hooks_set(&hooks);
    }
    PyObject *pk = PyImport_ImportModule("pickle");
    if (!pk)
        return -1;
    pk_dumps = PyObject_GetAttrString(pk, "dumps");
    pk_loads = PyObject_GetAttrString(pk, "loads");
    pk_PicklingError = PyObject_GetAttrString(pk, "PicklingError");
    Py_DECREF(pk);
    py_protocol = PyLong_FromLong(5);
    if (!pk_dumps || !pk_loads || !pk_PicklingError || !py_protocol)
        return -1;
    WorkerLostError = PyErr_NewExceptionWithDoc(
        "mproc.WorkerLostError",
        "A pool worker died (killed by a signal, or it exited) while running the task. "
        "Attributes: pid, signal (0 if it exited), exitcode (None if killed).",
        mproc_py_Error, NULL);
    if (!WorkerLostError || PyModule_AddObjectRef(m, "WorkerLostError", WorkerLostError) < 0)
        return -1;
    PyObject *bases = PyTuple_Pack(2, mproc_py_Error, PyExc_TimeoutError);
    TaskTimeoutError =
        bases ? PyErr_NewExceptionWithDoc("mproc.TaskTimeoutError",
                                          "A pool task ran past its task timeout; its worker was "
                                          "killed and replaced.",
                                          bases, NULL)
              : NULL;
    Py_XDECREF(bases);
    if (!TaskTimeoutError || PyModule_AddObjectRef(m, "TaskTimeoutError", TaskTimeoutError) < 0)
        return -1;
    if (PyType_Ready(&PoolCore_Type) < 0 ||
        PyModule_AddObjectRef(m, "PoolCore", (PyObject *)&PoolCore_Type) < 0)
        return -1;
    for (PyMethodDef *d = pool_functions; d->ml_name; d++) {
        PyObject *f = PyCFunction_New(d, NULL);
        if (!f || PyModule_AddObject(m, d->ml_name, f) < 0) {
            Py_XDECREF(f);
            return -1;
        }
    }
    return 0;
}
