/* pool_task.c - the registry of named pool tasks (MPROC_TASK).
 *
 * Model: a fixed table of (name, function) pairs filled by constructors
 * before main() and read afterwards; a mutex guards registration and lookup
 * so that late registrations from threads are safe too. The table is the
 * same in every process running the same program, which is what lets the
 * spawn start method and the MPI backend name a task instead of sending a
 * pointer.
 */
#include "pool_internal.h"

#include <pthread.h>

#define TASKS_MAX 256
#define TASK_NAME_MAX 63

static struct {
    char name[TASK_NAME_MAX + 1];
    mproc_task_fn fn;
} tasks[TASKS_MAX];
static int ntasks;
static pthread_mutex_t tasks_lock = PTHREAD_MUTEX_INITIALIZER;

static bool name_ok(const char *name)
{
    size_t n = 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (n >= TASK_NAME_MAX)
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-'))
            return false;
    }
    return n > 0;
}

int mproc_task_register(const char *name, mproc_task_fn fn)
{
    if (!name || !fn || !name_ok(name))
        return MPROC_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&tasks_lock);
    for (int i = 0; i < ntasks; i++) {
        if (strcmp(tasks[i].name, name) == 0) {
            rc = tasks[i].fn == fn ? 0 : MPROC_EEXIST;
            goto out;
        }
    }
    if (ntasks == TASKS_MAX) {
        rc = MPROC_ENOMEM;
        goto out;
    }
    strcpy(tasks[ntasks].name, name);
    tasks[ntasks].fn = fn;
    ntasks++;
out:
    pthread_mutex_unlock(&tasks_lock);
    return rc;
}

mproc_task_fn mproc_task_find(const char *name)
{
    mproc_task_fn fn = NULL;
    if (!name)
        return NULL;
    pthread_mutex_lock(&tasks_lock);
    for (int i = 0; i < ntasks && !fn; i++)
        if (strcmp(tasks[i].name, name) == 0)
            fn = tasks[i].fn;
    pthread_mutex_unlock(&tasks_lock);
    return fn;
}

const char *mproc_task_name(mproc_task_fn fn)
{
    const char *name = NULL;
    if (!fn)
        return NULL;
    pthread_mutex_lock(&tasks_lock);
    for (int i = 0; i < ntasks && !name; i++)
        if (tasks[i].fn == fn)
            name = tasks[i].name;
    pthread_mutex_unlock(&tasks_lock);
    return name; /* entries are never removed: the pointer stays valid */
}
