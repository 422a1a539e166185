/* test_error.c - the error model: codes, names, descriptions, version. */
#include "harness.h"

#include <string.h>

MPROC_TEST(error, errno_twins_are_negative_errno)
{
    cr_assert_eq(MPROC_EAGAIN, -EAGAIN);
    cr_assert_eq(MPROC_ETIMEDOUT, -ETIMEDOUT);
    cr_assert_eq(MPROC_EOWNERDEAD, -EOWNERDEAD);
}

MPROC_TEST(error, own_codes_live_in_reserved_range)
{
    const int own[] = {MPROC_ECLOSED,     MPROC_EBROKEN,     MPROC_EFOREIGN, MPROC_EVERSION,
                       MPROC_ECORRUPT,    MPROC_EPEERDEAD,   MPROC_ENOENTRY, MPROC_ENOTCHILD,
                       MPROC_ETASKFAILED, MPROC_EWORKERDIED, MPROC_ELOST,    MPROC_ENOTOWNER};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        cr_assert(own[i] <= -4000 && own[i] >= -4199);
        cr_assert_str_neq(mproc_err_name(own[i]), "MPROC_EUNKNOWN");
        cr_assert_str_neq(mproc_strerror(own[i]), "unknown error");
    }
}

MPROC_TEST(error, names_and_texts)
{
    cr_assert_str_eq(mproc_err_name(MPROC_ETIMEDOUT), "MPROC_ETIMEDOUT");
    cr_assert_str_eq(mproc_err_name(MPROC_ECLOSED), "MPROC_ECLOSED");
    cr_assert_str_eq(mproc_err_name(0), "MPROC_OK");
    cr_assert_str_eq(mproc_strerror(MPROC_ECLOSED), "closed");
}

MPROC_TEST(error, unknown_codes_never_give_null)
{
    cr_assert_str_eq(mproc_err_name(-123456), "MPROC_EUNKNOWN");
    cr_assert_str_eq(mproc_strerror(-123456), "unknown error");
    cr_assert_str_eq(mproc_strerror(7), "unknown error");
}

MPROC_TEST(error, version_matches_header)
{
    cr_assert_eq(mproc_version(), (unsigned)MPROC_VERSION_HEX);
    cr_assert_str_eq(mproc_version_string(), MPROC_VERSION_STRING);
}
