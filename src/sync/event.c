/* sync/event.c - events: a flag that processes wait for.
 *
 * Layout (16 bytes = sizeof(mproc_event)): one futex word
 *   0  not set          1  set          2  not set, and someone may sleep
 * Any other value is corruption (MPROC_ECORRUPT from wait).
 *
 * Wait: while the word is not 1, CAS 0 -> 2 and FUTEX_WAIT on 2 (capped at
 * MPROC_SYNC_SLICE_MS, so a setter that died between its store and its wake
 * strands nobody). Set: exchange with 1; wake all only if it was 2. Clear:
 * CAS 1 -> 0 (2 and 0 already mean "not set"). A waiter killed in its sleep
 * leaves 2 behind: the next set makes one needless wake.
 */
#include "sync.h"

#include "../wait/probe.h"

#define EV_CLEAR 0u
#define EV_SET 1u
#define EV_WAITERS 2u

struct event {
    _Atomic uint32_t word;
    _Atomic uint32_t set_cpu; /* a CPU hint (linux/spin.h): the last setter's */
    uint32_t reserved[2];
};
_Static_assert(sizeof(struct event) == sizeof(mproc_event), "event layout");

static inline struct event *ev(mproc_event *e)
{
    return (struct event *)(void *)e;
}

MPROC_API int mproc_event_init(mproc_event *e)
{
    if (!e)
        return MPROC_EINVAL;
    memset(e, 0, sizeof *e);
    return 0;
}

MPROC_API int mproc_event_destroy(mproc_event *e)
{
    return e ? 0 : MPROC_EINVAL;
}

MPROC_API int mproc_event_set(mproc_event *e)
{
    if (!e)
        return MPROC_EINVAL;
    struct event *k = ev(e);
    if (atomic_load_explicit(&k->word, memory_order_relaxed) == EV_SET)
        return 0;
    atomic_store_explicit(&k->set_cpu, mproc__spin_hint(), memory_order_relaxed);
    uint32_t old = atomic_exchange_explicit(&k->word, EV_SET, memory_order_release);
    MPROC__KILL_POINT("event.set");
    if (old != EV_SET && old != EV_CLEAR)
        mproc__futex_wake(&k->word, INT32_MAX);
    return 0;
}

MPROC_API int mproc_event_clear(mproc_event *e)
{
    if (!e)
        return MPROC_EINVAL;
    uint32_t w = EV_SET;
    atomic_compare_exchange_strong_explicit(&ev(e)->word, &w, EV_CLEAR, memory_order_relaxed,
                                            memory_order_relaxed);
    return 0;
}

MPROC_API int mproc_event_is_set(const mproc_event *e)
{
    if (!e)
        return MPROC_EINVAL;
    return atomic_load_explicit(&((struct event *)(void *)e)->word, memory_order_acquire) == EV_SET;
}

static struct mproc__spin_site ev_spin; /* this process's event waits */

MPROC_API int mproc_event_wait(mproc_event *e, int timeout_ms)
{
    struct mproc__deadline d;
    if (!e)
        return MPROC_EINVAL;
    struct event *k = ev(e);
    if (atomic_load_explicit(&k->word, memory_order_acquire) == EV_SET)
        return 0;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    struct mproc__spin sp = {0};
    if (!d.poll) {
        /* A setter on another CPU may be about to set it (linux/spin.h) */
        mproc__spin_begin(
            &sp, &ev_spin,
            mproc__spin_hint_cpu(atomic_load_explicit(&k->set_cpu, memory_order_relaxed)), &d);
        while (mproc__spin_more(&sp)) {
            if (atomic_load_explicit(&k->word, memory_order_acquire) == EV_SET) {
                mproc__spin_end(&sp, true);
                return 0;
            }
        }
    }
    for (;;) {
        uint32_t w = atomic_load_explicit(&k->word, memory_order_acquire);
        if (w == EV_SET) {
            mproc__spin_woken(&sp); /* how long it took, sleep included */
            return 0;
        }
        if (w != EV_CLEAR && w != EV_WAITERS)
            return MPROC_ECORRUPT;
        if (d.poll)
            return MPROC_EAGAIN;
        if (w == EV_CLEAR &&
            !atomic_compare_exchange_strong_explicit(&k->word, &w, EV_WAITERS, memory_order_relaxed,
                                                     memory_order_relaxed))
            continue;
        rc = mproc__futex_wait_capped(&k->word, EV_WAITERS, &d, MPROC_SYNC_SLICE_MS);
        if (rc == MPROC_ETIMEDOUT)
            return atomic_load_explicit(&k->word, memory_order_acquire) == EV_SET ? 0
                                                                                  : MPROC_ETIMEDOUT;
    }
}

MPROC_API int mproc_event_create(mproc_event **out, const char *name)
{
    void *obj;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc__sync_create(&obj, name, MPROC__SEG_EVENT, sizeof(mproc_event));
    if (rc < 0)
        return rc;
    mproc__sync_publish(obj);
    *out = obj;
    return 0;
}

MPROC__SYNC_OPEN_CLOSE(mproc_event, mproc_event, MPROC__SEG_EVENT)

/* A watch's look (wait/probe.h): a waiter's announcement without the
 * sleep. Corrupt words count as ready: mproc_event_wait reports them. */
int mproc__event_probe(void *e, bool announce, struct mproc__wsleep *sl)
{
    struct event *k = ev(e);
    for (;;) {
        uint32_t w = atomic_load_explicit(&k->word, memory_order_acquire);
        if (w != EV_CLEAR && w != EV_WAITERS)
            return 1;
        if (!announce)
            return 0;
        if (w == EV_CLEAR &&
            !atomic_compare_exchange_strong_explicit(&k->word, &w, EV_WAITERS, memory_order_relaxed,
                                                     memory_order_relaxed))
            continue;
        sl->word = &k->word;
        sl->val = EV_WAITERS;
        sl->cap_ms = MPROC_SYNC_SLICE_MS; /* a setter may die between its store and its wake */
        return 0;
    }
}
