#!/usr/bin/env bash
# The Debian package, end to end (packaging/README.md): build it with cargo-deb, install it
# on this machine, check what it put where, start the server with its systemd unit's own
# command line as the unit's user (systemd itself may not be running here: containers),
# check /healthz, /metrics and the first-run hint, then purge it again. Needs root (dpkg);
# called by scripts/test.sh, which installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-$(pwd)/target}"
CARGO_DEB_VERSION="3.8.0"

die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

[ "$(id -u)" -eq 0 ] || die "the package test installs a .deb: run it as root"
if ! cargo deb --version 2>/dev/null | grep "$CARGO_DEB_VERSION" >/dev/null; then
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
fi

# Leftovers of an earlier run that died halfway.
dpkg --purge nati-chat >/dev/null 2>&1 || true
rm -rf /var/lib/nati-chat

rm -f "$TARGET_DIR"/debian/nati-chat_*.deb
cargo deb -p nati-chat
DEB="$(ls "$TARGET_DIR"/debian/nati-chat_*.deb)"
dpkg-deb --info "$DEB" | grep 'Depends: .*adduser' >/dev/null || die "the package does not depend on adduser"
# apt installs what it depends on (adduser) when a bare machine lacks it.
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$DEB" ||
    die "installing $DEB failed"

LOG="$(mktemp)"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    dpkg --purge nati-chat >/dev/null 2>&1 || true
    rm -rf /var/lib/nati-chat "$LOG"
}
trap cleanup EXIT

# What it installed, and with which owners and modes.
[ -x /usr/bin/nati-chat ] || die "/usr/bin/nati-chat missing"
getent passwd nati-chat >/dev/null || die "no nati-chat system user"
[ "$(stat -c '%U:%G %a' /var/lib/nati-chat)" = "nati-chat:nati-chat 750" ] ||
    die "/var/lib/nati-chat: $(stat -c '%U:%G %a' /var/lib/nati-chat), want nati-chat:nati-chat 750"
[ "$(stat -c '%U:%G %a' /etc/nati-chat/config.toml)" = "root:nati-chat 640" ] ||
    die "/etc/nati-chat/config.toml: $(stat -c '%U:%G %a' /etc/nati-chat/config.toml)"
dpkg-query -W -f='${Conffiles}\n' nati-chat | grep /etc/nati-chat/config.toml >/dev/null ||
    die "config.toml is not a conffile"
UNIT="$(dpkg -L nati-chat | grep '/nati-chat\.service$')" || die "no systemd unit in the package"
for want in 'User=nati-chat' 'LimitNOFILE=65536' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
    'ReadWritePaths=/var/lib/nati-chat' 'CapabilityBoundingSet=$'; do
    grep -q "^$want" "$UNIT" || die "$UNIT lacks $want"
done
if command -v systemd-analyze >/dev/null 2>&1; then
    verify="$(systemd-analyze verify "$UNIT" 2>&1)" || die "systemd-analyze verify $UNIT: $verify"
    ! grep -qi 'unknown\|ignoring' <<<"$verify" || die "systemd-analyze verify $UNIT: $verify"
fi

# Start it as the unit does: its ExecStart, as its user, in its working directory; only
# the port is moved off 8080 (something else may use it here).
EXEC="$(sed -n 's/^ExecStart=//p' "$UNIT")"
[ -n "$EXEC" ] || die "no ExecStart in $UNIT"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# shellcheck disable=SC2086 # ExecStart is a command line
(cd /var/lib/nati-chat && exec runuser -u nati-chat -- env NATI_BIND="127.0.0.1:$PORT" $EXEC) \
    </dev/null >"$LOG" 2>&1 &
SERVER_PID=$!
for _ in $(seq 100); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$LOG" >&2; die "the packaged server did not start"; }
    sleep 0.2
done
curl -fsS "http://127.0.0.1:$PORT/healthz" | grep '"ok"' >/dev/null || { cat "$LOG" >&2; die "/healthz"; }
METRICS="$(curl -fsS "http://127.0.0.1:$PORT/metrics")" || die "/metrics did not answer"
grep -q '^# TYPE nati_db_pool_connections gauge' <<<"$METRICS" || die "/metrics is not Prometheus text"
grep -q '^nati_db_pool_max_connections{pool="writer"} ' <<<"$METRICS" ||
    die "/metrics lacks the SQLite pool gauges"
grep -qF 'nati-chat --config /etc/nati-chat/config.toml account create --role admin' "$LOG" ||
    { cat "$LOG" >&2; die "serve did not print how to create the first admin"; }
[ -s /var/lib/nati-chat/nati-chat.db ] || die "no database in /var/lib/nati-chat"
[ "$(stat -c '%U' /var/lib/nati-chat/nati-chat.db)" = nati-chat ] || die "the database is not the service user's"

# The printed command works, as the service's user, on the service's database; the
# running server then has an admin.
runuser -u nati-chat -- env NATI_PASSWORD=package-test-password \
    /usr/bin/nati-chat --config /etc/nati-chat/config.toml \
    account create --role admin --email admin@package.test --name "Package Admin" </dev/null >/dev/null ||
    die "account create as nati-chat failed"
curl -fsS "http://127.0.0.1:$PORT/api/setup" | grep '"needs_admin":false' >/dev/null ||
    die "/api/setup still asks for a first admin"
# Purging removes the user; the data stays until the administrator deletes it.
kill "$SERVER_PID" && wait "$SERVER_PID" || true
SERVER_PID=""
dpkg --purge nati-chat >/dev/null
! getent passwd nati-chat >/dev/null || die "purging left the nati-chat user"
[ -s /var/lib/nati-chat/nati-chat.db ] || die "purging deleted the data"
echo "debian package: installed, served /healthz and /metrics as nati-chat, first admin created"
