#!/usr/bin/env bash
# Real benchmark runs (docs/BENCHMARKS.md): each scenario against its own fresh release
# server on 127.0.0.1, with raised rate limits and `ulimit -n 20000`; JSON results into
# $OUT. Not part of the test suite (scripts/test.sh runs `nati-bench smoke` instead).
#
#   scripts/bench.sh                    # every scenario below, in order
#   scripts/bench.sh fanout history     # only these
#
# Scenarios: throughput throughput-normal latency-1k latency-5k latency-10k latency-full
#            latency-1k-r200 latency-5k-r200 latency-10k-r200 (any latency-<N>k[-r<RATE>])
#            idle-guest idle-admin fanout history
# Environment: OUT (default target/bench-results/<UTC time>), SECONDS_MEASURED (default 20),
#              HISTORY_MESSAGES (default 1000000), BUILD=0 to skip `cargo build --release`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
OUT="${OUT:-$ROOT/target/bench-results/$(date -u +%Y%m%dT%H%M%SZ)}"
D="${SECONDS_MEASURED:-20}"
HISTORY_MESSAGES="${HISTORY_MESSAGES:-1000000}"
mkdir -p "$OUT"

# The server needs one file per socket (and a few more): 19,000 idle sockets need
# `ulimit -n` of about 19,100; 20,000 is this machine's hard limit. nati-bench itself
# keeps at most --sockets-per-process (5,000) sockets per process.
ulimit -n 20000

if [ "${BUILD:-1}" != 0 ]; then
    cargo build --release -p nati-chat -p nati-bench --bin nati-chat --bin nati-bench
fi
SERVER="$ROOT/target/release/nati-chat"
BENCH="$ROOT/target/release/nati-bench"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/nati-bench.XXXXXX")"
SERVER_PID=""

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        if kill "$SERVER_PID" 2>/dev/null; then :; fi
        if wait "$SERVER_PID" 2>/dev/null; then :; fi
        SERVER_PID=""
    fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# start NAME [VAR=VALUE...]: a fresh server with the demo accounts; sets PORT, SERVER_PID.
start() {
    local name="$1"
    shift
    mkdir -p "$WORK/$name"
    env NATI_LOGIN_RATE_PER_MINUTE=1000000 NATI_GUEST_START_RATE_PER_MINUTE=1000000 RUST_LOG=warn "$@" \
        "$SERVER" serve --demo --bind 127.0.0.1:0 --data-dir "$WORK/$name" \
        </dev/null >"$WORK/$name.log" 2>&1 &
    SERVER_PID=$!
    PORT=""
    for _ in $(seq 150); do
        PORT="$(sed -nE 's/.*listening on http:\/\/127\.0\.0\.1:([0-9]+).*/\1/p' "$WORK/$name.log" | head -n1)"
        [ -n "$PORT" ] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/$name.log" >&2; exit 1; }
        sleep 0.2
    done
    [ -n "$PORT" ] || { cat "$WORK/$name.log" >&2; exit 1; }
    echo "== $name: server pid $SERVER_PID on port $PORT; load: $(cut -d' ' -f1-3 /proc/loadavg)"
}

bench() {
    local name="$1"
    shift
    "$BENCH" --url "http://127.0.0.1:$PORT" --server-pid "$SERVER_PID" --json "$OUT/$name.json" "$@" \
        | tee "$OUT/$name.txt"
}

run() {
    local s="$1"
    case "$s" in
    throughput)
        start "$s"
        bench "$s" throughput --customers 256 --staff 4 --duration "$D" --warmup 3 ;;
    throughput-normal)
        start "$s" NATI_SQLITE_SYNCHRONOUS_FULL=false
        bench "$s" throughput --customers 256 --staff 4 --duration "$D" --warmup 3 ;;
    latency-*k | latency-*k-r*)
        # latency-10k: 10,000 sockets at 2,000 msg/s; latency-10k-r200: at 200 msg/s.
        local n="${s#latency-}" rate=2000
        if [[ "$n" == *-r* ]]; then
            rate="${n#*-r}"
            n="${n%-r*}"
        fi
        n="${n%k}000"
        start "$s" NATI_SQLITE_SYNCHRONOUS_FULL=false
        bench "$s" latency --sockets "$n" --rate "$rate" --observers 2 --duration "$D" --warmup 3 ;;
    latency-full)
        start "$s"
        bench "$s" latency --sockets 1000 --rate 100 --observers 2 --duration "$D" --warmup 3 ;;
    idle-guest)
        start "$s" NATI_SQLITE_SYNCHRONOUS_FULL=false
        bench "$s" idle --sockets 19000 --role guest --hold 6 ;;
    idle-admin)
        start "$s"
        bench "$s" idle --sockets 19000 --role admin --hold 6 ;;
    fanout)
        start "$s"
        bench "$s" fanout --sockets 2000 --admin-accounts 10 --rounds 200 --interval-ms 50 ;;
    history)
        mkdir -p "$WORK/$s"
        "$SERVER" --data-dir "$WORK/$s" bench-seed --messages "$HISTORY_MESSAGES" --chats 100
        start "$s"
        bench "$s" history --concurrency 16 --duration "$D" --warmup 2 ;;
    *)
        echo "unknown scenario $s" >&2
        exit 2 ;;
    esac
    stop_server
}

if [ "$#" -eq 0 ]; then
    set -- throughput throughput-normal latency-1k latency-5k latency-10k \
        latency-1k-r200 latency-5k-r200 latency-10k-r200 latency-full \
        idle-guest idle-admin fanout history
fi
{
    echo "nproc: $(nproc)"
    grep -m1 'model name' /proc/cpuinfo
    free -h
    echo "uptime: $(uptime)"
} >"$OUT/machine.txt"
for s in "$@"; do
    run "$s"
done
echo "results in $OUT"
