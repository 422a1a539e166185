/* fork.c - Python's before/after-fork steps around every fork the core makes.
 *
 * The core forks in mproc_process_start (a Process started by fork) and when
 * a fork pool starts a worker, always through mproc__fork, which calls the
 * hooks installed here (src/internal.h). They do what os.fork() does around
 * fork(): PyOS_BeforeFork (os.register_at_fork "before" callbacks, the
 * import lock), then PyOS_AfterFork_Parent in the parent and
 * PyOS_AfterFork_Child in the child (a fresh GIL and thread list, the
 * "after_in_child" callbacks, threading's reset).
 *
 * Those calls need the GIL. The forking thread is either a Python thread
 * that holds it (Process.start) or a thread of the core that does not (a
 * pool's service thread replacing a worker). prepare takes the GIL with
 * PyGILState_Ensure either way (a nested Ensure costs nothing), and each
 * side gives back what it took, so the thread leaves the fork in the state
 * it entered it:
 *   - held before: parent and child both drop only the nesting count;
 *   - not held before: the parent releases the GIL (and the thread state
 *     Ensure made); the child releases the GIL but keeps its thread state,
 *     which PyOS_AfterFork_Child made the one thread of the new process:
 *     a later PyGILState_Ensure in the child finds and reuses it.
 *
 * The state Ensure returned lives in a thread-local: the fork happens on
 * one thread, and two threads may fork at the same time.
 */
#include "mproc_py.h"

#include "internal.h"

static _Thread_local PyGILState_STATE fork_gil;

static void fork_prepare(void)
{
    fork_gil = PyGILState_Ensure();
    PyOS_BeforeFork();
}

static void fork_parent(void)
{
    PyOS_AfterFork_Parent();
    PyGILState_Release(fork_gil);
}

static void fork_child(void)
{
    PyOS_AfterFork_Child();
    if (fork_gil == PyGILState_LOCKED)
        PyGILState_Release(fork_gil);
    else
        (void)PyEval_SaveThread();
}

#ifdef MPROC_FAULT_INJECTION
#include <pthread.h>

/* Test builds: _fork_from_core_thread(code) -> exit code. A thread that
 * never held the GIL (as a pool's service thread) starts a child through
 * the core; the child takes the GIL and runs `code`; exit code 0 if it
 * ran without an exception. Shows that both sides of such a fork keep a
 * working interpreter. */
struct core_fork {
    const char *code;
    int rc;
    int exitcode;
};

static int core_child(void *arg)
{
    struct core_fork *f = arg;
    PyGILState_STATE st = PyGILState_Ensure();
    int rc = PyRun_SimpleString(f->code);
    PyObject *sys_stdout = PySys_GetObject("stdout");
    if (sys_stdout) {
        PyObject *r = PyObject_CallMethod(sys_stdout, "flush", NULL);
        Py_XDECREF(r);
        PyErr_Clear();
    }
    PyGILState_Release(st);
    return rc == 0 ? 0 : 1;
}

static void *core_thread(void *arg)
{
    struct core_fork *f = arg;
    mproc_process *p;
    f->rc = mproc_process_start(&p, core_child, f, NULL);
    if (f->rc == 0) {
        struct mproc_exit st;
        f->rc = mproc_process_join(p, 30000, &st);
        f->exitcode = st.signaled ? -st.signal : st.code;
        mproc_process_close(p);
    }
    return NULL;
}

static PyObject *py_fork_from_core_thread(PyObject *self, PyObject *arg)
{
    (void)self;
    struct core_fork f = {.code = PyUnicode_AsUTF8(arg)};
    if (f.code == NULL)
        return NULL;
    pthread_t t;
    int err;
    PyThreadState *ts = PyEval_SaveThread();
    err = pthread_create(&t, NULL, core_thread, &f);
    if (err == 0)
        pthread_join(t, NULL);
    PyEval_RestoreThread(ts);
    if (err != 0)
        return mproc_py_raise(-err);
    if (f.rc < 0)
        return mproc_py_raise(f.rc);
    return PyLong_FromLong(f.exitcode);
}

static PyMethodDef fork_functions[] = {
    {"_fork_from_core_thread", py_fork_from_core_thread, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};
#endif

int mproc_py_init_fork(PyObject *module)
{
#ifdef MPROC_FAULT_INJECTION
    if (PyModule_AddFunctions(module, fork_functions) < 0)
        return -1;
#else
    (void)module;
#endif
    static const struct mproc__fork_hooks hooks = {
        .prepare = fork_prepare,
        .parent = fork_parent,
        .child = fork_child,
    };
    mproc__fork_hooks_set(&hooks);
    return 0;
}
