#!/bin/bash
# 1 GiB PUT throughput and server CPU: starts Skyport on a loopback port (DNS off, fresh state dir),
# creates a bucket, PUTs a 1 GiB file of real bytes with curl -T RUNS times, and prints MB/s and the
# server's CPU seconds (user+system from /proc/<pid>/stat) per PUT. The file is written first, so it is in
# the page cache; a sparse file would cost curl more kernel time zero-filling its holes than the server spends.
# usage: bench/put_1gib.sh <skyport binary> [runs]
set -euo pipefail
BIN=$1; RUNS=${2:-3}
D=$(mktemp -d); PORT=${PORT:-45999}
python3 -c "import os,sys; c=os.urandom(1<<20); f=open(sys.argv[1],'wb'); [f.write(c) for _ in range(1024)]" "$D/big.bin"
GATEWAY_LISTEN=127.0.0.1:$PORT DNS_ADDRESS=0 SKYPORT_STATE_DIR=$D/state "$BIN" start >/dev/null 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$D"' EXIT
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PORT/_localstack/health" && break; sleep 0.1; done
curl -s -X PUT "http://127.0.0.1:$PORT/bench-put" >/dev/null
for i in $(seq "$RUNS"); do
  c0=$(awk '{print $14+$15}' /proc/$PID/stat)
  r=$(curl -s -o /dev/null -H 'Expect:' -w '%{speed_upload} %{time_total}' -T "$D/big.bin" "http://127.0.0.1:$PORT/bench-put/big$i")
  c1=$(awk '{print $14+$15}' /proc/$PID/stat)
  echo "$r" | awk -v c=$((c1-c0)) '{printf "PUT %.0f MB/s  wall %.2fs  server cpu %.2fs\n", $1/1e6, $2, c/100}'
done
