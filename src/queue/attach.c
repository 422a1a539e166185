/* queue/attach.c - the public calls that create, open, close and
 * describe a queue (the layout itself is in ring.c, participants in
 * part.c).
 */
#include "queue_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Fill the handle from a validated header and map the ring. */
static int q_attach(struct mproc_queue *q)
{
    struct q_hdr *h = q->h;
    int rc = 0;
    q->n = h->n_units;
    q->unit_shift = h->unit_shift;
    q->unit = 1ull << q->unit_shift;
    q->mask = q->n - 1;
    q->limit = h->limit;
    q->min_units = h->min_units;
    q->max_msgs = h->max_msgs;
    q->flags = h->flags;
    q->n_parts = h->n_parts;
    q->n_lanes = h->n_lanes;
    q->lanes_mask = (1ull << q->n_lanes) - 1; /* n_lanes <= Q_LANES_MAX = 32 */
    q->lanes = (struct q_lane *)(void *)((unsigned char *)h + h->lanes_off);
    q->parts = (struct q_part *)(void *)((unsigned char *)h + h->parts_off);
    q->skey = h->skey;
    struct q_layout lay; /* validated against the header at attach */
    mproc__q_layout(q->n, q->unit, q->n_parts, q->n_lanes, &lay);
    q->times = (_Atomic uint64_t *)(void *)((unsigned char *)q->seg.hdr + lay.times_off);
    uint64_t cap = (q->limit << q->unit_shift) - Q_HDR; /* validated: > 0 */
    q->cap_bytes = cap > UINT32_MAX ? UINT32_MAX : cap;
    if ((rc = mproc__q_map_ring(q, h->data_off, h->data_size)) < 0)
        return rc;
    if ((rc = mproc__q_parts_init(q)) < 0) {
        munmap(q->data, 2 * q->data_size * q->n_lanes);
        return rc;
    }
    q->pid = mproc__self_pid();
    atomic_init(&q->magic, MPROC__H_QUEUE);
    return 0;
}

static int q_new_handle(struct mproc_queue **out, struct mproc_queue *q)
{
    int rc = q_attach(q);
    if (rc < 0) {
        mproc__seg_close(&q->seg, q->seg.owner);
        free(q);
        return rc;
    }
    *out = q;
    return 0;
}

int mproc_queue_create(mproc_queue **out, const char *name, const struct mproc_queue_opts *opts)
{
    static const struct mproc_queue_opts defaults = {0};
    if (out == NULL)
        return MPROC_EINVAL;
    if (opts == NULL)
        opts = &defaults;
    if (name && name[0]) {
        int rc = mproc__name_check(name);
        if (rc < 0)
            return rc;
    }
    /* capacity sizes the ring (rounded up as below); every message takes
     * its length plus its 16-byte entry, in whole units, so the largest
     * message is the ring's size less 16 bytes (mproc_queue_capacity).
     * Rounding up for the entry instead would double the ring of every
     * power-of-two request, and the working set a stream sweeps with it. */
    uint64_t cap = opts->capacity ? opts->capacity : Q_DEFAULT_CAPACITY;
    uint64_t unit = opts->unit_size ? opts->unit_size : Q_DEFAULT_UNIT;
    if (unit < 8 || unit > 65536 || (unit & (unit - 1)) || cap > Q_MAX_CAPACITY ||
        opts->max_msgs > Q_MAX_UNITS || (opts->flags & ~MPROC_QUEUE_JOINABLE) ||
        opts->participants > Q_PARTS_MAX || opts->lanes > Q_LANES_MAX)
        return MPROC_EINVAL;
    uint32_t n_parts = opts->participants ? (uint32_t)opts->participants : Q_PARTS_DEFAULT;
    uint64_t n, m, limit;
    for (;;) {
        uint64_t want = (cap + unit - 1) / unit;
        m = opts->max_msgs ? (want + opts->max_msgs - 1) / opts->max_msgs : 1;
        if (m * unit < Q_HDR) /* room for at least an entry */
            m = (Q_HDR + unit - 1) / unit;
        limit = opts->max_msgs ? m * opts->max_msgs : want;
        n = q_pow2(limit);
        if (n < 2)
            n = 2;
        while (n * unit < q_page())
            n <<= 1;
        if (!opts->max_msgs)
            limit = n;
        if (n <= Q_MAX_UNITS)
            break;
        if (opts->unit_size || unit >= 65536)
            return MPROC_EINVAL;
        unit <<= 1; /* a default unit grows for huge queues */
    }
    /* Lanes: as asked; 0 = one. One lane is one total order (the order of
     * the claims), so a put that returned before another began is taken
     * before it, whichever processes made them: a program that joins its
     * producers and then puts a sentinel gets the producers' messages
     * first. Several lanes (opt-in) let producers claim without sharing a
     * line, but a consumer takes from one lane at a time, so that order
     * across producers is lost. Each lane's ring is as large as the whole
     * capacity, so that any message fits in any lane. */
    uint32_t n_lanes = opts->lanes ? opts->lanes : 1;
    if (n_lanes * n * unit > Q_DATA_MAX)
        return MPROC_EINVAL;
    struct q_layout l;
    mproc__q_layout(n, unit, n_parts, n_lanes, &l);

    struct mproc_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
    int rc = mproc__seg_create(&q->seg, name, MPROC__SEG_QUEUE, l.total - MPROC__SEG_HDR_SIZE);
    if (rc < 0) {
        free(q);
        return rc;
    }
    struct q_hdr *h = q->seg.body;
    h->qmagic = Q_MAGIC;
    h->layout = Q_LAYOUT;
    h->unit_shift = q_log2(unit);
    h->flags = opts->flags;
    h->n_parts = n_parts;
    h->n_lanes = n_lanes;
    h->lanes_off = l.lanes_off;
    h->parts_off = l.parts_off;
    h->n_units = n;
    h->limit = limit;
    h->min_units = m;
    h->max_msgs = opts->max_msgs;
    h->index_off = l.index_off;
    h->data_off = l.data_off;
    h->data_size = l.data_size;
    if ((rc = mproc__random_bytes(&h->skey, sizeof h->skey)) < 0) {
        mproc__seg_close(&q->seg, true);
        free(q);
        return rc;
    }
    h->skey |= 1ull << 62;
    q->h = h;
    /* Each lane starts with an equal share of the limit (one lane: all of
     * it, so a queue of one lane never takes the credit lock); producers
     * move allot between lanes as they need it. */
    struct q_lane *lanes = (struct q_lane *)(void *)((unsigned char *)h + l.lanes_off);
    for (uint32_t i = 0; i < n_lanes; i++)
        atomic_store_explicit(&lanes[i].allot, limit / n_lanes, memory_order_relaxed);
    /* The file is fresh (zeroes): every stamp is 0, which is PUB or
     * CONSUMED of no position (bit 62 of the key is set and positions stay
     * below 2^62), so the empty ring needs no writes. */
    rc = mproc__q_validate(&q->seg);
    if (rc == 0)
        mproc__seg_publish(&q->seg);
    else {
        mproc__seg_close(&q->seg, true);
        free(q);
        return rc;
    }
    return q_new_handle(out, q);
}

static int q_open_seg(struct mproc_queue **out, struct mproc_queue *q, int rc)
{
    if (rc < 0) {
        free(q);
        return rc;
    }
    rc = mproc__q_validate(&q->seg);
    if (rc < 0) {
        mproc__seg_close(&q->seg, false);
        free(q);
        return rc;
    }
    q->h = q->seg.body;
    return q_new_handle(out, q);
}

int mproc_queue_open(mproc_queue **out, const char *name)
{
    if (out == NULL || name == NULL)
        return MPROC_EINVAL;
    int rc = mproc__name_check(name);
    if (rc < 0)
        return rc;
    struct mproc_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
    return q_open_seg(out, q, mproc__seg_open(&q->seg, name, MPROC__SEG_QUEUE));
}

int mproc_queue_from_fd(mproc_queue **out, int fd)
{
    if (out == NULL)
        return MPROC_EINVAL;
    if (fd < 0)
        return MPROC_EBADF;
    struct mproc_queue *q = calloc(1, sizeof *q);
    if (q == NULL)
        return MPROC_ENOMEM;
    return q_open_seg(out, q, mproc__seg_from_fd(&q->seg, fd, MPROC__SEG_QUEUE));
}

int mproc_queue_fd(const mproc_queue *q)
{
    int rc = mproc__handle_check(q, MPROC__H_QUEUE);
    return rc < 0 ? rc : q->seg.fd;
}

const char *mproc_queue_name(const mproc_queue *q)
{
    return mproc__handle_check(q, MPROC__H_QUEUE) == 0 ? q->seg.name : "";
}

int mproc_queue_unlink(const char *name)
{
    int rc = mproc__name_check(name);
    return rc < 0 ? rc : mproc__shm_unlink(name);
}

int mproc_queue_close(mproc_queue *q)
{
    int rc = mproc__handle_close(q, MPROC__H_QUEUE);
    if (rc < 0)
        return rc;
    mproc__q_parts_fini(q);
    munmap(q->data, 2 * q->data_size * q->n_lanes);
    /* Only the creating process unlinks, never a child that inherited it.
     * Decided from process-local state only: a peer may have scribbled over
     * the header's creator_pid. */
    bool unlink_name = q->seg.owner && q->pid == mproc__self_pid();
    mproc__seg_close(&q->seg, unlink_name);
    mproc__handle_retire(q); /* a stale call finds it CLOSED, not freed */
    return 0;
}

/* ------------------------------------------------------------------------
 * Statistics. */

int mproc_queue_stats(mproc_queue *q, struct mproc_queue_stats *st)
{
    int rc = mproc__handle_check(q, MPROC__H_QUEUE);
    if (rc < 0)
        return rc;
    if (st == NULL)
        return MPROC_EINVAL;
    rc = mproc__q_recover(q);
    if (rc < 0)
        return rc;
    return mproc__q_stats_sum(q, st);
}

int mproc_queue_stats_by_name(const char *name, struct mproc_queue_stats *st)
{
    mproc_queue *q;
    if (st == NULL)
        return MPROC_EINVAL;
    int rc = mproc_queue_open(&q, name);
    if (rc < 0)
        return rc;
    struct mproc_queue_stats tmp;
    rc = mproc__q_stats_sum(q, &tmp);
    mproc_queue_close(q);
    if (rc == 0)
        *st = tmp;
    return rc;
}
