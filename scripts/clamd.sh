#!/usr/bin/env bash
# Start a clamd for the tests: Debian's clamav-daemon with a signature database of its
# own (no download is possible here): the EICAR test file's MD5 signature, made with
# sigtool. Usage: scripts/clamd.sh DIR — starts clamd in the background, listening on
# DIR/clamd.sock, and prints that path once clamd answers PING.
set -euo pipefail
dir="$1"
mkdir -p "$dir/db"
eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
printf '%s' "$eicar" > "$dir/Eicar-Test-Signature"
(cd "$dir" && sigtool --md5 Eicar-Test-Signature) > "$dir/db/eicar.hdb"
cat > "$dir/clamd.conf" <<CONF
Foreground yes
LocalSocket $dir/clamd.sock
DatabaseDirectory $dir/db
LogFile $dir/clamd.log
PidFile $dir/clamd.pid
StreamMaxLength 64M
CONF
rm -f "$dir/clamd.sock"
clamd --config-file="$dir/clamd.conf" > "$dir/clamd.out" 2>&1 &
echo $! > "$dir/clamd.launcher.pid"
for _ in $(seq 1 120); do
    if [ -S "$dir/clamd.sock" ] && python3 - "$dir/clamd.sock" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"zPING\0")
sys.exit(0 if s.recv(16).startswith(b"PONG") else 1)
PY
    then
        echo "$dir/clamd.sock"
        exit 0
    fi
    sleep 0.5
done
echo "clamd did not start; its log:" >&2
cat "$dir/clamd.out" "$dir/clamd.log" >&2 || true
exit 1
