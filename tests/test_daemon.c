/* test_daemon.c - what children see when their parent dies. Daemon
 * children die with it: at its normal exit (atexit: SIGKILL and reap, also
 * for freed handles), when it is SIGKILLed (PR_SET_PDEATHSIG), and when it
 * dies right after fork, before the child could arm the signal (the getppid
 * check). Other children live on and see mproc_parent_alive() turn 0.
 *
 * Each test starts an intermediate parent with the spawn method (a fresh
 * process, not a fork of the Criterion worker) and makes itself a child
 * subreaper where orphans must come back to it to be reaped.
 */
#include "process_util.h"

/* An intermediate parent: starts a fork daemon and a spawn daemon, reports
 * their pids through the pipe fd in arg, then waits to be killed. */
static int daemon_parent(const void *arg, size_t len)
{
    int fd;
    if (len != sizeof fd)
        return 20;
    memcpy(&fd, arg, sizeof fd);
    struct mproc_process_opts fo = {.daemon = 1, .name = "d-fork"};
    struct mproc_process_opts so = {
        .daemon = 1, .name = "d-spawn", .start_method = MPROC_START_SPAWN, .entry = "spawn_sleep"};
    mproc_process *a, *b;
    if (mproc_process_start(&a, sleep_forever, NULL, &fo) != 0)
        return 21;
    if (mproc_process_start(&b, NULL, NULL, &so) != 0)
        return 22;
    pid_t pids[2] = {mproc_process_pid(a), mproc_process_pid(b)};
    if (write(fd, pids, sizeof pids) != (ssize_t)sizeof pids)
        return 23;
    return sleep_forever(NULL);
}
MPROC_ENTRY(daemon_parent)

/* Dies (kill point) right after forking a daemon child. */
static int daemon_parent_killed_at_fork(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
#ifdef MPROC_FAULT_INJECTION /* else the test skips: the kill point is not there */
    mproc_fault_arm("process.start.forked");
#endif
    struct mproc_process_opts o = {.daemon = 1};
    mproc_process *d;
    if (mproc_process_start(&d, sleep_forever, NULL, &o) != 0)
        return 21;
    return 22; /* the kill point did not fire */
}
MPROC_ENTRY(daemon_parent_killed_at_fork)

static pid_t exiting_daemon_pids[2];

static void check_daemon_reaped(void)
{
    /* Runs after mproc's own atexit handler (registered later, runs first). */
    for (int i = 0; i < 2; i++) {
        int st;
        pid_t r = waitpid(exiting_daemon_pids[i], &st, WNOHANG);
        if (!(r < 0 && errno == ECHILD))
            _exit(30 + i);
    }
    _exit(0);
}

/* Starts two daemons (frees the handle of one), reports their pids, and
 * exits normally with exit(). */
static int daemon_parent_exits(const void *arg, size_t len)
{
    int fd;
    if (len != sizeof fd)
        return 20;
    memcpy(&fd, arg, sizeof fd);
    atexit(check_daemon_reaped);
    struct mproc_process_opts o = {.daemon = 1};
    mproc_process *d[2];
    for (int i = 0; i < 2; i++) {
        if (mproc_process_start(&d[i], sleep_forever, NULL, &o) != 0)
            return 21;
        exiting_daemon_pids[i] = mproc_process_pid(d[i]);
    }
    mproc_process_close(d[1]);
    if (write(fd, exiting_daemon_pids, sizeof exiting_daemon_pids) !=
        (ssize_t)sizeof exiting_daemon_pids)
        return 23;
    exit(0);
}
MPROC_ENTRY(daemon_parent_exits)

MPROC_TEST(daemon, children_die_when_parent_is_sigkilled)
{
    /* Orphans come back to us, so we can reap them and leave nothing. */
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0); /* inherited by the spawned intermediate */
    mproc_process *mid = start_spawn("daemon_parent", &fds[1], sizeof fds[1]);
    close(fds[1]);
    pid_t pids[2];
    bool got = read_within(fds[0], pids, sizeof pids);
    close(fds[0]);
    if (!got)
        mproc_process_kill(mid);
    cr_assert(got, "the intermediate did not report its daemons");
    MPROC_ASSERT_OK(mproc_process_kill(mid));
    assert_killed_by(join_ok(mid), SIGKILL);
    mproc_process_close(mid);

    for (int i = 0; i < 2; i++) {
        int st = 0;
        pid_t r = 0;
        for (int ms = 0; ms < 1000 && r == 0; ms++) {
            r = waitpid(pids[i], &st, WNOHANG);
            if (r == 0)
                mproc_test_sleep_ms(1);
        }
        if (r == 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], &st, 0);
        }
        cr_assert_eq(r, pids[i], "daemon %d still alive 1 s after its parent died", i);
        cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL, "daemon %d status %d", i, st);
    }
}

/* Pids of this process's children (all threads), at most max. */
static int list_children(pid_t *out, int max)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    int k = 0;
    buf[n > 0 ? n : 0] = '\0';
    for (char *tok = strtok(buf, " \n"); tok && k < max; tok = strtok(NULL, " \n"))
        out[k++] = (pid_t)atoi(tok);
    return k;
}

MPROC_TEST(daemon, child_dies_when_parent_is_killed_right_after_fork)
{
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    for (int round = 0; round < 10; round++) {
        mproc_process *mid = start_spawn("daemon_parent_killed_at_fork", NULL, 0);
        struct mproc_exit st = join_ok(mid);
        mproc_process_close(mid);
        if (st.exited && st.code == 22)
            cr_skip("built without fault injection");
        assert_killed_by(st, SIGKILL);
        /* The orphaned daemon comes back to us (subreaper); it must die. */
        pid_t kids[8];
        int n = 0;
        for (int ms = 0; ms < 1000; ms++) {
            while (waitpid(-1, NULL, WNOHANG) > 0) {
            }
            n = list_children(kids, 8);
            if (n == 0)
                break;
            mproc_test_sleep_ms(1);
        }
        for (int i = 0; i < n; i++) {
            kill(kids[i], SIGKILL);
            waitpid(kids[i], NULL, 0);
        }
        cr_assert_eq(n, 0, "round %d: a daemon outlived its parent by 1 s", round);
    }
}

MPROC_TEST(daemon, children_are_killed_and_reaped_at_normal_exit)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    mproc_process *mid = start_spawn("daemon_parent_exits", &fds[1], sizeof fds[1]);
    close(fds[1]);
    pid_t d[2] = {0, 0};
    bool got = read_within(fds[0], d, sizeof d);
    close(fds[0]);
    if (!got)
        mproc_process_kill(mid);
    cr_assert(got, "the intermediate did not report its daemons");
    assert_exited(join_ok(mid), 0);
    mproc_process_close(mid);
    for (int i = 0; i < 2; i++)
        cr_assert(kill(d[i], 0) < 0 && errno == ESRCH, "daemon %d survived its parent's exit",
                  d[i]);
}

struct watch {
    int report; /* to the test */
    int ready;  /* to the intermediate: the first look is done */
};

/* Reports what mproc_parent_alive() says while the parent lives and, within
 * 5 s, after it died. */
static int watch_parent(void *arg)
{
    const struct watch *w = arg;
    char seen[2] = {(char)('0' + mproc_parent_alive()), '?'};
    if (write(w->ready, "r", 1) != 1)
        return 1;
    for (int ms = 0; ms < 5000 && mproc_parent_alive() == 1; ms++)
        mproc_test_sleep_ms(1);
    seen[1] = (char)('0' + mproc_parent_alive());
    return write(w->report, seen, 2) == 2 ? 0 : 1;
}

/* Starts a (non-daemon) watcher and exits once it has had its first look. */
static int parent_of_watcher(const void *arg, size_t len)
{
    struct watch w;
    int ready[2];
    if (len != sizeof w.report || pipe2(ready, O_CLOEXEC) != 0)
        return 20;
    memcpy(&w.report, arg, sizeof w.report);
    w.ready = ready[1];
    mproc_process *p;
    if (mproc_process_start(&p, watch_parent, &w, NULL) != 0)
        return 21;
    char c;
    return read(ready[0], &c, 1) == 1 ? 0 : 22;
}
MPROC_ENTRY(parent_of_watcher)

MPROC_TEST(daemon, non_daemon_child_outlives_parent_and_sees_it_dead)
{
    cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    mproc_process *mid = start_spawn("parent_of_watcher", &fds[1], sizeof fds[1]);
    close(fds[1]);
    assert_exited(join_ok(mid), 0);
    mproc_process_close(mid);
    char seen[3] = {0};
    bool got = read_within(fds[0], seen, 2);
    close(fds[0]);
    /* The orphaned watcher came back to us: reap it. */
    int st = -1;
    pid_t kids[8];
    for (int ms = 0; ms < 5000 && list_children(kids, 8) > 0; ms++) {
        if (waitpid(-1, &st, WNOHANG) > 0)
            break;
        mproc_test_sleep_ms(1);
    }
    cr_assert(got, "the watcher did not report");
    cr_assert_str_eq(seen, "10", "parent_alive before/after the parent's death: %s", seen);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "watcher status %d", st);
}

MPROC_TEST_MAIN()
