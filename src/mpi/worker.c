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
 * Idle, the loop sleeps (mproc__mpi_backoff_pause): no busy-polling.
 */
#include "pool_mpi_wire.h"

#include <stdlib.h>
#include <unistd.h>

struct wslot {
    unsigned char *in;
    unsigned char *res;
    MPI_Request req;
    bool sending;
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
    size_t off = CHUNK_HDR + (((size_t)h.name_len + 3) & ~(size_t)3);
    size_t lens_off = off;
    if (h.flags & FLAG_LENS)
        off += 4 * n;
    bool ok = n > 0 && h.name_len <= NAME_MAX_LEN &&
              off + n * h.in_stride == (size_t)bytes &&
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
    int fail = !ok ? MPROC_ECORRUPT : ws->terminating ? MPROC_ECANCELED : !ws->fn ? MPROC_ENOENTRY : 0;
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

static int worker_serve(struct wstate *ws, unsigned k)
{
    struct wslot *slots = calloc(k, sizeof *slots);
    unsigned *fifo = calloc(k, sizeof *fifo);
    unsigned head = 0, len = 0;
    int rc = 0, term_msg = 0;
    MPI_Request term_req = MPI_REQUEST_NULL;
    if (!slots || !fifo) {
        rc = MPROC_ENOMEM;
        goto out;
    }
    for (unsigned i = 0; i < k; i++)
        slots[i].req = MPI_REQUEST_NULL;
    for (unsigned i = 0; i < k; i++) {
        slots[i].in = malloc(ws->in_cap);
        slots[i].res = malloc(ws->res_cap);
        if (!slots[i].in || !slots[i].res) {
            rc = MPROC_ENOMEM;
            goto out;
        }
    }
    for (unsigned i = 0; i < k; i++) {
        if (MPI_Irecv(slots[i].in, (int)ws->in_cap, MPI_BYTE, 0, TAG_CHUNK, ws->comm,
                      &slots[i].req) != MPI_SUCCESS) {
            rc = MPROC_EIO;
            goto out;
        }
        fifo[len++] = i;
    }
    if (MPI_Irecv(&term_msg, sizeof term_msg, MPI_BYTE, 0, TAG_TERM, ws->comm, &term_req) !=
        MPI_SUCCESS) {
        rc = MPROC_EIO;
        goto out;
    }
    struct mproc__mpi_backoff bo;
    mproc__mpi_backoff_reset(&bo);
    bool stopping = false;
    while (!stopping) {
        bool progress = false;
        int flag = 0;
        for (unsigned i = 0; i < k; i++) {
            if (!slots[i].sending)
                continue;
            MPI_Test(&slots[i].req, &flag, MPI_STATUS_IGNORE);
            if (!flag)
                continue;
            slots[i].sending = false;
            MPI_Irecv(slots[i].in, (int)ws->in_cap, MPI_BYTE, 0, TAG_CHUNK, ws->comm,
                      &slots[i].req);
            fifo[(head + len++) % k] = i;
            progress = true;
        }
        if (!ws->terminating && term_req != MPI_REQUEST_NULL) {
            MPI_Test(&term_req, &flag, MPI_STATUS_IGNORE);
            ws->terminating = flag;
        }
        if (len > 0) {
            struct wslot *s = &slots[fifo[head]];
            MPI_Status st;
            MPI_Test(&s->req, &flag, &st);
            if (flag) {
                head = (head + 1) % k;
                len--;
                progress = true;
                int bytes = 0;
                uint32_t kind = 0;
                MPI_Get_count(&st, MPI_BYTE, &bytes);
                if (bytes >= (int)CHUNK_HDR)
                    memcpy(&kind, s->in, sizeof kind);
                if (kind == KIND_STOP) {
                    stopping = true;
                    fifo[(head + len++) % k] = (unsigned)(s - slots);
                    s->req = MPI_REQUEST_NULL;
                } else {
                    size_t rlen = kind == KIND_CHUNK ? run_chunk(ws, s, bytes) : 0;
                    if (rlen > 0) {
                        MPI_Isend(s->res, (int)rlen, MPI_BYTE, 0, TAG_RESULT, ws->comm,
                                  &s->req);
                        s->sending = true;
                    } else {
                        MPI_Irecv(s->in, (int)ws->in_cap, MPI_BYTE, 0, TAG_CHUNK, ws->comm,
                                  &s->req);
                        fifo[(head + len++) % k] = (unsigned)(s - slots);
                    }
                }
            }
        }
        if (progress)
            mproc__mpi_backoff_reset(&bo);
        else
            mproc__mpi_backoff_pause(&bo);
    }
out:
    if (slots) {
        for (unsigned i = 0; i < k; i++) {
            if (slots[i].sending)
                mproc__mpi_wait(&slots[i].req, MPI_STATUS_IGNORE);
            else
                mproc__mpi_cancel_recv(&slots[i].req);
        }
    }
    mproc__mpi_cancel_recv(&term_req);
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
    return rc < 0 ? rc : MPROC_MPI_SERVED;
}
