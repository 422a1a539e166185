/* harness.c - per-test leak checks and child helpers (see harness.h). */
#include "harness.h"

#include "linux/linux.h"
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_TRACK 1024

static int fds_before[MAX_TRACK];
static int nfds_before;
static char *shm_before[MAX_TRACK];
static int nshm_before;
static struct timespec setup_time;

/* The pids of this test's process tree: every fork below the test process
 * appends its pid here (a pthread_atfork child handler writing to a page
 * shared with the whole tree), so that a /dev/shm entry is blamed on this
 * test only if one of its own processes created it; another suite running
 * at the same time can neither fail this test nor lose its objects to it. */
#define MAX_TREE 8192
struct tree {
    _Atomic int n;
    pid_t pid[MAX_TREE];
};
static struct tree *tree;

static void tree_note_child(void)
{
    if (tree == NULL)
        return;
    int i = atomic_fetch_add(&tree->n, 1);
    if (i < MAX_TREE)
        tree->pid[i] = getpid();
}

static bool tree_has(pid_t pid)
{
    if (pid == getpid())
        return true;
    int n = tree ? atomic_load(&tree->n) : 0;
    for (int i = 0; i < n && i < MAX_TREE; i++)
        if (tree->pid[i] == pid)
            return true;
    return false;
}

/* Whether the new entry `name` is this test's: an mproc segment created by
 * a process of this test's tree, or a file that is not an mproc segment
 * (tests plant those by hand) changed since the test started. */
static bool shm_entry_is_ours(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    struct mproc__seg_hdr h;
    struct stat st;
    bool seg = pread(fd, &h, sizeof h, 0) == (ssize_t)sizeof h &&
               atomic_load(&h.magic) == MPROC__SEG_MAGIC;
    bool fresh =
        fstat(fd, &st) == 0 &&
        (st.st_ctim.tv_sec > setup_time.tv_sec ||
         (st.st_ctim.tv_sec == setup_time.tv_sec && st.st_ctim.tv_nsec >= setup_time.tv_nsec));
    close(fd);
    return seg ? tree_has(h.creator_pid) : fresh;
}

static int list_fds(int *out, int max)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0, self = d ? dirfd(d) : -1;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = atoi(e->d_name);
        if (fd != self && n < max)
            out[n++] = fd;
    }
    if (d)
        closedir(d);
    return n;
}

static int list_shm(char **out, int max)
{
    DIR *d = opendir("/dev/shm");
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "mproc-", 6) == 0 && n < max)
            out[n++] = strdup(e->d_name);
    }
    if (d)
        closedir(d);
    return n;
}

int mproc_test_shm_count(void)
{
    char *names[MAX_TRACK];
    int n = list_shm(names, MAX_TRACK);
    for (int i = 0; i < n; i++)
        free(names[i]);
    return n;
}

int mproc_test_fd_count(void)
{
    int fds[MAX_TRACK];
    return list_fds(fds, MAX_TRACK);
}

int mproc_test_child_count(void)
{
    /* /proc/<pid>/task/<tid>/children lists each thread's children. */
    DIR *d = opendir("/proc/self/task");
    int count = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char path[300], buf[4096];
        snprintf(path, sizeof path, "/proc/self/task/%s/children", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = '\0';
        for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
            count++;
    }
    if (d)
        closedir(d);
    return count;
}

void mproc_test_setup(void)
{
    nfds_before = list_fds(fds_before, MAX_TRACK);
    nshm_before = list_shm(shm_before, MAX_TRACK);
    /* File times on tmpfs come from the coarse clock: compare with it, and
     * allow one tick of it. */
    clock_gettime(CLOCK_REALTIME_COARSE, &setup_time);
    struct timespec tick;
    clock_getres(CLOCK_REALTIME_COARSE, &tick);
    setup_time.tv_nsec -= tick.tv_nsec;
    if (setup_time.tv_nsec < 0) {
        setup_time.tv_sec--;
        setup_time.tv_nsec += 1000000000L;
    }
    tree = mmap(NULL, sizeof *tree, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (tree == MAP_FAILED)
        tree = NULL;
    else
        pthread_atfork(NULL, NULL, tree_note_child);
}

void mproc_test_teardown(void)
{
    /* Children: give exiting ones a moment, then insist. */
    int kids = mproc_test_child_count();
    for (int i = 0; kids > 0 && i < 200; i++) {
        mproc_test_sleep_ms(5);
        kids = mproc_test_child_count();
    }
    cr_assert(kids == 0, "test left %d child process(es) behind", kids);

    int fds[MAX_TRACK];
    int n = list_fds(fds, MAX_TRACK);
    for (int i = 0; i < n; i++) {
        bool known = false;
        for (int j = 0; j < nfds_before && !known; j++)
            known = fds[i] == fds_before[j];
        if (!known) {
            char path[64], target[256] = "?";
            snprintf(path, sizeof path, "/proc/self/fd/%d", fds[i]);
            ssize_t l = readlink(path, target, sizeof target - 1);
            if (l > 0)
                target[l] = '\0';
            cr_assert(known, "test leaked fd %d (%s)", fds[i], target);
        }
    }

    /* A new entry is blamed (and removed) only if this test made it. */
    char *names[MAX_TRACK];
    int m = list_shm(names, MAX_TRACK);
    char leaked[300] = "";
    for (int i = 0; i < m; i++) {
        bool known = false;
        for (int j = 0; j < nshm_before && !known; j++)
            known = strcmp(names[i], shm_before[j]) == 0;
        if (!known && leaked[0] == '\0' && shm_entry_is_ours(names[i])) {
            char path[512];
            snprintf(leaked, sizeof leaked, "%s", names[i]);
            snprintf(path, sizeof path, "/dev/shm/%s", names[i]);
            unlink(path);
        }
        free(names[i]);
    }
    for (int j = 0; j < nshm_before; j++)
        free(shm_before[j]);
    cr_assert(leaked[0] == '\0', "test left /dev/shm/%s behind", leaked);
}

pid_t mproc_test_fork(int (*fn)(void *), void *arg)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    cr_assert(pid > 0, "fork failed: %s", strerror(errno));
    return pid;
}

void mproc_test_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

int mproc_test_wait(pid_t pid, int timeout_ms)
{
    int status;
    for (int waited = 0;; waited++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0)
            return -2;
        if (waited >= timeout_ms)
            break;
        mproc_test_sleep_ms(1);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}
