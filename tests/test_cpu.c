/* test_cpu.c - mproc_cpu_count(): affinity, cgroup v2 cpu.max and v1 CFS
 * quotas, read from fake cgroup trees in a temporary directory. */
#include "harness.h"

#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* Private parsers of src/linux/cpu.c (exported by test builds only). */
MPROC_API int mproc__cpu_parse_v2(const char *text, int64_t *quota, int64_t *period);
MPROC_API int mproc__cpu_quota_limit(const char *root, const char *cgroup_text);

static char root[64];
static char made[32][PATH_MAX];
static int nmade;

static void tree_init(void)
{
    snprintf(root, sizeof root, "/tmp/mproc-cpu-XXXXXX");
    cr_assert_not_null(mkdtemp(root));
    nmade = 0;
}

/* Creates root/rel (and its parent directories) holding text. */
static void put(const char *rel, const char *text)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *s = path + strlen(root) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        if (mkdir(path, 0700) == 0)
            snprintf(made[nmade++], PATH_MAX, "%s", path);
        *s = '/';
    }
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot create %s", path);
    fputs(text, f);
    fclose(f);
    snprintf(made[nmade++], PATH_MAX, "%s", path);
}

static void tree_remove(void)
{
    for (int i = nmade - 1; i >= 0; i--)
        remove(made[i]);
    rmdir(root);
}

MPROC_TEST(cpu, count_is_between_one_and_the_affinity_mask)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    cr_assert_eq(sched_getaffinity(0, sizeof set, &set), 0);
    int n = mproc_cpu_count();
    cr_assert_geq(n, 1);
    cr_assert_leq(n, CPU_COUNT(&set));
    cr_assert_geq(mproc_cpu_count_host(), 1);
}

static int count_with_one_cpu(void *arg)
{
    (void)arg;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(0, &set);
    if (sched_setaffinity(0, sizeof set, &set) != 0)
        return 2;
    return mproc_cpu_count() == 1 ? 0 : 1;
}

MPROC_TEST(cpu, count_follows_a_narrowed_affinity_mask)
{
    pid_t c = mproc_test_fork(count_with_one_cpu, NULL);
    int st = mproc_test_wait(c, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

MPROC_TEST(cpu, v2_cpu_max_parses_quota_and_period)
{
    int64_t q = 0, p = 0;
    MPROC_ASSERT_RC(mproc__cpu_parse_v2("max 100000\n", &q, &p), 0);
    MPROC_ASSERT_RC(mproc__cpu_parse_v2("max", &q, &p), 0);
    MPROC_ASSERT_RC(mproc__cpu_parse_v2("150000 100000\n", &q, &p), 1);
    cr_assert(q == 150000 && p == 100000);
    MPROC_ASSERT_RC(mproc__cpu_parse_v2("50000 100000", &q, &p), 1);
    cr_assert(q == 50000 && p == 100000);
}

MPROC_TEST(cpu, v2_cpu_max_rejects_garbage)
{
    int64_t q = 7, p = 7;
    const char *bad[] = {"",
                         "abc",
                         "-5 100000",
                         "0 100000",
                         "100 0",
                         "100 -1",
                         "100 100 100",
                         "max x",
                         "99999999999999999999999 1",
                         "100\n100"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        MPROC_ASSERT_RC(mproc__cpu_parse_v2(bad[i], &q, &p), MPROC_EINVAL);
    cr_assert(q == 7 && p == 7, "out-params written on failure");
    MPROC_ASSERT_RC(mproc__cpu_parse_v2(NULL, &q, &p), MPROC_EINVAL);
}

MPROC_TEST(cpu, v2_quota_rounds_up)
{
    tree_init();
    put("a/cpu.max", "150000 100000\n");
    int two = mproc__cpu_quota_limit(root, "0::/a\n");
    put("b/cpu.max", "50000 100000\n");
    int one = mproc__cpu_quota_limit(root, "0::/b\n");
    put("c/cpu.max", "max 100000\n");
    int none = mproc__cpu_quota_limit(root, "0::/c\n");
    tree_remove();
    cr_assert_eq(two, 2);
    cr_assert_eq(one, 1);
    cr_assert_eq(none, 0);
}

MPROC_TEST(cpu, v2_nested_quota_takes_the_smallest_along_the_path)
{
    tree_init();
    put("cpu.max", "800000 100000\n");
    put("outer/cpu.max", "250000 100000\n");
    put("outer/inner/cpu.max", "max 100000\n");
    put("outer/inner/leaf/cpu.max", "400000 100000\n");
    int lim = mproc__cpu_quota_limit(root, "0::/outer/inner/leaf\n");
    int lim_inner = mproc__cpu_quota_limit(root, "0::/outer/inner\n");
    tree_remove();
    cr_assert_eq(lim, 3);
    cr_assert_eq(lim_inner, 3);
}

MPROC_TEST(cpu, v2_missing_path_falls_back_to_the_root)
{
    /* A container without a cgroup namespace sees the host's path. */
    tree_init();
    put("cpu.max", "200000 100000\n");
    int lim = mproc__cpu_quota_limit(root, "0::/system.slice/docker-1234.scope\n");
    tree_remove();
    cr_assert_eq(lim, 2);
}

MPROC_TEST(cpu, v1_cfs_quota_and_period)
{
    tree_init();
    put("cpu,cpuacct/job/cpu.cfs_quota_us", "300000\n");
    put("cpu,cpuacct/job/cpu.cfs_period_us", "100000\n");
    put("cpu,cpuacct/cpu.cfs_quota_us", "-1\n");
    put("cpu,cpuacct/cpu.cfs_period_us", "100000\n");
    put("cpu,cpuacct/free/cpu.cfs_quota_us", "-1\n");
    put("cpu,cpuacct/free/cpu.cfs_period_us", "100000\n");
    const char *cg = "12:memory:/job\n4:cpu,cpuacct:/job\n0::/\n";
    int lim = mproc__cpu_quota_limit(root, cg);
    int none = mproc__cpu_quota_limit(root, "4:cpu,cpuacct:/free\n");
    int other = mproc__cpu_quota_limit(root, "4:cpuset:/job\n");
    tree_remove();
    cr_assert_eq(lim, 3);
    cr_assert_eq(none, 0);
    cr_assert_eq(other, 0, "a controller named like cpu* is not cpu");
}

MPROC_TEST(cpu, no_files_or_garbage_means_no_limit)
{
    tree_init();
    put("x/cpu.max", "garbage\n");
    int garbage = mproc__cpu_quota_limit(root, "0::/x\n");
    int missing = mproc__cpu_quota_limit(root, "0::/nowhere\n");
    int junk = mproc__cpu_quota_limit(root, "no colons here\n::\n0::\n");
    int escape = mproc__cpu_quota_limit(root, "0::/../../etc\n");
    tree_remove();
    cr_assert_eq(garbage, 0);
    cr_assert_eq(missing, 0);
    cr_assert_eq(junk, 0);
    cr_assert_eq(escape, 0);
    cr_assert_eq(mproc__cpu_quota_limit(NULL, "0::/"), 0);
    cr_assert_eq(mproc__cpu_quota_limit("/tmp", NULL), 0);
}

MPROC_TEST(cpu, tiny_quota_still_gives_one_cpu)
{
    tree_init();
    put("t/cpu.max", "1000 100000\n");
    int lim = mproc__cpu_quota_limit(root, "0::/t\n");
    tree_remove();
    cr_assert_eq(lim, 1);
}
