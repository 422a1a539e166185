#!/usr/bin/env bash
# python_install_check.sh - `pip install .` works the way docs/python-module.md
# says: in a fresh venv of the system's python3 (with its site packages, so
# that setuptools, pytest and numpy come from Debian: no network), build and
# install mproc, then, from outside the source tree, import it, check that
# the module exports nothing but its init function, and run the tests of
# the module and of the tutorial's programs against the installed copy (the
# crash tests need the kill points of a test build: not these). Leaves nothing behind (a temp dir).
#   scripts/python_install_check.sh [PYTHON]   (default /usr/bin/python3)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
py=${1:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp" "$src/build-pip" "$src/python/mproc.egg-info"' EXIT
fail() { echo "python_install_check: $*" >&2; exit 1; }

"$py" -m venv --system-site-packages "$tmp/venv" ||
  fail "$py -m venv failed (apt-get install python3-venv)"
"$tmp/venv/bin/python" -c 'import setuptools' ||
  fail "no setuptools (apt-get install python3-setuptools)"
"$tmp/venv/bin/python" -m pip install -q --no-build-isolation --no-index "$src" >"$tmp/pip.log" 2>&1 ||
  { cat "$tmp/pip.log" >&2; fail "pip install failed"; }
cd "$tmp"
where=$("$tmp/venv/bin/python" -c 'import mproc; print(mproc.__file__)')
case "$where" in "$tmp/venv/"*) ;; *) fail "imported mproc from $where, not the venv" ;; esac
so=$(ls "$tmp"/venv/lib/python3*/site-packages/mproc/_mproc*.so)
exported=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBR]$/ {print $3}')
[ "$exported" = "PyInit__mproc" ] || fail "the module exports more than PyInit__mproc: $exported"
env -u PYTHONPATH "$tmp/venv/bin/python" -m pytest -q -p no:cacheprovider \
  "$src/tests/python/test_module.py" "$src/tests/python/test_tutorial.py" || fail "the tests fail against the installed module"
echo "python_install_check: pip install . into a venv, import, tests: ok ($where)"
