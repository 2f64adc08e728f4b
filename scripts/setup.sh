#!/usr/bin/env bash
# Installs what building and testing tlsio needs from Debian's packages, if it is missing.
# Usage: scripts/setup.sh [--test]   (--test adds the real TLS peers the tests talk to)
set -euo pipefail

packages=(cmake g++ make pkg-config libmbedtls-dev libasio-dev doctest-dev libssl-dev)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(openssl libssl-dev gnutls-bin curl python3 procps nginx-light)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "tlsio: installing ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
