/* pool_local.h - the shared-memory layout of the local pool, shared by the
 * owner side (pool_local.c) and the worker loop (pool_worker.c).
 *
 * One anonymous segment (memfd, kind MPROC__SEG_POOL), inherited by fork:
 *
 *   struct mproc__lp_shm                     pool-wide words (owner's futex)
 *   struct mproc__lp_wctl  [workers]         one control block per worker
 *   slot [workers][slots]                    slot_bytes each
 *
 * A slot holds one chunk: struct mproc__lp_slot, then (offsets in the
 * header, all checked against slot_bytes by the worker)
 *   int32_t  status[count]     0 or the task's code, per finished item
 *   uint32_t out_len[count]    bytes of each result
 *   uint32_t in_len[count]     bytes of each input (always filled)
 *   inputs                     count * in_stride
 *   outputs                    count * out_size
 *
 * Slot state (the slot's futex-free ownership word, `state`):
 *   FREE    -> POSTED   owner, after filling the slot (release)
 *   POSTED  -> RUNNING  worker, before its first item (release)
 *   RUNNING -> DONE     worker, after the last item (release)
 *   DONE    -> FREE     owner, after copying results out
 * While RUNNING, `ndone` (release, by the worker after each item) counts the
 * items finished: the item being run is ndone. That is the owner's exact
 * knowledge of what a worker holds when it dies. Each worker uses its own
 * ring of slots in order (index i -> slot i % slots), so the owner posts and
 * harvests in ring order too.
 *
 * Spawned workers (the spawn start method) cannot use pointers: shm.by_name
 * is set, and a slot's fn is the 1-based index of the task's MPROC_TASK name
 * in shm.tasks, which the worker looks up in its own registry.
 *
 * Futexes:
 *   wctl.bell     owner increments (seq_cst) after posting; a worker with no
 *                 POSTED slot sets `sleeping` = 1 (seq_cst), re-checks its
 *                 next slot and sleeps on bell with the value read before the
 *                 re-check. The owner wakes only when it sees sleeping == 1.
 *   shm.done_bell workers increment (seq_cst) after each DONE; the owner
 *                 sleeps on it the same way with shm.owner_waiting.
 * The Dekker pair (store own flag, load the other side's word, both seq_cst)
 * guarantees that a sleeper is never missed.
 */
#ifndef MPROC_POOL_LOCAL_H
#define MPROC_POOL_LOCAL_H

#include "pool_internal.h"

enum { MPROC__LP_FREE = 0, MPROC__LP_POSTED = 1, MPROC__LP_RUNNING = 2, MPROC__LP_DONE = 3 };

#define MPROC__LP_TASKS 64
#define MPROC__LP_TASK_NAME 64

struct mproc__lp_shm {
    uint32_t workers;
    uint32_t slots;
    uint64_t slot_bytes;
    uint32_t by_name; /* spawned workers: slot.fn is an index into tasks[] */
    uint8_t pad0[MPROC__FALSE_SHARING - 20];
    _Atomic uint32_t done_bell;
    _Atomic uint32_t owner_waiting;
    uint8_t pad1[MPROC__FALSE_SHARING - 8];
    /* Task names of a spawned pool, appended by the owner only: the name is
     * written first, then ntasks is raised (release); a worker reads ntasks
     * (acquire) and only names below it. */
    _Atomic uint32_t ntasks;
    uint8_t pad2[MPROC__CACHELINE - 4];
    char tasks[MPROC__LP_TASKS][MPROC__LP_TASK_NAME];
};

struct mproc__lp_wctl {
    _Atomic uint32_t bell;
    _Atomic uint32_t sleeping;
    _Atomic uint32_t stop;    /* owner: 1 = exit once no slot is POSTED */
    _Atomic uint32_t ready;   /* worker: 1 once the initializer succeeded */
    _Atomic uint32_t retired; /* worker: 1 when leaving after max tasks */
    int32_t pid;
    uint8_t pad[MPROC__FALSE_SHARING - 24];
};

struct mproc__lp_slot {
    _Atomic uint32_t state;
    _Atomic uint32_t ndone;
    uint64_t token;
    uint64_t fn; /* mproc_task_fn (forked workers) or index into shm.tasks (by_name) */
    uint32_t count;
    uint32_t in_stride;
    uint32_t out_size;
    uint32_t off_status;
    uint32_t off_out_len;
    uint32_t off_in_len;
    uint32_t off_in;
    uint32_t off_out;
    uint8_t pad[MPROC__CACHELINE - 56];
};
_Static_assert(sizeof(struct mproc__lp_slot) == MPROC__CACHELINE, "slot header size");

/* Everything a worker needs; lives in the owner's memory and is inherited
 * by fork. */
struct mproc__lp_worker_args {
    struct mproc__lp_shm *shm;
    struct mproc__lp_wctl *wctl;
    unsigned char *slots; /* this worker's first slot */
    uint32_t nslots;
    uint64_t slot_bytes;
    pid_t owner;
    mproc_pool_init_fn initializer;
    void *init_arg;
    void *task_ctx;
    uint64_t max_tasks;
};

/* The entry point spawned workers run (registered by pool_local.c). */
#define MPROC__LP_SPAWN_ENTRY "mproc.pool.worker"

/* What the owner passes to a spawned worker (the entry's argument bytes). */
struct mproc__lp_spawn_arg {
    char seg_name[MPROC__NAME_MAX + 1];
    uint32_t worker;
    uint32_t workers;
    uint32_t slots;
    uint32_t pad;
    uint64_t slot_bytes;
    uint64_t max_tasks;
    int32_t owner;
};

/* mproc__lp_worker_main - the worker's loop (pool_worker.c); never returns. */
_Noreturn void mproc__lp_worker_main(const struct mproc__lp_worker_args *a);

#endif
