/* process_internal.h - the hooks process.c offers to the rest of the
 * library (the spawn child's entry in entry.c). */
#ifndef MPROC_PROCESS_INTERNAL_H
#define MPROC_PROCESS_INTERNAL_H

#include <stdint.h>
#include <sys/types.h>

/* mproc__child_setup - in a new child (fork or spawn): take the name (kept
 * by pointer: it must stay valid for the life of the process), record the
 * parent, drop the parent's children, and for a daemon arm PR_SET_PDEATHSIG
 * and die at once (SIGKILL) if the parent is already gone. */
void mproc__child_setup(const char *name, pid_t ppid, uint64_t pstart, int daemon);
/* mproc__save_argv0 - called by mproc_main (argv0 may be NULL): spawn is
 * allowed from then on. mproc__saved_argv0 - argv[0] as mproc_main saw it,
 * or NULL. */
const char *mproc__saved_argv0(void);
void mproc__save_argv0(const char *argv0);
/* mproc__child_exit - end a child started by mproc: flush stdout/stderr,
 * kill and reap its own daemon children, _exit(rc & 0xff). */
_Noreturn void mproc__child_exit(int rc);

#endif
