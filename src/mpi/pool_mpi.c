/* pool_mpi.c - the pool backend over the ranks of an MPI job (libmproc_mpi).
 *
 * Model
 * -----
 * Rank 0 of a private duplicate of the user's communicator is the owner: it
 * runs the common pool engine (src/pool/engine.c) with this file's backend vtable.
 * Ranks 1..W are the workers: they never return from
 * mproc_pool_create_mpi_comm() until the owner stops them. Worker index w
 * (the engine's numbering) is rank w + 1. MPI is fail-stop: a dead rank
 * aborts the job, so this backend never reports LOST or WORKER_GONE events
 * and respawn() is not supported.
 *
 * Messages (all MPI_BYTE on the duplicate communicator)
 * -----------------------------------------------------
 *   TAG_CONFIG  0 -> w   struct wire_config: go (status 0) or give up
 *                        (status < 0), sizes, whether w is used at all
 *   TAG_HELLO   w -> 0   struct wire_hello: pid and the initializer's code
 *   TAG_CHUNK   0 -> w   struct wire_chunk, the task name (only when it
 *                        changes for that worker), in_len[count] (only for
 *                        items of varying length), inputs count * in_stride;
 *                        or a STOP (header only): serve no more
 *   TAG_TERM    0 -> w   one int: drop every chunk not started yet
 *   TAG_RESULT  w -> 0   struct wire_result, status[count], out_len[count],
 *                        outputs (count * out_size, the last one trimmed to
 *                        its length); or a BYE (header only), the worker's
 *                        last message
 * A chunk message is at most slot_bytes + CHUNK_EXTRA bytes and a result at
 * most slot_bytes + RESULT_HDR: max_items() keeps count * (in + out + 12)
 * within slot_bytes. Every size and index in a message is checked by its
 * receiver before use; a bad result makes poll() return MPROC_ECORRUPT.
 *
 * Start-up (collective, in mproc_pool_create_mpi_comm)
 * ----------------------------------------------------
 * Every rank duplicates the communicator. Rank 0 checks its options and
 * sends CONFIG to every other rank, also when it fails (status < 0), so that
 * no rank is left waiting; each used worker runs its initializer and
 * answers HELLO; a failed initializer fails the create on rank 0 with
 * MPROC_EBROKEN and the serving workers are stopped again.
 *
 * Tasks without a name
 * --------------------
 * post() of a function that was never registered cannot go to a worker: the
 * chunk completes at rank 0 at once with MPROC_ENOENTRY for every item and
 * is reported by the next poll() (before any MPI result), so the engine
 * handles it like any finished chunk.
 *
 * Flow control and pipelining
 * ---------------------------
 * The owner keeps at most K = slots_per_worker chunks per worker between
 * post() and release(); chunks go to the least loaded worker, so each worker
 * has several chunks queued and never waits for a round trip. The owner has
 * W * K + W receives for results (and BYEs) posted with MPI_ANY_SOURCE (at
 * most MAX_RECVS: correctness does not depend on the number); a receive
 * buffer handed out in an event is re-posted at release(). Each
 * worker posts K receives for chunks and processes them in the order they
 * were posted (MPI matches messages of one sender and tag to receives in
 * posting order, so that is the order rank 0 sent them). A receive slot is
 * re-posted once the result sent from it has completed.
 *
 * Waiting
 * -------
 * Never a blocking MPI call (Open MPI's busy-poll): MPI_Test with a backoff
 * (src/mpi/wait.c). The worker's loop is in src/mpi/worker.c.
 *
 * Stopping
 * --------
 * stop(): STOP to every idle worker, then wait for their BYEs. kill(): TERM
 * (so that queued chunks are answered without running) and STOP to every
 * worker, then receive and drop everything until each worker's BYE. After
 * either, no message of the pool is left in flight and the remaining posted
 * receives are cancelled, so MPI_Finalize finds nothing pending.
 */
#include "pool_mpi_wire.h"

#include <stdlib.h>
#include <unistd.h>

/* Sizes -------------------------------------------------------------------- */

#define MAX_RECVS 256 /* result receives rank 0 keeps posted, at most */

static size_t chunk_limit(size_t slot_bytes, size_t in_size, size_t out_size)
{
    size_t per = in_size + out_size + 12;
    if (in_size > UINT32_MAX || out_size > UINT32_MAX)
        return 0;
    size_t n = slot_bytes / per;
    return n > UINT32_MAX ? UINT32_MAX : n;
}

/* The owner's side --------------------------------------------------------- */

struct entry {
    bool used;
    uint32_t gen;
    uint64_t token;
    int worker;
    uint32_t count;
    uint32_t in_stride;
    uint32_t out_size;
    size_t in_off;   /* inputs within buf */
    size_t lens_off; /* in_len[] within buf, 0: none */
    unsigned char *buf;
    size_t cap;
    MPI_Request send;
    int next_free;
    int next_local; /* in the queue of chunks failed without a worker */
};

/* Grow an entry's buffer (kept between uses) to at least total bytes. */
static int entry_reserve(struct entry *e, size_t total)
{
    if (e->cap >= total)
        return 0;
    unsigned char *nb = realloc(e->buf, total);
    if (!nb)
        return MPROC_ENOMEM;
    e->buf = nb;
    e->cap = total;
    return 0;
}

struct owner_worker {
    unsigned outstanding; /* chunks between post() and release() */
    bool stop_sent;
    bool gone; /* its BYE arrived */
    pid_t pid;
    mproc_task_fn last_fn; /* the task its last chunk named */
    MPI_Request ctl_req[2];
    int term_msg;
};

struct be {
    MPI_Comm comm;
    int nworkers;
    unsigned slots;
    size_t slot_bytes;
    struct owner_worker *w;
    struct entry *entries;
    int nentries;
    int free_head;
    int local_head, local_tail; /* chunks failed at post(), reported by poll() */
    int rr;                     /* where the search for the least loaded worker starts */
    int nrecv;
    MPI_Request *recv_req;
    int *ready_idx; /* receives completed by the last MPI_Testsome ... */
    MPI_Status *ready_st;
    int ready_n, ready_pos; /* ... and how many of them were handed out */
    unsigned char **recv_buf;
    size_t recv_cap;
    mproc_task_fn name_fn; /* one-entry cache of mproc_task_name() */
    const char *name;
    bool finished; /* every worker said BYE */
};

static struct be *be_of(struct mproc_pool *p)
{
    return p->be;
}

static int post_recv(struct be *b, int i)
{
    if (MPI_Irecv(b->recv_buf[i], (int)b->recv_cap, MPI_BYTE, MPI_ANY_SOURCE, TAG_RESULT, b->comm,
                  &b->recv_req[i]) != MPI_SUCCESS)
        return MPROC_EIO;
    return 0;
}

static size_t be_max_items(struct mproc_pool *p, size_t in_size, size_t out_size)
{
    return chunk_limit(be_of(p)->slot_bytes, in_size, out_size);
}

static size_t be_max_chunks(struct mproc_pool *p)
{
    struct be *b = be_of(p);
    return (size_t)b->nworkers * b->slots;
}

static int pick_worker(struct be *b)
{
    int best = -1;
    for (int k = 0; k < b->nworkers; k++) {
        int w = (b->rr + k) % b->nworkers;
        struct owner_worker *ow = &b->w[w];
        if (ow->stop_sent || ow->outstanding >= b->slots)
            continue;
        if (best < 0 || ow->outstanding < b->w[best].outstanding)
            best = w;
        if (ow->outstanding == 0)
            break;
    }
    if (best >= 0)
        b->rr = (best + 1) % b->nworkers;
    return best;
}

/* A chunk whose task has no name cannot go to any worker: it completes at
 * once, every item with MPROC_ENOENTRY, and poll() reports it like any other
 * (so the engine needs no special path for it). The entry keeps the inputs
 * (for the event's view), then status[] and out_len[]. */
static int post_unnamed(struct be *b, const struct mproc__pool_chunk *c)
{
    if (b->free_head < 0)
        return MPROC_EAGAIN;
    size_t in_bytes = (size_t)c->count * c->in_stride;
    size_t lens_off = (in_bytes + 3) & ~(size_t)3;
    size_t st_off = lens_off + (c->in_lens ? 4 * (size_t)c->count : 0);
    size_t total = st_off + 8 * (size_t)c->count;
    int idx = b->free_head;
    struct entry *e = &b->entries[idx];
    if (entry_reserve(e, total) < 0)
        return MPROC_ENOMEM;
    memcpy(e->buf, c->in, in_bytes);
    if (c->in_lens)
        memcpy(e->buf + lens_off, c->in_lens, 4 * (size_t)c->count);
    for (uint32_t i = 0; i < c->count; i++) {
        int32_t st = MPROC_ENOENTRY;
        uint32_t zero = 0;
        memcpy(e->buf + st_off + 4 * (size_t)i, &st, 4);
        memcpy(e->buf + st_off + 4 * ((size_t)c->count + i), &zero, 4);
    }
    b->free_head = e->next_free;
    e->used = true;
    e->gen++;
    e->token = c->token;
    e->worker = -1;
    e->count = c->count;
    e->in_stride = c->in_stride;
    e->out_size = c->out_size;
    e->in_off = 0;
    e->lens_off = c->in_lens ? lens_off : 0;
    e->next_local = -1;
    if (b->local_tail >= 0)
        b->entries[b->local_tail].next_local = idx;
    else
        b->local_head = idx;
    b->local_tail = idx;
    return 0;
}

static int be_post(struct mproc_pool *p, const struct mproc__pool_chunk *c)
{
    struct be *b = be_of(p);
    if (c->count == 0 || !c->fn)
        return MPROC_EINVAL;
    if (chunk_limit(b->slot_bytes, c->in_stride, c->out_size) < c->count)
        return MPROC_EMSGSIZE;
    if (c->fn != b->name_fn) {
        const char *name = mproc_task_name(c->fn);
        if (!name)
            return post_unnamed(b, c);
        b->name_fn = c->fn;
        b->name = name;
    }
    int w = pick_worker(b);
    if (w < 0 || b->free_head < 0)
        return MPROC_EAGAIN;
    struct owner_worker *ow = &b->w[w];
    size_t name_len = c->fn == ow->last_fn ? 0 : strlen(b->name);
    size_t lens_off = 0, off = CHUNK_HDR + ((name_len + 3) & ~(size_t)3);
    if (c->in_lens) {
        lens_off = off;
        off += 4 * (size_t)c->count;
    }
    size_t total = off + (size_t)c->count * c->in_stride;
    struct entry *e = &b->entries[b->free_head];
    if (entry_reserve(e, total) < 0)
        return MPROC_ENOMEM;
    int idx = b->free_head;
    struct wire_chunk h = {
        .kind = KIND_CHUNK,
        .count = c->count,
        .in_stride = c->in_stride,
        .out_size = c->out_size,
        .entry = (uint32_t)idx,
        .gen = e->gen + 1,
        .name_len = (uint16_t)name_len,
        .flags = c->in_lens ? FLAG_LENS : 0,
    };
    memcpy(e->buf, &h, sizeof h);
    memcpy(e->buf + CHUNK_HDR, b->name, name_len);
    if (c->in_lens)
        memcpy(e->buf + lens_off, c->in_lens, 4 * (size_t)c->count);
    memcpy(e->buf + off, c->in, (size_t)c->count * c->in_stride);
    if (MPI_Isend(e->buf, (int)total, MPI_BYTE, w + 1, TAG_CHUNK, b->comm, &e->send) != MPI_SUCCESS)
        return MPROC_EIO;
    b->free_head = e->next_free;
    e->used = true;
    e->gen++;
    e->token = c->token;
    e->worker = w;
    e->count = c->count;
    e->in_stride = c->in_stride;
    e->out_size = c->out_size;
    e->in_off = off;
    e->lens_off = lens_off;
    ow->outstanding++;
    ow->last_fn = c->fn;
    return 0;
}

static void entry_free(struct be *b, int idx)
{
    struct entry *e = &b->entries[idx];
    if (e->send != MPI_REQUEST_NULL)
        mproc__mpi_wait(&e->send, MPI_STATUS_IGNORE);
    e->used = false;
    if (e->worker >= 0)
        b->w[e->worker].outstanding--;
    e->next_free = b->free_head;
    b->free_head = idx;
}

/* Checks a RESULT message in receive buffer i against its entry: the entry
 * index, generation, sender, count and every length. */
static int check_result(struct be *b, const unsigned char *buf, int bytes, int src,
                        struct entry **out)
{
    struct wire_result h;
    if (bytes < (int)RESULT_HDR)
        return MPROC_ECORRUPT;
    memcpy(&h, buf, sizeof h);
    if (h.kind != KIND_RESULT || h.entry >= (uint32_t)b->nentries)
        return MPROC_ECORRUPT;
    struct entry *e = &b->entries[h.entry];
    if (!e->used || e->gen != h.gen || e->worker + 1 != src || e->count != h.count ||
        e->out_size != h.out_size)
        return MPROC_ECORRUPT;
    const uint32_t *out_len = (const uint32_t *)(const void *)(buf + RESULT_HDR + 4 * h.count);
    size_t want = RESULT_HDR + 8 * (size_t)h.count;
    for (uint32_t i = 0; i < h.count; i++)
        if (out_len[i] > h.out_size)
            return MPROC_ECORRUPT;
    want += (size_t)(h.count - 1) * h.out_size + out_len[h.count - 1];
    if ((size_t)bytes != want)
        return MPROC_ECORRUPT;
    *out = e;
    return 0;
}

/* One completed receive, if any: 1 and its index and status, or 0. One
 * MPI_Testsome (one pass of the progress engine) collects every receive
 * that completed; they are handed out one per call, in index order. */
static int test_recvs(struct be *b, int *idx, MPI_Status *st)
{
    if (b->ready_pos == b->ready_n) {
        int n = 0;
        if (MPI_Testsome(b->nrecv, b->recv_req, &n, b->ready_idx, b->ready_st) != MPI_SUCCESS)
            return MPROC_EIO;
        b->ready_pos = 0;
        b->ready_n = n == MPI_UNDEFINED ? 0 : n;
        if (b->ready_n == 0)
            return 0;
    }
    *idx = b->ready_idx[b->ready_pos];
    *st = b->ready_st[b->ready_pos];
    b->ready_pos++;
    return 1;
}

/* A BYE in receive buffer i: that worker is done. */
static bool take_bye(struct be *b, int i, const MPI_Status *st)
{
    int bytes = 0;
    MPI_Get_count(st, MPI_BYTE, &bytes);
    uint32_t kind = 0;
    if (bytes < (int)RESULT_HDR)
        return false;
    memcpy(&kind, b->recv_buf[i], sizeof kind);
    int w = st->MPI_SOURCE - 1;
    if (kind != KIND_BYE || w < 0 || w >= b->nworkers)
        return false;
    b->w[w].gone = true;
    return true;
}

static int be_poll(struct mproc_pool *p, struct mproc__pool_event *ev,
                   const struct mproc__deadline *d)
{
    struct be *b = be_of(p);
    struct mproc__mpi_backoff bo;
    mproc__mpi_backoff_reset(&bo);
    if (b->local_head >= 0) {
        int idx = b->local_head;
        struct entry *e = &b->entries[idx];
        b->local_head = e->next_local;
        if (b->local_head < 0)
            b->local_tail = -1;
        size_t st_off = (((size_t)e->count * e->in_stride + 3) & ~(size_t)3) +
                        (e->lens_off ? 4 * (size_t)e->count : 0);
        memset(ev, 0, sizeof *ev);
        ev->kind = MPROC__POOL_EV_DONE;
        ev->worker = 0; /* no worker ran it; the engine wants a valid index */
        ev->token = e->token;
        ev->count = ev->ndone = e->count;
        ev->exit_code = -1;
        ev->status = (const int32_t *)(const void *)(e->buf + st_off);
        ev->out_len = (const uint32_t *)(const void *)(e->buf + st_off + 4 * (size_t)e->count);
        ev->out = e->buf;
        ev->out_stride = 0;
        ev->in = e->buf;
        ev->in_stride = e->in_stride;
        ev->in_lens = e->lens_off ? (const uint32_t *)(const void *)(e->buf + e->lens_off) : NULL;
        ev->backend_ref = (void *)(uintptr_t)(b->nrecv + idx);
        return 0;
    }
    if (b->finished)
        return MPROC_ECANCELED; /* every worker is gone: nothing can arrive */
    for (;;) {
        int i;
        MPI_Status st;
        int got = test_recvs(b, &i, &st);
        if (got < 0)
            return got;
        if (got) {
            int bytes = 0;
            struct entry *e = NULL;
            MPI_Get_count(&st, MPI_BYTE, &bytes);
            int rc = check_result(b, b->recv_buf[i], bytes, st.MPI_SOURCE, &e);
            if (rc < 0) {
                take_bye(b, i, &st);
                post_recv(b, i);
                return rc;
            }
            const unsigned char *buf = b->recv_buf[i];
            memset(ev, 0, sizeof *ev);
            ev->kind = MPROC__POOL_EV_DONE;
            ev->worker = e->worker;
            ev->token = e->token;
            ev->count = e->count;
            ev->ndone = e->count;
            ev->pid = b->w[e->worker].pid;
            ev->exit_code = -1;
            ev->status = (const int32_t *)(const void *)(buf + RESULT_HDR);
            ev->out_len = (const uint32_t *)(const void *)(buf + RESULT_HDR + 4 * e->count);
            ev->out = buf + RESULT_HDR + 8 * (size_t)e->count;
            ev->out_stride = e->out_size;
            ev->in = e->buf + e->in_off;
            ev->in_stride = e->in_stride;
            ev->in_lens =
                e->lens_off ? (const uint32_t *)(const void *)(e->buf + e->lens_off) : NULL;
            ev->backend_ref = (void *)(uintptr_t)i;
            return 0;
        }
        if (!d || d->poll)
            return MPROC_ETIMEDOUT;
        if (!d->forever) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > d->abs.tv_sec ||
                (now.tv_sec == d->abs.tv_sec && now.tv_nsec >= d->abs.tv_nsec))
                return MPROC_ETIMEDOUT;
        }
        mproc__mpi_backoff_pause(&bo);
    }
}

static void be_release(struct mproc_pool *p, struct mproc__pool_event *ev)
{
    struct be *b = be_of(p);
    int i = (int)(uintptr_t)ev->backend_ref;
    if (i >= b->nrecv) {
        entry_free(b, i - b->nrecv);
        return;
    }
    struct wire_result h;
    memcpy(&h, b->recv_buf[i], sizeof h);
    entry_free(b, (int)h.entry);
    if (!b->finished)
        post_recv(b, i);
}

static int be_respawn(struct mproc_pool *p, int worker)
{
    (void)p, (void)worker;
    return MPROC_ENOTSUP;
}

static int send_ctl(struct be *b, int w, int tag, int slot)
{
    static const struct wire_chunk stop = {.kind = KIND_STOP};
    struct owner_worker *ow = &b->w[w];
    const void *msg = tag == TAG_TERM ? (const void *)&ow->term_msg : (const void *)&stop;
    int len = tag == TAG_TERM ? (int)sizeof ow->term_msg : (int)sizeof stop;
    if (MPI_Isend(msg, len, MPI_BYTE, w + 1, tag, b->comm, &ow->ctl_req[slot]) != MPI_SUCCESS)
        return MPROC_EIO;
    return 0;
}

/* Receives until every worker that was sent STOP said BYE; results that come
 * meanwhile are dropped (only kill() can see any). */
static int drain_byes(struct be *b, const struct mproc__deadline *d)
{
    struct mproc__mpi_backoff bo;
    mproc__mpi_backoff_reset(&bo);
    for (;;) {
        bool all = true;
        for (int w = 0; w < b->nworkers; w++)
            all = all && (b->w[w].gone || !b->w[w].stop_sent);
        if (all)
            return 0;
        int i;
        MPI_Status st;
        int got = test_recvs(b, &i, &st);
        if (got < 0)
            return got;
        if (got) {
            if (!take_bye(b, i, &st)) {
                int bytes = 0;
                struct entry *e = NULL;
                MPI_Get_count(&st, MPI_BYTE, &bytes);
                if (check_result(b, b->recv_buf[i], bytes, st.MPI_SOURCE, &e) == 0)
                    entry_free(b, (int)(e - b->entries));
            }
            post_recv(b, i);
            mproc__mpi_backoff_reset(&bo);
            continue;
        }
        if (d && !d->forever) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (d->poll || now.tv_sec > d->abs.tv_sec ||
                (now.tv_sec == d->abs.tv_sec && now.tv_nsec >= d->abs.tv_nsec))
                return MPROC_ETIMEDOUT;
        }
        mproc__mpi_backoff_pause(&bo);
    }
}

/* Once every worker is gone: nothing more can arrive; cancel the receives
 * and complete the control sends. */
static void finish(struct be *b)
{
    if (b->finished)
        return;
    b->finished = true;
    for (int i = 0; i < b->nrecv; i++)
        mproc__mpi_cancel_recv(&b->recv_req[i]);
    for (int w = 0; w < b->nworkers; w++)
        for (int k = 0; k < 2; k++)
            if (b->w[w].ctl_req[k] != MPI_REQUEST_NULL)
                mproc__mpi_wait(&b->w[w].ctl_req[k], MPI_STATUS_IGNORE);
}

static int be_stop(struct mproc_pool *p, const struct mproc__deadline *d)
{
    struct be *b = be_of(p);
    if (b->finished)
        return 0;
    for (int w = 0; w < b->nworkers; w++) {
        struct owner_worker *ow = &b->w[w];
        if (ow->outstanding > 0)
            return MPROC_EBUSY;
    }
    for (int w = 0; w < b->nworkers; w++) {
        if (!b->w[w].stop_sent) {
            if (send_ctl(b, w, TAG_CHUNK, 1) < 0)
                return MPROC_EIO;
            b->w[w].stop_sent = true;
        }
    }
    int rc = drain_byes(b, d);
    if (rc == 0)
        finish(b);
    return rc;
}

static void be_kill(struct mproc_pool *p)
{
    struct be *b = be_of(p);
    if (b->finished)
        return;
    for (int w = 0; w < b->nworkers; w++) {
        struct owner_worker *ow = &b->w[w];
        if (ow->stop_sent)
            continue;
        send_ctl(b, w, TAG_TERM, 0);
        send_ctl(b, w, TAG_CHUNK, 1);
        ow->stop_sent = true;
    }
    drain_byes(b, NULL);
    finish(b);
}

/* The owner's tables and b itself (what be_alloc made; any may be NULL). */
static void be_free_tables(struct be *b)
{
    if (b->recv_buf)
        for (int i = 0; i < b->nrecv; i++)
            free(b->recv_buf[i]);
    free(b->recv_buf);
    free(b->recv_req);
    free(b->ready_idx);
    free(b->ready_st);
    free(b->entries);
    free(b->w);
    free(b);
}

static void be_destroy(struct mproc_pool *p)
{
    struct be *b = be_of(p);
    if (!b)
        return;
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (finalized) {
        /* Freed after MPI_Finalize (a usage error): no MPI call is allowed
         * any more; release the memory only. */
        b->finished = true;
        for (int i = 0; i < b->nentries; i++)
            b->entries[i].send = MPI_REQUEST_NULL;
        b->comm = MPI_COMM_NULL;
    }
    be_kill(p);
    for (int i = 0; i < b->nentries; i++) {
        if (b->entries[i].send != MPI_REQUEST_NULL)
            mproc__mpi_wait(&b->entries[i].send, MPI_STATUS_IGNORE);
        free(b->entries[i].buf);
    }
    if (b->comm != MPI_COMM_NULL)
        MPI_Comm_free(&b->comm);
    be_free_tables(b);
    p->be = NULL;
}

static int be_worker_pids(const struct mproc_pool *p, pid_t *out, int max)
{
    const struct be *b = p->be;
    if (max < 0 || (max > 0 && !out))
        return MPROC_EINVAL;
    for (int w = 0; w < b->nworkers && w < max; w++)
        out[w] = b->w[w].pid;
    return b->nworkers;
}

MPROC__TEST_API extern const struct mproc__pool_backend mproc__pool_mpi_backend;
const struct mproc__pool_backend mproc__pool_mpi_backend = {
    .name = "mpi",
    .max_items = be_max_items,
    .max_chunks = be_max_chunks,
    .post = be_post,
    .poll = be_poll,
    .release = be_release,
    .respawn = be_respawn,
    .stop = be_stop,
    .kill = be_kill,
    .destroy = be_destroy,
    .worker_pids = be_worker_pids,
};

static struct be *be_alloc(MPI_Comm comm, int nworkers, unsigned slots, size_t slot_bytes)
{
    struct be *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->comm = comm;
    b->nworkers = nworkers;
    b->slots = slots;
    b->slot_bytes = slot_bytes;
    b->nentries = nworkers * (int)slots;
    /* One receive per chunk that can be in flight (and per BYE), but not
     * thousands on a big job: results beyond wait in MPI (small ones in its
     * unexpected queue, large ones at the sender) until a receive is free. */
    b->nrecv = b->nentries + nworkers < MAX_RECVS ? b->nentries + nworkers : MAX_RECVS;
    b->recv_cap = slot_bytes + RESULT_HDR;
    b->w = calloc((size_t)nworkers, sizeof *b->w);
    b->entries = calloc((size_t)b->nentries, sizeof *b->entries);
    b->recv_req = calloc((size_t)b->nrecv, sizeof *b->recv_req);
    b->ready_idx = calloc((size_t)b->nrecv, sizeof *b->ready_idx);
    b->ready_st = calloc((size_t)b->nrecv, sizeof *b->ready_st);
    b->recv_buf = calloc((size_t)b->nrecv, sizeof *b->recv_buf);
    if (!b->w || !b->entries || !b->recv_req || !b->recv_buf || !b->ready_idx || !b->ready_st)
        goto fail;
    for (int i = 0; i < b->nrecv; i++) {
        b->recv_req[i] = MPI_REQUEST_NULL;
        if (!(b->recv_buf[i] = malloc(b->recv_cap)))
            goto fail;
    }
    for (int i = 0; i < b->nentries; i++) {
        b->entries[i].send = MPI_REQUEST_NULL;
        b->entries[i].next_free = i + 1 < b->nentries ? i + 1 : -1;
    }
    b->free_head = 0;
    b->local_head = b->local_tail = -1;
    for (int w = 0; w < nworkers; w++)
        b->w[w].ctl_req[0] = b->w[w].ctl_req[1] = MPI_REQUEST_NULL;
    return b;
fail:
    be_free_tables(b);
    return NULL;
}

/* Start-up ----------------------------------------------------------------- */

/* Rank 0: tells every worker rank to go or to give up (status < 0). */
static int owner_config(MPI_Comm comm, int size, int workers, int status,
                        const struct mproc_pool_opts *r)
{
    int rc = 0;
    for (int rank = 1; rank < size; rank++) {
        struct wire_config cfg = {.status = status, .use = rank <= workers};
        if (r) {
            cfg.slot_bytes = r->slot_bytes;
            cfg.slots = r->slots_per_worker;
        }
        if (mproc__mpi_send_wait(&cfg, sizeof cfg, rank, TAG_CONFIG, comm) < 0)
            rc = MPROC_EIO;
    }
    return rc;
}

/* mproc__pool_mpi_start - rank 0's half of start-up over comm (which the
 * backend owns from now on, even on failure): config to every rank, hellos
 * back, receives posted. Exported by test builds, for the backend's own tests. */
MPROC__TEST_API int mproc__pool_mpi_start(MPI_Comm comm, const struct mproc_pool_opts *r,
                                          void **be_out);
int mproc__pool_mpi_start(MPI_Comm comm, const struct mproc_pool_opts *r, void **be_out)
{
    int size = 0;
    MPI_Comm_size(comm, &size);
    int workers = r->workers == 0 ? size - 1 : r->workers;
    int status = 0;
    if (size < 2 || workers > size - 1 || r->max_tasks_per_worker != 0 ||
        r->slots_per_worker == 0 || r->slot_bytes < 4096)
        status = MPROC_EINVAL;
    else if (r->background || r->task_timeout_ms || r->capture_output)
        status = MPROC_ENOTSUP; /* a service thread, a rank killed: not with MPI */
    struct be *b = status ? NULL : be_alloc(comm, workers, r->slots_per_worker, r->slot_bytes);
    if (!status && !b)
        status = MPROC_ENOMEM;
    if (status) {
        owner_config(comm, size, 0, status, NULL);
        MPI_Comm_free(&comm);
        return status;
    }
    int rc = owner_config(comm, size, workers, 0, r);
    bool init_failed = false;
    for (int w = 0; w < workers && rc == 0; w++) {
        struct wire_hello h;
        MPI_Status st;
        int bytes = 0;
        rc = mproc__mpi_recv_wait(&h, sizeof h, w + 1, TAG_HELLO, comm, &st);
        MPI_Get_count(&st, MPI_BYTE, &bytes);
        if (rc == 0 && bytes != (int)sizeof h)
            rc = MPROC_EIO;
        b->w[w].pid = (pid_t)h.pid;
        if (h.init_rc) {
            init_failed = true;
            b->w[w].stop_sent = b->w[w].gone = true; /* it has returned already */
        }
    }
    for (int i = 0; i < b->nrecv && rc == 0; i++)
        rc = post_recv(b, i);
    if (rc == 0 && init_failed)
        rc = MPROC_EBROKEN;
    if (rc < 0) {
        struct mproc_pool fake = {.be = b};
        be_destroy(&fake); /* stops the workers that are serving */
        return rc;
    }
    *be_out = b;
    return 0;
}

int mproc_pool_create_mpi_comm(mproc_pool **out, const struct mproc_pool_opts *opts, MPI_Comm comm)
{
    int inited = 0, rank = 0;
    if (MPI_Initialized(&inited) != MPI_SUCCESS || !inited)
        return MPROC_EIO;
    MPI_Comm dup;
    if (MPI_Comm_dup(comm, &dup) != MPI_SUCCESS)
        return MPROC_EIO;
    MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    MPI_Comm_rank(dup, &rank);
    if (rank != 0) {
        int rc = mproc__mpi_worker_main(dup, opts);
        MPI_Comm_free(&dup);
        return rc;
    }
    struct mproc_pool_opts r;
    int rc = out ? mproc__pool_opts_resolve(opts, &r) : MPROC_EINVAL;
    if (rc < 0) {
        int size = 0;
        MPI_Comm_size(dup, &size);
        owner_config(dup, size, 0, rc, NULL);
        MPI_Comm_free(&dup);
        return rc;
    }
    if (!opts || opts->workers == 0)
        r.workers = 0; /* resolve counted local CPUs: here 0 means every other rank */
    void *be = NULL;
    rc = mproc__pool_mpi_start(dup, &r, &be);
    if (rc < 0)
        return rc;
    r.workers = ((struct be *)be)->nworkers;
    rc = mproc__pool_new(out, &r, &mproc__pool_mpi_backend, be);
    if (rc < 0) {
        struct mproc_pool fake = {.be = be};
        be_destroy(&fake);
    }
    return rc;
}

int mproc_pool_create_mpi(mproc_pool **out, const struct mproc_pool_opts *opts)
{
    return mproc_pool_create_mpi_comm(out, opts, MPI_COMM_WORLD);
}

int mproc_mpi_init(int *argc, char ***argv)
{
    int inited = 0, provided = 0, rank = 0;
    if (MPI_Initialized(&inited) != MPI_SUCCESS)
        return MPROC_EIO;
    if (!inited && MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return MPROC_EIO;
    if (MPI_Comm_rank(MPI_COMM_WORLD, &rank) != MPI_SUCCESS)
        return MPROC_EIO;
    return rank;
}

int mproc_mpi_finalize(void)
{
    int done = 0;
    if (MPI_Finalized(&done) != MPI_SUCCESS)
        return MPROC_EIO;
    if (!done && MPI_Finalize() != MPI_SUCCESS)
        return MPROC_EIO;
    return 0;
}
