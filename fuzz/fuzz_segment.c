/* fuzz_segment.c - attaching to a segment: header validation.
 *
 * The input is a whole segment as a peer might have left it: a header
 * followed by whatever. mproc__seg_check() must accept only a header whose
 * every field agrees with the file, and must never read outside the input.
 * The input is also written to an anonymous file and attached the way a real
 * process would (mproc__seg_from_fd), which must fail cleanly or map exactly
 * what the header promises.
 */
#include "internal.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Heap copy of exactly `size` bytes: ASan flags any read past it. */
    unsigned char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    if (size >= MPROC__SEG_HDR_SIZE) {
        int rc = mproc__seg_check((const struct mproc__seg_hdr *)buf, size, 0);
        if (rc == 0) {
            const struct mproc__seg_hdr *h = (const void *)buf;
            if (h->total_size != size || h->body_size > size - MPROC__SEG_HDR_SIZE)
                abort();
        }
    }
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd >= 0) {
        if (size == 0 || write(fd, buf, size) == (ssize_t)size) {
            struct mproc__seg seg;
            /* A header whose magic is still 0 makes the attach wait for its
             * creator; creator_pid 0 skips the liveness check, so keep the
             * wait short by only attaching published-looking inputs. */
            if (size >= 4 && (buf[0] | buf[1] | buf[2] | buf[3]) != 0 &&
                mproc__seg_from_fd(&seg, fd, 0) == 0) {
                volatile unsigned char sink =
                    ((unsigned char *)seg.body)[seg.body_size ? seg.body_size - 1 : 0];
                (void)sink;
                mproc__seg_close(&seg, false);
            }
        }
        close(fd);
    }
    free(buf);
    return 0;
}
