#!/usr/bin/env bash
# The main job: installs what is missing, builds, runs the demo (a throwaway CA, a TLS server
# and client in one process, the negotiated parameters and handshake rates), then the quick
# benchmark (tlsio beside raw Mbed TLS and asio::ssl; under a minute). Arguments go to the
# demo; TLSIO_NO_BENCH=1 skips the benchmark.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build >/dev/null
build/bin/tlsio-demo "$@"
if [[ "${TLSIO_NO_BENCH:-0}" != 1 ]]; then
  echo
  bash scripts/bench.sh
fi
