#!/usr/bin/env bash
# fuzz.sh BUILD_DIR SECONDS - run every libFuzzer target in BUILD_DIR/fuzz for
# SECONDS each, starting from the committed seed corpus fuzz/corpus/<target>
# (copied, so the committed corpus only changes by hand). Fails on the first
# crash, leak or timeout; the reproducer is left in BUILD_DIR/fuzz/.
set -euo pipefail
build=$(cd "${1:-build-fuzz}" && pwd) # absolute: each target runs from its own dir
secs=${2:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  target=${name#fuzz_}
  work=$(mktemp -d)
  if [ -d "$root/fuzz/corpus/$target" ]; then cp -r "$root/fuzz/corpus/$target/." "$work/"; fi
  echo "fuzz: $name for ${secs}s"
  if ! (cd "$build/fuzz" && "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$work" 2>&1 | tail -n 12); then
    echo "fuzz: $name FAILED"; status=1
  fi
  rm -rf "$work"
done
ls /dev/shm | grep -q '^mproc-' && { echo "fuzz: left /dev/shm entries"; status=1; }
exit $status
