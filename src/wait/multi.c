/* wait/multi.c - mproc_wait: one wait over any mix of objects and
 * descriptors.
 *
 * Each round: drive the pools and futures among the items (without
 * waiting), probe every object (announcing a sleeper, wait/probe.h), poll
 * the descriptors once. Something ready: return. Otherwise sleep:
 *  - objects only: futex_waitv on the words the probes named, in this
 *    thread (one wake-up, no other thread involved), with a deadline at the
 *    nearest probe cap, the next look for dead peers or the caller's
 *    timeout;
 *  - with descriptors: the objects get watches (watch.c) that all signal
 *    one eventfd of this call, and poll() sleeps on it and the descriptors.
 * Then the next round re-probes everything: readiness is level, so a
 * wake-up meant for another item or another process costs a round, never
 * a missed change.
 */
#include "watch_internal.h"

#include "../handle.h"

#include <limits.h>
#include <mproc.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WAIT_MAX_ITEMS 4096
#define LOOK_NS ((uint64_t)MPROC_SYNC_SLICE_MS * 1000000u)

static bool is_fd_kind(int k)
{
    return k >= MPROC_WAIT_FD && k <= MPROC_WAIT_PROCESS;
}

/* The descriptor and poll events of a descriptor item, or a code. */
static int item_fd(const struct mproc_wait_item *it, short *events)
{
    *events = POLLIN;
    switch (it->kind) {
    case MPROC_WAIT_FD:
        return it->fd >= 0 ? it->fd : MPROC_EINVAL;
    case MPROC_WAIT_FD_OUT:
        *events = POLLOUT;
        return it->fd >= 0 ? it->fd : MPROC_EINVAL;
    case MPROC_WAIT_WATCH:
        return it->obj ? mproc_watch_fd(it->obj) : MPROC_EINVAL;
    case MPROC_WAIT_PIPE:
        return it->obj ? mproc_pipe_fd(it->obj) : MPROC_EINVAL;
    case MPROC_WAIT_LISTENER:
        return it->obj ? mproc_listener_fd(it->obj) : MPROC_EINVAL;
    case MPROC_WAIT_PROCESS:
        return it->obj ? mproc_process_pidfd(it->obj) : MPROC_EINVAL;
    default:
        return MPROC_EINVAL;
    }
}

/* Pools and futures are driven here, in the caller (their owner): a
 * future is ready when it is finished, a pool when driving found something
 * (or it is broken). */
static int drive(struct mproc_wait_item *it)
{
    if (it->kind == MPROC_WAIT_FUTURE) {
        int r = mproc_future_done(it->obj);
        return r < 0 ? 1 : r;
    }
    int r = mproc_pool_poll(it->obj);
    return r != 0;
}

/* Up to WAIT_STACK items need no allocation (the usual call). */
#define WAIT_STACK 64

struct wstate {
    bool heap;
    struct mproc__wsrc *src;
    short *ev;
    int *fd;
    mproc_watch **watch; /* with descriptors: a watch per object, on efd */
    struct pollfd *pfd;
    int efd;
};

static void wstate_free(struct wstate *s, size_t n)
{
    if (s->watch)
        for (size_t i = 0; i < n; i++)
            if (s->watch[i])
                mproc__watch_free_shared(s->watch[i]);
    if (s->efd >= 0)
        close(s->efd);
    free(s->watch);
    if (!s->heap)
        return;
    free(s->src);
    free(s->ev);
    free(s->fd);
    free(s->pfd);
}

/* Sleep on the probes' words until the deadline (or sooner). */
static int sleep_objects(_Atomic uint32_t **words, uint32_t *vals, unsigned nw, uint64_t wake_at,
                         const struct mproc__deadline *dl)
{
    struct mproc__deadline d = *dl;
    if (wake_at != UINT64_MAX) {
        uint64_t now = mproc__now_ns();
        uint64_t ms = wake_at > now ? (wake_at - now + 999999u) / 1000000u : 0;
        struct mproc__deadline cap;
        mproc__deadline_init(&cap, ms > INT_MAX ? INT_MAX : (int)ms);
        if (d.forever || cap.abs.tv_sec < d.abs.tv_sec ||
            (cap.abs.tv_sec == d.abs.tv_sec && cap.abs.tv_nsec < d.abs.tv_nsec))
            d = cap;
    }
    int rc = nw ? mproc__futex_waitv(words, vals, nw, &d) : MPROC_ENOSYS;
    if (rc == MPROC_ENOSYS || rc == MPROC_EFAULT) {
        /* no words (all beyond reach), an old kernel, or a word not
         * mapped: nap 1 ms, then the caller re-checks */
        static _Atomic uint32_t never;
        struct mproc__deadline ms;
        mproc__deadline_init(&ms, 1);
        if (!d.forever && (d.abs.tv_sec < ms.abs.tv_sec ||
                           (d.abs.tv_sec == ms.abs.tv_sec && d.abs.tv_nsec < ms.abs.tv_nsec)))
            ms = d;
        rc = mproc__futex_wait(&never, 0, &ms);
        return 0;
    }
    return rc;
}

MPROC_API int mproc_wait(struct mproc_wait_item *items, size_t n, int timeout_ms)
{
    struct mproc__deadline dl;
    if ((!items && n > 0) || n > WAIT_MAX_ITEMS)
        return MPROC_EINVAL;
    int rc = mproc__deadline_init(&dl, timeout_ms);
    if (rc < 0)
        return rc;
    if (n == 0) {
        if (dl.forever)
            return MPROC_EINVAL;
        static _Atomic uint32_t never;
        while (mproc__futex_wait(&never, 0, &dl) != MPROC_ETIMEDOUT)
            ;
        return mproc__try_once(MPROC_ETIMEDOUT, timeout_ms);
    }

    struct wstate s = {.efd = -1, .heap = n > WAIT_STACK};
    struct mproc__wsrc src_stack[WAIT_STACK];
    short ev_stack[WAIT_STACK];
    int fd_stack[WAIT_STACK];
    struct pollfd pfd_stack[WAIT_STACK + 1];
    size_t nfd = 0, nobj = 0;
    if (!s.heap) {
        s.src = src_stack;
        s.ev = ev_stack;
        s.fd = fd_stack;
        s.pfd = pfd_stack;
    } else if (!(s.src = calloc(n, sizeof *s.src)) || !(s.ev = calloc(n, sizeof *s.ev)) ||
               !(s.fd = calloc(n, sizeof *s.fd)) || !(s.pfd = calloc(n + 1, sizeof *s.pfd))) {
        wstate_free(&s, n);
        return MPROC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        struct mproc_wait_item *it = &items[i];
        if (is_fd_kind(it->kind)) {
            rc = item_fd(it, &s.ev[i]);
            if (rc < 0)
                break;
            s.fd[i] = rc;
            nfd++;
        } else {
            s.fd[i] = -1;
            rc = mproc__wsrc_init(&s.src[i], it->kind, it->obj, it->len);
            if (rc < 0)
                break;
            /* once per call: a barrier item waits for the round under way
             * now, also through the watches made below */
            s.src[i].arm_once = true;
            if (it->kind != MPROC_WAIT_POOL && it->kind != MPROC_WAIT_FUTURE)
                mproc__wsrc_arm(&s.src[i]);
            nobj++;
        }
        rc = 0;
    }
    if (rc < 0) {
        wstate_free(&s, n);
        return rc;
    }

    _Atomic uint32_t *words[MPROC__WAITV_MAX];
    uint32_t vals[MPROC__WAITV_MAX];
    uint64_t next_look = mproc__now_ns() + LOOK_NS;
    bool look = true;
    for (;;) {
        int count = 0;
        unsigned nw = 0;
        const uint64_t round_ns = mproc__now_ns(); /* one clock read per round */
        uint64_t wake_at = nobj ? next_look : UINT64_MAX;
        /* objects */
        for (size_t i = 0; i < n; i++) {
            struct mproc_wait_item *it = &items[i];
            it->ready = 0;
            if (s.fd[i] >= 0)
                continue;
            bool pool = it->kind == MPROC_WAIT_POOL || it->kind == MPROC_WAIT_FUTURE;
            if (pool) {
                /* The result count before driving: a result that comes
                 * after the drive looked moves it past this baseline. */
                s.src[i].state = UINT64_MAX;
                mproc__wsrc_arm(&s.src[i]);
                if (drive(it)) {
                    it->ready = 1;
                    count++;
                    continue;
                }
            }
            if (pool) {
                mproc__wsrc_arm(&s.src[i]); /* work in flight now, keeping the baseline */
                s.src[i].ready_now = false;
                if (mproc__wsrc_check(&s.src[i])) {
                    it->ready = 1;
                    count++;
                    continue;
                }
            }
            struct mproc__wsleep sl;
            if (mproc__wsrc_probe(&s.src[i], look, &sl)) {
                it->ready = 1;
                count++;
                continue;
            }
            if (nw < MPROC__WAITV_MAX) {
                words[nw] = sl.word;
                vals[nw++] = sl.val;
            } else {
                uint64_t t = round_ns + 1000000u;
                wake_at = t < wake_at ? t : wake_at;
            }
            if (sl.cap_ms >= 0) {
                uint64_t t = round_ns + (uint64_t)sl.cap_ms * 1000000u;
                wake_at = t < wake_at ? t : wake_at;
            }
        }
        /* descriptors, once */
        if (nfd) {
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (s.fd[i] < 0)
                    continue;
                if (items[i].kind == MPROC_WAIT_PIPE && mproc_pipe_poll(items[i].obj, 0) == 1) {
                    items[i].ready = 1;
                    count++;
                }
                s.pfd[k++] = (struct pollfd){.fd = s.fd[i], .events = s.ev[i]};
            }
            if (poll(s.pfd, (nfds_t)k, 0) > 0) {
                k = 0;
                for (size_t i = 0; i < n; i++) {
                    if (s.fd[i] < 0)
                        continue;
                    if (s.pfd[k++].revents && !items[i].ready) {
                        items[i].ready = 1;
                        count++;
                    }
                }
            }
        }
        if (count > 0) {
            wstate_free(&s, n);
            return count;
        }
        if (dl.poll || mproc__deadline_expired(&dl)) {
            wstate_free(&s, n);
            return mproc__try_once(MPROC_ETIMEDOUT, timeout_ms);
        }
        look = false;
        if (!nfd) {
            rc = sleep_objects(words, vals, nw, wake_at, &dl);
        } else {
            /* descriptors too: the objects' watches signal one eventfd */
            if (nobj && !s.watch) {
                if (!(s.watch = calloc(n, sizeof *s.watch)) || (s.efd = mproc__evfd_new()) < 0) {
                    rc = s.watch ? s.efd : MPROC_ENOMEM;
                    wstate_free(&s, n);
                    return rc;
                }
                for (size_t i = 0; i < n && rc >= 0; i++)
                    if (s.fd[i] < 0)
                        rc = mproc__watch_new_shared(&s.watch[i], &s.src[i], s.efd);
                if (rc < 0) {
                    wstate_free(&s, n);
                    return rc;
                }
            } else if (s.watch) {
                mproc__evfd_drain(s.efd);
                for (size_t i = 0; i < n; i++)
                    if (s.watch[i])
                        mproc__watch_rearm_shared(s.watch[i]);
            }
            size_t k = 0;
            for (size_t i = 0; i < n; i++)
                if (s.fd[i] >= 0)
                    s.pfd[k++] = (struct pollfd){.fd = s.fd[i], .events = s.ev[i]};
            if (s.efd >= 0)
                s.pfd[k++] = (struct pollfd){.fd = s.efd, .events = POLLIN};
            int ms = mproc__deadline_remaining_ms(&dl);
            if (nobj) {
                uint64_t now = mproc__now_ns();
                int cap = wake_at > now ? (int)((wake_at - now + 999999u) / 1000000u) : 0;
                if (ms < 0 || cap < ms)
                    ms = cap;
            }
            if (poll(s.pfd, (nfds_t)k, ms) < 0 && errno != EINTR) {
                rc = mproc__err();
                wstate_free(&s, n);
                return rc;
            }
        }
        if (mproc__now_ns() >= next_look) {
            look = true;
            next_look = mproc__now_ns() + LOOK_NS;
        }
    }
}
