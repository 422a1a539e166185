/* test_process.c - processes: start (fork and spawn), join, signals,
 * identity, bookkeeping of freed handles, threads, bad input. Daemon
 * children are in test_daemon.c.
 *
 * This file has its own main() (MPROC_TEST_MAIN): it calls mproc_main()
 * first, so that the spawn start method can re-execute this very binary and
 * run the entry points registered below, and then hands over to Criterion.
 */
#include "process_util.h"

/* Child bodies (fork method) ------------------------------------------------*/

static int return_arg(void *arg)
{
    return (int)(intptr_t)arg;
}

static int kill_self(void *arg)
{
    raise((int)(intptr_t)arg);
    return 99;
}

static int check_identity(void *arg)
{
    const char *want = arg;
    char kname[17] = {0};
    prctl(PR_GET_NAME, kname);
    if (strcmp(mproc_current_name(), want) != 0)
        return 1;
    if (strncmp(kname, want, 15) != 0)
        return 2;
    if (mproc_parent_alive() != 1)
        return 3;
    if (mproc_current_pid() != getpid())
        return 4;
    /* The parent's children are not ours. */
    if (mproc_active_children(NULL, 0) != 0)
        return 5;
    return 0;
}

static int write_pid_then_return(void *arg)
{
    int fd = (int)(intptr_t)arg;
    pid_t pid = mproc_current_pid();
    return write(fd, &pid, sizeof pid) == (ssize_t)sizeof pid ? 0 : 1;
}

/* Entry points (spawn method) ---------------------------------------------*/

/* Returns 0 if the argument is the byte pattern i*7+3 of its length. */
static int check_bytes(const void *arg, size_t len)
{
    const unsigned char *b = arg;
    for (size_t i = 0; i < len; i++)
        if (b[i] != (unsigned char)(i * 7 + 3))
            return 1;
    return len == 0 ? 2 : 0;
}
MPROC_ENTRY(check_bytes)

static int spawn_identity(const void *arg, size_t len)
{
    char want[64] = {0};
    if (len >= sizeof want)
        return 10;
    memcpy(want, arg, len);
    if (getenv("MPROC_SPAWN") != NULL)
        return 11;
    return check_identity(want);
}
MPROC_ENTRY(spawn_identity)

static int spawn_exit_code(const void *arg, size_t len)
{
    int code = 0;
    if (len == sizeof code)
        memcpy(&code, arg, sizeof code);
    return code;
}
MPROC_ENTRY_NAMED("exit.code", spawn_exit_code)

/* 0 if SIGPIPE and SIGCHLD are at their defaults and nothing is blocked. */
static int spawn_signal_state(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    struct sigaction sa;
    sigset_t mask;
    if (sigaction(SIGPIPE, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
        return 1;
    if (sigaction(SIGCHLD, NULL, &sa) != 0 || sa.sa_handler != SIG_DFL)
        return 2;
    if (sigprocmask(SIG_BLOCK, NULL, &mask) != 0 || sigismember(&mask, SIGUSR1))
        return 3;
    /* The parent ignored SIGCHLD while starting us: give it time to stop,
     * or the kernel would reap us for it. */
    mproc_test_sleep_ms(50);
    return 0;
}
MPROC_ENTRY(spawn_signal_state)

/* Fork method ------------------------------------------------------------*/

MPROC_TEST(process, join_gives_the_function_result_as_exit_code)
{
    mproc_process *p = start_fork(return_arg, (void *)(intptr_t)7);
    cr_assert_gt(mproc_process_pid(p), 0);
    assert_exited(join_ok(p), 7);
    mproc_process_close(p);
}

MPROC_TEST(process, exit_code_is_result_modulo_256)
{
    mproc_process *p = start_fork(return_arg, (void *)(intptr_t)300);
    assert_exited(join_ok(p), 300 & 0xff);
    mproc_process_close(p);
}

MPROC_TEST(process, join_tells_killed_by_signal_apart)
{
    mproc_process *p = start_fork(kill_self, (void *)(intptr_t)SIGKILL);
    assert_killed_by(join_ok(p), SIGKILL);
    mproc_process_close(p);
}

MPROC_TEST(process, join_times_out_while_child_runs)
{
    mproc_process *p = start_fork(sleep_forever, NULL);
    struct mproc_exit st = {.code = 123};
    MPROC_ASSERT_RC(mproc_process_join(p, 50, &st), MPROC_ETIMEDOUT);
    MPROC_ASSERT_RC(mproc_process_join(p, 0, &st), MPROC_EAGAIN);
    cr_assert_eq(st.code, 123, "status written on timeout");
    cr_assert_eq(mproc_process_is_alive(p), 1);
    MPROC_ASSERT_OK(mproc_process_kill(p));
    assert_killed_by(join_ok(p), SIGKILL);
    mproc_process_close(p);
}

MPROC_TEST(process, joining_twice_returns_the_same_status)
{
    mproc_process *p = start_fork(return_arg, (void *)(intptr_t)5);
    assert_exited(join_ok(p), 5);
    assert_exited(join_ok(p), 5);
    MPROC_ASSERT_OK(mproc_process_join(p, 0, NULL));
    mproc_process_close(p);
}

MPROC_TEST(process, terminate_sends_sigterm)
{
    mproc_process *p = start_fork(sleep_forever, NULL);
    MPROC_ASSERT_OK(mproc_process_terminate(p));
    assert_killed_by(join_ok(p), SIGTERM);
    mproc_process_close(p);
}

MPROC_TEST(process, signalling_an_ended_child_is_ok_and_sends_nothing)
{
    mproc_process *p = start_fork(return_arg, (void *)(intptr_t)0);
    /* Ended but not reaped: a zombie. */
    while (mproc_process_is_alive(p) == 1)
        mproc_test_sleep_ms(1);
    cr_assert_eq(mproc_test_child_count(), 1, "is_alive must not reap");
    MPROC_ASSERT_OK(mproc_process_kill(p));
    assert_exited(join_ok(p), 0);
    MPROC_ASSERT_OK(mproc_process_kill(p));
    MPROC_ASSERT_OK(mproc_process_terminate(p));
    cr_assert_eq(mproc_process_is_alive(p), 0);
    mproc_process_close(p);
}

MPROC_TEST(process, pidfd_becomes_readable_when_child_ends)
{
    mproc_process *p = start_fork(return_arg, (void *)(intptr_t)0);
    int fd = mproc_process_pidfd(p);
    cr_assert_geq(fd, 0);
    cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC, "pidfd must be close-on-exec");
    assert_exited(join_ok(p), 0);
    mproc_process_close(p);
}

MPROC_TEST(process, child_sees_its_name_pid_and_live_parent)
{
    cr_assert_str_eq(mproc_current_name(), "MainProcess");
    MPROC_ASSERT_RC(mproc_parent_alive(), MPROC_ESRCH);
    cr_assert_eq(mproc_current_pid(), getpid());

    mproc_process *other = start_fork(sleep_forever, NULL);
    static char name[] = "worker-with-a-long-name";
    struct mproc_process_opts o = {.name = name};
    mproc_process *p;
    MPROC_ASSERT_OK(mproc_process_start(&p, check_identity, name, &o));
    cr_assert_str_eq(mproc_process_name(p), name);
    assert_exited(join_ok(p), 0);
    mproc_process_close(p);
    mproc_process_kill(other);
    join_ok(other);
    mproc_process_close(other);
}

MPROC_TEST(process, default_names_are_numbered)
{
    mproc_process *a = start_fork(return_arg, NULL);
    mproc_process *b = start_fork(return_arg, NULL);
    cr_assert_str_eq(mproc_process_name(a), "mproc-1");
    cr_assert_str_eq(mproc_process_name(b), "mproc-2");
    join_ok(a);
    join_ok(b);
    mproc_process_close(a);
    mproc_process_close(b);
}

MPROC_TEST(process, pid_is_the_childs_own)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    mproc_process *p = start_fork(write_pid_then_return, (void *)(intptr_t)fds[1]);
    pid_t got = 0;
    cr_assert_eq(read(fds[0], &got, sizeof got), (ssize_t)sizeof got);
    cr_assert_eq(got, mproc_process_pid(p));
    assert_exited(join_ok(p), 0);
    mproc_process_close(p);
    close(fds[0]);
    close(fds[1]);
}

MPROC_TEST(process, freed_running_child_is_reaped_later_without_blocking)
{
    mproc_process *p = start_fork(sleep_forever, NULL);
    pid_t pid = mproc_process_pid(p);
    mproc_process_close(p);
    cr_assert_eq(mproc_test_child_count(), 1);
    kill(pid, SIGKILL);
    /* The next mproc call that looks at children reaps it. */
    for (int i = 0; i < 2000 && mproc_test_child_count() > 0; i++) {
        mproc_test_sleep_ms(1);
        cr_assert_geq(mproc_active_children(NULL, 0), 0);
    }
    cr_assert_eq(mproc_test_child_count(), 0, "freed child left as a zombie");
}

MPROC_TEST(process, active_children_lists_running_ones_only)
{
    mproc_process *a = start_fork(sleep_forever, NULL);
    mproc_process *b = start_fork(sleep_forever, NULL);
    mproc_process *c = start_fork(return_arg, NULL);
    join_ok(c);
    mproc_process *list[4] = {0};
    cr_assert_eq(mproc_active_children(list, 4), 2);
    cr_assert((list[0] == a && list[1] == b) || (list[0] == b && list[1] == a));
    cr_assert_eq(mproc_active_children(list, 1), 2, "count may exceed max");
    mproc_process_kill(a);
    join_ok(a);
    cr_assert_eq(mproc_active_children(list, 4), 1);
    cr_assert_eq(list[0], b);
    mproc_process_kill(b);
    join_ok(b);
    cr_assert_eq(mproc_active_children(NULL, 0), 0);
    mproc_process_close(a);
    mproc_process_close(b);
    mproc_process_close(c);
}

static int use_inherited_handle(void *arg)
{
    mproc_process *p = arg;
    struct mproc_exit st;
    if (mproc_process_join(p, 0, &st) != MPROC_ENOTCHILD)
        return 1;
    if (mproc_process_kill(p) != MPROC_ENOTCHILD)
        return 2;
    if (mproc_process_is_alive(p) != MPROC_ENOTCHILD)
        return 3;
    if (mproc_active_children(NULL, 0) != 0)
        return 4;
    mproc_process_close(p);
    return 0;
}

MPROC_TEST(process, inherited_handle_in_forked_grandchild_gives_enotchild)
{
    mproc_process *p = start_fork(sleep_forever, NULL);
    pid_t g = mproc_test_fork(use_inherited_handle, p);
    int st = mproc_test_wait(g, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "grandchild status %d", st);
    cr_assert_eq(mproc_process_is_alive(p), 1, "grandchild must not touch our child");
    mproc_process_kill(p);
    assert_killed_by(join_ok(p), SIGKILL);
    mproc_process_close(p);
}

static void *join_forever(void *arg)
{
    static struct mproc_exit st;
    return mproc_process_join(arg, MPROC_FOREVER, &st) == 0 ? &st : NULL;
}

MPROC_TEST(process, join_in_one_thread_while_another_polls_and_kills)
{
    mproc_process *p = start_fork(sleep_forever, NULL);
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, join_forever, p), 0);
    for (int i = 0; i < 20; i++) {
        cr_assert_eq(mproc_process_is_alive(p), 1);
        mproc_test_sleep_ms(1);
    }
    MPROC_ASSERT_OK(mproc_process_kill(p));
    void *res;
    pthread_join(t, &res);
    cr_assert_not_null(res);
    assert_killed_by(*(struct mproc_exit *)res, SIGKILL);
    assert_killed_by(join_ok(p), SIGKILL);
    mproc_process_close(p);
}

MPROC_TEST(process, bad_input_gives_clear_errors)
{
    mproc_process *p = NULL;
    MPROC_ASSERT_RC(mproc_process_start(NULL, return_arg, NULL, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_process_start(&p, NULL, NULL, NULL), MPROC_EINVAL);
    struct mproc_process_opts bad = {.start_method = 7};
    MPROC_ASSERT_RC(mproc_process_start(&p, return_arg, NULL, &bad), MPROC_EINVAL);
    struct mproc_process_opts sp = {.start_method = MPROC_START_SPAWN, .entry = "check_bytes"};
    MPROC_ASSERT_RC(mproc_process_start(&p, return_arg, NULL, &sp), MPROC_EINVAL);
    sp.entry = NULL;
    MPROC_ASSERT_RC(mproc_process_start(&p, NULL, NULL, &sp), MPROC_EINVAL);
    sp.entry = "check_bytes";
    sp.arg_len = 4;
    MPROC_ASSERT_RC(mproc_process_start(&p, NULL, NULL, &sp), MPROC_EINVAL);
    char longname[100];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    struct mproc_process_opts ln = {.name = longname};
    MPROC_ASSERT_RC(mproc_process_start(&p, return_arg, NULL, &ln), MPROC_ENAMETOOLONG);
    cr_assert_null(p, "out written on failure");

    MPROC_ASSERT_RC(mproc_process_join(NULL, 0, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_process_is_alive(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_process_kill(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_active_children(NULL, 3), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_active_children(NULL, -1), MPROC_EINVAL);
    cr_assert_null(mproc_process_name(NULL));
    mproc_process_close(NULL);

    p = start_fork(return_arg, NULL);
    MPROC_ASSERT_RC(mproc_process_join(p, -5, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_process_signal(p, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_process_signal(p, -1), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_process_signal(p, 4096), MPROC_EINVAL);
    join_ok(p);
    mproc_process_close(p);
}

static int print_b(void *arg)
{
    (void)arg;
    printf("B");
    return 0;
}

/* stdout is a fully buffered pipe here: "A" is pending at the fork. */
static int print_around_a_child(void *arg)
{
    int fd = (int)(intptr_t)arg;
    if (dup2(fd, STDOUT_FILENO) < 0)
        return 1;
    setvbuf(stdout, NULL, _IOFBF, 4096);
    printf("A");
    mproc_process *p;
    if (mproc_process_start(&p, print_b, NULL, NULL) != 0)
        return 2;
    struct mproc_exit st;
    if (mproc_process_join(p, 5000, &st) != 0 || !st.exited || st.code != 0)
        return 3;
    mproc_process_close(p);
    printf("C");
    fflush(stdout);
    return 0;
}

MPROC_TEST(process, pending_output_is_flushed_before_fork_not_printed_twice)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    pid_t mid = mproc_test_fork(print_around_a_child, (void *)(intptr_t)fds[1]);
    int st = mproc_test_wait(mid, 5000);
    close(fds[1]);
    char buf[16] = {0};
    ssize_t n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "intermediate status %d", st);
    cr_assert(n == 3 && strcmp(buf, "ABC") == 0, "output \"%s\"", buf);
}

/* A fork child _exits: the parent's atexit handlers must not run in it. */
static int pipe_w = -1;
static void atexit_marker(void)
{
    char c = 'A';
    (void)!write(pipe_w, &c, 1);
}

static int parent_with_atexit(void *arg)
{
    (void)arg;
    atexit(atexit_marker);
    mproc_process *p;
    if (mproc_process_start(&p, return_arg, NULL, NULL) != 0)
        return 1;
    struct mproc_exit st;
    if (mproc_process_join(p, 5000, &st) != 0 || !st.exited)
        return 2;
    mproc_process_close(p);
    return 0;
}

MPROC_TEST(process, fork_child_never_runs_parents_atexit_handlers)
{
    int fds[2];
    cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    pipe_w = fds[1];
    pid_t mid = mproc_test_fork(parent_with_atexit, NULL);
    int st = mproc_test_wait(mid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "intermediate status %d", st);
    close(fds[1]);
    char c;
    cr_assert_eq(read(fds[0], &c, 1), 0, "an atexit handler ran in a child");
    close(fds[0]);
}

/* Spawn method ----------------------------------------------------------------*/

MPROC_TEST(process, spawn_runs_entry_with_argument_bytes)
{
    size_t len = 1 << 20;
    unsigned char *buf = malloc(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 7 + 3);
    mproc_process *p = start_spawn("check_bytes", buf, len);
    free(buf);
    assert_exited(join_ok(p), 0);
    mproc_process_close(p);
}

MPROC_TEST(process, spawn_passes_exit_code_of_entry)
{
    int code = 42;
    mproc_process *p = start_spawn("exit.code", &code, sizeof code);
    assert_exited(join_ok(p), 42);
    mproc_process_close(p);
}

MPROC_TEST(process, spawn_child_has_name_parent_and_clean_environment)
{
    static const char name[] = "spawned-one";
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN,
                                   .entry = "spawn_identity",
                                   .name = name,
                                   .arg = name,
                                   .arg_len = strlen(name)};
    mproc_process *p;
    drop_sandbox_env();
    MPROC_ASSERT_OK(mproc_process_start(&p, NULL, NULL, &o));
    assert_exited(join_ok(p), 0);
    mproc_process_close(p);
}

MPROC_TEST(process, spawn_of_unknown_entry_gives_enoentry)
{
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN, .entry = "no_such_entry"};
    mproc_process *p = NULL;
    MPROC_ASSERT_RC(mproc_process_start(&p, NULL, NULL, &o), MPROC_ENOENTRY);
    o.entry = "bad name!";
    MPROC_ASSERT_RC(mproc_process_start(&p, NULL, NULL, &o), MPROC_ENOENTRY);
    cr_assert_null(p);
}

static int runtime_only(const void *arg, size_t len)
{
    (void)arg;
    (void)len;
    return 0;
}

MPROC_TEST(process, spawn_child_without_the_entry_exits_127)
{
    /* Registered at run time, so a freshly executed copy does not know it:
     * the parent accepts the name, the child cannot find it. */
    MPROC_ASSERT_OK(mproc_entry_register("runtime_only", runtime_only));
    mproc_process *p = start_spawn("runtime_only", NULL, 0);
    assert_exited(join_ok(p), 127);
    mproc_process_close(p);
}

MPROC_TEST(process, spawn_child_starts_with_default_signals_and_empty_mask)
{
    struct sigaction ign = {.sa_handler = SIG_IGN}, old_pipe, old_chld;
    sigset_t block, old_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    sigaction(SIGPIPE, &ign, &old_pipe);
    sigaction(SIGCHLD, &ign, &old_chld);
    pthread_sigmask(SIG_BLOCK, &block, &old_mask);
    mproc_process *p = start_spawn("spawn_signal_state", NULL, 0);
    sigaction(SIGPIPE, &old_pipe, NULL);
    sigaction(SIGCHLD, &old_chld, NULL);
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
    assert_exited(join_ok(p), 0);
    mproc_process_close(p);
}

MPROC_TEST(process, spawn_child_can_be_killed)
{
    mproc_process *p = start_spawn("spawn_sleep", NULL, 0);
    MPROC_ASSERT_RC(mproc_process_join(p, 20, NULL), MPROC_ETIMEDOUT);
    MPROC_ASSERT_OK(mproc_process_terminate(p));
    assert_killed_by(join_ok(p), SIGTERM);
    mproc_process_close(p);
}

static int main_with_env(void *arg)
{
    setenv("MPROC_SPAWN", arg, 1);
    char *argv[] = {"x", NULL};
    int rc = mproc_main(1, argv);
    if (rc >= 0)
        return 1;
    if (getenv("MPROC_SPAWN") != NULL)
        return 2;
    /* A bogus fd number must not have been closed. */
    if (fcntl(0, F_GETFD) < 0)
        return 3;
    return 0;
}

MPROC_TEST(process, main_rejects_a_broken_spawn_handover)
{
    static char *bad[] = {"", "x", "0:1", "12:", ":5", "99999:1", "3:abc", "-1:1", "0:0"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pid_t c = mproc_test_fork(main_with_env, bad[i]);
        int st = mproc_test_wait(c, 5000);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "MPROC_SPAWN=\"%s\": status %d", bad[i],
                  st);
    }
}

MPROC_TEST(process, main_returns_zero_in_a_normal_run)
{
    char *argv[] = {"x", NULL};
    MPROC_ASSERT_OK(mproc_main(1, argv));
    MPROC_ASSERT_OK(mproc_main(0, NULL));
}

MPROC_TEST_MAIN()
