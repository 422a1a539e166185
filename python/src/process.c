/* process.c - the C half of mproc.process: a child process handle
 * (_mproc.Child) started by fork through the core, or by spawn of a fresh
 * interpreter; cpu_count; what a child knows about its parent.
 *
 * Fork: start_fork(obj, name, daemon) runs mproc_process_start with
 * child_entry, which calls obj._bootstrap() in the child (Python code in
 * mproc/process.py: runs the target, prints an uncaught exception's
 * traceback, flushes sys.stdout/stderr) and returns its exit code; the core
 * then ends the child with it (no atexit handler of the parent runs, as
 * with multiprocessing's os._exit). The fork hooks (fork.c) keep the
 * interpreter sane on both sides. A daemon child is the core's daemon: it
 * dies with its parent, even when the parent is SIGKILLed.
 *
 * Spawn: start_spawn(exe, argv, pass_fds) starts a fresh interpreter with
 * posix_spawn; each descriptor in pass_fds is close-on-exec here and is
 * inherited by that one child only (a dup2 file action onto its own number
 * clears the flag in the child alone), so a child forked meanwhile by
 * another thread never gets it. The handle is then a bare pidfd.
 *
 * Both kinds answer the same calls: join(timeout) -> exit code or None,
 * poll(), is_alive(), signal(sig), pid, sentinel (the pidfd: readable once
 * the child ended), close(). Exit codes follow multiprocessing: the code of
 * a normal exit, -signum for a child killed by a signal.
 *
 * A handle belongs to the process that started the child; in a forked
 * grandchild it answers ValueError and only close() works.
 */
#include "pywait.h"

#include "linux/child.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

typedef struct {
    PyObject_HEAD mproc_process *proc; /* fork start; NULL for spawn or once closed */
    int pidfd;                         /* spawn start: owned; -1 otherwise */
    pid_t pid;
    pid_t owner;
    int done;     /* exitcode is valid */
    int exitcode; /* multiprocessing's convention */
} ChildObject;

static PyTypeObject Child_Type;

static int child_entry(void *arg)
{
    /* In the forked child, with the GIL (the forking thread held it). */
    PyObject *r = PyObject_CallMethod((PyObject *)arg, "_bootstrap", NULL);
    if (r == NULL) {
        PyErr_Print();
        return 1;
    }
    long code = PyLong_AsLong(r);
    Py_DECREF(r);
    if (code == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 1;
    }
    return (int)(code & 0xff);
}

static int exit_code(const struct mproc_exit *st)
{
    return st->signaled ? -st->signal : st->code;
}

static int status_code(const siginfo_t *info)
{
    return info->si_code == CLD_EXITED ? (info->si_status & 0xff) : -info->si_status;
}

static int check_owner(ChildObject *c)
{
    if (c->proc == NULL && c->pidfd < 0) {
        PyErr_SetString(PyExc_ValueError, "process object is closed");
        return -1;
    }
    if (c->owner != getpid()) {
        PyErr_SetString(PyExc_ValueError, "can only use a process handle in the process that "
                                          "started the child");
        return -1;
    }
    return 0;
}

/* One slice of a join: 1 ended (exitcode set), 0 still running, < 0 code. */
static int join_slice(ChildObject *c, int ms)
{
    if (c->proc) {
        struct mproc_exit st;
        int rc = mproc_process_join(c->proc, ms, &st);
        if (rc == 0) {
            c->exitcode = exit_code(&st);
            return 1;
        }
        return rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN ? 0 : rc;
    }
    struct mproc__deadline d;
    mproc__deadline_init(&d, ms);
    int rc = mproc__child_wait(c->pidfd, &d);
    if (rc <= 0)
        return rc;
    siginfo_t info;
    rc = mproc__child_reap(c->pidfd, true, &info);
    if (rc == 1)
        c->exitcode = status_code(&info);
    return rc;
}

/* join(timeout=None) -> exit code, or None if still running. */
/* join_slice for mproc_py_wait_call: "still running" reads as a timeout. */
static int join_wait(void *arg, int ms)
{
    int rc = join_slice(arg, ms);
    return rc == 0 ? MPROC_ETIMEDOUT : rc;
}

static PyObject *Child_join(ChildObject *c, PyObject *args)
{
    PyObject *timeout = Py_None;
    if (!PyArg_ParseTuple(args, "|O:join", &timeout))
        return NULL;
    if (c->done)
        return PyLong_FromLong(c->exitcode);
    if (check_owner(c) < 0)
        return NULL;
    int ms;
    if (mproc_py_timeout_ms(timeout, 1, &ms) < 0)
        return NULL;
    int rc = mproc_py_wait_call(join_wait, c, ms);
    if (rc == INT_MIN)
        return NULL;
    if (rc == 1) {
        c->done = 1;
        return PyLong_FromLong(c->exitcode);
    }
    if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
        Py_RETURN_NONE;
    return mproc_py_raise(rc);
}

/* poll() -> exit code, or None if still running (never blocks). */
static PyObject *Child_poll(ChildObject *c, PyObject *unused)
{
    (void)unused;
    if (c->done)
        return PyLong_FromLong(c->exitcode);
    if (check_owner(c) < 0)
        return NULL;
    int rc = join_slice(c, 0);
    if (rc < 0)
        return mproc_py_raise(rc);
    if (rc == 0)
        Py_RETURN_NONE;
    c->done = 1;
    return PyLong_FromLong(c->exitcode);
}

static PyObject *Child_signal(ChildObject *c, PyObject *arg)
{
    int sig = mproc_py_as_int(arg);
    if (sig == -1 && PyErr_Occurred())
        return NULL;
    if (c->done)
        Py_RETURN_NONE;
    if (check_owner(c) < 0)
        return NULL;
    int rc;
    if (c->proc) {
        rc = mproc_process_signal(c->proc, sig);
    } else {
        rc = mproc__child_signal(c->pidfd, sig);
        if (rc == MPROC_ESRCH)
            rc = 0;
    }
    if (rc < 0)
        return mproc_py_raise(rc);
    Py_RETURN_NONE;
}

static void child_release(ChildObject *c)
{
    if (c->proc) {
        (void)mproc_process_close(c->proc);
        c->proc = NULL;
    }
    if (c->pidfd >= 0) {
        /* A spawned child that ended is reaped here, not left a zombie. */
        if (!c->done && c->owner == getpid()) {
            siginfo_t info;
            (void)mproc__child_reap(c->pidfd, false, &info);
        }
        close(c->pidfd);
        c->pidfd = -1;
    }
}

static PyObject *Child_close(ChildObject *c, PyObject *unused)
{
    (void)unused;
    child_release(c);
    Py_RETURN_NONE;
}

static void Child_dealloc(ChildObject *c)
{
    child_release(c);
    Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *Child_get_pid(ChildObject *c, void *closure)
{
    (void)closure;
    return PyLong_FromLong(c->pid);
}

static PyObject *Child_get_sentinel(ChildObject *c, void *closure)
{
    (void)closure;
    if (c->proc)
        return PyLong_FromLong(mproc_process_pidfd(c->proc));
    if (c->pidfd >= 0)
        return PyLong_FromLong(c->pidfd);
    PyErr_SetString(PyExc_ValueError, "process object is closed");
    return NULL;
}

static PyMethodDef Child_methods[] = {
    {"join", (PyCFunction)Child_join, METH_VARARGS,
     "join(timeout=None) -> exit code, or None while the child runs."},
    {"poll", (PyCFunction)Child_poll, METH_NOARGS, "poll() -> exit code, or None; never blocks."},
    {"signal", (PyCFunction)Child_signal, METH_O,
     "signal(sig): send a signal (nothing once it ended)."},
    {"close", (PyCFunction)Child_close, METH_NOARGS,
     "close(): release the handle (a running child is reaped later)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Child_getset[] = {
    {"pid", (getter)Child_get_pid, NULL, "the child's pid", NULL},
    {"sentinel", (getter)Child_get_sentinel, NULL, "a pidfd, readable once the child ended", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject Child_Type = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "mproc._mproc.Child",
    .tp_basicsize = sizeof(ChildObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A child process started by mproc (the handle behind Process).",
    .tp_dealloc = (destructor)Child_dealloc,
    .tp_methods = Child_methods,
    .tp_getset = Child_getset,
};

static ChildObject *child_new(void)
{
    ChildObject *c = PyObject_New(ChildObject, &Child_Type);
    if (c == NULL)
        return NULL;
    c->proc = NULL;
    c->pidfd = -1;
    c->pid = 0;
    c->owner = getpid();
    c->done = 0;
    c->exitcode = 0;
    return c;
}

/* start_fork(obj, name, daemon) -> Child: fork; the child runs
 * obj._bootstrap() and exits with its result. */
static PyObject *py_start_fork(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *obj;
    const char *name;
    int daemon;
    if (!PyArg_ParseTuple(args, "Osp:start_fork", &obj, &name, &daemon))
        return NULL;
    char cname[MPROC__PROC_NAME_MAX + 1];
    snprintf(cname, sizeof cname, "%s", name);
    ChildObject *c = child_new();
    if (c == NULL)
        return NULL;
    struct mproc_process_opts o = {.name = cname, .daemon = daemon};
    /* The GIL stays held across the fork: the child must own it to run
     * Python, and the fork hooks take it anyway. */
    int rc = mproc_process_start(&c->proc, child_entry, obj, &o);
    if (rc < 0) {
        Py_DECREF(c);
        return mproc_py_raise(rc);
    }
    c->pid = mproc_process_pid(c->proc);
    return (PyObject *)c;
}

/* start_spawn(exe, argv, pass_fds) -> Child. */
static PyObject *py_start_spawn(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *exe_o, *argv_o, *fds_o;
    if (!PyArg_ParseTuple(args, "O&OO:start_spawn", PyUnicode_FSConverter, &exe_o, &argv_o, &fds_o))
        return NULL;
    PyObject *ret = NULL;
    PyObject *argv_seq = PySequence_Fast(argv_o, "argv must be a sequence");
    PyObject *fds_seq = argv_seq ? PySequence_Fast(fds_o, "pass_fds must be a sequence") : NULL;
    PyObject **bytes = NULL;
    char **argv = NULL;
    Py_ssize_t n = 0, nb = 0;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int fa_ok = 0, attr_ok = 0;
    if (fds_seq == NULL)
        goto out;
    n = PySequence_Fast_GET_SIZE(argv_seq);
    bytes = PyMem_Calloc((size_t)n + 1, sizeof *bytes);
    argv = PyMem_Calloc((size_t)n + 1, sizeof *argv);
    if (bytes == NULL || argv == NULL) {
        PyErr_NoMemory();
        goto out;
    }
    for (nb = 0; nb < n; nb++) {
        if (!PyUnicode_FSConverter(PySequence_Fast_GET_ITEM(argv_seq, nb), &bytes[nb]))
            goto out;
        argv[nb] = PyBytes_AS_STRING(bytes[nb]);
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        PyErr_NoMemory();
        goto out;
    }
    fa_ok = 1;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(fds_seq); i++) {
        int fd = mproc_py_as_int(PySequence_Fast_GET_ITEM(fds_seq, i));
        if (fd == -1 && PyErr_Occurred())
            goto out;
        if (posix_spawn_file_actions_adddup2(&fa, fd, fd) != 0) {
            PyErr_SetString(PyExc_ValueError, "bad descriptor to pass");
            goto out;
        }
    }
    if (posix_spawnattr_init(&attr) != 0) {
        PyErr_NoMemory();
        goto out;
    }
    attr_ok = 1;
    sigset_t none, reset;
    sigemptyset(&none);
    sigemptyset(&reset);
    sigaddset(&reset, SIGPIPE);
    sigaddset(&reset, SIGCHLD);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &reset);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int err;
    PyThreadState *ts = PyEval_SaveThread();
    err = posix_spawn(&pid, PyBytes_AS_STRING(exe_o), &fa, &attr, argv, environ);
    PyEval_RestoreThread(ts);
    if (err != 0) {
        errno = err;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, exe_o);
        goto out;
    }
    ChildObject *c = child_new();
    int rc = c ? mproc__child_pidfd(pid, &c->pidfd) : MPROC_ENOMEM;
    if (rc < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        Py_XDECREF(c);
        if (c)
            mproc_py_raise(rc);
        goto out;
    }
    c->pid = pid;
    ret = (PyObject *)c;
out:
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    for (Py_ssize_t i = 0; bytes && i < nb; i++)
        Py_XDECREF(bytes[i]);
    PyMem_Free(bytes);
    PyMem_Free(argv);
    Py_XDECREF(fds_seq);
    Py_XDECREF(argv_seq);
    Py_DECREF(exe_o);
    return ret;
}

static PyObject *py_cpu_count(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    return PyLong_FromLong(mproc_cpu_count());
}

/* parent_alive() -> True/False, or None when this process was not started
 * by mproc's fork. */
static PyObject *py_parent_alive(PyObject *self, PyObject *unused)
{
    (void)self;
    (void)unused;
    int rc = mproc_parent_alive();
    if (rc < 0)
        Py_RETURN_NONE;
    return PyBool_FromLong(rc);
}

/* pidfd_open(pid) -> a close-on-exec pidfd of any process. */
static PyObject *py_pidfd_open(PyObject *self, PyObject *arg)
{
    (void)self;
    long pid = PyLong_AsLong(arg);
    if (pid == -1 && PyErr_Occurred())
        return NULL;
    int fd;
    int rc = mproc__child_pidfd((pid_t)pid, &fd);
    if (rc < 0)
        return mproc_py_raise(rc);
    return PyLong_FromLong(fd);
}

/* set_pdeathsig(ppid) -> bool: in a spawned daemon child, get SIGKILL when
 * the parent dies; False if ppid is already gone. */
static PyObject *py_set_pdeathsig(PyObject *self, PyObject *arg)
{
    (void)self;
    long ppid = PyLong_AsLong(arg);
    if (ppid == -1 && PyErr_Occurred())
        return NULL;
    return PyBool_FromLong(mproc__child_pdeathsig((pid_t)ppid));
}

#ifdef MPROC_FAULT_INJECTION
/* _fault_arm(spec): test builds only - arm a core kill point in this
 * process (src/fault.h). */
static PyObject *py_fault_arm(PyObject *self, PyObject *arg)
{
    (void)self;
    const char *spec = PyUnicode_AsUTF8(arg);
    if (spec == NULL)
        return NULL;
    mproc_fault_arm(spec);
    Py_RETURN_NONE;
}
#endif

static PyMethodDef process_functions[] = {
#ifdef MPROC_FAULT_INJECTION
    {"_fault_arm", py_fault_arm, METH_O, "test builds: arm a kill point in this process"},
#endif
    {"start_fork", py_start_fork, METH_VARARGS,
     "start_fork(obj, name, daemon) -> Child: fork; the child runs obj._bootstrap()."},
    {"start_spawn", py_start_spawn, METH_VARARGS,
     "start_spawn(exe, argv, pass_fds) -> Child: a fresh program that inherits pass_fds."},
    {"cpu_count", py_cpu_count, METH_NOARGS,
     "cpu_count() -> the CPUs this process may use (affinity and cgroup quota)."},
    {"parent_alive", py_parent_alive, METH_NOARGS,
     "parent_alive() -> whether the parent that started this process lives (None: not "
     "started by mproc)."},
    {"pidfd_open", py_pidfd_open, METH_O, "pidfd_open(pid) -> a pidfd (close-on-exec)."},
    {"set_pdeathsig", py_set_pdeathsig, METH_O,
     "set_pdeathsig(ppid) -> False if the parent is already gone."},
    {NULL, NULL, 0, NULL},
};

int mproc_py_init_process(PyObject *m)
{
    if (PyType_Ready(&Child_Type) < 0)
        return -1;
    if (PyModule_AddObjectRef(m, "Child", (PyObject *)&Child_Type) < 0)
        return -1;
    return PyModule_AddFunctions(m, process_functions);
}
