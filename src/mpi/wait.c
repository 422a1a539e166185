/* mpi/wait.c - waiting on MPI requests without burning a CPU.
 *
 * Open MPI's blocking calls (MPI_Wait, MPI_Recv) busy-poll: an idle worker
 * rank would use a whole CPU. Every wait of the MPI pool is MPI_Test in a
 * loop with a backoff instead: about 20 us of spinning (a busy pool never
 * gets further), then sched_yield() up to 200 us (on an oversubscribed node
 * another rank may need the CPU), then nanosleep growing from 20 us to 1 ms.
 * An idle rank thus wakes about a thousand times a second, costing on the
 * order of 1% of a CPU, and notices new work within about a millisecond.
 */
#include "pool_mpi_wire.h"

#include <sched.h>

uint64_t mproc__mpi_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void mproc__mpi_backoff_reset(struct mproc__mpi_backoff *b)
{
    b->start_ns = 0;
    b->sleep_ns = 0;
}

void mproc__mpi_backoff_pause(struct mproc__mpi_backoff *b)
{
    uint64_t now = mproc__mpi_now_ns();
    if (b->start_ns == 0)
        b->start_ns = now;
    uint64_t idle = now - b->start_ns;
    if (idle < 20000) {
        mproc__cpu_relax();
    } else if (idle < 200000) {
        sched_yield();
    } else {
        b->sleep_ns = b->sleep_ns == 0 ? 20000 : b->sleep_ns * 2;
        if (b->sleep_ns > 1000000)
            b->sleep_ns = 1000000;
        struct timespec ts = {0, b->sleep_ns};
        nanosleep(&ts, NULL); /* EINTR only shortens one pause */
    }
}

/* Waits for one request without burning a CPU. */
int mproc__mpi_wait(MPI_Request *r, MPI_Status *st)
{
    struct mproc__mpi_backoff b;
    mproc__mpi_backoff_reset(&b);
    for (;;) {
        int flag = 0;
        if (MPI_Test(r, &flag, st) != MPI_SUCCESS)
            return MPROC_EIO;
        if (flag)
            return 0;
        mproc__mpi_backoff_pause(&b);
    }
}

int mproc__mpi_send_wait(const void *buf, int len, int dest, int tag, MPI_Comm comm)
{
    MPI_Request r;
    if (MPI_Isend(buf, len, MPI_BYTE, dest, tag, comm, &r) != MPI_SUCCESS)
        return MPROC_EIO;
    return mproc__mpi_wait(&r, MPI_STATUS_IGNORE);
}

int mproc__mpi_recv_wait(void *buf, int len, int src, int tag, MPI_Comm comm, MPI_Status *st)
{
    MPI_Request r;
    if (MPI_Irecv(buf, len, MPI_BYTE, src, tag, comm, &r) != MPI_SUCCESS)
        return MPROC_EIO;
    return mproc__mpi_wait(&r, st);
}

/* Cancels a posted receive and completes it (a receive that already matched
 * a message completes normally; the message is dropped). */
void mproc__mpi_cancel_recv(MPI_Request *r)
{
    if (*r == MPI_REQUEST_NULL)
        return;
    MPI_Cancel(r);
    mproc__mpi_wait(r, MPI_STATUS_IGNORE);
    *r = MPI_REQUEST_NULL;
}
