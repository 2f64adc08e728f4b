#!/usr/bin/env bash
# Compile time of one trivial client (bench/compile_time/): tlsio against asio::ssl, the same
# program, -O2, user CPU seconds; the median of N runs (default 3) and the ratio. Both are
# compiled alternately, so that a busy machine slows both alike.
#   bash scripts/compile_time.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh >/dev/null # g++, Asio, Mbed TLS, libssl-dev
runs=${1:-3}
flags=(-std=c++20 -O2 -DASIO_STANDALONE -DASIO_NO_DEPRECATED -Iinclude -c -o /dev/null)
seconds() {
  local TIMEFORMAT=%U
  { time g++ "${flags[@]}" "$1"; } 2>&1 | tail -n 1
}
median() { printf '%s\n' "$@" | sort -g | sed -n "$((($# + 1) / 2))p"; }
tlsio=() ssl=()
for ((i = 0; i < runs; i++)); do
  tlsio+=("$(seconds bench/compile_time/tlsio_client.cpp)")
  ssl+=("$(seconds bench/compile_time/asio_ssl_client.cpp)")
done
t=$(median "${tlsio[@]}") s=$(median "${ssl[@]}")
awk -v t="$t" -v s="$s" -v n="$runs" 'BEGIN {
  printf "compile time of one client, user s (median of %d): tlsio %.2f, asio::ssl %.2f, ratio %.2f\n", n, t, s, t / s }'
