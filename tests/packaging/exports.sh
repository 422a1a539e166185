#!/usr/bin/env bash
# exports.sh --shipped|--test-build LIBRARY.so... - the shared libraries
# export the API and nothing else:
#   - every defined dynamic symbol named mproc_<name> is declared in
#     include/ (the public headers);
#   - an internal (mproc__<name>) is exported only when another library of
#     the set imports it, or a header in src/ declares it MPROC_API for that
#     purpose (libmproc_mpi builds its pool on libmproc's engine; test hooks
#     are MPROC__TEST_API instead, exported by test builds only);
#   - nothing else is exported;
#   - --shipped: no test hook at all (mproc_fault_arm, MPROC__TEST_API
#     internals) and no kill point (the string MPROC_KILL_AT is absent);
#     --test-build: libmproc.so has mproc_fault_arm (else the crash tests
#     could not run), internals are not checked.
# Linker-made symbols and AddressSanitizer's ODR indicators (__odr_asan.*)
# are not counted. Give every library of the build, libmproc.so first.
# exit status: 0 all good, 1 a library exports too much (or too little), 2 usage.
set -euo pipefail
usage() { echo "usage: $0 --shipped|--test-build LIB.so..." >&2; exit 2; }
mode=${1:-}
case "$mode" in --shipped | --test-build) shift ;; *) usage ;; esac
[ $# -gt 0 ] || usage
root=$(cd "$(dirname "$0")/../.." && pwd)
include=$root/include
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mproc-exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
grep -rhoE '\bmproc_[a-z0-9_]+\b' "$include" | sort -u >"$tmp/declared"
{
    for lib in "$@"; do nm -D --undefined-only "$lib" | awk '{print $NF}'; done
    grep -rhoE --include='*.h' 'MPROC_API[^;(]*\bmproc__[a-z0-9_]+' "$root/src" | grep -oE 'mproc__[a-z0-9_]+$'
} | sort -u >"$tmp/imported"
bad=0
fail() { echo "FAIL $*"; bad=1; this=1; }
for lib in "$@"; do
    this=0
    nm -D --defined-only "$lib" | awk '{print $NF}' |
        grep -Ev '^(_init|_fini|_edata|_end|__bss_start|__odr_asan[._].*)$' | sort -u >"$tmp/syms" || true
    [ -s "$tmp/syms" ] || fail "$lib exports nothing"
    stray=$(grep -Ev '^mproc_' "$tmp/syms" || true)
    [ -z "$stray" ] || fail "$lib exports symbols outside mproc's names: $(tr "\n" " " <<<"$stray")"
    undeclared=$(grep -E '^mproc_[a-z0-9]' "$tmp/syms" | comm -23 - "$tmp/declared" |
        grep -vx 'mproc_fault_arm' || true)
    [ -z "$undeclared" ] || fail "$lib exports functions no public header declares: $(tr "\n" " " <<<"$undeclared")"
    if [ "$mode" = --shipped ]; then
        internal=$(grep -E '^mproc__' "$tmp/syms" | comm -23 - "$tmp/imported" || true)
        [ -z "$internal" ] || fail "$lib exports internals no other mproc library needs (test hooks?): $(tr "\n" " " <<<"$internal")"
        if grep -qx 'mproc_fault_arm' "$tmp/syms"; then fail "$lib exports the test-only mproc_fault_arm"; fi
        if grep -aq MPROC_KILL_AT "$lib"; then fail "$lib reads MPROC_KILL_AT (kill points compiled in)"; fi
    elif [[ "$(basename "$lib")" == libmproc.so* ]] && ! grep -qx 'mproc_fault_arm' "$tmp/syms"; then
        fail "$lib: a test build without mproc_fault_arm"
    fi
    [ $this = 1 ] || echo "ok   $lib: $(wc -l <"$tmp/syms") symbols"
done
exit $bad
