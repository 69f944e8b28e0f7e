#!/usr/bin/env bash
# One benchmark run, charted: redis-server direct, twemproxy (nutcracker) and
# hotcache, the two proxies forwarding to the same redis-server, on the same
# workloads. Writes into the output directory (docs/bench by default):
#
#   runs/<case>-<target>.json   every cell, as `hotcache-bench --json` prints it
#   compare.svg                 bars: ops/s, p50 and p99 by workload and target
#   compare.html                the same plus a table and throughput over time
#   hotcache-zipf.svg           hotcache on Zipf reads: ops/s, latency, hit ratio per second
#   summary.md                  the figures as a Markdown table, with the machine's state
#
# Cells are run case by case, the three targets back to back, so a noisy
# neighbour hurts all three of a case alike. One round: no medians.
#
# Usage: scripts/bench-report.sh [seconds per cell] [output dir] [extra hotcache flags...]
#   e.g. scripts/bench-report.sh 5 docs/bench --threads 1
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
OUT=${2:-docs/bench}
shift $(( $# > 2 ? 2 : $# )) || true
HC_FLAGS=("$@")

source scripts/lib.sh
need_nutcracker
RPORT=$(free_port); NPORT=$(free_port); NSTATS=$(free_port); HPORT=$(free_port)
start_redis "$RPORT"
start_nutcracker "$NPORT" "$NSTATS" "$RPORT"
start_hotcache "$HPORT" "$RPORT" "${HC_FLAGS[@]}"
wait_ping "$RPORT" "$NPORT" "$HPORT"
KEYS=100000
"$BENCH" -p "$RPORT" --keys "$KEYS" --preload --requests 1 --ratio 1:0 >/dev/null 2>&1

mkdir -p "$OUT/runs"
rm -f "$OUT"/runs/*.json
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
# case name, then load tool flags
CASES=(
  "get-p1|--ratio 1:0 -P 1"
  "get-p16|--ratio 1:0 -P 16"
  "set-p1|--ratio 0:1 -P 1"
  "set-p16|--ratio 0:1 -P 16"
  "get-p16-zipf|--ratio 1:0 -P 16 --dist zipf --zipf-s 0.99"
)
FILES=()
for c in "${CASES[@]}"; do
  name=${c%%|*}; flags=${c#*|}
  for target in "redis-server $RPORT" "twemproxy $NPORT" "hotcache $HPORT"; do
    set -- $target
    file="$OUT/runs/$name-$1.json"
    extra=()
    # The Zipf run through hotcache also gets its own timeline chart.
    if [ "$name" = get-p16-zipf ] && [ "$1" = hotcache ]; then extra=(--svg "$OUT/hotcache-zipf.svg"); fi
    # shellcheck disable=SC2086
    "$BENCH" -p "$2" -c 50 --keys "$KEYS" $flags --duration "$SECS" --label "$1" --json "${extra[@]}" \
      >"$file" 2>>"$WORK/bench.log"
    python3 - "$file" "$name $1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print("{}: {:,.0f} ops/s, p99 {:.2f} ms, {} errors".format(sys.argv[2], r["ops_per_sec"], r["latency_us"]["p99"] / 1000, r["errors"]))
PY
    FILES+=("$file")
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

TITLE="redis-server vs twemproxy vs hotcache, $SECS s per cell, $(date -u +%Y-%m-%d)"
"$BENCH" compare "${FILES[@]}" --svg "$OUT/compare.svg" --report "$OUT/compare.html" --title "$TITLE" 2>/dev/null

CMD="scripts/bench-report.sh $SECS $OUT${HC_FLAGS[*]:+ ${HC_FLAGS[*]}}"
python3 - "$CMD" "$SECS" "$LOAD_BEFORE" "$LOAD_AFTER" "${HC_FLAGS[*]:-}" "${FILES[@]}" >"$OUT/summary.md" <<'PY'
import json, os, subprocess, sys
cmd, secs, load_before, load_after, hc_flags, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6:]
TARGETS = ("redis-server", "twemproxy", "hotcache")
runs = {}
for f in files:
    base = os.path.basename(f)[:-len(".json")]
    target = next(t for t in TARGETS if base.endswith("-" + t))
    runs[(base[:-len(target) - 1], target)] = json.load(open(f))
def ver(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True)
        return (p.stdout + p.stderr).strip().splitlines()[0]
    except Exception:
        return "?"
redis = " ".join(w for w in ver(["redis-server", "--version"]).split() if w.startswith("v=")) or "?"
print(f"# Benchmark run: redis-server vs twemproxy vs hotcache\n")
print(f"`{cmd}`")
print(f"\n{os.cpu_count()} cores, redis-server {redis[2:]}, {ver(['nutcracker', '--version'])}, hotcache flags: `{hc_flags or '(defaults)'}`.")
print(f"Load average (1, 5, 15 min) before: {load_before}, after: {load_after}. 50 connections, 64-byte values, {secs} s per cell, one round.\n")
print("| workload | target | ops/s | p50 ms | p99 ms | p99.9 ms | errors | cache hit ratio |")
print("|---|---|---|---|---|---|---|---|")
cases = []
for (case, _) in runs:
    if case not in cases: cases.append(case)
for case in cases:
    for target in TARGETS:
        d = runs.get((case, target))
        if not d: continue
        r, lat = d["results"], d["results"]["latency_us"]
        s = (d.get("server") or {}).get("samples") or []
        hit = "n/a"
        if len(s) >= 2:
            h = s[-1]["cache_hits"] - s[0]["cache_hits"]; m = s[-1]["cache_misses"] - s[0]["cache_misses"]
            if h + m: hit = f"{h / (h + m) * 100:.1f}%"
        print(f"| {case} | {target} | {r['ops_per_sec']:,.0f} | {lat['p50']/1000:.2f} | {lat['p99']/1000:.2f} | {lat['p99_9']/1000:.2f} | {r['errors']} | {hit} |")
PY
echo "wrote $OUT/compare.svg $OUT/compare.html $OUT/hotcache-zipf.svg $OUT/summary.md $OUT/runs/"
