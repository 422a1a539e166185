/* queue_attach.c - creating, opening and mapping queues; handles, the
 * per-thread participant records, and statistics.
 *
 * Segment layout (offsets from the start of the file):
 *   0          struct mproc__seg_hdr (128 bytes, src/segment.h)
 *   128        struct q_hdr: configuration, the frontiers tail/head/rel and
 *              the futex words each on its own 128-byte block, retired
 *              statistics, Q_PARTS participant records of 128 bytes
 *   index_off  N struct q_entry {stamp, meta} (16 bytes each)
 *   data_off   the data ring, N * unit bytes, page aligned
 * The process maps the whole file once (segment.c) for the header and the
 * index, and the data ring a second time, twice back to back, into a
 * reserved 2 * data_size window (the "magic ring buffer").
 *
 * Every configuration field is validated once at attach against the file
 * size and against the layout computed from the configuration itself; the
 * handle keeps validated copies and never re-reads them.
 *
 * Participants: each (process, thread) that uses a handle owns one record,
 * claimed by CAS on `owner` (pid << 32 | tid) and found again through the
 * handle's pthread key. A thread's record is released (its counters folded
 * into the retired totals) at thread exit (key destructor) or handle close.
 * A record whose process died is reclaimed by queue_recover.c. After fork
 * the child's handle notices the new fork generation and claims new
 * records; the parent's records are never touched by the child.
 */
#include "queue_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t q_page(void)
{
    return (size_t)sysconf(_SC_PAGESIZE);
}

static uint64_t q_round_up(uint64_t n, uint64_t a)
{
    return (n + a - 1) / a * a;
}

static uint64_t q_pow2(uint64_t n)
{
    uint64_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

static unsigned q_log2(uint64_t n)
{
    unsigned s = 0;
    while ((1ull << s) < n)
        s++;
    return s;
}

struct q_layout {
    uint64_t index_off, data_off, data_size, total;
};

static void q_layout(uint64_t n, uint64_t unit, struct q_layout *l)
{
    l->index_off = q_round_up(MPROC__SEG_HDR_SIZE + sizeof(struct q_hdr), MPROC__FALSE_SHARING);
    l->data_off = q_round_up(l->index_off + n * sizeof(struct q_entry), q_page());
    l->data_size = n * unit;
    l->total = l->data_off + l->data_size;
}

/* Map the data ring twice back to back. */
static int q_map_ring(struct mproc_queue *q, uint64_t data_off, uint64_t data_size)
{
    unsigned char *base =
        mmap(NULL, 2 * data_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED)
        return mproc__err();
    for (int i = 0; i < 2; i++) {
        void *m = mmap(base + i * data_size, data_size, PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED, q->seg.fd, (off_t)data_off);
        if (m == MAP_FAILED) {
            int rc = mproc__err();
            munmap(base, 2 * data_size);
            return rc;
        }
    }
    q->data = base;
    q->data_size = data_size;
    return 0;
}

static void q_tls_dtor(void *v);

uint32_t mproc__q_fork_gen;
__thread struct q_last mproc__q_last __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t q_next_id;
static pthread_once_t q_once = PTHREAD_ONCE_INIT;

static void q_atfork_child(void)
{
    mproc__q_fork_gen++;
}

static void q_init_once(void)
{
    pthread_atfork(NULL, NULL, q_atfork_child);
}

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
    uint64_t cap = q->limit << q->unit_shift;
    q->cap_bytes = cap > UINT32_MAX ? UINT32_MAX : cap;
    q->idx_shift = q->n >= 64 ? q_log2(q->n / 8) : 0;
    q->idx = (struct q_entry *)((unsigned char *)q->seg.hdr + h->index_off);
    if ((rc = q_map_ring(q, h->data_off, h->data_size)) < 0)
        return rc;
    if (pthread_key_create(&q->key, q_tls_dtor) != 0) {
        munmap(q->data, 2 * q->data_size);
        return MPROC_EAGAIN;
    }
    pthread_mutex_init(&q->mu, NULL);
    pthread_once(&q_once, q_init_once);
    q->gen = mproc__q_fork_gen;
    q->id = atomic_fetch_add(&q_next_id, 1) + 1;
    q->pid = mproc__self_pid();
    return 0;
}

/* Validate the queue header of an attached segment (the segment header was
 * checked by segment.c). */
static int q_validate(const struct mproc__seg *seg)
{
    if (seg->body_size < sizeof(struct q_hdr))
        return MPROC_ECORRUPT;
    const struct q_hdr *h = seg->body;
    if (h->qmagic != Q_MAGIC)
        return MPROC_EFOREIGN;
    if (h->layout != Q_LAYOUT)
        return MPROC_EVERSION;
    uint64_t n = h->n_units;
    if (h->unit_shift < 3 || h->unit_shift > 16 || n < 2 || n > Q_MAX_UNITS || (n & (n - 1)))
        return MPROC_ECORRUPT;
    uint64_t unit = 1ull << h->unit_shift;
    if ((n * unit) % q_page() != 0)
        return MPROC_ECORRUPT;
    if (h->limit < 1 || h->limit > n || h->min_units < 1 || h->min_units > h->limit)
        return MPROC_ECORRUPT;
    if (h->flags & ~MPROC_QUEUE_JOINABLE)
        return MPROC_ECORRUPT;
    struct q_layout l;
    q_layout(n, unit, &l);
    if (h->index_off != l.index_off || h->data_off != l.data_off || h->data_size != l.data_size ||
        l.total > seg->map_size)
        return MPROC_ECORRUPT;
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
    uint64_t cap = opts->capacity ? opts->capacity : Q_DEFAULT_CAPACITY;
    uint64_t unit = opts->unit_size ? opts->unit_size : Q_DEFAULT_UNIT;
    if (unit < 8 || unit > 65536 || (unit & (unit - 1)) || cap > Q_MAX_CAPACITY ||
        opts->max_msgs > Q_MAX_UNITS || (opts->flags & ~MPROC_QUEUE_JOINABLE))
        return MPROC_EINVAL;
    uint64_t n, m, limit;
    for (;;) {
        uint64_t want = (cap + unit - 1) / unit;
        m = opts->max_msgs ? (want + opts->max_msgs - 1) / opts->max_msgs : 1;
        if (m == 0)
            m = 1;
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
    struct q_layout l;
    q_layout(n, unit, &l);

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
    h->n_units = n;
    h->limit = limit;
    h->min_units = m;
    h->max_msgs = opts->max_msgs;
    h->index_off = l.index_off;
    h->data_off = l.data_off;
    h->data_size = l.data_size;
    q->h = h;
    /* The file is fresh (zeroes): every stamp is 0, which is PUB of no
     * position (PUB(p) = p + 1 >= 1), so the empty ring needs no writes. */
    rc = q_validate(&q->seg);
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
    rc = q_validate(&q->seg);
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
    return q == NULL ? MPROC_EINVAL : q->seg.fd;
}

const char *mproc_queue_name(const mproc_queue *q)
{
    return q == NULL ? "" : q->seg.name;
}

int mproc_queue_unlink(const char *name)
{
    int rc = mproc__name_check(name);
    return rc < 0 ? rc : mproc__shm_unlink(name);
}

/* ------------------------------------------------------------------------
 * Participant records. */

static void q_part_fold(struct q_hdr *h, struct q_part *p)
{
    atomic_fetch_add(&h->r_puts, atomic_exchange(&p->puts, 0));
    atomic_fetch_add(&h->r_gets, atomic_exchange(&p->gets, 0));
    atomic_fetch_add(&h->r_bytes_in, atomic_exchange(&p->bytes_in, 0));
    atomic_fetch_add(&h->r_bytes_out, atomic_exchange(&p->bytes_out, 0));
    atomic_fetch_add(&h->r_task_done, atomic_exchange(&p->task_done, 0));
    uint64_t hw = atomic_exchange(&p->high_water, 0);
    uint64_t old = atomic_load(&h->r_high_water);
    while (hw > old && !atomic_compare_exchange_weak(&h->r_high_water, &old, hw))
        ;
}

/* Fold a record's counters and free it (its owner is gone or done). */
void mproc__q_part_free(struct q_hdr *h, struct q_part *p)
{
    q_part_fold(h, p);
    atomic_store(&p->put_intent, Q_I_NONE);
    atomic_store(&p->get_intent, Q_I_NONE);
    atomic_store(&p->start, 0);
    atomic_store_explicit(&p->owner, 0, memory_order_release);
}

static struct q_part *q_part_claim(struct mproc_queue *q)
{
    uint64_t me = (uint64_t)(uint32_t)mproc__self_pid() << 32 | (uint32_t)mproc__self_tid();
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < Q_PARTS; i++) {
            struct q_part *p = &q->h->parts[i];
            uint64_t zero = 0;
            if (atomic_load_explicit(&p->owner, memory_order_relaxed) == 0 &&
                atomic_compare_exchange_strong(&p->owner, &zero, me)) {
                atomic_store(&p->start, mproc__self_start());
                return p;
            }
        }
        mproc__q_recover(q); /* reclaims records of dead processes */
    }
    return NULL;
}

static void q_tls_free(struct mproc_queue *q, struct q_tls *t)
{
    mproc__q_abandon(q, t);
    mproc__q_part_free(q->h, t->p);
    free(t);
}

static void q_tls_dtor(void *v)
{
    struct q_tls *t = v;
    if (t == NULL || t->gen != mproc__q_fork_gen)
        return; /* inherited across fork: the parent's, still on the list */
    struct mproc_queue *q = t->q;
    pthread_mutex_lock(&q->mu);
    for (struct q_tls **pp = &q->tls_list; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    q_tls_free(q, t);
}

/* After fork the list holds the parent's threads' entries: forget them
 * (their records belong to the parent). Called with q->mu held. */
static void q_forget_parent(struct mproc_queue *q, uint32_t gen)
{
    if (q->gen == gen)
        return;
    struct q_tls *t = q->tls_list;
    while (t) {
        struct q_tls *next = t->next;
        free(t);
        t = next;
    }
    q->tls_list = NULL;
    q->gen = gen;
}

static struct q_tls *q_tls_cache(struct mproc_queue *q, struct q_tls *t)
{
    mproc__q_last = (struct q_last){q, q->id, t->gen, t};
    return t;
}

struct q_tls *mproc__q_tls_slow(struct mproc_queue *q)
{
    uint32_t gen = mproc__q_fork_gen;
    struct q_tls *t = pthread_getspecific(q->key);
    if (t != NULL && t->gen == gen)
        return q_tls_cache(q, t);
    pthread_mutex_lock(&q->mu);
    q_forget_parent(q, gen);
    pthread_mutex_unlock(&q->mu);
    /* my key may still point at an entry inherited (and just freed) */
    pthread_setspecific(q->key, NULL);
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->p = q_part_claim(q);
    if (t->p == NULL) {
        free(t);
        return NULL;
    }
    t->q = q;
    t->gen = gen;
    t->rel_cache = atomic_load(&q->h->rel);
    pthread_mutex_lock(&q->mu);
    t->next = q->tls_list;
    q->tls_list = t;
    pthread_mutex_unlock(&q->mu);
    pthread_setspecific(q->key, t);
    return q_tls_cache(q, t);
}

int mproc_queue_close(mproc_queue *q)
{
    if (q == NULL)
        return MPROC_EINVAL;
    uint32_t gen = mproc__q_fork_gen;
    if (mproc__q_last.q == q)
        mproc__q_last.q = NULL;
    pthread_key_delete(q->key);
    pthread_mutex_lock(&q->mu);
    q_forget_parent(q, gen);
    struct q_tls *t = q->tls_list;
    q->tls_list = NULL;
    pthread_mutex_unlock(&q->mu);
    while (t) {
        struct q_tls *next = t->next;
        q_tls_free(q, t);
        t = next;
    }
    pthread_mutex_destroy(&q->mu);
    munmap(q->data, 2 * q->data_size);
    /* Only the creating process unlinks, never a child that inherited it.
     * Decided from process-local state only: a peer may have scribbled over
     * the header's creator_pid. */
    bool unlink_name = q->seg.owner && q->pid == mproc__self_pid();
    mproc__seg_close(&q->seg, unlink_name);
    free(q);
    return 0;
}

/* ------------------------------------------------------------------------
 * Statistics. */

void mproc__q_stats_sum(struct mproc_queue *q, struct mproc_queue_stats *st)
{
    struct q_hdr *h = q->h;
    memset(st, 0, sizeof *st);
    uint64_t task_done = atomic_load(&h->r_task_done);
    st->puts = atomic_load(&h->r_puts);
    st->gets = atomic_load(&h->r_gets);
    st->bytes_in = atomic_load(&h->r_bytes_in);
    st->bytes_out = atomic_load(&h->r_bytes_out);
    st->high_water = atomic_load(&h->r_high_water);
    for (unsigned i = 0; i < Q_PARTS; i++) {
        struct q_part *p = &h->parts[i];
        if (atomic_load_explicit(&p->owner, memory_order_acquire) == 0)
            continue;
        st->participants++;
        st->puts += atomic_load_explicit(&p->puts, memory_order_relaxed);
        st->gets += atomic_load_explicit(&p->gets, memory_order_relaxed);
        st->bytes_in += atomic_load_explicit(&p->bytes_in, memory_order_relaxed);
        st->bytes_out += atomic_load_explicit(&p->bytes_out, memory_order_relaxed);
        task_done += atomic_load_explicit(&p->task_done, memory_order_relaxed);
        uint64_t hw = atomic_load_explicit(&p->high_water, memory_order_relaxed);
        if (hw > st->high_water)
            st->high_water = hw;
    }
    uint64_t lost_get = atomic_load(&h->lost_get);
    st->lost = atomic_load(&h->lost_put) + lost_get;
    uint64_t out = st->gets + lost_get;
    st->msgs = st->puts > out ? st->puts - out : 0;
    uint64_t done = task_done + lost_get;
    st->unfinished = (q->flags & MPROC_QUEUE_JOINABLE) && st->puts > done ? st->puts - done : 0;
    if ((q->flags & MPROC_QUEUE_JOINABLE) && st->puts < done)
        st->unfinished = 0;
    uint64_t r = mproc__q_sweep(q, UINT32_MAX), t = atomic_load(&h->tail);
    st->bytes_used = t >= r ? (t - r) << q->unit_shift : 0;
    st->high_water <<= q->unit_shift;
    st->capacity = q->cap_bytes;
    st->max_msgs = q->max_msgs;
    st->unit_size = q->unit;
    st->waiting_getters = atomic_load(&h->get_waiters);
    st->waiting_putters = atomic_load(&h->put_waiters);
    st->flags = q->flags;
    st->closed = atomic_load(&h->closed) != 0;
    st->creator_pid = q->seg.hdr->creator_pid;
}

int mproc_queue_stats(mproc_queue *q, struct mproc_queue_stats *st)
{
    if (q == NULL || st == NULL)
        return MPROC_EINVAL;
    int rc = mproc__q_recover(q);
    if (rc < 0)
        return rc;
    mproc__q_stats_sum(q, st);
    return 0;
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
    mproc__q_stats_sum(q, &tmp);
    mproc_queue_close(q);
    *st = tmp;
    return 0;
}
