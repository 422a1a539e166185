/* local.h - the shared-memory layout of the local pool, shared by the owner
 * side (local.c) and the worker loop (worker.c).
 *
 * One anonymous segment (memfd, kind MPROC__SEG_POOL), inherited by fork:
 *
 *   struct mproc__lp_shm                 pool-wide words: the queue's cursors, bells
 *   struct mproc__lp_wctl  [workers]     one control block per worker
 *   _Atomic uint32_t ring  [2 * nslots]  the queue: ticket t -> slot ring[t % (2 nslots)]
 *   _Atomic uint64_t ctl   [nslots]      one control word per slot
 *   slot [nslots]                        slot_bytes each
 *
 * The slots belong to the pool, not to a worker: every posted chunk waits
 * in one FIFO that every idle worker pulls from, so no chunk ever waits
 * behind a running task while another worker is idle.
 *
 * A slot holds one chunk: struct mproc__lp_slot, then (offsets in the
 * header, all checked against slot_bytes by the worker)
 *   int32_t  status[count]     0 or the task's code, per finished item
 *   uint32_t out_len[count]    bytes of each result
 *   uint32_t in_len[count]     bytes of each input (always filled)
 *   inputs                     count * in_stride
 *   outputs                    count * out_size
 *
 * Control word of a slot: ticket << 24 | worker << 8 | state.
 *   FREE    -> POSTED(t)     owner, after filling the slot (release), then
 *                            ring[t % R] = slot and tail = t + 1 (release)
 *   POSTED(t) -> RUNNING(t,w) worker w, by CAS: the claim. Exactly one
 *                            worker wins; who wins is in the word itself,
 *                            so a worker that dies right after its CAS is
 *                            still known to hold the slot.
 *   POSTED(t) -> FREE        owner, by CAS: takes an unstarted chunk back
 *                            (cancel, or an abandoned map); it never runs
 *   RUNNING -> DONE          worker, after the last item (release)
 *   DONE    -> FREE          owner, after copying the results out
 * While RUNNING, `ndone` (release, by the worker after each item) counts the
 * items finished: the item being run is ndone. That is the owner's exact
 * knowledge of what a worker holds when it dies. A worker holds at most one
 * slot at a time, so a dead worker loses exactly one chunk.
 *
 * The queue: `tail` (owner) counts tickets posted; `head` (workers) is the
 * next ticket to claim. A worker reads head h < tail, the slot ring[h % R]
 * and its word; if the word is POSTED(h) it CASes it to RUNNING(h, w); in
 * every case it then CASes head from h to h + 1 (helping: a worker that died
 * between its claim and moving head does not stop the queue; a word that is
 * not POSTED(h) means ticket h was taken or given back). The ticket inside
 * the word makes a stale read harmless. The owner writes ring[t % R] only
 * while t - head < R, so it never overwrites a ticket not yet passed.
 *
 * Per-item timeouts: the owner sets slot.timeout_ns; the worker then stores
 * the monotonic time before each item into slot.item_start_ns (release), and
 * the owner kills a worker whose item ran longer than its timeout.
 *
 * Spawned workers (the spawn start method) cannot use pointers: shm.by_name
 * is set, and a slot's fn is the 1-based index of the task's MPROC_TASK name
 * in shm.tasks, which the worker looks up in its own registry.
 *
 * Futexes:
 *   shm.work_bell  owner increments (seq_cst) after publishing tail; a worker
 *                  that finds the queue empty adds itself to `sleepers`
 *                  (seq_cst), re-checks head < tail and sleeps on work_bell
 *                  with the value read before the re-check. The owner wakes
 *                  one sleeper per post when it sees sleepers > 0; a worker
 *                  that claims a chunk and sees more queued wakes another.
 *   shm.done_bell  workers increment (seq_cst) after each DONE; the owner
 *                  sleeps on it the same way with shm.owner_waiting.
 * The Dekker pair (store own flag, load the other side's word, both seq_cst)
 * guarantees that a sleeper is never missed.
 */
#ifndef MPROC_POOL_LOCAL_H
#define MPROC_POOL_LOCAL_H

#include "pool_internal.h"
#include "linux/spin.h"

#include <sched.h>

enum { MPROC__LP_FREE = 0, MPROC__LP_POSTED = 1, MPROC__LP_RUNNING = 2, MPROC__LP_DONE = 3 };

#define MPROC__LP_TASKS 64
#define MPROC__LP_TASK_NAME 64

/* Control words. */
#define MPROC__LP_TICKET_SHIFT 24
#define MPROC__LP_TICKET_MASK ((UINT64_C(1) << 40) - 1)
static inline uint64_t mproc__lp_word(uint64_t ticket, uint32_t worker, uint32_t state)
{
    return (ticket & MPROC__LP_TICKET_MASK) << MPROC__LP_TICKET_SHIFT |
           (uint64_t)(worker & 0xffff) << 8 | (state & 0xff);
}
static inline uint32_t mproc__lp_state(uint64_t w)
{
    return (uint32_t)(w & 0xff);
}
static inline uint32_t mproc__lp_worker(uint64_t w)
{
    return (uint32_t)(w >> 8) & 0xffff;
}
static inline uint64_t mproc__lp_ticket(uint64_t w)
{
    return w >> MPROC__LP_TICKET_SHIFT;
}

struct mproc__lp_shm {
    uint32_t workers;
    uint32_t nslots; /* slots of the whole pool */
    uint64_t slot_bytes;
    uint32_t by_name; /* spawned workers: slot.fn is an index into tasks[] */
    uint32_t ring_size;
    uint8_t pad0[MPROC__FALSE_SHARING - 24];
    _Atomic uint64_t tail; /* owner: tickets posted */
    uint8_t pad1[MPROC__FALSE_SHARING - 8];
    _Atomic uint64_t head; /* workers: the next ticket to claim */
    uint8_t pad2[MPROC__FALSE_SHARING - 8];
    _Atomic uint32_t work_bell;
    _Atomic uint32_t sleepers;
    _Atomic uint32_t stop; /* owner: 1 = exit once the queue is empty */
    uint8_t pad3[MPROC__FALSE_SHARING - 12];
    _Atomic uint32_t done_bell;
    _Atomic uint32_t owner_waiting;
    uint8_t pad4[MPROC__FALSE_SHARING - 8];
    /* Task names of a spawned pool, appended by the owner only: the name is
     * written first, then ntasks is raised (release); a worker reads ntasks
     * (acquire) and only names below it. */
    _Atomic uint32_t ntasks;
    uint8_t pad5[MPROC__CACHELINE - 4];
    char tasks[MPROC__LP_TASKS][MPROC__LP_TASK_NAME];
};

struct mproc__lp_wctl {
    _Atomic uint32_t ready;   /* worker: 1 once the initializer succeeded */
    _Atomic uint32_t retired; /* worker: 1 when leaving after max tasks */
    int32_t pid;
    uint8_t pad[MPROC__CACHELINE - 12];
};

struct mproc__lp_slot {
    _Atomic uint32_t ndone;
    uint32_t count;
    uint64_t fn; /* mproc_task_fn (forked workers) or index into shm.tasks (by_name) */
    uint32_t in_stride;
    uint32_t out_size;
    uint32_t off_status;
    uint32_t off_out_len;
    uint32_t off_in_len;
    uint32_t off_in;
    uint32_t off_out;
    uint64_t timeout_ns;            /* 0: none; else the worker stamps item_start_ns */
    _Atomic uint64_t item_start_ns; /* when the running item started (CLOCK_MONOTONIC) */
};
_Static_assert(sizeof(struct mproc__lp_slot) == MPROC__CACHELINE, "slot header size");

/* Where each part of the segment's body starts. */
struct mproc__lp_map {
    struct mproc__lp_shm *shm;
    struct mproc__lp_wctl *wctl;
    _Atomic uint32_t *ring;
    _Atomic uint64_t *ctl;
    unsigned char *slots;
};
static inline size_t mproc__lp_body_size(uint64_t workers, uint64_t nslots, uint64_t slot_bytes)
{
    size_t fixed = sizeof(struct mproc__lp_shm) + sizeof(struct mproc__lp_wctl) * workers +
                   sizeof(uint32_t) * 2 * nslots;
    fixed = (fixed + 63) & ~(size_t)63;
    fixed += sizeof(uint64_t) * nslots;
    fixed = (fixed + 63) & ~(size_t)63;
    return fixed + nslots * slot_bytes;
}
static inline void mproc__lp_map_init(struct mproc__lp_map *m, void *body, uint64_t workers,
                                      uint64_t nslots)
{
    unsigned char *b = body;
    size_t off = sizeof(struct mproc__lp_shm);
    m->shm = body;
    m->wctl = (struct mproc__lp_wctl *)(void *)(b + off);
    off += sizeof(struct mproc__lp_wctl) * workers;
    m->ring = (_Atomic uint32_t *)(void *)(b + off);
    off += sizeof(uint32_t) * 2 * nslots;
    off = (off + 63) & ~(size_t)63;
    m->ctl = (_Atomic uint64_t *)(void *)(b + off);
    off += sizeof(uint64_t) * nslots;
    off = (off + 63) & ~(size_t)63;
    m->slots = b + off;
}

/* Everything a worker needs; lives in the owner's memory and is inherited
 * by fork. */
struct mproc__lp_worker_args {
    struct mproc__lp_map m;
    uint32_t worker; /* this worker's index */
    uint32_t nslots;
    uint64_t slot_bytes;
    pid_t owner;
    mproc_pool_init_fn initializer;
    void *init_arg;
    mproc_entry_fn init_entry; /* or this, with init_bytes/init_len */
    const void *init_bytes;
    size_t init_len;
    void *task_ctx;
    uint64_t max_tasks;
    bool flush_stdout; /* output captured: flush stdio before leaving */
};

/* The entry point spawned workers run (registered by local.c). */
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
    /* Followed by init_name_len bytes of the initializer's entry name (no
     * NUL), init_len bytes of its argument, ctx_len bytes of task context. */
    uint32_t init_name_len;
    uint32_t init_len;
    uint32_t ctx_len;
};

/* The most bytes an initializer argument or a task context may have (each):
 * they travel in every spawned worker's start arguments. */
#define MPROC__LP_BYVALUE_MAX (64u * 1024)

/* Where spinning cannot pay, the owner (local.c) and idle workers
 * (worker.c) yield for their site's learned budget before they sleep
 * (mproc__spin_yield_*, linux/spin.h): an idle pool stops yielding soon. */

/* mproc__lp_worker_main - the worker's loop (worker.c); never returns. */
_Noreturn void mproc__lp_worker_main(const struct mproc__lp_worker_args *a);

#endif
