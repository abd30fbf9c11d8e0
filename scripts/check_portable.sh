#!/usr/bin/env bash
# Compiles every native source as the portable build does (TURBINE_PORTABLE=1: no -march, so
# x86-64's baseline SSE2), object files only, into a temporary folder. The -march=native build
# that CI and the tests use cannot show what only the portable build rejects: an asm constraint
# that asks for a register a 32-byte vector has only with AVX stopped it once, unnoticed.
# Optimisation is -O1 (the checks are the compiler's, not the optimiser's), about 30 s on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(-std=c++17 -O1 -fPIC -fno-math-errno -fno-trapping-math -Wall -Wextra -Wno-unused-parameter
  -DNAPI_VERSION=8 -DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS -I/usr/include/node -Inode_modules/node-addon-api)
status=0
compile() { # source, extra flags...
  local source=$1
  shift
  if ! g++ "${common[@]}" "$@" -c "$source" -o "$out/$(basename "$source").o"; then
    echo "check_portable: $source does not compile without -march" >&2
    status=1
  fi
}
for source in native/*.cc; do compile "$source" -fopenmp; done
if command -v mpicc > /dev/null; then
  read -r -a mpi_flags <<< "$(mpicc --showme:compile)"
  for source in native/mpi/*.cc; do compile "$source" -fopenmp-simd -DOMPI_SKIP_MPICXX "${mpi_flags[@]}"; done
fi
exit $status
