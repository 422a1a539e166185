/* sync/barrier.c - barriers that break, never hang, when a party dies.
 *
 * Layout (struct barrier, 800 bytes = sizeof(mproc_barrier)):
 *   word       futex word: BROKEN (bit 31) | generation (bits 16-30) |
 *              arrived in this generation (bits 0-15)
 *   parties    fixed at init, 1..65535
 *   reset_gen  RESET_MARK | the generation that mproc_barrier_reset ended
 *   wait[32]   who waits: {id = generation << 32 | pid, start time}
 *   member[16] who joined: {id = pid, start time}
 *
 * Arrive: CAS word count -> count+1; the old count is the arrival index.
 * The last arrival instead CASes to (generation+1, count 0) and wakes
 * everyone: a trip. Waiters FUTEX_WAIT on the word's current value (it
 * changes with each arrival: they simply wait again) until the generation
 * differs from theirs (then: tripped, unless reset_gen names their
 * generation, which makes it MPROC_EBROKEN) or BROKEN is set.
 *
 * Breaking: CAS BROKEN into the word, only while the generation is still the
 * caller's (a barrier that tripped meanwhile is not broken), then wake all.
 * A waiter breaks it when its timeout passes (and returns MPROC_ETIMEDOUT;
 * the others MPROC_EBROKEN) and when, once per MPROC_SYNC_SLICE_MS of sleep,
 * it finds a dead process among this generation's recorded waiters or among
 * the joined members. Waiter slots are written after the arrival CAS (start
 * first, then id with release order); a slot whose id names another
 * generation is stale and ignored, so a waiter that died between its CAS and
 * its slot write is not seen (a few instructions). Arrivals past the 32nd
 * are not recorded; members cover that case.
 *
 * Reset: store reset_gen (release), then the word (generation+1, count 0,
 * not broken), wake all; slots of dead members are freed. A waiter that
 * sleeps through two resets in a row may take the first for a trip
 * (reset_gen keeps only the last): documented, harmless in practice.
 */
#include "sync.h"

#include "../wait/probe.h"

#define BAR_BROKEN 0x80000000u
#define BAR_GEN_SHIFT 16
#define BAR_GEN_MASK 0x7fffu
#define BAR_COUNT 0xffffu
#define BAR_RESET_MARK 0x80000000u
/* parties of a destroyed barrier: every call then says MPROC_EBADF. */
#define BAR_DESTROYED 0xffffffffu

struct bar_slot {
    _Atomic uint64_t id;
    _Atomic uint64_t start;
};

struct barrier {
    _Atomic uint32_t word;
    uint32_t parties;
    _Atomic uint32_t reset_gen;
    _Atomic uint32_t trip_cpu; /* a CPU hint (linux/spin.h): the last tripper's */
    uint32_t reserved[4];
    struct bar_slot wait[MPROC_BARRIER_TRACK_MAX];
    struct bar_slot member[MPROC_BARRIER_JOIN_MAX];
};
_Static_assert(sizeof(struct barrier) == sizeof(mproc_barrier), "barrier layout");

static inline struct barrier *br(const mproc_barrier *b)
{
    return (struct barrier *)(void *)b;
}

static inline uint32_t bar_gen(uint32_t w)
{
    return (w >> BAR_GEN_SHIFT) & BAR_GEN_MASK;
}

static int bar_check(const struct barrier *k)
{
    if (k->parties == 0)
        return MPROC_EINVAL; /* never initialised */
    if (k->parties == BAR_DESTROYED)
        return MPROC_EBADF;
    if (k->parties > MPROC_BARRIER_PARTIES_MAX)
        return MPROC_ECORRUPT;
    return 0;
}

MPROC_API int mproc_barrier_init(mproc_barrier *b, unsigned parties)
{
    if (!b || parties == 0 || parties > MPROC_BARRIER_PARTIES_MAX)
        return MPROC_EINVAL;
    memset(b, 0, sizeof *b);
    br(b)->parties = parties; /* published by however the memory is shared */
    return 0;
}

MPROC_API int mproc_barrier_destroy(mproc_barrier *b)
{
    if (!b)
        return MPROC_EINVAL;
    struct barrier *k = br(b);
    if (k->parties == BAR_DESTROYED)
        return MPROC_EBADF;
    uint32_t w = atomic_load_explicit(&k->word, memory_order_acquire);
    if (!(w & BAR_BROKEN) && (w & BAR_COUNT))
        return MPROC_EBUSY;
    k->parties = BAR_DESTROYED;
    return 0;
}

/* Break generation `gen`: true if it is (now) broken, false if it tripped. */
static bool bar_break(struct barrier *k, uint32_t gen)
{
    uint32_t w = atomic_load_explicit(&k->word, memory_order_relaxed);
    for (;;) {
        if (bar_gen(w) != gen)
            return false;
        if (w & BAR_BROKEN)
            return true;
        if (atomic_compare_exchange_weak_explicit(&k->word, &w, w | BAR_BROKEN,
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            mproc__futex_wake(&k->word, INT32_MAX);
            return true;
        }
    }
}

/* A dead waiter of generation `gen` or a dead member? */
static bool bar_someone_died(struct barrier *k, uint32_t gen)
{
    if (!mproc__sync_can_judge())
        return false;
    for (int i = 0; i < MPROC_BARRIER_TRACK_MAX; i++) {
        uint64_t id = atomic_load_explicit(&k->wait[i].id, memory_order_acquire);
        if (id == 0 || (uint32_t)(id >> 32) != gen)
            continue;
        uint64_t start = atomic_load_explicit(&k->wait[i].start, memory_order_relaxed);
        if (!mproc__proc_alive((pid_t)(uint32_t)id, start))
            return true;
    }
    for (int i = 0; i < MPROC_BARRIER_JOIN_MAX; i++) {
        uint64_t id = atomic_load_explicit(&k->member[i].id, memory_order_acquire);
        if (id == 0)
            continue;
        uint64_t start = atomic_load_explicit(&k->member[i].start, memory_order_relaxed);
        if (!mproc__proc_alive((pid_t)(uint32_t)id, start))
            return true;
    }
    return false;
}

/* The outcome for a waiter of `gen` once the word moved on. */
static int bar_ended(struct barrier *k, uint32_t gen, int idx)
{
    uint32_t r = atomic_load_explicit(&k->reset_gen, memory_order_acquire);
    return r == (BAR_RESET_MARK | gen) ? MPROC_EBROKEN : idx;
}

static struct mproc__spin_site bar_spin; /* this process's barrier waits */

MPROC_API int mproc_barrier_wait(mproc_barrier *b, int timeout_ms)
{
    struct mproc__deadline d;
    if (!b)
        return MPROC_EINVAL;
    struct barrier *k = br(b);
    int rc = bar_check(k);
    if (rc < 0)
        return rc;
    if ((rc = mproc__deadline_init(&d, timeout_ms)) < 0)
        return rc;
    const uint32_t parties = k->parties;

    uint32_t w = atomic_load_explicit(&k->word, memory_order_acquire);
    uint32_t gen, idx;
    for (;;) {
        if (w & BAR_BROKEN)
            return MPROC_EBROKEN;
        gen = bar_gen(w);
        idx = w & BAR_COUNT;
        if (idx >= parties)
            return MPROC_ECORRUPT;
        if (idx + 1 == parties) {
            uint32_t nw = ((gen + 1) & BAR_GEN_MASK) << BAR_GEN_SHIFT;
            if (atomic_compare_exchange_weak_explicit(&k->word, &w, nw, memory_order_acq_rel,
                                                      memory_order_acquire)) {
                atomic_store_explicit(&k->trip_cpu, mproc__spin_hint(), memory_order_relaxed);
                mproc__futex_wake(&k->word, INT32_MAX);
                return (int)idx;
            }
        } else if (atomic_compare_exchange_weak_explicit(&k->word, &w, w + 1, memory_order_acq_rel,
                                                         memory_order_acquire)) {
            break;
        }
    }

    if (idx < MPROC_BARRIER_TRACK_MAX) {
        const struct mproc__sync_self *me = mproc__sync_self();
        atomic_store_explicit(&k->wait[idx].start, me->start, memory_order_relaxed);
        atomic_store_explicit(&k->wait[idx].id, (uint64_t)gen << 32 | (uint32_t)me->pid,
                              memory_order_release);
    }
    MPROC__KILL_POINT("barrier.wait");

    struct mproc__spin sp = {0};
    if (!d.poll) {
        /* The last parties may arrive within microseconds (linux/spin.h) */
        mproc__spin_begin(
            &sp, &bar_spin,
            mproc__spin_hint_cpu(atomic_load_explicit(&k->trip_cpu, memory_order_relaxed)), &d);
        while (mproc__spin_more(&sp)) {
            w = atomic_load_explicit(&k->word, memory_order_acquire);
            if (bar_gen(w) != gen || (w & BAR_BROKEN)) {
                mproc__spin_end(&sp, true);
                break;
            }
        }
    }

    uint64_t next_check = mproc__now_ns() + (uint64_t)MPROC_SYNC_SLICE_MS * 1000000u;
    for (;;) {
        w = atomic_load_explicit(&k->word, memory_order_acquire);
        if (bar_gen(w) != gen) {
            mproc__spin_woken(&sp); /* how long it took, sleep included */
            return bar_ended(k, gen, (int)idx);
        }
        if (w & BAR_BROKEN)
            return MPROC_EBROKEN;
        if (mproc__now_ns() >= next_check) {
            next_check = mproc__now_ns() + (uint64_t)MPROC_SYNC_SLICE_MS * 1000000u;
            if (bar_someone_died(k, gen) && bar_break(k, gen))
                return MPROC_EBROKEN;
        }
        rc = mproc__futex_wait_capped(&k->word, w, &d, MPROC_SYNC_SLICE_MS);
        if (rc == MPROC_ETIMEDOUT) {
            if (bar_break(k, gen))
                return mproc__try_once(MPROC_ETIMEDOUT, timeout_ms);
            return bar_ended(k, gen, (int)idx);
        }
    }
}

MPROC_API int mproc_barrier_abort(mproc_barrier *b)
{
    if (!b)
        return MPROC_EINVAL;
    struct barrier *k = br(b);
    int rc = bar_check(k);
    if (rc < 0)
        return rc;
    bar_break(k, bar_gen(atomic_load_explicit(&k->word, memory_order_acquire)));
    return 0;
}

MPROC_API int mproc_barrier_reset(mproc_barrier *b)
{
    if (!b)
        return MPROC_EINVAL;
    struct barrier *k = br(b);
    int rc = bar_check(k);
    if (rc < 0)
        return rc;
    for (int i = 0; i < MPROC_BARRIER_JOIN_MAX && mproc__sync_can_judge(); i++) {
        uint64_t id = atomic_load_explicit(&k->member[i].id, memory_order_acquire);
        uint64_t start = atomic_load_explicit(&k->member[i].start, memory_order_relaxed);
        if (id != 0 && !mproc__proc_alive((pid_t)(uint32_t)id, start))
            atomic_compare_exchange_strong_explicit(&k->member[i].id, &id, 0, memory_order_acq_rel,
                                                    memory_order_relaxed);
    }
    uint32_t w = atomic_load_explicit(&k->word, memory_order_acquire);
    uint32_t nw;
    do {
        atomic_store_explicit(&k->reset_gen, BAR_RESET_MARK | bar_gen(w), memory_order_release);
        nw = ((bar_gen(w) + 1) & BAR_GEN_MASK) << BAR_GEN_SHIFT;
    } while (!atomic_compare_exchange_weak_explicit(&k->word, &w, nw, memory_order_acq_rel,
                                                    memory_order_acquire));
    mproc__futex_wake(&k->word, INT32_MAX);
    return 0;
}

MPROC_API int mproc_barrier_broken(const mproc_barrier *b)
{
    if (!b)
        return MPROC_EINVAL;
    return (atomic_load_explicit(&br(b)->word, memory_order_acquire) & BAR_BROKEN) ? 1 : 0;
}

MPROC_API int mproc_barrier_parties(const mproc_barrier *b)
{
    if (!b)
        return MPROC_EINVAL;
    int rc = bar_check(br(b));
    return rc < 0 ? rc : (int)br(b)->parties;
}

MPROC_API int mproc_barrier_n_waiting(const mproc_barrier *b)
{
    if (!b)
        return MPROC_EINVAL;
    uint32_t w = atomic_load_explicit(&br(b)->word, memory_order_acquire);
    return (w & BAR_BROKEN) ? 0 : (int)(w & BAR_COUNT);
}

MPROC_API int mproc_barrier_join(mproc_barrier *b)
{
    if (!b)
        return MPROC_EINVAL;
    struct barrier *k = br(b);
    int rc = bar_check(k);
    if (rc < 0)
        return rc;
    const struct mproc__sync_self *me = mproc__sync_self();
    for (int i = 0; i < MPROC_BARRIER_JOIN_MAX; i++) {
        if (atomic_load_explicit(&k->member[i].id, memory_order_acquire) == (uint32_t)me->pid &&
            atomic_load_explicit(&k->member[i].start, memory_order_relaxed) == me->start)
            return MPROC_EEXIST;
    }
    for (int i = 0; i < MPROC_BARRIER_JOIN_MAX; i++) {
        uint64_t zero = 0;
        /* start first: a scanner that sees the id finds a start time that is
         * 0 (pid-only check) or ours, never a former member's. */
        if (atomic_load_explicit(&k->member[i].id, memory_order_relaxed) != 0)
            continue;
        atomic_store_explicit(&k->member[i].start, 0, memory_order_relaxed);
        if (atomic_compare_exchange_strong_explicit(&k->member[i].id, &zero, (uint32_t)me->pid,
                                                    memory_order_acq_rel, memory_order_relaxed)) {
            atomic_store_explicit(&k->member[i].start, me->start, memory_order_release);
            return 0;
        }
    }
    return MPROC_ENOSPC;
}

MPROC_API int mproc_barrier_leave(mproc_barrier *b)
{
    if (!b)
        return MPROC_EINVAL;
    struct barrier *k = br(b);
    const struct mproc__sync_self *me = mproc__sync_self();
    for (int i = 0; i < MPROC_BARRIER_JOIN_MAX; i++) {
        uint64_t id = atomic_load_explicit(&k->member[i].id, memory_order_acquire);
        if (id == (uint32_t)me->pid &&
            atomic_load_explicit(&k->member[i].start, memory_order_relaxed) == me->start) {
            atomic_store_explicit(&k->member[i].id, 0, memory_order_release);
            return 0;
        }
    }
    return MPROC_ENOENT;
}

MPROC_API int mproc_barrier_create(mproc_barrier **out, const char *name, unsigned parties)
{
    void *obj;
    if (!out || parties == 0 || parties > MPROC_BARRIER_PARTIES_MAX)
        return MPROC_EINVAL;
    int rc = mproc__sync_create(&obj, name, MPROC__SEG_BARRIER, sizeof(mproc_barrier));
    if (rc < 0)
        return rc;
    mproc_barrier_init(obj, parties);
    mproc__sync_publish(obj);
    *out = obj;
    return 0;
}

MPROC__SYNC_OPEN_CLOSE(mproc_barrier, mproc_barrier, MPROC__SEG_BARRIER)

/* A watch's look (wait/probe.h). A watcher is not a party: it waits for
 * the generation it saw when armed to end (tripped or reset) or for the
 * barrier to break. Arrivals change the word without waking anyone, so a
 * watcher sleeps on the value it read and looks again when woken early.
 * When asked to look it does what a sleeping party does once per slice:
 * a dead waiter of this generation or a dead member breaks the barrier
 * (so the last process left watching still learns of the death). */
int mproc__barrier_check(void *b)
{
    return bar_check(br(b));
}

uint32_t mproc__barrier_gen(void *b)
{
    return bar_gen(atomic_load_explicit(&br(b)->word, memory_order_acquire));
}

int mproc__barrier_probe(void *b, uint32_t gen, bool announce, bool look, struct mproc__wsleep *sl)
{
    struct barrier *k = br(b);
    if (bar_check(k) < 0)
        return 1;
    uint32_t w = atomic_load_explicit(&k->word, memory_order_acquire);
    if (bar_gen(w) != gen || (w & BAR_BROKEN))
        return 1;
    if (look && bar_someone_died(k, gen) && bar_break(k, gen))
        return 1;
    if (!announce)
        return 0;
    sl->word = &k->word;
    sl->val = w;
    sl->cap_ms = MPROC_SYNC_SLICE_MS;
    return 0;
}
