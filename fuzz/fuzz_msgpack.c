/* fuzz_msgpack.c - mproc's msgpack helpers against arbitrary peer bytes.
 *
 * mproc_msgpack_unpack() must accept exactly one well-formed value (nesting
 * at most MPROC_MSGPACK_MAX_DEPTH) or fail with a code, never crash or
 * leak; an accepted value must print (repr) into buffers of every size
 * without overflowing them, always NUL-terminated.
 */
#include <mproc.h>
#include <mproc/msgpack.h>

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Exactly `size` bytes on the heap: ASan flags reads past them. */
    unsigned char *copy = malloc(size ? size : 1);
    memcpy(copy, data, size);
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    int rc = mproc_msgpack_unpack(&v, copy, size);
    free(copy); /* the value must own everything it points to */
    if (rc == 0) {
        static const size_t sizes[] = {1, 2, 7, 64, 4096};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            char *buf = malloc(sizes[i]);
            int r = mproc_msgpack_repr(&v.obj, buf, sizes[i]);
            (void)r;
            if (memchr(buf, '\0', sizes[i]) == NULL)
                abort();
            free(buf);
        }
        static FILE *devnull;
        if (devnull == NULL)
            devnull = fopen("/dev/null", "we");
        if (devnull)
            mproc_msgpack_print(devnull, &v.obj);
    } else if (rc > 0) {
        abort();
    }
    mproc_msgpack_value_destroy(&v);
    return 0;
}
