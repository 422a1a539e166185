/* fuzz_queue.c - attaching to and reading from a queue whose shared bytes a
 * hostile peer rewrote.
 *
 * A small queue is created in a memfd and filled with a few messages (one
 * of them taken with a view and released, so positions have moved). The
 * input is then a list of patches, each
 *   u16 offset (little-endian), u8 length (0..15), bytes.
 * An offset below 0x8000 lands in the first HEAD_SPAN bytes (segment
 * header, queue configuration, positions, the first participant records),
 * one above it in the message entries at the start of the ring.
 * Then a second handle attaches with mproc_queue_from_fd (the validation
 * path of every opener) and, if that succeeds, gets, peeks, views and puts
 * with timeout 0. Everything must return a documented code; timeout 0 must
 * never wait (a fuzzer timeout), and ASan flags any access outside the
 * mappings' live parts.
 */
#include "internal.h"
#include "queue/queue_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define HEAD_SPAN 2048 /* segment header, configuration, positions, 8 records */

static int known_(long rc)
{
    return rc >= 0 || rc == MPROC_ECORRUPT || rc == MPROC_EAGAIN || rc == MPROC_EMSGSIZE ||
           rc == MPROC_ECLOSED || rc == MPROC_EFOREIGN || rc == MPROC_EVERSION ||
           rc == MPROC_ENOSPC || rc == MPROC_ELOST || rc == MPROC_EINVAL || rc == MPROC_ETIMEDOUT ||
           rc == MPROC_ENOMEM;
}

static int known(long rc)
{
    if (known_(rc))
        return 1;
    fprintf(stderr, "unexpected code %ld (%s)\n", rc, mproc_err_name((int)rc));
    return 0;
}

static void use(mproc_queue *q)
{
    char buf[64];
    for (int i = 0; i < 6; i++) {
        long rc = mproc_queue_peek_size(q, 0);
        if (!known(rc))
            abort();
        rc = mproc_queue_get(q, buf, sizeof buf, 0);
        if (!known(rc) || rc > (long)sizeof buf)
            abort();
        const void *v;
        rc = mproc_queue_get_view(q, &v, 0);
        if (!known(rc))
            abort();
        if (rc >= 0) {
            if (rc > 0)
                (void)((const volatile char *)v)[rc - 1];
            rc = mproc_queue_release_view(q);
            if (rc != 0 && rc != MPROC_ECORRUPT) {
                fprintf(stderr, "release_view: %ld\n", rc);
                abort();
            }
        }
        rc = mproc_queue_put(q, "fuzz", 4, 0);
        if (!known(rc))
            abort();
    }
    struct mproc_queue_stats st;
    if (!known(mproc_queue_stats(q, &st)))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mproc_queue *q;
    struct mproc_queue_opts o = {.capacity = 4096, .unit_size = 64};
    if (mproc_queue_create(&q, NULL, &o) != 0)
        return 0;
    for (int i = 0; i < 5; i++)
        mproc_queue_put(q, "0123456789", (size_t)i * 2, 0);
    const void *v;
    if (mproc_queue_get_view(q, &v, 0) >= 0)
        mproc_queue_release_view(q);
    int fd = mproc_queue_fd(q);
    /* layout 2 has no separate index: the entries lie in front of the
     * messages at the start of the ring */
    size_t idx_off = (size_t)q->h->data_off, idx_len = 1024;
    size_t i = 0;
    while (i + 3 <= size) {
        size_t off = (size_t)data[i] | (size_t)data[i + 1] << 8;
        off = off < 0x8000 ? off % HEAD_SPAN : idx_off + (off - 0x8000) % idx_len;
        size_t len = data[i + 2] & 15;
        i += 3;
        if (len > size - i)
            len = size - i;
        if (pwrite(fd, data + i, len, (off_t)off) != (ssize_t)len)
            break;
        i += len;
    }
    /* A zero magic makes the attach wait ~1 s for a creator still
     * initialising (this process, alive): keep the fuzzer fast by making it
     * a foreign magic instead; fuzz_segment covers that path. */
    uint32_t magic;
    if (pread(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic && magic == 0) {
        magic = 1;
        if (pwrite(fd, &magic, sizeof magic, 0) != (ssize_t)sizeof magic)
            abort();
    }
    mproc_queue *q2;
    long rc = mproc_queue_from_fd(&q2, fd);
    if (!known(rc))
        abort();
    if (rc == 0) {
        use(q2);
        mproc_queue_close(q2);
    }
    /* The creator's handle, validated at create time, meets the garbage too. */
    use(q);
    mproc_queue_close(q);
    return 0;
}
