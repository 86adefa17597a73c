#!/usr/bin/env bash
# Resident memory of a release server: idle, after N password sign-ins (8 at a time), and
# after M sockets were opened and closed. Prints one line per step; docs/BENCHMARKS.md
# ("Memory after sign-ins") has the numbers and this command.
#   cargo build --release -p nati-chat -p nati-bench --bin nati-chat --bin nati-bench
#   scripts/memory.sh [LOGINS] [SOCKETS]
set -euo pipefail
cd "$(dirname "$0")/.."
LOGINS="${1:-1000}"
SOCKETS="${2:-2000}"
BIN=target/release/nati-chat
BENCH=target/release/nati-bench
DIR="$(mktemp -d "${TMPDIR:-/tmp}/nati-mem.XXXXXX")"
PORT=$((20000 + RANDOM % 20000))
ulimit -n 20000
NATI_LOGIN_RATE_PER_MINUTE=1000000 NATI_GUEST_START_RATE_PER_MINUTE=1000000 \
    "$BIN" serve --demo --bind "127.0.0.1:$PORT" --data-dir "$DIR" >"$DIR/server.log" 2>&1 &
PID=$!
# Stop the server this script started (it may have exited already) and keep the script's
# own exit status: a failed measurement still fails the script.
cleanup() {
    local rc=$?
    set +e # the server's own exit status (143 after the kill) is not the script's
    if kill -0 "$PID" 2>/dev/null; then
        kill "$PID"
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$DIR"
    exit "$rc"
}
trap cleanup EXIT
up=0
for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.1
done
if [ "$up" -ne 1 ]; then
    echo "error: the server did not start:" >&2
    cat "$DIR/server.log" >&2
    exit 1
fi
rss() { awk '/VmRSS/ {printf "%.1f MB", $2/1024}' "/proc/$PID/status"; }
settle() { sleep "${SETTLE:-5}"; }
settle
echo "idle after start:           $(rss)"
seq 1 "$LOGINS" | xargs -P 8 -I{} curl -fsS -o /dev/null -X POST \
    -H 'content-type: application/json' \
    -d '{"email":"admin@nati.test","password":"demo-password"}' \
    "http://127.0.0.1:$PORT/api/auth/login"
echo "right after $LOGINS sign-ins:  $(rss)"
settle
echo "idle after $LOGINS sign-ins:   $(rss)"
"$BENCH" --url "http://127.0.0.1:$PORT" --server-pid "$PID" idle --sockets "$SOCKETS" --role admin --hold 2 >/dev/null
settle
echo "idle after $SOCKETS sockets closed: $(rss)"
