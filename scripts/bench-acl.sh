#!/usr/bin/env bash
# Cache hits with Redis ACL users (issue 13): does the point of hotcache
# survive ACLs? redis-benchmark GETs of 100 hot keys, as an ACL user `alice`
# through hotcache (every hit checked against what Redis answered alice), as
# Redis's unrestricted default user through hotcache (no checks needed), and
# straight to redis-server, in one run. Per cell: requests/s, CPU per request
# of the process serving them (µs, from /proc/PID/task/*/schedstat), hotcache's
# hit ratio over the cell.
#
# Usage: scripts/bench-acl.sh [ROUNDS] [REQUESTS]   (defaults 3, 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
REQUESTS=${2:-200000}
source scripts/lib.sh

stat_of() { redis-cli -p "$1" "${@:3}" info hotcache 2>/dev/null | tr -d '\r' | awk -F: -v k="$2" '$1 == k { print $2 }'; }

cat >"$WORK/users.acl" <<ACL
user default on nopass ~* &* +@all
user alice on >alicepw ~* &* +@all -@dangerous
user hc on >hcpw ~* &* +@all
ACL
RU=$(free_port); RO=$(free_port)
redis-server --port "$RU" --save '' --appendonly no --aclfile "$WORK/users.acl" >"$WORK/ru.log" 2>&1 &
PIDS+=($!); RUPID=$!
redis-server --port "$RO" --save '' --appendonly no >"$WORK/ro.log" 2>&1 &
PIDS+=($!); ROPID=$!
wait_ping "$RU" "$RO"
HU=$(free_port); HO=$(free_port)
target/release/hotcache --port "$HU" --upstream "redis://hc:hcpw@127.0.0.1:$RU" --threads 1 --cache-mode all 2>"$WORK/hu.log" &
PIDS+=($!); HUPID=$!
target/release/hotcache --port "$HO" --upstream "redis://127.0.0.1:$RO" --threads 1 --cache-mode all 2>"$WORK/ho.log" &
PIDS+=($!); HOPID=$!
wait_ping "$HU" "$HO"
for p in "$RU" "$RO"; do
  redis-benchmark -p "$p" --user hc -a hcpw -t set -n 1000 -r 100 -d 64 -q >/dev/null 2>&1 || redis-benchmark -p "$p" -t set -n 1000 -r 100 -d 64 -q >/dev/null
done

# cell NAME PORT PID PIPELINE [auth...]: one measured redis-benchmark run.
cell() {
  local name=$1 port=$2 pid=$3 pipe=$4
  shift 4
  redis-benchmark -p "$port" "$@" -t get -n 20000 -r 100 -d 64 -c 50 -P "$pipe" -q >/dev/null 2>&1
  local h0 m0 c0 out c1 h1 m1
  h0=$(stat_of "$port" cache_hits "$@"); m0=$(stat_of "$port" cache_misses "$@")
  c0=$(cpu_ns "$pid")
  out=$(redis-benchmark -p "$port" "$@" -t get -n "$REQUESTS" -r 100 -d 64 -c 50 -P "$pipe" -q 2>/dev/null | tr '\r' '\n' | grep -E '^GET:' | tail -1)
  c1=$(cpu_ns "$pid")
  h1=$(stat_of "$port" cache_hits "$@"); m1=$(stat_of "$port" cache_misses "$@")
  local rps us ratio
  rps=$(echo "$out" | awk '{ print $2 }')
  us=$(awk -v a="$c0" -v b="$c1" -v n="$REQUESTS" 'BEGIN { printf "%.2f", (b - a) / n / 1000 }')
  if [ -n "$h0" ]; then
    ratio=$(awk -v h="$((h1 - h0))" -v m="$((m1 - m0))" 'BEGIN { if (h + m > 0) printf "%.3f", h / (h + m); else print "-" }')
  else
    ratio="-"
  fi
  printf '%-34s P%-3s %12s req/s %8s us/req  hit ratio %s\n' "$name" "$pipe" "$rps" "$us" "$ratio"
}

echo "== GET of 100 hot keys, 64-byte values, 50 connections, $REQUESTS requests per cell, $ROUNDS rounds"
for round in $(seq "$ROUNDS"); do
  echo "-- round $round"
  for pipe in 1 16; do
    cell "redis-server direct (alice)" "$RU" "$RUPID" "$pipe" --user alice -a alicepw
    cell "hotcache, ACL user alice" "$HU" "$HUPID" "$pipe" --user alice -a alicepw
    cell "hotcache, no ACL users" "$HO" "$HOPID" "$pipe"
  done
done
