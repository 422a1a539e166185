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

int mproc_py_init_fork(PyObject *module)
{
    (void)module;
    static const struct mproc__fork_hooks hooks = {
        .prepare = fork_prepare,
        .parent = fork_parent,
        .child = fork_child,
    };
    mproc__fork_hooks_set(&hooks);
    return 0;
}
