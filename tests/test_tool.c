/* test_tool.c - the `mproc` command-line tool: ls, clean, --json, --help.
 *
 * The tests run the built tool ($MPROC_TEST_BUILD/mproc) as a child and
 * read its output through a pipe. The objects it looks at are written by
 * hand here (a struct mproc__seg_hdr and a body) so that every state can be
 * produced on purpose: a live creator, a dead one, a reused pid, bad magic,
 * another ABI version, sizes that disagree. Those hand-made files live in a
 * private temporary directory that the tool is pointed at with --dir, so
 * that tests of other files running at the same time (whose leak checks
 * watch /dev/shm) and these never see each other's files. The few tests
 * with real library objects must use /dev/shm; they call shared_dir().
 * Every test names its files "tt<pid>-..." and passes "tt<pid>-*" to the
 * tool, so `clean` never removes anything another test created.
 */
#include "harness.h"

#include "linux/linux.h" /* segment.h needs MPROC__NAME_MAX */
#include "segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define OUT_MAX 65536

static char out[OUT_MAX];

/* Where this test's objects live: a private directory (default) or
 * /dev/shm (shared_dir()). Each test runs in a process of its own, so this
 * state is per test. */
static char tdir[128];
static bool use_shm_dir;

static void shared_dir(void)
{
    use_shm_dir = true;
}

static const char *dir_prefix(void)
{
    return use_shm_dir ? "/dev/shm/" : tdir;
}

static void remove_tdir(void)
{
    DIR *d = opendir(tdir);
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s%s", tdir, e->d_name);
        if (unlink(path) != 0)
            rmdir(path);
    }
    if (d)
        closedir(d);
    rmdir(tdir);
}

/* stderr of the last run_split(). */
static char err[OUT_MAX];

/* run - run the tool with args (NULL-terminated, without argv[0]); stdout
 * goes to `out`, and stderr too, or to `err` if split. Returns the exit
 * code, or -1 if the tool did not exit normally. */
static int run(const char *const *args, bool split)
{
    const char *dir = getenv("MPROC_TEST_BUILD");
    cr_assert(dir != NULL, "MPROC_TEST_BUILD is not set (run through ctest)");
    char tool[4096];
    snprintf(tool, sizeof tool, "%s/mproc", dir);
    cr_assert(access(tool, X_OK) == 0, "%s: not built", tool);

    const char *argv[32] = {tool};
    int argc = 1;
    for (int i = 0; args[i]; i++) {
        argv[argc++] = args[i];
        if (i == 0 && !use_shm_dir && tdir[0] &&
            (strcmp(args[0], "ls") == 0 || strcmp(args[0], "clean") == 0)) {
            argv[argc++] = "--dir";
            argv[argc++] = tdir;
        }
    }
    argv[argc] = NULL;

    int p[2];
    cr_assert(pipe2(p, O_CLOEXEC) == 0);
    int efd = -1;
    if (split) {
        efd = memfd_create("tool-stderr", MFD_CLOEXEC);
        cr_assert(efd >= 0);
    }
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(p[1], 1);
        dup2(split ? efd : p[1], 2);
        execv(tool, (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    size_t n = 0;
    ssize_t r;
    while ((r = read(p[0], out + n, sizeof out - 1 - n)) != 0) {
        if (r < 0 && errno == EINTR)
            continue;
        cr_assert(r > 0);
        n += (size_t)r;
        cr_assert(n < sizeof out - 1, "tool output too long");
    }
    out[n] = '\0';
    close(p[0]);
    int status = mproc_test_wait(pid, 10000);
    cr_assert(status >= 0, "the tool hung");
    if (split) {
        r = pread(efd, err, sizeof err - 1, 0);
        cr_assert(r >= 0);
        err[r] = '\0';
        close(efd);
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int run_tool(const char *const *args)
{
    return run(args, false);
}

static int run_split(const char *const *args)
{
    return run(args, true);
}

static char pattern[64];

static const char *name_of(const char *suffix)
{
    static char buf[8][96];
    static int next;
    char *b = buf[next++ % 8];
    snprintf(b, sizeof buf[0], "tt%d-%s", (int)getpid(), suffix);
    snprintf(pattern, sizeof pattern, "tt%d-*", (int)getpid());
    if (!use_shm_dir && !tdir[0]) {
        char tmpl[] = "/tmp/mproc-tooltest-XXXXXX";
        cr_assert(mkdtemp(tmpl) != NULL, "mkdtemp: %s", strerror(errno));
        snprintf(tdir, sizeof tdir, "%s/", tmpl);
        atexit(remove_tdir);
    }
    return b;
}

static void path_of(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "%smproc-%s", dir_prefix(), name);
}

static bool exists(const char *name)
{
    char path[256];
    path_of(path, sizeof path, name);
    struct stat st;
    return lstat(path, &st) == 0;
}

static void remove_obj(const char *name)
{
    char path[256];
    path_of(path, sizeof path, name);
    unlink(path);
}

/* Start time (field 22 of /proc/<pid>/stat) of this process. */
static uint64_t self_start(void)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "re");
    cr_assert(f != NULL);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    cr_assert(p != NULL);
    p += 2;
    for (int field = 3; field < 22; field++) {
        p = strchr(p, ' ');
        cr_assert(p != NULL);
        p++;
    }
    return strtoull(p, NULL, 10);
}

/* A pid that certainly belonged to a process that is gone: a child that
 * exited and was reaped. */
static pid_t dead_pid(void)
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status = mproc_test_wait(pid, 5000);
    cr_assert(status >= 0);
    return pid;
}

struct fake {
    uint32_t magic;
    uint16_t version;
    uint16_t kind;
    pid_t pid;
    uint64_t start;
    uint64_t total;     /* 0: 4096 */
    uint64_t file_size; /* 0: same as total */
};

static struct fake good(unsigned kind, pid_t pid, uint64_t start)
{
    return (struct fake){MPROC__SEG_MAGIC, MPROC__SEG_VERSION, (uint16_t)kind, pid, start, 0, 0};
}

/* make - write <dir>/mproc-<name> with a header built from f. */
static void make(const char *name, struct fake f)
{
    char path[256];
    path_of(path, sizeof path, name);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    cr_assert(fd >= 0, "%s: %s", path, strerror(errno));
    uint64_t total = f.total ? f.total : 4096;
    uint64_t size = f.file_size ? f.file_size : total;
    struct mproc__seg_hdr h;
    memset(&h, 0, sizeof h);
    atomic_store(&h.magic, f.magic);
    h.version = f.version;
    h.kind = f.kind;
    h.hdr_size = MPROC__SEG_HDR_SIZE;
    h.total_size = total;
    h.body_size = total - MPROC__SEG_HDR_SIZE;
    h.creator_pid = f.pid;
    h.creator_uid = (uint32_t)geteuid();
    h.creator_start = f.start;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h.created_unix_ns = (uint64_t)ts.tv_sec * 1000000000ull - 90ull * 1000000000ull;
    snprintf(h.name, sizeof h.name, "%s", name);
    cr_assert(ftruncate(fd, (off_t)size) == 0);
    cr_assert(pwrite(fd, &h, sizeof h, 0) == (ssize_t)sizeof h);
    close(fd);
}

/* The text line of `mproc ls` for name, or NULL. */
static const char *line_of(const char *name)
{
    size_t len = strlen(name);
    for (const char *p = out; (p = strstr(p, name)) != NULL; p += len)
        if ((p == out || p[-1] == '\n') && p[len] == ' ')
            return p;
    return NULL;
}

/* line_has - the line of `name` contains `word` before its end. */
static bool line_has(const char *name, const char *word)
{
    const char *l = line_of(name);
    if (!l)
        return false;
    const char *end = strchr(l, '\n');
    const char *w = strstr(l, word);
    return w && (!end || w < end);
}

/* The JSON object of name in `mproc ls --json` output (one per line). */
static bool json_has(const char *name, const char *member)
{
    char key[160];
    snprintf(key, sizeof key, "{\"name\":\"%s\"", name);
    const char *l = strstr(out, key);
    if (!l)
        return false;
    const char *end = strchr(l, '\n');
    const char *w = strstr(l, member);
    return w && (!end || w < end);
}

/* Help and usage ----------------------------------------------------------------*/

MPROC_TEST(tool, help_describes_every_command)
{
    cr_assert_eq(run_tool((const char *[]){"--help", NULL}), 0);
    cr_assert(strstr(out, "ls") && strstr(out, "clean") && strstr(out, "demo"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"ls", "--help", NULL}), 0);
    cr_assert(strstr(out, "usage: mproc ls") && strstr(out, "--json"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", "-h", NULL}), 0);
    cr_assert(strstr(out, "usage: mproc clean") && strstr(out, "--dry-run"), "%s", out);
}

MPROC_TEST(tool, unknown_command_or_option_exits_2)
{
    cr_assert_eq(run_tool((const char *[]){"frobnicate", NULL}), 2);
    cr_assert_eq(run_tool((const char *[]){NULL}), 2);
    cr_assert_eq(run_tool((const char *[]){"ls", "--jsn", NULL}), 2);
    cr_assert(strstr(out, "unknown option"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", "--force", NULL}), 2);
}

MPROC_TEST(tool, missing_directory_is_an_error)
{
    cr_assert_eq(run_tool((const char *[]){"ls", "--dir", "/nonexistent/mproc-dir", NULL}), 1);
    cr_assert(strstr(out, "/nonexistent/mproc-dir/"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", "--dir", "/nonexistent/mproc-dir", NULL}), 1);
}

MPROC_TEST(tool, version_prints_library_version)
{
    cr_assert_eq(run_tool((const char *[]){"version", NULL}), 0);
    cr_assert(strstr(out, MPROC_VERSION_STRING), "%s", out);
}

/* Every command the tool has, with the text its usage starts with. */
static const char *const commands[] = {"demo", "bench", "ls", "clean", "version", "help"};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

/* err is exactly one line: "<prefix>: <what> (try '<try>')\n". */
static void assert_usage_error(const char *prefix, const char *what, const char *try)
{
    char want[512];
    snprintf(want, sizeof want, "%s: %s (try '%s')\n", prefix, what, try);
    cr_assert_str_eq(err, want);
    cr_assert_str_eq(out, "", "a usage error prints nothing on stdout: %s", out);
}

MPROC_TEST(tool, every_command_answers_help_on_stdout_without_doing_anything)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const char *flags[] = {"--help", "-h"};
        for (size_t f = 0; f < 2; f++) {
            char want[64];
            snprintf(want, sizeof want, "usage: mproc %s", commands[i]);
            cr_assert_eq(run_split((const char *[]){commands[i], flags[f], NULL}), 0, "%s %s",
                         commands[i], flags[f]);
            cr_assert(strncmp(out, want, strlen(want)) == 0, "%s %s: %s", commands[i], flags[f],
                      out);
            cr_assert_str_eq(err, "", "%s %s", commands[i], flags[f]);
            /* the demo did not run */
            cr_assert(!strstr(out, "total_number="), "%s %s: %s", commands[i], flags[f], out);
        }
    }
    /* --help wins over the options before it, and over operands after it */
    cr_assert_eq(run_split((const char *[]){"demo", "--count", "5", "--help", "extra", NULL}), 0);
    cr_assert(strncmp(out, "usage: mproc demo", 17) == 0, "%s", out);
}

MPROC_TEST(tool, unknown_option_is_one_line_on_stderr_and_exit_2)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char prefix[64], try[64];
        snprintf(prefix, sizeof prefix, "mproc %s", commands[i]);
        snprintf(try, sizeof try, "mproc %s --help", commands[i]);
        cr_assert_eq(run_split((const char *[]){commands[i], "--bogus", NULL}), 2, "%s",
                     commands[i]);
        assert_usage_error(prefix, "unknown option '--bogus'", try);
        cr_assert_eq(run_split((const char *[]){commands[i], "--bogus=1", NULL}), 2);
        assert_usage_error(prefix, "unknown option '--bogus'", try);
        cr_assert_eq(run_split((const char *[]){commands[i], "-x", NULL}), 2, "%s", commands[i]);
        assert_usage_error(prefix, "unknown option '-x'", try);
    }
    cr_assert_eq(run_split((const char *[]){"--bogus", NULL}), 2);
    assert_usage_error("mproc", "unknown option '--bogus'", "mproc --help");
}

MPROC_TEST(tool, unknown_command_is_one_line_on_stderr_and_exit_2)
{
    cr_assert_eq(run_split((const char *[]){"frobnicate", NULL}), 2);
    assert_usage_error("mproc", "unknown command 'frobnicate'", "mproc --help");
    cr_assert_eq(run_split((const char *[]){"help", "frobnicate", NULL}), 2);
    assert_usage_error("mproc", "unknown command 'frobnicate'", "mproc --help");
}

MPROC_TEST(tool, extra_argument_is_a_usage_error)
{
    const char *const cmds[] = {"demo", "bench", "version"};
    for (size_t i = 0; i < 3; i++) {
        char prefix[64], try[64];
        snprintf(prefix, sizeof prefix, "mproc %s", cmds[i]);
        snprintf(try, sizeof try, "mproc %s --help", cmds[i]);
        cr_assert_eq(run_split((const char *[]){cmds[i], "extra", NULL}), 2, "%s", cmds[i]);
        assert_usage_error(prefix, "unexpected argument 'extra'", try);
    }
    cr_assert_eq(run_split((const char *[]){"help", "ls", "extra", NULL}), 2);
    assert_usage_error("mproc help", "unexpected argument 'extra'", "mproc help --help");
    /* after "--" an option-like word is an operand */
    cr_assert_eq(run_split((const char *[]){"demo", "--", "--count", NULL}), 2);
    assert_usage_error("mproc demo", "unexpected argument '--count'", "mproc demo --help");
}

MPROC_TEST(tool, bad_option_value_is_one_line_on_stderr_and_exit_2)
{
    cr_assert_eq(run_split((const char *[]){"bench", "--only", NULL}), 2);
    assert_usage_error("mproc bench", "option '--only' needs a value", "mproc bench --help");
    cr_assert_eq(run_split((const char *[]){"bench", "--list=yes", NULL}), 2);
    assert_usage_error("mproc bench", "option '--list' takes no value", "mproc bench --help");
    cr_assert_eq(run_split((const char *[]){"ls", "--json=1", NULL}), 2);
    assert_usage_error("mproc ls", "option '--json' takes no value", "mproc ls --help");
    /* a short option in a group is named by itself, not by its neighbour */
    cr_assert_eq(run_split((const char *[]){"clean", "--dry-run", "-xn", NULL}), 2);
    assert_usage_error("mproc clean", "unknown option '-x'", "mproc clean --help");
    cr_assert_eq(run_split((const char *[]){"clean", "-nx", NULL}), 2);
    assert_usage_error("mproc clean", "unknown option '-x'", "mproc clean --help");
    cr_assert_eq(run_split((const char *[]){"bench", "--reps", "0", NULL}), 2);
    assert_usage_error("mproc bench", "--reps wants a positive integer, not '0'",
                       "mproc bench --help");
    cr_assert_eq(run_split((const char *[]){"ls", "--dir", "", NULL}), 2);
    cr_assert(strncmp(err, "mproc ls: --dir ", 16) == 0 && strchr(err, '\n') == strrchr(err, '\n'),
              "%s", err);
    cr_assert_eq(run_split((const char *[]){"demo", "--count", NULL}), 2);
    assert_usage_error("mproc demo", "option '--count' needs a value", "mproc demo --help");
    const char *const counts[] = {"0", "1", "abc", "1e8", "-5", "12x", "1__000", ""};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        cr_assert_eq(run_split((const char *[]){"demo", "--count", counts[i], NULL}), 2, "%s",
                     counts[i]);
        cr_assert(strncmp(err, "mproc demo: --count wants ", 26) == 0, "%s", err);
        cr_assert(strchr(err, '\n') == err + strlen(err) - 1, "one line: %s", err);
    }
    const char *const repeats[] = {"0", "101", "two"};
    for (size_t i = 0; i < sizeof repeats / sizeof repeats[0]; i++) {
        cr_assert_eq(run_split((const char *[]){"demo", "--repeat", repeats[i], NULL}), 2);
        cr_assert(strncmp(err, "mproc demo: --repeat wants ", 27) == 0, "%s", err);
        cr_assert(strchr(err, '\n') == err + strlen(err) - 1, "one line: %s", err);
    }
}

MPROC_TEST(tool, version_option_and_command_print_the_version)
{
    const char *want = "mproc " MPROC_VERSION_STRING "\n";
    cr_assert_eq(run_split((const char *[]){"--version", NULL}), 0);
    cr_assert_str_eq(out, want);
    cr_assert_str_eq(err, "");
    cr_assert_eq(run_split((const char *[]){"version", NULL}), 0);
    cr_assert_str_eq(out, want);
}

MPROC_TEST(tool, help_command_prints_the_named_commands_help)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: mproc %s", commands[i]);
        cr_assert_eq(run_split((const char *[]){"help", commands[i], NULL}), 0);
        cr_assert(strncmp(out, want, strlen(want)) == 0, "help %s: %s", commands[i], out);
        cr_assert_str_eq(err, "");
    }
    cr_assert_eq(run_split((const char *[]){"help", NULL}), 0);
    cr_assert(strncmp(out, "usage: mproc <command>", 22) == 0, "%s", out);
}

MPROC_TEST(tool, help_texts_list_every_command_and_never_say_seed)
{
    cr_assert_eq(run_split((const char *[]){"--help", NULL}), 0);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        char want[32];
        snprintf(want, sizeof want, "\n  %s ", commands[i]);
        cr_assert(strstr(out, want), "%s missing: %s", commands[i], out);
    }
    cr_assert(!strcasestr(out, "seed"), "%s", out);
    for (size_t i = 0; i < NCOMMANDS; i++) {
        cr_assert_eq(run_split((const char *[]){commands[i], "--help", NULL}), 0);
        cr_assert(!strcasestr(out, "seed"), "%s --help: %s", commands[i], out);
    }
}

/* demo ---------------------------------------------------------------------------*/

MPROC_TEST(tool, demo_shows_medians_of_interleaved_runs_and_the_cost_of_a_start)
{
    cr_assert_eq(run_split((const char *[]){"demo", "--count", "2_000_000", "--repeat", "3", NULL}),
                 0, "%s\n%s", out, err);
    cr_assert(strstr(out, "== Counting to 2,000,000: in one process, then split in two "
                          "(1,000,000 each)\n"),
              "%s", out);
    const char *const rows[] = {"\none process ", "\ntwo processes ", "\ntwo threads "};
    for (size_t i = 0; i < 3; i++) {
        const char *l = strstr(out, rows[i]);
        cr_assert(l, "%s missing: %s", rows[i], out);
        const char *end = strchr(l + 1, '\n');
        const char *total = strstr(l, "total_number=2000000");
        const char *range = strstr(l, " .. ");
        cr_assert(total && total < end && range && range < end, "%s", out);
        if (i > 0)
            cr_assert(strstr(l, "x as fast as one process") < end, "%s", out);
    }
    cr_assert(strstr(out, "median of 3 runs each, interleaved"), "%s", out);
    cr_assert(strstr(out, "starting and joining a process costs ") && strstr(out, " with fork, ") &&
                  strstr(out, " with spawn (median of 5)\n"),
              "%s", out);
    /* the other programs ran with the same count */
    cr_assert(strstr(out, "two processes count to 1,000,000 each"), "%s", out);
    cr_assert(strstr(out, "100 chunks of 20,000\n"), "%s", out);
    cr_assert(strstr(out, "\npool of "), "%s", out);
    const char *t = out;
    int totals = 0;
    while ((t = strstr(t, "total_number=2000000\n")) != NULL) {
        totals++;
        t++;
    }
    cr_assert_eq(totals, 3, "one process, shared memory, pool: %s", out);
    cr_assert(!strcasestr(out, "seed") && !strstr(out, "program 2"), "%s", out);
    /* the list through a Queue and through a Pipe (with msgpack-c): printed
     * once each, and each exchange timed */
    if (strstr(out, "[42, None, 'hello']")) {
        const char *q = strstr(out, "\n[42, None, 'hello']\none child ");
        cr_assert(q, "%s", out);
        q = strstr(q + 1, "\n[42, None, 'hello']\none child ");
        cr_assert(q && strstr(q, " .. "), "%s", out);
    }
}

/* ls -----------------------------------------------------------------------------*/

MPROC_TEST(tool, ls_shows_kind_creator_and_state_of_live_object)
{
    const char *n = name_of("live");
    make(n, good(MPROC__SEG_QUEUE, getpid(), self_start()));
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    char pid[16];
    snprintf(pid, sizeof pid, " %d ", (int)getpid());
    cr_assert(line_of(n), "%s", out);
    cr_assert(line_has(n, "queue") && line_has(n, "alive") && line_has(n, pid), "%s", out);
    cr_assert(line_has(n, "4.0K") && line_has(n, " 1m3"), "%s", out);
    remove_obj(n);
}

MPROC_TEST(tool, ls_json_has_one_object_per_entry)
{
    const char *live = name_of("a-live"), *dead = name_of("b-dead");
    make(live, good(MPROC__SEG_LOCK, getpid(), self_start()));
    make(dead, good(MPROC__SEG_SHM, dead_pid(), 0));
    cr_assert_eq(run_tool((const char *[]){"ls", "--json", pattern, NULL}), 0);
    cr_assert(out[0] == '[' && strstr(out, "\n]\n"), "%s", out);
    cr_assert(json_has(live, "\"state\":\"alive\""), "%s", out);
    cr_assert(json_has(live, "\"kind\":\"lock\""), "%s", out);
    cr_assert(json_has(live, "\"size\":4096"), "%s", out);
    cr_assert(json_has(live, "\"creator_alive\":true"), "%s", out);
    cr_assert(json_has(live, "\"users\":0,"), "%s", out);
    char pid[32];
    snprintf(pid, sizeof pid, "\"creator_pid\":%d", (int)getpid());
    cr_assert(json_has(live, pid), "%s", out);
    cr_assert(json_has(dead, "\"state\":\"dead\""), "%s", out);
    cr_assert(json_has(dead, "\"creator_alive\":false"), "%s", out);
    cr_assert(strstr(out, live) < strstr(out, dead), "entries are sorted by name");
    remove_obj(live);
    remove_obj(dead);
}

MPROC_TEST(tool, ls_json_of_nothing_is_an_empty_array)
{
    name_of("none");
    cr_assert_eq(run_tool((const char *[]){"ls", "--json", pattern, NULL}), 0);
    cr_assert_str_eq(out, "[]\n");
}

MPROC_TEST(tool, ls_marks_file_with_bad_magic_foreign)
{
    const char *n = name_of("foreign"), *s = name_of("short");
    struct fake f = good(MPROC__SEG_SHM, getpid(), 0);
    f.magic = 0xdeadbeef;
    make(n, f);
    char path[256];
    path_of(path, sizeof path, s);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    cr_assert(write(fd, "hello", 5) == 5);
    close(fd);
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(n, "foreign"), "%s", out);
    cr_assert(line_has(s, "foreign"), "%s", out);
    remove_obj(n);
    remove_obj(s);
}

MPROC_TEST(tool, ls_marks_other_abi_version_and_bad_sizes)
{
    const char *v = name_of("version"), *c = name_of("corrupt"), *k = name_of("kind");
    struct fake f = good(MPROC__SEG_QUEUE, dead_pid(), 0);
    f.version = MPROC__SEG_VERSION + 7;
    make(v, f);
    f = good(MPROC__SEG_QUEUE, dead_pid(), 0);
    f.total = 1u << 20; /* claims 1 MiB, the file holds 4 KiB */
    f.file_size = 4096;
    make(c, f);
    make(k, good(MPROC__SEG_KIND_MAX + 1, dead_pid(), 0));
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(v, "version"), "%s", out);
    cr_assert(line_has(c, "corrupt"), "%s", out);
    cr_assert(line_has(k, "corrupt"), "%s", out);
    /* Their creators are dead, but what cannot be read is never removed. */
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(exists(v) && exists(c) && exists(k), "%s", out);
    remove_obj(v);
    remove_obj(c);
    remove_obj(k);
}

MPROC_TEST(tool, ls_does_not_follow_symlinks)
{
    const char *n = name_of("link");
    char path[256];
    path_of(path, sizeof path, n);
    cr_assert(symlink("/etc/passwd", path) == 0);
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(n, "foreign"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(exists(n));
    remove_obj(n);
}

MPROC_TEST(tool, ls_shows_fifo_and_directory_foreign_without_opening)
{
    const char *f = name_of("fifo"), *d = name_of("dir");
    char path[256];
    path_of(path, sizeof path, f);
    cr_assert(mkfifo(path, 0600) == 0);
    path_of(path, sizeof path, d);
    cr_assert(mkdir(path, 0700) == 0);
    /* Opening the FIFO for reading would block without O_NONBLOCK; it is
     * not opened at all. */
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(f, "foreign") && line_has(d, "foreign"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(exists(f) && exists(d), "%s", out);
    remove_obj(f);
    rmdir(path);
}

MPROC_TEST(tool, ls_escapes_odd_names)
{
    /* A file name may hold any byte but '/': JSON stays valid, text stays on
     * one line. */
    const char *n = name_of("we\"ird\\\n");
    make(n, good(MPROC__SEG_SHM, getpid(), 0));
    cr_assert_eq(run_tool((const char *[]){"ls", "--json", pattern, NULL}), 0);
    char esc[128];
    snprintf(esc, sizeof esc, "{\"name\":\"tt%d-we\\\"ird\\\\\\u000a\"", (int)getpid());
    cr_assert(strstr(out, esc), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    char txt[64];
    snprintf(txt, sizeof txt, "tt%d-we\"ird\\? ", (int)getpid());
    cr_assert(strstr(out, txt), "%s", out);
    remove_obj(n);
}

MPROC_TEST(tool, ls_patterns_select_names)
{
    const char *a = name_of("pick-1"), *b = name_of("other");
    make(a, good(MPROC__SEG_SEM, getpid(), 0));
    make(b, good(MPROC__SEG_SEM, getpid(), 0));
    char pat[96];
    snprintf(pat, sizeof pat, "tt%d-pick-*", (int)getpid());
    cr_assert_eq(run_tool((const char *[]){"ls", pat, NULL}), 0);
    cr_assert(line_of(a) && !line_of(b), "%s", out);
    remove_obj(a);
    remove_obj(b);
}

/* clean ----------------------------------------------------------------------*/

MPROC_TEST(tool, clean_removes_object_of_dead_creator)
{
    const char *n = name_of("dead");
    make(n, good(MPROC__SEG_QUEUE, dead_pid(), 0));
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(!exists(n), "%s", out);
    char line[256];
    snprintf(line, sizeof line, "removed %smproc-%s (queue, creator ", dir_prefix(), n);
    cr_assert(strstr(out, line), "%s", out);
    cr_assert(strstr(out, "removed 1 object\n"), "%s", out);
}

MPROC_TEST(tool, clean_never_removes_live_creators_object)
{
    const char *n = name_of("mine"), *parent = name_of("parent");
    make(n, good(MPROC__SEG_BARRIER, getpid(), self_start()));
    make(parent, good(MPROC__SEG_EVENT, getppid(), 0));
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(exists(n) && exists(parent), "%s", out);
    cr_assert(strstr(out, "removed 0 objects"), "%s", out);
    remove_obj(n);
    remove_obj(parent);
}

MPROC_TEST(tool, clean_treats_reused_pid_as_dead)
{
    /* Our pid, but another start time: the creator was an earlier process
     * that had this pid. */
    const char *n = name_of("reused");
    make(n, good(MPROC__SEG_SHM, getpid(), self_start() + 12345));
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(n, "dead"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(!exists(n), "%s", out);
}

MPROC_TEST(tool, clean_dry_run_removes_nothing)
{
    const char *n = name_of("dry");
    make(n, good(MPROC__SEG_SHM, dead_pid(), 0));
    cr_assert_eq(run_tool((const char *[]){"clean", "--dry-run", pattern, NULL}), 0);
    cr_assert(exists(n));
    char line[256];
    snprintf(line, sizeof line, "would remove %smproc-%s (shm, creator ", dir_prefix(), n);
    cr_assert(strstr(out, line), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", "-n", pattern, NULL}), 0);
    cr_assert(exists(n));
    remove_obj(n);
}

MPROC_TEST(tool, clean_leaves_foreign_files_alone)
{
    const char *n = name_of("notours");
    struct fake f = good(MPROC__SEG_SHM, dead_pid(), 0);
    f.magic = 0x12345678;
    make(n, f);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(exists(n), "%s", out);
    remove_obj(n);
}

MPROC_TEST(tool, clean_removes_unpublished_object_of_dead_creator)
{
    /* The creator died after writing the header, before publishing. */
    const char *n = name_of("unpublished"), *busy = name_of("busy");
    struct fake f = good(MPROC__SEG_QUEUE, dead_pid(), 0);
    f.magic = 0;
    make(n, f);
    f = good(MPROC__SEG_QUEUE, getpid(), 0);
    f.magic = 0;
    make(busy, f);
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(n, "dead") && line_has(busy, "init"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(!exists(n) && exists(busy), "%s", out);
    remove_obj(busy);
}

MPROC_TEST(tool, clean_leaves_zero_filled_stranger_alone)
{
    /* Magic 0 and a dead pid where mproc keeps the creator, but nothing else
     * of an mproc header: not ours to remove. */
    const char *n = name_of("zeros");
    struct fake f = good(MPROC__SEG_SHM, dead_pid(), 0);
    f.magic = 0;
    f.version = 0;
    make(n, f);
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(n, "foreign"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(exists(n), "%s", out);
    remove_obj(n);
}

/* With real objects of the library ---------------------------------------------*/

MPROC_TEST(tool, ls_shows_statistics_of_a_live_queue)
{
    shared_dir();
    const char *n = name_of("queue");
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, n, NULL));
    MPROC_ASSERT_OK(mproc_queue_put(q, "one", 3, 0));
    MPROC_ASSERT_OK(mproc_queue_put(q, "two", 3, 0));
    cr_assert_eq(run_tool((const char *[]){"ls", "--json", pattern, NULL}), 0);
    cr_assert(json_has(n, "\"kind\":\"queue\""), "%s", out);
    cr_assert(json_has(n, "\"state\":\"alive\""), "%s", out);
    cr_assert(json_has(n, "\"details\":{\"msgs\":2,"), "%s", out);
    cr_assert(json_has(n, "\"puts\":2,"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(n, "msgs=2"), "%s", out);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static int leave_named_shm(void *arg)
{
    mproc_shm *s;
    /* Created and never unlinked: the process exits with its object left
     * behind, as a crashed program would. */
    return mproc_shm_create(&s, (const char *)arg, 100) == 0 ? 0 : 1;
}

MPROC_TEST(tool, clean_removes_what_a_dead_process_left_behind)
{
    shared_dir();
    const char *n = name_of("leftover");
    pid_t pid = mproc_test_fork(leave_named_shm, (void *)n);
    int status = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    cr_assert(exists(n));
    cr_assert_eq(run_tool((const char *[]){"ls", pattern, NULL}), 0);
    cr_assert(line_has(n, "shm") && line_has(n, "dead"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(!exists(n), "%s", out);
}

MPROC_TEST(tool, clean_keeps_a_dead_creators_object_while_it_is_mapped)
{
    /* A dead creator's object that a live process (this one) still maps:
     * removing the name now would hide it from processes about to open it. */
    const char *n = name_of("mapped");
    make(n, good(MPROC__SEG_QUEUE, dead_pid(), 0));
    char path[256];
    path_of(path, sizeof path, n);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    cr_assert(fd >= 0);
    void *map = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    cr_assert(map != MAP_FAILED);
    cr_assert_eq(run_tool((const char *[]){"ls", "--json", pattern, NULL}), 0);
    cr_assert(json_has(n, "\"users\":1,"), "%s", out);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(exists(n), "%s", out);
    cr_assert(strstr(out, "kept ") && strstr(out, "still mapped by 1 process)"), "%s", out);
    munmap(map, 4096);
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(!exists(n), "%s", out);
}

MPROC_TEST(tool, clean_keeps_a_live_processs_shm)
{
    shared_dir();
    const char *n = name_of("kept");
    mproc_shm *s;
    MPROC_ASSERT_OK(mproc_shm_create(&s, n, 100));
    cr_assert_eq(run_tool((const char *[]){"clean", pattern, NULL}), 0);
    cr_assert(exists(n), "%s", out);
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(s)));
    MPROC_ASSERT_OK(mproc_shm_close(s));
}
