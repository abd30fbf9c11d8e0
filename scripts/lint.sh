#!/usr/bin/env bash
# The lint and format checks CI runs: biome for the TypeScript and JSON (formatting and lint
# rules, biome.json), clang-format for the native C++ (.clang-format). `--fix` rewrites instead.
set -euo pipefail
cd "$(dirname "$0")/.."
native=$(git ls-files 'native/*.cc' 'native/*.h')
if [ "${1:-}" = "--fix" ]; then
  npx biome check --write .
  clang-format -i $native
else
  npx biome check .
  clang-format --dry-run --Werror $native
fi
