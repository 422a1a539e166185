/* entry.c - named entry points, and mproc_main(): the start of a child
 * created by the spawn start method.
 *
 * The registry is a growable array of (name, function) pairs under one
 * mutex. Registrations normally happen in constructors (MPROC_ENTRY) before
 * main(), but any thread may register or look up at any time. Entries are
 * never removed, so a pointer returned by mproc_entry_find stays good.
 * Lookups are a linear scan: programs register a handful of entries.
 *
 * mproc_main() in a spawned child: read the hand-over (linux/spawn.c), take
 * the name and parent, arm the daemon's parent-death signal, find the entry
 * (missing: message on stderr, exit code 127 - the parent checked the name
 * in its own registry already, so this means the two programs differ), run
 * it and _exit with its result. It never returns into the program's main.
 * The objects handed to the child (handover.c) are adopted before the entry
 * runs, so it can ask for them with mproc_arg_<kind>().
 */
#include "internal.h"
#include "linux/child.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct entry {
    char name[MPROC__ENTRY_NAME_MAX + 1];
    mproc_entry_fn fn;
};

static pthread_mutex_t entry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct entry *entries;
static size_t n_entries, cap_entries;

static int entry_name_check(const char *name)
{
    if (name == NULL)
        return MPROC_EINVAL;
    size_t n = strnlen(name, MPROC__ENTRY_NAME_MAX + 1);
    if (n == 0 || n > MPROC__ENTRY_NAME_MAX || !mproc__entry_name_ok(name, n))
        return MPROC_EINVAL;
    return 0;
}

static struct entry *lookup_locked(const char *name)
{
    for (size_t i = 0; i < n_entries; i++)
        if (strcmp(entries[i].name, name) == 0)
            return &entries[i];
    return NULL;
}

MPROC_API int mproc_entry_register(const char *name, mproc_entry_fn fn)
{
    int rc = entry_name_check(name);
    if (rc < 0 || fn == NULL)
        return MPROC_EINVAL;
    pthread_mutex_lock(&entry_mu);
    struct entry *e = lookup_locked(name);
    if (e) {
        rc = e->fn == fn ? 0 : MPROC_EEXIST;
    } else {
        if (n_entries == cap_entries) {
            size_t cap = cap_entries ? cap_entries * 2 : 16;
            struct entry *grown = realloc(entries, cap * sizeof *grown);
            if (grown == NULL) {
                pthread_mutex_unlock(&entry_mu);
                return MPROC_ENOMEM;
            }
            entries = grown;
            cap_entries = cap;
        }
        snprintf(entries[n_entries].name, sizeof entries[n_entries].name, "%s", name);
        entries[n_entries].fn = fn;
        n_entries++;
    }
    pthread_mutex_unlock(&entry_mu);
    return rc;
}

MPROC_API mproc_entry_fn mproc_entry_find(const char *name)
{
    if (entry_name_check(name) < 0)
        return NULL;
    pthread_mutex_lock(&entry_mu);
    struct entry *e = lookup_locked(name);
    mproc_entry_fn fn = e ? e->fn : NULL;
    pthread_mutex_unlock(&entry_mu);
    return fn;
}

MPROC_API int mproc_main(int argc, char **argv)
{
    mproc__save_argv0(argc > 0 && argv ? argv[0] : NULL);
    static struct mproc__handoff h; /* static: the name is kept by pointer */
    int rc = mproc__spawn_receive(&h);
    if (rc == 0)
        return 0;
    if (rc < 0) {
        fprintf(stderr, "mproc: broken spawn hand-over (%s)\n", mproc_strerror(rc));
        return rc;
    }
    mproc__child_setup(h.name, h.ppid, h.pstart, h.daemon);
    mproc__handover_adopt(h.objs, h.n_objs);
    mproc_entry_fn fn = mproc_entry_find(h.entry);
    if (fn == NULL) {
        fprintf(stderr, "mproc: no entry point named \"%s\" in this program\n", h.entry);
        free(h.arg);
        mproc__child_exit(127);
    }
    rc = fn(h.arg, h.arg_len);
    free(h.arg);
    mproc__child_exit(rc);
}
