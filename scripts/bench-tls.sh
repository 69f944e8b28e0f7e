#!/usr/bin/env bash
# CPU per request of cached GETs over TLS: hotcache (TLS on every shard thread,
# rediss:// to Redis) against redis-server's own TLS (its one main thread), in
# the same run, at pipeline 1 and 16.
#
# How it is measured: each server's CPU time is read before and after a load
# (the sum of the first field of /proc/PID/task/*/schedstat, in ns, every
# thread of the process) and divided by the requests the load sent; the ratio
# hotcache/redis is what counts (target: at most 0.8x). The load is
# redis-benchmark --tls (-t get, 50 connections, -P 1 and -P 16) on keys made
# hot first; its own CPU is not counted. Rounds interleave the two targets;
# the table shows every round, then the median and spread of the ratios.
#
# Usage: scripts/bench-tls.sh [requests per run] [rounds] [keys] [extra hotcache flags...]
#   MODE=plain runs the same without TLS anywhere (the plain-TCP path, to show
#   what TLS support costs it: compare against a build without it).
#   HOTCACHE=path uses another hotcache binary (a build of an older commit).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-300000}
ROUNDS=${2:-3}
KEYS=${3:-100}
shift $(( $# > 3 ? 3 : $# )) || true
HC_FLAGS=("$@")
MODE=${MODE:-tls}
for tool in redis-server redis-cli redis-benchmark openssl python3; do
  command -v "$tool" >/dev/null || { echo "bench-tls: $tool is needed" >&2; exit 1; }
done
source scripts/lib.sh
HOTCACHE=${HOTCACHE:-target/release/hotcache}

# A CA and a server certificate for 127.0.0.1 and localhost.
C=$WORK/certs
mkdir -p "$C"
openssl req -x509 -new -nodes -newkey rsa:2048 -keyout "$C/ca.key" -out "$C/ca.crt" \
  -days 2 -subj "/CN=bench CA" 2>/dev/null
openssl req -new -nodes -newkey rsa:2048 -keyout "$C/server.key" -out "$C/server.csr" \
  -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$C/server.ext"
openssl x509 -req -in "$C/server.csr" -CA "$C/ca.crt" -CAkey "$C/ca.key" -CAcreateserial \
  -out "$C/server.crt" -days 2 -extfile "$C/server.ext" 2>/dev/null

RPORT=$(free_port); RTLS=$(free_port); HPORT=$(free_port); HTLS=$(free_port)
TLS_FILES=(--tls-cert-file "$C/server.crt" --tls-key-file "$C/server.key" --tls-auth-clients no)
redis-server --port "$RPORT" --tls-port "$RTLS" "${TLS_FILES[@]}" --save '' --appendonly no \
  --daemonize no >"$WORK/redis.log" 2>&1 &
RPID=$!
PIDS+=($RPID)
if [ "$MODE" = tls ]; then
  "$HOTCACHE" --port "$HPORT" --tls-port "$HTLS" "${TLS_FILES[@]}" \
    --upstream "rediss://127.0.0.1:$RTLS" --upstream-tls-ca-cert-file "$C/ca.crt" \
    "${HC_FLAGS[@]}" 2>"$WORK/hotcache.log" &
  TARGETS=("hotcache $HTLS" "redis $RTLS")
  LOAD_TLS=(--tls --cacert "$C/ca.crt")
else
  "$HOTCACHE" --port "$HPORT" --upstream "redis://127.0.0.1:$RPORT" "${HC_FLAGS[@]}" \
    2>"$WORK/hotcache.log" &
  TARGETS=("hotcache $HPORT" "redis $RPORT")
  LOAD_TLS=()
fi
HPID=$!
PIDS+=($HPID)
wait_ping "$RPORT" "$HPORT"

# The keys redis-benchmark -r asks for: key:000000000000 ... key:<KEYS-1>.
python3 -c "
import sys
for i in range($KEYS):
    k = 'key:%012d' % i
    sys.stdout.write('*3\r\n\$3\r\nSET\r\n\$%d\r\n%s\r\n\$3\r\nxxx\r\n' % (len(k), k))
" | redis-cli -p "$RPORT" --pipe >/dev/null

load() { # port pipeline requests
  redis-benchmark "${LOAD_TLS[@]}" -p "$1" -t get -c 50 -P "$2" -n "$3" -r "$KEYS" -q \
    >>"$WORK/load.log" 2>&1
}
# Warm-up: every key read well over 100 times a second, so cache-mode hot
# caches them all.
load "${TARGETS[0]#* }" 1 "$((N / 3))"

info() { redis-cli -p "$HPORT" info hotcache | tr -d '\r' | sed -n "s/^$1:\(.*\)/\1/p"; }
hits0=$(info cache_hits); misses0=$(info cache_misses)
for round in $(seq "$ROUNDS"); do
  for pipe in 1 16; do
    for t in "${TARGETS[@]}"; do
      read -r name port <<<"$t"
      pid=$([ "$name" = hotcache ] && echo "$HPID" || echo "$RPID")
      before=$(cpu_ns "$pid")
      start=$(date +%s%N)
      load "$port" "$pipe" "$N"
      end=$(date +%s%N)
      after=$(cpu_ns "$pid")
      echo "$round $pipe $name $(( (after - before) / N )) $(( N * 1000000000 / (end - start) ))"
    done
  done
done >"$WORK/results.txt"

python3 - "$WORK/results.txt" "$(( $(info cache_hits) - hits0 ))" "$(( $(info cache_misses) - misses0 ))" "$MODE" "$N" "${HC_FLAGS[*]}" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    rnd, pipe, name, ns, rps = line.split()
    rows[(pipe, rnd)][name] = (int(ns), int(rps))
mode, n = sys.argv[4], int(sys.argv[5])
flags = sys.argv[6] if len(sys.argv) > 6 else ""
print(f"{mode}: CPU per GET (ns, all threads of the server process), {n:,} requests per run; hotcache flags: {flags or '(none)'}")
print("| pipeline | round | redis-server ns/req | hotcache ns/req | hotcache/redis | redis req/s | hotcache req/s |")
print("|---|---|---|---|---|---|---|")
ratios = collections.defaultdict(list)
for (pipe, rnd) in sorted(rows, key=lambda k: (int(k[0]), int(k[1]))):
    r, h = rows[(pipe, rnd)]["redis"], rows[(pipe, rnd)]["hotcache"]
    ratios[pipe].append(h[0] / r[0])
    print(f"| {pipe} | {rnd} | {r[0]:,} | {h[0]:,} | {h[0]/r[0]:.2f}x | {r[1]:,} | {h[1]:,} |")
print()
for pipe, rs in sorted(ratios.items(), key=lambda kv: int(kv[0])):
    print(f"pipeline {pipe}: hotcache/redis CPU per request, median {statistics.median(rs):.2f}x "
          f"(min {min(rs):.2f}x, max {max(rs):.2f}x over {len(rs)} rounds)")
hits, misses = int(sys.argv[2] or 0), int(sys.argv[3] or 0)
if hits + misses:
    print(f"cache hit ratio over the measured runs: {hits/(hits+misses)*100:.3f}% ({hits:,} hits, {misses:,} misses)")
PY
