/* mproc/pool_mpi.h - the mproc_pool API over the ranks of an MPI job
 * (libmproc_mpi, -lmproc_mpi; links MPI, the core library never does).
 *
 *   static int count_primes(const void *in, size_t in_len, void *out, size_t *out_len,
 *                           void *ctx);
 *   MPROC_TASK(count_primes);                 // tasks travel by name
 *
 *   int main(int argc, char **argv)
 *   {
 *       mproc_mpi_init(&argc, &argv);         // or MPI_Init yourself
 *       mproc_pool *pool;
 *       int rc = mproc_pool_create_mpi(&pool, NULL);   // called by EVERY rank
 *       if (rc == MPROC_MPI_SERVED) {         // ranks 1..N-1 served tasks until
 *           mproc_mpi_finalize();             // rank 0 joined the pool
 *           return 0;
 *       }
 *       if (rc < 0) ...                       // rank 0 (or every rank) failed
 *       mproc_pool_map(pool, count_primes, ...);   // rank 0 only: the usual API
 *       mproc_pool_shutdown(pool);
 *       mproc_pool_join(pool, MPROC_FOREVER);
 *       mproc_pool_close(pool);
 *       mproc_mpi_finalize();
 *   }
 *
 *   mpiexec -n 5 ./program          (rank 0 + 4 workers)
 *
 * Model
 * -----
 * The "static" mode of mpi4py.futures: every rank runs the program; rank 0
 * of the communicator is the owner and gets a pool handle, the other ranks
 * are the workers and stay inside mproc_pool_create_mpi(), running tasks,
 * until rank 0 joins, terminates or frees the pool; then the call returns
 * MPROC_MPI_SERVED on them. Every mproc_pool_* call works on rank 0 as with
 * a local pool (maps, streams, futures, per-item errors, progress).
 *
 * Tasks travel by the name they were registered under (MPROC_TASK(fn),
 * mproc_task_register()): a function pointer means nothing in another
 * process. A map with an unregistered fn fails at rank 0 with
 * MPROC_ENOENTRY; a name a worker does not know (a different binary) fails
 * each item it was given with MPROC_ENOENTRY.
 *
 * Options: each rank passes its own opts (it is the same program, so they
 * normally agree). initializer, init_arg and task_ctx are taken from each
 * rank's own opts (they are pointers of that process); the sizes
 * (slot_bytes, slots_per_worker) come from rank 0. opts.workers is 0 (every
 * other rank) or at most size-1 (ranks past it are not used and return
 * MPROC_MPI_SERVED at once). max_tasks_per_worker must be 0 and start_method
 * is ignored: an MPI rank cannot be replaced.
 *
 * Idle workers do not spin: a worker with nothing to do polls with
 * MPI_Test and sleeps between polls, growing from a brief spin to 1 ms, so
 * an idle worker costs a few percent of a CPU at most, and the first task
 * after a long pause waits up to about a millisecond.
 *
 * Worker death
 * ------------
 * MPI here is fail-stop: when any rank dies (a crash, SIGKILL, exit() inside
 * a task, a lost node), Open MPI's runtime aborts the whole job, rank 0
 * included. The pool cannot notice it, report MPROC_EWORKERDIED or replace
 * the worker: opts.on_death and max_retries have no effect. Use the local
 * pool (mproc_pool_create) when tasks may crash, or run each task in a
 * local pool inside the MPI worker.
 *
 * Termination: mproc_pool_terminate() cannot SIGKILL a rank. It tells every
 * worker to drop the chunks it has not started and waits until each one has
 * finished the item it is running; the unfinished items fail with
 * MPROC_ECANCELED as usual.
 *
 * mproc_pool_worker_pids() gives each worker rank's pid on its own node.
 * Free the pool before MPI_Finalize (a pool freed after it only releases
 * its memory).
 *
 * Threads: the pool's MPI calls are made by the thread that calls the pool
 * (rank 0) or mproc_pool_create_mpi (workers); MPI must be initialised with
 * at least MPI_THREAD_FUNNELED for that thread (mproc_mpi_init asks for it).
 * The pool uses its own duplicate of the communicator, so the program's own
 * messages never mix with the pool's.
 */
#ifndef MPROC_POOL_MPI_H
#define MPROC_POOL_MPI_H

#include "../mproc.h"

#include <mpi.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Returned by mproc_pool_create_mpi on the worker ranks once they are done
 * serving (a positive value: not an error, and not rank 0). */
#define MPROC_MPI_SERVED 1

/* mproc_mpi_init - MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED) unless
 * MPI is already initialised. Returns this rank in MPI_COMM_WORLD (>= 0),
 * MPROC_EIO if MPI failed. */
MPROC_API int mproc_mpi_init(int *argc, char ***argv);

/* mproc_mpi_finalize - MPI_Finalize unless already finalised; 0 or
 * MPROC_EIO. Free the pool first. */
MPROC_API int mproc_mpi_finalize(void);

/* mproc_pool_create_mpi - the pool over MPI_COMM_WORLD: as
 * mproc_pool_create_mpi_comm(out, opts, MPI_COMM_WORLD). */
MPROC_API int mproc_pool_create_mpi(mproc_pool **out, const struct mproc_pool_opts *opts);

/* mproc_pool_create_mpi_comm - collective over comm: every rank calls it.
 * On rank 0: waits until every worker has run its initializer, then returns
 * 0 and *out, a pool whose workers are ranks 1..workers. On the other ranks:
 * serves tasks until rank 0 joins, terminates or frees the pool, then
 * returns MPROC_MPI_SERVED (out untouched); blocks that long.
 * Errors (on rank 0, and the same code on every worker rank, so that no
 * rank is left waiting): MPROC_EINVAL (NULL out, bad opts, opts.workers >
 * size-1, max_tasks_per_worker != 0, a communicator of one rank: there is no
 * worker); MPROC_ENOTSUP (opts.background or opts.task_timeout_ms: a rank
 * cannot be killed and replaced, and MPI calls stay on one thread; a submit
 * or map that asks for a task timeout gets MPROC_ENOTSUP too; a future
 * already sent to a rank cannot be cancelled: MPROC_EBUSY); MPROC_EBROKEN
 * (a worker's initializer failed; that worker returns
 * MPROC_EBROKEN, the others MPROC_MPI_SERVED); MPROC_EIO (MPI was not
 * initialised or an MPI call failed); MPROC_ENOMEM. */
MPROC_API int mproc_pool_create_mpi_comm(mproc_pool **out, const struct mproc_pool_opts *opts,
                                         MPI_Comm comm);

#ifdef __cplusplus
}
#endif
#endif
