#!/usr/bin/env bash
# What CLIENT TRACKING costs in memory (issue 15): CLIENTS clients (RESP3)
# each reading KEYS_EACH keys, once with CLIENT TRACKING ON and once without
# (the connections' own cost), against hotcache and against redis-server
# directly, for two layouts: every client its own keys ("distinct": CLIENTS x
# KEYS_EACH keys in the table) and every client the same keys ("shared":
# KEYS_EACH keys, CLIENTS x KEYS_EACH (key, client) pairs). hotcache: its RSS
# growth and its own estimate (`client_tracking_memory`, INFO hotcache);
# Redis: its used_memory growth. tracking-table-max-keys is 0 (no limit) on
# both, so no key is evicted from the tables.
#
# Usage: scripts/bench-tracking-memory.sh [clients] [keys each]
set -euo pipefail
cd "$(dirname "$0")/.."
CLIENTS=${1:-10000}
KEYS_EACH=${2:-100}
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((CLIENTS + 500)) ]; then
  echo "ulimit -n is $(ulimit -n): too low for $CLIENTS clients" >&2
  exit 1
fi
source scripts/lib.sh
MAXCLIENTS=$(( $(ulimit -n) - 100 ))

rinfo() { redis-cli -p "$1" info "$2" | tr -d '\r' | sed -n "s/^$3:\([0-9]*\)$/\1/p"; }
rss_kb() { awk '/^VmRSS/ {print $2}' /proc/"$1"/status; }

# load PORT LAYOUT TRACKING: opens the clients, prints when all have read
# their keys, waits for a line on stdin, closes them. Run as a coprocess.
cat >"$WORK/clients.py" <<'PY'
import socket, sys
port, layout, tracking, clients, each = int(sys.argv[1]), sys.argv[2], sys.argv[3] == "1", int(sys.argv[4]), int(sys.argv[5])
def cmd(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out
marker = cmd("ECHO", "setup-done")
end = b"$10\r\nsetup-done\r\n"
socks = []
BATCH = 250
for first in range(0, clients, BATCH):
    batch = []
    for i in range(first, min(first + BATCH, clients)):
        s = socket.create_connection(("127.0.0.1", port))
        req = cmd("HELLO", 3)
        if tracking:
            req += cmd("CLIENT", "TRACKING", "ON")
        base = i * each if layout == "distinct" else 0
        req += b"".join(cmd("GET", f"key:{base + k}") for k in range(each))
        s.sendall(req + marker)
        batch.append(s)
    for s in batch:
        buf = b""
        # (A push may follow the last reply: look for it, not at the end.)
        while end not in buf:
            chunk = s.recv(1 << 16)
            if not chunk:
                sys.exit(f"server closed a connection ({len(socks)} open)")
            buf += chunk
        if b"\r\n-" in buf or buf.startswith(b"-") or b"$-1\r\n" in buf or b"\r\n_\r\n" in buf:
            sys.exit("an error or a missing key in: " + buf[:300].decode(errors="replace"))
    socks += batch
print("ready", flush=True)
sys.stdin.readline()
for s in socks:
    s.close()
PY

# measure TARGET LAYOUT TRACKING: one JSON line.
measure() {
  local target=$1 layout=$2 tracking=$3 rport port pid nkeys
  rport=$(free_port)
  redis-server --port "$rport" --save '' --appendonly no --maxclients "$MAXCLIENTS" \
    --tracking-table-max-keys 0 >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  pid=$!
  local rpid=$pid
  wait_ping "$rport"
  nkeys=$KEYS_EACH
  [ "$layout" = distinct ] && nkeys=$((CLIENTS * KEYS_EACH))
  "$BENCH" -p "$rport" --keys "$nkeys" --preload --requests 1 --ratio 1:0 -d 16 >/dev/null 2>&1
  port=$rport
  if [ "$target" = hotcache ]; then
    port=$(free_port)
    # A long tracking timeout: on a loaded machine a missed PONG would drop
    # hotcache's tracking stream, and clients that turn tracking on then go
    # to Redis on connections of their own (checked below).
    start_hotcache "$port" "$rport" --maxclients "$MAXCLIENTS" --tracking-table-max-keys 0 \
      --cache-tracking-timeout 30000
    pid=$HPID
    wait_ping "$port"
    for _ in $(seq 100); do
      redis-cli -p "$port" info hotcache | grep -q '^cache_tracking:up' && break
      sleep 0.1
    done
  fi
  local before_rss before_used before_est
  before_rss=$(rss_kb "$pid")
  before_used=$(rinfo "$port" memory used_memory)
  before_est=$(rinfo "$port" hotcache client_tracking_memory)
  coproc CLIENTS_PROC { python3 "$WORK/clients.py" "$port" "$layout" "$tracking" "$CLIENTS" "$KEYS_EACH"; }
  local ready
  read -r ready <&"${CLIENTS_PROC[0]}"
  [ "$ready" = ready ] || { echo "clients failed" >&2; exit 1; }
  local rss used est keys items conns dedicated
  # Redis resizes its clients' buffers in its cron (all of them within about
  # a second at hz 10): let that settle, so the figures are the tables'.
  sleep 3
  rss=$(rss_kb "$pid")
  used=$(rinfo "$port" memory used_memory)
  est=$(rinfo "$port" hotcache client_tracking_memory)
  keys=$(rinfo "$port" stats tracking_total_keys)
  items=$(rinfo "$port" stats tracking_total_items)
  # hotcache's own count is in its section (INFO clients is Redis's).
  conns=$(rinfo "$port" "$([ "$target" = hotcache ] && echo hotcache || echo clients)" connected_clients)
  dedicated=$(rinfo "$port" hotcache dedicated_connections_taken)
  if [ "${dedicated:-0}" != 0 ]; then
    echo "$target: $dedicated clients were moved to connections of their own: run void" >&2
    exit 1
  fi
  echo done >&"${CLIENTS_PROC[1]}"
  wait "$CLIENTS_PROC_PID" 2>/dev/null || true
  echo "{\"target\":\"$target\",\"layout\":\"$layout\",\"tracking\":$tracking,\"clients\":$conns,\
\"rss_growth\":$(( (rss - before_rss) * 1024 )),\"used_memory_growth\":$(( ${used:-0} - ${before_used:-0} )),\
\"estimate\":${est:-null},\"estimate_before\":${before_est:-null},\"keys\":${keys:-null},\"items\":${items:-null}}"
  if [ "$target" = hotcache ]; then kill "$HPID"; wait "$HPID" 2>/dev/null || true; fi
  kill "$rpid"; wait "$rpid" 2>/dev/null || true
}

: >"$WORK/mem.jsonl"
for layout in distinct shared; do
  for target in hotcache redis; do
    for tracking in 0 1; do
      echo "== $layout keys, $target, tracking $tracking" >&2
      measure "$target" "$layout" "$tracking" >>"$WORK/mem.jsonl"
      tail -1 "$WORK/mem.jsonl" >&2
    done
  done
done
python3 - "$WORK/mem.jsonl" "$CLIENTS" "$KEYS_EACH" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
clients, each = int(sys.argv[2]), int(sys.argv[3])
get = lambda t, l, tr: next(r for r in rows if r["target"] == t and r["layout"] == l and r["tracking"] == tr)
mb = lambda b: f"{b / 1e6:,.1f} MB"
print(f"{clients:,} RESP3 clients x {each} keys each (GET), tracking on vs off")
print()
print("| keys | tracking keys / items | hotcache estimate (client_tracking_memory) | hotcache RSS growth, tracking minus plain | per item | Redis used_memory growth, tracking minus plain | per item |")
print("|---|---|---|---|---|---|---|")
for layout in ("distinct", "shared"):
    ht, hp = get("hotcache", layout, 1), get("hotcache", layout, 0)
    rt, rp = get("redis", layout, 1), get("redis", layout, 0)
    items = clients * each
    h = ht["rss_growth"] - hp["rss_growth"]
    r = rt["used_memory_growth"] - rp["used_memory_growth"]
    est = ht["estimate"] - (ht["estimate_before"] or 0)
    print(f"| {layout} | {rt['keys']:,} / {rt['items']:,} (Redis) | {mb(est)} | {mb(h)} | {h / items:.0f} B | {mb(r)} | {r / items:.0f} B |")
print()
for r in rows:
    print(f"- {r['target']} {r['layout']} tracking={r['tracking']}: clients {r['clients']}, RSS +{mb(r['rss_growth'])}, used_memory +{mb(r['used_memory_growth'])}, estimate {r['estimate']}")
PY
