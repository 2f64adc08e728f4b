#!/usr/bin/env bash
# The main job: installs what is missing, builds, and runs the demo (a throwaway CA, a TLS
# server and client in one process, the negotiated parameters and a handshake rate).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh build >/dev/null
build/bin/tlsio-demo "$@"
