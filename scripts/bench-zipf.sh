#!/usr/bin/env bash
# Hit ratio under Zipf-skewed reads: how many GETs reach Redis, against the ideal
# for the number of keys hotcache ended up caching (the traffic share of the K
# most popular keys under the same Zipf law).
#
# Usage: scripts/bench-zipf.sh [seconds] [threads] [extra hotcache flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
THREADS=${2:-1}
shift $(( $# > 2 ? 2 : $# )) || true
HC_FLAGS=("$@")
KEYS=100000
source scripts/lib.sh
RPORT=$(free_port); HPORT=$(free_port)
start_redis "$RPORT"
wait_ping "$RPORT"
"$BENCH" -p "$RPORT" --keys "$KEYS" --preload --requests 1 --ratio 1:0 >/dev/null 2>&1

gets() { redis-cli -p "$RPORT" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_get:calls=\([0-9]*\),.*/\1/p'; }
info() { redis-cli -p "$HPORT" info hotcache | tr -d '\r' | sed -n "s/^$1:\([0-9]*\)$/\1/p"; }

echo "| zipf s | keys cached (K) | ideal share of GETs reaching Redis | measured | difference (pp) | hotcache ops/s |"
echo "|---|---|---|---|---|---|"
for S in 0.8 0.99 1.2; do
  start_hotcache "$HPORT" "$RPORT" --threads "$THREADS" "${HC_FLAGS[@]}"
  wait_ping "$HPORT"
  # Warm-up: let the detector and the cache settle.
  "$BENCH" -p "$HPORT" -c 50 -P 1 --keys "$KEYS" --dist zipf --zipf-s "$S" --ratio 1:0 --duration 5 >/dev/null 2>&1
  before=$(gets)
  out=$("$BENCH" -p "$HPORT" -c 50 -P 1 --keys "$KEYS" --dist zipf --zipf-s "$S" --ratio 1:0 --duration "$SECS" --json 2>/dev/null)
  after=$(gets)
  entries=$(info cache_entries)
  python3 - "$S" "$KEYS" "$entries" "$before" "$after" "$out" "$THREADS" <<'PY'
import json, sys
s, n, k, before, after, out, threads = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), json.loads(sys.argv[6]), int(sys.argv[7])
ops = out["results"]["ops"]
weights = [r ** -s for r in range(1, n + 1)]
total = sum(weights)
# Per-thread caches hold a hot key once per thread: count distinct keys.
k_distinct = max(1, round(k / threads))
ideal = 1 - sum(weights[:k_distinct]) / total
measured = (after - before) / ops
print(f"| {s} | {k_distinct} | {ideal*100:.1f}% | {measured*100:.1f}% | {(measured-ideal)*100:+.1f} | {out['results']['ops_per_sec']:,.0f} |")
PY
  kill "$HPID"; wait "$HPID" 2>/dev/null || true
done
