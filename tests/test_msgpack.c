/* test_msgpack.c - values (msgpack) through pipes and queues across fork,
 * validation of what arrives, and the Python style repr. */
#include "harness.h"

#include <mproc/msgpack.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int exited_with(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : 1000 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* The tutorial's list: [42, None, 'hello']. */
static void pack_tutorial_list(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "hello", 5);
}

static void assert_tutorial_list(const msgpack_object *o)
{
    cr_assert_eq(o->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(o->via.array.size, 3u);
    cr_assert_eq(o->via.array.ptr[0].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    cr_assert_eq(o->via.array.ptr[0].via.u64, 42u);
    cr_assert_eq(o->via.array.ptr[1].type, MSGPACK_OBJECT_NIL, "None stays None");
    cr_assert_eq(o->via.array.ptr[2].type, MSGPACK_OBJECT_STR);
    char buf[64];
    cr_assert_eq(mproc_msgpack_repr(o, buf, sizeof buf), 19);
    cr_assert_str_eq(buf, "[42, None, 'hello']");
}

static int child_pipe_list(void *arg)
{
    mproc_pipe **ends = arg;
    mproc_pipe_close(ends[0]);
    msgpack_sbuffer sb;
    pack_tutorial_list(&sb);
    int rc = mproc_pipe_send_msgpack(ends[1], &sb, 5000);
    msgpack_sbuffer_destroy(&sb);
    mproc_pipe_close(ends[1]);
    return rc == 0 ? 0 : 1;
}

MPROC_TEST(msgpack, tutorial_list_round_trips_through_a_pipe_across_fork)
{
    mproc_pipe *ends[2];
    MPROC_ASSERT_OK(mproc_pipe_create(&ends[0], &ends[1], MPROC_PIPE_ONEWAY));
    pid_t pid = mproc_test_fork(child_pipe_list, ends);
    MPROC_ASSERT_OK(mproc_pipe_close(ends[1]));
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    MPROC_ASSERT_OK(mproc_pipe_recv_msgpack(ends[0], &v, 5000));
    assert_tutorial_list(&v.obj);
    MPROC_ASSERT_RC(mproc_pipe_recv_msgpack(ends[0], &v, 5000), MPROC_ECLOSED);
    assert_tutorial_list(&v.obj); /* untouched by the failed receive */
    mproc_msgpack_value_destroy(&v);
    mproc_msgpack_value_destroy(&v);
    cr_assert_eq(v.obj.type, MSGPACK_OBJECT_NIL);
    cr_assert_eq(exited_with(mproc_test_wait(pid, 5000)), 0);
    MPROC_ASSERT_OK(mproc_pipe_close(ends[0]));
}

static int child_queue_list(void *arg)
{
    mproc_queue *q = arg;
    msgpack_sbuffer sb;
    pack_tutorial_list(&sb);
    int rc = mproc_queue_put_msgpack(q, &sb, 5000);
    msgpack_sbuffer_destroy(&sb);
    mproc_queue_close(q);
    return rc == 0 ? 0 : 1;
}

MPROC_TEST(msgpack, tutorial_list_round_trips_through_a_queue_across_fork)
{
    mproc_queue *q;
    MPROC_ASSERT_OK(mproc_queue_create(&q, NULL, NULL));
    pid_t pid = mproc_test_fork(child_queue_list, q);
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    MPROC_ASSERT_OK(mproc_queue_get_msgpack(q, &v, 5000));
    assert_tutorial_list(&v.obj);
    mproc_msgpack_value_destroy(&v);
    cr_assert_eq(exited_with(mproc_test_wait(pid, 5000)), 0);
    /* Garbage through the queue is refused and consumed. */
    MPROC_ASSERT_OK(mproc_queue_put(q, "\xc1", 1, 0));
    MPROC_ASSERT_RC(mproc_queue_get_msgpack(q, &v, 0), MPROC_EBADMSG);
    msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    MPROC_ASSERT_OK(mproc_queue_put_msgpack_object(q, &nil, 0));
    MPROC_ASSERT_OK(mproc_queue_get_msgpack(q, &v, 0));
    cr_assert_eq(v.obj.type, MSGPACK_OBJECT_NIL);
    mproc_msgpack_value_destroy(&v);
    MPROC_ASSERT_OK(mproc_queue_close(q));
}

static void pack_nested(msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "a", 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, -2);
    msgpack_pack_array(&pk, 0);
    msgpack_pack_str_with_body(&pk, "b", 1);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_true(&pk);
    msgpack_pack_bin_with_body(&pk, "\x00\x01'", 3);
    msgpack_pack_str_with_body(&pk, "c", 1);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_false(&pk);
    msgpack_pack_str_with_body(&pk, "it's", 4);
}

MPROC_TEST(msgpack, nested_lists_and_maps_survive_a_round_trip)
{
    static const char want[] =
        "{'a': [1, [-2, []]], 'b': {True: b\"\\x00\\x01'\"}, 'c': [1.5, False, \"it's\"]}";
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    msgpack_sbuffer sb;
    pack_nested(&sb);
    MPROC_ASSERT_OK(mproc_pipe_send_msgpack(b, &sb, 0));
    msgpack_sbuffer_destroy(&sb);
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT, w = MPROC_MSGPACK_VALUE_INIT;
    MPROC_ASSERT_OK(mproc_pipe_recv_msgpack(a, &v, 0));
    char buf[256];
    mproc_msgpack_repr(&v.obj, buf, sizeof buf);
    cr_assert_str_eq(buf, want);
    /* Sent back as an object, it comes back the same. */
    MPROC_ASSERT_OK(mproc_pipe_send_msgpack_object(a, &v.obj, 0));
    MPROC_ASSERT_OK(mproc_pipe_recv_msgpack(b, &w, 0));
    mproc_msgpack_repr(&w.obj, buf, sizeof buf);
    cr_assert_str_eq(buf, want);
    mproc_msgpack_value_destroy(&v);
    mproc_msgpack_value_destroy(&w);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

MPROC_TEST(msgpack, garbage_is_ebadmsg_and_the_pipe_stays_usable)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } bad[] = {
        {"empty message", "", 0},
        {"never-used byte 0xc1", "\xc1", 1},
        {"array cut short", "\x92\x01", 2},
        {"2^31 elements in 5 bytes", "\xdd\x7f\xff\xff\xff", 5},
        {"map32 of 2^32-1 pairs", "\xdf\xff\xff\xff\xff", 5},
        {"str32 longer than the message", "\xdb\x00\x00\x10\x00xyz", 8},
        {"ext8 cut short",
         "\xc7\x05\x01"
         "ab",
         5},
        {"trailing bytes", "\x01\x02", 2},
        {"uint64 cut short", "\xcf\x00\x00", 3},
    };
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        MPROC_ASSERT_OK(mproc_pipe_send(b, bad[i].bytes, bad[i].len, 0));
        int rc = mproc_pipe_recv_msgpack(a, &v, 0);
        cr_assert_eq(rc, MPROC_EBADMSG, "%s gave %s", bad[i].what, mproc_err_name(rc));
        rc = mproc_msgpack_unpack(&v, bad[i].bytes, bad[i].len);
        cr_assert_eq(rc, MPROC_EBADMSG, "%s (unpack) gave %s", bad[i].what, mproc_err_name(rc));
    }
    /* Nesting deeper than msgpack-c can take. */
    char deep[64];
    memset(deep, 0x91, 40);
    deep[40] = 0x01;
    MPROC_ASSERT_RC(mproc_msgpack_unpack(&v, deep, 41), MPROC_EBADMSG);
    MPROC_ASSERT_OK(mproc_msgpack_unpack(&v, deep + 40 - 20, 21));
    cr_assert_eq(v.obj.type, MSGPACK_OBJECT_ARRAY);
    /* The pipe is fine afterwards. */
    msgpack_sbuffer sb;
    pack_tutorial_list(&sb);
    MPROC_ASSERT_OK(mproc_pipe_send_msgpack(b, &sb, 0));
    msgpack_sbuffer_destroy(&sb);
    MPROC_ASSERT_OK(mproc_pipe_recv_msgpack(a, &v, 0));
    assert_tutorial_list(&v.obj);
    mproc_msgpack_value_destroy(&v);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}

static void repr_of_double(double d, const char *want)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_FLOAT64};
    o.via.f64 = d;
    char buf[64];
    mproc_msgpack_repr(&o, buf, sizeof buf);
    cr_assert_str_eq(buf, want, "repr(%.17g)", d);
}

MPROC_TEST(msgpack, repr_matches_python)
{
    repr_of_double(1.5, "1.5");
    repr_of_double(1.0, "1.0");
    repr_of_double(0.1, "0.1");
    repr_of_double(-0.0, "-0.0");
    repr_of_double(1e15, "1000000000000000.0");
    repr_of_double(1e16, "1e+16");
    repr_of_double(1e-5, "1e-05");
    repr_of_double(0.0001, "0.0001");
    repr_of_double(123.456, "123.456");
    repr_of_double(1.0 / 3, "0.3333333333333333");
    repr_of_double(NAN, "nan");
    repr_of_double(-INFINITY, "-inf");
    msgpack_object o = {.type = MSGPACK_OBJECT_FLOAT32};
    o.via.f64 = (double)1.1f;
    char buf[64];
    mproc_msgpack_repr(&o, buf, sizeof buf);
    cr_assert_str_eq(buf, "1.1");
    o.type = MSGPACK_OBJECT_NEGATIVE_INTEGER;
    o.via.i64 = INT64_MIN;
    mproc_msgpack_repr(&o, buf, sizeof buf);
    cr_assert_str_eq(buf, "-9223372036854775808");
    o.type = MSGPACK_OBJECT_STR;
    o.via.str.ptr = "tab\there \"q\" 'and' \x01 caf\xc3\xa9 \xff";
    o.via.str.size = (uint32_t)strlen(o.via.str.ptr);
    mproc_msgpack_repr(&o, buf, sizeof buf);
    cr_assert_str_eq(buf, "'tab\\there \"q\" \\'and\\' \\x01 caf\xc3\xa9 \\xff'");
    o.type = MSGPACK_OBJECT_EXT;
    o.via.ext.type = 5;
    o.via.ext.ptr = "ab";
    o.via.ext.size = 2;
    mproc_msgpack_repr(&o, buf, sizeof buf);
    cr_assert_str_eq(buf, "ExtType(code=5, data=b'ab')");
}

MPROC_TEST(msgpack, repr_cuts_like_snprintf_and_print_writes_to_a_file)
{
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    msgpack_sbuffer sb;
    pack_tutorial_list(&sb);
    MPROC_ASSERT_OK(mproc_msgpack_unpack(&v, sb.data, sb.size));
    msgpack_sbuffer_destroy(&sb);
    char small[8];
    cr_assert_eq(mproc_msgpack_repr(&v.obj, small, sizeof small), 19);
    cr_assert_str_eq(small, "[42, No");
    cr_assert_eq(mproc_msgpack_repr(&v.obj, NULL, 0), 19);
    MPROC_ASSERT_RC(mproc_msgpack_repr(NULL, small, sizeof small), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_msgpack_repr(&v.obj, NULL, 5), MPROC_EINVAL);
    char *mem = NULL;
    size_t memlen = 0;
    FILE *f = open_memstream(&mem, &memlen);
    cr_assert_not_null(f);
    MPROC_ASSERT_OK(mproc_msgpack_print(f, &v.obj));
    fclose(f);
    cr_assert_str_eq(mem, "[42, None, 'hello']");
    free(mem);
    MPROC_ASSERT_RC(mproc_msgpack_print(NULL, &v.obj), MPROC_EINVAL);
    mproc_msgpack_value_destroy(&v);
}

MPROC_TEST(msgpack, bad_arguments_are_errors)
{
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    mproc_pipe *a, *b;
    MPROC_ASSERT_OK(mproc_pipe_create(&a, &b, 0));
    MPROC_ASSERT_RC(mproc_pipe_send_msgpack(a, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_send_msgpack_object(a, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_recv_msgpack(a, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_recv_msgpack(NULL, &v, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_pipe_recv_msgpack(a, &v, 0), MPROC_EAGAIN);
    MPROC_ASSERT_RC(mproc_msgpack_unpack(NULL, "\x01", 1), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_msgpack_unpack(&v, NULL, 1), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_get_msgpack(NULL, &v, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_queue_put_msgpack(NULL, NULL, 0), MPROC_EINVAL);
    mproc_msgpack_value_destroy(NULL);
    MPROC_ASSERT_OK(mproc_pipe_close(a));
    MPROC_ASSERT_OK(mproc_pipe_close(b));
}
