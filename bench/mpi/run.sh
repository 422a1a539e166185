#!/bin/sh
# run.sh - the MPI pool benchmark and its mpi4py.futures peer, 3 ranks each
# (rank 0 + 2 workers), from the build directory's bench/mpi/:
#     sh bench/mpi/run.sh [ranks]
# MPROC_BENCH_SCALE / MPROC_BENCH_REPS scale both (mpi4py gets 1/10 of the
# tasks: it is that much slower per task, and the figure is per task).
set -e
here=$(cd "$(dirname "$0")" && pwd)
np=${1:-3}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
export OMPI_MCA_btl_vader_single_copy_mechanism=none
mpirun -n "$np" "$here/bench_pool_mpi"
n=$(awk -v s="${MPROC_BENCH_SCALE:-1}" 'BEGIN { n = int(2000 * s); print n < 50 ? 50 : n }')
reps=${MPROC_BENCH_REPS:-5}
mpirun -n "$np" /usr/bin/python3 -m mpi4py.futures "$here/futures_bench.py" "$n" "$reps"
