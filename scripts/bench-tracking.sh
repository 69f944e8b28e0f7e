#!/usr/bin/env bash
# Client-side caching at scale (issue 15): CLIENTS tracking clients
# (`hotcache-bench --tracking`: RESP3, CLIENT TRACKING ON default mode, a local
# cache dropped by `invalidate` pushes) reading a Zipf keyspace with 1% writes,
# against hotcache (in front of a redis-server) and against a redis-server
# directly, RUNS times each, alternating. Per run: the server's CPU per request
# (schedstat of every thread, before/after the whole client process, divided by
# every request the client sent, connection setup and warmup included),
# Redis's connections (sampled mid-run) and the commands it processed, and
# the fan-out time of the invalidations.
#
# Usage: scripts/bench-tracking.sh [runs] [seconds] [ops/s] [clients] [client threads]
#   (HC_FLAGS="--threads 1": more hotcache flags; KEYS=N: the key space, 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-3}
SECS=${2:-20}
RATE=${3:-10000}
CLIENTS=${4:-1000}
CTHREADS=${5:-1}
WARMUP=5
KEYS=${KEYS:-10000}
# One descriptor per client in the client, in hotcache and in redis-server.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((CLIENTS + 200)) ]; then
  echo "ulimit -n is $(ulimit -n): too low for $CLIENTS clients" >&2
  exit 1
fi
source scripts/lib.sh

# Time runnable but waiting for a CPU (schedstat's second field), all threads.
wait_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s+=$2} END {printf "%.0f\n", s}'; }
rinfo() { redis-cli -p "$1" info "$2" | tr -d '\r' | sed -n "s/^$3:\([0-9]*\)$/\1/p"; }
wait_tracking_up() {
  for _ in $(seq 100); do
    redis-cli -p "$1" info hotcache 2>/dev/null | grep -q '^cache_tracking:up' && return
    sleep 0.1
  done
  echo "hotcache's tracking stream did not come up" >&2
  exit 1
}

# run_one TARGET: prints one JSON line (the bench's result plus the server's figures).
run_one() {
  local target=$1 rport hport port rpid
  rport=$(free_port)
  start_redis "$rport"
  rpid=${PIDS[-1]}
  wait_ping "$rport"
  "$BENCH" -p "$rport" --keys "$KEYS" --preload --requests 1 --ratio 1:0 >/dev/null 2>&1
  port=$rport
  HPID=0
  if [ "$target" = hotcache ]; then
    hport=$(free_port)
    # A long tracking timeout: on a loaded machine a missed PONG would drop
    # hotcache's tracking stream (a null invalidation to every client, and
    # clients turning tracking on meanwhile go to Redis on connections of
    # their own: checked below).
    # shellcheck disable=SC2086 # HC_FLAGS is a list of flags.
    start_hotcache "$hport" "$rport" --cache-tracking-timeout 30000 ${HC_FLAGS:-}
    wait_ping "$hport"
    wait_tracking_up "$hport"
    port=$hport
  fi
  local conns_before cmds_before rcpu_before hcpu_before=0 conns_mid
  conns_before=$(rinfo "$rport" clients connected_clients)
  cmds_before=$(rinfo "$rport" stats total_commands_processed)
  rcpu_before=$(cpu_ns "$rpid")
  [ "$HPID" != 0 ] && hcpu_before=$(cpu_ns "$HPID")
  local spid=$rpid
  [ "$HPID" != 0 ] && spid=$HPID
  local swait_before
  swait_before=$(wait_ns "$spid")
  ( sleep $((WARMUP + SECS / 2)); rinfo "$rport" clients connected_clients >"$WORK/mid" ) &
  local sampler=$!
  "$BENCH" --tracking -p "$port" -c "$CLIENTS" --threads "$CTHREADS" --rate "$RATE" \
    --dist zipf --keys "$KEYS" --ratio 99:1 --warmup "$WARMUP" --duration "$SECS" \
    --label "$target" --json >"$WORK/out.json" &
  local bpid=$! bwait=0
  # The client's own wait for a CPU, read just before it exits.
  while kill -0 "$bpid" 2>/dev/null; do
    bwait=$(wait_ns "$bpid" || echo "$bwait")
    [ -z "$bwait" ] && bwait=0
    sleep 0.5
  done
  wait "$bpid"
  local swait=$(( $(wait_ns "$spid") - swait_before ))
  local rcpu hcpu=0 cmds
  rcpu=$(( $(cpu_ns "$rpid") - rcpu_before ))
  [ "$HPID" != 0 ] && hcpu=$(( $(cpu_ns "$HPID") - hcpu_before ))
  wait "$sampler" || true
  if [ "$HPID" != 0 ] && [ "$(rinfo "$hport" hotcache dedicated_connections_taken)" != 0 ]; then
    echo "hotcache moved tracking clients to connections of their own: run void" >&2
    exit 1
  fi
  conns_mid=$(cat "$WORK/mid")
  # The two INFO calls of this script are commands too: not counted.
  cmds=$(( $(rinfo "$rport" stats total_commands_processed) - cmds_before - 2 ))
  python3 - "$WORK/out.json" "$target" "$rcpu" "$hcpu" "$cmds" "$conns_before" "$conns_mid" "$swait" "$bwait" <<'PY'
import json, sys
out = json.load(open(sys.argv[1]))
target, rcpu, hcpu, cmds, before, mid = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
sent = out["sent_total"]
out["server"] = {
    "target": target,
    "cpu_ns_per_request": (hcpu if target == "hotcache" else rcpu) / sent,
    "redis_cpu_ns_per_request": rcpu / sent,
    # Connections to redis-server during the run, less those before (the
    # hotcache's own, or none), the sampling redis-cli not counted.
    "upstream_connections": mid - 1,
    "upstream_connections_added": mid - before,
    "upstream_commands": cmds,
    "upstream_commands_per_client_request": cmds / sent,
    # The machine is shared: its 1-minute load average at the end of the run.
    "load": open("/proc/loadavg").read().split()[0],
    # Waiting for a CPU while runnable, ms summed over threads: the server's
    # over the run, the client's from its start.
    "server_wait_ms": int(sys.argv[8]) / 1e6,
    "client_wait_ms": int(sys.argv[9]) / 1e6,
}
print(json.dumps(out))
PY
  if [ "$HPID" != 0 ]; then kill "$HPID"; wait "$HPID" 2>/dev/null || true; fi
  kill "$rpid"; wait "$rpid" 2>/dev/null || true
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
: >"$WORK/all.jsonl"
for run in $(seq "$RUNS"); do
  for target in hotcache redis; do
    echo "== run $run: $CLIENTS tracking clients -> $target" >&2
    run_one "$target" >>"$WORK/all.jsonl"
  done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
python3 - "$WORK/all.jsonl" "$CLIENTS" "$RATE" "$SECS" "$KEYS" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
clients, rate, secs, keys = sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
keys = f"{keys:,}"
print(f"{clients} tracking clients (RESP3, default mode), Zipf 0.99 over {keys} keys, 99% GET / 1% SET, {rate} ops/s offered, {secs} s measured")
print()
print("| target | run | requests/s | local hits | CPU/request (ns) | Redis CPU/request (ns) | Redis connections | Redis commands / client request | fan-out from SET reply p50 / p99 / max (ms) | from SET sent p50 / p99 / max (ms) | request latency p50 / p99 (ms) | pushes (null) | errors | load avg | CPU wait server / client (s) |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for i, r in enumerate(rows):
    s, f = r["server"], r["fan_out"]
    print(f"| {s['target']} | {i // 2 + 1} | {r['requests_per_sec']:,.0f} | {r['local_hit_ratio']*100:.1f}% | {s['cpu_ns_per_request']:,.0f} | "
          f"{s['redis_cpu_ns_per_request']:,.0f} | {s['upstream_connections']} | {s['upstream_commands_per_client_request']:.3f} | "
          f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f} / {f['max_ms']:.2f} | {f['from_send_p50_ms']:.2f} / {f['from_send_p99_ms']:.2f} / {f['from_send_max_ms']:.2f} | "
          f"{r['latency_ms']['p50']:.2f} / {r['latency_ms']['p99']:.2f} | {r['pushes']:,} ({r['null_pushes']}) | {r['errors'] + len(r['connection_failures'])} | {s['load']} | {s['server_wait_ms']/1000:.1f} / {s['client_wait_ms']/1000:.1f} |")
print()
def spread(target, key):
    v = sorted(r["server"][key] for r in rows if r["server"]["target"] == target)
    return v
h = spread("hotcache", "cpu_ns_per_request")
d = spread("redis", "cpu_ns_per_request")
if h and d:
    print(f"hotcache CPU/request: median {h[len(h)//2]:,.0f} ns (spread {h[0]:,.0f}-{h[-1]:,.0f}); "
          f"redis-server direct: median {d[len(d)//2]:,.0f} ns (spread {d[0]:,.0f}-{d[-1]:,.0f}); "
          f"ratio {h[len(h)//2]/d[len(d)//2]:.2f}")
PY
