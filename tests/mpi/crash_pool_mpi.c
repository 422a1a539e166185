/* crash_pool_mpi.c - what a rank's death does to an MPI pool: MPI is
 * fail-stop, so a worker rank SIGKILLed in the middle of a task ends the
 * whole job (rank 0 included) instead of leaving rank 0 waiting forever.
 *
 * Run by CTest under mpirun -n 3 (crash_pool_mpi_worker_killed_ends_the_job):
 * it passes when mpirun reports the rank killed by signal 9, and fails if
 * rank 0's map ever returns ("UNEXPECTED") or rank 0 hangs until its alarm
 * ("Alarm clock").
 */
#include "mproc/pool_mpi.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int die_on_five(const void *in, size_t in_len, void *out, size_t *out_len, void *ctx)
{
    (void)in_len, (void)out, (void)ctx;
    int64_t x;
    memcpy(&x, in, sizeof x);
    if (x == 5)
        raise(SIGKILL);
    *out_len = 0;
    return 0;
}
MPROC_TASK(die_on_five)

int main(int argc, char **argv)
{
    alarm(30);
    mproc_mpi_init(&argc, &argv);
    mproc_pool *pool;
    int rc = mproc_pool_create_mpi(&pool, NULL);
    if (rc == MPROC_MPI_SERVED) {
        mproc_mpi_finalize();
        return 0;
    }
    if (rc < 0) {
        fprintf(stderr, "create: %s\n", mproc_strerror(rc));
        return 1;
    }
    int64_t in[20];
    for (int i = 0; i < 20; i++)
        in[i] = i;
    struct mproc_pool_map_opts mo = {.chunksize = 1};
    rc = mproc_pool_map(pool, die_on_five, in, 20, sizeof in[0], NULL, 0, &mo, MPROC_FOREVER);
    printf("UNEXPECTED: map returned %d\n", rc);
    fflush(stdout);
    mproc_pool_close(pool);
    mproc_mpi_finalize();
    return 0;
}
