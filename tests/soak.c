/* soak.c - `soak SECONDS`: producers, consumers, lock users and pool
 * workers SIGKILLed and restarted at random for SECONDS, then exact
 * accounting. Not a CTest test; `make soak` runs it (SOAK_SECONDS=180).
 *
 * Roles (each a child started with mproc_process_start, killed with
 * mproc_process_kill and restarted as a new incarnation):
 *  - producers put (tag, seq, check) messages into one anonymous queue. A
 *    producer incarnation has its own tag; before put it stores
 *    offered[tag] = seq + 1, after put returns done[tag] = seq + 1.
 *  - consumers take messages with get_view, count them in seen[tag][seq]
 *    (atomically), then release the view.
 *  - lock users increment a pair (a, b) under one lock: a first, then b.
 *    Whoever gets MPROC_EOWNERDEAD finds a == b or a == b + 1, repairs
 *    b = a and declares the lock consistent.
 *  - a pool driver runs map after map (RETRY_TASK) and checks every result;
 *    it publishes its workers' pids, which the killer shoots at too.
 * At the end producers stop, consumers drain, and:
 *  - no message seen twice, none corrupted, none seen that was not offered;
 *  - every message whose put returned is seen, unless its loss is counted
 *    (queue lost counter) or a consumer died holding it;
 *  - lost <= kills of producers and consumers; a == b; a - completed
 *    increments <= lock-user kills; every pool map right, or failed with
 *    MPROC_EWORKERDIED only.
 * Prints one summary line per role and exits 0 only if all of this holds.
 */
#include <mproc.h>

#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PRODUCERS 2
#define CONSUMERS 2
#define LOCKERS 2
#define MAX_TAGS 4096
#define MAX_SEQ 4096
#define POOL_WORKERS 2
#define ROLES (PRODUCERS + CONSUMERS + LOCKERS + 1)

struct msg {
    uint32_t tag, seq, check;
};

struct shared {
    mproc_queue *q;
    mproc_lock lock;
    long a, b;
    atomic_long lock_completed, lock_repairs;
    atomic_int stop_producing, drain_done;
    atomic_uint next_tag;
    _Atomic uint32_t offered[MAX_TAGS], done[MAX_TAGS];
    atomic_long consumed, bad, pool_maps, pool_bad, pool_failed;
    _Atomic pid_t pool_pids[POOL_WORKERS];
    /* one byte per message: seen count */
    _Atomic unsigned char seen[MAX_TAGS][MAX_SEQ / 64][64];
};

static struct shared *S;

static uint32_t check_of(uint32_t tag, uint32_t seq)
{
    return (tag * 2654435761u) ^ (seq * 40503u) ^ 0x0badf00du;
}

static int producer(void *arg)
{
    (void)arg;
    while (!atomic_load(&S->stop_producing)) {
        uint32_t tag = atomic_fetch_add(&S->next_tag, 1);
        if (tag >= MAX_TAGS) {
            while (!atomic_load(&S->stop_producing))
                usleep(10000); /* out of tags: idle */
            return 0;
        }
        uint32_t seq = 0;
        while (seq < MAX_SEQ && !atomic_load(&S->stop_producing)) {
            struct msg m = {tag, seq, check_of(tag, seq)};
            atomic_store(&S->offered[tag], seq + 1);
            int rc = mproc_queue_put(S->q, &m, sizeof m, 200);
            if (rc == MPROC_ETIMEDOUT) {
                atomic_store(&S->offered[tag], seq); /* not in the queue: offer again */
                continue;
            }
            if (rc != 0)
                return 10;
            atomic_store(&S->done[tag], ++seq);
            if (seq % 32 == 0)
                usleep(500); /* keep the ledger (one byte per message) small */
        }
    }
    return 0;
}

static int consumer(void *arg)
{
    (void)arg;
    for (;;) {
        const void *v;
        ssize_t n = mproc_queue_get_view(S->q, &v, 100);
        if (n == MPROC_ETIMEDOUT)
            continue;
        if (n == MPROC_ECLOSED)
            return 0;
        if (n < 0)
            return 10;
        struct msg m;
        if (n != (ssize_t)sizeof m) {
            atomic_fetch_add(&S->bad, 1);
        } else {
            memcpy(&m, v, sizeof m);
            if (m.tag >= MAX_TAGS || m.seq >= MAX_SEQ || m.check != check_of(m.tag, m.seq))
                atomic_fetch_add(&S->bad, 1);
            else
                atomic_fetch_add(&S->seen[m.tag][m.seq / 64][m.seq % 64], 1);
        }
        atomic_fetch_add(&S->consumed, 1);
        if (mproc_queue_release_view(S->q) != 0)
            return 11;
    }
}

static int locker(void *arg)
{
    (void)arg;
    for (;;) {
        int rc = mproc_lock_acquire(&S->lock, 1000);
        if (rc == MPROC_ETIMEDOUT)
            continue;
        if (rc == MPROC_EOWNERDEAD) {
            if (S->a != S->b && S->a != S->b + 1)
                return 12;
            S->b = S->a;
            atomic_fetch_add(&S->lock_repairs, 1);
            mproc_lock_consistent(&S->lock);
        } else if (rc != 0) {
            return 10;
        }
        if (S->a != S->b)
            return 13;
        S->a++;
        S->b++;
        mproc_lock_release(&S->lock);
        atomic_fetch_add(&S->lock_completed, 1);
    }
}

static int pool_task(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)ctx;
    uint64_t v;
    if (in_len != sizeof v)
        return MPROC_EINVAL;
    memcpy(&v, in, sizeof v);
    for (int i = 0; i < 2000; i++) /* a little work, so kills land mid-task */
        v = v * 6364136223846793005ull + 1442695040888963407ull;
    memcpy(out, &v, sizeof v);
    *out_len = sizeof v;
    return 0;
}

static int pool_driver(void *arg)
{
    (void)arg;
    struct mproc_pool_opts o = {
        .workers = POOL_WORKERS, .on_death = MPROC_POOL_RETRY_TASK, .max_retries = 10};
    mproc_pool *pool;
    if (mproc_pool_create(&pool, &o) != 0)
        return 10;
    enum { N = 64 };
    uint64_t in[N], out[N], want[N];
    for (;;) {
        pid_t pids[POOL_WORKERS] = {0};
        mproc_pool_worker_pids(pool, pids, POOL_WORKERS);
        for (int i = 0; i < POOL_WORKERS; i++)
            atomic_store(&S->pool_pids[i], pids[i]);
        for (int i = 0; i < N; i++) {
            in[i] = (uint64_t)rand();
            size_t l;
            pool_task(&in[i], sizeof in[i], &want[i], &l, NULL);
        }
        int rc =
            mproc_pool_map(pool, pool_task, in, N, sizeof in[0], out, sizeof out[0], NULL, 30000);
        if (rc == MPROC_EWORKERDIED) {
            atomic_fetch_add(&S->pool_failed, 1);
            continue;
        }
        if (rc != 0)
            return 11;
        if (memcmp(out, want, sizeof out) != 0)
            atomic_fetch_add(&S->pool_bad, 1);
        atomic_fetch_add(&S->pool_maps, 1);
    }
}

struct role {
    const char *name;
    mproc_fn fn;
    mproc_process *p;
    long kills, restarts;
};

static int start(struct role *r)
{
    int rc = mproc_process_start(&r->p, r->fn, NULL, NULL);
    if (rc != 0)
        fprintf(stderr, "soak: start %s: %s\n", r->name, mproc_strerror(rc));
    return rc;
}

static int join_quiet(struct role *r, int timeout_ms, struct mproc_exit *ex)
{
    int rc = mproc_process_join(r->p, timeout_ms, ex);
    if (rc == 0) {
        mproc_process_close(r->p);
        r->p = NULL;
    }
    return rc;
}

static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "re");
    if (f == NULL)
        return -1;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    const char *rp = strrchr(buf, ')'); /* the name may hold spaces and parens */
    int ppid;
    if (rp == NULL || sscanf(rp + 1, " %*c %d", &ppid) != 1)
        return -1;
    return ppid;
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 30;
    if (seconds <= 0) {
        fprintf(stderr, "usage: soak SECONDS\n");
        return 2;
    }
    S = mmap(NULL, sizeof *S, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (S == MAP_FAILED)
        return 2;
    struct mproc_queue_opts qo = {.capacity = 16384, .unit_size = 16};
    if (mproc_queue_create(&S->q, NULL, &qo) != 0 || mproc_lock_init(&S->lock) != 0)
        return 2;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
    srand(seed);

    struct role roles[ROLES];
    int n = 0;
    for (int i = 0; i < PRODUCERS; i++)
        roles[n++] = (struct role){"producer", producer, NULL, 0, 0};
    for (int i = 0; i < CONSUMERS; i++)
        roles[n++] = (struct role){"consumer", consumer, NULL, 0, 0};
    for (int i = 0; i < LOCKERS; i++)
        roles[n++] = (struct role){"lock user", locker, NULL, 0, 0};
    roles[n++] = (struct role){"pool driver", pool_driver, NULL, 0, 0};
    for (int i = 0; i < n; i++)
        if (start(&roles[i]) != 0)
            return 2;

    long pool_worker_kills = 0, failures = 0;
    double end = now_s() + seconds;
    while (now_s() < end) {
        usleep(20000 + (useconds_t)(rand() % 80000));
        int pick = rand() % (n + 2);
        if (pick >= n) { /* a pool worker */
            pid_t pid = atomic_load(&S->pool_pids[rand() % POOL_WORKERS]);
            /* Only a live child of the current driver (never a recycled pid
             * of someone else's process). */
            if (pid > 0 && parent_of(pid) == mproc_process_pid(roles[n - 1].p) &&
                kill(pid, SIGKILL) == 0)
                pool_worker_kills++;
            continue;
        }
        struct role *r = &roles[pick];
        if (r->fn == pool_driver && rand() % 8 != 0)
            continue; /* the driver (and its whole pool) dies more rarely */
        mproc_process_kill(r->p);
        struct mproc_exit ex = {0};
        if (join_quiet(r, 5000, &ex) != 0) {
            fprintf(stderr, "soak: %s did not die\n", r->name);
            return 1;
        }
        if (!ex.signaled) {
            fprintf(stderr, "soak: %s had exited with %d before its kill\n", r->name, ex.code);
            failures++;
        }
        r->kills++;
        if (start(r) != 0)
            return 1;
        r->restarts++;
    }

    /* Wind down: producers finish, consumers drain, then shut down. */
    atomic_store(&S->stop_producing, 1);
    for (int i = 0; i < n; i++) {
        struct mproc_exit ex = {0};
        if (roles[i].fn == producer) {
            if (join_quiet(&roles[i], 10000, &ex) != 0 || !ex.exited || ex.code != 0) {
                fprintf(stderr, "soak: producer did not finish cleanly\n");
                failures++;
            }
        } else if (roles[i].fn == locker || roles[i].fn == pool_driver) {
            mproc_process_kill(roles[i].p);
            join_quiet(&roles[i], 5000, &ex);
        }
    }
    /* Let consumers drain what is left (views and all), then close. */
    for (int i = 0; i < 500 && mproc_queue_qsize(S->q) > 0; i++)
        usleep(10000);
    mproc_queue_shutdown(S->q);
    for (int i = 0; i < n; i++) {
        struct mproc_exit ex = {0};
        if (roles[i].fn == consumer &&
            (join_quiet(&roles[i], 10000, &ex) != 0 || !ex.exited || ex.code != 0)) {
            fprintf(stderr, "soak: consumer did not finish cleanly\n");
            failures++;
        }
    }

    struct mproc_queue_stats st;
    mproc_queue_stats(S->q, &st);
    long dups = 0, unoffered = 0, missing_done = 0, missing_inflight = 0, seen_total = 0;
    uint32_t tags = atomic_load(&S->next_tag);
    if (tags > MAX_TAGS)
        tags = MAX_TAGS;
    for (uint32_t t = 0; t < tags; t++) {
        uint32_t offered = atomic_load(&S->offered[t]), done = atomic_load(&S->done[t]);
        for (uint32_t s = 0; s < MAX_SEQ; s++) {
            unsigned c = atomic_load(&S->seen[t][s / 64][s % 64]);
            seen_total += c;
            if (c > 1)
                dups += c - 1;
            if (c && s >= offered)
                unoffered++;
            if (!c && s < done)
                missing_done++;
            if (!c && s >= done && s < offered)
                missing_inflight++;
        }
    }
    long pk = 0, ck = 0, lk = 0, dk = 0;
    for (int i = 0; i < n; i++) {
        if (roles[i].fn == producer)
            pk += roles[i].kills;
        else if (roles[i].fn == consumer)
            ck += roles[i].kills;
        else if (roles[i].fn == locker)
            lk += roles[i].kills;
        else
            dk += roles[i].kills;
    }
    long lock_gap = S->a - atomic_load(&S->lock_completed);
    bool ok = failures == 0 && dups == 0 && unoffered == 0 && atomic_load(&S->bad) == 0 &&
              (long)st.lost <= pk + ck && missing_done <= (long)st.lost + ck &&
              missing_inflight <= pk && S->a == S->b && lock_gap >= 0 && lock_gap <= lk &&
              atomic_load(&S->pool_bad) == 0 && st.msgs == 0;

    printf("soak: %.0f s, srand(%u)%s\n", seconds, seed,
           tags >= MAX_TAGS ? " (producer tags ran out: producers idled at the end)" : "");
    printf("queue:  %u producer incarnations, %ld producer kills, %ld consumer kills; "
           "%ld messages seen, %ld duplicates, %ld corrupt, %ld never offered; "
           "%ld missing of completed puts, %ld of puts in flight at a kill; "
           "lost counter %llu; %u participants at end\n",
           tags, pk, ck, seen_total, dups, atomic_load(&S->bad), unoffered, missing_done,
           missing_inflight, (unsigned long long)st.lost, st.participants);
    printf("lock:   %ld kills, %ld increments completed, a=%ld b=%ld, %ld owner-dead repairs\n", lk,
           atomic_load(&S->lock_completed), S->a, S->b, atomic_load(&S->lock_repairs));
    printf("pool:   %ld worker kills, %ld driver kills, %ld maps right, %ld wrong, "
           "%ld failed with EWORKERDIED\n",
           pool_worker_kills, dk, atomic_load(&S->pool_maps), atomic_load(&S->pool_bad),
           atomic_load(&S->pool_failed));
    printf("soak: %s\n", ok ? "PASS" : "FAIL");
    mproc_queue_close(S->q);
    munmap(S, sizeof *S);
    return ok ? 0 : 1;
}
