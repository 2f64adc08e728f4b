#!/usr/bin/env bash
# Builds the libFuzzer targets with Clang (in build-fuzz/) and runs each for a short while on
# a corpus that tlsio_fuzz_seeds seeds. Exits non-zero if any target finds a crash, a leak, a
# hang or a broken promise of the API; the input that did it and the log are kept in
# build-fuzz/artifacts/ (replay one with: build-fuzz/bin/TARGET FILE).
#   TLSIO_FUZZ_SECONDS=N   seconds per target (default 20)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${TLSIO_FUZZ_SECONDS:-20}
# libFuzzer reads 0 (or garbage) as "no limit".
if ! [[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]]; then
  echo "tlsio: TLSIO_FUZZ_SECONDS must be a positive number of seconds, not '$seconds'" >&2
  exit 2
fi
bash scripts/setup.sh # cmake, Mbed TLS, Asio

missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "tlsio: installing ${missing[*]}" >&2
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dir=build-fuzz
CC=clang CXX=clang++ cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTLSIO_FUZZ=ON \
  -DTLSIO_BUILD_TESTS=OFF -DTLSIO_BUILD_TOOLS=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)"
"$dir/bin/tlsio_fuzz_seeds" "$dir/corpus"
# The OpenSSL engines start from the Mbed TLS server target's seeds (the same input format).
mkdir -p "$dir/corpus/openssl_engine_fuzz"
cp -n "$dir/corpus/engine_server_fuzz/"* "$dir/corpus/openssl_engine_fuzz/" 2>/dev/null || true

# The build already stops at the first UBSan report; this adds its stack trace.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
mkdir -p "$dir/artifacts"
passed=0
failed=()
# The DTLS engine's corpus starts empty: libFuzzer builds it from the settings byte up.
mkdir -p "$dir/corpus/dtls_engine_fuzz"
for target in engine_server_fuzz engine_client_fuzz load_fuzz client_hello_fuzz \
  handshake_reframer_fuzz openssl_engine_fuzz dtls_engine_fuzz; do
  log="$dir/artifacts/$target.log"
  echo "== $target: ${seconds}s"
  if "$dir/bin/$target" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$target-" "$dir/corpus/$target" >"$log" 2>&1; then
    grep -E "INITED|DONE" "$log" | sed 's/^/   /'
    passed=$((passed + 1))
  else
    tail -n 60 "$log"
    failed+=("$target")
  fi
done

echo "fuzz: $passed passed, ${#failed[@]} failed"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "tlsio: ${failed[*]} found a problem; inputs and logs are in $dir/artifacts/" >&2
  exit 1
fi
