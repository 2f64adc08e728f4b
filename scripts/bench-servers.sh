#!/usr/bin/env bash
# Server-level benchmark (issue 17): tlsio-server --http beside lighttpd with mod_mbedtls (the
# same Mbed TLS engine) and nginx-light (OpenSSL), measured as their users measure them; and
# tlsio-server --engine openssl (tlsio-openssl) beside nginx, both on OpenSSL.
#
# Every server gets the same throwaway certificate (ECDSA P-256, made here with openssl), TLS 1.2
# only, the suite ECDHE-ECDSA-AES128-GCM-SHA256, the group x25519, session tickets on, and one
# worker or thread, on 127.0.0.1, with its configuration in a temporary directory. The server
# runs on one CPU and the load client (bench/load_client.cpp, tlsio-load) on another.
#
# Usage: scripts/bench-servers.sh [--duration SECONDS]
#                                 [--servers tlsio,tlsio-openssl,lighttpd,nginx]
#                                 [--rounds N] [--json FILE] [--idle N] [--concurrency N]
#                                 [--build-dir DIR]
# Installs what is missing from Debian (lighttpd, lighttpd-mod-mbedtls, nginx-light, openssl);
# a server whose package cannot be installed is skipped with a message. Builds tlsio-server and
# tlsio-load in Release in build-bench/. With the default duration (4 s a figure) and one round
# the run takes about 2 minutes; --rounds 3 prints the medians of three rounds.
# A measurement, not a test: neither CI nor the test suite runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=4
rounds=1
servers=tlsio,tlsio-openssl,lighttpd,nginx
json=
idle=2000
concurrency=16
dir=build-bench

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) duration=${2:?--duration needs seconds}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --servers) servers=${2:?--servers needs a list}; shift 2 ;;
    --json) json=${2:?--json needs a file}; shift 2 ;;
    --idle) idle=${2:?--idle needs a number}; shift 2 ;;
    --concurrency) concurrency=${2:?--concurrency needs a number}; shift 2 ;;
    --build-dir) dir=${2:?--build-dir needs a directory}; shift 2 ;;
    -h | --help) usage 0 ;;
    *) echo "bench-servers: unknown argument $1" >&2; usage 2 >&2 ;;
  esac
done
[[ $duration =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "bench-servers: --duration takes seconds" >&2; exit 2; }
[[ $idle =~ ^[0-9]+$ && $concurrency =~ ^[1-9][0-9]*$ && $rounds =~ ^[1-9][0-9]*$ ]] ||
  { echo "bench-servers: --idle, --concurrency and --rounds take numbers" >&2; exit 2; }
IFS=, read -r -a wanted <<<"$servers"
for s in "${wanted[@]}"; do
  case "$s" in
    tlsio | tlsio-openssl | lighttpd | nginx) ;;
    *) echo "bench-servers: unknown server '$s' (tlsio, tlsio-openssl, lighttpd, nginx)" >&2; exit 2 ;;
  esac
done

say() { echo "bench-servers: $*" >&2; }

# --- Packages --------------------------------------------------------------------------------

if [[ $(id -u) -eq 0 ]]; then sudo=(); else sudo=(sudo); fi
apt_updated=0
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# Installs the packages that are missing; fails (without stopping the run) if apt-get cannot.
ensure() {
  local missing=() p
  for p in "$@"; do installed "$p" || missing+=("$p"); done
  [[ ${#missing[@]} -eq 0 ]] && return 0
  if [[ ${#sudo[@]} -gt 0 ]] && ! command -v sudo >/dev/null; then
    say "cannot install ${missing[*]}: not root and no sudo"
    return 1
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [[ $apt_updated -eq 0 ]]; then
    "${sudo[@]}" apt-get update -qq || true
    apt_updated=1
  fi
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1
}

ensure cmake g++ make pkg-config libmbedtls-dev libasio-dev libssl-dev openssl util-linux iproute2 \
  procps ||
  { say "cannot install the build tools"; exit 1; }
# h2load (nghttp2-client): the load generator users point at servers; optional.
ensure nghttp2-client && command -v h2load >/dev/null ||
  say "no h2load (nghttp2-client could not be installed): its row stays empty"
available=()
for s in "${wanted[@]}"; do
  case "$s" in
    tlsio) available+=(tlsio) ;;
    tlsio-openssl) available+=(tlsio-openssl) ;; # skipped below if the build has no OpenSSL engine
    lighttpd)
      if ensure lighttpd lighttpd-mod-mbedtls && [[ -e /usr/lib/lighttpd/mod_mbedtls.so ]]; then
        available+=(lighttpd)
      else
        say "skipping lighttpd: lighttpd and lighttpd-mod-mbedtls could not be installed"
      fi ;;
    nginx)
      if ensure nginx-light && command -v nginx >/dev/null; then
        available+=(nginx)
      else
        say "skipping nginx: nginx-light could not be installed"
      fi ;;
  esac
done

# The first two CPUs this process may use (a container's may not be 0 and 1).
read -r -a cpus <<<"$(taskset -cp $$ | sed 's/.*: //' | tr ',' '\n' |
  awk -F- '{ last = NF > 1 ? $2 : $1; for (c = $1; c <= last; c++) printf "%d ", c }')"
if [[ ${#cpus[@]} -ge 2 ]]; then
  server_cpu=${cpus[0]}
  client_cpu=${cpus[1]}
else
  say "one CPU only: server and client share it, so the figures measure both"
  server_cpu=${cpus[0]:-0}
  client_cpu=$server_cpu
fi

# --- Build -----------------------------------------------------------------------------------

cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$dir" -j "$(nproc)" --target tlsio-server tlsio-load >/dev/null
bin=$PWD/$dir/bin

# 2 000 idle connections need as many descriptors in the client and in the server; lighttpd
# also caps its connections at half its server.max-fds (and then stops accepting: the idle
# connections would wait in the backlog until others time out, a minute later).
max_connections=$((idle + 512))
want_fds=$((2 * max_connections + 256))
if [[ $(ulimit -n) -lt $want_fds ]]; then
  ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  [[ $(ulimit -n) -ge $want_fds ]] || say "only $(ulimit -n) file descriptors: fewer idle connections will open"
fi

# --- Certificate and configurations ----------------------------------------------------------

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-servers.XXXXXX")
chmod 755 "$tmp" # nginx's workers run as nobody
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
chmod 644 "$tmp/key.pem" "$tmp/cert.pem"
# About as long as tlsio-server's answer ("hello from tlsio over TLSv1.2 (...)").
body="hello from a benchmark server over TLS 1.2, ECDHE-ECDSA-AES128-GCM"
mkdir -p "$tmp/www"
echo "$body" >"$tmp/www/index.html"
chmod -R a+rX "$tmp/www"

# A port nothing listens on (checked, then taken by the server a moment later).
free_port() {
  local port=$1
  while ss -Htln "sport = :$port" | grep -q .; do port=$((port + 1)); done
  echo "$port"
}

write_lighttpd_config() { # port
  cat >"$tmp/lighttpd.conf" <<EOF
server.modules = ("mod_mbedtls")
server.document-root = "$tmp/www"
index-file.names = ("index.html")
server.bind = "127.0.0.1"
server.port = $1
server.errorlog = "$tmp/lighttpd-error.log"
server.max-worker = 0
server.max-fds = $want_fds
server.max-connections = $max_connections
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 60
server.max-read-idle = 60
ssl.engine = "enable"
ssl.pemfile = "$tmp/cert.pem"
ssl.privkey = "$tmp/key.pem"
ssl.openssl.ssl-conf-cmd = (
  "MinProtocol" => "TLSv1.2",
  "MaxProtocol" => "TLSv1.2",
  "CipherString" => "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
  "Curves" => "x25519"
)
EOF
}

write_nginx_config() { # port
  cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log error;
worker_rlimit_nofile $want_fds;
events { worker_connections $max_connections; }
http {
  access_log off;
  client_body_temp_path $tmp/nginx-body;
  proxy_temp_path $tmp/nginx-proxy;
  fastcgi_temp_path $tmp/nginx-fastcgi;
  uwsgi_temp_path $tmp/nginx-uwsgi;
  scgi_temp_path $tmp/nginx-scgi;
  keepalive_requests 1000000;
  keepalive_timeout 60s;
  server {
    listen 127.0.0.1:$1 ssl;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    ssl_protocols TLSv1.2;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
    ssl_ecdh_curve X25519;
    ssl_session_tickets on;
    default_type text/plain;
    location / { return 200 "$body\n"; }
  }
}
EOF
}

# --- Running one server ----------------------------------------------------------------------

server_pid=  # the process that does the work (nginx: its one worker)
server_port=
start_server() { # name
  local name=$1 port launched i
  port=$(free_port 18443)
  case "$name" in
    tlsio)
      taskset -c "$server_cpu" "$bin/tlsio-server" --cert "$tmp/cert.pem" --key "$tmp/key.pem" \
        --host 127.0.0.1 --port "$port" --http --threads 1 >"$tmp/tlsio.out" 2>"$tmp/tlsio.log" &
      launched=$! ;;
    tlsio-openssl) # TLS 1.2 pinned, as every server here; the OpenSSL engine would offer 1.3
      taskset -c "$server_cpu" "$bin/tlsio-server" --engine openssl --tls1.2 --cert "$tmp/cert.pem" \
        --key "$tmp/key.pem" --host 127.0.0.1 --port "$port" --http --threads 1 \
        >"$tmp/tlsio-openssl.out" 2>"$tmp/tlsio-openssl.log" &
      launched=$! ;;
    lighttpd)
      write_lighttpd_config "$port"
      taskset -c "$server_cpu" lighttpd -D -f "$tmp/lighttpd.conf" >"$tmp/lighttpd.out" 2>&1 &
      launched=$! ;;
    nginx)
      write_nginx_config "$port"
      taskset -c "$server_cpu" nginx -p "$tmp" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" \
        -g 'daemon off;' >"$tmp/nginx.out" 2>&1 &
      launched=$! ;;
  esac
  pids+=("$launched")
  server_pid=$launched
  server_port=$port
  for ((i = 0; i < 100; i++)); do
    if ! kill -0 "$launched" 2>/dev/null; then
      say "$name did not start:"
      cat "$tmp/$name.out" "$tmp/$name.log" "$tmp/$name-error.log" 2>/dev/null | head -5 >&2
      return 1
    fi
    if ss -Htln "sport = :$port" | grep -q .; then
      if [[ $name == nginx ]]; then
        server_pid=$(pgrep -P "$launched" | head -1 || true)
        [[ -n $server_pid ]] || { sleep 0.05; continue; }
      fi
      return 0
    fi
    sleep 0.05
  done
  say "$name is not listening on port $port after 5 s"
  return 1
}

stop_server() {
  local p=${pids[-1]}
  kill "$p" 2>/dev/null || true
  wait "$p" 2>/dev/null || true
  unset 'pids[-1]'
}

# One tlsio-load run on the client core; its key=value line is left in $line.
line=
load() { # mode [options...]
  line=$(taskset -c "$client_cpu" "$bin/tlsio-load" --port "$server_port" --pid "$server_pid" \
    --concurrency "$concurrency" --duration "$duration" --mode "$@")
}
field() { # name: the value of name=... in $line
  local word
  for word in $line; do
    [[ $word == "$1="* ]] && { echo "${word#*=}"; return; }
  done
  echo ""
}

declare -A result=()
declare -A note=()
check_negotiated() { # server mode
  local got
  got="$(field protocol) $(field suite) $(field group)"
  [[ $got == "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 x25519" ]] ||
    say "$1 $2: negotiated $got, not what was asked"
  [[ $(field failed) == 0 ]] || say "$1 $2: $(field failed) failed connections or requests"
}
busy_client() { # server metric: marks a figure the client's core may have limited
  awk -v s="$(field client_cpu_share)" 'BEGIN { exit !(s >= 0.9) }' && note[$1.$2]='*'
  return 0
}

measure() { # server
  local s=$1
  say "$s: idle memory ($idle connections)"
  load idle --connections "$idle" || return 1
  check_negotiated "$s" idle
  [[ $(field connections) == "$idle" ]] || say "$s: only $(field connections) of $idle idle connections opened"
  # Slow opening means the server queued connections until others closed: the figure is wrong.
  awk -v t="$(field open_seconds)" 'BEGIN { exit !(t > 15) }' &&
    say "$s: opening the idle connections took $(field open_seconds) s: the server held back connections"
  result[$s.idle_kib]=$(field kib_per_connection)

  say "$s: full handshakes (${duration} s)"
  load full || return 1
  check_negotiated "$s" full
  result[$s.full_s]=$(field per_second)
  result[$s.full_cpu]=$(field per_cpu_second)
  busy_client "$s" full_s

  say "$s: resumed handshakes (${duration} s)"
  load resumed || return 1
  result[$s.resumed_s]=$(field per_second)
  result[$s.resumed_cpu]=$(field per_cpu_second)
  busy_client "$s" resumed_s
  [[ $(field resumed) == "$(field "done")" ]] ||
    say "$s: only $(field resumed) of $(field "done") connections resumed"

  say "$s: keep-alive requests (${duration} s)"
  load keepalive || return 1
  check_negotiated "$s" keepalive
  result[$s.keepalive_s]=$(field per_second)
  result[$s.keepalive_cpu]=$(field per_cpu_second)
  busy_client "$s" keepalive_s

  if command -v h2load >/dev/null; then
    # Each request on a new connection, which h2load resumes with the last session it got.
    say "$s: h2load --h1 reconnects (8 000 requests)"
    local out
    # -n, not -D: h2load 1.52 with --h1 and -D does not stop after the duration.
    out=$(timeout 120 taskset -c "$client_cpu" h2load --h1 -c "$concurrency" -n 8000 \
      -H "Connection: close" --ciphers=ECDHE-ECDSA-AES128-GCM-SHA256 \
      "https://127.0.0.1:$server_port/" 2>&1) || say "$s: h2load failed"
    result[$s.h2load_s]=$(sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' <<<"$out")
    grep -q "succeeded, 0 failed, 0 errored" <<<"$out" ||
      say "$s: h2load: $(grep -m1 '^requests:' <<<"$out")"
  fi

  say "$s: light client's latency under full handshakes (${duration} s)"
  load latency || return 1
  result[$s.p50_ms]=$(field p50_ms)
  result[$s.p99_ms]=$(field p99_ms)
  result[$s.latency_load_s]=$(field per_second)
}

version_of() {
  case "$1" in
    tlsio) "$bin/tlsio-server" --version 2>&1 | head -1 ;;
    tlsio-openssl) # "tlsio-server (tlsio 0.1.0), engine openssl (OpenSSL 3.0.17)"
      echo "$("$bin/tlsio-server" --version 2>&1 | head -1 | sed 's/, .*/)/')," \
        "engine $("$bin/tlsio-server" --version 2>&1 | grep -o 'openssl ([^)]*)')" ;;
    lighttpd) lighttpd -v 2>&1 | head -1 | sed 's/ - .*//' ;;
    nginx) echo "$(nginx -v 2>&1 | sed 's/^nginx version: //'), $(openssl version | cut -d' ' -f1-2)" ;;
  esac
}

# Medians of the rounds; each round runs every server once, on a server started afresh, so that
# a change in the machine's other load falls on every server alike.
median() { # values...
  printf '%s\n' "$@" | grep . | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2];
                              else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
metrics=(full_s full_cpu resumed_s resumed_cpu h2load_s keepalive_s keepalive_cpu p50_ms p99_ms
  idle_kib)
declare -A version=() samples=() good_rounds=() skipped=()
for ((round = 1; round <= rounds; round++)); do
  [[ $rounds -gt 1 ]] && say "round $round of $rounds"
  for s in "${available[@]}"; do
    [[ -n ${skipped[$s]:-} ]] && continue
    if start_server "$s"; then
      version[$s]=$(version_of "$s")
      if measure "$s"; then
        good_rounds[$s]=$((${good_rounds[$s]:-0} + 1))
        for m in "${metrics[@]}"; do samples[$s.$m]+="${result[$s.$m]:-} "; done
      else
        say "$s: the load client failed in round $round"
      fi
    else
      say "skipping $s"
      skipped[$s]=1
    fi
    stop_server
  done
done
measured=()
for s in "${available[@]}"; do
  [[ ${good_rounds[$s]:-0} -gt 0 ]] || continue
  measured+=("$s")
  for m in "${metrics[@]}"; do
    # shellcheck disable=SC2086 # the samples are words
    result[$s.$m]=$(median ${samples[$s.$m]})
  done
done
[[ ${#measured[@]} -gt 0 ]] || { say "no server could be measured"; exit 1; }

# --- Report ----------------------------------------------------------------------------------

declare -A label=(
  [full_s]="full handshakes/s"
  [full_cpu]="full handshakes per server CPU-s"
  [resumed_s]="resumed handshakes/s (tickets)"
  [resumed_cpu]="resumed handshakes per server CPU-s"
  [h2load_s]="h2load --h1 reconnects/s (Connection: close)"
  [keepalive_s]="keep-alive requests/s"
  [keepalive_cpu]="keep-alive requests per server CPU-s"
  [p50_ms]="light client p50 ms under full-handshake load (lower is better)"
  [p99_ms]="light client p99 ms under full-handshake load (lower is better)"
  [idle_kib]="KiB per idle TLS connection (lower is better)"
)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.2f", a / b }'; }
shown() { # metric value: rates as whole numbers, milliseconds and KiB with decimals
  [[ -z $2 ]] && { echo -; return; }
  case "$1" in
    p50_ms | p99_ms) printf '%.2f' "$2" ;;
    idle_kib) printf '%.1f' "$2" ;;
    *) printf '%.0f' "$2" ;;
  esac
}
# The ratio columns, "a/b" each: tlsio against every other server, and tlsio on OpenSSL
# against nginx (the same OpenSSL under both).
is_measured() { local s; for s in "${measured[@]}"; do [[ $s == "$1" ]] && return 0; done; return 1; }
pairs=()
if is_measured tlsio; then
  for s in "${measured[@]}"; do [[ $s == tlsio* ]] || pairs+=("tlsio/$s"); done
fi
is_measured tlsio-openssl && is_measured nginx && pairs+=("tlsio-openssl/nginx")
pair_ratio() { # a/b metric
  ratio "${result[${1%/*}.$2]:-}" "${result[${1#*/}.$2]:-}"
}

echo
echo "Servers on CPU $server_cpu, tlsio-load on CPU $client_cpu; $(nproc) cores, $(uname -r);" \
  "${duration} s per figure, median of $rounds round(s), $concurrency client connections, $idle idle connections"
for s in "${measured[@]}"; do echo "  $s: ${version[$s]}"; done
echo
header="| figure |"
rule="|---|"
for s in "${measured[@]}"; do header+=" $s |"; rule+="---|"; done
for p in "${pairs[@]}"; do header+=" $p |"; rule+="---|"; done
echo "$header"
echo "$rule"
for m in "${metrics[@]}"; do
  row="| ${label[$m]} |"
  for s in "${measured[@]}"; do row+=" $(shown "$m" "${result[$s.$m]:-}")${note[$s.$m]:-} |"; done
  for p in "${pairs[@]}"; do row+=" $(pair_ratio "$p" "$m") |"; done
  echo "$row"
done
if [[ ${#note[@]} -gt 0 ]]; then
  echo
  echo "* the load client used 90 % or more of its core: the figure may be the client's limit."
fi

if [[ -n $json ]]; then
  {
    printf '{\n  "duration_seconds": %s,\n  "rounds": %s,\n  "concurrency": %s,\n  "idle_connections": %s,\n' \
      "$duration" "$rounds" "$concurrency" "$idle"
    printf '  "cores": %s,\n  "kernel": "%s",\n  "servers": {' "$(nproc)" "$(uname -r)"
    sep=
    for s in "${measured[@]}"; do
      printf '%s\n    "%s": {"version": "%s"' "$sep" "$s" "${version[$s]//\"/}"
      for m in "${metrics[@]}"; do
        printf ', "%s": %s' "$m" "${result[$s.$m]:-null}"
        [[ -n ${note[$s.$m]:-} ]] && printf ', "%s_client_bound": true' "$m"
      done
      printf '}'
      sep=,
    done
    printf '\n  },\n  "ratios": {'
    sep=
    for p in "${pairs[@]}"; do
      printf '%s\n    "%s": {' "$sep" "$p"
      msep=
      for m in "${metrics[@]}"; do
        r=$(pair_ratio "$p" "$m")
        [[ $r == - ]] && r=null
        printf '%s"%s": %s' "$msep" "$m" "$r"
        msep=", "
      done
      printf '}'
      sep=,
    done
    printf '\n  }\n}\n'
  } >"$json"
  say "wrote $json"
fi
