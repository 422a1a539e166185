/* registry.c - the one name -> function registry (registry.h).
 *
 * Model: a growable array of (kind, name, function) entries under one
 * mutex. Registrations normally happen in constructors (MPROC_ENTRY,
 * MPROC_TASK) before main(), but any thread may register or look up at any
 * time. The same program registers the same names in every process, which
 * is what lets a spawned child, a spawned pool worker or an MPI rank be
 * handed a name instead of a pointer. A name is unique within its kind.
 *
 * Entries are never removed, and the names live in blocks that are never
 * moved or freed (the array of entries grows by realloc, but it holds
 * pointers to the names), so a name returned by mproc__reg_name stays
 * valid. Lookups are a linear scan: programs register a handful of names.
 */
#include "registry.h"
#include "linux/child.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct reg_entry {
    int kind;
    mproc__reg_fn fn;
    char *name; /* never moved: see above */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct reg_entry *regs;
static size_t n_regs, cap_regs;

static bool name_ok(const char *name)
{
    if (!name)
        return false;
    size_t n = strnlen(name, MPROC__ENTRY_NAME_MAX + 1);
    return n > 0 && n <= MPROC__ENTRY_NAME_MAX && mproc__entry_name_ok(name, n);
}

static struct reg_entry *lookup_locked(int kind, const char *name)
{
    for (size_t i = 0; i < n_regs; i++)
        if (regs[i].kind == kind && strcmp(regs[i].name, name) == 0)
            return &regs[i];
    return NULL;
}

int mproc__reg_add(int kind, const char *name, mproc__reg_fn fn)
{
    if (!name_ok(name) || !fn)
        return MPROC_EINVAL;
    int rc = 0;
    pthread_mutex_lock(&reg_mu);
    struct reg_entry *e = lookup_locked(kind, name);
    if (e) {
        rc = e->fn == fn ? 0 : MPROC_EEXIST;
        goto out;
    }
    if (n_regs == cap_regs) {
        size_t cap = cap_regs ? cap_regs * 2 : 16;
        struct reg_entry *grown = realloc(regs, cap * sizeof *grown);
        if (!grown) {
            rc = MPROC_ENOMEM;
            goto out;
        }
        regs = grown;
        cap_regs = cap;
    }
    char *copy = strdup(name);
    if (!copy) {
        rc = MPROC_ENOMEM;
        goto out;
    }
    regs[n_regs++] = (struct reg_entry){.kind = kind, .fn = fn, .name = copy};
out:
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

mproc__reg_fn mproc__reg_find(int kind, const char *name)
{
    if (!name_ok(name))
        return NULL;
    pthread_mutex_lock(&reg_mu);
    struct reg_entry *e = lookup_locked(kind, name);
    mproc__reg_fn fn = e ? e->fn : NULL;
    pthread_mutex_unlock(&reg_mu);
    return fn;
}

const char *mproc__reg_name(int kind, mproc__reg_fn fn)
{
    const char *name = NULL;
    if (!fn)
        return NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < n_regs && !name; i++)
        if (regs[i].kind == kind && regs[i].fn == fn)
            name = regs[i].name;
    pthread_mutex_unlock(&reg_mu);
    return name;
}
