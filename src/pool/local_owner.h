/* local_owner.h - the owner side's private state of the local pool, shared
 * by local.c (the backend: posting, polling, cancel, timeouts) and
 * local_proc.c (the worker processes: start, kill, reap).
 */
#ifndef MPROC_POOL_LOCAL_OWNER_H
#define MPROC_POOL_LOCAL_OWNER_H

#include "local.h"

struct mproc__capture;

/* How a reaped worker ended. */
struct lp_reaped {
    int signal;    /* the signal that killed it, or 0 */
    int exit_code; /* its exit code, or -1 if killed or unknown */
};

struct lp_worker {
    pid_t pid;
    int pidfd;           /* -1 when no process; owned by proc if spawned */
    mproc_process *proc; /* spawned workers: process.c's handle (it reaps) */
    bool dead;           /* reaped, its slot being reported */
    bool lost_sent;
    bool gone_sent;
    int killed; /* MPROC_ECANCELED / MPROC_ETIMEDOUT: we killed it on purpose */
    struct lp_reaped how;
    struct mproc__lp_worker_args args;
};

/* What the owner posted into a slot. Events are built from this copy, never
 * from the slot's header: a worker's task that scribbles over the header
 * must not make the owner read outside the slot. */
struct lp_posted {
    uint64_t token;
    uint64_t ticket;
    uint64_t timeout_ns;
    uint32_t count, in_stride, out_size;
    bool in_use; /* posted, not yet released */
    bool handed; /* in an event the engine has not released yet */
};

struct lp {
    struct mproc__seg seg;
    bool spawn; /* workers re-execute the program (named segment) */
    struct mproc__lp_map m;
    struct mproc__lp_shm *shm;
    struct lp_worker *w;
    int nworkers;
    uint32_t nslots;
    uint32_t ring_size;
    uint64_t slot_bytes;
    uint64_t tail;      /* the owner's copy of shm.tail */
    uint64_t head_seen; /* shm.head as last read (it only grows) */
    uint32_t scan;      /* where poll's scan for DONE slots starts */
    unsigned polls;
    unsigned timed;           /* slots in use with a timeout */
    unsigned killing;         /* workers killed on purpose, not reaped yet */
    struct lp_posted *posted; /* nslots */
    uint32_t *free_slots;     /* stack of slots the owner may fill */
    uint32_t nfree;
    struct mproc__capture *capture; /* opts.capture_output, else NULL */
    /* opts.init_entry / init_arg / task_ctx by value (owned here, for every
     * worker started or restarted; spawn_exec sends them along). */
    char *init_name;
    void *init_copy;
    size_t init_len;
    void *ctx_copy;
    size_t ctx_len;
};

/* local_proc.c */
/* Start worker w (fork or spawn); its slots and words are reset first. */
int mproc__lp_spawn_worker(struct lp *lp, int w);
/* Reap wk if it ended (nohang) or when it ends: 1 and *how, 0 if it still
 * runs. With group, what is left of its process group is killed first. */
int mproc__lp_worker_reap(struct lp_worker *wk, bool nohang, bool group, struct lp_reaped *how);
/* Forget a reaped worker's process. */
void mproc__lp_worker_close(struct lp_worker *wk);
/* SIGKILL the worker and its process group. */
void mproc__lp_worker_kill(struct lp_worker *wk);
/* Kill (if asked), reap and forget a worker. */
void mproc__lp_reap_worker(struct lp_worker *wk, bool kill_it);

#endif
