#!/usr/bin/env bash
# A local Redis Cluster (3 masters + 3 replicas) from the installed
# redis-server, and hotcache in front of it, in one command. Ctrl-C stops
# hotcache and the cluster.
#
#   scripts/try-cluster.sh                   # cluster on 7000-7005, hotcache on 6380
#   scripts/try-cluster.sh --base-port 7100  # cluster on 7100-7105
#   scripts/try-cluster.sh --no-hotcache     # only the cluster; Ctrl-C stops it
#   scripts/try-cluster.sh -- --threads 2    # arguments after -- go to hotcache
#   HOTCACHE_BIN=target/debug/hotcache scripts/try-cluster.sh   # another binary
#
# Data and logs go to ./cluster-data/<port>/ (override with --dir), removed at
# the end unless --keep. Each node's cluster bus is its port + 10000.
set -euo pipefail
cd "$(dirname "$0")/.."

base=7000
dir=./cluster-data
hotcache=yes
keep=no
hotcache_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --base-port) base="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --no-hotcache) hotcache=no; shift ;;
        --keep) keep=yes; shift ;;
        --) shift; hotcache_args=("$@"); break ;;
        -h|--help) sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

for tool in redis-server redis-cli; do
    command -v "$tool" >/dev/null || {
        echo "$tool not found: apt-get install redis-server redis-tools" >&2
        exit 1
    }
done

ports=()
for i in 0 1 2 3 4 5; do ports+=($((base + i))); done
for p in "${ports[@]}"; do
    if redis-cli -p "$p" ping >/dev/null 2>&1; then
        echo "port $p is already in use; pick another --base-port" >&2
        exit 1
    fi
done

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
pids=()
hotcache_pid=

stop() {
    trap - EXIT INT TERM
    if [ -n "$hotcache_pid" ]; then
        kill "$hotcache_pid" 2>/dev/null || true
        wait "$hotcache_pid" 2>/dev/null || true
    fi
    echo "== stopping the cluster"
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$keep" = no ]; then
        for p in "${ports[@]}"; do rm -rf "${dir:?}/$p"; done
        rm -f "$dir/create.log"
        rmdir "$dir" 2>/dev/null || true
    else
        echo "== data and logs kept in $dir"
    fi
}
trap stop EXIT
trap 'exit 130' INT TERM

echo "== starting 6 redis-server on ${ports[0]}-${ports[5]} (data in $dir)"
for p in "${ports[@]}"; do
    rm -rf "${dir:?}/$p"
    mkdir -p "$dir/$p"
    redis-server --port "$p" --bind 127.0.0.1 --daemonize no \
        --cluster-enabled yes --cluster-config-file "$dir/$p/nodes.conf" \
        --cluster-node-timeout 5000 --appendonly no --save '' \
        --repl-diskless-sync-delay 0 \
        --dir "$dir/$p" --logfile "$dir/$p/redis.log" &
    pids+=($!)
done

# Polls `check` (a command) every 0.1 s for up to $1 seconds.
wait_for() {
    local secs=$1; shift
    local deadline=$((SECONDS + secs))
    until "$@"; do
        if [ "$SECONDS" -ge "$deadline" ]; then return 1; fi
        sleep 0.1
    done
}
all_answer() {
    for p in "${ports[@]}"; do redis-cli -p "$p" ping >/dev/null 2>&1 || return 1; done
}
all_ok() {
    local first=
    for p in "${ports[@]}"; do
        redis-cli -p "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
        local slots
        # Replicas show in CLUSTER SLOTS only once they have data: compare masters.
        slots=$(redis-cli -p "$p" cluster nodes | awk '$3 ~ /master/ {print $1, $9, $10, $11}' | sort)
        if [ -z "$first" ]; then first=$slots; elif [ "$slots" != "$first" ]; then return 1; fi
    done
}
wait_for 20 all_answer || { echo "the nodes did not start; see $dir/*/redis.log" >&2; exit 1; }

echo "== creating the cluster"
addrs=()
for p in "${ports[@]}"; do addrs+=("127.0.0.1:$p"); done
redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log" 2>&1 || {
    cat "$dir/create.log" >&2
    exit 1
}
wait_for 30 all_ok || { echo "the cluster did not become ok; see $dir/*/redis.log" >&2; exit 1; }
redis-cli -p "${ports[0]}" cluster nodes | sort -k2 | awk '{printf "   %s %-8s %s\n", $2, ($3 ~ /master/ ? "master" : "replica"), $9}'
seeds="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
echo "== cluster ok: redis-cli -c -p ${ports[0]}"

if [ "$hotcache" = no ]; then
    echo "== Ctrl-C stops the cluster"
    wait "${pids[@]}"
    exit 0
fi

bin=${HOTCACHE_BIN:-target/release/hotcache}
if [ -z "${HOTCACHE_BIN:-}" ] && { [ ! -x "$bin" ] \
    || [ -n "$(find src Cargo.toml Cargo.lock -newer "$bin" -print -quit)" ]; }; then
    echo "== building hotcache (cargo build --release)"
    cargo build --release --bin hotcache
fi
echo "== hotcache --cluster redis://$seeds ${hotcache_args[*]:-}"
echo "   (redis-cli -p 6380 unless you gave --port; Ctrl-C stops hotcache and the cluster)"
"$bin" --cluster "redis://$seeds" "${hotcache_args[@]}" &
hotcache_pid=$!
wait "$hotcache_pid"
