#!/usr/bin/env bash
# Load with concurrent writers (make reliability; NOT part of make test; about 80 s):
#   real prometheus_client workers keep incrementing counters in a fresh multiprocess
#   directory, are recycled every 2-6 s and marked dead through POST /mark-dead/<pid>,
#   while wrk (64 connections, loopback) hits /metrics, a poller checks every 100 ms that
#   every counter series only goes up, and /proc/<pid>/status is sampled every second.
# Fails on any non-2xx reply or socket error, any counter decrease, or RssAnon growth.
#
#   scripts/reliability/load.sh [BINARY]     (default .build/release/multiproc-exporter)
#   LOAD_SECONDS=60 LOAD_CONNECTIONS=64 LOAD_THREADS=2 LOAD_WORKERS=4
set -euo pipefail
cd "$(dirname "$0")/../.."
BINARY=${1:-.build/release/multiproc-exporter}
SECONDS_UNDER_LOAD=${LOAD_SECONDS:-60}
CONNECTIONS=${LOAD_CONNECTIONS:-64}
THREADS=${LOAD_THREADS:-2}
PYTHON=${PYTHON:-python3}
HERE=scripts/reliability

for tool in wrk curl "$PYTHON"; do command -v "$tool" >/dev/null || { echo "load.sh needs $tool (apt-get install -y wrk curl)"; exit 1; }; done
WORK=$(mktemp -d /tmp/mpe-load-XXXXXX)
EXPORTER_PID=""
cleanup() {
  if [ -n "$EXPORTER_PID" ]; then kill "$EXPORTER_PID" 2>/dev/null || true; wait "$EXPORTER_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/multiproc"

# 64 connections scrape at once: let them all in (the default cap of 40 answers 503 beyond it).
"$BINARY" serve --multiproc-dir "$WORK/multiproc" --web.listen-address 127.0.0.1:0 \
  --web.max-requests 256 --log.level info 2> "$WORK/exporter.log" &
EXPORTER_PID=$!
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*address=127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/exporter.log" | head -1)
  [ -n "$PORT" ] && break
  # --log.level warn hides the listening line: find the port from the socket table instead.
  PORT=$(ss -ltnp 2>/dev/null | awk -v pid="pid=$EXPORTER_PID," '$0 ~ pid {split($4, a, ":"); print a[length(a)]}' | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "${PORT:-}" ] || { echo "exporter did not start"; cat "$WORK/exporter.log"; exit 1; }
echo "--- exporter pid $EXPORTER_PID on 127.0.0.1:$PORT; writers, poller, RSS sampler and wrk for ${SECONDS_UNDER_LOAD}s"

TOTAL=$((SECONDS_UNDER_LOAD + 10))
"$PYTHON" $HERE/load_helpers.py writers "$WORK/multiproc" "$PORT" "$TOTAL" > "$WORK/writers.out" 2>&1 &
WRITERS=$!
sleep 2  # the first workers have created their files
"$PYTHON" $HERE/load_helpers.py poll "$PORT" "$((SECONDS_UNDER_LOAD + 4))" > "$WORK/poll.out" 2> "$WORK/poll.err" &
POLL=$!
"$PYTHON" $HERE/load_helpers.py rss "$EXPORTER_PID" "$((SECONDS_UNDER_LOAD + 4))" > "$WORK/rss.out" 2>&1 &
RSS=$!
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${SECONDS_UNDER_LOAD}s" --timeout 10s -s $HERE/wrk_status.lua \
  "http://127.0.0.1:$PORT/metrics" > "$WORK/wrk.out" 2>&1 || true

status=0
wait "$POLL" || status=1
wait "$RSS" || status=1
wait "$WRITERS" || status=1
kill -0 "$EXPORTER_PID" 2>/dev/null || { echo "FAIL: the exporter died"; status=1; }
HEALTHZ=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/healthz" || echo fail)

cat "$WORK/wrk.out"
cat "$WORK/writers.out" "$WORK/poll.out" "$WORK/rss.out"
head -5 "$WORK/poll.err"
echo "healthz after the run: ${HEALTHZ}s"
non2xx=$(awk '$1 == "wrk-status" && ($2 < 200 || $2 > 299) {n += $3} END {print n + 0}' "$WORK/wrk.out")
ok=$(awk '$1 == "wrk-status" && $2 >= 200 && $2 <= 299 {n += $3} END {print n + 0}' "$WORK/wrk.out")
socket_errors=$(sed -n 's/^wrk-errors connect=\([0-9]*\) read=\([0-9]*\) write=\([0-9]*\) timeout=\([0-9]*\).*/\1 \2 \3 \4/p' "$WORK/wrk.out" | awk '{print $1 + $2 + $3 + $4}')
echo "summary: 2xx=$ok non_2xx=$non2xx socket_errors=${socket_errors:-?}"
[ "$ok" -gt 0 ] && [ "$non2xx" = 0 ] && [ "${socket_errors:-1}" = 0 ] || { echo "FAIL: wrk saw errors"; status=1; }
grep -q "level=error" "$WORK/exporter.log" && { echo "exporter errors:"; grep "level=error" "$WORK/exporter.log" | head; status=1; }
[ "$status" = 0 ] && echo "PASS" || echo "FAIL"
exit "$status"
