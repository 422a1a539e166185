#!/usr/bin/env bash
# valgrind_smoke.sh BUILD_DIR - a smoke subset under valgrind memcheck:
# the examples, the plain thread programs (tests/tsan/tsan_*) and a few
# Criterion tests. Any memcheck error (invalid access, uninitialised value
# used, definite leak) fails it (--error-exitcode=1 in every traced process,
# and the programs fail when a child of theirs does). Takes a few minutes.
#
# --trace-children=yes only for the Criterion binaries (BoxFort re-executes
# the binary for each test) and the examples (the spawn start method
# re-executes /proc/self/exe); fork children are always under valgrind.
# Logs: BUILD_DIR/valgrind/<program>.<pid>.log
set -uo pipefail
build=$(cd "${1:-build}" && pwd)
logs="$build/valgrind"
mkdir -p "$logs"
vg=(valgrind --tool=memcheck --error-exitcode=1 --leak-check=full
    --errors-for-leak-kinds=definite --track-fds=no --quiet)
status=0

run() { # run NAME TIMEOUT TRACE_CHILDREN PROGRAM ARGS...
  local name=$1 secs=$2 trace=$3
  shift 3
  if [ ! -x "$1" ]; then
    echo "valgrind: $name: not built, skipped"
    return
  fi
  local t0=$SECONDS
  if timeout "$secs" "${vg[@]}" --trace-children="$trace" --log-file="$logs/$name.%p.log" \
       "$@" >"$logs/$name.out" 2>&1; then
    echo "valgrind: $name ok ($((SECONDS - t0)) s)"
  else
    echo "valgrind: $name FAILED (exit $?, $((SECONDS - t0)) s); see $logs/$name.*"
    grep -h -A12 -E "Invalid|uninitialised|definitely lost|Syscall param" "$logs/$name".*.log \
      2>/dev/null | head -40
    status=1
  fi
}

rm -f "$logs"/*.log
# valgrind < 3.20 does not know pidfd_open (syscall 434), which every
# mproc_process_start and pool needs: then only what starts no process
# through the library runs (raw fork() in tests is fine).
procs=yes
probe=$(valgrind -q "$build/examples/hello_process" 2>&1)
if [[ $probe == *"not implemented"* ]]; then
  procs=no
  echo "valgrind: $(valgrind --version) lacks pidfd_open: process and pool parts skipped"
fi
if [ $procs = yes ]; then
  for ex in hello_process lock_counter pipe_hello queue_hello shm_counter primes_pool; do
    run "example_$ex" 120 yes "$build/examples/$ex"
  done
  run tsan_queue 300 no "$build/tests/tsan/tsan_queue"
  run tsan_sync 300 no "$build/tests/tsan/tsan_sync"
  run tsan_process 300 no "$build/tests/tsan/tsan_process"
  matrix='producer_killed_mid_copy|consumer_killed_holding_view|lock_holder_killed|pool_worker_killed_mid_task'
else
  run tsan_queue 300 no "$build/tests/tsan/tsan_queue" '!process'
  run tsan_sync 300 no "$build/tests/tsan/tsan_sync" '!process'
  run tsan_process 300 no "$build/tests/tsan/tsan_process" pipe
  matrix='producer_killed_mid_copy|consumer_killed_holding_view|lock_holder_killed|barrier_party_killed_waiting'
fi
# Criterion: one test process at a time, a few representative tests.
run test_queue 300 yes "$build/tests/test_queue" --jobs 1 \
  --filter 'queue/@(put_get_round_trip|fifo_order_one_to_one_across_wraps|corrupted_index_or_counters_give_ecorrupt_not_a_crash)'
run test_pipe 300 yes "$build/tests/test_pipe" --jobs 1 \
  --filter 'pipe/@(messages_round_trip_both_ways_at_every_size|garbage_headers_give_ebadmsg_and_nothing_is_allocated)'
run test_hostile 300 yes "$build/tests/test_hostile" --jobs 1 \
  --filter 'hostile/@(open_rejects_segment_of_another_version_or_kind|pipe_rejects_oversized_and_garbage_frames|queue_survives_scribbled_index)'
run test_crash_matrix 300 yes "$build/tests/test_crash_matrix" --jobs 1 --filter "crash_matrix/@($matrix)"
ls /dev/shm | grep -q '^mproc-' && echo "valgrind: note: /dev/shm has mproc- entries (maybe others')"
exit $status
