#!/usr/bin/env bash
# install_test.sh - check that an installed mproc can be consumed.
#
# Configures, builds and installs mproc into a temporary prefix, then builds
# examples/ OUT OF TREE against that installed copy, three ways:
#   1. CMake:      find_package(mproc) -> mproc::mproc   (CMAKE_PREFIX_PATH)
#   2. pkg-config: examples/Makefile, cc $(pkg-config --cflags --libs mproc)
#   3. static:     one example linked with libmproc.a (pkg-config --static)
# and runs the examples that examples/CMakeLists.txt marks as runnable
# (MPROC_EXAMPLES_RUN), with LD_LIBRARY_PATH pointing at the prefix.
# The library is installed with `cmake --install --prefix` to a place other
# than the configured CMAKE_INSTALL_PREFIX, so a package that hard-codes its
# configure-time prefix fails here. Everything lives in one temporary
# directory that is removed at the end, pass or fail.
#
# usage: scripts/install_test.sh            (JOBS=n for build parallelism)
# exit status: 0 all good, non-zero on the first failure.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mproc-install-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
gen=()
if command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi

step() { echo "== install_test: $*"; }
fail() { echo "install_test: FAILED: $*" >&2; exit 1; }

step "configure, build and install into $prefix"
cmake -S "$src" -B "$tmp/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_INSTALL_PREFIX=/nonexistent/mproc-prefix \
  -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_BENCH=OFF -DMPROC_BUILD_EXAMPLES=OFF \
  -DMPROC_FAULT_INJECTION=OFF -DMPROC_MPI=OFF >/dev/null
cmake --build "$tmp/build" -j"$jobs" >/dev/null
cmake --install "$tmp/build" --prefix "$prefix" >/dev/null

libdir=$(find "$prefix" -name 'libmproc.so.*' -printf '%h\n' | head -n1)
[ -n "$libdir" ] || fail "no libmproc.so installed"
for f in include/mproc.h include/mproc/common.h bin/mproc; do
  [ -e "$prefix/$f" ] || fail "$f not installed"
done
for f in libmproc.so libmproc.a pkgconfig/mproc.pc cmake/mproc/mprocConfig.cmake \
         cmake/mproc/mprocConfigVersion.cmake cmake/mproc/mprocTargets.cmake; do
  [ -e "$libdir/$f" ] || fail "${libdir#"$prefix"/}/$f not installed"
done
soname=$(objdump -p "$libdir/libmproc.so" 2>/dev/null | awk '/SONAME/ {print $2}')
case "$soname" in libmproc.so.[0-9]*) ;; *) fail "unexpected SONAME '$soname'" ;; esac
if grep -rq /nonexistent "$libdir/pkgconfig" "$libdir/cmake"; then
  fail "the installed package names the configure-time prefix"
fi
LD_LIBRARY_PATH=$libdir "$prefix/bin/mproc" version

examples=$(sed -n 's/^set(MPROC_EXAMPLES \(.*\))$/\1/p' "$src/examples/CMakeLists.txt")
runnable=$(sed -n 's/^set(MPROC_EXAMPLES_RUN \(.*\))$/\1/p' "$src/examples/CMakeLists.txt")
[ -n "$examples" ] || fail "no examples listed in examples/CMakeLists.txt"

run_examples() { # dir
  for ex in $runnable; do
    echo "-- $ex"
    LD_LIBRARY_PATH=$libdir timeout 60 "$1/$ex" || fail "$ex ($1) exited with $?"
  done
}

step "examples with find_package(mproc)"
cmake -S "$src/examples" -B "$tmp/ex-cmake" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/ex-cmake" -j"$jobs" >/dev/null
run_examples "$tmp/ex-cmake"

step "examples with pkg-config (examples/Makefile)"
mkdir -p "$tmp/ex-pc"
cp "$src/examples/Makefile" "$src"/examples/*.c "$tmp/ex-pc/"
PKG_CONFIG_PATH=$libdir/pkgconfig make -s -C "$tmp/ex-pc" EXAMPLES="$examples" >/dev/null
run_examples "$tmp/ex-pc"

step "an example linked with the static library"
first=${runnable%% *}
if [ -n "$first" ]; then
  # shellcheck disable=SC2046
  cc -std=c11 -o "$tmp/ex-static" "$src/examples/$first.c" \
    $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --cflags mproc) \
    -L"$libdir" -Wl,-Bstatic -lmproc -Wl,-Bdynamic \
    $(PKG_CONFIG_PATH=$libdir/pkgconfig pkg-config --static --libs-only-other mproc)
  if objdump -p "$tmp/ex-static" | grep -q 'NEEDED.*libmproc'; then
    fail "the static example still needs libmproc.so"
  fi
  timeout 60 "$tmp/ex-static" >/dev/null || fail "static $first exited with $?"
fi

step "all good"
