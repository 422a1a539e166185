/* linux/spin.c - the spin budget of every waiter (model in spin.h).
 *
 * State
 * -----
 * - per site (struct mproc__spin_site, process-local): the budget's peak and
 *   when it was set (relaxed atomics: two threads folding outcomes at once
 *   may mix them up, which only blurs adaptation);
 * - per thread: the affinity sample, and the episode left open by a caller
 *   that found its condition true and stopped calling mproc__spin_more
 *   (`pending`, folded in as a success at the thread's next begin);
 * - per process: the load sample (runnable tasks and online CPUs), refreshed
 *   by the first waiter that finds it older than MPROC__SPIN_SAMPLE_NS (a
 *   CAS on the sample time elects it; the others use the old sample).
 *
 * Nothing here blocks, allocates or fails: when /proc or the affinity
 * cannot be read, the sample says "unknown" and only the other rules apply.
 */
#include "spin.h"

#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

/* MPROC_SPIN_NS: -1 = adapt (not set or not a number), else the fixed
 * budget in ns (0 = never spin). Read once; INT32_MIN = not read yet. */
static _Atomic int32_t env_budget = INT32_MIN;

static int32_t spin_env(void)
{
    int32_t v = atomic_load_explicit(&env_budget, memory_order_relaxed);
    if (MPROC__LIKELY(v != INT32_MIN))
        return v;
    v = -1;
    const char *e = getenv("MPROC_SPIN_NS");
    if (e && *e) {
        char *end;
        long long n = strtoll(e, &end, 10);
        if (*end == '\0' && n >= 0)
            v = n > MPROC__SPIN_CEIL_NS * 20ll ? (int32_t)(MPROC__SPIN_CEIL_NS * 20) : (int32_t)n;
    }
    atomic_store_explicit(&env_budget, v, memory_order_relaxed);
    return v;
}

/* The skip rule ------------------------------------------------------------- */

MPROC__TEST_API bool mproc__spin_skip_rule(int allowed, int running, int online, int mine, int peer)
{
    if (online == 1)
        return true; /* the peer can only run when I do not */
    if (online > 0 && running > online)
        return true; /* someone runnable is not running: maybe the peer */
    if (mine >= 0 && peer >= 0)
        return mine == peer; /* the peer ran where I run now: it is not running */
    return allowed == 1;     /* pinned, peer unknown: it probably shares my CPU */
}

MPROC__TEST_API int mproc__spin_parse_loadavg(const char *text, int *running)
{
    /* "0.20 0.18 0.12 1/80 11206": the fourth field is running/total */
    const char *p = text;
    for (int field = 0; field < 3; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    if (*p < '0' || *p > '9')
        return MPROC_EINVAL;
    long v = 0;
    while (*p >= '0' && *p <= '9') {
        if (v > 1000000000L)
            return MPROC_EINVAL;
        v = v * 10 + (*p++ - '0');
    }
    if (*p != '/')
        return MPROC_EINVAL;
    *running = (int)v;
    return 0;
}

static int read_loadavg_running(void)
{
    char buf[128];
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n;
    do
        n = read(fd, buf, sizeof buf - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    int running;
    return mproc__spin_parse_loadavg(buf, &running) == 0 ? running : 0;
}

static _Atomic uint64_t load_at; /* 0: never sampled */
static _Atomic int load_running, load_online;

static __thread struct {
    uint64_t at; /* 0: never sampled */
    int allowed;
} aff __attribute__((tls_model("initial-exec")));

static bool spin_pointless_at(int peer_cpu, uint64_t now)
{
    if (aff.at == 0 || now - aff.at >= MPROC__SPIN_SAMPLE_NS) {
        cpu_set_t set;
        /* EINVAL on a host with more CPUs than cpu_set_t holds: that many
         * CPUs are certainly not one ("unknown" is right). */
        aff.allowed = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 0;
        aff.at = now;
    }
    uint64_t at = atomic_load_explicit(&load_at, memory_order_relaxed);
    if ((at == 0 || now - at >= MPROC__SPIN_SAMPLE_NS) &&
        atomic_compare_exchange_strong_explicit(&load_at, &at, now, memory_order_relaxed,
                                                memory_order_relaxed)) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        atomic_store_explicit(&load_online, online > 0 && online < INT32_MAX ? (int)online : 0,
                              memory_order_relaxed);
        atomic_store_explicit(&load_running, read_loadavg_running(), memory_order_relaxed);
    }
    int mine = peer_cpu >= 0 ? mproc__spin_cpu_now() : -1;
    return mproc__spin_skip_rule(
        aff.allowed, atomic_load_explicit(&load_running, memory_order_relaxed),
        atomic_load_explicit(&load_online, memory_order_relaxed), mine, peer_cpu);
}

MPROC__TEST_API int mproc__spin_cpu_now(void)
{
    int cpu = mproc__spin_cpu();
    return cpu >= 0 ? cpu : sched_getcpu();
}

MPROC__TEST_API void mproc__spin_bump(_Atomic uint32_t *word)
{
    uint32_t cpu = mproc__spin_hint();
    if (cpu > MPROC__SPIN_BUMP_MASK)
        cpu = 0;
    uint32_t v = atomic_load_explicit(word, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        word, &v, ((v + MPROC__SPIN_BUMP_MASK + 1) & ~MPROC__SPIN_BUMP_MASK) | cpu,
        memory_order_seq_cst, memory_order_relaxed))
        ;
}

MPROC__TEST_API bool mproc__spin_pointless(int peer_cpu)
{
    return spin_pointless_at(peer_cpu, mproc__now_ns());
}

MPROC__TEST_API void mproc__spin_forget(void)
{
    aff.at = 0;
    atomic_store_explicit(&load_at, 0, memory_order_relaxed);
    atomic_store_explicit(&load_running, 0, memory_order_relaxed);
    atomic_store_explicit(&load_online, 0, memory_order_relaxed);
}

/* Adaptation ---------------------------------------------------------------- */

MPROC__TEST_API uint32_t mproc__spin_budget_at(struct mproc__spin_site *site, uint64_t now)
{
    uint32_t peak = atomic_load_explicit(&site->peak_ns, memory_order_relaxed);
    if (peak == 0)
        return MPROC__SPIN_INIT_NS;
    uint64_t at = atomic_load_explicit(&site->peak_at, memory_order_relaxed);
    uint64_t halvings = now > at ? (now - at) / MPROC__SPIN_DECAY_NS : 0;
    uint32_t b = halvings >= 32 ? 0 : peak >> halvings;
    return b < MPROC__SPIN_FLOOR_NS ? MPROC__SPIN_FLOOR_NS : b;
}

MPROC__TEST_API uint32_t mproc__spin_budget(struct mproc__spin_site *site)
{
    return mproc__spin_budget_at(site, mproc__now_ns());
}

/* The budget holds the longest recent ask and halves for every DECAY that
 * passes without one as long (a max with a half-life): a wait that outlasts
 * the budget costs a sleep and a wake-up, tens of microseconds on a VM,
 * while a budget larger than needed costs CPU only when a wait outlasts
 * what spinning can cover. A wait that a spin could have covered asks for
 * twice what it took (room for the next one to be a little longer); a wait
 * longer than the ceiling halves the budget at once: spinning did not pay. */
MPROC__TEST_API void mproc__spin_feed_at(struct mproc__spin_site *site, bool ok, uint32_t took_ns,
                                         uint64_t now)
{
    uint32_t cur = mproc__spin_budget_at(site, now);
    uint64_t target;
    if (ok) {
        target = 2ull * took_ns;
        if (target < MPROC__SPIN_FLOOR_NS)
            target = MPROC__SPIN_FLOOR_NS;
        if (target > MPROC__SPIN_CEIL_NS)
            target = MPROC__SPIN_CEIL_NS;
        if (target < cur && atomic_load_explicit(&site->peak_ns, memory_order_relaxed) != 0)
            return; /* shorter than what the budget holds: time lowers it */
    } else {
        target = cur / 2 < MPROC__SPIN_FLOOR_NS ? MPROC__SPIN_FLOOR_NS : cur / 2;
    }
    atomic_store_explicit(&site->peak_at, now, memory_order_relaxed);
    atomic_store_explicit(&site->peak_ns, (uint32_t)target, memory_order_relaxed);
}

MPROC__TEST_API void mproc__spin_feed(struct mproc__spin_site *site, bool ok, uint32_t took_ns)
{
    mproc__spin_feed_at(site, ok, took_ns, mproc__now_ns());
}

/* The episode a caller left by simply not calling again (a success). */
static __thread struct {
    struct mproc__spin_site *site;
    uint32_t spent_ns;
} pending __attribute__((tls_model("initial-exec")));

static void pending_flush(uint64_t now)
{
    if (pending.site) {
        mproc__spin_feed_at(pending.site, true, pending.spent_ns, now);
        pending.site = NULL;
    }
}

/* Episodes ------------------------------------------------------------------- */

MPROC__TEST_API void mproc__spin_begin(struct mproc__spin *s, struct mproc__spin_site *site,
                                       int peer_cpu, const struct mproc__deadline *d)
{
    uint64_t now = mproc__now_ns();
    pending_flush(now);
    s->site = site;
    s->t0 = now;
    s->spent_ns = 0;
    s->pauses = 0;
    s->begun = true;
    s->adapt = false;
    s->asleep = false;
    s->limit_ns = 0;
    s->yield_pays = false;
    int32_t fixed = spin_env();
    if (fixed == 0)
        return;
    if (spin_pointless_at(peer_cpu, now)) {
        int online = atomic_load_explicit(&load_online, memory_order_relaxed);
        int running = atomic_load_explicit(&load_running, memory_order_relaxed);
        bool crowded = online == 1 || (online > 0 && running > online);
        s->yield_pays = crowded || peer_cpu >= 0;
        return;
    }
    uint64_t limit = fixed > 0 ? (uint64_t)fixed : mproc__spin_budget_at(site, now);
    if (d && !d->forever) {
        /* a timed wait must not spin past its deadline */
        uint64_t end = (uint64_t)d->abs.tv_sec * 1000000000ull + (uint64_t)d->abs.tv_nsec;
        if (end <= now)
            return;
        if (end - now < limit)
            limit = end - now;
    }
    s->limit_ns = (uint32_t)limit;
    if (fixed > 0)
        return; /* a fixed budget: nothing to learn */
    s->adapt = true;
    pending.site = site;
    pending.spent_ns = 0;
}

MPROC__TEST_API bool mproc__spin_clock(struct mproc__spin *s)
{
    s->pauses = 0;
    uint64_t spent = mproc__now_ns() - s->t0;
    s->spent_ns = spent > UINT32_MAX ? UINT32_MAX : (uint32_t)spent;
    if (spent < s->limit_ns) {
        if (s->adapt && pending.site == s->site)
            pending.spent_ns = s->spent_ns;
        return true;
    }
    /* out of budget: the waiter sleeps; mproc__spin_woken will say how long
     * the whole wait took */
    s->begun = false;
    s->limit_ns = 0;
    if (s->adapt) {
        s->asleep = true;
        if (pending.site == s->site)
            pending.site = NULL;
    }
    return false;
}

MPROC__TEST_API void mproc__spin_end(struct mproc__spin *s, bool ok)
{
    if (!s->begun)
        return;
    s->begun = false;
    s->limit_ns = 0; /* mproc__spin_more says false from now on */
    if (s->adapt) {
        if (pending.site == s->site)
            pending.site = NULL;
        if (ok) {
            uint64_t now = mproc__now_ns(), took = now - s->t0;
            mproc__spin_feed_at(s->site, true, took > UINT32_MAX ? UINT32_MAX : (uint32_t)took,
                                now);
        }
    }
}

MPROC__TEST_API void mproc__spin_woken(struct mproc__spin *s)
{
    if (!s->asleep)
        return;
    s->asleep = false;
    uint64_t now = mproc__now_ns(), took = now - s->t0;
    mproc__spin_feed_at(s->site, took <= MPROC__SPIN_CEIL_NS, (uint32_t)took, now);
}
