#!/usr/bin/env bash
# one_core.sh LIBMPROC.so PROGRAM... - each program holds exactly one copy of
# mproc's core: either linked in (from libmproc.a: the program defines some
# of the functions libmproc.so exports) or loaded (libmproc.so, directly or
# through libmproc_value / libmproc_mpi), never both. Two copies mean two
# sets of process-wide state (fork generation, thread ids, the task
# registry), each seeing only half of the program.
# exit status: 0 all good, 1 a program holds no copy or two, 2 usage.
set -euo pipefail
[ $# -gt 1 ] || { echo "usage: $0 LIBMPROC.so PROGRAM..." >&2; exit 2; }
core=$1
shift
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mproc-one-core.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
nm -D --defined-only "$core" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sort -u >"$tmp/core"
[ -s "$tmp/core" ] || { echo "FAIL $core exports nothing"; exit 1; }
bad=0
for prog in "$@"; do
    nm --defined-only "$prog" 2>/dev/null | awk '{print $3}' | sort -u >"$tmp/prog"
    own=$(comm -12 "$tmp/core" "$tmp/prog" | head -n 3 | tr '\n' ' ')
    linked=0
    [ -z "$own" ] || linked=1
    deps=$(ldd "$prog" 2>&1) || { echo "FAIL $prog: ldd: $deps"; bad=1; continue; }
    if grep -q 'not found' <<<"$deps"; then
        echo "FAIL $prog: libraries not found: $(grep 'not found' <<<"$deps" | awk '{print $1}' | tr '\n' ' ')"
        bad=1
        continue
    fi
    loaded=$(grep -c 'libmproc\.so' <<<"$deps" || true)
    copies=$((linked + loaded))
    if [ "$copies" -ne 1 ]; then
        echo "FAIL $prog: $copies copies of the core (linked in: ${own:-none}; libmproc.so loaded $loaded times)"
        bad=1
    elif [ $linked = 1 ]; then
        echo "ok   $prog: one copy, linked in"
    else
        echo "ok   $prog: one copy, libmproc.so"
    fi
done
exit $bad
