#!/usr/bin/env bash
# GET throughput on cached hot keys through hotcache, against redis-server serving
# the same keys directly, in one run. Rounds are interleaved; the table shows the
# median round.
#
# Usage: scripts/bench-hot.sh [seconds per run] [rounds] [keys] [extra hotcache flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
KEYS=${3:-100}
shift $(( $# > 3 ? 3 : $# )) || true
HC_FLAGS=("$@")
source scripts/lib.sh
RPORT=$(free_port); HPORT=$(free_port)
start_redis "$RPORT"
start_hotcache "$HPORT" "$RPORT" "${HC_FLAGS[@]}"
wait_ping "$RPORT" "$HPORT"
"$BENCH" -p "$RPORT" --keys "$KEYS" --preload --requests 1 --ratio 1:0 >/dev/null 2>&1
# Warm-up: the keys become hot and cached.
"$BENCH" -p "$HPORT" -c 50 --keys "$KEYS" --ratio 1:0 --duration 3 >/dev/null 2>&1
run() { # name port pipeline
  "$BENCH" -p "$2" -c 50 -P "$3" --keys "$KEYS" --ratio 1:0 --duration "$SECS" --json 2>/dev/null \
    | python3 -c "import json,sys; d=json.load(sys.stdin)['results']; print('$1 $3', d['ops_per_sec'], d['latency_us']['p99'], d['errors'])"
}
for round in $(seq "$ROUNDS"); do
  for pipe in 1 16; do
    run hotcache "$HPORT" "$pipe"
    run redis "$RPORT" "$pipe"
  done
done >"$WORK/results.txt"
hits=$(redis-cli -p "$HPORT" info hotcache | tr -d '\r' | sed -n 's/^cache_hits:\(.*\)/\1/p')
misses=$(redis-cli -p "$HPORT" info hotcache | tr -d '\r' | sed -n 's/^cache_misses:\(.*\)/\1/p')
python3 - "$WORK/results.txt" "$hits" "$misses" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, pipe, ops, p99, errs = line.split()
    rows[(pipe, name)].append((float(ops), float(p99), int(errs)))
med = lambda xs, i: statistics.median(x[i] for x in xs)
print("| pipeline | redis-server GET/s | hotcache GET/s (cached) | ratio | redis p99 ms | hotcache p99 ms | errors |")
print("|---|---|---|---|---|---|---|")
for pipe in ("1", "16"):
    h, r = rows[(pipe, "hotcache")], rows[(pipe, "redis")]
    print(f"| {pipe} | {med(r,0):,.0f} | {med(h,0):,.0f} | {med(h,0)/med(r,0):.2f}x | {med(r,1)/1000:.2f} | {med(h,1)/1000:.2f} | {sum(x[2] for x in h+r)} |")
hits, misses = int(sys.argv[2]), int(sys.argv[3])
print(f"\ncache hit ratio over the run: {hits/(hits+misses)*100:.3f}% ({hits:,} hits, {misses:,} misses)")
PY
