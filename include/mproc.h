/* mproc.h - processes, queues, pipes, shared memory, locks and pools across
 * processes, for C on Linux. The one header users include.
 *
 *   #include <mproc.h>        link with -lmproc (pkg-config mproc, or
 *                             find_package(mproc) -> mproc::mproc)
 *
 * Conventions that hold everywhere (details in mproc/common.h):
 *  - every fallible call returns 0 (or a count >= 0) or a negative MPROC_E*
 *    code; out-parameters are written only on success;
 *  - a call that can block takes `int timeout_ms`: 0 tries once, N waits at
 *    most N ms, MPROC_FOREVER waits as long as it takes;
 *  - handles are opaque and allocated by the library (`mproc_x **out`);
 *    objects you place in your own shared memory are plain fixed-layout
 *    structs that must not move while in use;
 *  - every file descriptor mproc opens is close-on-exec.
 *
 * Sections: common.h (errors, version, timeouts), process.h (processes,
 * cpu_count, entry points), shm.h (shared memory), pipe.h (framed
 * messages over a socket pair), queue.h (the shared-memory queue), sync.h
 * (locks, semaphores, conditions, events, barriers, shared values), pool.h
 * (the process pool), wait.h (readiness descriptors for event loops, and
 * one wait over many objects). msgpack helpers are in <mproc/msgpack.h> (-lmproc_value),
 * the MPI pool in <mproc/pool_mpi.h> (-lmproc_mpi).
 */
#ifndef MPROC_H
#define MPROC_H

#include "mproc/common.h"
#include "mproc/process.h"
#include "mproc/shm.h"
#include "mproc/pipe.h"
#include "mproc/queue.h"
#include "mproc/sync.h"
#include "mproc/pool.h"
#include "mproc/wait.h"

#endif
