# Shared by the bench scripts: sourced, not run. Builds the release binaries,
# makes a work directory, and starts redis-server, nutcracker and hotcache on
# free ports; everything started is stopped (and the directory removed) on exit.
#
#   source scripts/lib.sh        # from the repository root
#   RPORT=$(free_port); start_redis "$RPORT"; wait_ping "$RPORT"

cargo build --release -q --bins
BENCH=target/release/hotcache-bench
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  if [ ${#PIDS[@]} -gt 0 ]; then kill "${PIDS[@]}" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs Debian's nutcracker (twemproxy) when missing.
need_nutcracker() {
  command -v nutcracker >/dev/null && return
  echo "== installing nutcracker (twemproxy)"
  as_root apt-get install -y -q nutcracker >/dev/null 2>&1 || {
    as_root apt-get update -q >/dev/null
    as_root apt-get install -y -q nutcracker >/dev/null
  }
}

# start_redis PORT: a redis-server without persistence.
start_redis() {
  redis-server --port "$1" --save '' --appendonly no --daemonize no >"$WORK/redis-$1.log" 2>&1 &
  PIDS+=($!)
}

# start_nutcracker PORT STATS_PORT REDIS_PORT: twemproxy in front of one redis-server.
start_nutcracker() {
  cat >"$WORK/nutcracker.yml" <<YML
bench:
  listen: 127.0.0.1:$1
  hash: fnv1a_64
  distribution: ketama
  redis: true
  auto_eject_hosts: false
  servers:
   - 127.0.0.1:$3:1
YML
  nutcracker -c "$WORK/nutcracker.yml" -s "$2" -o "$WORK/nutcracker.log" -p "$WORK/nut.pid" &
  PIDS+=($!)
}

# start_hotcache PORT REDIS_PORT [flags...]: sets HPID.
start_hotcache() {
  local port=$1 rport=$2
  shift 2
  target/release/hotcache --port "$port" --upstream "redis://127.0.0.1:$rport" "$@" 2>"$WORK/hotcache-$port.log" &
  HPID=$!
  PIDS+=($HPID)
}

# wait_ping PORT...: until each answers PING (5 s at most each).
wait_ping() {
  for p in "$@"; do
    for _ in $(seq 100); do redis-cli -p "$p" ping >/dev/null 2>&1 && break; sleep 0.05; done
  done
}

# CPU time of a process, all its threads, in nanoseconds (the first field of
# each thread's schedstat; printed as an integer however large).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'; }
