/* registry.h - the one name -> function registry of the library: entry
 * points of spawned processes (MPROC_ENTRY, entry.c) and pool tasks
 * (MPROC_TASK, pool/task.c, found by name by spawned pool workers and MPI
 * ranks). See registry.c.
 */
#ifndef MPROC_REGISTRY_H
#define MPROC_REGISTRY_H

#include "internal.h"

enum mproc__reg_kind { MPROC__REG_ENTRY = 1, MPROC__REG_TASK = 2 };

typedef void (*mproc__reg_fn)(void);

/* mproc__reg_add - register fn under name for kind. 0 (also when that very
 * pair is there already); MPROC_EINVAL (bad name: 1..63 bytes of
 * [A-Za-z0-9_.-], or NULL fn); MPROC_EEXIST (the name belongs to another
 * function of that kind); MPROC_ENOMEM. */
int mproc__reg_add(int kind, const char *name, mproc__reg_fn fn);
/* mproc__reg_find - the function of kind registered under name, or NULL. */
mproc__reg_fn mproc__reg_find(int kind, const char *name);
/* mproc__reg_name - the name fn is registered under for kind, or NULL; the
 * string stays valid for the life of the process. */
const char *mproc__reg_name(int kind, mproc__reg_fn fn);

#endif
