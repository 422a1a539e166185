/* test_queue_crash.c - processes SIGKILLed inside put and get never wedge a
 * queue: survivors go on, at most the one message a victim was handling is
 * lost, nothing is duplicated, and every loss is counted.
 *
 * Every message carries (tag, id). Victims arm a kill point with
 * mproc_fault_arm("<point>:N") and die the Nth time they reach it. The test
 * process is the surviving consumer; it then checks the received set
 * exactly. MPROC_STRESS (default 10) sets the number of kills per stage.
 */
#include "harness.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SURV_N 3000 /* messages of the surviving producer */
#define MAX_TAGS 64
#define MAX_IDS 4096

static int stress(void)
{
    const char *s = getenv("MPROC_STRESS");
    int n = s ? atoi(s) : 10;
    return n > 0 ? n : 10;
}

struct msg {
    uint32_t tag, id, check;
    char pad[20];
};

static uint32_t check_of(uint32_t tag, uint32_t id)
{
    return (tag * 2654435761u) ^ (id * 40503u) ^ 0x5a5a5a5au;
}

static int put_ids(mproc_queue *q, uint32_t tag, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        struct msg m = {tag, i, check_of(tag, i), {0}};
        size_t len = 12 + (i % 20);
        if (mproc_queue_put(q, &m, len, 20000) != 0)
            return 1;
    }
    return 0;
}

struct victim {
    mproc_queue *q;
    const char *point;
    int nth;
    uint32_t tag;
    int fd; /* getters append what they received */
};

static int victim_putter(void *arg)
{
    struct victim *v = arg;
    char spec[96];
    snprintf(spec, sizeof spec, "%s:%d", v->point, v->nth);
    mproc_fault_arm(spec);
    int rc = put_ids(v->q, v->tag, (uint32_t)v->nth + 10);
    mproc_queue_close(v->q);
    return rc;
}

static int victim_getter(void *arg)
{
    struct victim *v = arg;
    char spec[96];
    snprintf(spec, sizeof spec, "%s:%d", v->point, v->nth);
    mproc_fault_arm(spec);
    struct msg m;
    for (;;) {
        ssize_t r;
        const void *view = NULL;
        /* alternate copying and zero-copy gets */
        if (rand() & 1) {
            r = mproc_queue_get(v->q, &m, sizeof m, 20000);
        } else {
            r = mproc_queue_get_view(v->q, &view, 20000);
            if (r >= 12)
                memcpy(&m, view, 12);
        }
        if (r == MPROC_ECLOSED)
            break;
        if (r < 12)
            return 2;
        if (view && mproc_queue_release_view(v->q) != 0)
            return 4;
        uint32_t rec[2] = {m.tag, m.id};
        if (m.check != check_of(m.tag, m.id) || write(v->fd, rec, sizeof rec) != sizeof rec)
            return 3;
    }
    mproc_queue_close(v->q);
    return 0;
}

static int surviving_producer(void *arg)
{
    struct victim *v = arg;
    int rc = put_ids(v->q, 0, SURV_N);
    mproc_queue_close(v->q);
    return rc;
}

struct ledger {
    unsigned char seen[MAX_TAGS][MAX_IDS];
    uint32_t attempted[MAX_TAGS]; /* ids 0..attempted-1 were offered to put */
    int dups;
    int bad;
};

static void record(struct ledger *l, uint32_t tag, uint32_t id)
{
    if (tag >= MAX_TAGS || id >= MAX_IDS || id >= l->attempted[tag]) {
        l->bad++;
        return;
    }
    if (l->seen[tag][id]++)
        l->dups++;
}

static bool all_reaped(pid_t *pids, int *status, int n)
{
    bool all = true;
    for (int i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        pid_t r = waitpid(pids[i], &status[i], WNOHANG);
        if (r == pids[i])
            pids[i] = 0;
        else
            all = false;
    }
    return all;
}

/* Consume in the test process until the first nprod children (the
 * producers) have exited, then shut the queue down and drain it; victim
 * getters leave at MPROC_ECLOSED. */
static void consume_all(mproc_queue *q, struct ledger *l, pid_t *pids, int *status, int n,
                        int nprod)
{
    struct msg m;
    bool done = false;
    for (;;) {
        ssize_t r = mproc_queue_get(q, &m, sizeof m, 20);
        if (r >= 12) {
            cr_assert_eq(m.check, check_of(m.tag, m.id), "corrupted message %u/%u", m.tag, m.id);
            record(l, m.tag, m.id);
            continue;
        }
        if (r == MPROC_ECLOSED)
            break;
        cr_assert(r == MPROC_ETIMEDOUT, "get: %s", mproc_err_name((int)r));
        if (!done && all_reaped(pids, status, nprod)) {
            done = true;
            MPROC_ASSERT_OK(mproc_queue_shutdown(q));
        }
    }
    while (!all_reaped(pids, status, n))
        mproc_test_sleep_ms(5);
}

static void read_victim_file(int fd, struct ledger *l)
{
    uint32_t rec[2];
    lseek(fd, 0, SEEK_SET);
    while (read(fd, rec, sizeof rec) == sizeof rec)
        record(l, rec[0], rec[1]);
}

static int tmpfile_fd(void)
{
    char path[64];
    snprintf(path, sizeof path, "/tmp/mproc-test-crash-%d", getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
    unlink(path);
    cr_assert(fd >= 0);
    return fd;
}

/* Count what is missing and check nothing is missing where it may not be. */
static uint64_t missing(struct ledger *l, int ntags)
{
    uint64_t miss = 0;
    for (int t = 0; t < ntags; t++)
        for (uint32_t i = 0; i < l->attempted[t]; i++)
            if (!l->seen[t][i])
                miss++;
    return miss;
}

/* One run: a surviving producer, `nvict` victims at `point` (putters or
 * getters), the test process consuming. Returns kills. */
static int run(const char *point, bool put_side, int nvict, unsigned seed, size_t cap)
{
    static struct ledger l;
    memset(&l, 0, sizeof l);
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = cap};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    int fd = tmpfile_fd();
    pid_t pids[MAX_TAGS];
    int status[MAX_TAGS] = {0};
    struct victim v[MAX_TAGS];
    srand(seed);
    l.attempted[0] = SURV_N;
    v[0] = (struct victim){q, NULL, 0, 0, fd};
    pids[0] = mproc_test_fork(surviving_producer, &v[0]);
    for (int i = 1; i <= nvict; i++) {
        v[i] = (struct victim){q, point, 1 + rand() % 40, (uint32_t)i, fd};
        l.attempted[i] = put_side ? (uint32_t)v[i].nth + 10 : 0;
        pids[i] = mproc_test_fork(put_side ? victim_putter : victim_getter, &v[i]);
    }
    consume_all(q, &l, pids, status, nvict + 1, put_side ? nvict + 1 : 1);
    read_victim_file(fd, &l);
    close(fd);

    cr_assert(WIFEXITED(status[0]) && WEXITSTATUS(status[0]) == 0,
              "surviving producer status 0x%x (seed %u)", status[0], seed);
    int kills = 0;
    for (int i = 1; i <= nvict; i++) {
        if (WIFSIGNALED(status[i]) && WTERMSIG(status[i]) == SIGKILL) {
            kills++;
            if (put_side) /* died inside its nth put: ids from nth on were never offered */
                l.attempted[i] = (uint32_t)v[i].nth;
        } else {
            cr_assert(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0,
                      "victim %d status 0x%x (seed %u)", i, status[i], seed);
        }
    }
    cr_assert_eq(l.dups, 0, "%d duplicates at %s (seed %u)", l.dups, point, seed);
    cr_assert_eq(l.bad, 0, "%d messages never put at %s (seed %u)", l.bad, point, seed);
    uint64_t miss = missing(&l, nvict + 1);
    struct mproc_queue_stats st;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
    cr_assert(miss <= (uint64_t)kills, "%llu missing > %d kills at %s (seed %u)",
              (unsigned long long)miss, kills, point, seed);
    cr_assert_eq(st.lost, miss, "lost counter %llu != %llu missing at %s (seed %u)",
                 (unsigned long long)st.lost, (unsigned long long)miss, point, seed);
    if (put_side) /* a put killed before publishing always loses its message */
        cr_assert_eq(miss, (uint64_t)kills, "at %s (seed %u)", point, seed);
    cr_assert_eq(st.msgs, 0);
    MPROC_ASSERT_OK(mproc_queue_close(q));
    return kills;
}

static void stage(const char *point, bool put_side)
{
    int n = stress();
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    int kills = 0;
    /* one victim at a time, then a few at once; small and larger rings */
    for (int i = 0; i < n; i += 2) {
        kills += run(point, put_side, 1, seed + (unsigned)i, 4096);
        kills += run(point, put_side, 3, seed + (unsigned)i + 7919u, i % 4 ? 4096 : 65536);
    }
    cr_assert(kills >= n / 2, "only %d kills at %s", kills, point);
}

MPROC_TEST(queue_crash, put_killed_after_reserving_space)
{
    stage("queue.put.reserved", true);
}

MPROC_TEST(queue_crash, put_killed_mid_copy)
{
    stage("queue.put.copying", true);
}

MPROC_TEST(queue_crash, put_killed_before_publish)
{
    stage("queue.put.before_publish", true);
}

MPROC_TEST(queue_crash, get_killed_after_claiming)
{
    stage("queue.get.claimed", false);
}

MPROC_TEST(queue_crash, get_killed_mid_copy)
{
    stage("queue.get.copying", false);
}

MPROC_TEST(queue_crash, get_killed_before_release)
{
    stage("queue.get.before_release", false);
}

static const char *const points[] = {
    "queue.put.reserved", "queue.put.copying", "queue.put.before_publish",
    "queue.get.claimed",  "queue.get.copying", "queue.get.before_release",
};

MPROC_TEST(queue_crash, mixed_kills_on_one_full_queue_lose_only_the_victims_messages)
{
    int rounds = stress() / 5 + 1;
    for (int round = 0; round < rounds; round++) {
        static struct ledger l;
        memset(&l, 0, sizeof l);
        unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid() ^ (unsigned)round * 7919u;
        srand(seed);
        mproc_queue *q;
        /* a small ring: producers block on full, so they repair dead getters */
        struct mproc_queue_opts o = {.capacity = 4096};
        MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
        int fd = tmpfile_fd();
        enum { NV = 8 };
        pid_t pids[NV + 1];
        int status[NV + 1] = {0};
        struct victim v[NV + 1];
        bool put_side[NV + 1];
        l.attempted[0] = SURV_N;
        v[0] = (struct victim){q, NULL, 0, 0, fd};
        /* producers first (the first nprod pids), then getters */
        int nprod = 1;
        for (int i = 1; i <= NV; i++)
            put_side[i] = i <= NV / 2;
        pids[0] = mproc_test_fork(surviving_producer, &v[0]);
        for (int i = 1; i <= NV; i++) {
            const char *pt = points[(put_side[i] ? 0 : 3) + rand() % 3];
            v[i] = (struct victim){q, pt, 1 + rand() % 60, (uint32_t)i, fd};
            l.attempted[i] = put_side[i] ? (uint32_t)v[i].nth + 10 : 0;
            pids[i] = mproc_test_fork(put_side[i] ? victim_putter : victim_getter, &v[i]);
            if (put_side[i])
                nprod++;
        }
        consume_all(q, &l, pids, status, NV + 1, nprod);
        read_victim_file(fd, &l);
        close(fd);
        int kills = 0;
        for (int i = 1; i <= NV; i++) {
            if (WIFSIGNALED(status[i]) && WTERMSIG(status[i]) == SIGKILL) {
                kills++;
                if (put_side[i])
                    l.attempted[i] = (uint32_t)v[i].nth;
            } else {
                cr_assert(WIFEXITED(status[i]) && WEXITSTATUS(status[i]) == 0,
                          "victim %d status 0x%x (seed %u)", i, status[i], seed);
            }
        }
        cr_assert(WIFEXITED(status[0]) && WEXITSTATUS(status[0]) == 0);
        cr_assert_eq(l.dups, 0, "duplicates (seed %u)", seed);
        cr_assert_eq(l.bad, 0, "messages never put (seed %u)", seed);
        uint64_t miss = missing(&l, NV + 1);
        struct mproc_queue_stats st;
        MPROC_ASSERT_OK(mproc_queue_stats(q, &st));
        cr_assert(miss <= (uint64_t)kills, "%llu missing > %d kills (seed %u)",
                  (unsigned long long)miss, kills, seed);
        cr_assert_eq(st.lost, miss, "lost %llu != missing %llu (seed %u)",
                     (unsigned long long)st.lost, (unsigned long long)miss, seed);
        cr_assert_eq(st.participants, 1, "dead records not reclaimed (seed %u)", seed);
        MPROC_ASSERT_OK(mproc_queue_close(q));
    }
}

static int hold_reservation_and_die(void *arg)
{
    mproc_queue *q = arg;
    void *w;
    if (mproc_queue_reserve(q, 300, &w, 1000) != 0)
        return 1;
    memset(w, 'r', 300);
    raise(SIGKILL);
    return 2;
}

static int hold_view_and_die(void *arg)
{
    mproc_queue *q = arg;
    const void *v;
    if (mproc_queue_get_view(q, &v, 1000) != 5)
        return 1;
    raise(SIGKILL);
    return 2;
}

MPROC_TEST(queue_crash, dead_holder_of_a_reservation_or_view_loses_only_that_message)
{
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = 4096};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    MPROC_ASSERT_OK(mproc_queue_put(q, "first", 5, 0));
    int st = mproc_test_wait(mproc_test_fork(hold_view_and_die, q), 5000);
    cr_assert(WIFSIGNALED(st));
    st = mproc_test_wait(mproc_test_fork(hold_reservation_and_die, q), 5000);
    cr_assert(WIFSIGNALED(st));
    MPROC_ASSERT_OK(mproc_queue_put(q, "after", 5, 0));
    char b[8];
    /* the dead reservation is skipped once it is found orphaned */
    cr_assert_eq(mproc_queue_get(q, b, sizeof b, 5000), 5);
    cr_assert(memcmp(b, "after", 5) == 0);
    /* the ring is reused past the dead viewer's message */
    int n = 0;
    while (n < 200 && mproc_queue_put(q, "fill", 4, 1000) == 0) {
        cr_assert_eq(mproc_queue_get(q, b, sizeof b, 1000), 4);
        n++;
    }
    cr_assert_eq(n, 200);
    struct mproc_queue_stats s;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &s));
    cr_assert_eq(s.lost, 2);
    cr_assert_eq(s.msgs, 0);
    cr_assert_eq(s.participants, 1);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int put_one_and_exit(void *arg)
{
    /* exits without closing: its record is left for the survivors to reclaim */
    return mproc_queue_put(arg, "p", 1, 1000) == 0 ? 0 : 1;
}

MPROC_TEST(queue_crash, records_of_dead_processes_are_reclaimed)
{
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    char b[4];
    for (int i = 0; i < 300; i++) { /* more processes than participant records */
        int st = mproc_test_wait(mproc_test_fork(put_one_and_exit, q), 5000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d status 0x%x", i, st);
        cr_assert_eq(mproc_queue_get(q, b, sizeof b, 0), 1);
    }
    struct mproc_queue_stats s;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &s));
    cr_assert_eq(s.participants, 1);
    cr_assert_eq(s.puts, 300);
    cr_assert_eq(s.gets, 300);
    cr_assert_eq(s.lost, 0);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int put_and_die_mid_put(void *arg)
{
    mproc_fault_arm("queue.put.before_publish:2");
    mproc_queue_put(arg, "one", 3, 1000);
    mproc_queue_put(arg, "two", 3, 1000); /* dies here */
    return 1;
}

MPROC_TEST(queue_crash, polling_getter_gets_past_a_dead_putters_slot)
{
    /* one lane: "three" lands behind the dead putter's slot */
    mproc_queue *q;
    struct mproc_queue_opts o = {.lanes = 1};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    int st = mproc_test_wait(mproc_test_fork(put_and_die_mid_put, q), 5000);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    MPROC_ASSERT_OK(mproc_queue_put(q, "three", 5, 0));
    char b[8];
    ssize_t r;
    cr_assert_eq(mproc_queue_get(q, b, sizeof b, 0), 3);
    /* try-once gets only, as a polling loop would do */
    int polls = 0;
    while ((r = mproc_queue_get(q, b, sizeof b, 0)) == MPROC_EAGAIN && polls < 1000000) {
        polls++;
        if (polls % 1000 == 0)
            mproc_test_sleep_ms(1);
    }
    cr_assert_eq(r, 5, "got %zd after %d polls", r, polls);
    cr_assert(memcmp(b, "three", 5) == 0);
    struct mproc_queue_stats s;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &s));
    cr_assert_eq(s.lost, 1);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int fill_then_die_reading(void *arg)
{
    const void *v;
    mproc_queue_get_view(arg, &v, 1000);
    raise(SIGKILL); /* holds the oldest message forever */
    return 1;
}

MPROC_TEST(queue_crash, polling_putter_gets_past_a_dead_getters_claim)
{
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = 4096};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    int n = 0;
    while (mproc_queue_put(q, "x", 1, 0) == 0)
        n++;
    int st = mproc_test_wait(mproc_test_fork(fill_then_die_reading, q), 5000);
    cr_assert(WIFSIGNALED(st));
    char b[4];
    /* the second message is taken, but its unit comes back only once the
     * dead reader's (older) one is repaired */
    cr_assert_eq(mproc_queue_get(q, b, sizeof b, 0), 1);
    int polls = 0, rc;
    while ((rc = mproc_queue_put(q, "z", 1, 0)) == MPROC_EAGAIN && polls < 1000000) {
        polls++;
        if (polls % 1000 == 0)
            mproc_test_sleep_ms(1);
    }
    MPROC_ASSERT_OK(rc);
    struct mproc_queue_stats s;
    MPROC_ASSERT_OK(mproc_queue_stats(q, &s));
    cr_assert_eq(s.lost, 1);
    cr_assert_eq(s.msgs, (uint64_t)n - 1);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

/* A sleeper SIGKILLed while asleep stops counting in waiting_getters /
 * waiting_putters (it used to be counted forever). */
static int get_forever(void *arg)
{
    char b[8];
    return mproc_queue_get(arg, b, sizeof b, MPROC_FOREVER) >= 0 ? 0 : 1;
}

static int put_forever(void *arg)
{
    return mproc_queue_put(arg, "x", 1, MPROC_FOREVER) == 0 ? 0 : 1;
}

static void wait_for_waiters(mproc_queue *q, uint32_t getters, uint32_t putters)
{
    struct mproc_queue_stats s;
    for (int i = 0; i < 5000; i++) {
        MPROC_ASSERT_OK(mproc_queue_stats(q, &s));
        if (s.waiting_getters == getters && s.waiting_putters == putters)
            return;
        mproc_test_sleep_ms(1);
    }
    cr_assert_fail("waiting %u/%u, expected %u/%u", s.waiting_getters, s.waiting_putters, getters,
                   putters);
}

MPROC_TEST(queue_crash, sleepers_killed_asleep_stop_counting_as_waiting)
{
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = 4096};
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, &o));
    pid_t g = mproc_test_fork(get_forever, q);
    wait_for_waiters(q, 1, 0);
    kill(g, SIGKILL);
    cr_assert(WIFSIGNALED(mproc_test_wait(g, 5000)));
    wait_for_waiters(q, 0, 0);

    while (mproc_queue_put(q, "fill", 4, 0) == 0)
        ;
    pid_t p = mproc_test_fork(put_forever, q);
    wait_for_waiters(q, 0, 1);
    kill(p, SIGKILL);
    cr_assert(WIFSIGNALED(mproc_test_wait(p, 5000)));
    wait_for_waiters(q, 0, 0);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

/* A program may hold two copies of the library (a static core and a shared
 * one loaded by another library). A child forked by such a program must get
 * its own record in either copy: before, the copy that had not created the
 * handle never noticed the fork, so the child wrote its intent into the
 * parent's record, and its death mid-put wedged the queue (the parent's
 * live record covered the orphaned position). The second copy here is
 * libmproc.so copied to a private file and dlopen'ed. */
struct copy_api {
    int (*put)(mproc_queue *, const void *, size_t, int);
    int (*reserve)(mproc_queue *, size_t, void **, int);
    void *dl;
};

static mproc_queue *copy_q;

static int copy_reserve_and_die(void *arg)
{
    struct copy_api *b = arg;
    void *w;
    if (b->reserve(copy_q, 8, &w, 1000) != 0)
        return 1;
    memset(w, 'c', 8);
    raise(SIGKILL);
    return 2;
}

static void load_second_copy(struct copy_api *b)
{
    Dl_info info;
    cr_assert(dladdr((void *)mproc_queue_create, &info) != 0 && info.dli_fname != NULL);
    char path[] = "/tmp/mproc-test-copy-XXXXXX";
    int out = mkstemp(path);
    cr_assert(out >= 0);
    int in = open(info.dli_fname, O_RDONLY | O_CLOEXEC);
    cr_assert(in >= 0, "open %s", info.dli_fname);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        cr_assert_eq(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
    b->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    unlink(path);
    cr_assert(b->dl != NULL, "dlopen: %s", dlerror());
    *(void **)&b->put = dlsym(b->dl, "mproc_queue_put");
    *(void **)&b->reserve = dlsym(b->dl, "mproc_queue_reserve");
    cr_assert(b->put != NULL && b->reserve != NULL);
    cr_assert((void *)b->put != (void *)mproc_queue_put, "not a second copy");
}

MPROC_TEST(queue_crash, child_of_a_program_with_two_library_copies_gets_its_own_record)
{
    struct copy_api b;
    load_second_copy(&b);
    struct mproc_queue_opts o = {.capacity = 4096};
    MPROC_ASSERT_OK(mproc_queue_create(&copy_q, NULL, &o));
    /* the parent uses the handle through both copies: one record */
    cr_assert_eq(b.put(copy_q, "b", 1, 0), 0);
    char m[8];
    cr_assert_eq(mproc_queue_get(copy_q, m, sizeof m, 0), 1);
    int st = mproc_test_wait(mproc_test_fork(copy_reserve_and_die, &b), 5000);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "child status 0x%x", st);
    MPROC_ASSERT_OK(mproc_queue_put(copy_q, "after", 5, 0));
    cr_assert_eq(mproc_queue_get(copy_q, m, sizeof m, 3000), 5, "queue wedged");
    cr_assert(memcmp(m, "after", 5) == 0);
    struct mproc_queue_stats s;
    MPROC_ASSERT_OK(mproc_queue_stats(copy_q, &s));
    cr_assert_eq(s.lost, 1);
    MPROC_ASSERT_OK(mproc_queue_close(copy_q));
    dlclose(b.dl);
}
