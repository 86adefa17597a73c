#!/usr/bin/env bash
# Full test suite for Nati Chat. Used locally and by CI (.ci/run).
#
# Legs (in order):
#   fmt, clippy, cargo deny + MSRV, cargo test (sqlite), postgresql (store + api suites),
#   mariadb (store + api suites),
#   schemathesis (admin + user token), email (aiosmtpd), browser tests (panels, guest
#   widget and embedding in a host page on another origin, in headless Chromium),
#   benchmark smoke, prometheus (scrapes a live server, runs the dashboard's queries),
#   the Debian package (built, installed, served, purged)
# php-cli is installed when missing: the host sign-in test runs the PHP example.
# Any failure aborts the script with a non-zero exit code.
#
# Tunables (environment):
#   ST_TOTAL_EXAMPLES  generated test cases per schemathesis run, spread over
#                      all API operations (default 150)
#   ST_PHASES          schemathesis phases (default examples,fuzzing; add
#                      "coverage" for the slower exhaustive boundary phase)
#   ST_TIMEOUT         hard wall-clock limit per schemathesis run, seconds (default 300)
#   BROWSER_TIMEOUT    hard wall-clock limit for the browser tests, seconds (default 900)
set -euo pipefail

cd "$(dirname "$0")/.."
REPO_ROOT="$(pwd)"
# Build output: cargo's own choice (CARGO_TARGET_DIR if set), so the binaries are found.
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

SCHEMATHESIS_VERSION="4.32.5"
ST_TOTAL_EXAMPLES="${ST_TOTAL_EXAMPLES:-150}"
ST_PHASES="${ST_PHASES:-examples,fuzzing}"
ST_TIMEOUT="${ST_TIMEOUT:-300}"
VENV="$REPO_ROOT/.venv"

LEGS_RAN=()

banner() {
    printf '\n== %s ==\n' "$1"
}

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# ---------------------------------------------------------------------------
# Prerequisites (apt only when something is actually missing)
# ---------------------------------------------------------------------------

# rustup installs into ~/.cargo/bin, which a non-login CI shell may not have on PATH.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    die "cargo not found. Install the Rust toolchain (rustup, rust-version >= 1.94 per Cargo.toml); this script cannot fetch it."
fi
for component in rustfmt clippy; do
    sub="${component/rustfmt/fmt}"
    if ! cargo "$sub" --version >/dev/null 2>&1; then
        if command -v rustup >/dev/null 2>&1; then
            echo "cargo $sub missing; trying: rustup component add $component"
            rustup component add "$component"
        else
            die "cargo $sub not available and rustup not found; install the '$component' component."
        fi
    fi
done

apt_pkgs=()
if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
    apt_pkgs+=(python3 python3-venv python3-pip)
fi
if ! command -v curl >/dev/null 2>&1; then
    apt_pkgs+=(curl)
fi
# Both PHP examples run in the tests: the host sign-in token of docs/integration.md
# (tests/api/host.rs; with CI set it fails rather than skips without php) and the
# webhook verification of docs/webhooks.md, as a receiver.
if ! command -v php >/dev/null 2>&1; then
    apt_pkgs+=(php-cli)
fi
# Attachments are scanned by a real clamd in the tests (the EICAR file must be refused):
# Debian's clamav-daemon, started below with a local signature (scripts/clamd.sh).
if ! command -v clamd >/dev/null 2>&1 || ! command -v sigtool >/dev/null 2>&1; then
    apt_pkgs+=(clamav-daemon clamav)
fi
if [ "${#apt_pkgs[@]}" -gt 0 ]; then
    echo "installing missing system packages: ${apt_pkgs[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install ${apt_pkgs[*]}"
        SUDO=(sudo)
    fi
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${apt_pkgs[@]}"
fi
command -v timeout >/dev/null 2>&1 || die "timeout (coreutils) not found"

# ---------------------------------------------------------------------------
# Rust legs
# ---------------------------------------------------------------------------

banner "fmt"
cargo fmt --all -- --check
LEGS_RAN+=("fmt")

banner "clippy"
cargo clippy --workspace --all-targets -- -D warnings
LEGS_RAN+=("clippy")

# Supply chain and MSRV (deny.toml; scripts/msrv_check.py says how the MSRV is checked
# with the one toolchain this machine has). Advisories need the RustSec database, which
# cannot be downloaded here: licences, bans and sources only, offline.
banner "cargo deny, MSRV"
CARGO_DENY_VERSION="0.20.2"
if ! cargo deny --version 2>/dev/null | grep "$CARGO_DENY_VERSION" >/dev/null; then
    cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked
fi
# Every platform's crates in the lock file, not only this one's (a fresh machine has only
# what its builds downloaded): cargo deny reads them all, offline.
cargo fetch --locked
cargo deny --offline check licenses bans sources
python3 "$REPO_ROOT/scripts/msrv_check.py"
LEGS_RAN+=("cargo-deny,msrv")

# A clamd of the tests' own for the attachment scan tests of every backend; stopped after
# the MariaDB leg.
CLAMD_DIR="$(mktemp -d)"
NATI_TEST_CLAMD_SOCKET="$("$REPO_ROOT/scripts/clamd.sh" "$CLAMD_DIR")" || die "could not start clamd"
export NATI_TEST_CLAMD_SOCKET
echo "clamd for the tests at $NATI_TEST_CLAMD_SOCKET"

banner "cargo test (sqlite)"
cargo test --workspace
LEGS_RAN+=("cargo-test(sqlite)")

# ---------------------------------------------------------------------------
# PostgreSQL leg: the store's conformance story (and its event-order test) and the
# HTTP/WebSocket suites against a local PostgreSQL on 127.0.0.1:5432, user postgres with
# trust auth. Each test makes its own throwaway database (nati_conf_*, nati_it_*);
# leftovers are dropped at the end, also when a test fails.
# ---------------------------------------------------------------------------

banner "postgresql"
PG_URL="postgres://postgres@127.0.0.1:5432/postgres"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    else
        command -v sudo >/dev/null 2>&1 || die "need root or sudo for: $*"
        sudo "$@"
    fi
}

pg_up() {
    command -v pg_isready >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -p 5432 -q
}

pg_wait_up() {
    local i
    for ((i = 0; i < 60; i++)); do # 60 * 0.5 s = 30 s
        if pg_up; then return 0; fi
        sleep 0.5
    done
    die "PostgreSQL did not accept connections on 127.0.0.1:5432 within 30 s"
}

pg_fresh_install=0
if ! pg_up; then
    if ! dpkg -s postgresql >/dev/null 2>&1; then
        echo "PostgreSQL is not installed; installing it"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
        pg_fresh_install=1
    fi
    if ! pg_up; then
        # shellcheck disable=SC2012 # cluster versions are plain numbers
        pg_version="$(ls /etc/postgresql | head -1)"
        [ -n "$pg_version" ] || die "no cluster under /etc/postgresql"
        echo "starting PostgreSQL $pg_version (cluster main)"
        as_root pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start
    fi
    pg_wait_up
fi
if ! psql "$PG_URL" -XAtqc 'SELECT 1' >/dev/null 2>&1; then
    # Debian's default asks for a password over TCP; on a server this script installed,
    # let user postgres in from 127.0.0.1 without one (what the test URLs expect).
    [ "$pg_fresh_install" -eq 1 ] || die "cannot connect to $PG_URL (trust auth for user postgres on 127.0.0.1 expected)"
    hba_file="$(as_root su postgres -c "psql -XAtqc 'SHOW hba_file'")"
    as_root sed -i '1i host all postgres 127.0.0.1/32 trust' "$hba_file"
    as_root su postgres -c "psql -XAtqc 'SELECT pg_reload_conf()'" >/dev/null
    psql "$PG_URL" -XAtqc 'SELECT 1' >/dev/null || die "cannot connect to $PG_URL after enabling trust auth"
fi

pg_drop_scratch() {
    local db
    for db in $(psql "$PG_URL" -XAtqc "SELECT datname FROM pg_database WHERE datname LIKE 'nati\_it\_%' OR datname LIKE 'nati\_conf\_%'"); do
        psql "$PG_URL" -Xqc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
    done
}
# On failure, drop the scratch databases and keep the failing exit code.
trap 'rc=$?; trap - EXIT; if ! pg_drop_scratch; then echo "warning: could not drop nati_it_/nati_conf_ databases" >&2; fi; exit "$rc"' EXIT

NATI_TEST_PG_URL="$PG_URL" cargo test -p chat-store-postgres
NATI_TEST_DATABASE_URL="$PG_URL" cargo test --test api
pg_drop_scratch
trap - EXIT
LEGS_RAN+=("postgresql(store,api)")

# ---------------------------------------------------------------------------
# MariaDB leg: the store's tests (conformance story, host-mode schema, event-id order,
# concurrent outbox claims, migrations) and the HTTP/WebSocket suites (several nodes
# included) against a local MariaDB on 127.0.0.1:3306, user root without a password.
# Each test makes its own throwaway database (nati_conf_*, nati_it_*); leftovers are
# dropped at the end, also when a test fails.
# ---------------------------------------------------------------------------

banner "mariadb"
MY_URL="mysql://root@127.0.0.1:3306/test"

my_up() {
    command -v mariadb >/dev/null 2>&1 && mariadb -uroot -h127.0.0.1 -P3306 -e 'select 1' >/dev/null 2>&1
}

# The server answers at all (ping succeeds even when access is denied).
my_alive() {
    command -v mariadb-admin >/dev/null 2>&1 && mariadb-admin -h127.0.0.1 -P3306 --connect-timeout=2 ping >/dev/null 2>&1
}

my_wait_up() {
    local i
    for ((i = 0; i < 60; i++)); do # 60 * 0.5 s = 30 s
        if my_alive; then return 0; fi
        sleep 0.5
    done
    die "MariaDB did not answer on 127.0.0.1:3306 within 30 s"
}

my_fresh_install=0
if ! my_up; then
    if [ ! -x /usr/sbin/mariadbd ]; then
        echo "MariaDB is not installed; installing it"
        as_root apt-get update
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends mariadb-server
        my_fresh_install=1
    fi
    if ! my_alive; then
        echo "starting MariaDB"
        as_root install -d -o mysql -g mysql /run/mysqld
        as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql
    fi
    my_wait_up
fi
if ! my_up; then
    # Debian's root signs in over the local socket only; on a server this script
    # installed, let root in from 127.0.0.1 without a password (what the test URLs expect).
    [ "$my_fresh_install" -eq 1 ] || die "cannot connect to 127.0.0.1:3306 as root without a password (mariadb -uroot -h127.0.0.1)"
    as_root mariadb -uroot --protocol=socket -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY ''; GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')"
    my_up || die "cannot connect to 127.0.0.1:3306 as root after allowing it"
fi

my_drop_scratch() {
    local db
    for db in $(mariadb -uroot -h127.0.0.1 -P3306 -N -B -e "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'nati\_it\_%' OR SCHEMA_NAME LIKE 'nati\_conf\_%'"); do
        mariadb -uroot -h127.0.0.1 -P3306 -e "DROP DATABASE IF EXISTS \`$db\`"
    done
}
# On failure, drop the scratch databases and keep the failing exit code.
trap 'rc=$?; trap - EXIT; if ! my_drop_scratch; then echo "warning: could not drop nati_it_/nati_conf_ databases" >&2; fi; exit "$rc"' EXIT

NATI_TEST_MYSQL_URL="$MY_URL" cargo test -p chat-store-mysql
NATI_TEST_DATABASE_URL="$MY_URL" cargo test --test api
if kill "$(cat "$CLAMD_DIR/clamd.launcher.pid")" 2>/dev/null; then :; fi
rm -rf "$CLAMD_DIR"
unset NATI_TEST_CLAMD_SOCKET
my_drop_scratch
trap - EXIT
LEGS_RAN+=("mariadb(store,api)")

# ---------------------------------------------------------------------------
# Schemathesis leg: fuzz the live HTTP API against its own OpenAPI document.
# ---------------------------------------------------------------------------

banner "schemathesis"

# Virtualenv at .venv (gitignored), reused across runs; (re)installed when the
# pinned version is not the one present.
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "existing $VENV is broken; recreating"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
want="schemathesis, version $SCHEMATHESIS_VERSION"
have=""
if [ -x "$VENV/bin/schemathesis" ] && out="$("$VENV/bin/schemathesis" --version 2>/dev/null)"; then
    have="$out"
fi
if [ "$have" != "$want" ]; then
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
ST="$VENV/bin/schemathesis"
"$ST" --version

cargo build --bin nati-chat
SERVER_BIN="$TARGET_DIR/debug/nati-chat"
[ -x "$SERVER_BIN" ] || die "server binary not found at $SERVER_BIN"

TMPDIR_X="$(mktemp -d "${TMPDIR:-/tmp}/nati-chat-test.XXXXXX")"
SERVER_PID=""

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        # The server may already be gone, and a killed server exits non-zero
        # (SIGTERM); neither is a test failure.
        if kill "$SERVER_PID" 2>/dev/null; then :; fi
        if wait "$SERVER_PID" 2>/dev/null; then :; fi
        SERVER_PID=""
    fi
}

cleanup() {
    local rc=$?
    trap - EXIT
    stop_server
    rm -rf "$TMPDIR_X"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server NAME: starts a fresh server (own data dir, freshly seeded
# --demo accounts) and sets SERVER_PID, PORT and SERVER_LOG.
start_server() {
    local name="$1"
    local data_dir="$TMPDIR_X/$name/data"
    mkdir -p "$data_dir"
    SERVER_LOG="$TMPDIR_X/$name/server.log"
    NATI_LOGIN_RATE_PER_MINUTE=100000 \
    NATI_GUEST_START_RATE_PER_MINUTE=100000 \
    NO_COLOR=1 \
        "$SERVER_BIN" serve --bind 127.0.0.1:0 --data-dir "$data_dir" --demo \
        </dev/null >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!

    PORT=""
    local i
    for ((i = 0; i < 150; i++)); do # 150 * 0.2 s = 30 s
        PORT="$(sed -nE '/listening on http:\/\/127\.0\.0\.1:[0-9]+/{s/.*listening on http:\/\/127\.0\.0\.1:([0-9]+).*/\1/p;q}' "$SERVER_LOG")"
        if [ -n "$PORT" ]; then
            break
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "server exited before printing 'listening on http://127.0.0.1:PORT'; log:" >&2
            cat "$SERVER_LOG" >&2
            die "nati-chat server failed to start"
        fi
        sleep 0.2
    done
    if [ -z "$PORT" ]; then
        echo "no 'listening on http://127.0.0.1:PORT' line within 30 s; server log:" >&2
        cat "$SERVER_LOG" >&2
        die "nati-chat server did not become ready"
    fi
    echo "server ($name) listening on port $PORT (pid $SERVER_PID)"
}

# login EMAIL: prints the bearer token for a demo account.
login() {
    local email="$1" resp token
    if ! resp="$(curl -sS -f -X POST "http://127.0.0.1:$PORT/api/auth/login" \
        -H 'content-type: application/json' \
        -d "{\"email\":\"$email\",\"password\":\"demo-password\"}")"; then
        echo "login as $email failed; server log:" >&2
        cat "$SERVER_LOG" >&2
        die "login as $email failed"
    fi
    if ! token="$(printf '%s' "$resp" | python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"; then
        die "login response for $email has no token: $resp"
    fi
    [ -n "$token" ] || die "empty token for $email"
    printf '%s' "$token"
}

# run_schemathesis ROLE EMAIL: fresh server, log in as EMAIL, fuzz the API.
run_schemathesis() {
    local role="$1" email="$2"
    echo
    echo "-- schemathesis as $role ($email) --"
    start_server "$role"
    local base="http://127.0.0.1:$PORT"
    local spec_url="$base/api/openapi.json"
    local token
    token="$(login "$email")"

    # Spread the example budget over the operations in the spec.
    local ops per_op
    if ! ops="$(curl -sS -f "$spec_url" | python3 -c '
import json, sys
spec = json.load(sys.stdin)
methods = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
print(sum(1 for item in spec.get("paths", {}).values() for m in item if m in methods))
')"; then
        die "could not fetch/parse OpenAPI document at $spec_url"
    fi
    [ "$ops" -gt 0 ] || die "OpenAPI document at $spec_url lists no operations"
    per_op=$((ST_TOTAL_EXAMPLES / ops))
    if [ "$per_op" -lt 1 ]; then per_op=1; fi
    if [ "$per_op" -gt 25 ]; then per_op=25; fi
    echo "$ops operations -> --max-examples $per_op"

    # Run from a scratch dir: schemathesis/hypothesis drop .hypothesis and
    # .schemathesis caches into the working directory.
    local st_rc=0
    if (cd "$TMPDIR_X/$role" && timeout "$ST_TIMEOUT" "$ST" run "$spec_url" \
        --checks not_a_server_error,response_schema_conformance \
        --phases "$ST_PHASES" \
        --max-examples "$per_op" \
        --generation-deterministic \
        --request-timeout 10 \
        --exclude-path-regex '/logout$' \
        -H "Authorization: Bearer $token" \
        </dev/null); then
        st_rc=0
    else
        st_rc=$?
    fi
    stop_server
    if [ "$st_rc" -eq 124 ]; then
        die "schemathesis ($role) exceeded ${ST_TIMEOUT}s"
    elif [ "$st_rc" -ne 0 ]; then
        echo "server log ($role): $SERVER_LOG" >&2
        tail -n 50 "$SERVER_LOG" >&2
        die "schemathesis ($role) reported failures (exit $st_rc)"
    fi
}

run_schemathesis admin admin@nati.test
run_schemathesis user user1@nati.test
LEGS_RAN+=("schemathesis(admin,user)")

# ---------------------------------------------------------------------------
# Email end to end through a well-kept SMTP server: aiosmtpd (PyPI, in the same
# virtualenv) receives what the real server binary sends (scripts/smtp_e2e.py).
# ---------------------------------------------------------------------------

banner "email (aiosmtpd)"
"$VENV/bin/python" -m pip install --disable-pip-version-check --quiet "aiosmtpd==1.4.6"
cargo build --bin nati-chat
timeout 120 "$VENV/bin/python" "$REPO_ROOT/scripts/smtp_e2e.py" "$TARGET_DIR/debug/nati-chat" </dev/null     || die "email end-to-end through aiosmtpd failed"
LEGS_RAN+=("email(aiosmtpd)")

# ---------------------------------------------------------------------------
# Browser tests: the web panels, the guest widget and embedding in a host page on
# another origin (web-tests/tests/embed.test.js) in a real headless
# Chromium — Debian's chromium + chromium-driver (apt, when missing; never a
# downloaded browser) driven by playwright-core under node's test runner
# (web-tests/, npm ci from its lock file). The tests start the debug server
# binary themselves (port 0, --demo, temp data dirs). Screenshots land in
# target/screenshots/; the widget's gzipped sizes in target/widget-sizes.txt.
# ---------------------------------------------------------------------------

banner "browser tests"
BROWSER_TIMEOUT="${BROWSER_TIMEOUT:-900}"
browser_pkgs=()
command -v chromium >/dev/null 2>&1 || browser_pkgs+=(chromium)
command -v chromedriver >/dev/null 2>&1 || browser_pkgs+=(chromium-driver)
command -v node >/dev/null 2>&1 || browser_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || browser_pkgs+=(npm)
if [ "${#browser_pkgs[@]}" -gt 0 ]; then
    echo "installing missing system packages: ${browser_pkgs[*]}"
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install ${browser_pkgs[*]}"
        SUDO=(sudo)
    fi
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${browser_pkgs[@]}"
fi
CHROMIUM_BIN="$(command -v chromium)" || die "chromium not found after installing it"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 18 ] || die "the browser tests need node >= 18 (found $(node --version))"
"$CHROMIUM_BIN" --version
cargo build --bin nati-chat
[ -x "$TARGET_DIR/debug/nati-chat" ] || die "server binary not found at $TARGET_DIR/debug/nati-chat"
(cd "$REPO_ROOT/web-tests" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
rm -rf "$TARGET_DIR/screenshots" "$TARGET_DIR/widget-sizes.txt"
browser_rc=0
(cd "$REPO_ROOT/web-tests" &&
    CHAT_SERVER_BIN="$TARGET_DIR/debug/nati-chat" CHROMIUM="$CHROMIUM_BIN" \
    SCREENSHOT_DIR="$TARGET_DIR/screenshots" WIDGET_SIZES_FILE="$TARGET_DIR/widget-sizes.txt" \
    timeout "$BROWSER_TIMEOUT" node --test --test-concurrency=1 tests/ </dev/null) || browser_rc=$?
if [ "$browser_rc" -eq 124 ]; then
    die "browser tests exceeded ${BROWSER_TIMEOUT}s"
elif [ "$browser_rc" -ne 0 ]; then
    die "browser tests failed (exit $browser_rc)"
fi
[ -s "$TARGET_DIR/widget-sizes.txt" ] || die "browser tests did not measure the widget"
echo "-- guest widget size --"
cat "$TARGET_DIR/widget-sizes.txt"
echo "screenshots: $(find "$TARGET_DIR/screenshots" -name '*.png' | wc -l) in $TARGET_DIR/screenshots/"
LEGS_RAN+=("browser(panels,widget,embed,webhooks)")

# ---------------------------------------------------------------------------
# Benchmark smoke: every nati-bench scenario with tiny sizes against a fresh
# debug server (a few seconds). Fails on errors and lost deliveries, never on
# numbers; real measurements use the release build (docs/BENCHMARKS.md).
# ---------------------------------------------------------------------------

banner "benchmark smoke"
cargo build -p nati-chat -p nati-bench --bin nati-chat --bin nati-bench
BENCH_BIN="$TARGET_DIR/debug/nati-bench"
[ -x "$BENCH_BIN" ] || die "benchmark binary not found at $BENCH_BIN"
start_server bench
if ! timeout 300 "$BENCH_BIN" smoke --url "http://127.0.0.1:$PORT" --server-pid "$SERVER_PID" \
    --json "$TMPDIR_X/bench/smoke.json" </dev/null; then
    echo "server log (bench): $SERVER_LOG" >&2
    tail -n 50 "$SERVER_LOG" >&2
    die "benchmark smoke failed"
fi
stop_server
LEGS_RAN+=("bench-smoke")

# ---------------------------------------------------------------------------
# Prometheus: Debian's prometheus (apt, when missing) scrapes a live server with its
# metrics token under a little load; every query of the Grafana dashboard
# (docs/grafana/nati-chat.json) must be valid PromQL there, the main ones with data
# (scripts/prometheus_e2e.py). Graphs land in target/screenshots/.
# ---------------------------------------------------------------------------

banner "prometheus"
if ! command -v prometheus >/dev/null 2>&1; then
    SUDO=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || die "need root or sudo to apt-get install prometheus"
        SUDO=(sudo)
    fi
    "${SUDO[@]}" apt-get update
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
fi
timeout 300 python3 "$REPO_ROOT/scripts/prometheus_e2e.py" "$TARGET_DIR/debug/nati-chat" "$BENCH_BIN" \
    "$TARGET_DIR/screenshots" </dev/null || die "prometheus end to end failed"
LEGS_RAN+=("prometheus")

# ---------------------------------------------------------------------------
# The Debian package (packaging/): built with cargo-deb from a release build, installed
# on this machine, started with its systemd unit's command line as its own user,
# /healthz, /metrics and the first-admin hint checked, then purged (scripts/package_test.sh).
# ---------------------------------------------------------------------------

banner "debian package"
if [ "$(id -u)" -eq 0 ]; then
    bash "$REPO_ROOT/scripts/package_test.sh" </dev/null
else
    command -v sudo >/dev/null 2>&1 || die "the package test installs a .deb: run as root or with sudo"
    sudo env "PATH=$PATH" ${CARGO_TARGET_DIR:+CARGO_TARGET_DIR=$CARGO_TARGET_DIR} \
        bash "$REPO_ROOT/scripts/package_test.sh" </dev/null
fi
LEGS_RAN+=("debian-package")

echo
echo "== summary: all legs passed: ${LEGS_RAN[*]} =="
