/* sync/sem.c - counting semaphores, bounded or not, optionally tracking
 * which process holds which units so that a dead holder's units come back.
 *
 * Layout (struct sem, 256 bytes = sizeof(mproc_sem)):
 *   word    64 bits: lo = the futex word, units available (bits 0-30) |
 *           WAITERS (bit 31); hi = TRACKED only: the pending operation
 *   flags   MPROC_SEM_BOUNDED | MPROC_SEM_TRACKED, fixed at init
 *   max     the initial value (the bound when BOUNDED)
 *   slot[]  TRACKED only: {pid, start, st = units | applied-op tag}
 *   nslots  0 in place (MPROC_SEM_TRACK_MAX slots); MPROC_SEM_TRACK_MAX_NAMED
 *           for a semaphore of mproc_sem_create, whose body fills the rest
 *           of its page with more slots (struct sem_named)
 * All-zero bytes: value 0, unbounded, untracked.
 *
 * Futex protocol (both modes). Acquire takes one from the count (the
 * WAITERS bit rides along). With count 0, spin briefly (linux/spin.h: a
 * budget in time, none when the releaser cannot be running), then set WAITERS
 * and FUTEX_WAIT on lo == WAITERS. Release adds one with WAITERS cleared
 * and, if it was set, wakes *all* sleepers: each re-contends and sets
 * WAITERS again before sleeping, so no sleeper is left unflagged. A waiter
 * killed in its sleep leaves WAITERS set until the next release clears it:
 * one needless wake. Sleeps are capped at MPROC_SYNC_SLICE_MS.
 * Untracked semaphores use 32-bit atomics on lo only (hi stays 0).
 *
 * Tracking: the count and the holders' slots must change together, or a
 * process killed between the two would lose a unit or create one. So every
 * tracked operation is one 64-bit CAS on `word` that changes the count *and*
 * records the operation in hi:
 *     hi = PENDING (bit 31) | slot (bits 23-30) | kind (bits 21-22) | seq
 * kind ACQUIRE (+1 unit to the slot), RELEASE (-1), RECOVER (-> 0 units);
 * seq (21 bits) grows with every operation, so `word` does not repeat
 * within two million operations (no ABA). Then the operation is applied to the slot: CAS st from its current
 * value to (tag = the pending hi) << 32 | new units, and PENDING is cleared
 * by a CAS on hi. While PENDING is set nobody can start an operation: whoever
 * finds it applies it first (helping), so a process killed after its CAS on
 * `word` leaves nothing half done. A helper applies only while the
 * operation is still pending and st is unchanged since it read it: the
 * slot's tag shows whether that operation was applied already.
 *
 * Slots. A process claims a slot before its first acquire (CAS pid 0 ->
 * pid, then start) and keeps it while it lives (its threads share it), so a
 * full table fails with MPROC_ENOSPC without taking anything. A release
 * must come from a process whose slot holds a unit (MPROC_ENOTOWNER). A
 * waiter that has slept a slice (or a try-once acquire that failed, or a
 * process that finds the table full) scans the slots: a slot whose process
 * is dead (pid + start time) is claimed with CAS pid -> RECOVERING | own
 * pid, its units go back to the count with one RECOVER operation, and the
 * slot is freed. A slot left RECOVERING by a recoverer that died is simply
 * recovered again (the operations are idempotent by their tags). Start
 * times are kept to 32 bits (clock ticks since boot: 497 days at 100 Hz).
 */
#include "sync.h"

#include "../wait/probe.h"

#include <sched.h>
#include <unistd.h>

#define SEM_WAITERS 0x80000000u
#define SEM_COUNT 0x7fffffffu
#define SEM_RECOVERING 0x80000000u /* | the recovering process's pid */

#define OP_PENDING 0x80000000u
#define OP_SLOT_SHIFT 23
#define OP_SLOT_MASK 0xffu
#define OP_KIND_SHIFT 21
#define OP_SEQ 0x001fffffu
enum { OP_ACQUIRE = 0, OP_RELEASE = 1, OP_RECOVER = 2 };

struct sem_slot {
    _Atomic uint32_t pid;
    _Atomic uint32_t start;
    _Atomic uint64_t st;
};

struct sem {
    _Atomic uint64_t word;
    uint32_t flags;
    uint32_t max;
    struct sem_slot slot[MPROC_SEM_TRACK_MAX];
    _Atomic uint32_t wake_cpu; /* a CPU hint (linux/spin.h): the last waking releaser's */
    uint32_t nslots;           /* 0 or MPROC_SEM_TRACK_MAX_NAMED, written before publish */
    uint64_t reserved;
};
_Static_assert(sizeof(struct sem) == sizeof(mproc_sem), "sem layout");

/* A semaphore of its own segment: the body fills the segment's first page
 * (4096 bytes less the segment header), the extra slots right after the
 * in-place layout. */
#define SEM_NAMED_BODY MPROC__SEM_SEG_BODY
struct sem_named {
    struct sem base;
    struct sem_slot more[MPROC_SEM_TRACK_MAX_NAMED - MPROC_SEM_TRACK_MAX];
};
_Static_assert(sizeof(struct sem_named) <= SEM_NAMED_BODY, "named sem fits its page");
_Static_assert(MPROC_SEM_TRACK_MAX_NAMED - 1 <= OP_SLOT_MASK, "slot index fits the op");

static inline struct sem *sm(const mproc_sem *s)
{
    return (struct sem *)(void *)s;
}

/* The 32-bit futex half of `word` (the low half of the 64-bit value). */
static inline _Atomic uint32_t *sem_lo(struct sem *m)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return (_Atomic uint32_t *)(void *)&m->word;
#else
    return (_Atomic uint32_t *)(void *)((char *)&m->word + 4);
#endif
}

static inline bool sem_tracked(const struct sem *m)
{
    return (m->flags & MPROC_SEM_TRACKED) != 0;
}

/* How many slots m has. nslots comes from shared memory, so the larger
 * table is used only where it is sure to be mapped: m sits right after a
 * segment header of a named-size semaphore, in one page that this process
 * maps whole (standalone.c maps whole pages). Anything else: the in-place
 * table. */
static unsigned sem_nslots(const struct sem *m)
{
    if (MPROC__LIKELY(m->nslots != MPROC_SEM_TRACK_MAX_NAMED))
        return MPROC_SEM_TRACK_MAX;
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);
    if (((uintptr_t)m & (pg - 1)) != MPROC__SEG_HDR_SIZE)
        return MPROC_SEM_TRACK_MAX;
    const struct mproc__seg_hdr *h = (const void *)((const char *)m - MPROC__SEG_HDR_SIZE);
    if (h->kind != MPROC__SEG_SEM || h->body_size != SEM_NAMED_BODY)
        return MPROC_SEM_TRACK_MAX;
    return MPROC_SEM_TRACK_MAX_NAMED;
}

static inline struct sem_slot *sem_slot(struct sem *m, unsigned i)
{
    if (i < MPROC_SEM_TRACK_MAX)
        return &m->slot[i];
    return &((struct sem_named *)(void *)m)->more[i - MPROC_SEM_TRACK_MAX];
}

MPROC_API int mproc_sem_init(mproc_sem *s, unsigned value, unsigned flags)
{
    if (!s || value > MPROC_SEM_VALUE_MAX || (flags & ~(MPROC_SEM_BOUNDED | MPROC_SEM_TRACKED)))
        return MPROC_EINVAL;
    memset(s, 0, sizeof *s);
    struct sem *m = sm(s);
    m->flags = flags;
    m->max = value;
    atomic_store_explicit(&m->word, value, memory_order_release);
    return 0;
}

static uint32_t sem_lo_now(struct sem *m)
{
    if (sem_tracked(m))
        return (uint32_t)atomic_load_explicit(&m->word, memory_order_acquire);
    return atomic_load_explicit(sem_lo(m), memory_order_acquire);
}

MPROC_API int mproc_sem_destroy(mproc_sem *s)
{
    if (!s)
        return MPROC_EINVAL;
    return (sem_lo_now(sm(s)) & SEM_WAITERS) ? MPROC_EBUSY : 0;
}

MPROC_API int mproc_sem_value(const mproc_sem *s)
{
    if (!s)
        return MPROC_EINVAL;
    return (int)(sem_lo_now(sm(s)) & SEM_COUNT);
}

/* Tracked operations ---------------------------------------------------------- */

static inline uint64_t sem_pack(uint32_t hi, uint32_t lo)
{
    return (uint64_t)hi << 32 | lo;
}

static inline uint32_t sem_op(uint32_t prev_hi, unsigned slot, unsigned kind)
{
    return OP_PENDING | (uint32_t)slot << OP_SLOT_SHIFT | (uint32_t)kind << OP_KIND_SHIFT |
           ((prev_hi + 1) & OP_SEQ);
}

/* Apply the pending operation `op` to its slot, then clear PENDING. Any
 * process may call this for any pending operation (helping). */
static void sem_apply(struct sem *m, uint32_t op)
{
    unsigned idx = (op >> OP_SLOT_SHIFT) & OP_SLOT_MASK;
    unsigned kind = (op >> OP_KIND_SHIFT) & 3u;
    if (idx < sem_nslots(m)) {
        struct sem_slot *sl = sem_slot(m, idx);
        for (;;) {
            uint64_t st = atomic_load_explicit(&sl->st, memory_order_acquire);
            if ((uint32_t)(st >> 32) == op)
                break; /* applied already */
            uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire);
            if ((uint32_t)(w >> 32) != op)
                return; /* applied and cleared by someone else */
            uint32_t u = (uint32_t)st;
            uint32_t nu = kind == OP_ACQUIRE ? u + 1 : kind == OP_RELEASE ? (u ? u - 1 : 0) : 0;
            if (atomic_compare_exchange_weak_explicit(&sl->st, &st, sem_pack(op, nu),
                                                      memory_order_acq_rel, memory_order_relaxed))
                break;
        }
    }
    MPROC__KILL_POINT("sem.op.applied");
    uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire);
    while ((uint32_t)(w >> 32) == op) {
        uint64_t nw = sem_pack(op & ~OP_PENDING, (uint32_t)w);
        if (atomic_compare_exchange_weak_explicit(&m->word, &w, nw, memory_order_acq_rel,
                                                  memory_order_acquire))
            break;
    }
}

/* The current word with no operation pending (helping if one is). */
static uint64_t sem_settled(struct sem *m)
{
    for (;;) {
        uint64_t w = atomic_load_explicit(&m->word, memory_order_acquire);
        uint32_t hi = (uint32_t)(w >> 32);
        if (!(hi & OP_PENDING))
            return w;
        sem_apply(m, hi);
    }
}

static inline uint32_t slot_units(const struct sem_slot *sl)
{
    return (uint32_t)atomic_load_explicit(&((struct sem_slot *)sl)->st, memory_order_acquire);
}

/* Is the process behind a slot alive? pid + 32-bit start time. */
static bool sem_slot_alive(uint32_t pid, uint32_t start)
{
    if (!mproc__proc_alive((pid_t)pid, 0))
        return false;
    return start == 0 || (uint32_t)mproc__proc_start((pid_t)pid) == start;
}

/* Return the units of slot idx (whose process is dead) to the count. */
static uint32_t sem_recover_slot(struct sem *m, unsigned idx)
{
    for (;;) {
        uint64_t w = sem_settled(m);
        uint32_t u = slot_units(sem_slot(m, idx));
        if (u == 0)
            return 0;
        uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
        uint32_t c = (lo & SEM_COUNT) + u;
        if (c > m->max || c < u)
            c = m->max; /* slot counts come from shared memory: never past the bound */
        uint32_t op = sem_op(hi, idx, OP_RECOVER);
        if (atomic_compare_exchange_weak_explicit(&m->word, &w, sem_pack(op, c),
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            sem_apply(m, op);
            if (lo & SEM_WAITERS) {
                atomic_store_explicit(&m->wake_cpu, mproc__spin_hint(), memory_order_relaxed);
                mproc__futex_wake(sem_lo(m), INT32_MAX);
            }
            return u;
        }
    }
}

/* Scan for dead holders and give their units back; how many came back. */
static uint32_t sem_recover(struct sem *m)
{
    uint32_t total = 0;
    if (!mproc__sync_can_judge())
        return 0;
    const uint32_t me = (uint32_t)mproc__sync_self()->pid;
    const unsigned n = sem_nslots(m);
    for (unsigned i = 0; i < n; i++) {
        struct sem_slot *sl = sem_slot(m, i);
        uint32_t pid = atomic_load_explicit(&sl->pid, memory_order_acquire);
        if (pid == 0 || pid == (SEM_RECOVERING | me))
            continue;
        bool dead;
        if (pid & SEM_RECOVERING)
            dead = !mproc__proc_alive((pid_t)(pid & ~SEM_RECOVERING), 0);
        else
            dead = !sem_slot_alive(pid, atomic_load_explicit(&sl->start, memory_order_relaxed));
        if (!dead ||
            !atomic_compare_exchange_strong_explicit(&sl->pid, &pid, SEM_RECOVERING | me,
                                                     memory_order_acq_rel, memory_order_relaxed))
            continue;
        total += sem_recover_slot(m, i);
        atomic_store_explicit(&sl->start, 0, memory_order_relaxed);
        atomic_store_explicit(&sl->pid, 0, memory_order_release);
    }
    return total;
}

/* The index of the caller's slot, claimed if needed (recycling the slots
 * of dead processes); -1 if the table is full. */
static int sem_my_slot(struct sem *m, const struct mproc__sync_self *me)
{
    const uint32_t start = (uint32_t)me->start;
    const int n = (int)sem_nslots(m);
    for (int i = 0; i < n; i++) {
        struct sem_slot *sl = sem_slot(m, (unsigned)i);
        if (atomic_load_explicit(&sl->pid, memory_order_acquire) == (uint32_t)me->pid &&
            atomic_load_explicit(&sl->start, memory_order_relaxed) == start)
            return i;
    }
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < n; i++) {
            struct sem_slot *sl = sem_slot(m, (unsigned)i);
            uint32_t zero = 0;
            if (atomic_compare_exchange_strong_explicit(&sl->pid, &zero, (uint32_t)me->pid,
                                                        memory_order_acq_rel,
                                                        memory_order_relaxed)) {
                atomic_store_explicit(&sl->start, start, memory_order_release);
                return i;
            }
        }
        if (pass == 0)
            sem_recover(m);
    }
    return -1;
}

/* Take one unit if there is one. */
static bool sem_try(struct sem *m, int slot)
{
    if (slot < 0) {
        _Atomic uint32_t *lo = sem_lo(m);
        uint32_t w = atomic_load_explicit(lo, memory_order_relaxed);
        while (w & SEM_COUNT) {
            if (atomic_compare_exchange_weak_explicit(lo, &w, w - 1, memory_order_acquire,
                                                      memory_order_relaxed))
                return true;
        }
        return false;
    }
    for (;;) {
        uint64_t w = sem_settled(m);
        uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
        if (!(lo & SEM_COUNT))
            return false;
        uint32_t op = sem_op(hi, (unsigned)slot, OP_ACQUIRE);
        if (atomic_compare_exchange_weak_explicit(&m->word, &w, sem_pack(op, lo - 1),
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            MPROC__KILL_POINT("sem.acquire.pending");
            sem_apply(m, op);
            return true;
        }
    }
}

/* Set WAITERS if the count is still 0; false if it is not (retry taking). */
static bool sem_flag_waiters(struct sem *m, bool tracked)
{
    if (!tracked) {
        _Atomic uint32_t *lo = sem_lo(m);
        uint32_t w = atomic_load_explicit(lo, memory_order_relaxed);
        if (w & SEM_COUNT)
            return false;
        return (w & SEM_WAITERS) ||
               atomic_compare_exchange_strong_explicit(lo, &w, w | SEM_WAITERS,
                                                       memory_order_relaxed, memory_order_relaxed);
    }
    uint64_t w = sem_settled(m);
    if ((uint32_t)w & SEM_COUNT)
        return false;
    return ((uint32_t)w & SEM_WAITERS) ||
           atomic_compare_exchange_strong_explicit(&m->word, &w, w | SEM_WAITERS,
                                                   memory_order_relaxed, memory_order_relaxed);
}

static struct mproc__spin_site sem_spin; /* this process's semaphore waits */

static int sem_wait_slow(struct sem *m, int timeout_ms, int slot)
{
    struct mproc__deadline d;
    const bool tracked = slot >= 0;
    int rc = mproc__deadline_init(&d, timeout_ms);
    if (rc < 0)
        return rc;
    struct mproc__spin sp = {0};
    if (!d.poll) {
        /* Spin while a releaser may be about to post (linux/spin.h: how
         * long, or not at all when it cannot be running), then sleep. */
        mproc__spin_begin(
            &sp, &sem_spin,
            mproc__spin_hint_cpu(atomic_load_explicit(&m->wake_cpu, memory_order_relaxed)), &d);
        while (mproc__spin_more(&sp)) {
            if ((sem_lo_now(m) & SEM_COUNT) && sem_try(m, slot)) {
                mproc__spin_end(&sp, true);
                return 0;
            }
        }
    }
    uint64_t next_check = 0;
    for (;;) {
        if (sem_try(m, slot)) {
            mproc__spin_woken(&sp); /* how long it took, sleep included */
            return 0;
        }
        if (tracked && (d.poll || (next_check && mproc__now_ns() >= next_check))) {
            next_check = mproc__now_ns() + (uint64_t)MPROC_SYNC_SLICE_MS * 1000000u;
            if (sem_recover(m))
                continue;
        }
        if (d.poll)
            return MPROC_ETIMEDOUT;
        if (!sem_flag_waiters(m, tracked))
            continue;
        if (next_check == 0)
            next_check = mproc__now_ns() + (uint64_t)MPROC_SYNC_SLICE_MS * 1000000u;
        rc = mproc__futex_wait_capped(sem_lo(m), SEM_WAITERS, &d, MPROC_SYNC_SLICE_MS);
        if (rc == MPROC_ETIMEDOUT)
            return sem_try(m, slot) ? 0 : MPROC_ETIMEDOUT;
    }
}

MPROC_API int mproc_sem_acquire(mproc_sem *s, int timeout_ms)
{
    if (MPROC__UNLIKELY(!s || (timeout_ms < 0 && timeout_ms != MPROC_FOREVER)))
        return MPROC_EINVAL;
    struct sem *m = sm(s);
    int slot = -1;
    if (sem_tracked(m) && (slot = sem_my_slot(m, mproc__sync_self())) < 0)
        return MPROC_ENOSPC;
    int rc = sem_try(m, slot) ? 0 : sem_wait_slow(m, timeout_ms, slot);
    if (rc == 0)
        MPROC__KILL_POINT("sem.held");
    return mproc__try_once(rc, timeout_ms);
}

static int sem_release_untracked(struct sem *m)
{
    _Atomic uint32_t *lo = sem_lo(m);
    uint32_t w = atomic_load_explicit(lo, memory_order_relaxed);
    for (;;) {
        uint32_t c = w & SEM_COUNT;
        if ((m->flags & MPROC_SEM_BOUNDED) && c >= m->max)
            return MPROC_ERANGE;
        if (c >= MPROC_SEM_VALUE_MAX)
            return MPROC_EOVERFLOW;
        if (atomic_compare_exchange_weak_explicit(lo, &w, c + 1, memory_order_release,
                                                  memory_order_relaxed))
            break;
    }
    if (w & SEM_WAITERS) {
        atomic_store_explicit(&m->wake_cpu, mproc__spin_hint(), memory_order_relaxed);
        mproc__futex_wake(lo, INT32_MAX);
    }
    return 0;
}

static int sem_release_tracked(struct sem *m)
{
    const struct mproc__sync_self *me = mproc__sync_self();
    const uint32_t start = (uint32_t)me->start;
    for (;;) {
        uint64_t w = sem_settled(m);
        /* A slot of the caller's with a unit (threads of one process may
         * have claimed two slots in a race). */
        int idx = -1;
        const int n = (int)sem_nslots(m);
        for (int i = 0; i < n && idx < 0; i++) {
            struct sem_slot *sl = sem_slot(m, (unsigned)i);
            if (atomic_load_explicit(&sl->pid, memory_order_acquire) == (uint32_t)me->pid &&
                atomic_load_explicit(&sl->start, memory_order_relaxed) == start &&
                slot_units(sl) > 0)
                idx = i;
        }
        if (idx < 0)
            return MPROC_ENOTOWNER;
        uint32_t lo = (uint32_t)w, hi = (uint32_t)(w >> 32);
        uint32_t c = lo & SEM_COUNT;
        if ((m->flags & MPROC_SEM_BOUNDED) && c >= m->max)
            return MPROC_ERANGE;
        if (c >= MPROC_SEM_VALUE_MAX)
            return MPROC_EOVERFLOW;
        /* The CAS fails if anything changed since `w`, including the slot
         * (every slot change goes through the word). */
        uint32_t op = sem_op(hi, (unsigned)idx, OP_RELEASE);
        if (atomic_compare_exchange_weak_explicit(&m->word, &w, sem_pack(op, c + 1),
                                                  memory_order_acq_rel, memory_order_relaxed)) {
            MPROC__KILL_POINT("sem.release.pending");
            sem_apply(m, op);
            if (lo & SEM_WAITERS)
                mproc__futex_wake(sem_lo(m), INT32_MAX);
            return 0;
        }
    }
}

MPROC_API int mproc_sem_release(mproc_sem *s)
{
    if (MPROC__UNLIKELY(!s))
        return MPROC_EINVAL;
    struct sem *m = sm(s);
    return sem_tracked(m) ? sem_release_tracked(m) : sem_release_untracked(m);
}

MPROC_API int mproc_sem_create(mproc_sem **out, const char *name, unsigned value, unsigned flags)
{
    void *obj;
    if (!out || value > MPROC_SEM_VALUE_MAX || (flags & ~(MPROC_SEM_BOUNDED | MPROC_SEM_TRACKED)))
        return MPROC_EINVAL;
    int rc = mproc__sync_create(&obj, name, MPROC__SEG_SEM, SEM_NAMED_BODY);
    if (rc < 0)
        return rc;
    mproc_sem_init(obj, value, flags);
    sm(obj)->nslots = MPROC_SEM_TRACK_MAX_NAMED;
    mproc__sync_publish(obj);
    *out = obj;
    return 0;
}

MPROC_API int mproc_sem_open(mproc_sem **out, const char *name)
{
    void *obj;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc__sync_open(&obj, name, MPROC__SEG_SEM, SEM_NAMED_BODY);
    if (rc < 0)
        return rc;
    *out = obj;
    return 0;
}

MPROC_API int mproc_sem_close(mproc_sem *s)
{
    return mproc__sync_close(s, MPROC__SEG_SEM, SEM_NAMED_BODY);
}

MPROC_API int mproc_sem_unlink(const char *name)
{
    return mproc__seg_unlink(name, MPROC__SEG_SEM);
}

/* A watch's look (wait/probe.h): what sem_wait_slow does before it sleeps,
 * without taking the unit. A tracked semaphore's dead holders are looked
 * for when asked (look), as a sleeper does once per slice. */
int mproc__sem_probe(void *s, bool announce, bool look, struct mproc__wsleep *sl)
{
    struct sem *m = sm(s);
    const bool tracked = sem_tracked(m);
    for (;;) {
        if (sem_lo_now(m) & SEM_COUNT)
            return 1;
        if (tracked && look && sem_recover(m))
            continue;
        if (!announce)
            return 0;
        if (!sem_flag_waiters(m, tracked))
            continue;
        sl->word = sem_lo(m);
        sl->val = SEM_WAITERS;
        sl->cap_ms = MPROC_SYNC_SLICE_MS; /* as sleepers: dead holders, dead wakers */
        return 0;
    }
}
