#!/usr/bin/env bash
# Installs what is missing (the library's packages and the real TLS peers), builds, and runs
# the test suite with ctest.
#   TLSIO_WERROR=1    warnings are errors
#   TLSIO_SANITIZE=1  AddressSanitizer + UndefinedBehaviorSanitizer (in build-sanitize/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

dir=build
options=(-DTLSIO_WARNINGS_AS_ERRORS="${TLSIO_WERROR:-OFF}")
if [[ "${TLSIO_SANITIZE:-0}" == 1 ]]; then
  dir=build-sanitize
  options+=(-DTLSIO_SANITIZE=ON)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
bash scripts/build.sh "$dir" "${options[@]}"
cd "$dir"
ctest --output-on-failure -j "$(nproc)" "$@"
