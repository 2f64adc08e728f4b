#!/usr/bin/env bash
# Installs what is missing (the library's packages and the real TLS peers), builds, and runs
# the test suite with ctest. Arguments go to ctest (e.g. -L threads, -R acceptor).
#   TLSIO_WERROR=1          warnings are errors
#   TLSIO_SANITIZE=1        AddressSanitizer + UndefinedBehaviorSanitizer (in build-sanitize/)
#   TLSIO_SANITIZE=thread   ThreadSanitizer (in build-tsan/); meant for the multi-threaded
#                           tests: TLSIO_TARGETS=threads_test ... scripts/test.sh -L threads
#   TLSIO_TARGETS="a b"     build only these targets (default: everything)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test

dir=build
options=(-DTLSIO_WARNINGS_AS_ERRORS="${TLSIO_WERROR:-OFF}")
case "${TLSIO_SANITIZE:-0}" in
  0 | "") ;;
  1)
    dir=build-sanitize
    options+=(-DTLSIO_SANITIZE=ON)
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    # OpenSSL's per-thread state (see the file)
    export LSAN_OPTIONS=suppressions=$PWD/test/lsan.supp
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    ;;
  thread)
    dir=build-tsan
    options+=(-DTLSIO_SANITIZE=thread)
    export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
    ;;
  *)
    echo "test.sh: TLSIO_SANITIZE is 1 or thread, not '${TLSIO_SANITIZE}'" >&2
    exit 2
    ;;
esac
if [[ -z "${TLSIO_TARGETS:-}" ]]; then
  bash scripts/build.sh "$dir" "${options[@]}"
else
  # Configured as scripts/build.sh does; only the named targets are built.
  if [[ ! -f "$dir/CMakeCache.txt" ]]; then
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "${options[@]}" >/dev/null
  else
    cmake "$dir" "${options[@]}" >/dev/null
  fi
  read -ra targets <<<"$TLSIO_TARGETS"
  cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"
fi
cd "$dir"
ctest --output-on-failure -j "$(nproc)" "$@"
