#!/usr/bin/env bash
# The benchmark (issue 5): installs what is missing, builds tlsio-bench in Release (in
# build-bench/), and runs it. Arguments go to tlsio-bench; without any:
#   --quick --json build-bench/bench.json --chart build-bench/handshakes.png
# e.g. scripts/bench.sh                 quick run (under a minute)
#      scripts/bench.sh --json build-bench/full.json --chart build-bench/full.png   full run
#      scripts/bench.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make pkg-config libmbedtls-dev libasio-dev doctest-dev libssl-dev gnuplot-nox)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "bench: installing ${missing[*]}" >&2
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

dir=build-bench
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir" -j "$(nproc)" --target tlsio-bench

if [[ $# -eq 0 ]]; then
  set -- --quick --json "$dir/bench.json" --chart "$dir/handshakes.png"
fi
exec "$dir/bin/tlsio-bench" "$@"
