#!/usr/bin/env bash
# CPU per request, in one run: redis-server direct, twemproxy (nutcracker) in
# front of it, hotcache at its defaults and hotcache with `--cache-mode off`
# (plain forwarding), all in front of the same redis-server.
#
# Per workload and pipeline depth (1, 16), for each target: requests/s, the CPU
# microseconds per request of the target process and of redis-server behind it,
# and for hotcache the offload (share of GETs that never reached Redis). CPU is
# the sum of the first field of /proc/PID/task/*/schedstat (ns on CPU), read
# before and after each load, divided by the requests of that load.
#
# Workloads (all GETs, 50 clients, 64-byte values):
#   hit   redis-benchmark GET -r 100, after a warm-up through hotcache
#   cold  redis-benchmark GET -r 100000 (uniform, nothing hot)
#   zipf  hotcache-bench --dist zipf --zipf-s 0.99 over 100k keys (5 s warm-up
#         through hotcache in the first round)
#
# Rounds are interleaved (every target in every round) so a noisy neighbour
# hurts all alike; the summary gives each ratio's median and its min-max over
# the rounds.
#
# Usage: scripts/bench-cpu.sh [rounds] [extra hotcache flags...]
# Environment: N1 / N16 requests per load at pipeline 1 / 16 (200000 / 1600000),
# WORKLOADS (hit cold zipf), TARGETS (redis twemproxy hotcache hotcache-off),
# HOTCACHE=path for another hotcache binary (a build of an older commit).
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
shift $(( $# > 1 ? 1 : $# )) || true
HC_FLAGS=("$@")
N1=${N1:-200000}
N16=${N16:-1600000}
WORKLOADS=${WORKLOADS:-hit cold zipf}
TARGETS=${TARGETS:-redis twemproxy hotcache hotcache-off}

source scripts/lib.sh
HOTCACHE=${HOTCACHE:-target/release/hotcache}
start_hotcache() { # as lib.sh's, with $HOTCACHE
  local port=$1 rport=$2
  shift 2
  "$HOTCACHE" --port "$port" --upstream "redis://127.0.0.1:$rport" "$@" 2>"$WORK/hotcache-$port.log" &
  HPID=$!
  PIDS+=($HPID)
}
need_nutcracker
RPORT=$(free_port); NPORT=$(free_port); NSTATS=$(free_port)
HPORT=$(free_port); OPORT=$(free_port)
start_redis "$RPORT"; RPID=${PIDS[-1]}
start_nutcracker "$NPORT" "$NSTATS" "$RPORT"; NPID=${PIDS[-1]}
start_hotcache "$HPORT" "$RPORT" "${HC_FLAGS[@]}"; HCPID=$HPID
start_hotcache "$OPORT" "$RPORT" --cache-mode off "${HC_FLAGS[@]}"; OFFPID=$HPID
wait_ping "$RPORT" "$NPORT" "$HPORT" "$OPORT"

# The keys: redis-benchmark's key:000000000000.. and the load tool's key:0..
redis-benchmark -p "$RPORT" -t set -r 100000 -n 1000000 -d 64 -P 16 -q >/dev/null
"$BENCH" -p "$RPORT" --keys 100000 --preload --requests 1 --ratio 1:0 >/dev/null 2>&1

cpu_ns() { # PID -> ns on CPU of all its threads
  cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{s += $1} END {printf "%.0f\n", s}'
}
redis_gets() {
  redis-cli -p "$RPORT" info commandstats | tr -d '\r' \
    | sed -n 's/^cmdstat_get:calls=\([0-9]*\),.*/\1/p' | grep . || echo 0
}
port_of() { case $1 in redis) echo "$RPORT";; twemproxy) echo "$NPORT";; hotcache) echo "$HPORT";; hotcache-off) echo "$OPORT";; esac; }
pid_of() { case $1 in redis) echo "$RPID";; twemproxy) echo "$NPID";; hotcache) echo "$HCPID";; hotcache-off) echo "$OFFPID";; esac; }

# load WORKLOAD PORT PIPELINE N -> "requests req_per_s"
load() {
  case $1 in
    hit|cold)
      local r=100; [ "$1" = cold ] && r=100000
      redis-benchmark -p "$2" -c 50 -P "$3" -t get -d 64 -r "$r" -n "$4" --csv 2>/dev/null \
        | python3 -c "import csv,sys; r=list(csv.reader(sys.stdin))[-1]; print($4, r[1])" ;;
    zipf)
      "$BENCH" -p "$2" -c 50 -P "$3" --keys 100000 --dist zipf --zipf-s 0.99 --ratio 1:0 \
        --requests "$4" --json 2>/dev/null \
        | python3 -c "import json,sys; d=json.load(sys.stdin)['results']; print(d['ops'], d['ops_per_sec'])" ;;
  esac
}

warm() { # WORKLOAD: lets hotcache's detector and cache settle
  case $1 in
    hit) redis-benchmark -p "$HPORT" -c 50 -t get -d 64 -r 100 -n 100000 -q >/dev/null 2>&1 ;;
    zipf) "$BENCH" -p "$HPORT" -c 50 --keys 100000 --dist zipf --zipf-s 0.99 --ratio 1:0 \
            --duration 5 >/dev/null 2>&1 ;;
    cold) ;;
  esac
}

for round in $(seq "$ROUNDS"); do
  for w in $WORKLOADS; do
    # The hit keys every round (cheap; entries may have reached cache-ttl),
    # the Zipf curve once.
    if [ "$w" = hit ] || [ "$round" = 1 ]; then warm "$w"; fi
    for pipe in 1 16; do
      n=$N1; [ "$pipe" = 16 ] && n=$N16
      for t in $TARGETS; do
        pid=$(pid_of "$t")
        g0=$(redis_gets); c0=$(cpu_ns "$pid"); r0=$(cpu_ns "$RPID")
        out=$(load "$w" "$(port_of "$t")" "$pipe" "$n")
        c1=$(cpu_ns "$pid"); r1=$(cpu_ns "$RPID"); g1=$(redis_gets)
        echo "$round $w $pipe $t $out $((c1 - c0)) $((r1 - r0)) $((g1 - g0))"
      done
    done
  done
done | tee "$WORK/results.txt" >&2

python3 - "$WORK/results.txt" <<'PY'
import sys, statistics, collections
rows = {}
for line in open(sys.argv[1]):
    rnd, w, p, t, n, rps, cpu, rcpu, gets = line.split()
    n = int(n)
    rows[(int(rnd), w, int(p), t)] = dict(
        rps=float(rps), us=int(cpu) / n / 1000, rus=int(rcpu) / n / 1000,
        offload=1 - int(gets) / n)
rounds = sorted({k[0] for k in rows})
cells = sorted({(k[1], k[2]) for k in rows}, key=lambda c: (["hit", "cold", "zipf"].index(c[0]), c[1]))
targets = [t for t in ["redis", "twemproxy", "hotcache", "hotcache-off"] if any(k[3] == t for k in rows)]
def med(xs): return statistics.median(xs)
def spread(xs): return f"{med(xs):.2f} ({min(xs):.2f}-{max(xs):.2f})"
print("Medians over", len(rounds), "rounds; CPU in us per request (target / redis-server behind it).\n")
print("| workload | P | target | req/s | CPU us/req target | CPU us/req redis | offload |")
print("|---|---|---|---|---|---|---|")
for w, p in cells:
    for t in targets:
        xs = [rows[(r, w, p, t)] for r in rounds if (r, w, p, t) in rows]
        if not xs: continue
        off = f"{med([x['offload'] for x in xs])*100:.1f}%" if t.startswith("hotcache") else "-"
        rus = "-" if t == "redis" else f"{med([x['rus'] for x in xs]):.2f}"
        print(f"| {w} | {p} | {t} | {med([x['rps'] for x in xs]):,.0f} | {med([x['us'] for x in xs]):.2f} | {rus} | {off} |")
print("\nRatios of CPU per request, per round: median (min-max).\n")
print("| workload | P | hotcache / redis-server direct | hotcache / twemproxy | hotcache-off / twemproxy |")
print("|---|---|---|---|---|")
for w, p in cells:
    def ratio(a, b):
        xs = [rows[(r, w, p, a)]["us"] / rows[(r, w, p, b)]["us"] for r in rounds
              if (r, w, p, a) in rows and (r, w, p, b) in rows]
        return spread(xs) if xs else "-"
    print(f"| {w} | {p} | {ratio('hotcache', 'redis')} | {ratio('hotcache', 'twemproxy')} | {ratio('hotcache-off', 'twemproxy')} |")
PY
