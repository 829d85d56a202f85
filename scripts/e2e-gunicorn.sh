#!/usr/bin/env bash
# End to end with the shipped example: gunicorn (examples/gunicorn: app.py + gunicorn.conf.py)
# recycles its workers many times while multiproc-exporter serves their directory, the
# child_exit hook marks dead workers over HTTP with a bearer token, and a real Prometheus
# scrapes the exporter with examples/prometheus/prometheus.yml.
#
# Checks: (a) the request counter sums to the number of requests sent; (b) only live workers'
# live* gauge files remain, removed over HTTP (the exporter counted them; gunicorn's log shows
# no fallback); (c) the exporter serves what Python's MultiProcessCollector serves for the same
# directory; (d) Prometheus scrapes it with up == 1.
#
# With COMPACTION=1 the exporter also runs --compaction (delay 1s, a pass every 200ms) and
# more requests recycle more workers: (e) a scraper polling every 50 ms never sees a counter
# go down, (f) the directory ends with the live workers' files plus the archives, and (a)–(c)
# still hold over the compacted directory (Python reads the archives).
#
# usage: scripts/e2e-gunicorn.sh [path/to/multiproc-exporter]    (KEEP_WORK=1 keeps the logs of a failure)
# needs: python3 with prometheus-client==0.26.0 and gunicorn==23.0.0, prometheus, curl
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-.build/debug/multiproc-exporter}
PROMETHEUS=${PROMETHEUS:-prometheus}
PYTHON=${PYTHON:-python3}
GUNICORN=${GUNICORN:-gunicorn}
COMPACTION=${COMPACTION:-0}
REQUESTS=${REQUESTS:-$([[ $COMPACTION == 1 ]] && echo 3000 || echo 300)}
WORKERS=3
MAX_REQUESTS=20
WAIT_SECONDS=${WAIT_SECONDS:-30}
CHECK="$PYTHON scripts/e2e_gunicorn.py"

[[ -x "$BIN" ]] || { echo "FAIL: exporter binary $BIN not found (build it first)" >&2; exit 1; }
for tool in "$PROMETHEUS" "$GUNICORN" curl "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found" >&2; exit 1; }
done

WORK=$(mktemp -d -t multiproc-e2e.XXXXXX)
EXPORTER_PID=""
GUNICORN_PID=""
PROMETHEUS_PID=""
WATCH_PID=""
cleanup() {
  local rc=$?
  # gunicorn first: its workers' child_exit calls still find the exporter.
  for pid in "$GUNICORN_PID" "$PROMETHEUS_PID" "$EXPORTER_PID" "$WATCH_PID"; do
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    for log in exporter gunicorn prometheus; do
      echo "--- $log log (last 20 lines)"; tail -20 "$WORK/$log.log" 2>/dev/null || true
    done
  fi
  if [[ $rc -ne 0 && -n "${KEEP_WORK:-}" ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
  exit $rc
}
trap cleanup EXIT INT TERM

step() { echo "==> $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
wait_for() {  # description command...: retries the command every 0.2s for WAIT_SECONDS
  local what=$1; shift
  local deadline=$((SECONDS + WAIT_SECONDS))
  until "$@"; do
    (( SECONDS < deadline )) || fail "timed out after ${WAIT_SECONDS}s waiting for $what"
    sleep 0.2
  done
}
alive() { kill -0 "$1" 2>/dev/null || fail "$2 exited"; }
started=$SECONDS

# 1. The exporter, with a token: mark-dead then needs the bearer token from every client.
export PROMETHEUS_MULTIPROC_DIR="$WORK/multiproc"
mkdir "$PROMETHEUS_MULTIPROC_DIR"
TOKEN=$("$PYTHON" -c 'import secrets; print(secrets.token_hex(16))')
(umask 077; echo "$TOKEN" >"$WORK/token")
step "starting $BIN serve on 127.0.0.1:0 with --web.admin-token-file"
EXTRA=()
[[ $COMPACTION == 1 ]] && EXTRA=(--compaction --compaction.delay 1s --compaction.interval 200ms)
"$BIN" serve --web.listen-address 127.0.0.1:0 --web.admin-token-file "$WORK/token" "${EXTRA[@]}" 2>"$WORK/exporter.log" &
EXPORTER_PID=$!
exporter_addr() { EXPORTER_ADDR=$(sed -n 's/.*msg=listening address=\([0-9.:]*\).*/\1/p' "$WORK/exporter.log" | head -1); alive "$EXPORTER_PID" exporter; [[ -n "$EXPORTER_ADDR" ]]; }
wait_for "the exporter's listening address" exporter_addr
EXPORTER_URL="http://$EXPORTER_ADDR"
echo "    $EXPORTER_URL (directory from PROMETHEUS_MULTIPROC_DIR=$PROMETHEUS_MULTIPROC_DIR)"
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$EXPORTER_URL/mark-dead/1")
[[ "$status" == 401 ]] || fail "mark-dead without the token answered $status, want 401"
echo "    ok: mark-dead without the token is refused (401)"

# 2. Prometheus early (it takes a moment to start), with the example config pointed at the
#    exporter and a 1s interval.
PROM_PORT=$("$PYTHON" -c "import sys; sys.path.insert(0, 'scripts/lib'); import testkit; print(testkit.free_port())")
sed -e "s/127.0.0.1:8987/$EXPORTER_ADDR/" -e 's/scrape_interval: .*/scrape_interval: 1s/' \
    -e 's/scrape_timeout: .*/scrape_timeout: 1s/' examples/prometheus/prometheus.yml >"$WORK/prometheus.yml"
step "starting $PROMETHEUS on 127.0.0.1:$PROM_PORT with examples/prometheus/prometheus.yml"
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PROMETHEUS_PID=$!

# 3. gunicorn with the example app and config; workers recycled every MAX_REQUESTS requests.
step "starting gunicorn: $WORKERS workers, max_requests=$MAX_REQUESTS (jitter 0)"
MULTIPROC_EXPORTER_URL="$EXPORTER_URL" MULTIPROC_EXPORTER_TOKEN="$TOKEN" \
  "$GUNICORN" --chdir examples/gunicorn -c examples/gunicorn/gunicorn.conf.py --bind 127.0.0.1:0 \
  --workers "$WORKERS" --max-requests "$MAX_REQUESTS" --max-requests-jitter 0 \
  --error-logfile "$WORK/gunicorn.log" --log-level info &
GUNICORN_PID=$!
app_addr() { APP_ADDR=$(sed -n 's/.*Listening at: http:\/\/\([0-9.:]*\) .*/\1/p' "$WORK/gunicorn.log" 2>/dev/null | head -1); alive "$GUNICORN_PID" gunicorn; [[ -n "$APP_ADDR" ]]; }
wait_for "gunicorn's listening address" app_addr
echo "    http://$APP_ADDR"

# 4. Load, then wait until every recycled worker's exit went through child_exit.
if [[ $COMPACTION == 1 ]]; then
  step "(e) a scraper polls /metrics every 50 ms for counters going down"
  $CHECK watch "$EXPORTER_URL" "$WORK/stop-watch" "$WORK/watch.json" &
  WATCH_PID=$!
fi
step "sending $REQUESTS requests, one connection each"
$CHECK load "http://$APP_ADDR" "$REQUESTS" "$WORK/expected.json"
live_worker_pids() { ps -o pid= --ppid "$GUNICORN_PID" | tr -d ' ' | sort; }
livesum_pids() { ls "$PROMETHEUS_MULTIPROC_DIR" | sed -n 's/^gauge_livesum_\([0-9]*\)\.db$/\1/p' | sort -u; }
settled() {  # every autorestart has been followed by a child_exit call, and all workers are up
  local restarts handled
  restarts=$(grep -c 'Autorestarting worker' "$WORK/gunicorn.log" || true)
  handled=$(grep -cE 'mark-dead pid [0-9]+ via exporter' "$WORK/gunicorn.log" || true)
  alive "$GUNICORN_PID" gunicorn
  [[ $restarts -gt 0 && $restarts -eq $handled && $(live_worker_pids | wc -l) -eq $WORKERS \
     && "$(live_worker_pids)" == "$(livesum_pids)" ]]
}
wait_for "gunicorn to settle after recycling its workers" settled
RECYCLED=$(grep -c 'Autorestarting worker' "$WORK/gunicorn.log")
echo "    $RECYCLED workers recycled; live workers: $(live_worker_pids | tr '\n' ' ')"
if [[ $COMPACTION == 1 ]]; then
  # Every recycled worker's files folded: only the live workers' pids and the archives' (0) left.
  folded() { alive "$EXPORTER_PID" exporter; [[ -z "$(ls "$PROMETHEUS_MULTIPROC_DIR" | sed -n 's/^[a-z_]*_\([0-9]*\)\.db$/\1/p' | sort -u | grep -vxF -e 0 $(live_worker_pids | sed 's/^/-e /'))" ]]; }
  wait_for "the dead workers' files to be folded" folded
  touch "$WORK/stop-watch"
  wait "$WATCH_PID"
  $CHECK watched "$WORK/watch.json" 100
  step "(f) the directory holds the live workers' files and the archives"
  files=$(ls "$PROMETHEUS_MULTIPROC_DIR" | grep -c '\.db$')
  archives=$(ls "$PROMETHEUS_MULTIPROC_DIR" | grep -c '_0\.db$')
  (( files <= WORKERS * 5 + 7 )) || fail "$files .db files after $RECYCLED recycles: $(ls "$PROMETHEUS_MULTIPROC_DIR" | tr '\n' ' ')"
  ! ls "$PROMETHEUS_MULTIPROC_DIR" | grep -qE '\.(folding\.db|tmp)$' || fail "leftovers of a pass: $(ls "$PROMETHEUS_MULTIPROC_DIR" | grep -E '\.(folding\.db|tmp)$')"
  echo "    ok: $files .db files ($archives archives) for $WORKERS live workers after $RECYCLED recycles"
fi

# (a) and the other merged values.
step "(a) counts the exporter serves"
$CHECK counts "$EXPORTER_URL" "$WORK/expected.json" "$WORKERS"

# (b) dead workers' live* files were removed over HTTP.
step "(b) live* gauge files of recycled workers removed over HTTP"
[[ "$(live_worker_pids)" == "$(livesum_pids)" ]] || fail "gauge_livesum files of pids $(livesum_pids | tr '\n' ' ') but live workers $(live_worker_pids | tr '\n' ' ')"
echo "    ok: gauge_livesum_<pid>.db files exist for the $WORKERS live workers only"
removed=$($CHECK value "$EXPORTER_URL" multiproc_exporter_mark_dead_requests_total result=removed)
[[ "$removed" == "$RECYCLED.0" ]] || fail "multiproc_exporter_mark_dead_requests_total{result=\"removed\"} = $removed, want $RECYCLED"
echo "    ok: multiproc_exporter_mark_dead_requests_total{result=\"removed\"} = $removed = workers recycled"
! grep -q 'falling back' "$WORK/gunicorn.log" || fail "the child_exit hook fell back to mark_process_dead: $(grep -m1 'falling back' "$WORK/gunicorn.log")"
echo "    ok: no fallback to prometheus_client's mark_process_dead in gunicorn's log"

# (c) the merged output equals Python's.
step "(c) exporter output == prometheus_client MultiProcessCollector on the same directory"
$CHECK compare "$EXPORTER_URL" "$PROMETHEUS_MULTIPROC_DIR"

# (d) a real Prometheus.
query() {  # prints the first result's value of an instant query, or nothing
  curl -fsS --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    "$PYTHON" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
step "(d) $("$PROMETHEUS" --version 2>&1 | head -1 | cut -d' ' -f1-3) scrapes the exporter"
prometheus_sees() { alive "$PROMETHEUS_PID" prometheus; [[ "$(query 'up{job="multiproc-exporter"}')" == 1 && "$(query 'sum(app_requests_total)')" == "$REQUESTS" ]]; }
wait_for 'up{job="multiproc-exporter"} == 1 and sum(app_requests_total) == '"$REQUESTS" prometheus_sees
echo "    ok: up{job=\"multiproc-exporter\"} == 1, sum(app_requests_total) == $REQUESTS"

echo "    (directory: $(ls "$PROMETHEUS_MULTIPROC_DIR" | wc -l) files, $(du -sk "$PROMETHEUS_MULTIPROC_DIR" | cut -f1) KiB on disk, $(du -sk --apparent-size "$PROMETHEUS_MULTIPROC_DIR" | cut -f1) KiB apparent)"
echo "PASS: gunicorn end to end in $((SECONDS - started))s"
