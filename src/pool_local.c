/* pool_local.c - the local backend of the pool: forked worker processes, a
 * ring of task slots per worker in one shared segment (layout and slot
 * protocol in pool_local.h, the worker's loop in pool_worker.c).
 *
 * Owner side model: for each worker w the owner keeps `post` (ring index of
 * the next slot to fill) and `harvest` (ring index of the oldest slot not yet
 * handed to the engine); slots [harvest, post) are in flight. Only the owner
 * moves these counters, and only from the engine's thread. A slot handed to
 * the engine stays DONE (not reusable) until the engine releases its event.
 *
 * poll(): the oldest in-flight slot of each worker, round robin; DONE gives
 * an event. With nothing DONE it spins briefly, then sleeps on
 * shm.done_bell (capped at DEATH_CHECK_MS), and looks for dead workers
 * before every sleep and every DEATH_CHECK_POLLS polls: waitid(P_PIDFD,
 * WNOHANG) reaps a dead worker and tells how it ended. A dead worker's
 * in-flight slots are then reported oldest first - DONE ones as DONE, the
 * RUNNING one and the POSTED ones as LOST with their exact progress -
 * followed by WORKER_GONE. Its slots are untouched until respawn(), so the
 * inputs the engine copies for re-dispatch are intact.
 *
 * Start methods: fork (default) - the worker inherits an anonymous segment
 * and the task pointers are valid in it; we hold its pidfd and reap it with
 * waitid(P_PIDFD). Spawn - process.c re-executes the program as a daemon
 * running MPROC__LP_SPAWN_ENTRY, which opens the segment by its random name
 * (removed when the pool is freed); slots then carry the index of the task's
 * registered name in shm.tasks, and process.c's handle does the reaping.
 */
#include "pool_local.h"
#include "linux/child.h"
#include "linux/sysmem.h"

#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define OWNER_SPIN 2048
#define OWNER_YIELD_EVERY 128
#define DEATH_CHECK_MS 10
#define DEATH_CHECK_POLLS 256

/* How a reaped worker ended. */
struct lp_reaped {
    int signal;    /* the signal that killed it, or 0 */
    int exit_code; /* its exit code, or -1 if killed or unknown */
};

struct lp_worker {
    pid_t pid;
    int pidfd;           /* -1 when no process; owned by proc if spawned */
    mproc_process *proc; /* spawned workers: process.c's handle (it reaps) */
    uint64_t post;
    uint64_t harvest;
    bool dead; /* reaped, its slots being reported */
    bool gone_sent;
    struct lp_reaped how;
    struct mproc__lp_worker_args args;
};

/* What the owner posted into a slot. Events are built from this copy, never
 * from the slot's header: a worker's task that scribbles over the header
 * must not make the owner read outside the slot. */
struct lp_posted {
    uint64_t token;
    uint32_t count, in_stride, out_size;
};

struct lp {
    struct mproc__seg seg;
    bool spawn; /* workers re-execute the program (named segment) */
    struct mproc__lp_shm *shm;
    struct lp_worker *w;
    int nworkers;
    uint32_t nslots;
    uint64_t slot_bytes;
    int rr; /* round-robin start of poll and post */
    unsigned polls;
    struct lp_posted *posted; /* nworkers * nslots, owner's copy of each slot's header */
};

static struct lp *lp_of(struct mproc_pool *p)
{
    return p->be;
}

static struct mproc__lp_wctl *wctl_of(struct lp *lp, int w)
{
    return (struct mproc__lp_wctl *)(void *)((unsigned char *)lp->shm + sizeof *lp->shm) + w;
}

static unsigned char *slots_base(struct lp *lp)
{
    return (unsigned char *)lp->shm + sizeof *lp->shm +
           sizeof(struct mproc__lp_wctl) * (size_t)lp->nworkers;
}

static struct mproc__lp_slot *slot_of(struct lp *lp, int w, uint64_t i)
{
    size_t idx = (size_t)w * lp->nslots + (size_t)(i % lp->nslots);
    return (struct mproc__lp_slot *)(void *)(slots_base(lp) + idx * lp->slot_bytes);
}

static struct lp_posted *posted_of(struct lp *lp, const struct mproc__lp_slot *s)
{
    size_t idx = (size_t)((const unsigned char *)s - slots_base(lp)) / lp->slot_bytes;
    return &lp->posted[idx];
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
    struct lp *lp = lp_of(p);
    return (size_t)lp->nworkers * lp->nslots;
}

/* The spawn start method: a daemon child that re-executes the program and
 * runs MPROC__LP_SPAWN_ENTRY, which maps the named segment. */
static int spawn_exec(struct lp *lp, int w)
{
    struct lp_worker *wk = &lp->w[w];
    struct mproc__lp_spawn_arg arg;
    memset(&arg, 0, sizeof arg);
    snprintf(arg.seg_name, sizeof arg.seg_name, "%s", lp->seg.name);
    arg.worker = (uint32_t)w;
    arg.workers = (uint32_t)lp->nworkers;
    arg.slots = lp->nslots;
    arg.slot_bytes = lp->slot_bytes;
    arg.max_tasks = wk->args.max_tasks;
    arg.owner = wk->args.owner;
    struct mproc_process_opts po = {.name = "mproc-pool-worker",
                                    .start_method = MPROC_START_SPAWN,
                                    .daemon = 1,
                                    .entry = MPROC__LP_SPAWN_ENTRY,
                                    .arg = &arg,
                                    .arg_len = sizeof arg};
    mproc_process *proc;
    int rc = mproc_process_start(&proc, NULL, NULL, &po);
    if (rc < 0)
        return rc;
    wk->proc = proc;
    wk->pid = mproc_process_pid(proc);
    wk->pidfd = mproc_process_pidfd(proc);
    wctl_of(lp, w)->pid = wk->pid;
    return 0;
}

/* Whether the process behind pidfd has ended (without reaping it). */
static bool pidfd_ended(int pidfd)
{
    struct mproc__deadline now;
    (void)mproc__deadline_init(&now, 0);
    return mproc__child_wait(pidfd, &now) == 1;
}

/* Reap worker wk if it ended (nohang) or when it ends: 1 and *how, 0 if it
 * still runs. A worker reaped by someone else (SIGCHLD ignored, a stray
 * waitpid(-1)) counts as ended, how unknown. */
static int worker_reap(struct lp_worker *wk, bool nohang, struct lp_reaped *how)
{
    int rc;
    if (wk->proc) {
        struct mproc_exit st;
        rc = mproc_process_join(wk->proc, nohang ? 0 : MPROC_FOREVER, &st);
        if (rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN)
            return 0;
        how->signal = rc == 0 && st.signaled ? st.signal : 0;
        how->exit_code = rc == 0 && st.exited ? st.code : -1;
        return 1;
    }
    siginfo_t si;
    rc = mproc__child_reap(wk->pidfd, !nohang, &si);
    if (rc == 1) {
        bool exited = si.si_code == CLD_EXITED;
        how->signal = exited ? 0 : si.si_status;
        how->exit_code = exited ? si.si_status : -1;
    } else if (rc < 0 && pidfd_ended(wk->pidfd)) {
        how->signal = 0;
        how->exit_code = -1;
        rc = 1;
    }
    return rc;
}

/* Forget a reaped worker's process. */
static void worker_close(struct lp_worker *wk)
{
    if (wk->proc) {
        mproc_process_close(wk->proc); /* owns the pidfd */
        wk->proc = NULL;
    } else if (wk->pidfd >= 0) {
        close(wk->pidfd);
    }
    wk->pidfd = -1;
}

static void worker_kill(struct lp_worker *wk)
{
    if (wk->proc)
        mproc_process_kill(wk->proc);
    else if (wk->pidfd >= 0)
        (void)mproc__child_signal(wk->pidfd, SIGKILL);
}

static int spawn_worker(struct lp *lp, int w)
{
    struct lp_worker *wk = &lp->w[w];
    struct mproc__lp_wctl *c = wctl_of(lp, w);
    for (uint32_t i = 0; i < lp->nslots; i++) {
        atomic_store_explicit(&slot_of(lp, w, i)->state, MPROC__LP_FREE, memory_order_relaxed);
        atomic_store_explicit(&slot_of(lp, w, i)->ndone, 0, memory_order_relaxed);
    }
    atomic_store(&c->sleeping, 0);
    atomic_store(&c->stop, 0);
    atomic_store(&c->ready, 0);
    atomic_store(&c->retired, 0);
    wk->post = wk->harvest = 0;
    wk->dead = wk->gone_sent = false;

    if (lp->spawn)
        return spawn_exec(lp, w);
    pid_t pid = fork();
    if (pid < 0)
        return mproc__err();
    if (pid == 0) {
        if (!mproc__child_pdeathsig(wk->args.owner))
            _exit(0);
        mproc__lp_worker_main(&wk->args);
    }
    int fd;
    int rc = mproc__child_pidfd(pid, &fd);
    if (rc < 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return rc;
    }
    c->pid = pid;
    wk->pid = pid;
    wk->pidfd = fd;
    return 0;
}

static void reap_worker(struct lp_worker *wk, bool kill_it)
{
    if (wk->pidfd < 0)
        return;
    if (kill_it)
        worker_kill(wk);
    struct lp_reaped how;
    (void)worker_reap(wk, false, &how);
    worker_close(wk);
}

static void lp_free(struct lp *lp)
{
    if (lp->w) {
        for (int i = 0; i < lp->nworkers; i++)
            reap_worker(&lp->w[i], true);
        free(lp->w);
    }
    free(lp->posted);
    if (lp->shm)
        mproc__seg_close(&lp->seg, true);
    free(lp);
}

int mproc__pool_local_start(const struct mproc_pool_opts *o, void **be_out)
{
    struct lp *lp = calloc(1, sizeof *lp);
    if (!lp)
        return MPROC_ENOMEM;
    lp->nworkers = o->workers;
    lp->nslots = o->slots_per_worker;
    lp->slot_bytes = o->slot_bytes;
    lp->spawn = o->start_method == MPROC_START_SPAWN;
    size_t body = sizeof(struct mproc__lp_shm) +
                  sizeof(struct mproc__lp_wctl) * (size_t)o->workers +
                  (size_t)o->workers * lp->nslots * lp->slot_bytes;
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
    lp->shm->workers = (uint32_t)o->workers;
    lp->shm->slots = lp->nslots;
    lp->shm->slot_bytes = lp->slot_bytes;
    lp->shm->by_name = lp->spawn;
    mproc__seg_publish(&lp->seg);
    lp->w = calloc((size_t)o->workers, sizeof *lp->w);
    lp->posted = calloc((size_t)o->workers * lp->nslots, sizeof *lp->posted);
    if (!lp->w || !lp->posted) {
        lp_free(lp);
        return MPROC_ENOMEM;
    }
    for (int i = 0; i < o->workers; i++)
        lp->w[i].pidfd = -1;
    for (int i = 0; i < o->workers; i++) {
        struct mproc__lp_worker_args *a = &lp->w[i].args;
        a->shm = lp->shm;
        a->wctl = wctl_of(lp, i);
        a->slots = (unsigned char *)slot_of(lp, i, 0);
        a->nslots = lp->nslots;
        a->slot_bytes = lp->slot_bytes;
        a->owner = getpid();
        a->initializer = o->initializer;
        a->init_arg = o->init_arg;
        a->task_ctx = o->task_ctx;
        a->max_tasks = o->max_tasks_per_worker;
        if ((rc = spawn_worker(lp, i)) < 0) {
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
    /* The worker with the fewest chunks in flight, round robin among equals. */
    int best = -1;
    uint64_t best_load = lp->nslots;
    for (int k = 0; k < lp->nworkers; k++) {
        int w = (lp->rr + k) % lp->nworkers;
        struct lp_worker *wk = &lp->w[w];
        if (wk->pidfd < 0 || wk->dead)
            continue;
        uint64_t load = wk->post - wk->harvest;
        if (load < best_load && atomic_load_explicit(&slot_of(lp, w, wk->post)->state,
                                                     memory_order_acquire) == MPROC__LP_FREE) {
            best_load = load;
            best = w;
            if (load == 0)
                break;
        }
    }
    if (best < 0)
        return MPROC_EAGAIN;
    lp->rr = (best + 1) % lp->nworkers;
    struct lp_worker *wk = &lp->w[best];
    struct mproc__lp_slot *s = slot_of(lp, best, wk->post);
    struct lp_layout l = layout(c->count, c->in_stride, c->out_size);
    if (c->count == 0 || l.end > lp->slot_bytes)
        return MPROC_EMSGSIZE;
    unsigned char *base = (unsigned char *)s;
    *posted_of(lp, s) = (struct lp_posted){
        .token = c->token, .count = c->count, .in_stride = c->in_stride, .out_size = c->out_size};
    s->token = c->token;
    s->fn = fn;
    s->count = c->count;
    s->in_stride = c->in_stride;
    s->out_size = c->out_size;
    s->off_status = (uint32_t)l.status;
    s->off_out_len = (uint32_t)l.out_len;
    s->off_in_len = (uint32_t)l.in_len;
    s->off_in = (uint32_t)l.in;
    s->off_out = (uint32_t)l.out;
    uint32_t *in_len = (uint32_t *)(void *)(base + l.in_len);
    for (uint32_t i = 0; i < c->count; i++)
        in_len[i] = c->in_lens ? c->in_lens[i] : c->in_stride;
    if (c->in_stride)
        memcpy(base + l.in, c->in, (size_t)c->count * c->in_stride);
    atomic_store_explicit(&s->ndone, 0, memory_order_relaxed);
    atomic_store_explicit(&s->state, MPROC__LP_POSTED, memory_order_release);
    wk->post++;
    struct mproc__lp_wctl *wc = wctl_of(lp, best);
    atomic_fetch_add_explicit(&wc->bell, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&wc->sleeping, memory_order_seq_cst))
        mproc__futex_wake(&wc->bell, 1);
    return 0;
}

static void fill_event(struct lp *lp, int w, struct mproc__lp_slot *s, struct mproc__pool_event *ev)
{
    const struct lp_posted *ps = posted_of(lp, s);
    struct lp_layout l = layout(ps->count, ps->in_stride, ps->out_size);
    unsigned char *base = (unsigned char *)s;
    ev->worker = w;
    ev->token = ps->token;
    ev->count = ps->count;
    ev->pid = lp->w[w].pid;
    ev->status = (const int32_t *)(const void *)(base + l.status);
    ev->out_len = (const uint32_t *)(const void *)(base + l.out_len);
    ev->out = base + l.out;
    ev->out_stride = ps->out_size;
    ev->in = base + l.in;
    ev->in_stride = ps->in_stride;
    ev->in_lens = (const uint32_t *)(const void *)(base + l.in_len);
    ev->backend_ref = s;
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
        if (worker_reap(wk, true, &how) == 1) {
            worker_close(wk);
            wk->dead = true;
            wk->how = how;
            any = true;
        }
    }
    return any;
}

/* The next event of a dead worker, if any. */
static bool dead_event(struct lp *lp, struct mproc__pool_event *ev)
{
    for (int w = 0; w < lp->nworkers; w++) {
        struct lp_worker *wk = &lp->w[w];
        if (!wk->dead || wk->gone_sent)
            continue;
        memset(ev, 0, sizeof *ev);
        ev->signal = wk->how.signal;
        ev->exit_code = wk->how.exit_code;
        if (wk->harvest < wk->post) {
            struct mproc__lp_slot *s = slot_of(lp, w, wk->harvest);
            uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
            fill_event(lp, w, s, ev);
            if (st == MPROC__LP_DONE) {
                ev->kind = MPROC__POOL_EV_DONE;
                ev->ndone = ev->count;
            } else {
                ev->kind = MPROC__POOL_EV_LOST;
                uint32_t nd = st == MPROC__LP_RUNNING
                                  ? atomic_load_explicit(&s->ndone, memory_order_acquire)
                                  : 0;
                if (nd > ev->count)
                    nd = ev->count; /* a corrupt word from a dead worker */
                ev->ndone = nd;
                ev->running = st == MPROC__LP_RUNNING && nd < ev->count;
            }
            wk->harvest++;
            return true;
        }
        ev->kind = MPROC__POOL_EV_WORKER_GONE;
        ev->worker = w;
        ev->pid = wk->pid;
        struct mproc__lp_wctl *c = wctl_of(lp, w);
        ev->retired = atomic_load(&c->retired) && wk->how.exit_code == 0;
        ev->init_failed = !atomic_load(&c->ready) && wk->how.exit_code == 111;
        wk->gone_sent = true;
        return true;
    }
    return false;
}

static bool ready_event(struct lp *lp, struct mproc__pool_event *ev)
{
    for (int k = 0; k < lp->nworkers; k++) {
        int w = (lp->rr + k) % lp->nworkers;
        struct lp_worker *wk = &lp->w[w];
        if (wk->dead || wk->harvest == wk->post)
            continue;
        struct mproc__lp_slot *s = slot_of(lp, w, wk->harvest);
        if (atomic_load_explicit(&s->state, memory_order_acquire) != MPROC__LP_DONE)
            continue;
        memset(ev, 0, sizeof *ev);
        fill_event(lp, w, s, ev);
        ev->kind = MPROC__POOL_EV_DONE;
        ev->ndone = ev->count;
        wk->harvest++;
        return true;
    }
    return false;
}

static int lp_poll(struct mproc_pool *p, struct mproc__pool_event *ev,
                   const struct mproc__deadline *d)
{
    struct lp *lp = lp_of(p);
    if (++lp->polls % DEATH_CHECK_POLLS == 0)
        check_deaths(lp);
    for (int spin = 0;; spin++) {
        if (dead_event(lp, ev) || ready_event(lp, ev))
            return 0;
        if (d == NULL) {
            if (check_deaths(lp) && dead_event(lp, ev))
                return 0;
            return MPROC_ETIMEDOUT;
        }
        if (spin < OWNER_SPIN) {
            if (spin % OWNER_YIELD_EVERY == OWNER_YIELD_EVERY - 1)
                sched_yield(); /* see pool_worker.c: the CPU may be oversubscribed */
            else
                mproc__cpu_relax();
            continue;
        }
        if (check_deaths(lp))
            continue;
        uint32_t b = atomic_load_explicit(&lp->shm->done_bell, memory_order_seq_cst);
        atomic_store_explicit(&lp->shm->owner_waiting, 1, memory_order_seq_cst);
        if (ready_event(lp, ev)) {
            atomic_store_explicit(&lp->shm->owner_waiting, 0, memory_order_relaxed);
            return 0;
        }
        int rc = mproc__futex_wait_capped(&lp->shm->done_bell, b, d, DEATH_CHECK_MS);
        atomic_store_explicit(&lp->shm->owner_waiting, 0, memory_order_relaxed);
        if (rc == MPROC_ETIMEDOUT) {
            if ((check_deaths(lp) && dead_event(lp, ev)) || ready_event(lp, ev))
                return 0;
            return MPROC_ETIMEDOUT;
        }
        spin = OWNER_SPIN - 64; /* woken: a short spin, then sleep again */
    }
}

static void lp_release(struct mproc_pool *p, struct mproc__pool_event *ev)
{
    (void)p;
    if (ev->backend_ref)
        atomic_store_explicit(&((struct mproc__lp_slot *)ev->backend_ref)->state, MPROC__LP_FREE,
                              memory_order_release);
}

static int lp_respawn(struct mproc_pool *p, int w)
{
    struct lp *lp = lp_of(p);
    if (w < 0 || w >= lp->nworkers || lp->w[w].pidfd >= 0)
        return MPROC_EINVAL;
    return spawn_worker(lp, w);
}

static int lp_stop(struct mproc_pool *p, const struct mproc__deadline *d)
{
    struct lp *lp = lp_of(p);
    for (int w = 0; w < lp->nworkers; w++) {
        struct mproc__lp_wctl *c = wctl_of(lp, w);
        atomic_store_explicit(&c->stop, 1, memory_order_seq_cst);
        atomic_fetch_add_explicit(&c->bell, 1, memory_order_seq_cst);
        mproc__futex_wake(&c->bell, 1);
    }
    for (int w = 0; w < lp->nworkers; w++) {
        struct lp_worker *wk = &lp->w[w];
        if (wk->pidfd < 0)
            continue;
        int rc = mproc__child_wait(wk->pidfd, d);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return MPROC_ETIMEDOUT;
        reap_worker(wk, false);
    }
    return 0;
}

static void lp_kill(struct mproc_pool *p)
{
    struct lp *lp = lp_of(p);
    for (int w = 0; w < lp->nworkers; w++)
        worker_kill(&lp->w[w]);
    for (int w = 0; w < lp->nworkers; w++) {
        reap_worker(&lp->w[w], false);
        lp->w[w].dead = false;
        lp->w[w].gone_sent = true;
        lp->w[w].harvest = lp->w[w].post;
    }
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
};

/* The entry point of a spawned worker: map the pool's named segment, check
 * that it is the pool described by the argument, and run the worker loop. */
static int lp_spawn_entry(const void *argp, size_t len)
{
    struct mproc__lp_spawn_arg arg;
    if (len != sizeof arg)
        return 120;
    memcpy(&arg, argp, sizeof arg);
    arg.seg_name[sizeof arg.seg_name - 1] = '\0';
    struct mproc__seg seg;
    if (mproc__seg_open(&seg, arg.seg_name, MPROC__SEG_POOL) < 0)
        return 121;
    struct lp lp = {.seg = seg,
                    .shm = seg.body,
                    .nworkers = (int)arg.workers,
                    .nslots = arg.slots,
                    .slot_bytes = arg.slot_bytes};
    uint64_t need = sizeof(struct mproc__lp_shm) +
                    sizeof(struct mproc__lp_wctl) * (uint64_t)arg.workers +
                    (uint64_t)arg.workers * arg.slots * arg.slot_bytes;
    if (arg.worker >= arg.workers || arg.slots == 0 || need > seg.body_size ||
        lp.shm->workers != arg.workers || lp.shm->slots != arg.slots ||
        lp.shm->slot_bytes != arg.slot_bytes || !lp.shm->by_name)
        return 122;
    struct mproc__lp_worker_args a = {.shm = lp.shm,
                                      .wctl = wctl_of(&lp, (int)arg.worker),
                                      .slots = (unsigned char *)slot_of(&lp, (int)arg.worker, 0),
                                      .nslots = arg.slots,
                                      .slot_bytes = arg.slot_bytes,
                                      .owner = arg.owner,
                                      .max_tasks = arg.max_tasks};
    mproc__lp_worker_main(&a);
}
MPROC_ENTRY_NAMED(MPROC__LP_SPAWN_ENTRY, lp_spawn_entry)
