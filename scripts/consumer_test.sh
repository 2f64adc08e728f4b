#!/usr/bin/env bash
# Packaging test (issues 8, 16): builds tlsio from scratch with the README's commands,
# installs it into a temporary prefix, and builds and runs test/consumer (a TLS round trip over loopback) the ways an outside
# project would use tlsio:
#   package       find_package(tlsio) against the installed prefix
#   pkg-config    g++ -std=c++20 main.cpp $(pkg-config --cflags --libs tlsio), same prefix
#   subdirectory  add_subdirectory() of this source tree
#   fetchcontent  FetchContent with SOURCE_DIR = this source tree (no network)
# Prints one line per mode and "consumer: N passed, M failed"; exits non-zero on any failure.
# Build logs are in build-consumer/logs/.
#   TLSIO_CONSUMER_MODES="package pkg-config"   run only these modes (default: all four)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh # cmake, g++, pkg-config, Mbed TLS, Asio

root=$PWD
read -r -a modes <<<"${TLSIO_CONSUMER_MODES:-package pkg-config subdirectory fetchcontent}"
for mode in "${modes[@]}"; do
  case $mode in
  package | pkg-config | subdirectory | fetchcontent) ;;
  *)
    echo "consumer: unknown mode '$mode' (package pkg-config subdirectory fetchcontent)" >&2
    exit 2
    ;;
  esac
done
jobs=$(nproc)
# Fresh every run: a cache left from an earlier run could find an earlier install.
dir="build-consumer"
rm -rf "$dir"
mkdir -p "$dir/logs"
prefix=$(mktemp -d /tmp/tlsio-prefix-XXXX)
trap 'rm -rf "$prefix"' EXIT

# Runs "$@" with its output in $dir/logs/$log; on failure shows the end of it.
run_logged() {
  local log=$dir/logs/$1
  shift
  if ! "$@" >>"$log" 2>&1; then
    echo "consumer: failed: $*" >&2
    tail -n 40 "$log" | sed 's/^/    /' >&2
    return 1
  fi
}

# The library only, with the README's own commands (the block after its consumer_test.sh
# marker), run as written with PREFIX set. If this fails, the modes that use the install fail
# too; the ones that build from the source tree still run.
readme_install() {
  awk '/consumer_test.sh runs the next block/ {found = 1; next}
       found && /^```sh/ {inside = 1; next}
       inside && /^```/ {exit}
       inside {print}' README.md
}
start=$SECONDS
installed=0
commands=$(readme_install)
if [[ -z $commands ]]; then
  echo "consumer: README.md has no install block after the consumer_test.sh marker" >&2
else
  rm -rf build-lib
  echo "$commands" >"$dir/logs/install.log"
  if run_logged install.log env PREFIX="$prefix" bash -euo pipefail -c "$commands"; then
    installed=1
    echo "consumer: installed tlsio into $prefix with the README's commands ($((SECONDS - start))s)"
  fi
fi
need_install() {
  [[ $installed == 1 ]] || echo "consumer: no install to use (see $dir/logs/install.log)" >&2
  [[ $installed == 1 ]]
}

# Builds test/consumer with CMake; extra arguments choose the mode. No build type: it compiles
# (the library too, in the source-tree modes) twice as fast as Release, and in package mode
# it checks that a consumer without one still picks the installed Release library.
cmake_consumer() {
  local mode=$1 build=$dir/$1
  shift
  run_logged "$mode.log" cmake -S test/consumer -B "$build" -DTLSIO_CONSUMER_MODE="$mode" "$@" &&
    run_logged "$mode.log" cmake --build "$build" -j "$jobs" &&
    check_consumer "$mode" "$build/tlsio_consumer"
}

# Runs a consumer binary: it must print exactly OK.
check_consumer() {
  local out
  out=$(timeout 60 "$2" 2>>"$dir/logs/$1.log") || true
  echo "$out" >>"$dir/logs/$1.log"
  if [[ $out != OK ]]; then
    echo "consumer: $2 printed '${out:-nothing}'" >&2
    return 1
  fi
}

mode_package() {
  need_install || return 1
  # The package must come from $prefix and the headers from there, not from this tree.
  cmake_consumer package -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_EXPORT_COMPILE_COMMANDS=ON ||
    return 1
  local found
  found=$(sed -n 's/^tlsio_DIR:PATH=//p' "$dir/package/CMakeCache.txt")
  if [[ $found != "$prefix"/* ]]; then
    echo "consumer: find_package(tlsio) found $found, not the install in $prefix" >&2
    return 1
  fi
  if grep -qF -e "-I$root/include" -e "-isystem $root/include" \
    "$dir/package/compile_commands.json"; then
    echo "consumer: the package build used the source tree's headers" >&2
    return 1
  fi
}

mode_subdirectory() { cmake_consumer subdirectory -DTLSIO_SOURCE_DIR="$root"; }

mode_fetchcontent() { cmake_consumer fetchcontent -DTLSIO_SOURCE_DIR="$root"; }

mode_pkgconfig() {
  need_install || return 1
  # Where the README says it is.
  if [[ ! -f $prefix/lib/pkgconfig/tlsio.pc ]]; then
    echo "consumer: no $prefix/lib/pkgconfig/tlsio.pc" >&2
    return 1
  fi
  local flags
  # The program makes throwaway identities too: tlsio-testing, which requires tlsio.
  flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs tlsio-testing) ||
    return 1
  echo "pkg-config --cflags --libs tlsio-testing: $flags" >>"$dir/logs/pkg-config.log"
  mkdir -p "$dir/pkg-config"
  # Sources before libraries: the static libtlsio must follow what uses it.
  # shellcheck disable=SC2086 # $flags is a list of words
  run_logged pkg-config.log g++ -std=c++20 test/consumer/main.cpp \
    -o "$dir/pkg-config/tlsio_consumer" $flags &&
    check_consumer pkg-config "$dir/pkg-config/tlsio_consumer"
}

passed=0
failed=()
for mode in "${modes[@]}"; do
  start=$SECONDS
  if "mode_${mode//-/}"; then
    printf 'consumer: %-13s OK    (%ds)\n' "$mode" $((SECONDS - start))
    passed=$((passed + 1))
  else
    printf 'consumer: %-13s FAIL  (%ds, log: %s)\n' "$mode" $((SECONDS - start)) \
      "$dir/logs/$mode.log"
    failed+=("$mode")
  fi
done

echo "consumer: $passed passed, ${#failed[@]} failed"
if [[ ${#failed[@]} -gt 0 ]]; then
  trap - EXIT # keep the install to look at
  echo "consumer: ${failed[*]} failed; logs in $dir/logs/, the install in $prefix" >&2
  exit 1
fi
