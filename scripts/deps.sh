#!/usr/bin/env bash
# deps.sh GROUP... - make sure the Debian packages a make target needs are
# installed: install the missing ones when running as root (apt-get), or
# print the exact command to run and fail.
#   build  : C compiler and build tools (g++ only for the C++ benchmarks)
#   test   : Criterion and msgpack-c (the suite), Open MPI (the MPI tests),
#            python3-dev, pytest and numpy (mproc for Python and its tests),
#            libuv (the libuv example; optional at build time)
#   bench  : the peers the benchmarks compare against
#   fuzz   : clang's libFuzzer runtime
#   python : venv and setuptools, for `pip install .` of mproc for Python
#            (scripts/python_install_check.sh)
set -euo pipefail

declare -A pkgs=(
  [build]="cmake ninja-build gcc make pkg-config"
  [test]="libcriterion-dev libmsgpack-dev openmpi-bin libopenmpi-dev python3-dev python3-pytest python3-numpy libuv1-dev"
  [bench]="g++ libzmq3-dev libboost-dev python3 python3-mpi4py openmpi-bin libopenmpi-dev"
  [fuzz]="clang libclang-rt-14-dev"
  [clang]="clang clang-format"
  [valgrind]="valgrind"
  [python]="python3-venv python3-setuptools"
)

want=()
for g in "$@"; do
  for p in ${pkgs[$g]}; do want+=("$p"); done
done
missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0
# Remove duplicates while keeping order.
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/mproc-apt.log 2>&1; then
    apt-get update >/tmp/mproc-apt.log 2>&1 || true
    apt-get install -y --no-install-recommends "${missing[@]}" >/tmp/mproc-apt.log 2>&1 || {
      cat /tmp/mproc-apt.log >&2; exit 1; }
  fi
else
  echo "mproc needs these Debian packages: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
