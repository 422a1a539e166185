/* test_value.c - shared Values and Arrays: types, atomic add across
 * processes, the attached lock, raw values, named open and validation. */
#include "harness.h"

#include <stdint.h>
#include <sys/wait.h>

#define ADDS 20000

static int add_many(void *arg)
{
    mproc_value *v = arg;
    for (int i = 0; i < ADDS; i++)
        if (mproc_value_add_i64(v, 1, NULL) != 0)
            return 1;
    return 0;
}

MPROC_TEST(value, atomic_add_from_three_processes_loses_nothing)
{
    mproc_value *v;
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_I64, NULL, MPROC_VALUE_RAW));
    pid_t a = mproc_test_fork(add_many, v), b = mproc_test_fork(add_many, v);
    cr_assert_eq(add_many(v), 0);
    int sa = mproc_test_wait(a, 10000), sb = mproc_test_wait(b, 10000);
    cr_assert(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
    cr_assert(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
    int64_t x;
    MPROC_ASSERT_OK(mproc_value_get_i64(v, &x));
    cr_assert_eq(x, 3 * ADDS);
    MPROC_ASSERT_OK(mproc_value_close(v));
}

static int add_under_lock(void *arg)
{
    mproc_value *v = arg;
    double *d = mproc_value_ptr(v);
    for (int i = 0; i < ADDS; i++) {
        if (mproc_value_acquire(v, 10000) != 0)
            return 1;
        *d += 1.0; /* a plain read-modify-write: the lock's job */
        if (mproc_value_release(v) != 0)
            return 2;
    }
    return 0;
}

MPROC_TEST(value, lock_protects_multi_step_updates)
{
    mproc_value *v;
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_F64, NULL, 0));
    cr_assert_eq(mproc_value_type(v), MPROC_TYPE_F64);
    pid_t a = mproc_test_fork(add_under_lock, v);
    cr_assert_eq(add_under_lock(v), 0);
    int sa = mproc_test_wait(a, 10000);
    cr_assert(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
    double d;
    MPROC_ASSERT_OK(mproc_value_get_f64(v, &d));
    cr_assert_eq(d, 2.0 * ADDS);
    MPROC_ASSERT_OK(mproc_value_close(v));
}

MPROC_TEST(value, lock_is_recursive_and_raw_values_have_none)
{
    mproc_value *v, *raw;
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_I32, NULL, 0));
    MPROC_ASSERT_OK(mproc_value_acquire(v, 0));
    MPROC_ASSERT_OK(mproc_value_acquire(v, 0));
    MPROC_ASSERT_OK(mproc_value_release(v));
    MPROC_ASSERT_OK(mproc_value_release(v));
    MPROC_ASSERT_RC(mproc_value_release(v), MPROC_ENOTOWNER);
    MPROC_ASSERT_OK(mproc_value_create(&raw, MPROC_TYPE_I32, NULL, MPROC_VALUE_RAW));
    MPROC_ASSERT_RC(mproc_value_acquire(raw, 0), MPROC_ENOTSUP);
    MPROC_ASSERT_RC(mproc_value_release(raw), MPROC_ENOTSUP);
    MPROC_ASSERT_OK(mproc_value_close(raw));
    MPROC_ASSERT_OK(mproc_value_close(v));
}

MPROC_TEST(value, integer_types_truncate_and_wrap_like_c)
{
    static const struct {
        mproc_type t;
        int64_t set, get;
    } cases[] = {
        {MPROC_TYPE_I8, 300, 44},
        {MPROC_TYPE_U8, -1, 255},
        {MPROC_TYPE_I16, 40000, -25536},
        {MPROC_TYPE_U16, 70000, 4464},
        {MPROC_TYPE_I32, -5, -5},
        {MPROC_TYPE_U32, -1, 4294967295LL},
        {MPROC_TYPE_I64, INT64_MIN, INT64_MIN},
        {MPROC_TYPE_U64, 7, 7},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mproc_value *v;
        int64_t x;
        MPROC_ASSERT_OK(mproc_value_create(&v, cases[i].t, NULL, MPROC_VALUE_RAW));
        MPROC_ASSERT_OK(mproc_value_set_i64(v, cases[i].set));
        MPROC_ASSERT_OK(mproc_value_get_i64(v, &x));
        cr_assert_eq(x, cases[i].get, "type %d: got %lld", cases[i].t, (long long)x);
        MPROC_ASSERT_OK(mproc_value_close(v));
    }
    mproc_value *v;
    int64_t r;
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_U8, NULL, 0));
    MPROC_ASSERT_OK(mproc_value_set_i64(v, 250));
    MPROC_ASSERT_OK(mproc_value_add_i64(v, 10, &r));
    cr_assert_eq(r, 4);
    MPROC_ASSERT_OK(mproc_value_close(v));
}

MPROC_TEST(value, float_values_refuse_integer_calls)
{
    mproc_value *v;
    double d;
    int64_t x;
    MPROC_ASSERT_OK(mproc_value_create(&v, MPROC_TYPE_F32, NULL, 0));
    MPROC_ASSERT_OK(mproc_value_set_f64(v, 1.5));
    MPROC_ASSERT_OK(mproc_value_get_f64(v, &d));
    cr_assert_eq(d, 1.5);
    MPROC_ASSERT_RC(mproc_value_get_i64(v, &x), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_value_set_i64(v, 1), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_value_add_i64(v, 1, NULL), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_value_close(v));
}

MPROC_TEST(value, array_elements_and_bounds)
{
    mproc_array *a;
    int64_t x;
    MPROC_ASSERT_OK(mproc_array_create(&a, MPROC_TYPE_I32, 10, NULL, 0));
    cr_assert_eq(mproc_array_len(a), 10u);
    cr_assert_eq(mproc_array_type(a), MPROC_TYPE_I32);
    int32_t *p = mproc_array_ptr(a);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(p[i], 0);
    MPROC_ASSERT_OK(mproc_array_set_i64(a, 9, 99));
    cr_assert_eq(p[9], 99);
    MPROC_ASSERT_OK(mproc_array_add_i64(a, 9, 1, &x));
    cr_assert_eq(x, 100);
    MPROC_ASSERT_RC(mproc_array_get_i64(a, 10, &x), MPROC_ERANGE);
    MPROC_ASSERT_RC(mproc_array_set_i64(a, 10, 1), MPROC_ERANGE);
    MPROC_ASSERT_RC(mproc_array_add_i64(a, SIZE_MAX, 1, NULL), MPROC_ERANGE);
    MPROC_ASSERT_OK(mproc_array_close(a));
}

MPROC_TEST(value, bad_arguments_give_einval)
{
    mproc_array *a = (mproc_array *)0x1;
    mproc_value *v;
    MPROC_ASSERT_RC(mproc_array_create(&a, (mproc_type)0, 1, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_array_create(&a, (mproc_type)99, 1, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_array_create(&a, MPROC_TYPE_I8, 0, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_array_create(&a, MPROC_TYPE_I64, SIZE_MAX / 2, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_array_create(&a, MPROC_TYPE_I8, 1, NULL, 0x10), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_array_create(&a, MPROC_TYPE_I8, 1, "", 0), MPROC_EINVAL);
    cr_assert_eq(a, (mproc_array *)0x1);
    MPROC_ASSERT_RC(mproc_value_create(NULL, MPROC_TYPE_I8, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_value_open(&v, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_value_get_i64(NULL, NULL), MPROC_EINVAL);
    cr_assert_eq(mproc_type_size(MPROC_TYPE_F64), 8u);
    cr_assert_eq(mproc_type_size((mproc_type)0), 0u);
}

static int open_named_and_add(void *arg)
{
    (void)arg;
    mproc_array *a;
    if (mproc_array_open(&a, "test-value-arr") != 0)
        return 1;
    if (mproc_array_len(a) != 4 || mproc_array_type(a) != MPROC_TYPE_U16)
        return 2;
    int rc = mproc_array_add_i64(a, 3, 5, NULL);
    mproc_array_close(a);
    return rc == 0 ? 0 : 3;
}

MPROC_TEST(value, named_array_is_opened_with_its_type_and_length)
{
    mproc_array *a;
    mproc_value *v;
    int64_t x;
    mproc_array_unlink("test-value-arr");
    MPROC_ASSERT_OK(mproc_array_create(&a, MPROC_TYPE_U16, 4, "test-value-arr", 0));
    pid_t pid = mproc_test_fork(open_named_and_add, NULL);
    int st = mproc_test_wait(pid, 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d", st);
    MPROC_ASSERT_OK(mproc_array_get_i64(a, 3, &x));
    cr_assert_eq(x, 5);
    /* An array of 4 is not a Value. */
    MPROC_ASSERT_RC(mproc_value_open(&v, "test-value-arr"), MPROC_EFOREIGN);
    MPROC_ASSERT_RC(mproc_array_create(&a, MPROC_TYPE_U16, 4, "test-value-arr", 0), MPROC_EEXIST);
    MPROC_ASSERT_OK(mproc_array_close(a));
    MPROC_ASSERT_OK(mproc_array_unlink("test-value-arr"));
}

MPROC_TEST(value, corrupt_header_is_refused_on_open)
{
    mproc_array *a, *b;
    mproc_array_unlink("test-value-bad");
    MPROC_ASSERT_OK(mproc_array_create(&a, MPROC_TYPE_I64, 2, "test-value-bad", 0));
    uint32_t *hdr = (uint32_t *)((char *)mproc_array_ptr(a) - 64);
    uint64_t *n = (uint64_t *)(hdr + 2);
    *n = 1u << 30; /* a hostile peer claims a huge array */
    MPROC_ASSERT_RC(mproc_array_open(&b, "test-value-bad"), MPROC_ECORRUPT);
    *n = 2;
    hdr[0] = 77; /* unknown type */
    MPROC_ASSERT_RC(mproc_array_open(&b, "test-value-bad"), MPROC_ECORRUPT);
    MPROC_ASSERT_OK(mproc_array_close(a));
    MPROC_ASSERT_OK(mproc_array_unlink("test-value-bad"));
}
