/* mpi/worker.c - the worker ranks of the MPI pool: serve chunks from rank 0.
 *
 * Model: one loop, one thread. K = slots_per_worker receive slots, each an
 * input buffer (a chunk message, at most slot_bytes + CHUNK_EXTRA) and a
 * result buffer (at most slot_bytes + RESULT_HDR). A slot cycles
 *     receive posted -> chunk arrived -> tasks run -> result sending
 *     -> send completed -> receive posted again
 * and `fifo` holds the slots with a posted receive in the order they were
 * posted. MPI matches messages from one sender with one tag to receives in
 * posting order, so the head of `fifo` always gets the oldest chunk rank 0
 * sent: chunks run in the order they were posted, and STOP (sent last, on
 * the same tag) is seen only after every chunk before it.
 *
 * A separate receive waits for TERM (terminate): from then on chunks are
 * answered without running (every item MPROC_ECANCELED), so that rank 0
 * gets one answer per chunk and nothing is left in flight.
 *
 * Every field of a chunk message is checked against the message's size and
 * the result buffer before use; a chunk that does not add up is answered
 * with MPROC_ECORRUPT per item (or not at all if even its count is absurd).
 * Idle, the loop sleeps (mproc__mpi_backoff_pause): no busy-polling. One
 * MPI_Testsome over every pending request per iteration keeps the cost of
 * Open MPI's progress engine to one pass.
 *
 * A worker that cannot go on (out of memory, an MPI error) calls MPI_Abort:
 * rank 0 relies on one answer per chunk, and MPI is fail-stop anyway.
 */
#include "pool_mpi_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct wslot {
    unsigned char *in;
    unsigned char *res;
    bool recv_done; /* a chunk arrived, not yet run */
    int bytes;      /* its size */
};

struct wstate {
    MPI_Comm comm;
    size_t in_cap;
    size_t res_cap;
    void *task_ctx;
    char name[NAME_MAX_LEN + 1];
    mproc_task_fn fn;
    bool terminating;
};

/* Runs one chunk message (bytes long) from s->in into s->res; returns the
 * result's length, or 0 when the message is too broken to answer. */
static size_t run_chunk(struct wstate *ws, struct wslot *s, int bytes)
{
    struct wire_chunk h;
    memcpy(&h, s->in, sizeof h);
    size_t n = h.count;
    /* Bounded first, so that the products below cannot wrap. */
    if (n == 0 || n > ws->res_cap || h.out_size > ws->res_cap || h.in_stride > ws->in_cap)
        return 0;
    size_t off = CHUNK_HDR + (((size_t)h.name_len + 3) & ~(size_t)3);
    size_t lens_off = off;
    if (h.flags & FLAG_LENS)
        off += 4 * n;
    bool ok = n > 0 && h.name_len <= NAME_MAX_LEN && off + n * h.in_stride == (size_t)bytes &&
              RESULT_HDR + n * (8 + (size_t)h.out_size) <= ws->res_cap;
    if (!(n > 0 && RESULT_HDR + n * (8 + (size_t)h.out_size) <= ws->res_cap))
        return 0;
    int32_t *status = (int32_t *)(void *)(s->res + RESULT_HDR);
    uint32_t *out_len = (uint32_t *)(void *)(s->res + RESULT_HDR + 4 * n);
    unsigned char *out = s->res + RESULT_HDR + 8 * n;
    struct wire_result r = {.kind = KIND_RESULT,
                            .entry = h.entry,
                            .gen = h.gen,
                            .count = h.count,
                            .out_size = h.out_size};
    memcpy(s->res, &r, sizeof r);
    if (ok && h.name_len > 0) {
        memcpy(ws->name, s->in + CHUNK_HDR, h.name_len);
        ws->name[h.name_len] = '\0';
        ws->fn = mproc_task_find(ws->name);
    }
    int fail = !ok               ? MPROC_ECORRUPT
               : ws->terminating ? MPROC_ECANCELED
               : !ws->fn         ? MPROC_ENOENTRY
                                 : 0;
    for (size_t i = 0; i < n; i++) {
        int rc = fail;
        size_t olen = h.out_size;
        if (!rc) {
            size_t ilen = h.in_stride;
            if (h.flags & FLAG_LENS) {
                uint32_t l;
                memcpy(&l, s->in + lens_off + 4 * i, 4);
                ilen = l <= h.in_stride ? l : h.in_stride;
            }
            rc = ws->fn(s->in + off + i * h.in_stride, ilen, out + i * h.out_size, &olen,
                        ws->task_ctx);
            if (rc > 0)
                rc = MPROC_ETASKFAILED;
            if (rc == 0 && olen > h.out_size)
                rc = MPROC_EOVERFLOW;
        }
        status[i] = rc;
        out_len[i] = rc == 0 ? (uint32_t)olen : 0;
    }
    return RESULT_HDR + 8 * n + (n - 1) * h.out_size + out_len[n - 1];
}

/* Posts a slot's receive (the caller appends it to the fifo). */
static int post_slot(struct wstate *ws, struct wslot *s, MPI_Request *req)
{
    s->recv_done = false;
    return MPI_Irecv(s->in, (int)ws->in_cap, MPI_BYTE, 0, TAG_CHUNK, ws->comm, req) == MPI_SUCCESS
               ? 0
               : MPROC_EIO;
}

/* The serving loop. reqs[] holds every request the loop waits on, so that
 * one MPI_Testsome (one pass of Open MPI's progress engine) per iteration
 * sees everything: [0, k) the slots' receives, [k, 2k) their result sends,
 * [2k] the TERM receive. */
static int worker_serve(struct wstate *ws, unsigned k)
{
    struct wslot *slots = calloc(k, sizeof *slots);
    unsigned *fifo = calloc(k, sizeof *fifo);
    MPI_Request *reqs = malloc((2 * (size_t)k + 1) * sizeof *reqs);
    int *idx = malloc((2 * (size_t)k + 1) * sizeof *idx);
    MPI_Status *sts = malloc((2 * (size_t)k + 1) * sizeof *sts);
    unsigned head = 0, len = 0, nreq = 2 * k + 1;
    int rc = 0, term_msg = 0;
    if (!slots || !fifo || !reqs || !idx || !sts) {
        free(slots);
        free(reqs);
        slots = NULL;
        reqs = NULL;
        rc = MPROC_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < nreq; i++)
        reqs[i] = MPI_REQUEST_NULL;
    for (unsigned i = 0; i < k; i++) {
        slots[i].in = malloc(ws->in_cap);
        slots[i].res = malloc(ws->res_cap);
        if (!slots[i].in || !slots[i].res) {
            rc = MPROC_ENOMEM;
            goto out;
        }
    }
    for (unsigned i = 0; i < k && rc == 0; i++) {
        rc = post_slot(ws, &slots[i], &reqs[i]);
        fifo[len++] = i;
    }
    if (rc == 0 && MPI_Irecv(&term_msg, sizeof term_msg, MPI_BYTE, 0, TAG_TERM, ws->comm,
                             &reqs[2 * k]) != MPI_SUCCESS)
        rc = MPROC_EIO;
    struct mproc__mpi_backoff bo;
    mproc__mpi_backoff_reset(&bo);
    bool stopping = false;
    while (rc == 0 && !stopping) {
        bool progress = false;
        int n = 0;
        if (MPI_Testsome((int)nreq, reqs, &n, idx, sts) != MPI_SUCCESS) {
            rc = MPROC_EIO;
            break;
        }
        for (int j = 0; j < n && n != MPI_UNDEFINED; j++) {
            unsigned i = (unsigned)idx[j];
            progress = true;
            if (i < k) { /* a chunk arrived in slot i */
                int bytes = 0;
                MPI_Get_count(&sts[j], MPI_BYTE, &bytes);
                slots[i].bytes = bytes;
                slots[i].recv_done = true;
            } else if (i < 2 * k) { /* slot i - k's result is out: receive again */
                rc = post_slot(ws, &slots[i - k], &reqs[i - k]);
                fifo[(head + len++) % k] = i - k;
            } else {
                ws->terminating = true;
            }
        }
        /* Run the chunks that arrived, oldest first (see the design note). */
        while (rc == 0 && len > 0 && slots[fifo[head]].recv_done) {
            unsigned i = fifo[head];
            struct wslot *s = &slots[i];
            head = (head + 1) % k;
            len--;
            s->recv_done = false;
            uint32_t kind = 0;
            if (s->bytes >= (int)CHUNK_HDR)
                memcpy(&kind, s->in, sizeof kind);
            if (kind == KIND_STOP) {
                stopping = true;
                break;
            }
            size_t rlen = kind == KIND_CHUNK ? run_chunk(ws, s, s->bytes) : 0;
            if (rlen > 0) {
                if (MPI_Isend(s->res, (int)rlen, MPI_BYTE, 0, TAG_RESULT, ws->comm, &reqs[k + i]) !=
                    MPI_SUCCESS)
                    rc = MPROC_EIO;
            } else { /* unanswerable: drop it and receive again */
                rc = post_slot(ws, s, &reqs[i]);
                fifo[(head + len++) % k] = i;
            }
        }
        if (progress)
            mproc__mpi_backoff_reset(&bo);
        else
            mproc__mpi_backoff_pause(&bo);
    }
out:
    /* Results still going out complete (rank 0 has receives posted for
     * them); receives still posted are cancelled. */
    if (reqs) {
        for (unsigned i = 0; i < nreq; i++) {
            if (i >= k && i < 2 * k)
                mproc__mpi_wait(&reqs[i], MPI_STATUS_IGNORE);
            else
                mproc__mpi_cancel_recv(&reqs[i]);
        }
    }
    if (rc == 0) {
        struct wire_result bye = {.kind = KIND_BYE};
        rc = mproc__mpi_send_wait(&bye, sizeof bye, 0, TAG_RESULT, ws->comm);
    }
    if (slots)
        for (unsigned i = 0; i < k; i++) {
            free(slots[i].in);
            free(slots[i].res);
        }
    free(slots);
    free(fifo);
    free(reqs);
    free(idx);
    free(sts);
    return rc;
}

int mproc__mpi_worker_main(MPI_Comm comm, const struct mproc_pool_opts *opts)
{
    struct wire_config cfg;
    MPI_Status st;
    int bytes = 0;
    if (mproc__mpi_recv_wait(&cfg, sizeof cfg, 0, TAG_CONFIG, comm, &st) < 0)
        return MPROC_EIO;
    MPI_Get_count(&st, MPI_BYTE, &bytes);
    if (bytes != (int)sizeof cfg)
        return MPROC_EIO;
    if (cfg.status < 0)
        return cfg.status;
    if (!cfg.use)
        return MPROC_MPI_SERVED;
    if (cfg.slots == 0 || cfg.slots > 4096 || cfg.slot_bytes < 64 || cfg.slot_bytes > (1u << 30))
        return MPROC_ECORRUPT;
    struct wire_hello hello = {.init_rc = 0, .pid = (uint32_t)getpid()};
    if (opts && opts->initializer)
        hello.init_rc = opts->initializer(opts->init_arg) != 0;
    if (opts && opts->init_entry && !hello.init_rc) {
        /* Every rank runs the same program: the name is found here too. */
        mproc_entry_fn fn = mproc_entry_find(opts->init_entry);
        hello.init_rc = !fn || fn(opts->init_arg, opts->init_arg_len) != 0;
    }
    if (mproc__mpi_send_wait(&hello, sizeof hello, 0, TAG_HELLO, comm) < 0)
        return MPROC_EIO;
    if (hello.init_rc)
        return MPROC_EBROKEN;
    struct wstate ws = {
        .comm = comm,
        .in_cap = (size_t)cfg.slot_bytes + CHUNK_EXTRA,
        .res_cap = (size_t)cfg.slot_bytes + RESULT_HDR,
        .task_ctx = opts ? opts->task_ctx : NULL,
    };
    int rc = worker_serve(&ws, cfg.slots);
    if (rc < 0) {
        /* Rank 0 counts on an answer to every chunk it sent: a worker that
         * cannot serve any more ends the job, as a dead rank would. */
        fprintf(stderr, "mproc MPI pool: worker rank failed: %s; aborting the job\n",
                mproc_strerror(rc));
        MPI_Abort(comm, 70);
    }
    return MPROC_MPI_SERVED;
}
