/* pool_worker.c - the loop a local pool worker runs (see pool_local.h for
 * the layout and the slot protocol).
 *
 * Model: a worker owns nothing but its position in its own ring of slots.
 * It waits for its next slot to become POSTED (a brief spin, then a futex
 * sleep on wctl.bell), claims it (RUNNING), runs the task on each item,
 * publishing `ndone` after each one, and marks it DONE. It never touches a
 * slot in another state and never writes outside the slot it runs.
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
#include "pool_local.h"

#include <sched.h>
#include <unistd.h>

#define WORKER_SPIN 2048 /* polls of the next slot before sleeping */
#define WORKER_YIELD_EVERY 128
#define WORKER_SLEEP_CAP_MS 1000

static struct mproc__lp_slot *slot_at(const struct mproc__lp_worker_args *a, uint64_t i)
{
    return (struct mproc__lp_slot *)(void *)(a->slots + (size_t)(i % a->nslots) * a->slot_bytes);
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
    if (!a->shm->by_name)
        return (mproc_task_fn)(uintptr_t)fn;
    uint32_t n = atomic_load_explicit(&a->shm->ntasks, memory_order_acquire);
    if (fn == 0 || fn > n || fn > MPROC__LP_TASKS)
        return NULL;
    if (!cache[fn - 1]) {
        char name[MPROC__LP_TASK_NAME];
        memcpy(name, a->shm->tasks[fn - 1], sizeof name);
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

_Noreturn void mproc__lp_worker_main(const struct mproc__lp_worker_args *a)
{
    if (a->initializer && a->initializer(a->init_arg) != 0)
        _exit(111);
    atomic_store_explicit(&a->wctl->ready, 1, memory_order_release);

    uint64_t next = 0, tasks = 0;
    for (;;) {
        struct mproc__lp_slot *s = slot_at(a, next);
        uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
        for (int spin = 0; st != MPROC__LP_POSTED && spin < WORKER_SPIN; spin++) {
            /* Every WORKER_YIELD_EVERY polls, give the CPU to whoever wants it:
             * on a machine with more runnable processes than CPUs, the owner
             * we wait for may be waiting for our CPU. */
            if (spin % WORKER_YIELD_EVERY == WORKER_YIELD_EVERY - 1)
                sched_yield();
            else
                mproc__cpu_relax();
            st = atomic_load_explicit(&s->state, memory_order_acquire);
        }
        if (st != MPROC__LP_POSTED) {
            if (atomic_load_explicit(&a->wctl->stop, memory_order_acquire))
                _exit(0);
            uint32_t b = atomic_load_explicit(&a->wctl->bell, memory_order_seq_cst);
            atomic_store_explicit(&a->wctl->sleeping, 1, memory_order_seq_cst);
            st = atomic_load_explicit(&s->state, memory_order_seq_cst);
            if (st != MPROC__LP_POSTED && !atomic_load(&a->wctl->stop)) {
                struct mproc__deadline d;
                mproc__deadline_init(&d, WORKER_SLEEP_CAP_MS);
                if (mproc__futex_wait(&a->wctl->bell, b, &d) == MPROC_ETIMEDOUT &&
                    getppid() != a->owner)
                    _exit(0);
            }
            atomic_store_explicit(&a->wctl->sleeping, 0, memory_order_relaxed);
            continue;
        }
        atomic_store_explicit(&s->ndone, 0, memory_order_relaxed);
        atomic_store_explicit(&s->state, MPROC__LP_RUNNING, memory_order_release);
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
        atomic_store_explicit(&s->state, MPROC__LP_DONE, memory_order_seq_cst);
        atomic_fetch_add_explicit(&a->shm->done_bell, 1, memory_order_seq_cst);
        if (atomic_load_explicit(&a->shm->owner_waiting, memory_order_seq_cst))
            mproc__futex_wake(&a->shm->done_bell, 1);
        next++;
        if (a->max_tasks && tasks >= a->max_tasks) {
            atomic_store_explicit(&a->wctl->retired, 1, memory_order_release);
            _exit(0);
        }
    }
}
