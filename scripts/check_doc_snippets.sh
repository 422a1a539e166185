#!/usr/bin/env bash
# check_doc_snippets.sh - compile every ```c block in README.md and docs/*.md.
#
# Convention (documented in docs/README.md):
#   - a block whose first line starts with `#include` and that defines
#     `main(` is a COMPLETE PROGRAM: it must compile with
#     -std=c11 -Wall -Wextra -Werror and link against the built libmproc
#     (plus libmproc_value when it includes <mproc/msgpack.h>, libmproc_mpi
#     when it includes <mproc/pool_mpi.h>; skipped when that library was not
#     built). With --run, programs whose block is preceded by the HTML comment
#     `<!-- snippet: run -->` are also run and must exit 0.
#   - every other block is a FRAGMENT: it is wrapped and checked with
#     -fsyntax-only (-Wall -Wextra, warnings about unused names silenced).
#     The wrapper includes <mproc.h> and the usual libc headers. Names a fragment uses
#     but does not declare are declared in an HTML comment right before the
#     block:   <!-- snippet-context: int64_t in[8], out[8]; enum {N = 8}; -->
#     (file scope; may span lines up to the closing -->).
#     Fragment split: a column-0 `static` item (a function or prototype) and
#     MPROC_TASK / MPROC_ENTRY lines go at file scope, up to the last of them;
#     everything after goes into the function body.
#     `<!-- snippet: skip -->` before a block skips it (say why in the doc).
#
# usage: scripts/check_doc_snippets.sh [--run] [BUILD_DIR]   (default build-d1,
#        else build). Exit status 0 when every block passes.
set -uo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
run=0
if [ "${1:-}" = "--run" ]; then run=1; shift; fi
build=${1:-}
if [ -z "$build" ]; then
    for d in "$src/build-d1" "$src/build"; do
        if [ -e "$d/libmproc.so" ]; then build=$d; break; fi
    done
fi
if [ -z "$build" ] || [ ! -e "$build/libmproc.so" ]; then
    echo "check_doc_snippets: no built libmproc.so (give the build directory)" >&2
    exit 2
fi
build=$(cd "$build" && pwd)
cc=${CC:-gcc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mproc-doc-snippets.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Split every file into numbered blocks: $tmp/<n>.c plus $tmp/<n>.meta
# (file, line, kind, context file, run flag).
for md in "$src/README.md" "$src"/docs/*.md; do
    awk -v out="$tmp" -v md="${md#"$src"/}" -v start="$(find "$tmp" -name '*.meta' | wc -l)" '
        BEGIN { n = start; ctx = ""; inctx = 0; flag = "" }
        inctx {
            if (index($0, "-->")) { sub(/-->.*/, ""); ctx = ctx $0 "\n"; inctx = 0 }
            else ctx = ctx $0 "\n"
            next
        }
        /^<!-- snippet-context:/ {
            line = $0; sub(/^<!-- snippet-context:/, "", line)
            if (index(line, "-->")) { sub(/-->.*/, "", line); ctx = line "\n" }
            else { ctx = line "\n"; inctx = 1 }
            next
        }
        /^<!-- snippet: (run|skip) -->/ { flag = ($0 ~ /run/) ? "run" : "skip"; next }
        /^```c[ \t]*$/ && !inb {
            n++; inb = 1; first = 1
            file = out "/" n ".c"
            printf "%s\t%d\t%s\n", md, NR, flag > (out "/" n ".meta")
            printf "%s", ctx > (out "/" n ".ctx")
            ctx = ""; flag = ""
            next
        }
        /^```/ && inb { inb = 0; next }
        inb { print > file; next }
        /^[^ \t<]/ { ctx = ""; flag = "" }
    ' "$md"
done

indent() { printf '%s\n' "$1" | sed 's/^/      /'; }   # compiler output under its block

pass=0
failn=0
skipn=0
nblocks=$(find "$tmp" -name '*.meta' | wc -l)
for i in $(seq 1 "$nblocks"); do
    meta=$tmp/$i.meta
    body=$tmp/$i.c
    IFS=$'\t' read -r md line flag <"$meta"
    where="$md:$line"
    [ -e "$body" ] || : >"$body"
    if [ "$flag" = skip ]; then
        echo "SKIP  $where (marked skip)"
        skipn=$((skipn + 1))
        continue
    fi
    libs=(-L"$build" "-Wl,-rpath,$build" -lmproc)
    incs=(-I"$src/include")
    if grep -q 'mproc/msgpack.h\|msgpack_' "$body"; then
        if [ ! -e "$build/libmproc_value.so" ]; then
            echo "SKIP  $where (libmproc_value not built)"; skipn=$((skipn + 1)); continue
        fi
        libs+=(-lmproc_value)
        if pkg-config --exists msgpack 2>/dev/null; then   # msgpack-c's .pc is "msgpack"
            read -r -a extra <<<"$(pkg-config --cflags msgpack)"; incs+=("${extra[@]}")
            read -r -a extra <<<"$(pkg-config --libs msgpack)"; libs+=("${extra[@]}")
        else
            libs+=(-lmsgpackc)
        fi
    fi
    if grep -q 'mproc/pool_mpi.h\|mproc_mpi_' "$body"; then
        if [ ! -e "$build/libmproc_mpi.so" ] || ! command -v mpicc >/dev/null; then
            echo "SKIP  $where (libmproc_mpi not built)"; skipn=$((skipn + 1)); continue
        fi
        read -r -a extra <<<"$(mpicc --showme:compile 2>/dev/null || true)"; incs+=("${extra[@]}")
        read -r -a extra <<<"$(mpicc --showme:link 2>/dev/null || true)"; libs+=(-lmproc_mpi "${extra[@]}")
    fi
    if head -n1 "$body" | grep -q '^#include' && grep -q '\bmain *(' "$body"; then
        kind=program
        cp "$body" "$tmp/$i.prog.c"
        if ! out=$($cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror "${incs[@]}" \
                   "$tmp/$i.prog.c" -o "$tmp/$i.bin" "${libs[@]}" 2>&1); then
            echo "FAIL  $where ($kind)"; indent "$out"
            failn=$((failn + 1)); continue
        fi
        if [ $run = 1 ] && [ "$flag" = run ]; then
            if ! out=$(cd "$tmp" && timeout 30 "$tmp/$i.bin" 2>&1); then
                echo "FAIL  $where (program exited non-zero)"; indent "$out"
                failn=$((failn + 1)); continue
            fi
            kind="program, ran"
        fi
    else
        kind=fragment
        # File-scope part: up to the last column-0 `}` / MPROC_TASK / MPROC_ENTRY
        # line, or the whole block when it defines main itself.
        if grep -q '^int main *(' "$body"; then
            split=$(wc -l <"$body")
        else
            # a column-0 `static` item (function, prototype) goes at file
            # scope up to where its braces close; MPROC_TASK/MPROC_ENTRY too
            split=$(awk '
                { line = $0; o = gsub(/{/, "{", line); c = gsub(/}/, "}", line) }
                depth == 0 && /^static / { item = 1 }
                depth == 0 && /^(MPROC_TASK|MPROC_ENTRY)/ { last = NR }
                { depth += o - c }
                item && depth == 0 && /(}|;)[ \t]*(\/\*.*)?$/ { last = NR; item = 0 }
                END { print last + 0 }' "$body")
        fi
        {
            printf '#include <mproc.h>\n'
            if grep -q 'msgpack' "$body"; then printf '#include <mproc/msgpack.h>\n'; fi
            if grep -q 'mproc_mpi\|pool_mpi' "$body"; then printf '#include <mproc/pool_mpi.h>\n'; fi
            printf '#include <stdbool.h>\n#include <stdint.h>\n#include <stdio.h>\n'
            printf '#include <stdlib.h>\n#include <string.h>\n#include <unistd.h>\n'
            printf '#include <sys/mman.h>\n#include <sys/types.h>\n'
            cat "$tmp/$i.ctx"
            printf '#line %d "%s"\n' "$((line + 1))" "$md"
            head -n "$split" "$body" | grep -v '^#include'
            printf 'int mproc_doc_snippet_body(void);\nint mproc_doc_snippet_body(void)\n{\n'
            printf '#line %d "%s"\n' "$((line + 1 + split))" "$md"
            tail -n +"$((split + 1))" "$body" | grep -v '^#include'
            printf '\n    return 0;\n}\n'
        } >"$tmp/$i.frag.c"
        if ! out=$($cc -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-variable \
                   -Wno-unused-but-set-variable -Wno-unused-function -Wno-unused-parameter \
                   -Wno-unused-value -Wno-unused-result -fsyntax-only "${incs[@]}" \
                   "$tmp/$i.frag.c" 2>&1); then
            echo "FAIL  $where ($kind)"; indent "$out"
            failn=$((failn + 1)); continue
        fi
    fi
    echo "ok    $where ($kind)"
    pass=$((pass + 1))
done
echo "check_doc_snippets: $pass passed, $failn failed, $skipn skipped"
[ $failn = 0 ]
