/* entry.c - named entry points, and mproc_main(): the start of a child
 * created by the spawn start method.
 *
 * The names live in the library's one registry (registry.c), shared with
 * the pool's task names.
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
#include "process_internal.h"
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

MPROC_API int mproc_entry_register(const char *name, mproc_entry_fn fn)
{
    return mproc__reg_add(MPROC__REG_ENTRY, name, (mproc__reg_fn)fn);
}

MPROC_API mproc_entry_fn mproc_entry_find(const char *name)
{
    return (mproc_entry_fn)mproc__reg_find(MPROC__REG_ENTRY, name);
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
