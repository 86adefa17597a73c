#!/bin/bash
# Peak server memory while N 12-megapixel photos are uploaded at once (docs/BENCHMARKS.md).
# Usage: scripts/photo_memory.sh N PHOTO.jpg  (a release build; PHOTO: any large JPEG)
N=${1:-4}
PHOTO=${2:-/tmp/big.jpg}
BIN="$(dirname "$0")/../target/release/nati-chat"
rm -rf /tmp/ph && mkdir -p /tmp/ph
NATI_LOGIN_RATE_PER_MINUTE=1000000 NATI_GUEST_START_RATE_PER_MINUTE=1000000 $BIN serve --demo --bind 127.0.0.1:18081 --data-dir /tmp/ph > /tmp/ph.log 2>&1 &
PID=$!
sleep 3
peak=0
( while kill -0 $PID 2>/dev/null; do r=$(awk '/VmRSS/{print $2}' /proc/$PID/status); echo $r; sleep 0.01; done ) > /tmp/ph.rss &
S=$!
before=$(awk '/VmRSS/{print $2}' /proc/$PID/status)
for i in $(seq 1 $N); do
  R=$(curl -s -X POST http://127.0.0.1:18081/api/chat/start -H 'content-type: application/json' -d '{"message":"x"}')
  T=$(echo "$R" | python3 -c 'import sys,json; d=json.load(sys.stdin); print(d["guest_token"], d["chat"]["chat_id"])')
  set -- $T
  ( curl -s -o /dev/null -w "%{http_code} %{time_total}s\n" -X POST "http://127.0.0.1:18081/api/chat/attachments?chat_id=$2&client_id=p$i&name=p.jpg" -H "authorization: Bearer $1" --data-binary @"$PHOTO" ) & UP="$UP $!"
done
wait $UP
sleep 0.3
kill $PID; sleep 0.2; kill $S 2>/dev/null
echo "before ${before} KiB, peak $(sort -n /tmp/ph.rss | tail -1) KiB"
