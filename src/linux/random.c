/* linux/random.c - random bytes for object names. */
#include "../internal.h"

#include <sys/random.h>

int mproc__random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return mproc__err();
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}
