/* local.c - the local backend of the pool: forked worker processes that
 * pull chunks from one queue of task slots in a shared segment (layout and
 * slot protocol in local.h, the worker's loop in worker.c).
 *
 * Owner side model: the owner keeps its own copy of what it posted in each
 * slot (struct lp_posted) and a stack of slots it may fill. post() fills a
 * free slot and appends its ticket to the queue; whichever worker is idle
 * claims it. poll() scans the slots' control words for DONE ones (a short
 * array, so one scan finds every finished chunk: results are gathered in
 * batches) and hands them to the engine one by one. With nothing DONE it
 * spins briefly, then sleeps on shm.done_bell (capped at DEATH_CHECK_MS, or
 * at the nearest per-item deadline), and looks for dead workers before
 * every sleep and every DEATH_CHECK_POLLS polls: waitid(P_PIDFD, WNOHANG)
 * reaps a dead worker and tells how it ended. A dead worker holds at most
 * one slot (RUNNING with its index in the control word): that one is
 * reported as LOST with its exact progress, followed by WORKER_GONE. The
 * slot is untouched until the engine releases the event, so the inputs it
 * copies for re-dispatch are intact.
 *
 * Process trees: each forked worker leads its own process group, and every
 * kill (cancel, timeout, terminate, close) and every unexpected death the
 * owner notices signals the whole group, so processes a task started die
 * with their worker instead of being orphaned. A worker that leaves
 * normally (join, max_tasks_per_worker) leaves its group alone.
 *
 * Start methods: fork (default) - the worker inherits an anonymous segment
 * and the task pointers are valid in it; we hold its pidfd and reap it with
 * waitid(P_PIDFD). Spawn - process.c re-executes the program as a daemon
 * running MPROC__LP_SPAWN_ENTRY, which opens the segment by its random name
 * (removed when the pool is freed); slots then carry the index of the task's
 * registered name in shm.tasks, and process.c's handle does the reaping.
 */
#include "capture.h"
#include "local_owner.h"
#include "linux/child.h"
#include "linux/spin.h"
#include "linux/sysmem.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* How long the owner spins for an event before it sleeps: decided in time
 * by linux/spin.c (and not at all when the workers cannot be running). */
static struct mproc__spin_site owner_spin_site;
static struct mproc__spin_site owner_yield_site; /* when spinning is skipped */
#define DEATH_CHECK_MS 10
#define KILL_CHECK_MS 1 /* while a worker we killed is not reaped yet */
#define DEATH_CHECK_POLLS 256

static struct lp *lp_of(struct mproc_pool *p)
{
    return p->be;
}

static struct mproc__lp_slot *slot_of(struct lp *lp, uint32_t idx)
{
    return (struct mproc__lp_slot *)(void *)(lp->m.slots + (size_t)idx * lp->slot_bytes);
}

/* The layout of a chunk of n items inside a slot (the owner computes it from
 * what it posted and never reads offsets back from shared memory). */
struct lp_layout {
    size_t status, out_len, in_len, in, out, end;
};

static struct lp_layout layout(size_t n, size_t in_stride, size_t out_size)
{
    struct lp_layout l;
    l.status = sizeof(struct mproc__lp_slot);
    l.out_len = l.status + 4 * n;
    l.in_len = l.out_len + 4 * n;
    l.in = (l.in_len + 4 * n + 15) & ~(size_t)15;
    l.out = (l.in + n * in_stride + 15) & ~(size_t)15;
    l.end = l.out + n * out_size;
    return l;
}

static size_t lp_max_items(struct mproc_pool *p, size_t in_size, size_t out_size)
{
    struct lp *lp = lp_of(p);
    if (in_size > lp->slot_bytes || out_size > lp->slot_bytes)
        return 0;
    size_t per = 12 + in_size + out_size;
    size_t n = (lp->slot_bytes - sizeof(struct mproc__lp_slot)) / per;
    while (n > 0 && layout(n, in_size, out_size).end > lp->slot_bytes)
        n--;
    return n > UINT32_MAX ? UINT32_MAX : n;
}

static size_t lp_max_chunks(struct mproc_pool *p)
{
    return lp_of(p)->nslots;
}

static void lp_free(struct lp *lp)
{
    if (lp->w) {
        for (int i = 0; i < lp->nworkers; i++)
            mproc__lp_reap_worker(&lp->w[i], true);
        free(lp->w);
    }
    mproc__capture_stop(lp->capture); /* the workers are gone: drain, stop */
    free(lp->posted);
    free(lp->free_slots);
    free(lp->init_name);
    free(lp->init_copy);
    free(lp->ctx_copy);
    if (lp->shm)
        mproc__seg_close(&lp->seg, true);
    free(lp);
}

/* Every slot free, the queue empty (no worker may be running). */
static void reset_slots(struct lp *lp)
{
    lp->nfree = 0;
    for (uint32_t i = lp->nslots; i-- > 0;) {
        atomic_store_explicit(&lp->m.ctl[i], 0, memory_order_relaxed);
        lp->posted[i].in_use = lp->posted[i].handed = false;
        lp->free_slots[lp->nfree++] = i;
    }
    lp->timed = 0;
    atomic_store_explicit(&lp->shm->head, lp->tail, memory_order_seq_cst);
    lp->head_seen = lp->tail;
}

int mproc__pool_local_start(const struct mproc_pool_opts *o, void **be_out)
{
    struct lp *lp = calloc(1, sizeof *lp);
    if (!lp)
        return MPROC_ENOMEM;
    lp->nworkers = o->workers;
    lp->nslots = (uint32_t)o->workers * o->slots_per_worker;
    lp->ring_size = 2 * lp->nslots;
    lp->slot_bytes = o->slot_bytes;
    lp->spawn = o->start_method == MPROC_START_SPAWN;
    size_t body = mproc__lp_body_size((uint64_t)o->workers, lp->nslots, lp->slot_bytes);
    /* Before reserving: fallocate of more than memory + swap would not fail
     * but run the machine into the OOM killer. */
    int rc = mproc__sysmem_check(body + MPROC__SEG_HDR_SIZE, lp->spawn);
    if (rc < 0) {
        free(lp);
        return rc;
    }
    /* Forked workers inherit an anonymous segment; spawned ones open it by a
     * random name, removed when the pool is freed. */
    rc = mproc__seg_create(&lp->seg, lp->spawn ? "" : NULL, MPROC__SEG_POOL, body);
    if (rc < 0) {
        free(lp);
        return rc;
    }
    lp->shm = lp->seg.body;
    mproc__lp_map_init(&lp->m, lp->shm, (uint64_t)o->workers, lp->nslots);
    lp->shm->workers = (uint32_t)o->workers;
    lp->shm->nslots = lp->nslots;
    lp->shm->slot_bytes = lp->slot_bytes;
    lp->shm->by_name = lp->spawn;
    lp->shm->ring_size = lp->ring_size;
    mproc__seg_publish(&lp->seg);
    lp->w = calloc((size_t)o->workers, sizeof *lp->w);
    lp->posted = calloc(lp->nslots, sizeof *lp->posted);
    lp->free_slots = calloc(lp->nslots, sizeof *lp->free_slots);
    if (!lp->w || !lp->posted || !lp->free_slots) {
        lp_free(lp);
        return MPROC_ENOMEM;
    }
    reset_slots(lp);
    for (int i = 0; i < o->workers; i++)
        lp->w[i].pidfd = -1;
    if (o->capture_output) {
        /* The pids the prefix names: the segment's copy, written at each
         * (re)spawn; capture reads it atomically. */
        rc = mproc__capture_start(&lp->capture, o->workers, &lp->m.wctl[0].pid,
                                  sizeof(struct mproc__lp_wctl), o->on_output, o->output_arg);
        if (rc < 0) {
            lp_free(lp);
            return rc;
        }
    }
    /* The by-value initializer and task context, kept for restarts. */
    mproc_entry_fn init_fn = NULL;
    if (o->init_entry) {
        init_fn = mproc_entry_find(o->init_entry);
        lp->init_name = strdup(o->init_entry);
        lp->init_len = o->init_arg_len;
        lp->init_copy = malloc(o->init_arg_len ? o->init_arg_len : 1);
        if (!init_fn || !lp->init_name || !lp->init_copy) {
            lp_free(lp);
            return init_fn ? MPROC_ENOMEM : MPROC_ENOENTRY;
        }
        if (o->init_arg_len)
            memcpy(lp->init_copy, o->init_arg, o->init_arg_len);
    }
    if (o->task_ctx_len) {
        lp->ctx_len = o->task_ctx_len;
        if (!(lp->ctx_copy = malloc(o->task_ctx_len))) {
            lp_free(lp);
            return MPROC_ENOMEM;
        }
        memcpy(lp->ctx_copy, o->task_ctx, o->task_ctx_len);
    }
    for (int i = 0; i < o->workers; i++) {
        struct mproc__lp_worker_args *a = &lp->w[i].args;
        a->m = lp->m;
        a->worker = (uint32_t)i;
        a->nslots = lp->nslots;
        a->slot_bytes = lp->slot_bytes;
        a->owner = getpid();
        a->initializer = o->initializer;
        a->init_arg = o->init_arg;
        a->init_entry = init_fn;
        a->init_bytes = lp->init_copy;
        a->init_len = lp->init_len;
        a->task_ctx = lp->ctx_copy ? lp->ctx_copy : o->task_ctx;
        a->max_tasks = o->max_tasks_per_worker;
        a->flush_stdout = o->capture_output != 0;
        if ((rc = mproc__lp_spawn_worker(lp, i)) < 0) {
            lp_free(lp);
            return rc;
        }
    }
    *be_out = lp;
    return 0;
}

/* A spawned pool names tasks: the 1-based index of fn's registered name in
 * shm.tasks (appended on first use), MPROC_ENOENTRY if fn has no name,
 * MPROC_ENOSPC if the table is full. */
static int64_t task_id(struct lp *lp, mproc_task_fn fn)
{
    const char *name = mproc_task_name(fn);
    if (!name)
        return MPROC_ENOENTRY;
    uint32_t n = atomic_load_explicit(&lp->shm->ntasks, memory_order_relaxed);
    for (uint32_t i = 0; i < n; i++)
        if (strncmp(lp->shm->tasks[i], name, MPROC__LP_TASK_NAME) == 0)
            return i + 1;
    if (n == MPROC__LP_TASKS || strlen(name) >= MPROC__LP_TASK_NAME)
        return MPROC_ENOSPC;
    snprintf(lp->shm->tasks[n], MPROC__LP_TASK_NAME, "%s", name);
    atomic_store_explicit(&lp->shm->ntasks, n + 1, memory_order_release);
    return n + 1;
}

/* Move head past tickets that were claimed or taken back (what a worker
 * would do on its next claim; needed only when the ring is short of room
 * after chunks were taken back). */
static void help_head(struct lp *lp)
{
    for (;;) {
        uint64_t h = atomic_load_explicit(&lp->shm->head, memory_order_acquire);
        if (h >= lp->tail)
            return;
        uint32_t idx = atomic_load_explicit(&lp->m.ring[h % lp->ring_size], memory_order_acquire);
        if (idx < lp->nslots && atomic_load_explicit(&lp->m.ctl[idx], memory_order_acquire) ==
                                    mproc__lp_word(h, 0, MPROC__LP_POSTED))
            return; /* a chunk still waits for a worker */
        atomic_compare_exchange_strong_explicit(&lp->shm->head, &h, h + 1, memory_order_acq_rel,
                                                memory_order_acquire);
    }
}

static int lp_post(struct mproc_pool *p, const struct mproc__pool_chunk *c)
{
    struct lp *lp = lp_of(p);
    uint64_t fn = (uint64_t)(uintptr_t)c->fn;
    if (lp->spawn) {
        int64_t id = task_id(lp, c->fn);
        if (id < 0)
            return (int)id;
        fn = (uint64_t)id;
    }
    struct lp_layout l = layout(c->count, c->in_stride, c->out_size);
    if (c->count == 0 || l.end > lp->slot_bytes)
        return MPROC_EMSGSIZE;
    if (lp->nfree == 0)
        return MPROC_EAGAIN;
    uint64_t t = lp->tail;
    /* Room in the ring? head only grows, so an old value that says yes is
     * right; the shared word (written by every claim) is read only when the
     * old value says no. */
    if (t - lp->head_seen >= lp->ring_size) {
        lp->head_seen = atomic_load_explicit(&lp->shm->head, memory_order_acquire);
        if (t - lp->head_seen >= lp->ring_size) {
            help_head(lp);
            lp->head_seen = atomic_load_explicit(&lp->shm->head, memory_order_acquire);
            if (t - lp->head_seen >= lp->ring_size)
                return MPROC_EAGAIN;
        }
    }
    uint32_t idx = lp->free_slots[--lp->nfree];
    struct mproc__lp_slot *s = slot_of(lp, idx);
    unsigned char *base = (unsigned char *)s;
    lp->posted[idx] = (struct lp_posted){.token = c->token,
                                         .ticket = t,
                                         .timeout_ns = c->timeout_ns,
                                         .count = c->count,
                                         .in_stride = c->in_stride,
                                         .out_size = c->out_size,
                                         .in_use = true};
    if (c->timeout_ns)
        lp->timed++;
    s->fn = fn;
    s->count = c->count;
    s->in_stride = c->in_stride;
    s->out_size = c->out_size;
    s->off_status = (uint32_t)l.status;
    s->off_out_len = (uint32_t)l.out_len;
    s->off_in_len = (uint32_t)l.in_len;
    s->off_in = (uint32_t)l.in;
    s->off_out = (uint32_t)l.out;
    s->timeout_ns = c->timeout_ns;
    atomic_store_explicit(&s->item_start_ns, 0, memory_order_relaxed);
    uint32_t *in_len = (uint32_t *)(void *)(base + l.in_len);
    for (uint32_t i = 0; i < c->count; i++)
        in_len[i] = c->in_lens ? c->in_lens[i] : c->in_stride;
    if (c->in_stride)
        memcpy(base + l.in, c->in, (size_t)c->count * c->in_stride);
    atomic_store_explicit(&s->ndone, 0, memory_order_relaxed);
    atomic_store_explicit(&lp->m.ctl[idx], mproc__lp_word(t, 0, MPROC__LP_POSTED),
                          memory_order_release);
    atomic_store_explicit(&lp->m.ring[t % lp->ring_size], idx, memory_order_release);
    lp->tail = t + 1;
    atomic_store_explicit(&lp->shm->tail, t + 1, memory_order_seq_cst);
    if (atomic_load_explicit(&lp->shm->sleepers, memory_order_seq_cst)) {
        atomic_fetch_add_explicit(&lp->shm->work_bell, 1, memory_order_seq_cst);
        mproc__futex_wake(&lp->shm->work_bell, 1);
    }
    return 0;
}

static void fill_event(struct lp *lp, uint32_t idx, struct mproc__pool_event *ev)
{
    struct lp_posted *ps = &lp->posted[idx];
    struct lp_layout l = layout(ps->count, ps->in_stride, ps->out_size);
    unsigned char *base = (unsigned char *)slot_of(lp, idx);
    ev->token = ps->token;
    ev->count = ps->count;
    ev->status = (const int32_t *)(const void *)(base + l.status);
    ev->out_len = (const uint32_t *)(const void *)(base + l.out_len);
    ev->out = base + l.out;
    ev->out_stride = ps->out_size;
    ev->in = base + l.in;
    ev->in_stride = ps->in_stride;
    ev->in_lens = (const uint32_t *)(const void *)(base + l.in_len);
    ev->backend_ref = (void *)(uintptr_t)(idx + 1);
    ps->handed = true;
}

/* Look for workers that ended and reap them. True if one did. */
static bool check_deaths(struct lp *lp)
{
    bool any = false;
    for (int w = 0; w < lp->nworkers; w++) {
        struct lp_worker *wk = &lp->w[w];
        if (wk->pidfd < 0 || wk->dead)
            continue;
        struct lp_reaped how;
        /* A worker that retired after max_tasks_per_worker left normally. */
        bool left = atomic_load(&lp->m.wctl[w].retired) && !wk->killed;
        if (mproc__lp_worker_reap(wk, true, !left, &how) == 1) {
            mproc__lp_worker_close(wk);
            wk->dead = true;
            wk->how = how;
            if (wk->killed && lp->killing)
                lp->killing--;
            any = true;
        }
    }
    return any;
}

/* The next event of a dead worker, if any: its RUNNING slot as LOST, then
 * WORKER_GONE. A DONE slot it left is an ordinary DONE event. */
static bool dead_event(struct lp *lp, struct mproc__pool_event *ev)
{
    for (int w = 0; w < lp->nworkers; w++) {
        struct lp_worker *wk = &lp->w[w];
        if (!wk->dead || wk->gone_sent)
            continue;
        memset(ev, 0, sizeof *ev);
        ev->worker = w;
        ev->pid = wk->pid;
        ev->signal = wk->how.signal;
        ev->exit_code = wk->how.exit_code;
        ev->killed = wk->killed;
        if (!wk->lost_sent) {
            for (uint32_t i = 0; i < lp->nslots; i++) {
                struct lp_posted *ps = &lp->posted[i];
                if (!ps->in_use || ps->handed)
                    continue;
                uint64_t word = atomic_load_explicit(&lp->m.ctl[i], memory_order_acquire);
                if (mproc__lp_state(word) != MPROC__LP_RUNNING ||
                    mproc__lp_worker(word) != (uint32_t)w)
                    continue;
                fill_event(lp, i, ev);
                ev->kind = MPROC__POOL_EV_LOST;
                uint32_t nd = atomic_load_explicit(&slot_of(lp, i)->ndone, memory_order_acquire);
                if (nd > ev->count)
                    nd = ev->count; /* a corrupt word from a dead worker */
                ev->ndone = nd;
                ev->running = nd < ev->count;
                return true;
            }
            wk->lost_sent = true;
        }
        ev->kind = MPROC__POOL_EV_WORKER_GONE;
        struct mproc__lp_wctl *c = &lp->m.wctl[w];
        ev->retired = !wk->killed && atomic_load(&c->retired) && wk->how.exit_code == 0;
        ev->init_failed = !wk->killed && !atomic_load(&c->ready) && wk->how.exit_code == 111;
        wk->gone_sent = true;
        return true;
    }
    return false;
}

static bool ready_event(struct lp *lp, struct mproc__pool_event *ev)
{
    uint32_t n = lp->nslots;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t i = lp->scan + k < n ? lp->scan + k : lp->scan + k - n;
        struct lp_posted *ps = &lp->posted[i];
        if (!ps->in_use || ps->handed)
            continue;
        if (mproc__lp_state(atomic_load_explicit(&lp->m.ctl[i], memory_order_acquire)) !=
            MPROC__LP_DONE)
            continue;
        memset(ev, 0, sizeof *ev);
        fill_event(lp, i, ev);
        uint64_t word = atomic_load_explicit(&lp->m.ctl[i], memory_order_relaxed);
        uint32_t w = mproc__lp_worker(word);
        ev->worker = w < (uint32_t)lp->nworkers ? (int)w : 0;
        ev->pid = lp->w[ev->worker].pid;
        ev->kind = MPROC__POOL_EV_DONE;
        ev->ndone = ev->count;
        lp->scan = i + 1 == n ? 0 : i + 1;
        return true;
    }
    return false;
}

static void kill_on_purpose(struct lp *lp, int w, int why)
{
    struct lp_worker *wk = &lp->w[w];
    if (wk->pidfd < 0 || wk->dead || wk->killed)
        return;
    wk->killed = why;
    lp->killing++;
    mproc__lp_worker_kill(wk);
}

/* Kill the workers whose item overran its timeout; returns how long until
 * the next deadline (ns, UINT64_MAX: none). */
static uint64_t check_timeouts(struct lp *lp)
{
    if (lp->timed == 0)
        return UINT64_MAX;
    uint64_t now = mproc__now_ns(), next = UINT64_MAX;
    for (uint32_t i = 0; i < lp->nslots; i++) {
        struct lp_posted *ps = &lp->posted[i];
        if (!ps->in_use || ps->handed || !ps->timeout_ns)
            continue;
        uint64_t word = atomic_load_explicit(&lp->m.ctl[i], memory_order_acquire);
        if (mproc__lp_state(word) != MPROC__LP_RUNNING)
            continue;
        uint64_t start = atomic_load_explicit(&slot_of(lp, i)->item_start_ns, memory_order_acquire);
        if (start == 0) {
            next = 0; /* claimed, not yet stamped: look again soon */
            continue;
        }
        uint32_t w = mproc__lp_worker(word);
        if (w >= (uint32_t)lp->nworkers)
            continue;
        /* Still the same chunk on the same worker? (It may have finished
         * since we read its word: then the stamp is stale.) */
        if (now >= start + ps->timeout_ns &&
            atomic_load_explicit(&lp->m.ctl[i], memory_order_acquire) == word)
            kill_on_purpose(lp, (int)w, MPROC_ETIMEDOUT);
        else if (start + ps->timeout_ns - now < next)
            next = start + ps->timeout_ns - now;
    }
    return next;
}

/* Whether the owner may yield instead of spinning (see local.h). Under
 * load one yield may give the CPU away for a scheduler slice (milliseconds),
 * and a yielding owner still competes for a CPU, so only while nothing but
 * running workers' progress is awaited: no killed worker to reap, no
 * per-item deadline to enforce, no worker starting up (it needs the CPU
 * more), and the caller's deadline beyond the budget. */
static bool may_yield(struct lp *lp, const struct mproc__deadline *d)
{
    if (lp->killing || lp->timed)
        return false;
    for (int w = 0; w < lp->nworkers; w++)
        if (lp->w[w].pidfd < 0 || lp->w[w].dead ||
            !atomic_load_explicit(&lp->m.wctl[w].ready, memory_order_relaxed))
            return false;
    if (d->forever)
        return true;
    uint64_t end = (uint64_t)d->abs.tv_sec * 1000000000ull + (uint64_t)d->abs.tv_nsec;
    return end > mproc__now_ns() + mproc__spin_budget(&owner_yield_site);
}

static int lp_poll(struct mproc_pool *p, struct mproc__pool_event *ev,
                   const struct mproc__deadline *d)
{
    struct lp *lp = lp_of(p);
    if (++lp->polls % DEATH_CHECK_POLLS == 0) {
        check_deaths(lp);
        check_timeouts(lp);
    }
    struct mproc__spin sp = {0};
    struct mproc__spin_yield y = {0};
    bool spinning = true, yielding = false;
    for (;;) {
        if (dead_event(lp, ev) || ready_event(lp, ev)) {
            mproc__spin_yield_done(&y);
            return 0; /* an episode left open counts as a successful spin */
        }
        if (d == NULL) {
            check_timeouts(lp);
            if (check_deaths(lp) && dead_event(lp, ev))
                return 0;
            return MPROC_ETIMEDOUT;
        }
        if (spinning) {
            if (!sp.begun) {
                mproc__spin_begin(&sp, &owner_spin_site, -1, d);
                yielding = sp.limit_ns == 0 && may_yield(lp, d);
                if (yielding && !y.site)
                    mproc__spin_yield_begin(&y, &owner_yield_site, 0);
            }
            if (yielding) {
                /* Spinning cannot pay: a worker may need this CPU. */
                if (mproc__spin_yield_more(&y))
                    continue;
                yielding = false;
            } else if (mproc__spin_more(&sp)) {
                continue;
            }
            spinning = false;
        }
        uint64_t next_ns = check_timeouts(lp);
        if (check_deaths(lp))
            continue;
        int cap = lp->killing ? KILL_CHECK_MS : DEATH_CHECK_MS;
        if (next_ns < (uint64_t)cap * 1000000u)
            cap = (int)(next_ns / 1000000u) + 1;
        uint32_t b = atomic_load_explicit(&lp->shm->done_bell, memory_order_seq_cst);
        atomic_store_explicit(&lp->shm->owner_waiting, 1, memory_order_seq_cst);
        if (ready_event(lp, ev)) {
            atomic_store_explicit(&lp->shm->owner_waiting, 0, memory_order_relaxed);
            return 0;
        }
        int rc = mproc__futex_wait_capped(&lp->shm->done_bell, b, d, cap);
        atomic_store_explicit(&lp->shm->owner_waiting, 0, memory_order_relaxed);
        if (rc == MPROC_ETIMEDOUT) {
            if ((check_deaths(lp) && dead_event(lp, ev)) || ready_event(lp, ev))
                return 0;
            return MPROC_ETIMEDOUT;
        }
        /* woken: teach the policy how long that took, then spin again */
        mproc__spin_woken(&sp);
        spinning = true;
    }
}

static uint32_t lp_prepare_wait(struct mproc_pool *p, int *cap_ms)
{
    struct lp *lp = lp_of(p);
    uint64_t next_ns = check_timeouts(lp);
    int cap = lp->killing ? KILL_CHECK_MS : DEATH_CHECK_MS;
    if (next_ns < (uint64_t)cap * 1000000u)
        cap = (int)(next_ns / 1000000u) + 1;
    *cap_ms = cap;
    return atomic_load_explicit(&lp->shm->done_bell, memory_order_seq_cst);
}

/* Without the pool's lock: touches only the segment's words (the segment
 * outlives the service thread). */
static void lp_wait(struct mproc_pool *p, uint32_t seen, int cap_ms)
{
    struct mproc__lp_shm *shm = ((struct lp *)p->be)->shm;
    struct mproc__deadline d;
    mproc__deadline_init(&d, cap_ms);
    atomic_store_explicit(&shm->owner_waiting, 1, memory_order_seq_cst);
    (void)mproc__futex_wait(&shm->done_bell, seen, &d);
    atomic_store_explicit(&shm->owner_waiting, 0, memory_order_relaxed);
}

static _Atomic uint32_t *lp_bell(struct mproc_pool *p, _Atomic uint32_t **flag)
{
    struct mproc__lp_shm *shm = ((struct lp *)p->be)->shm;
    *flag = &shm->owner_waiting;
    return &shm->done_bell;
}

static void slot_release(struct lp *lp, uint32_t idx)
{
    struct lp_posted *ps = &lp->posted[idx];
    if (!ps->in_use)
        return;
    if (ps->timeout_ns)
        lp->timed--;
    ps->in_use = ps->handed = false;
    atomic_store_explicit(&lp->m.ctl[idx], mproc__lp_word(ps->ticket, 0, MPROC__LP_FREE),
                          memory_order_release);
    lp->free_slots[lp->nfree++] = idx;
}

static void lp_release(struct mproc_pool *p, struct mproc__pool_event *ev)
{
    struct lp *lp = lp_of(p);
    uintptr_t ref = (uintptr_t)ev->backend_ref;
    if (ref > 0 && ref <= lp->nslots)
        slot_release(lp, (uint32_t)(ref - 1));
}

static int lp_cancel(struct mproc_pool *p, uint64_t token, bool stop_running)
{
    struct lp *lp = lp_of(p);
    for (uint32_t i = 0; i < lp->nslots; i++) {
        struct lp_posted *ps = &lp->posted[i];
        if (!ps->in_use || ps->token != token)
            continue;
        if (ps->handed)
            return MPROC_EALREADY;
        uint64_t want = mproc__lp_word(ps->ticket, 0, MPROC__LP_POSTED);
        if (atomic_compare_exchange_strong_explicit(&lp->m.ctl[i], &want,
                                                    mproc__lp_word(ps->ticket, 0, MPROC__LP_FREE),
                                                    memory_order_acq_rel, memory_order_acquire)) {
            ps->handed = true; /* so that slot_release takes it */
            slot_release(lp, i);
            return 0;
        }
        if (mproc__lp_state(want) != MPROC__LP_RUNNING || !stop_running)
            return MPROC_EALREADY;
        uint32_t w = mproc__lp_worker(want);
        if (w >= (uint32_t)lp->nworkers)
            return MPROC_EALREADY;
        kill_on_purpose(lp, (int)w, MPROC_ECANCELED);
        return 1;
    }
    return MPROC_ENOENT;
}

static int lp_respawn(struct mproc_pool *p, int w)
{
    struct lp *lp = lp_of(p);
    if (w < 0 || w >= lp->nworkers || lp->w[w].pidfd >= 0)
        return MPROC_EINVAL;
    return mproc__lp_spawn_worker(lp, w);
}

static int lp_stop(struct mproc_pool *p, const struct mproc__deadline *d)
{
    struct lp *lp = lp_of(p);
    atomic_store_explicit(&lp->shm->stop, 1, memory_order_seq_cst);
    atomic_fetch_add_explicit(&lp->shm->work_bell, 1, memory_order_seq_cst);
    mproc__futex_wake(&lp->shm->work_bell, INT32_MAX);
    for (int w = 0; w < lp->nworkers; w++) {
        struct lp_worker *wk = &lp->w[w];
        if (wk->pidfd < 0)
            continue;
        int rc = mproc__child_wait(wk->pidfd, d);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return MPROC_ETIMEDOUT;
        mproc__lp_reap_worker(wk, false);
    }
    return 0;
}

static void lp_kill(struct mproc_pool *p)
{
    struct lp *lp = lp_of(p);
    for (int w = 0; w < lp->nworkers; w++)
        mproc__lp_worker_kill(&lp->w[w]);
    for (int w = 0; w < lp->nworkers; w++) {
        mproc__lp_reap_worker(&lp->w[w], false);
        lp->w[w].dead = false;
        lp->w[w].gone_sent = true;
    }
    lp->killing = 0;
    reset_slots(lp);
}

static void lp_destroy(struct mproc_pool *p)
{
    lp_free(lp_of(p));
    p->be = NULL;
}

static int lp_worker_pids(const struct mproc_pool *p, pid_t *out, int max)
{
    const struct lp *lp = p->be;
    int n = 0;
    for (int w = 0; w < lp->nworkers; w++) {
        if (lp->w[w].pidfd < 0)
            continue;
        if (out && n < max)
            out[n] = lp->w[w].pid;
        n++;
    }
    return n;
}

const struct mproc__pool_backend mproc__pool_local_backend = {
    .name = "local",
    .max_items = lp_max_items,
    .max_chunks = lp_max_chunks,
    .post = lp_post,
    .poll = lp_poll,
    .release = lp_release,
    .respawn = lp_respawn,
    .stop = lp_stop,
    .kill = lp_kill,
    .destroy = lp_destroy,
    .worker_pids = lp_worker_pids,
    .cancel = lp_cancel,
    .has_timeouts = true,
    .prepare_wait = lp_prepare_wait,
    .wait = lp_wait,
    .bell = lp_bell,
};
