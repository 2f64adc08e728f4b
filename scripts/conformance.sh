#!/usr/bin/env bash
# Runs tlsfuzzer (../shared/conformance, see its README) against tlsio-server --http with
# throwaway RSA and ECDSA certificates, and compares what fails with
# test/conformance/expected.tsv: every failed sub-test must be listed there (with its
# reason), and every listed one must still fail. Exits non-zero on any difference, or if
# the server died or kept descriptors open after the run.
#   ONLY=REGEX         run only the tlsfuzzer scripts whose label matches
#   ONLY=quick         all but large-hello, which takes a minute to retest the 16 KiB
#                      limit alone (what CI runs: about a minute for both certificates)
#   CERT_TYPES="rsa"   which certificates (default: "rsa ecdsa")
#   BUILD_DIR=DIR      where tlsio-server is built (default: build; built if missing)
#   CONFORMANCE_DIR=D  the tlsfuzzer runner (default: ../shared/conformance)
#   LOG_DIR=DIR        logs (default: a fresh directory under ${TMPDIR:-/tmp})
# A whole run takes about three minutes for both certificates on two cores (large-hello, RSA
# only, is most of it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${BUILD_DIR:-build}
suite=${CONFORMANCE_DIR:-../shared/conformance}
cert_types=${CERT_TYPES:-rsa ecdsa}
only=${ONLY:-}
if [[ $only == quick ]]; then
  only='^(conversation.*|fuzzed-ciphertext|aes-gcm-nonces|chacha20|cve-.*'
  only+='|truncating-of-client-hello|invalid-.*|record-layer-fragmentation|zero-length-data|version-numbers|ccs'
  only+='|early-application-data|connection-abort|hello-request-by-client|renegotiation-disabled'
  only+='|ecdhe-key-exchange-with-bad-messages|point-extension|ecdsa-sig-flexibility'
  only+='|no-mlkem-in-old-tls|export-ciphers-rejected)$'
fi
expected=$root/test/conformance/expected.tsv
logs=${LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/tlsio-conformance.XXXXXX")}
mkdir -p "$logs"

if [[ ! -x $suite/run.sh ]]; then
  echo "conformance.sh: no tlsfuzzer runner at $suite/run.sh" >&2
  exit 2
fi
if ! "${PYTHON:-/usr/bin/python3}" -c "import ecdsa" 2>/dev/null; then
  echo "conformance.sh: installing python3-ecdsa" >&2
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends python3-ecdsa >/dev/null
fi
server_bin=$build/bin/tlsio-server
if [[ ! -x $server_bin ]]; then
  if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  fi
  cmake --build "$build" -j "$(nproc)" --target tlsio-server
fi

# Throwaway self-signed certificates: tlsfuzzer does not verify them.
make_certificate() {
  local type=$1 key=(-newkey rsa:2048)
  [[ $type == ecdsa ]] && key=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  openssl req -x509 "${key[@]}" -nodes -days 2 -subj /CN=localhost \
    -keyout "$logs/$type-key.pem" -out "$logs/$type-cert.pem" 2>/dev/null
}

descriptors() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

server_pid=
stop_server() {
  if [[ -n $server_pid ]]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=
  fi
}
trap stop_server EXIT

status=0
for type in $cert_types; do
  make_certificate "$type"
  : >"$logs/$type-server.out" # before the server starts, for the loop below to read
  "$server_bin" --cert "$logs/$type-cert.pem" --key "$logs/$type-key.pem" --http \
    --host 127.0.0.1 --port 0 >"$logs/$type-server.out" 2>"$logs/$type-server.log" &
  server_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$logs/$type-server.out")
    [[ -n $port ]] && break
    sleep 0.1
  done
  if [[ -z $port ]]; then
    echo "conformance.sh: tlsio-server did not start" >&2
    cat "$logs/$type-server.log" >&2
    exit 1
  fi
  before=$(descriptors "$server_pid")
  ONLY=$only CERT_TYPE=$type LOG_DIR="$logs/$type" bash "$suite/run.sh" "$port" 127.0.0.1 |
    tee "$logs/$type-summary.txt"
  # Connections that tlsfuzzer left open end at the server's handshake or idle timeouts.
  after=$(descriptors "$server_pid")
  for _ in $(seq 30); do
    [[ $after -le $before ]] && break
    sleep 1
    after=$(descriptors "$server_pid")
  done
  echo "# $type: tlsio-server's open descriptors: $before before the run, $after after"
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "conformance.sh: tlsio-server died during the run ($type)" >&2
    status=1
  elif [[ $after -gt $before ]]; then
    echo "conformance.sh: tlsio-server keeps $((after - before)) more descriptors open ($type)" >&2
    status=1
  fi
  stop_server
  python3 "$root/scripts/conformance_compare.py" "$expected" "$type" "$logs/$type" || status=1
done
echo "# logs: $logs"
exit $status
