#!/usr/bin/env bash
# Builds the API reference of the public headers into build-docs/html with Doxygen, and fails
# if Doxygen warns about anything: an undocumented public member, a broken \param or
# reference. Installs doxygen from Debian's packages if it is missing (as root, or through
# sudo, like scripts/setup.sh). Graphs and LaTeX are off, so it takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v doxygen >/dev/null; then
  echo "tlsio: installing doxygen" >&2
  if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends doxygen >/dev/null
fi

# WARN_AS_ERROR=FAIL_ON_WARNINGS in the Doxyfile reports every warning, then fails; the
# log is checked as well in case a Doxygen version ignores that setting.
rm -rf build-docs
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
doxygen docs/Doxyfile 2>"$log" || status=$?
if [[ $status -ne 0 || -s $log ]]; then
  cat "$log" >&2
  echo "tlsio: the API reference has warnings (see above); document what they name" >&2
  exit 1
fi
echo "tlsio: API reference in build-docs/html/index.html, no warnings"
