/* wait/watch.c - watches: readiness descriptors for event loops, and the
 * service thread that keeps them.
 *
 * Model
 * -----
 * A watch is a condition of one object (wait/probe.h) and an eventfd. It is
 * in one of three states, changed only under svc.mu:
 *   armed   on the service's list: the service thread sleeps on its word
 *   fired   the condition held: the eventfd was written (readable), off the
 *           list; it stays so until mproc_watch_rearm
 *   idle    neither (only between creation and the first arming)
 * rearm drains the eventfd and probes in the caller's thread: ready -> the
 * eventfd is written again (fired), else armed. A change after the probe's
 * announcement always wakes the word the service sleeps on (probe.h), and
 * the service probes every armed watch after each wake-up, so a change is
 * never missed; a probe that finds its condition after a wake-up that was
 * not its own is still right (level, not edge).
 *
 * The service thread: one per process, started with the first watch,
 * never stopped (it sleeps on svc.ctl while no watch is armed and holds no
 * descriptor). Each round, under svc.mu: read ctl, probe every armed watch
 * (firing the ready ones), collect the words of the others; then, without
 * the lock, futex_waitv on ctl and those words, with a deadline at the
 * nearest cap (a queue claim not yet published, a lock owner to check for
 * death). Arming, rearming and closing bump ctl and wake it, so that the
 * thread rebuilds its set. Objects are probed only under svc.mu, and close
 * takes svc.mu: once mproc_watch_close returns, the service never touches
 * that object again (the futex_waitv in flight holds only the address).
 *
 * Fork: the child has no service thread. An atfork handler resets the
 * service's state in the child (with its lock held across the fork, so the
 * state is consistent); watches inherited from the parent are dead there
 * (MPROC_ENOTCHILD) and close frees only the child's copy.
 */
#include "watch_internal.h"

#include "../handle.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define SVC_LOOK_NS ((uint64_t)MPROC_SYNC_SLICE_MS * 1000000u)

struct mproc_watch {
    _Atomic uint32_t magic; /* MPROC__H_WATCH, MPROC__H_CLOSED (handle.h) */
    pid_t pid;              /* the process that created it */
    int efd;
    bool own_efd;
    struct mproc_watch **on; /* the list it is on: &svc.armed, &svc.fired, NULL */
    bool in_set;             /* its word is in the set the service sleeps on now */
    _Atomic uint32_t *word;  /* the word its last probe named */
    int cap_ms;              /* and the cap it named */
    uint64_t next_look_ns;   /* when the service next looks for dead peers */
    struct mproc__wsrc src;
    struct mproc_watch *next, *prev;
};

static struct {
    pthread_mutex_t mu;
    bool started;
    pid_t pid;
    _Atomic uint32_t ctl;
    struct mproc_watch *armed, *fired;
    uint64_t sleep_until; /* the deadline of the service's current sleep (ns; max: none) */
    bool firing;          /* the service writes eventfds outside the lock now */
    _Atomic uint32_t up;  /* 1 once the service thread runs its own code */
    pthread_cond_t idle;  /* signalled when firing ends */
} svc = {.mu = PTHREAD_MUTEX_INITIALIZER, .idle = PTHREAD_COND_INITIALIZER};

static pthread_once_t svc_once = PTHREAD_ONCE_INIT;

static void svc_prefork(void)
{
    pthread_mutex_lock(&svc.mu);
}

static void svc_parent(void)
{
    pthread_mutex_unlock(&svc.mu);
}

static void svc_child(void)
{
    svc.started = false;
    svc.armed = svc.fired = NULL;
    svc.firing = false;
    pthread_cond_init(&svc.idle, NULL);
    atomic_store_explicit(&svc.ctl, 0, memory_order_relaxed);
    pthread_mutex_unlock(&svc.mu);
}

static void svc_init_once(void)
{
    pthread_atfork(svc_prefork, svc_parent, svc_child);
}

static void svc_unlink(struct mproc_watch *w)
{
    if (!w->on)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        *w->on = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->next = w->prev = NULL;
    w->on = NULL;
}

static void svc_link(struct mproc_watch *w, struct mproc_watch **list)
{
    svc_unlink(w);
    w->prev = NULL;
    w->next = *list;
    if (*list)
        (*list)->prev = w;
    *list = w;
    w->on = list;
}

static void svc_kick(void)
{
    atomic_fetch_add_explicit(&svc.ctl, 1, memory_order_seq_cst);
    mproc__futex_wake(&svc.ctl, 1);
}

/* The eventfds of the watches that fired in a round are written after
 * svc.mu is let go, so that the event loop thread they wake (often on this
 * same CPU) does not find the lock held when it rearms. A close waits
 * while that is under way (svc_wait_idle), so no descriptor is written
 * after its watch was closed. */
#define SVC_FIRE_MAX 128

struct svc_fires {
    int fd[SVC_FIRE_MAX];
    unsigned n;
};

static void svc_fire(struct mproc_watch *w, bool woken, struct svc_fires *f)
{
    svc_link(w, &svc.fired);
    if (f->n < SVC_FIRE_MAX)
        f->fd[f->n++] = w->efd;
    else
        mproc__evfd_signal(w->efd);
    if (woken)
        mproc__wsrc_pass(&w->src);
}

/* With svc.mu held: until the service is done writing descriptors. */
static void svc_wait_idle(void)
{
    while (svc.firing)
        pthread_cond_wait(&svc.idle, &svc.mu);
}

static void *svc_main(void *arg)
{
    (void)arg;
    /* Its start is done (the thread library's and a sanitizer's set-up
     * included): svc_start may return, and a fork from now on does not
     * copy a half-made thread's locks into the child. */
    atomic_store_explicit(&svc.up, 1, memory_order_release);
    mproc__futex_wake(&svc.up, 1);
    _Atomic uint32_t *words[MPROC__WAITV_MAX];
    uint32_t vals[MPROC__WAITV_MAX];
    bool no_waitv = false, woken = false;
    pthread_mutex_lock(&svc.mu);
    for (;;) {
        words[0] = &svc.ctl;
        vals[0] = atomic_load_explicit(&svc.ctl, memory_order_seq_cst);
        unsigned n = 1;
        uint64_t now = mproc__now_ns(), wake_at = UINT64_MAX;
        struct svc_fires fires;
        fires.n = 0;
        for (struct mproc_watch *w = svc.armed, *nx; w; w = nx) {
            nx = w->next;
            bool look = now >= w->next_look_ns;
            if (look)
                w->next_look_ns = now + SVC_LOOK_NS;
            struct mproc__wsleep sl;
            if (mproc__wsrc_probe(&w->src, look, &sl)) {
                svc_fire(w, woken, &fires);
                continue;
            }
            /* the service thread announced itself in the object's words */
            MPROC__KILL_POINT("watch.service.announced");
            w->word = sl.word;
            w->cap_ms = sl.cap_ms;
            if (n < MPROC__WAITV_MAX) {
                words[n] = sl.word;
                vals[n++] = sl.val;
                w->in_set = true;
            } else if (now + 1000000u < wake_at) {
                wake_at = now + 1000000u; /* beyond futex_waitv's reach: look every ms */
            }
            if (sl.cap_ms >= 0 && now + (uint64_t)sl.cap_ms * 1000000u < wake_at)
                wake_at = now + (uint64_t)sl.cap_ms * 1000000u;
        }
        /* Fired watches' words too: when one is rearmed and finds nothing,
         * the service already sleeps on its word and need not be kicked
         * (one wake-up less per message in a loop that rearms each time). */
        for (struct mproc_watch *w = svc.fired; w && n < MPROC__WAITV_MAX; w = w->next) {
            if (!w->word)
                continue;
            words[n] = w->word;
            vals[n++] = atomic_load_explicit(w->word, memory_order_seq_cst);
            w->in_set = true;
            if (w->cap_ms >= 0 && now + (uint64_t)w->cap_ms * 1000000u < wake_at)
                wake_at = now + (uint64_t)w->cap_ms * 1000000u;
        }
        svc.sleep_until = wake_at;
        if (fires.n) {
            svc.firing = true;
            pthread_mutex_unlock(&svc.mu);
            for (unsigned i = 0; i < fires.n; i++)
                mproc__evfd_signal(fires.fd[i]);
            /* The loop thread just woken often shares this CPU (a pinned
             * process): let it run before this thread goes back to sleep. */
            sched_yield();
            pthread_mutex_lock(&svc.mu);
            svc.firing = false;
            pthread_cond_broadcast(&svc.idle);
        }
        pthread_mutex_unlock(&svc.mu);
        struct mproc__deadline d = {.forever = true};
        if (wake_at != UINT64_MAX) {
            uint64_t left_ms = (wake_at - now + 999999u) / 1000000u;
            mproc__deadline_init(&d, left_ms > INT_MAX ? INT_MAX : (int)left_ms);
        }
        int rc = no_waitv ? MPROC_ENOSYS : mproc__futex_waitv(words, vals, n, &d);
        if (rc == MPROC_ENOSYS || rc == MPROC_EFAULT) {
            /* before Linux 5.16: wake on ctl, look at the others every ms
             * (a word that is not mapped: so for this round only) */
            no_waitv = rc == MPROC_ENOSYS;
            struct mproc__deadline ms;
            mproc__deadline_init(&ms, 1);
            (void)mproc__futex_wait(&svc.ctl, vals[0], &ms);
        }
        woken = rc == 0;
        pthread_mutex_lock(&svc.mu);
        for (struct mproc_watch *w = svc.armed; w; w = w->next)
            w->in_set = false;
        for (struct mproc_watch *w = svc.fired; w; w = w->next)
            w->in_set = false;
    }
    return NULL;
}

/* With svc.mu held. */
static int svc_start(void)
{
    pid_t me = getpid();
    if (svc.started && svc.pid == me)
        return 0;
    pthread_attr_t a;
    pthread_t th;
    sigset_t all, old;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&a, 64 * 1024);
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* the thread takes no signals */
    atomic_store_explicit(&svc.up, 0, memory_order_relaxed);
    int rc = pthread_create(&th, &a, svc_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&a);
    if (rc != 0)
        return rc == ENOMEM ? MPROC_ENOMEM : MPROC_EAGAIN;
    while (!atomic_load_explicit(&svc.up, memory_order_acquire))
        (void)mproc__futex_wait(&svc.up, 0, NULL);
    svc.started = true;
    svc.pid = me;
    return 0;
}

/* Arm w (svc.mu held): probe here; fire or hand it to the service. */
static int arm_locked(mproc_watch *w)
{
    mproc__wsrc_arm(&w->src);
    struct mproc__wsleep sl;
    w->next_look_ns = mproc__now_ns() + SVC_LOOK_NS;
    if (mproc__wsrc_probe(&w->src, true, &sl)) {
        svc_link(w, &svc.fired);
        mproc__evfd_signal(w->efd);
        return 1;
    }
    svc_link(w, &svc.armed);
    /* The service sleeps on this very word already (the watch fired from
     * it and stayed in the set): a waker that sees our announcement wakes
     * it. Otherwise it must rebuild its set; so must it for a cap. */
    bool asleep_on_it =
        w->in_set && w->word == sl.word &&
        (sl.cap_ms < 0 || svc.sleep_until <= mproc__now_ns() + (uint64_t)sl.cap_ms * 1000000u);
    w->word = sl.word;
    w->cap_ms = sl.cap_ms;
    if (!asleep_on_it)
        svc_kick();
    /* announced in the object's words and on the service's list */
    MPROC__KILL_POINT("watch.armed");
    return 0;
}

static int watch_new(mproc_watch **out, const struct mproc__wsrc *src, int efd)
{
    pthread_once(&svc_once, svc_init_once);
    mproc_watch *w = calloc(1, sizeof *w);
    if (!w)
        return MPROC_ENOMEM;
    w->src = *src;
    w->pid = getpid();
    w->own_efd = efd < 0;
    if (efd < 0 && (efd = mproc__evfd_new()) < 0) {
        free(w);
        return efd;
    }
    w->efd = efd;
    pthread_mutex_lock(&svc.mu);
    int rc = svc_start();
    if (rc == 0)
        arm_locked(w);
    pthread_mutex_unlock(&svc.mu);
    if (rc < 0) {
        if (w->own_efd)
            close(w->efd);
        free(w);
        return rc;
    }
    atomic_store_explicit(&w->magic, MPROC__H_WATCH, memory_order_release);
    *out = w;
    return 0;
}

int mproc__watch_new_shared(mproc_watch **out, const struct mproc__wsrc *src, int efd)
{
    return watch_new(out, src, efd);
}

int mproc__watch_rearm_shared(mproc_watch *w)
{
    pthread_mutex_lock(&svc.mu);
    int r = arm_locked(w);
    pthread_mutex_unlock(&svc.mu);
    return r;
}

void mproc__watch_free_shared(mproc_watch *w)
{
    pthread_mutex_lock(&svc.mu);
    svc_unlink(w);
    svc_wait_idle();
    pthread_mutex_unlock(&svc.mu);
    free(w);
}

MPROC_API int mproc_watch_create(mproc_watch **out, int kind, void *obj, size_t len)
{
    struct mproc__wsrc src;
    if (!out)
        return MPROC_EINVAL;
    if (kind < MPROC_WAIT_QUEUE_GET || kind > MPROC_WAIT_FUTURE)
        return MPROC_EINVAL;
    int rc = mproc__wsrc_init(&src, kind, obj, len);
    if (rc < 0)
        return rc;
    return watch_new(out, &src, -1);
}

static int watch_check(const mproc_watch *w)
{
    int rc = mproc__handle_check(w, MPROC__H_WATCH);
    if (rc < 0)
        return rc;
    return w->pid == getpid() ? 0 : MPROC_ENOTCHILD;
}

MPROC_API int mproc_watch_fd(const mproc_watch *w)
{
    int rc = mproc__handle_check(w, MPROC__H_WATCH);
    return rc < 0 ? rc : w->efd;
}

MPROC_API int mproc_watch_rearm(mproc_watch *w)
{
    int rc = watch_check(w);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&svc.mu);
    mproc__evfd_drain(w->efd);
    int r = arm_locked(w);
    pthread_mutex_unlock(&svc.mu);
    return r;
}

MPROC_API int mproc_watch_ready(mproc_watch *w)
{
    int rc = watch_check(w);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&svc.mu);
    int r = mproc__wsrc_check(&w->src);
    pthread_mutex_unlock(&svc.mu);
    return r;
}

MPROC_API int mproc_watch_close(mproc_watch *w)
{
    int rc = mproc__handle_close(w, MPROC__H_WATCH);
    if (rc < 0)
        return rc;
    if (w->pid == getpid()) {
        pthread_mutex_lock(&svc.mu);
        svc_unlink(w);
        svc_wait_idle();
        pthread_mutex_unlock(&svc.mu);
    }
    if (w->own_efd)
        close(w->efd);
    mproc__handle_retire(w);
    return 0;
}
