/* mproc/msgpack.h - values (msgpack) through Pipes and Queues, and Python
 * style printing of them. Library mproc_value (-lmproc_value, links
 * msgpack-c); the core library knows nothing of msgpack.
 *
 *   #include <mproc.h>
 *   #include <mproc/msgpack.h>
 *
 * Sending the list [42, None, 'hello'] (the tutorial's Queue and Pipe
 * programs):
 *
 *   msgpack_sbuffer sb;
 *   msgpack_packer pk;
 *   msgpack_sbuffer_init(&sb);
 *   msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
 *   msgpack_pack_array(&pk, 3);
 *   msgpack_pack_int(&pk, 42);
 *   msgpack_pack_nil(&pk);
 *   msgpack_pack_str_with_body(&pk, "hello", 5);
 *   rc = mproc_pipe_send_msgpack(pipe, &sb, MPROC_FOREVER);
 *   msgpack_sbuffer_destroy(&sb);
 *
 * Receiving and printing it:
 *
 *   mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
 *   if (mproc_pipe_recv_msgpack(pipe, &v, MPROC_FOREVER) == 0)
 *       mproc_msgpack_print(stdout, &v.obj);       -> [42, None, 'hello']
 *   mproc_msgpack_value_destroy(&v);
 *
 * Everything received is validated before msgpack-c sees it: exactly one
 * well-formed value, no trailing bytes, no container announcing more
 * elements than there are bytes left (so a 5-byte message can never make
 * the unpacker allocate gigabytes), nesting at most MPROC_MSGPACK_MAX_DEPTH.
 * Anything else is MPROC_EBADMSG.
 */
#ifndef MPROC_MSGPACK_H
#define MPROC_MSGPACK_H

#include <msgpack.h>
#include <stdio.h>

#include <mproc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Deepest nesting of arrays and maps accepted from a peer (msgpack-c's own
 * limit). */
#define MPROC_MSGPACK_MAX_DEPTH 32

/* An unpacked value that owns its memory. `obj` is the value (strings and
 * binaries point into memory owned by the struct); it is valid until
 * mproc_msgpack_value_destroy() or until the struct receives another value.
 * Start from MPROC_MSGPACK_VALUE_INIT (all zero: obj is nil). The other
 * fields are private. */
typedef struct mproc_msgpack_value {
    msgpack_object obj;
    msgpack_zone *zone_;
    void *bytes_;
} mproc_msgpack_value;

#define MPROC_MSGPACK_VALUE_INIT                                                                   \
    {                                                                                              \
        {MSGPACK_OBJECT_NIL, {0}}, NULL, NULL                                                      \
    }

/* mproc_msgpack_value_destroy - free what v owns and make it nil again
 * (safe to call twice). NULL is ignored. */
MPROC_API void mproc_msgpack_value_destroy(mproc_msgpack_value *v);

/* mproc_msgpack_unpack - validate and unpack len bytes into *out (which
 * keeps its own copy of them). Whatever *out held before is freed, on
 * success only. Returns 0; MPROC_EBADMSG (not exactly one valid value),
 * MPROC_ENOMEM, MPROC_EINVAL (NULL out, NULL buf with len > 0). */
MPROC_API int mproc_msgpack_unpack(mproc_msgpack_value *out, const void *buf, size_t len);

/* mproc_pipe_send_msgpack - send the bytes packed in sb as one message;
 * mproc_pipe_send_msgpack_object - pack obj and send it. Block like
 * mproc_pipe_send() and return what it returns, plus MPROC_EINVAL (NULL
 * sb/obj) and MPROC_ENOMEM (packing). */
MPROC_API int mproc_pipe_send_msgpack(mproc_pipe *p, const msgpack_sbuffer *sb, int timeout_ms);
MPROC_API int mproc_pipe_send_msgpack_object(mproc_pipe *p, const msgpack_object *obj,
                                             int timeout_ms);

/* mproc_pipe_recv_msgpack - receive the next message and unpack it into
 * *out (see mproc_msgpack_unpack). Blocks like mproc_pipe_recv().
 * Returns 0; the errors of mproc_pipe_recv_alloc(); MPROC_EBADMSG (the
 * message was not a valid value: it is consumed, the pipe stays usable). */
MPROC_API int mproc_pipe_recv_msgpack(mproc_pipe *p, mproc_msgpack_value *out, int timeout_ms);

/* mproc_queue_put_msgpack, mproc_queue_put_msgpack_object,
 * mproc_queue_get_msgpack - the same for a Queue: block like
 * mproc_queue_put() / mproc_queue_get_alloc() and return what they
 * return, plus MPROC_EINVAL, MPROC_ENOMEM, and MPROC_EBADMSG for a message
 * that is not a valid value (it is consumed). */
MPROC_API int mproc_queue_put_msgpack(mproc_queue *q, const msgpack_sbuffer *sb, int timeout_ms);
MPROC_API int mproc_queue_put_msgpack_object(mproc_queue *q, const msgpack_object *obj,
                                             int timeout_ms);
MPROC_API int mproc_queue_get_msgpack(mproc_queue *q, mproc_msgpack_value *out, int timeout_ms);

/* mproc_msgpack_repr - write obj as Python's repr() would show the same
 * value: 42, -1, 1.5, None, True, False, 'str', b'bin', [a, b], {k: v},
 * ExtType(code=1, data=b'..'). Like snprintf: writes at most n bytes
 * including the terminating NUL (buf may be NULL when n == 0) and returns
 * the length the whole text has (>= n means it was cut), or MPROC_EINVAL
 * (NULL obj, NULL buf with n > 0). */
MPROC_API int mproc_msgpack_repr(const msgpack_object *obj, char *buf, size_t n);

/* mproc_msgpack_print - the same text to f (no newline added). Returns 0,
 * MPROC_EINVAL, or MPROC_EIO when writing to f failed. */
MPROC_API int mproc_msgpack_print(FILE *f, const msgpack_object *obj);

#ifdef __cplusplus
}
#endif
#endif
