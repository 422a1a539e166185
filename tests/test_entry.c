/* test_entry.c - the entry-point registry: names, duplicates, threads. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static int entry_a(const void *arg, size_t len)
{
    (void)arg;
    return (int)len;
}
MPROC_ENTRY(entry_a)

static int entry_b(const void *arg, size_t len)
{
    (void)arg;
    return (int)len + 1;
}
MPROC_ENTRY_NAMED("pkg.entry-b_2", entry_b)

MPROC_TEST(entry, macro_registers_before_main)
{
    cr_assert_eq(mproc_entry_find("entry_a"), entry_a);
    cr_assert_eq(mproc_entry_find("pkg.entry-b_2"), entry_b);
}

MPROC_TEST(entry, unknown_name_finds_nothing)
{
    cr_assert_null(mproc_entry_find("entry_c"));
    cr_assert_null(mproc_entry_find(""));
    cr_assert_null(mproc_entry_find(NULL));
    cr_assert_null(mproc_entry_find("entry_a "));
}

MPROC_TEST(entry, registering_the_same_pair_twice_is_fine)
{
    MPROC_ASSERT_OK(mproc_entry_register("entry_a", entry_a));
    MPROC_ASSERT_OK(mproc_entry_register("again", entry_b));
    MPROC_ASSERT_OK(mproc_entry_register("again", entry_b));
    cr_assert_eq(mproc_entry_find("again"), entry_b);
}

MPROC_TEST(entry, a_taken_name_gives_eexist)
{
    MPROC_ASSERT_RC(mproc_entry_register("entry_a", entry_b), MPROC_EEXIST);
    cr_assert_eq(mproc_entry_find("entry_a"), entry_a, "the first registration stays");
}

MPROC_TEST(entry, bad_names_and_null_function_give_einval)
{
    char longest[64], too_long[65];
    memset(longest, 'n', 63);
    longest[63] = '\0';
    memset(too_long, 'n', 64);
    too_long[64] = '\0';
    const char *bad[] = {NULL, "", "a b", "a/b", "tab\t", "ünï", "semi;colon", too_long};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        MPROC_ASSERT_RC(mproc_entry_register(bad[i], entry_a), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_entry_register("fine", NULL), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_entry_register(longest, entry_a));
    cr_assert_eq(mproc_entry_find(longest), entry_a);
    cr_assert_null(mproc_entry_find(too_long));
}

static void *register_many(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (int i = 0; i < 200; i++) {
        char name[32];
        snprintf(name, sizeof name, "t%d.e%d", t, i);
        if (mproc_entry_register(name, (i & 1) ? entry_a : entry_b) != 0)
            return (void *)1;
        if (mproc_entry_find(name) == NULL)
            return (void *)2;
    }
    return NULL;
}

MPROC_TEST(entry, threads_register_and_find_concurrently)
{
    pthread_t th[4];
    for (int t = 0; t < 4; t++)
        cr_assert_eq(pthread_create(&th[t], NULL, register_many, (void *)(intptr_t)t), 0);
    for (int t = 0; t < 4; t++) {
        void *res;
        pthread_join(th[t], &res);
        cr_assert_null(res, "thread %d failed (%p)", t, res);
    }
    for (int t = 0; t < 4; t++)
        for (int i = 0; i < 200; i++) {
            char name[32];
            snprintf(name, sizeof name, "t%d.e%d", t, i);
            cr_assert_eq(mproc_entry_find(name), (i & 1) ? entry_a : entry_b);
        }
    cr_assert_eq(mproc_entry_find("entry_a"), entry_a);
}

MPROC_TEST(entry, spawn_is_refused_when_main_did_not_call_mproc_main)
{
    /* This binary runs Criterion's own main(): a spawned copy would start
     * the test runner again instead of the entry. */
    struct mproc_process_opts o = {.start_method = MPROC_START_SPAWN, .entry = "entry_a"};
    mproc_process *p = NULL;
    MPROC_ASSERT_RC(mproc_process_start(&p, NULL, NULL, &o), MPROC_EINVAL);
    cr_assert_null(p);
}
