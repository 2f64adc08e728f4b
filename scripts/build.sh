#!/usr/bin/env bash
# Configures and builds tlsio into a build directory; a second run rebuilds only what changed.
# Usage: scripts/build.sh BUILD_DIR [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1; shift
if [[ ! -f "$dir/CMakeCache.txt" ]]; then
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
else
  cmake "$dir" "$@" >/dev/null
fi
cmake --build "$dir" -j "$(nproc)"
