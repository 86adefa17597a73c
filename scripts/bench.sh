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
#            nodes-latency-<N>k[-r<RATE>] (two nodes on one database; needs BENCH_DB)
# Environment: OUT (default target/bench-results/<UTC time>), SECONDS_MEASURED (default 20),
#              HISTORY_MESSAGES (default 1000000), BUILD=0 to skip `cargo build --release`,
#              BENCH_DB=postgres|mariadb to run on a fresh database (one per scenario) on the
#              local server instead of SQLite (PG_URL / MY_URL name the server).
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
SERVER2_PID=""
BENCH_DB="${BENCH_DB:-sqlite}"
PG_URL="${PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
MY_URL="${MY_URL:-mysql://root@127.0.0.1:3306/test}"
DB_NAME=""

stop_server() {
    local pid
    for pid in "$SERVER_PID" "$SERVER2_PID"; do
        if [ -n "$pid" ]; then
            if kill "$pid" 2>/dev/null; then :; fi
            if wait "$pid" 2>/dev/null; then :; fi
        fi
    done
    SERVER_PID=""
    SERVER2_PID=""
    drop_db
}

# A fresh database for scenario $1 on the BENCH_DB server; sets DB_URL (empty: SQLite).
fresh_db() {
    DB_NAME="nati_bench_${1//-/_}"
    case "$BENCH_DB" in
    sqlite) DB_URL=""; DB_NAME="" ;;
    postgres)
        psql "$PG_URL" -Xqc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" -c "CREATE DATABASE $DB_NAME"
        DB_URL="${PG_URL%/*}/$DB_NAME" ;;
    mariadb)
        mariadb -uroot -h127.0.0.1 -P3306 -e "DROP DATABASE IF EXISTS $DB_NAME; CREATE DATABASE $DB_NAME"
        DB_URL="${MY_URL%/*}/$DB_NAME" ;;
    *) echo "BENCH_DB must be sqlite, postgres or mariadb" >&2; exit 2 ;;
    esac
}

drop_db() {
    [ -n "$DB_NAME" ] || return 0
    case "$BENCH_DB" in
    postgres) psql "$PG_URL" -Xqc "DROP DATABASE IF EXISTS $DB_NAME WITH (FORCE)" ||
        echo "warning: could not drop benchmark database $DB_NAME (PostgreSQL); drop it by hand" >&2 ;;
    mariadb) mariadb -uroot -h127.0.0.1 -P3306 -e "DROP DATABASE IF EXISTS $DB_NAME" ||
        echo "warning: could not drop benchmark database $DB_NAME (MariaDB); drop it by hand" >&2 ;;
    esac
    DB_NAME=""
}
trap 'stop_server; rm -rf "$WORK"' EXIT

# start NAME [VAR=VALUE...]: a fresh server (and database) with the demo accounts; sets
# PORT, SERVER_PID. NODE=2 starts a second node on the same database (PORT2, SERVER2_PID).
start() {
    local name="$1"
    shift
    if [ "${NODE:-1}" = 1 ]; then
        fresh_db "$name"
    else
        name="$name-node2"
    fi
    mkdir -p "$WORK/$name"
    : >"$WORK/$name.log" # exists before the server (started in the background) opens it
    env NATI_LOGIN_RATE_PER_MINUTE=1000000 NATI_GUEST_START_RATE_PER_MINUTE=1000000 RUST_LOG=warn \
        ${DB_URL:+NATI_DATABASE_URL=$DB_URL} NATI_SECRET_KEY=bench-cluster-secret-0123456789abcdef "$@" \
        "$SERVER" serve --demo --bind 127.0.0.1:0 --data-dir "$WORK/$name" \
        </dev/null >"$WORK/$name.log" 2>&1 &
    local pid=$! port=""
    for _ in $(seq 150); do
        port="$(sed -nE 's/.*listening on http:\/\/127\.0\.0\.1:([0-9]+).*/\1/p' "$WORK/$name.log" | head -n1)"
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/$name.log" >&2; exit 1; }
        sleep 0.2
    done
    [ -n "$port" ] || { cat "$WORK/$name.log" >&2; exit 1; }
    if [ "${NODE:-1}" = 1 ]; then
        SERVER_PID=$pid PORT=$port
    else
        SERVER2_PID=$pid PORT2=$port
    fi
    echo "== $name ($BENCH_DB): server pid $pid on port $port; load: $(cut -d' ' -f1-3 /proc/loadavg)"
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
    nodes-latency-*k | nodes-latency-*k-r*)
        # Two nodes on one database: customers send through node 1, the admin desk
        # watches on node 2, so the headline latency is cross-node delivery.
        [ "$BENCH_DB" != sqlite ] || { echo "$s needs BENCH_DB=postgres or mariadb" >&2; exit 2; }
        local n="${s#nodes-latency-}" rate=2000
        if [[ "$n" == *-r* ]]; then
            rate="${n#*-r}"
            n="${n%-r*}"
        fi
        n="${n%k}000"
        start "$s"
        NODE=2 start "$s"
        bench "$s" latency --sockets "$n" --rate "$rate" --observers 2 --duration "$D" --warmup 3 \
            --observer-url "http://127.0.0.1:$PORT2" ;;
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
