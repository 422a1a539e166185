/* wait/probe.h - how a watch (and mproc_wait) looks at an object: the one
 * interface between src/wait/ and the objects' own files.
 *
 * A probe does what the object's blocking call does just before it sleeps:
 * it reads the futex word, announces a sleeper in the object's own words (a
 * queue's need flag, a lock's or semaphore's WAITERS bit, an event's
 * "someone may sleep" state), then checks the condition. Either the check
 * sees the change, or the waker sees the announcement and wakes the word
 * after the value was read (the futex wait then returns at once): the same
 * Dekker pair as the object's own waiters, so no change is ever missed and
 * a waker that finds no announcement pays nothing.
 *
 * Each object's file implements its probe next to the protocol it belongs
 * to (queue/watch.c, sync/event.c, sync/sem.c, sync/lock.c,
 * sync/barrier.c, pool/watch.c); wait/probe.c dispatches on the kind.
 */
#ifndef MPROC_WAIT_PROBE_H
#define MPROC_WAIT_PROBE_H

#include "../internal.h"

#include <mproc/wait.h>

/* What to sleep on when a probe says "not ready". cap_ms: probe again after
 * at most this long even without a wake-up (a peer may have died; a put is
 * between its claim and its publish); -1: only a wake-up matters. */
struct mproc__wsleep {
    _Atomic uint32_t *word;
    uint32_t val;
    int cap_ms;
};

/* One watched condition. state: what the condition is relative to (a
 * barrier's generation, a pool's result count at arming); look: also do the
 * object's checks for dead peers this time. */
struct mproc__wsrc {
    int kind;
    void *obj;
    uint64_t arg;   /* QUEUE_PUT: units */
    uint64_t state; /* BARRIER: generation; POOL/FUTURE: the result bell last seen */
    /* POOL/FUTURE, set when armed by the owner thread, so that the service
     * thread touches shared-memory words only: */
    _Atomic uint32_t *bell, *flag; /* the results word and its sleeper flag */
    int cap_ms;                    /* look again after at most this long */
    uint64_t due_ns;               /* work in flight: ready at this time anyway (0: none) */
    bool ready_now;                /* a finished future */
    bool arm_once;                 /* mproc_wait: a barrier's round is the one of the call */
    bool armed;                    /* armed at least once */
};

/* mproc__wsrc_init - validate obj for kind and fill s (len: QUEUE_PUT).
 * 0 or the codes of mproc_watch_create. */
int mproc__wsrc_init(struct mproc__wsrc *s, int kind, void *obj, size_t len);
/* mproc__wsrc_arm - capture the state the condition is relative to (from
 * the thread that owns the object: pools). */
void mproc__wsrc_arm(struct mproc__wsrc *s);
/* mproc__wsrc_probe - announce, then check: 1 ready (also when the object
 * answers with an error: its own call will report it), 0 not ready (*sl
 * filled). */
int mproc__wsrc_probe(struct mproc__wsrc *s, bool look, struct mproc__wsleep *sl);
/* mproc__wsrc_check - the condition now, announcing nothing: 1 or 0. */
int mproc__wsrc_check(struct mproc__wsrc *s);
/* mproc__wsrc_pass - the watcher was woken through the object's word and
 * will not take what it found (a lock, a semaphore unit): pass one wake-up
 * on, so a real waiter that the wake-up was meant for is not left asleep. */
void mproc__wsrc_pass(struct mproc__wsrc *s);

/* The objects' halves. Every one: 1 ready, 0 not ready (*sl filled). */
struct mproc_queue;
struct mproc_pool;
struct mproc_future;
int mproc__q_watch_init(struct mproc_queue *q, bool getter, size_t len, uint64_t *units);
int mproc__q_watch_probe(struct mproc_queue *q, bool getter, uint64_t units, bool announce,
                         bool look, struct mproc__wsleep *sl);
int mproc__event_probe(void *e, bool announce, struct mproc__wsleep *sl);
int mproc__sem_probe(void *s, bool announce, bool look, struct mproc__wsleep *sl);
int mproc__lk_probe(void *l, bool announce, bool look, struct mproc__wsleep *sl);
int mproc__barrier_check(void *b);    /* 0 or the codes of barrier calls */
uint32_t mproc__barrier_gen(void *b); /* the current generation */
int mproc__barrier_probe(void *b, uint32_t gen, bool announce, bool look, struct mproc__wsleep *sl);
/* Pools and futures (pool/watch.c): init validates (0 or a code), arm runs
 * in the owner thread, probe touches only s->bell and s->flag. */
int mproc__pool_watch_init(struct mproc__wsrc *s);
void mproc__pool_watch_arm(struct mproc__wsrc *s);
int mproc__pool_watch_probe(struct mproc__wsrc *s, bool announce, struct mproc__wsleep *sl);

#endif
