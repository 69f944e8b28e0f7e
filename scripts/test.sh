#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what the tests need
# (redis-server, redis-tools, tcl, openssl and chromium from the distribution,
# redis-py from PyPI), checks formatting and lints, then runs every unit and
# integration test, and Redis's own test suite through hotcache.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null \
    || ! command -v redis-benchmark >/dev/null; then
    echo "== installing redis-server and redis-tools"
    as_root apt-get install -y -q redis-server redis-tools >/dev/null 2>&1 || {
        as_root apt-get update -q >/dev/null
        as_root apt-get install -y -q redis-server redis-tools >/dev/null
    }
fi
if ! command -v tclsh >/dev/null; then
    # Redis's own test suite (scripts/redis-suite.sh) is Tcl.
    echo "== installing tcl"
    as_root apt-get install -y -q tcl >/dev/null 2>&1 || {
        as_root apt-get update -q >/dev/null
        as_root apt-get install -y -q tcl >/dev/null
    }
fi
if ! command -v openssl >/dev/null; then
    # The TLS tests make their certificates with the openssl CLI.
    echo "== installing openssl"
    as_root apt-get install -y -q openssl >/dev/null 2>&1 || {
        as_root apt-get update -q >/dev/null
        as_root apt-get install -y -q openssl >/dev/null
    }
fi
if ! python3 -c 'import redis' 2>/dev/null; then
    echo "== installing redis-py"
    python3 -m pip install -q redis
fi
if ! command -v chromium >/dev/null; then
    # The dashboard test renders the page in headless Chromium.
    echo "== installing chromium"
    as_root apt-get install -y -q chromium >/dev/null 2>&1 || {
        as_root apt-get update -q >/dev/null
        as_root apt-get install -y -q chromium >/dev/null
    }
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    # node-redis's client-side caching is tried through hotcache.
    echo "== installing nodejs and npm"
    as_root apt-get install -y -q nodejs npm >/dev/null 2>&1 || {
        as_root apt-get update -q >/dev/null
        as_root apt-get install -y -q nodejs npm >/dev/null
    }
fi
if [ ! -d target/node/node_modules/redis ]; then
    echo "== installing node-redis 5"
    mkdir -p target/node
    npm install -q --no-audit --no-fund --prefix target/node redis@5 >/dev/null
fi
echo "== $(redis-server --version | cut -d' ' -f1-3), $(python3 -c 'import redis; print("redis-py", redis.__version__)'), $(chromium --version 2>/dev/null)"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
# Integration tests mostly wait on sockets and child processes: run more of them
# at once than there are cores. Each one uses its own free ports.
cargo test --lib --bins --tests -- --test-threads "${TEST_THREADS:-6}"
echo "== benches (each run once, as a test)"
cargo test --benches
echo "== Redis's own test suite through hotcache (scripts/redis-suite.sh, TIER=2)"
TIER=2 ./scripts/redis-suite.sh
echo "== all tests passed"
