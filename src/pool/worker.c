/* worker.c - the loop a local pool worker runs (see local.h for the layout,
 * the queue and the slot protocol).
 *
 * Model: a worker owns nothing between chunks. When idle it claims the
 * oldest queued chunk (a CAS on the slot's control word, then helping the
 * queue's head on), runs the task on each item, publishing `ndone` after
 * each one, and marks the slot DONE. With nothing queued it spins briefly,
 * then sleeps on shm.work_bell. It never touches a slot it did not claim
 * and never writes outside the slot it runs.
 *
 * Every offset and size read from a slot is checked against slot_bytes: the
 * owner is trusted to be a correct mproc, but a corrupt slot must give an
 * error status, not a wild write.
 *
 * It exits (with _exit, so no atexit handler of the owner runs twice) when
 * the owner asks it to stop and nothing is posted, after max_tasks items, or
 * when its initializer fails (exit code 111). When the owner dies, the
 * kernel kills it (PR_SET_PDEATHSIG); as a second line it checks getppid()
 * whenever a sleep times out.
 */
#include "local.h"
#include "linux/spin.h"

#include <sched.h>
#include <stdio.h>
#include <unistd.h>

/* How long an idle worker polls for the next chunk before it sleeps:
 * decided in time by linux/spin.c, and skipped when the owner that posts
 * work cannot be running (more runnable processes than CPUs). */
static struct mproc__spin_site worker_spin_site;
static struct mproc__spin_site worker_yield_site; /* when spinning is skipped */
#define WORKER_SLEEP_CAP_MS 1000

static struct mproc__lp_slot *slot_at(const struct mproc__lp_worker_args *a, uint32_t idx)
{
    return (struct mproc__lp_slot *)(void *)(a->m.slots + (size_t)idx * a->slot_bytes);
}

/* Claim the oldest queued chunk: its slot index, or -1 if the queue is
 * empty. See local.h for why every step is safe against a worker that dies
 * anywhere in it. */
static int64_t claim(const struct mproc__lp_worker_args *a)
{
    struct mproc__lp_shm *shm = a->m.shm;
    uint32_t ring = 2 * a->nslots;
    for (;;) {
        uint64_t h = atomic_load_explicit(&shm->head, memory_order_acquire);
        if (h >= atomic_load_explicit(&shm->tail, memory_order_acquire))
            return -1;
        uint32_t idx = atomic_load_explicit(&a->m.ring[h % ring], memory_order_acquire);
        int64_t mine = -1;
        if (idx < a->nslots) {
            uint64_t want = mproc__lp_word(h, 0, MPROC__LP_POSTED);
            if (atomic_compare_exchange_strong_explicit(
                    &a->m.ctl[idx], &want, mproc__lp_word(h, a->worker, MPROC__LP_RUNNING),
                    memory_order_acq_rel, memory_order_acquire)) {
                mine = idx;
                /* Claimed, head not moved on yet: others must help it on. */
                MPROC__KILL_POINT("pool.worker.claimed");
            }
        }
        atomic_compare_exchange_strong_explicit(&shm->head, &h, h + 1, memory_order_acq_rel,
                                                memory_order_relaxed);
        if (mine >= 0)
            return mine;
    }
}

/* Sleep until the owner posts (or asks us to stop): false when told to stop
 * with nothing queued, or when the owner is gone. */
static bool wait_for_work(const struct mproc__lp_worker_args *a)
{
    struct mproc__lp_shm *shm = a->m.shm;
    atomic_fetch_add_explicit(&shm->sleepers, 1, memory_order_seq_cst);
    uint32_t b = atomic_load_explicit(&shm->work_bell, memory_order_seq_cst);
    bool go = true;
    if (atomic_load_explicit(&shm->head, memory_order_seq_cst) >=
        atomic_load_explicit(&shm->tail, memory_order_seq_cst)) {
        if (atomic_load_explicit(&shm->stop, memory_order_seq_cst)) {
            go = false;
        } else {
            struct mproc__deadline d;
            mproc__deadline_init(&d, WORKER_SLEEP_CAP_MS);
            if (mproc__futex_wait(&shm->work_bell, b, &d) == MPROC_ETIMEDOUT &&
                getppid() != a->owner)
                go = false;
        }
    }
    atomic_fetch_sub_explicit(&shm->sleepers, 1, memory_order_seq_cst);
    return go;
}

static bool slot_valid(const struct mproc__lp_slot *s, uint64_t slot_bytes)
{
    uint64_t n = s->count;
    if (n == 0)
        return false;
    uint64_t end_status = (uint64_t)s->off_status + 4 * n;
    uint64_t end_outlen = (uint64_t)s->off_out_len + 4 * n;
    uint64_t end_inlen = (uint64_t)s->off_in_len + 4 * n;
    uint64_t end_in = (uint64_t)s->off_in + n * s->in_stride;
    uint64_t end_out = (uint64_t)s->off_out + n * s->out_size;
    uint64_t lo = sizeof *s;
    return s->off_status >= lo && s->off_out_len >= lo && s->off_in_len >= lo && s->off_in >= lo &&
           s->off_out >= lo && end_status <= slot_bytes && end_outlen <= slot_bytes &&
           end_inlen <= slot_bytes && end_in <= slot_bytes && end_out <= slot_bytes && s->fn != 0 &&
           (s->off_status & 3) == 0 && (s->off_out_len & 3) == 0 && (s->off_in_len & 3) == 0;
}

/* The task a slot names: a pointer (forked workers), or for a spawned
 * worker the name at shm.tasks[fn - 1], looked up in this program's
 * registry (cached). NULL if unknown. */
static mproc_task_fn resolve(const struct mproc__lp_worker_args *a, uint64_t fn)
{
    static mproc_task_fn cache[MPROC__LP_TASKS];
    if (!a->m.shm->by_name)
        return (mproc_task_fn)(uintptr_t)fn;
    uint32_t n = atomic_load_explicit(&a->m.shm->ntasks, memory_order_acquire);
    if (fn == 0 || fn > n || fn > MPROC__LP_TASKS)
        return NULL;
    if (!cache[fn - 1]) {
        char name[MPROC__LP_TASK_NAME];
        memcpy(name, a->m.shm->tasks[fn - 1], sizeof name);
        name[sizeof name - 1] = '\0';
        cache[fn - 1] = mproc_task_find(name);
    }
    return cache[fn - 1];
}

/* Runs the chunk in slot s (checked by slot_valid); returns its item count.
 * The header is read once, before any task runs: a task that scribbles
 * over it cannot steer the loop. */
static uint32_t run_slot(const struct mproc__lp_worker_args *a, struct mproc__lp_slot *s)
{
    unsigned char *base = (unsigned char *)s;
    const uint32_t n = s->count, in_stride = s->in_stride, out_size = s->out_size;
    const bool timed = s->timeout_ns != 0;
    unsigned char *in = base + s->off_in, *outs = base + s->off_out;
    int32_t *status = (int32_t *)(void *)(base + s->off_status);
    uint32_t *out_len = (uint32_t *)(void *)(base + s->off_out_len);
    const uint32_t *in_len = (const uint32_t *)(const void *)(base + s->off_in_len);
    mproc_task_fn fn = resolve(a, s->fn);
    if (!fn) {
        for (uint32_t i = 0; i < n; i++) {
            status[i] = MPROC_ENOENTRY;
            out_len[i] = 0;
        }
        atomic_store_explicit(&s->ndone, n, memory_order_release);
        return n;
    }
    for (uint32_t i = 0; i < n; i++) {
        size_t ilen = in_len[i] <= in_stride ? in_len[i] : in_stride;
        size_t olen = out_size;
        unsigned char *out = outs + (size_t)i * out_size;
        if (timed)
            atomic_store_explicit(&s->item_start_ns, mproc__now_ns(), memory_order_release);
        int rc = fn(in + (size_t)i * in_stride, ilen, out, &olen, a->task_ctx);
        if (rc > 0)
            rc = MPROC_ETASKFAILED;
        if (rc == 0 && olen > out_size)
            rc = MPROC_EOVERFLOW;
        status[i] = rc;
        out_len[i] = rc == 0 ? (uint32_t)olen : 0;
        atomic_store_explicit(&s->ndone, i + 1, memory_order_release);
    }
    return n;
}

static _Noreturn void leave(const struct mproc__lp_worker_args *a, int code)
{
    if (a->flush_stdout)
        fflush(stdout);
    _exit(code);
}

_Noreturn void mproc__lp_worker_main(const struct mproc__lp_worker_args *a)
{
    struct mproc__lp_shm *shm = a->m.shm;
    if (a->initializer && a->initializer(a->init_arg) != 0)
        leave(a, 111);
    if (a->init_entry && a->init_entry(a->init_bytes, a->init_len) != 0)
        leave(a, 111);
    atomic_store_explicit(&a->m.wctl[a->worker].ready, 1, memory_order_release);

    uint64_t tasks = 0;
    for (;;) {
        int64_t got = claim(a);
        struct mproc__spin sp = {0};
        struct mproc__spin_yield y = {0};
        if (got < 0) {
            mproc__spin_begin(&sp, &worker_spin_site, -1, NULL);
            if (sp.limit_ns == 0) {
                /* Spinning cannot pay: the owner may need this CPU. */
                mproc__spin_yield_begin(&y, &worker_yield_site, 0);
                while (got < 0 && mproc__spin_yield_more(&y)) {
                    if (atomic_load_explicit(&shm->head, memory_order_relaxed) <
                        atomic_load_explicit(&shm->tail, memory_order_relaxed))
                        got = claim(a);
                }
                if (got >= 0)
                    mproc__spin_yield_done(&y);
            }
            while (got < 0 && mproc__spin_more(&sp)) {
                if (atomic_load_explicit(&shm->head, memory_order_relaxed) <
                    atomic_load_explicit(&shm->tail, memory_order_relaxed))
                    got = claim(a);
            }
        }
        if (got < 0) {
            if (!wait_for_work(a))
                leave(a, 0);
            mproc__spin_woken(&sp); /* how long the idle spell lasted */
            mproc__spin_yield_done(&y);
            continue;
        }
        /* More queued: pass the wake-up on, so that the owner can post a
         * batch with one wake. */
        if (atomic_load_explicit(&shm->head, memory_order_seq_cst) <
                atomic_load_explicit(&shm->tail, memory_order_seq_cst) &&
            atomic_load_explicit(&shm->sleepers, memory_order_seq_cst)) {
            atomic_fetch_add_explicit(&shm->work_bell, 1, memory_order_seq_cst);
            mproc__futex_wake(&shm->work_bell, 1);
        }
        uint32_t idx = (uint32_t)got;
        struct mproc__lp_slot *s = slot_at(a, idx);
        uint32_t count;
        if (slot_valid(s, a->slot_bytes)) {
            count = run_slot(a, s);
        } else {
            count = s->count;
            /* A corrupt slot: report every item as failed, run nothing. */
            atomic_store_explicit(&s->ndone, 0, memory_order_relaxed);
            if (s->count > 0 && s->off_status >= sizeof *s &&
                (uint64_t)s->off_status + 4ull * s->count <= a->slot_bytes &&
                (uint64_t)s->off_out_len + 4ull * s->count <= a->slot_bytes &&
                s->off_out_len >= sizeof *s) {
                unsigned char *base = (unsigned char *)s;
                for (uint32_t i = 0; i < s->count; i++) {
                    ((int32_t *)(void *)(base + s->off_status))[i] = MPROC_ECORRUPT;
                    ((uint32_t *)(void *)(base + s->off_out_len))[i] = 0;
                }
                atomic_store_explicit(&s->ndone, s->count, memory_order_release);
            }
        }
        tasks += count;
        /* Every item finished, DONE not published: the owner must keep them all. */
        MPROC__KILL_POINT("pool.worker.before_done");
        uint64_t word = atomic_load_explicit(&a->m.ctl[idx], memory_order_relaxed);
        atomic_store_explicit(&a->m.ctl[idx],
                              mproc__lp_word(mproc__lp_ticket(word), a->worker, MPROC__LP_DONE),
                              memory_order_seq_cst);
        atomic_fetch_add_explicit(&shm->done_bell, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&shm->owner_waiting, memory_order_seq_cst))
            mproc__futex_wake(&shm->done_bell, 1);
        if (a->max_tasks && tasks >= a->max_tasks) {
            atomic_store_explicit(&a->m.wctl[a->worker].retired, 1, memory_order_release);
            leave(a, 0);
        }
    }
}
