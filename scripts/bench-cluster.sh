#!/usr/bin/env bash
# Offload of the hottest cluster node: Zipf-skewed reads through hotcache in
# front of a local 3-master Redis Cluster, first with the cache off (each GET
# reaches its node, as from a cluster-aware client), then with it on (the
# default, cache-mode hot). Reports GETs per second on every master, from INFO
# commandstats, and hotcache's hit ratio over the same run.
#
# Usage: scripts/bench-cluster.sh [seconds] [zipf-s] [extra hotcache flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
S=${2:-0.99}
shift $(( $# > 2 ? 2 : $# )) || true
HC_FLAGS=("$@")
KEYS=100000
cargo build --release -q --bins
BENCH=target/release/hotcache-bench
WORK=$(mktemp -d)
free_port() {
  # A port whose cluster bus port (+10000) is free too.
  python3 - <<'PY'
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]
    if p + 10000 > 65535: continue
    t = socket.socket()
    try:
        t.bind(("127.0.0.1", p + 10000)); print(p); break
    except OSError:
        pass
    finally:
        t.close(); s.close()
PY
}
PIDS=()
cleanup() { kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
PORTS=()
for i in 0 1 2 3 4 5; do
  p=$(free_port); PORTS+=("$p"); mkdir -p "$WORK/$p"
  redis-server --port "$p" --cluster-enabled yes --cluster-config-file "$WORK/$p/nodes.conf" \
    --cluster-node-timeout 2000 --save '' --appendonly no --dir "$WORK/$p" >"$WORK/$p/log" 2>&1 &
  PIDS+=($!)
done
for p in "${PORTS[@]}"; do
  for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
done
redis-cli --cluster create $(printf '127.0.0.1:%s ' "${PORTS[@]}") --cluster-replicas 1 --cluster-yes >"$WORK/create.log"
for _ in $(seq 200); do
  ok=0
  for p in "${PORTS[@]}"; do redis-cli -p "$p" cluster info | grep -q cluster_state:ok && ok=$((ok+1)); done
  [ "$ok" = 6 ] && break; sleep 0.1
done
SEEDS="redis://127.0.0.1:${PORTS[0]}"
# Masters are the nodes that serve slots (a slot range from field 9 on).
for _ in $(seq 100); do
  MASTERS=$(redis-cli -p "${PORTS[0]}" cluster nodes | awk '$3 ~ /master/ && NF >= 9 {split($2,a,"@"); split(a[1],b,":"); print b[2]}' | sort -n)
  [ "$(echo "$MASTERS" | wc -l)" = 3 ] && break; sleep 0.1
done
HOT=$(redis-cli -p "${PORTS[0]}" cluster nodes | awk -v s="$(redis-cli -p "${PORTS[0]}" cluster keyslot key:0)" \
  '$3 ~ /master/ && NF >= 9 { for (i = 9; i <= NF; i++) { split($i, r, "-"); if (r[2] == "") r[2] = r[1]; if (s >= r[1] && s <= r[2]) { split($2,a,"@"); split(a[1],b,":"); print b[2] } } }')
HPORT=$(free_port)

gets() { redis-cli -p "$1" info commandstats | tr -d '\r' | sed -n 's/^cmdstat_get:calls=\([0-9]*\),.*/\1/p'; }
all_gets() { for m in $MASTERS; do printf '%s=%s;' "$m" "$(gets "$m" || echo 0)"; done; }
hc() { redis-cli -p "$HPORT" info hotcache | tr -d '\r' | sed -n "s/^$1:\([0-9]*\)$/\1/p"; }

run() {  # run LABEL hotcache-flags...
  local label=$1; shift
  target/release/hotcache --port "$HPORT" --cluster "$SEEDS" "$@" "${HC_FLAGS[@]}" 2>"$WORK/hc.log" &
  local hpid=$!
  for _ in $(seq 100); do redis-cli -p "$HPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
  "$BENCH" -p "$HPORT" -c 50 --keys "$KEYS" --dist zipf --zipf-s "$S" --ratio 1:0 --duration 3 >/dev/null 2>&1
  local before hits0 miss0 out after
  before=$(all_gets); hits0=$(hc cache_hits); miss0=$(hc cache_misses)
  out=$("$BENCH" -p "$HPORT" -c 50 --keys "$KEYS" --dist zipf --zipf-s "$S" --ratio 1:0 --duration "$SECS" --json 2>/dev/null)
  after=$(all_gets)
  echo "$label|$before|$after|$(( $(hc cache_hits) - hits0 ))|$(( $(hc cache_misses) - miss0 ))|$out" >>"$WORK/runs"
  kill "$hpid"; wait "$hpid" 2>/dev/null || true
}

target/release/hotcache --port "$HPORT" --cluster "$SEEDS" 2>"$WORK/preload.log" &
P=$!
for _ in $(seq 100); do redis-cli -p "$HPORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$BENCH" -p "$HPORT" --keys "$KEYS" --preload --requests 1 --ratio 1:0 >/dev/null 2>&1
kill "$P"; wait "$P" 2>/dev/null || true

run off --cache-mode off
run hot
python3 - "$WORK/runs" "$SECS" "$HOT" "$S" <<'PY'
import json, sys
runs = {}
for line in open(sys.argv[1]):
    label, before, after, hits, misses, out = line.rstrip("\n").split("|", 5)
    b = dict(x.split("=") for x in before.split(";") if x)
    a = dict(x.split("=") for x in after.split(";") if x)
    runs[label] = ({p: (int(a[p] or 0) - int(b[p] or 0)) / float(sys.argv[2]) for p in a},
                   int(hits), int(misses), json.loads(out)["results"]["ops_per_sec"])
secs, hot, s = sys.argv[2], sys.argv[3], sys.argv[4]
off, hot_run = runs["off"], runs["hot"]
ratio = hot_run[1] / max(1, hot_run[1] + hot_run[2])
print(f"zipf s={s}, {secs} s per run, 50 connections, hottest key key:0 on the master at port {hot}")
print(f"hotcache hit ratio (cache on): {ratio*100:.1f}%; client GET/s: cache off {off[3]:,.0f}, cache on {hot_run[3]:,.0f}")
print()
print("| master | GET/s at the node, cache off | GET/s at the node, cache on | removed | removed share of the offered load |")
print("|---|---|---|---|---|")
for p in sorted(off[0], key=int):
    o, h = off[0][p], hot_run[0][p]
    # The node's offered read load under the cache-on run: what it would have
    # received without the cache, scaled by that run's client throughput.
    offered = o * hot_run[3] / max(1.0, off[3])
    removed = 1 - h / offered if offered else 0
    mark = " (hottest)" if p == hot else ""
    print(f"| {p}{mark} | {o:,.0f} | {h:,.0f} | {o - h:,.0f} | {removed*100:.1f}% |")
PY
