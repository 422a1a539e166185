/* msgpack.c - msgpack values through pipes and queues, and their Python
 * style repr (see mproc/msgpack.h). Built into libmproc_value only.
 *
 * Model: a value travels as one message holding exactly one msgpack
 * object. The receiver gets the message into a malloc'd buffer, validates
 * it with validate() below, and only then lets msgpack_unpack_next() build
 * objects in a zone. msgpack-c's C unpacker does not copy strings and
 * binaries: those objects point into the buffer, so the buffer is owned by
 * the mproc_msgpack_value together with the zone and freed with it.
 *
 * Why validate first: msgpack-c allocates a container's element array from
 * the count in its header before reading any element, so "array of 2^31
 * elements" in 5 bytes would be a huge allocation. validate() walks the
 * bytes without allocating, with a stack of MPROC_MSGPACK_MAX_DEPTH element
 * counters, and requires every count to fit in the bytes that are left
 * (every element takes at least one byte). After that the unpacker's
 * allocations are bounded by a small multiple of the message size.
 *
 * The repr writer has two sinks (a caller's buffer with snprintf semantics,
 * or a FILE *) behind one small struct, so the formatting is written once.
 */
#include "mproc/msgpack.h"

#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Validation ------------------------------------------------------------------ */

static uint64_t be(const unsigned char *p, size_t k)
{
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++)
        v = v << 8 | p[i];
    return v;
}

/* Read the header of one object at *off: its element count (maps count
 * keys and values) and the bytes of payload to skip. */
static int header(const unsigned char *p, size_t len, size_t *off, uint64_t *elems)
{
    unsigned b = p[(*off)++];
    uint64_t skip = 0, n = 0;
    size_t lenbytes = 0; /* size of a big-endian length field that follows */
    int kind = 0;        /* 0 scalar/fixed skip, 1 payload of that length, 2 array, 3 map */
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        /* fixint, nil, false, true */
    } else if (b <= 0x8f) {
        n = 2u * (b & 15u);
    } else if (b <= 0x9f) {
        n = b & 15u;
    } else if (b <= 0xbf) {
        skip = b & 31u;
    } else {
        switch (b) {
        case 0xc4:
        case 0xd9:
            lenbytes = 1;
            kind = 1;
            break; /* bin8, str8 */
        case 0xc5:
        case 0xda:
            lenbytes = 2;
            kind = 1;
            break;
        case 0xc6:
        case 0xdb:
            lenbytes = 4;
            kind = 1;
            break;
        case 0xc7:
            lenbytes = 1;
            kind = 1;
            skip = 1;
            break; /* ext8: + type byte */
        case 0xc8:
            lenbytes = 2;
            kind = 1;
            skip = 1;
            break;
        case 0xc9:
            lenbytes = 4;
            kind = 1;
            skip = 1;
            break;
        case 0xca:
            skip = 4;
            break;
        case 0xcb:
            skip = 8;
            break;
        case 0xcc:
        case 0xd0:
            skip = 1;
            break;
        case 0xcd:
        case 0xd1:
            skip = 2;
            break;
        case 0xce:
        case 0xd2:
            skip = 4;
            break;
        case 0xcf:
        case 0xd3:
            skip = 8;
            break;
        case 0xd4:
            skip = 2;
            break; /* fixext: type + 1, 2, 4, 8, 16 */
        case 0xd5:
            skip = 3;
            break;
        case 0xd6:
            skip = 5;
            break;
        case 0xd7:
            skip = 9;
            break;
        case 0xd8:
            skip = 17;
            break;
        case 0xdc:
            lenbytes = 2;
            kind = 2;
            break;
        case 0xdd:
            lenbytes = 4;
            kind = 2;
            break;
        case 0xde:
            lenbytes = 2;
            kind = 3;
            break;
        case 0xdf:
            lenbytes = 4;
            kind = 3;
            break;
        default:
            return MPROC_EBADMSG; /* 0xc1 is never used */
        }
    }
    if (lenbytes) {
        if (len - *off < lenbytes)
            return MPROC_EBADMSG;
        uint64_t v = be(p + *off, lenbytes);
        *off += lenbytes;
        if (kind == 1)
            skip += v;
        else
            n = kind == 3 ? 2 * v : v;
    }
    if (skip > len - *off)
        return MPROC_EBADMSG;
    *off += (size_t)skip;
    if (n > len - *off)
        return MPROC_EBADMSG;
    *elems = n;
    return 0;
}

/* Exactly one well-formed object, every count backed by bytes, nesting at
 * most MPROC_MSGPACK_MAX_DEPTH. */
static int validate(const unsigned char *p, size_t len)
{
    uint64_t left[MPROC_MSGPACK_MAX_DEPTH + 1];
    int depth = 0;
    size_t off = 0;
    left[0] = 1;
    while (depth >= 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        if (off >= len)
            return MPROC_EBADMSG;
        uint64_t n;
        int rc = header(p, len, &off, &n);
        if (rc < 0)
            return rc;
        if (n > 0) {
            if (depth == MPROC_MSGPACK_MAX_DEPTH)
                return MPROC_EBADMSG;
            left[++depth] = n;
        }
    }
    return off == len ? 0 : MPROC_EBADMSG;
}

/* Values ------------------------------------------------------------------------ */

void mproc_msgpack_value_destroy(mproc_msgpack_value *v)
{
    if (v == NULL)
        return;
    if (v->zone_ != NULL)
        msgpack_zone_free(v->zone_);
    free(v->bytes_);
    memset(v, 0, sizeof *v);
    v->obj.type = MSGPACK_OBJECT_NIL;
}

/* Unpack bytes (malloc'd; taken over on success) into *out. */
static int adopt(mproc_msgpack_value *out, void *bytes, size_t len)
{
    int rc = validate(bytes, len);
    if (rc < 0)
        return rc;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, bytes, len, &off);
    if (r != MSGPACK_UNPACK_SUCCESS || off != len) {
        msgpack_unpacked_destroy(&u);
        return r == MSGPACK_UNPACK_NOMEM_ERROR ? MPROC_ENOMEM : MPROC_EBADMSG;
    }
    mproc_msgpack_value_destroy(out);
    out->obj = u.data;
    out->zone_ = msgpack_unpacked_release_zone(&u);
    out->bytes_ = bytes;
    msgpack_unpacked_destroy(&u);
    return 0;
}

/* A message received into a malloc'd buffer (n bytes, or a negative code):
 * out takes it over, or it is freed. */
static int adopt_received(mproc_msgpack_value *out, ssize_t n, void *bytes)
{
    if (n < 0)
        return (int)n;
    int rc = adopt(out, bytes, (size_t)n);
    if (rc < 0)
        free(bytes);
    return rc;
}

int mproc_msgpack_unpack(mproc_msgpack_value *out, const void *buf, size_t len)
{
    if (out == NULL || (buf == NULL && len > 0))
        return MPROC_EINVAL;
    void *copy = malloc(len ? len : 1);
    if (copy == NULL)
        return MPROC_ENOMEM;
    if (len)
        memcpy(copy, buf, len);
    int rc = adopt(out, copy, len);
    if (rc < 0)
        free(copy);
    return rc;
}

static int pack(const msgpack_object *obj, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    if (msgpack_pack_object(&pk, *obj) != 0) {
        msgpack_sbuffer_destroy(sb);
        return MPROC_ENOMEM;
    }
    return 0;
}

int mproc_pipe_send_msgpack(mproc_pipe *p, const msgpack_sbuffer *sb, int timeout_ms)
{
    if (sb == NULL)
        return MPROC_EINVAL;
    return mproc_pipe_send(p, sb->data, sb->size, timeout_ms);
}

int mproc_pipe_send_msgpack_object(mproc_pipe *p, const msgpack_object *obj, int timeout_ms)
{
    if (obj == NULL)
        return MPROC_EINVAL;
    msgpack_sbuffer sb;
    int rc = pack(obj, &sb);
    if (rc < 0)
        return rc;
    rc = mproc_pipe_send(p, sb.data, sb.size, timeout_ms);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int mproc_pipe_recv_msgpack(mproc_pipe *p, mproc_msgpack_value *out, int timeout_ms)
{
    if (out == NULL)
        return MPROC_EINVAL;
    void *bytes = NULL;
    ssize_t n = mproc_pipe_recv_alloc(p, &bytes, timeout_ms);
    return adopt_received(out, n, bytes);
}

int mproc_queue_put_msgpack(mproc_queue *q, const msgpack_sbuffer *sb, int timeout_ms)
{
    if (sb == NULL)
        return MPROC_EINVAL;
    return mproc_queue_put(q, sb->data, sb->size, timeout_ms);
}

int mproc_queue_put_msgpack_object(mproc_queue *q, const msgpack_object *obj, int timeout_ms)
{
    if (obj == NULL)
        return MPROC_EINVAL;
    msgpack_sbuffer sb;
    int rc = pack(obj, &sb);
    if (rc < 0)
        return rc;
    rc = mproc_queue_put(q, sb.data, sb.size, timeout_ms);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int mproc_queue_get_msgpack(mproc_queue *q, mproc_msgpack_value *out, int timeout_ms)
{
    if (out == NULL)
        return MPROC_EINVAL;
    void *bytes = NULL;
    ssize_t n = mproc_queue_get_alloc(q, &bytes, timeout_ms);
    return adopt_received(out, n, bytes);
}

/* repr ---------------------------------------------------------------------------- */

struct out {
    char *buf; /* snprintf-like sink, or */
    size_t cap;
    FILE *f; /* a stream */
    size_t len;
    bool failed;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->f != NULL) {
        if (n && fwrite(s, 1, n, o->f) != n)
            o->failed = true;
    } else if (o->len + 1 < o->cap) {
        size_t room = o->cap - 1 - o->len;
        memcpy(o->buf + o->len, s, n < room ? n : room);
    }
    o->len += n;
}

static void puts_(struct out *o, const char *s)
{
    put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...)
{
    char tmp[64];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n > 0)
        put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Python's float repr: the shortest digits that read back the same, plain
 * notation for exponents -4..15, always a '.' or an exponent. */
static void put_float(struct out *o, double d)
{
    if (isnan(d)) {
        puts_(o, "nan");
        return;
    }
    if (isinf(d)) {
        puts_(o, d < 0 ? "-inf" : "inf");
        return;
    }
    char e[40], s[400];
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    snprintf(e, sizeof e, "%.*e", prec - 1, d);
    int exp10 = atoi(strchr(e, 'e') + 1);
    if (exp10 < -4 || exp10 >= 16) {
        puts_(o, e);
        return;
    }
    int decimals = prec - 1 - exp10;
    snprintf(s, sizeof s, "%.*f", decimals > 0 ? decimals : 0, d);
    puts_(o, s);
    if (decimals <= 0)
        puts_(o, ".0");
}

/* Length of the valid UTF-8 sequence at p (n bytes left), 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    size_t k = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (p[0] >= 0xf5 || k == 0 || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return k;
}

/* A quoted string or bytes literal as Python writes it: single quotes
 * unless the text holds ' and no ". */
static void put_quoted(struct out *o, const char *s, size_t n, bool bytes)
{
    const unsigned char *p = (const unsigned char *)s;
    bool sq = n && memchr(s, '\'', n) != NULL, dq = n && memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    if (bytes)
        puts_(o, "b");
    put(o, &q, 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        if (c == '\\' || c == (unsigned char)q) {
            char esc[2] = {'\\', (char)c};
            put(o, esc, 2);
        } else if (c == '\n') {
            puts_(o, "\\n");
        } else if (c == '\r') {
            puts_(o, "\\r");
        } else if (c == '\t') {
            puts_(o, "\\t");
        } else if (c >= 0x20 && c < 0x7f) {
            put(o, (const char *)&p[i], 1);
        } else if (c >= 0x80 && !bytes) {
            size_t k = utf8_len(p + i, n - i);
            if (k > 0) {
                put(o, (const char *)&p[i], k);
                i += k;
                continue;
            }
            putf(o, "\\x%02x", c);
        } else {
            putf(o, "\\x%02x", c);
        }
        i++;
    }
    put(o, &q, 1);
}

static void put_obj(struct out *o, const msgpack_object *v)
{
    switch (v->type) {
    case MSGPACK_OBJECT_NIL:
        puts_(o, "None");
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        puts_(o, v->via.boolean ? "True" : "False");
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        putf(o, "%llu", (unsigned long long)v->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        putf(o, "%lld", (long long)v->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
        /* A float32 printed from its own shortest digits (1.1f -> 1.1),
         * which is what a Python peer that packed 1.1 meant. */
        {
            float f = (float)v->via.f64;
            char e[32];
            int prec = 1;
            for (; prec < 9; prec++) {
                snprintf(e, sizeof e, "%.*e", prec - 1, (double)f);
                if (strtof(e, NULL) == f)
                    break;
            }
            snprintf(e, sizeof e, "%.*e", prec - 1, (double)f);
            put_float(o, isfinite(f) ? strtod(e, NULL) : (double)f);
        }
        break;
    case MSGPACK_OBJECT_FLOAT64:
        put_float(o, v->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        put_quoted(o, v->via.str.ptr, v->via.str.size, false);
        break;
    case MSGPACK_OBJECT_BIN:
        put_quoted(o, v->via.bin.ptr, v->via.bin.size, true);
        break;
    case MSGPACK_OBJECT_EXT:
        putf(o, "ExtType(code=%d, data=", (int)v->via.ext.type);
        put_quoted(o, v->via.ext.ptr, v->via.ext.size, true);
        puts_(o, ")");
        break;
    case MSGPACK_OBJECT_ARRAY:
        puts_(o, "[");
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            if (i)
                puts_(o, ", ");
            put_obj(o, &v->via.array.ptr[i]);
        }
        puts_(o, "]");
        break;
    case MSGPACK_OBJECT_MAP:
        puts_(o, "{");
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            if (i)
                puts_(o, ", ");
            put_obj(o, &v->via.map.ptr[i].key);
            puts_(o, ": ");
            put_obj(o, &v->via.map.ptr[i].val);
        }
        puts_(o, "}");
        break;
    default:
        puts_(o, "<?>");
        break;
    }
}

int mproc_msgpack_repr(const msgpack_object *obj, char *buf, size_t n)
{
    if (obj == NULL || (buf == NULL && n > 0))
        return MPROC_EINVAL;
    struct out o = {.buf = buf, .cap = n};
    put_obj(&o, obj);
    if (n > 0)
        buf[o.len < n ? o.len : n - 1] = '\0';
    return o.len > INT32_MAX ? INT32_MAX : (int)o.len;
}

int mproc_msgpack_print(FILE *f, const msgpack_object *obj)
{
    if (f == NULL || obj == NULL)
        return MPROC_EINVAL;
    struct out o = {.f = f};
    put_obj(&o, obj);
    return o.failed ? MPROC_EIO : 0;
}
