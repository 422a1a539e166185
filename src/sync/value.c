/* sync/value.c - shared Values and Arrays (Python's multiprocessing.Value
 * and Array): typed elements in a segment, with an attached recursive lock.
 *
 * Layout of the segment body (kind MPROC__SEG_VALUE):
 *   offset 0   struct value_hdr (64 bytes): type, flags, n, the lock
 *   offset 64  n elements of mproc_type_size(type) bytes, zeroed at create
 *
 * The header is written once by the creator before the segment is
 * published and only read afterwards. An opener validates it (known type
 * and flags, n >= 1, n elements fit in the body, no overflow) and then keeps
 * its own copy of type, n and flags in the process-local handle: nothing is
 * re-read from shared memory later, so a peer that scribbles on the header
 * cannot make this process index out of bounds.
 *
 * Element access: get/set are __atomic loads and stores of the element's
 * exact width (acquire/release), add is __atomic_add_fetch; 8-byte and
 * smaller naturally aligned accesses are lock-free on every Linux target
 * that matters, so elements are never torn. The lock (struct mproc__lk with
 * depth, the RLock of rlock.c) is only for the user's multi-step updates.
 *
 * A Value is an Array of one element: the same handle, the same state word
 * (MPROC__H_ARRAY, see handle.h), checked on entry by every call.
 */
#include "sync.h"

#include "../handle.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define VALUE_HDR 64

struct value_hdr {
    uint32_t type;
    uint32_t flags;
    uint64_t n;
    struct mproc__lk lock;
    uint8_t reserved[16];
};
_Static_assert(sizeof(struct value_hdr) == VALUE_HDR, "value header");

struct mproc_array {
    _Atomic uint32_t magic; /* MPROC__H_ARRAY, MPROC__H_CLOSED (handle.h) */
    struct value_hdr *h;
    void *data;
    size_t n;
    mproc_type type;
    unsigned flags;
    void *map;
    size_t map_size;
};

MPROC_API size_t mproc_type_size(mproc_type type)
{
    switch (type) {
    case MPROC_TYPE_I8:
    case MPROC_TYPE_U8:
        return 1;
    case MPROC_TYPE_I16:
    case MPROC_TYPE_U16:
        return 2;
    case MPROC_TYPE_I32:
    case MPROC_TYPE_U32:
    case MPROC_TYPE_F32:
        return 4;
    case MPROC_TYPE_I64:
    case MPROC_TYPE_U64:
    case MPROC_TYPE_F64:
        return 8;
    }
    return 0;
}

/* Return from the calling function unless a is an open handle. */
#define ARRAY_OK(a)                                                                                \
    do {                                                                                           \
        int hc_ = mproc__handle_check((a), MPROC__H_ARRAY);                                        \
        if (hc_ < 0)                                                                               \
            return hc_;                                                                            \
    } while (0)

static bool type_is_float(mproc_type t)
{
    return t == MPROC_TYPE_F32 || t == MPROC_TYPE_F64;
}

/* Takes the mapping and the descriptor (kept for a hand-over to a spawned
 * child, see standalone.c). On failure the segment is unmapped, its name
 * left to the caller. */
static int array_adopt(mproc_array *a, struct mproc__seg *seg, const char *name)
{
    int rc = mproc__sync_keep(seg->hdr, seg->fd, name);
    seg->fd = -1;
    if (rc < 0) {
        munmap(seg->hdr, seg->map_size);
        return rc;
    }
    atomic_init(&a->magic, MPROC__H_ARRAY);
    a->h = seg->body;
    a->data = (char *)seg->body + VALUE_HDR;
    a->map = seg->hdr;
    a->map_size = seg->map_size;
    return 0;
}

MPROC_API int mproc_array_create(mproc_array **out, mproc_type type, size_t n, const char *name,
                                 unsigned flags)
{
    struct mproc__seg seg;
    int rc;
    size_t es = mproc_type_size(type);
    if (!out || es == 0 || n == 0 || n > (SIZE_MAX / 4 - VALUE_HDR) / es ||
        (flags & ~MPROC_VALUE_RAW))
        return MPROC_EINVAL;
    if (name && (rc = mproc__name_check(name)) < 0)
        return rc;
    mproc_array *a = calloc(1, sizeof *a);
    if (!a)
        return MPROC_ENOMEM;
    rc = mproc__seg_create(&seg, name, MPROC__SEG_VALUE, VALUE_HDR + n * es);
    if (rc < 0) {
        free(a);
        return rc;
    }
    struct value_hdr *h = seg.body;
    h->type = (uint32_t)type;
    h->flags = flags;
    h->n = n;
    mproc__seg_publish(&seg);
    if ((rc = array_adopt(a, &seg, name ? seg.name : NULL)) < 0) {
        if (name)
            mproc__shm_unlink(seg.name);
        free(a);
        return rc;
    }
    a->n = n;
    a->type = type;
    a->flags = flags;
    *out = a;
    return 0;
}

static int array_attach(mproc_array **out, struct mproc__seg *seg, const char *name);

MPROC_API int mproc_array_open(mproc_array **out, const char *name)
{
    struct mproc__seg seg;
    int rc;
    if (!out || !name)
        return MPROC_EINVAL;
    if ((rc = mproc__name_check(name)) < 0)
        return rc;
    rc = mproc__seg_open(&seg, name, MPROC__SEG_VALUE);
    if (rc < 0)
        return rc;
    return array_attach(out, &seg, name);
}

int mproc__array_from_fd(mproc_array **out, int fd)
{
    struct mproc__seg seg;
    int rc = mproc__seg_from_fd(&seg, fd, MPROC__SEG_VALUE);
    if (rc < 0)
        return rc;
    return array_attach(out, &seg, NULL);
}

int mproc__array_handover(const mproc_array *a, int *fd_out)
{
    return a ? mproc__sync_handover_fd(a->map, fd_out) : MPROC_EINVAL;
}

size_t mproc__array_len(const mproc_array *a)
{
    return a->n;
}

/* Validate the header of a mapped value segment and make a handle of it. */
static int array_attach(mproc_array **out, struct mproc__seg *seg, const char *name)
{
    int rc;
    struct value_hdr *h = seg->body;
    /* Each field is read once: a peer may rewrite them after the check. */
    uint32_t type = seg->body_size >= VALUE_HDR ? *(volatile uint32_t *)&h->type : 0;
    size_t es = seg->body_size >= VALUE_HDR ? mproc_type_size((mproc_type)type) : 0;
    uint64_t n = es ? *(volatile uint64_t *)&h->n : 0;
    uint32_t flags = es ? h->flags : 0;
    if (es == 0 || n == 0 || (flags & ~MPROC_VALUE_RAW) || n > (seg->body_size - VALUE_HDR) / es) {
        mproc__seg_close(seg, false);
        return MPROC_ECORRUPT;
    }
    mproc_array *a = calloc(1, sizeof *a);
    if (!a) {
        mproc__seg_close(seg, false);
        return MPROC_ENOMEM;
    }
    a->type = (mproc_type)type;
    a->n = (size_t)n;
    a->flags = flags;
    if ((rc = array_adopt(a, seg, name)) < 0) {
        free(a);
        return rc;
    }
    *out = a;
    return 0;
}

MPROC_API int mproc_array_close(mproc_array *a)
{
    int rc = mproc__handle_close(a, MPROC__H_ARRAY);
    if (rc < 0)
        return rc;
    mproc__sync_forget(a->map);
    munmap(a->map, a->map_size);
    a->map = a->data = NULL;
    a->h = NULL;
    mproc__handle_retire(a);
    return 0;
}

MPROC_API int mproc_array_unlink(const char *name)
{
    return mproc__seg_unlink(name, MPROC__SEG_VALUE);
}

MPROC_API void *mproc_array_ptr(const mproc_array *a)
{
    return mproc__handle_check(a, MPROC__H_ARRAY) == 0 ? a->data : NULL;
}

MPROC_API size_t mproc_array_len(const mproc_array *a)
{
    return mproc__handle_check(a, MPROC__H_ARRAY) == 0 ? a->n : 0;
}

MPROC_API mproc_type mproc_array_type(const mproc_array *a)
{
    return mproc__handle_check(a, MPROC__H_ARRAY) == 0 ? a->type : (mproc_type)0;
}

static mproc_rlock *array_rlock(mproc_array *a)
{
    return (mproc_rlock *)(void *)&a->h->lock;
}

MPROC_API int mproc_array_acquire(mproc_array *a, int timeout_ms)
{
    ARRAY_OK(a);
    if (a->flags & MPROC_VALUE_RAW)
        return MPROC_ENOTSUP;
    return mproc_rlock_acquire(array_rlock(a), timeout_ms);
}

MPROC_API int mproc_array_release(mproc_array *a)
{
    ARRAY_OK(a);
    if (a->flags & MPROC_VALUE_RAW)
        return MPROC_ENOTSUP;
    return mproc_rlock_release(array_rlock(a));
}

MPROC_API int mproc_array_consistent(mproc_array *a)
{
    ARRAY_OK(a);
    if (a->flags & MPROC_VALUE_RAW)
        return MPROC_ENOTSUP;
    return mproc_rlock_consistent(array_rlock(a));
}

#define ELEM(ctype, a, i) ((ctype *)(a)->data + (i))

MPROC_API int mproc_array_get_i64(const mproc_array *a, size_t i, int64_t *out)
{
    ARRAY_OK(a);
    if (!out || type_is_float(a->type))
        return MPROC_EINVAL;
    if (i >= a->n)
        return MPROC_ERANGE;
    int64_t v = 0;
    switch (a->type) {
    case MPROC_TYPE_I8:
        v = __atomic_load_n(ELEM(int8_t, a, i), __ATOMIC_ACQUIRE);
        break;
    case MPROC_TYPE_U8:
        v = __atomic_load_n(ELEM(uint8_t, a, i), __ATOMIC_ACQUIRE);
        break;
    case MPROC_TYPE_I16:
        v = __atomic_load_n(ELEM(int16_t, a, i), __ATOMIC_ACQUIRE);
        break;
    case MPROC_TYPE_U16:
        v = __atomic_load_n(ELEM(uint16_t, a, i), __ATOMIC_ACQUIRE);
        break;
    case MPROC_TYPE_I32:
        v = __atomic_load_n(ELEM(int32_t, a, i), __ATOMIC_ACQUIRE);
        break;
    case MPROC_TYPE_U32:
        v = __atomic_load_n(ELEM(uint32_t, a, i), __ATOMIC_ACQUIRE);
        break;
    case MPROC_TYPE_I64:
        v = __atomic_load_n(ELEM(int64_t, a, i), __ATOMIC_ACQUIRE);
        break;
    case MPROC_TYPE_U64:
        v = (int64_t)__atomic_load_n(ELEM(uint64_t, a, i), __ATOMIC_ACQUIRE);
        break;
    default:
        return MPROC_EINVAL;
    }
    *out = v;
    return 0;
}

MPROC_API int mproc_array_set_i64(mproc_array *a, size_t i, int64_t v)
{
    ARRAY_OK(a);
    if (type_is_float(a->type))
        return MPROC_EINVAL;
    if (i >= a->n)
        return MPROC_ERANGE;
    switch (a->type) {
    case MPROC_TYPE_I8:
        __atomic_store_n(ELEM(int8_t, a, i), (int8_t)v, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_U8:
        __atomic_store_n(ELEM(uint8_t, a, i), (uint8_t)v, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_I16:
        __atomic_store_n(ELEM(int16_t, a, i), (int16_t)v, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_U16:
        __atomic_store_n(ELEM(uint16_t, a, i), (uint16_t)v, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_I32:
        __atomic_store_n(ELEM(int32_t, a, i), (int32_t)v, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_U32:
        __atomic_store_n(ELEM(uint32_t, a, i), (uint32_t)v, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_I64:
        __atomic_store_n(ELEM(int64_t, a, i), v, __ATOMIC_RELEASE);
        break;
    case MPROC_TYPE_U64:
        __atomic_store_n(ELEM(uint64_t, a, i), (uint64_t)v, __ATOMIC_RELEASE);
        break;
    default:
        return MPROC_EINVAL;
    }
    return 0;
}

MPROC_API int mproc_array_add_i64(mproc_array *a, size_t i, int64_t delta, int64_t *result)
{
    ARRAY_OK(a);
    if (type_is_float(a->type))
        return MPROC_EINVAL;
    if (i >= a->n)
        return MPROC_ERANGE;
    int64_t r = 0;
    switch (a->type) {
    case MPROC_TYPE_I8:
        r = (int8_t)__atomic_add_fetch(ELEM(uint8_t, a, i), (uint8_t)delta, __ATOMIC_ACQ_REL);
        break;
    case MPROC_TYPE_U8:
        r = __atomic_add_fetch(ELEM(uint8_t, a, i), (uint8_t)delta, __ATOMIC_ACQ_REL);
        break;
    case MPROC_TYPE_I16:
        r = (int16_t)__atomic_add_fetch(ELEM(uint16_t, a, i), (uint16_t)delta, __ATOMIC_ACQ_REL);
        break;
    case MPROC_TYPE_U16:
        r = __atomic_add_fetch(ELEM(uint16_t, a, i), (uint16_t)delta, __ATOMIC_ACQ_REL);
        break;
    case MPROC_TYPE_I32:
        r = (int32_t)__atomic_add_fetch(ELEM(uint32_t, a, i), (uint32_t)delta, __ATOMIC_ACQ_REL);
        break;
    case MPROC_TYPE_U32:
        r = __atomic_add_fetch(ELEM(uint32_t, a, i), (uint32_t)delta, __ATOMIC_ACQ_REL);
        break;
    case MPROC_TYPE_I64:
    case MPROC_TYPE_U64:
        /* Unsigned arithmetic wraps; signed overflow would be undefined. */
        r = (int64_t)__atomic_add_fetch(ELEM(uint64_t, a, i), (uint64_t)delta, __ATOMIC_ACQ_REL);
        break;
    default:
        return MPROC_EINVAL;
    }
    if (result)
        *result = r;
    return 0;
}

MPROC_API int mproc_array_get_f64(const mproc_array *a, size_t i, double *out)
{
    ARRAY_OK(a);
    if (!out)
        return MPROC_EINVAL;
    if (i >= a->n)
        return MPROC_ERANGE;
    if (a->type == MPROC_TYPE_F64) {
        double d;
        __atomic_load(ELEM(double, a, i), &d, __ATOMIC_ACQUIRE);
        *out = d;
    } else if (a->type == MPROC_TYPE_F32) {
        float f;
        __atomic_load(ELEM(float, a, i), &f, __ATOMIC_ACQUIRE);
        *out = f;
    } else {
        int64_t v;
        int rc = mproc_array_get_i64(a, i, &v);
        if (rc < 0)
            return rc;
        *out = (double)v;
    }
    return 0;
}

MPROC_API int mproc_array_set_f64(mproc_array *a, size_t i, double v)
{
    ARRAY_OK(a);
    if (i >= a->n)
        return MPROC_ERANGE;
    if (a->type == MPROC_TYPE_F64) {
        __atomic_store(ELEM(double, a, i), &v, __ATOMIC_RELEASE);
    } else if (a->type == MPROC_TYPE_F32) {
        float f = (float)v;
        __atomic_store(ELEM(float, a, i), &f, __ATOMIC_RELEASE);
    } else {
        return MPROC_EINVAL;
    }
    return 0;
}

/* Values: arrays of one element. ------------------------------------------- */

static inline mproc_array *va(const mproc_value *v)
{
    return (mproc_array *)(void *)v;
}

MPROC_API int mproc_value_create(mproc_value **out, mproc_type type, const char *name,
                                 unsigned flags)
{
    mproc_array *a;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc_array_create(&a, type, 1, name, flags);
    if (rc < 0)
        return rc;
    *out = (mproc_value *)(void *)a;
    return 0;
}

MPROC_API int mproc_value_open(mproc_value **out, const char *name)
{
    mproc_array *a;
    if (!out)
        return MPROC_EINVAL;
    int rc = mproc_array_open(&a, name);
    if (rc < 0)
        return rc;
    if (a->n != 1) {
        mproc_array_close(a);
        return MPROC_EFOREIGN;
    }
    *out = (mproc_value *)(void *)a;
    return 0;
}

MPROC_API int mproc_value_close(mproc_value *v)
{
    return mproc_array_close(va(v));
}

MPROC_API int mproc_value_unlink(const char *name)
{
    return mproc_array_unlink(name);
}

MPROC_API void *mproc_value_ptr(const mproc_value *v)
{
    return mproc_array_ptr(va(v));
}

MPROC_API mproc_type mproc_value_type(const mproc_value *v)
{
    return mproc_array_type(va(v));
}

MPROC_API int mproc_value_acquire(mproc_value *v, int timeout_ms)
{
    return mproc_array_acquire(va(v), timeout_ms);
}

MPROC_API int mproc_value_release(mproc_value *v)
{
    return mproc_array_release(va(v));
}

MPROC_API int mproc_value_consistent(mproc_value *v)
{
    return mproc_array_consistent(va(v));
}

MPROC_API int mproc_value_get_i64(const mproc_value *v, int64_t *out)
{
    return mproc_array_get_i64(va(v), 0, out);
}

MPROC_API int mproc_value_set_i64(mproc_value *v, int64_t x)
{
    return mproc_array_set_i64(va(v), 0, x);
}

MPROC_API int mproc_value_get_f64(const mproc_value *v, double *out)
{
    return mproc_array_get_f64(va(v), 0, out);
}

MPROC_API int mproc_value_set_f64(mproc_value *v, double x)
{
    return mproc_array_set_f64(va(v), 0, x);
}

MPROC_API int mproc_value_add_i64(mproc_value *v, int64_t delta, int64_t *result)
{
    return mproc_array_add_i64(va(v), 0, delta, result);
}
