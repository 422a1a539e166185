/* task.c - the names of pool tasks (MPROC_TASK): a thin layer over the
 * library's one name -> function registry (registry.c), where they live
 * beside the entry points of spawned processes. The same program registers
 * the same names in every process, which is what lets the spawn start
 * method and the MPI backend name a task instead of sending a pointer.
 */
#include "pool_internal.h"
#include "registry.h"

int mproc_task_register(const char *name, mproc_task_fn fn)
{
    return mproc__reg_add(MPROC__REG_TASK, name, (mproc__reg_fn)fn);
}

mproc_task_fn mproc_task_find(const char *name)
{
    return (mproc_task_fn)mproc__reg_find(MPROC__REG_TASK, name);
}

const char *mproc_task_name(mproc_task_fn fn)
{
    return mproc__reg_name(MPROC__REG_TASK, (mproc__reg_fn)fn);
}
