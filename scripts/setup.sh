#!/usr/bin/env bash
# Sets turbine up on a fresh Debian machine, as root: the system packages it builds and runs on,
# the npm dependencies, the native addon (compiled here, for this CPU), the TypeScript build and
# the `turbine` command.
# Safe to run again: packages already present are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  g++ make python3       # the native addon's toolchain (node-gyp)
  libdnnl-dev           # oneDNN: matmul and convolution kernels
  libopenmpi-dev openmpi-bin  # the mpi backend for training on many machines
  python3-torch         # PyTorch: test fixtures and the benchmark twins
  libopenblas0-pthread  # PyTorch's f32 matmuls: without it Debian's torch falls back to the reference BLAS
  dataset-fashion-mnist # real data for the mlp and cnn workloads
  bible-kjv             # real text for the gpt workload
  iproute2              # network namespaces for the multi-host test bed
  bsdutils              # script(1): the tests that run the CLI on a terminal
  clang-format          # the native code's format check (scripts/lint.sh)
  chromium              # headless browser: the test that opens turbine report's HTML page
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

npm ci --no-audit --no-fund   # also compiles the addons (the package's install script)
npm run build:ts
# binding.gyp adds the mpi backend's addon when mpicc is found: say which way it went.
if [ -f build/Release/turbine_mpi.node ]; then
  echo "setup: built the mpi backend (build/Release/turbine_mpi.node)"
else
  echo "setup: Open MPI not found, so the mpi backend was not built (the threads backend needs nothing)"
fi

# The `turbine` command: the built CLI, linked onto the PATH.
chmod +x dist/src/cli/main.js
if ln -sf "$PWD/dist/src/cli/main.js" /usr/local/bin/turbine 2>/dev/null; then
  echo "setup: done; run \`turbine train\`"
else
  echo "setup: done; /usr/local/bin is not writable, so run the CLI as \`node dist/src/cli/main.js train\`"
fi
