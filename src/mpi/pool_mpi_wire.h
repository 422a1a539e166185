/* pool_mpi_wire.h - what the two halves of the MPI pool backend share: the
 * messages (see the design note of pool_mpi.c), the waiting helpers
 * (src/mpi/wait.c) and the worker's loop (src/mpi/worker.c). Private to
 * libmproc_mpi; every symbol is hidden.
 */
#ifndef MPROC_POOL_MPI_WIRE_H
#define MPROC_POOL_MPI_WIRE_H

#include "pool/pool_internal.h"

#include "mproc/pool_mpi.h"

enum { TAG_CONFIG = 1, TAG_HELLO = 2, TAG_CHUNK = 3, TAG_TERM = 4, TAG_RESULT = 5 };
enum { KIND_CHUNK = 0x4d43, KIND_STOP = 0x4d53, KIND_RESULT = 0x4d52, KIND_BYE = 0x4d42 };
#define FLAG_LENS 1u
#define NAME_MAX_LEN 63

struct wire_config {
    int32_t status;
    uint32_t use;
    uint64_t slot_bytes;
    uint32_t slots;
    uint32_t pad;
};

struct wire_hello {
    int32_t init_rc;
    uint32_t pid;
};

struct wire_chunk {
    uint32_t kind;
    uint32_t count;
    uint32_t in_stride;
    uint32_t out_size;
    uint32_t entry; /* the owner's chunk entry, echoed in the result */
    uint32_t gen;   /* the entry's generation, echoed too */
    uint16_t name_len;
    uint16_t flags;
    uint32_t pad;
};
#define CHUNK_HDR sizeof(struct wire_chunk)
#define CHUNK_EXTRA (CHUNK_HDR + 64)

struct wire_result {
    uint32_t kind;
    uint32_t entry;
    uint32_t gen;
    uint32_t count;
    uint32_t out_size;
    uint32_t pad;
};
#define RESULT_HDR sizeof(struct wire_result)

/* Waiting without busy-polling (src/mpi/wait.c) ---------------------------- */

struct mproc__mpi_backoff {
    uint64_t start_ns;
    long sleep_ns;
};

uint64_t mproc__mpi_now_ns(void);
void mproc__mpi_backoff_reset(struct mproc__mpi_backoff *b);
/* One pause of an idle loop: spin, then yield, then sleep up to 1 ms. */
void mproc__mpi_backoff_pause(struct mproc__mpi_backoff *b);
/* Complete one request (MPI_Test + backoff); 0 or MPROC_EIO. */
int mproc__mpi_wait(MPI_Request *r, MPI_Status *st);
int mproc__mpi_send_wait(const void *buf, int len, int dest, int tag, MPI_Comm comm);
int mproc__mpi_recv_wait(void *buf, int len, int src, int tag, MPI_Comm comm, MPI_Status *st);
/* Cancel a posted receive and complete it; MPI_REQUEST_NULL is ignored. */
void mproc__mpi_cancel_recv(MPI_Request *r);

/* The worker ranks' side (src/mpi/worker.c): receives the configuration,
 * runs the initializer, serves chunks until STOP. MPROC_MPI_SERVED or a
 * negative code (the one rank 0 sent, MPROC_EBROKEN, MPROC_EIO). */
int mproc__mpi_worker_main(MPI_Comm comm, const struct mproc_pool_opts *opts);

#endif
