#!/usr/bin/env bash
# first_contact.sh - install mproc and use it the way a new user does.
#
# From a clean copy of this tree (the files git tracks or would track, no
# build directory), in one temporary directory removed at the end:
#   1. configure, build and install as README's Install section says, to a
#      prefix other than the configured one (`cmake --install --prefix`);
#      a test build (MPROC_FAULT_INJECTION=ON) must refuse to install;
#   2. check the installed libraries: RUNPATH relative to $ORIGIN, the API
#      and nothing else exported, no kill points (tests/packaging/exports.sh);
#   3. build README's complete example with pkg-config (shared and static)
#      and with find_package(mproc) (mproc::mproc and mproc::mproc_static),
#      the CMake consumer on a simulated machine without msgpack-c and MPI
#      (CMAKE_DISABLE_FIND_PACKAGE_MPI / _PkgConfig, pkg-config limited to the
#      prefix), and run each with an empty environment (`env -i`: no
#      LD_LIBRARY_PATH); MPROC_KILL_AT must change nothing;
#      examples/ out of tree both ways, run the same way;
#   4. build a msgpack consumer with find_package(mproc COMPONENTS value)
#      (shared and static) and with pkg-config; check that mixing the static
#      core with the shared value library is refused with a clear message,
#      and that asking for the value component without msgpack-c says why;
#      the MPI component when libmproc_mpi was installed;
#   5. run the installed tool with an empty environment (--help, version,
#      ls; bench says it is a build-tree command and how to build one);
#   6. every program built holds exactly one copy of the core
#      (tests/packaging/one_core.sh), and no new /dev/shm entry is left.
#
# With --make, it first runs `make demo` and `make test` in the clean copy
# (what a new user runs before installing; CI runs those on its own).
#
# usage: scripts/first_contact.sh [--make]   (JOBS=n for build parallelism,
#        KEEP=1 to keep the temporary directory for a look)
# exit status: 0 all good, non-zero on the first failure.
set -euo pipefail

with_make=0
case "${1:-}" in
--make) with_make=1 ;;
"") ;;
*)
    echo "usage: $0 [--make]" >&2
    exit 2
    ;;
esac
src=$(cd "$(dirname "$0")/.." && pwd)
jobs=${JOBS:-2}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mproc-first-contact.XXXXXX")
shm_entries() { (shopt -s nullglob; for f in /dev/shm/mproc-*; do echo "${f#/dev/shm/}"; done) | sort; }
shm_before=$(shm_entries)
cleanup() {
    if [ "${KEEP:-0}" = 1 ]; then echo "first_contact: kept $tmp"; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
prefix=$tmp/prefix
gen=()
if command -v ninja >/dev/null 2>&1; then gen=(-G Ninja); fi
# The environment a consumer builds in: only the prefix's pkg-config files
# (as on a machine where msgpack-c and MPI are not installed) unless a step
# says otherwise.
only_prefix=(env PKG_CONFIG_LIBDIR="$prefix/lib/pkgconfig" PKG_CONFIG_PATH=)

step() { echo "== first_contact: $*"; }
fail() {
    echo "first_contact: FAILED: $*" >&2
    exit 1
}
# run_clean PROGRAM [ARG...]: run with an empty environment.
run_clean() { env -i "$@"; }
quiet() { # run, show the output only on failure
    local log=$tmp/step.log
    if ! "$@" >"$log" 2>&1; then
        cat "$log" >&2
        return 1
    fi
}

step "a clean copy of the tree"
mkdir -p "$tmp/src"
if git -C "$src" rev-parse --show-toplevel >/dev/null 2>&1; then
    (cd "$src" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -xf - -C "$tmp/src"
else
    (cd "$src" && tar --exclude='./build*' -cf - .) | tar -xf - -C "$tmp/src"
fi

if [ $with_make = 1 ]; then
    step "make demo, make test (in the clean copy)"
    make -C "$tmp/src" demo || fail "make demo"
    make -C "$tmp/src" test || fail "make test"
fi

step "configure, build and install as README says (without tests, benchmarks, examples) into $prefix"
quiet cmake -S "$tmp/src" -B "$tmp/build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_INSTALL_PREFIX=/nonexistent/mproc-prefix \
    -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_BENCH=OFF -DMPROC_BUILD_EXAMPLES=OFF ||
    fail "configure"
quiet cmake --build "$tmp/build" -j"$jobs" || fail "build"
quiet cmake --install "$tmp/build" --prefix "$prefix" || fail "install"

libdir=$prefix/lib
[ -e "$libdir/libmproc.so" ] || libdir=$(find "$prefix" -name 'libmproc.so' -printf '%h\n' | head -n1)
if [ -z "$libdir" ] || [ ! -e "$libdir/libmproc.so" ]; then fail "no libmproc.so installed"; fi
pcdir=$libdir/pkgconfig
have_value=0
have_mpi=0
[ -e "$libdir/libmproc_value.so" ] && have_value=1
[ -e "$libdir/libmproc_mpi.so" ] && have_mpi=1
for f in include/mproc.h include/mproc/common.h bin/mproc; do
    [ -e "$prefix/$f" ] || fail "$f not installed"
done
want=(libmproc.so libmproc.a pkgconfig/mproc.pc pkgconfig/mproc_static.pc
    cmake/mproc/mprocConfig.cmake cmake/mproc/mprocConfigVersion.cmake cmake/mproc/mprocTargets.cmake)
[ $have_value = 0 ] || want+=(libmproc_value.a pkgconfig/mproc_value.pc pkgconfig/mproc_value_static.pc
    cmake/mproc/mprocValueTargets.cmake)
[ $have_mpi = 0 ] || want+=(libmproc_mpi.a pkgconfig/mproc_mpi.pc pkgconfig/mproc_mpi_static.pc
    cmake/mproc/mprocMpiTargets.cmake)
for f in "${want[@]}"; do
    [ -e "$libdir/$f" ] || fail "${libdir#"$prefix"/}/$f not installed"
done
soname=$(objdump -p "$libdir/libmproc.so" | awk '/SONAME/ {print $2}')
case "$soname" in libmproc.so.[0-9]*) ;; *) fail "unexpected SONAME '$soname'" ;; esac
if grep -rq /nonexistent "$pcdir" "$libdir/cmake"; then
    fail "the installed package names the configure-time prefix"
fi
echo "installed: value library $([ $have_value = 1 ] && echo yes || echo no)," \
    "MPI library $([ $have_mpi = 1 ] && echo yes || echo no)"

step "a test build refuses to install"
quiet cmake -S "$tmp/src" -B "$tmp/build-test" "${gen[@]}" -DMPROC_FAULT_INJECTION=ON \
    -DMPROC_BUILD_TESTS=OFF -DMPROC_BUILD_BENCH=OFF -DMPROC_BUILD_EXAMPLES=OFF \
    -DMPROC_BUILD_TOOL=OFF -DMPROC_MPI=OFF || fail "configure a test build"
if cmake --install "$tmp/build-test" --prefix "$tmp/prefix-test" >"$tmp/step.log" 2>&1; then
    fail "a build with MPROC_FAULT_INJECTION=ON installed"
fi
grep -q 'MPROC_FAULT_INJECTION' "$tmp/step.log" || { cat "$tmp/step.log"; fail "no clear message"; }
[ ! -e "$tmp/prefix-test" ] || fail "the refused install left files in $tmp/prefix-test"

step "the installed libraries: RUNPATH, exports, no kill points"
runpath() { readelf -d "$1" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p'; }
for f in "$prefix/bin/mproc" "$libdir"/libmproc*.so; do
    rp=$(runpath "$f")
    # shellcheck disable=SC2016 # a literal $ORIGIN
    case "$rp" in '$ORIGIN'*) ;; *) fail "$f: RUNPATH '$rp' is not relative to \$ORIGIN" ;; esac
done
shared=("$libdir/libmproc.so")
[ $have_value = 0 ] || shared+=("$libdir/libmproc_value.so")
[ $have_mpi = 0 ] || shared+=("$libdir/libmproc_mpi.so")
"$src/tests/packaging/exports.sh" --shipped "${shared[@]}" || fail "the libraries export more than the API"
for a in "$libdir"/libmproc*.a; do
    if nm "$a" 2>/dev/null | grep -Eq ' [TD] (mproc_fault_arm|mproc__kill_point)$'; then
        fail "$a has the test-only kill points"
    fi
done

# README's complete example (the first block marked to run), and what it
# prints when nothing gets in the way.
mkdir -p "$tmp/app"
awk '/<!-- snippet: run -->/ {f = 1; next} f && /^```c/ {p = 1; next} p && /^```/ {exit} p' \
    "$src/README.md" >"$tmp/app/example.c"
grep -q 'main(' "$tmp/app/example.c" || fail "no complete example found in README.md"
programs=()
# check_example PROGRAM: runs with an empty environment, and with
# MPROC_KILL_AT set to a kill point it passes through (which only a test
# build honours) it prints the same.
expected=""
check_example() {
    local out
    out=$(run_clean "$1" 2>&1) || fail "$1 exited with $? (env -i): $out"
    [ -n "$expected" ] || expected=$out
    [ "$out" = "$expected" ] || fail "$1 printed '$out', expected '$expected'"
    out=$(run_clean MPROC_KILL_AT=queue.get.claimed "$1" 2>&1) ||
        fail "$1 with MPROC_KILL_AT=queue.get.claimed exited with $? (a shipped library honours a kill point)"
    [ "$out" = "$expected" ] || fail "$1 with MPROC_KILL_AT printed '$out'"
    programs+=("$1")
}
pc() { "${only_prefix[@]}" pkg-config "$@"; }

step "README's example with pkg-config (mproc, then mproc_static)"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -o "$tmp/app/example-pc" "$tmp/app/example.c" \
    $(pc --cflags --libs mproc) -Wl,-rpath,"$(pc --variable=libdir mproc)" ||
    fail "cc with pkg-config mproc"
check_example "$tmp/app/example-pc"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -o "$tmp/app/example-pc-static" "$tmp/app/example.c" \
    $(pc --cflags --libs mproc_static) || fail "cc with pkg-config mproc_static"
if objdump -p "$tmp/app/example-pc-static" | grep -q 'NEEDED.*libmproc'; then
    fail "the example linked with mproc_static still needs libmproc.so"
fi
check_example "$tmp/app/example-pc-static"

# cmake_app DIR LINK-LIBRARIES COMPONENTS SOURCE bare|system [cmake args...]:
# configure a consumer project (C only) that links SOURCE with
# LINK-LIBRARIES after find_package(mproc 0.1 REQUIRED [COMPONENTS ...]);
# "bare": pkg-config sees only the prefix (no msgpack-c, no MPI), "system":
# the machine's pkg-config files too.
cmake_app() {
    local dir=$1 libs=$2 comps=$3 source=$4 mode=$5
    shift 5
    mkdir -p "$dir"
    cat >"$dir/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.20)
project(app LANGUAGES C)
set(CMAKE_C_STANDARD 11)
find_package(mproc 0.1 REQUIRED ${comps:+COMPONENTS $comps})
add_executable(app $source)
target_link_libraries(app PRIVATE $libs)
EOF
    local envs=("${only_prefix[@]}")
    [ "$mode" = bare ] || envs=(env PKG_CONFIG_PATH="$pcdir")
    "${envs[@]}" cmake -S "$dir" -B "$dir/build" "${gen[@]}" -DCMAKE_PREFIX_PATH="$prefix" "$@" \
        >"$dir/configure.log" 2>&1
}
no_deps=(-DCMAKE_DISABLE_FIND_PACKAGE_MPI=ON -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON)

step "README's example with find_package(mproc), on a machine without msgpack-c and MPI"
for lib in mproc::mproc mproc::mproc_static; do
    d=$tmp/app/cmake-${lib#mproc::}
    cmake_app "$d" "$lib" "" "$tmp/app/example.c" bare "${no_deps[@]}" ||
        { cat "$d/configure.log"; fail "find_package(mproc) without msgpack-c and MPI ($lib)"; }
    quiet cmake --build "$d/build" || fail "build the find_package consumer ($lib)"
    check_example "$d/build/app"
done

examples=$(sed -n 's/^set(MPROC_EXAMPLES \(.*\))$/\1/p' "$src/examples/CMakeLists.txt")
runnable=$(sed -n 's/^set(MPROC_EXAMPLES_RUN \(.*\))$/\1/p' "$src/examples/CMakeLists.txt")
[ -n "$examples" ] || fail "no examples listed in examples/CMakeLists.txt"
run_examples() { # DIR
    local ex
    for ex in $runnable; do
        timeout 120 env -i "$1/$ex" >/dev/null 2>&1 || fail "examples/$ex ($1) exited with $? (env -i)"
        programs+=("$1/$ex")
    done
}
step "examples/ out of tree: find_package(mproc), then examples/Makefile (pkg-config)"
quiet "${only_prefix[@]}" cmake -S "$tmp/src/examples" -B "$tmp/ex-cmake" "${gen[@]}" \
    -DCMAKE_PREFIX_PATH="$prefix" || fail "configure examples/ against the install"
quiet cmake --build "$tmp/ex-cmake" -j"$jobs" || fail "build examples/ against the install"
run_examples "$tmp/ex-cmake"
mkdir -p "$tmp/ex-pc"
cp "$tmp/src/examples/Makefile" "$tmp/src"/examples/*.c "$tmp/ex-pc/"
quiet "${only_prefix[@]}" make -C "$tmp/ex-pc" EXAMPLES="$examples" \
    LDFLAGS="-Wl,-rpath,$(pc --variable=libdir mproc)" || fail "examples/Makefile"
run_examples "$tmp/ex-pc"

if [ $have_value = 1 ]; then
    cat >"$tmp/app/value.c" <<'EOF'
#include <mproc.h>
#include <mproc/msgpack.h>
#include <stdio.h>

int main(void)
{
    mproc_queue *q;
    if (mproc_queue_create(&q, NULL, NULL) != 0)
        return 1;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_int(&pk, 42);
    msgpack_pack_nil(&pk);
    msgpack_pack_str_with_body(&pk, "hello", 5);
    int rc = mproc_queue_put_msgpack(q, &sb, 1000);
    msgpack_sbuffer_destroy(&sb);
    mproc_msgpack_value v = MPROC_MSGPACK_VALUE_INIT;
    if (rc == 0)
        rc = mproc_queue_get_msgpack(q, &v, 1000);
    char text[64];
    if (rc == 0 && mproc_msgpack_repr(&v.obj, text, sizeof text) >= 0)
        printf("%s\n", text);
    mproc_msgpack_value_destroy(&v);
    mproc_queue_close(q);
    return rc == 0 ? 0 : 2;
}
EOF
    check_value() {
        local out
        out=$(run_clean "$1" 2>&1) || fail "$1 exited with $? (env -i): $out"
        [ "$out" = "[42, None, 'hello']" ] || fail "$1 printed '$out'"
        programs+=("$1")
    }
    step "a msgpack consumer: find_package(mproc COMPONENTS value), shared and static"
    for libs in mproc::mproc_value "mproc::mproc_value_static mproc::mproc_static"; do
        d=$tmp/app/value-$(echo "$libs" | tr -c 'a-z_\n' '-')
        cmake_app "$d" "$libs" value "$tmp/app/value.c" system ||
            { cat "$d/configure.log"; fail "find_package(mproc COMPONENTS value) -> $libs"; }
        quiet cmake --build "$d/build" || fail "build the value consumer ($libs)"
        check_value "$d/build/app"
    done

    step "mixing the static core with the shared value library is refused"
    d=$tmp/app/value-mixed
    if cmake_app "$d" "mproc::mproc_static mproc::mproc_value" value "$tmp/app/value.c" system; then
        fail "CMake accepted mproc::mproc_static with mproc::mproc_value (two copies of the core)"
    fi
    grep -q 'MPROC_ALL_STATIC_OR_ALL_SHARED' "$d/configure.log" ||
        { cat "$d/configure.log"; fail "the refusal does not say what is wrong"; }

    step "the value component without msgpack-c says why"
    d=$tmp/app/value-nodeps
    if cmake_app "$d" mproc::mproc_value value "$tmp/app/value.c" bare; then
        fail "find_package(mproc COMPONENTS value) succeeded without msgpack-c"
    fi
    grep -q 'msgpack' "$d/configure.log" || { cat "$d/configure.log"; fail "no word of msgpack-c"; }

    step "a msgpack consumer with pkg-config (mproc_value, then mproc_value_static)"
    for m in mproc_value mproc_value_static; do
        # shellcheck disable=SC2046
        cc -std=c11 -Wall -Wextra -o "$tmp/app/value-pc-$m" "$tmp/app/value.c" \
            $(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs $m) \
            -Wl,-rpath,"$(pc --variable=libdir mproc)" || fail "cc with pkg-config $m"
        check_value "$tmp/app/value-pc-$m"
    done

    step "examples/ with the value component: msgpack_values, by CMake and by make values"
    quiet cmake -S "$tmp/src/examples" -B "$tmp/ex-value" "${gen[@]}" \
        -DCMAKE_PREFIX_PATH="$prefix" || fail "configure examples/ with msgpack-c"
    quiet cmake --build "$tmp/ex-value" -j"$jobs" || fail "build examples/ with msgpack-c"
    value_examples=$(sed -n 's/^set(MPROC_VALUE_EXAMPLES \(.*\))$/\1/p' "$src/examples/CMakeLists.txt")
    [ -n "$value_examples" ] || fail "no value examples listed in examples/CMakeLists.txt"
    mkdir -p "$tmp/ex-pc-value"
    cp "$tmp/src/examples/Makefile" "$tmp/src"/examples/*.c "$tmp/ex-pc-value/"
    quiet env PKG_CONFIG_PATH="$pcdir" make -C "$tmp/ex-pc-value" values \
        LDFLAGS="-Wl,-rpath,$(pc --variable=libdir mproc)" || fail "examples/Makefile values"
    for ex in $value_examples; do
        for d in "$tmp/ex-value" "$tmp/ex-pc-value"; do
            [ -x "$d/$ex" ] || fail "examples/$ex was not built in $d although msgpack-c is there"
            timeout 120 env -i "$d/$ex" >/dev/null 2>&1 || fail "examples/$ex ($d) exited with $? (env -i)"
            programs+=("$d/$ex")
        done
    done
fi

if [ $have_mpi = 1 ]; then
    step "the MPI component: find_package(mproc COMPONENTS mpi), examples/primes_mpi.c"
    d=$tmp/app/mpi
    cmake_app "$d" mproc::mproc_mpi mpi "$tmp/src/examples/primes_mpi.c" system ||
        { cat "$d/configure.log"; fail "find_package(mproc COMPONENTS mpi)"; }
    quiet cmake --build "$d/build" || fail "build the MPI consumer"
    programs+=("$d/build/app")
    d=$tmp/app/mpi-static
    cmake_app "$d" "mproc::mproc_mpi_static mproc::mproc_static" mpi "$tmp/src/examples/primes_mpi.c" system ||
        { cat "$d/configure.log"; fail "find_package(mproc COMPONENTS mpi) -> mproc::mproc_mpi_static"; }
    quiet cmake --build "$d/build" || fail "build the static MPI consumer"
    programs+=("$d/build/app")
    # shellcheck disable=SC2046
    cc -std=c11 -o "$tmp/app/mpi-pc" "$tmp/src/examples/primes_mpi.c" \
        $(pc --cflags --libs mproc_mpi) -Wl,-rpath,"$(pc --variable=libdir mproc)" ||
        fail "cc with pkg-config mproc_mpi"
    programs+=("$tmp/app/mpi-pc")
fi

step "the installed tool with an empty environment"
quiet run_clean "$prefix/bin/mproc" --help || fail "mproc --help"
quiet run_clean "$prefix/bin/mproc" version || fail "mproc version"
quiet run_clean "$prefix/bin/mproc" ls || fail "mproc ls"
# Another package's bench_* in the same bin/ must not be taken for a benchmark.
printf '#!/bin/sh\ntouch "%s/ran"\n' "$tmp" >"$prefix/bin/bench_other"
chmod +x "$prefix/bin/bench_other"
if run_clean "$prefix/bin/mproc" bench >"$tmp/step.log" 2>&1; then
    fail "mproc bench from an install ran without benchmarks"
fi
grep -q 'MPROC_BUILD_BENCH' "$tmp/step.log" || { cat "$tmp/step.log"; fail "mproc bench's hint"; }
[ ! -e "$tmp/ran" ] || fail "mproc bench ran another program of its bin/ directory"
rm -f "$prefix/bin/bench_other"
programs+=("$prefix/bin/mproc")

step "one copy of the core in every program"
"$src/tests/packaging/one_core.sh" "$libdir/libmproc.so" "${programs[@]}" || fail "two copies of the core"

step "nothing left in /dev/shm"
shm_after=$(shm_entries)
new=$(comm -13 <(printf '%s\n' "$shm_before") <(printf '%s\n' "$shm_after") | grep . || true)
[ -z "$new" ] || fail "new /dev/shm entries: $new"

step "all good"
