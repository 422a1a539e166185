/* linux/cpu.c - how many CPUs this process may really use.
 *
 * Rules (the same as the JVM's and Go's container awareness, stated here so
 * that they can be tested):
 *  1. start from the size of the affinity mask (sched_getaffinity, with a
 *     mask grown until the kernel accepts it: hosts may have > 1024 CPUs);
 *  2. find our cgroups in /proc/self/cgroup: the v2 line "0::<path>" and a
 *     v1 line whose controller list holds "cpu";
 *  3. walk from <root>/<path> up to <root> (v1: <root>/<the cpu mount>),
 *     reading cpu.max (v2: "max P" or "Q P") or cpu.cfs_quota_us and
 *     cpu.cfs_period_us (v1: quota -1 = none); keep the smallest Q/P. When
 *     <root>/<path> does not exist (a container that sees the host's path
 *     without a cgroup namespace), only the files at <root> are read;
 *  4. the limit is ceil(Q/P), at least 1; the answer is min(affinity, limit).
 *
 * The parsers take the file contents and a root directory, so that tests can
 * build fake trees in a temporary directory.
 */
#include "../internal.h"
#include "child.h"

#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads at most size-1 bytes of a small file; 0 or a negative code. */
static int read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return mproc__err();
    size_t got = 0;
    while (got < size - 1) {
        ssize_t n = read(fd, buf + got, size - 1 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    return 0;
}

static bool parse_i64(const char **s, int64_t *out)
{
    const char *p = *s;
    bool neg = *p == '-';
    if (neg)
        p++;
    if (*p < '0' || *p > '9')
        return false;
    int64_t v = 0;
    while (*p >= '0' && *p <= '9') {
        if (v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (*p - '0');
        p++;
    }
    *out = neg ? -v : v;
    *s = p;
    return true;
}

MPROC__TEST_API int mproc__cpu_parse_v2(const char *text, int64_t *quota, int64_t *period)
{
    if (text == NULL)
        return MPROC_EINVAL;
    const char *p = text;
    int64_t q = -1, per = 100000;
    bool unlimited = strncmp(p, "max", 3) == 0;
    if (unlimited)
        p += 3;
    else if (!parse_i64(&p, &q) || q <= 0)
        return MPROC_EINVAL;
    if (*p == ' ') {
        p++;
        if (!parse_i64(&p, &per) || per <= 0)
            return MPROC_EINVAL;
    }
    if (*p == '\n')
        p++;
    if (*p != '\0')
        return MPROC_EINVAL;
    if (unlimited)
        return 0;
    *quota = q;
    *period = per;
    return 1;
}

/* true and *v if dir/file holds a positive number. */
static bool read_positive(const char *dir, const char *file, int64_t *v)
{
    char path[PATH_MAX + 32], buf[64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (read_small(path, buf, sizeof buf) < 0)
        return false;
    const char *p = buf;
    return parse_i64(&p, v) && *v > 0;
}

/* 1 and quota/period if the v1 files in dir set a limit, else 0. */
static int read_v1(const char *dir, int64_t *quota, int64_t *period)
{
    int64_t q, per;
    if (!read_positive(dir, "cpu.cfs_quota_us", &q) ||
        !read_positive(dir, "cpu.cfs_period_us", &per))
        return 0;
    *quota = q;
    *period = per;
    return 1;
}

static int read_v2(const char *dir, int64_t *quota, int64_t *period)
{
    char path[PATH_MAX + 32], buf[64];
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    if (read_small(path, buf, sizeof buf) < 0)
        return 0;
    return mproc__cpu_parse_v2(buf, quota, period) == 1;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Walks base+rel up to base, keeping the smallest ratio in *best (cpus). */
static void walk(const char *base, const char *rel, bool v2, double *best)
{
    char dir[PATH_MAX];
    if (strstr(rel, "..") != NULL)
        rel = "/";
    int n = snprintf(dir, sizeof dir, "%s%s%s", base, rel[0] == '/' ? "" : "/", rel);
    if (n < 0 || (size_t)n >= sizeof dir)
        return;
    size_t base_len = strlen(base);
    while (strlen(dir) > base_len && dir[strlen(dir) - 1] == '/')
        dir[strlen(dir) - 1] = '\0';
    if (!is_dir(dir))
        dir[base_len] = '\0';
    for (;;) {
        int64_t q, p;
        int lim = v2 ? read_v2(dir, &q, &p) : read_v1(dir, &q, &p);
        if (lim == 1) {
            double cpus = (double)q / (double)p;
            if (*best == 0 || cpus < *best)
                *best = cpus;
        }
        if (strlen(dir) <= base_len)
            break;
        char *slash = strrchr(dir + base_len, '/');
        if (slash == NULL)
            break;
        *slash = '\0';
    }
}

static bool has_cpu_controller(const char *list, size_t len)
{
    const char *p = list, *end = list + len;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        if (stop - p == 3 && strncmp(p, "cpu", 3) == 0)
            return true;
        p = stop + 1;
    }
    return false;
}

MPROC__TEST_API int mproc__cpu_quota_limit(const char *root, const char *cgroup_text)
{
    if (root == NULL || cgroup_text == NULL)
        return 0;
    double best = 0;
    const char *line = cgroup_text;
    while (*line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        char buf[PATH_MAX];
        if (len < sizeof buf) {
            memcpy(buf, line, len);
            buf[len] = '\0';
            char *c1 = strchr(buf, ':');
            char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c2) {
                *c1 = '\0';
                *c2 = '\0';
                const char *ctrl = c1 + 1, *path = c2 + 1;
                char base[PATH_MAX];
                if (strcmp(buf, "0") == 0 && ctrl[0] == '\0') {
                    walk(root, path, true, &best);
                } else if (has_cpu_controller(ctrl, strlen(ctrl))) {
                    /* The v1 cpu hierarchy is mounted under its controller
                     * list ("cpu,cpuacct"), often with a "cpu" link. */
                    snprintf(base, sizeof base, "%s/%s", root, ctrl);
                    if (!is_dir(base))
                        snprintf(base, sizeof base, "%s/cpu", root);
                    if (is_dir(base))
                        walk(base, path, false, &best);
                }
            }
        }
        line += len;
        if (*line == '\n')
            line++;
    }
    if (best <= 0)
        return 0;
    double up = (double)(int64_t)best;
    if (up < best)
        up += 1;
    if (up < 1)
        up = 1;
    return up > INT_MAX ? INT_MAX : (int)up;
}

static int affinity_count(void)
{
    for (int ncpu = 1024; ncpu <= (1 << 20); ncpu *= 2) {
        cpu_set_t *set = CPU_ALLOC((size_t)ncpu);
        if (set == NULL)
            return 0;
        size_t size = CPU_ALLOC_SIZE((size_t)ncpu);
        int rc = sched_getaffinity(0, size, set);
        int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
        int err = errno;
        CPU_FREE(set);
        if (rc == 0)
            return n;
        if (err != EINVAL)
            return 0;
    }
    return 0;
}

MPROC_API int mproc_cpu_count_host(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > INT_MAX ? INT_MAX : (int)n);
}

MPROC_API int mproc_cpu_count(void)
{
    int n = affinity_count();
    if (n < 1)
        n = mproc_cpu_count_host();
    char text[4096];
    if (read_small("/proc/self/cgroup", text, sizeof text) == 0) {
        int lim = mproc__cpu_quota_limit("/sys/fs/cgroup", text);
        if (lim > 0 && lim < n)
            n = lim;
    }
    return n < 1 ? 1 : n;
}
