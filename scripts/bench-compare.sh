#!/usr/bin/env bash
# One benchmark run: hotcache forwarding to redis-server vs twemproxy (nutcracker)
# forwarding to the same redis-server, and redis-server direct, with the project's
# load tool. Rounds are interleaved so that a noisy neighbour hurts all equally;
# the table shows the median round.
#
# Usage: scripts/bench-compare.sh [seconds per run] [rounds] [extra hotcache flags...]
# LOAD=redis-benchmark runs the same cells with redis-benchmark (-d 64 -r 100000,
# a fixed request count sized for about the given seconds) instead of the load tool.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
ROUNDS=${2:-3}
shift $(( $# > 2 ? 2 : $# )) || true
HC_FLAGS=("$@")

source scripts/lib.sh
need_nutcracker
RPORT=$(free_port); NPORT=$(free_port); NSTATS=$(free_port); HPORT=$(free_port)
start_redis "$RPORT"
start_nutcracker "$NPORT" "$NSTATS" "$RPORT"
start_hotcache "$HPORT" "$RPORT" "${HC_FLAGS[@]}"
wait_ping "$RPORT" "$NPORT" "$HPORT"
"$BENCH" -p "$RPORT" --preload --requests 1 --ratio 1:0 >/dev/null
LOAD=${LOAD:-hotcache-bench}
if [ "$LOAD" = redis-benchmark ]; then
  # redis-benchmark's keys are key:000000000000..key:000000099999: set them all once.
  redis-benchmark -p "$RPORT" -t set -r 100000 -n 1000000 -d 64 -P 16 -q >/dev/null
fi

run() { # name port ratio pipeline -> "name ratio pipeline ops p50_us p99_us errors"
  if [ "$LOAD" = redis-benchmark ]; then
    local t=set n=$(( SECS * 100000 * $4 ))
    [ "$3" = 1:0 ] && t=get
    (( $4 > 1 )) && n=$(( n / 4 ))
    redis-benchmark -p "$2" -c 50 -P "$4" -t "$t" -d 64 -r 100000 -n "$n" --csv 2>/dev/null \
      | python3 -c "import csv,sys; r=list(csv.reader(sys.stdin))[-1]; print('$1 $3 $4', r[1], float(r[4])*1000, float(r[6])*1000, -1)"
  else
    "$BENCH" -p "$2" -c 50 -P "$4" --ratio "$3" --duration "$SECS" --json \
      | python3 -c "import json,sys; d=json.load(sys.stdin)['results']; print('$1 $3 $4', d['ops_per_sec'], d['latency_us']['p50'], d['latency_us']['p99'], d['errors'])"
  fi
}
for round in $(seq "$ROUNDS"); do
  for ratio in 1:0 0:1; do
    for pipe in 1 16; do
      for target in "twemproxy $NPORT" "hotcache $HPORT" "redis $RPORT"; do
        set -- $target
        run "$1" "$2" "$ratio" "$pipe"
      done
    done
  done
done >"$WORK/results.txt"
python3 - "$WORK/results.txt" <<'PY'
import sys, statistics, collections
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, ratio, pipe, ops, p50, p99, errs = line.split()
    rows[(ratio, pipe, name)].append((float(ops), float(p50), float(p99), int(errs)))
def med(xs, i): return statistics.median(x[i] for x in xs)
print("| op | pipeline | twemproxy ops/s | hotcache ops/s | ratio | twemproxy p99 ms | hotcache p99 ms | redis direct ops/s | errors |")
print("|---|---|---|---|---|---|---|---|---|")
for ratio, op in (("1:0", "GET"), ("0:1", "SET")):
    for pipe in ("1", "16"):
        t, h, r = rows[(ratio, pipe, "twemproxy")], rows[(ratio, pipe, "hotcache")], rows[(ratio, pipe, "redis")]
        errs = sum(x[3] for x in t + h + r)
        errs = errs if errs >= 0 else "n/a (redis-benchmark)"
        print(f"| {op} | {pipe} | {med(t,0):,.0f} | {med(h,0):,.0f} | {med(h,0)/med(t,0):.2f}x | {med(t,2)/1000:.2f} | {med(h,2)/1000:.2f} | {med(r,0):,.0f} | {errs} |")
PY
