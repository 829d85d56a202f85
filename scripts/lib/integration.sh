# Shared by the integration scripts (sourced): messages, cleanup of what they started, and
# starting the exporter on a free port.
#
#   WORK=$(mktemp -d ...); source scripts/lib/integration.sh; trap cleanup EXIT INT TERM
#   start_exporter "$BIN" "$WORK/exporter.log" --multiproc-dir ...   # sets EXPORTER_PID, EXPORTER_ADDR

step() { echo "==> $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# Processes to stop at exit, newest first.
STARTED_PIDS=()

# Stops every started process; on failure shows the end of every log in $WORK; removes $WORK.
cleanup() {
  local rc=$? pid log
  for ((i = ${#STARTED_PIDS[@]} - 1; i >= 0; i--)); do
    pid=${STARTED_PIDS[i]}
    kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  done
  if [[ $rc -ne 0 ]]; then
    for log in "$WORK"/*.log; do [[ -f "$log" ]] && { echo "--- ${log##*/}"; tail -20 "$log"; }; done
  fi
  rm -rf "$WORK"
  exit $rc
}

# start_exporter BIN LOG [serve flags...]: `serve` on 127.0.0.1:0, waits for the address it logs.
start_exporter() {
  local bin=$1 log=$2
  shift 2
  "$bin" serve --web.listen-address 127.0.0.1:0 "$@" 2>"$log" &
  EXPORTER_PID=$!
  STARTED_PIDS+=("$EXPORTER_PID")
  EXPORTER_ADDR=""
  for _ in $(seq 100); do
    EXPORTER_ADDR=$(sed -n 's/.*msg=listening address=\([0-9.:]*\).*/\1/p' "$log" | head -1)
    [[ -n "$EXPORTER_ADDR" ]] && return 0
    kill -0 "$EXPORTER_PID" 2>/dev/null || fail "exporter exited at start: $(tail -1 "$log")"
    sleep 0.1
  done
  fail "exporter did not log its listening address"
}

# start_prometheus CONFIG: Prometheus (${PROMETHEUS:-prometheus}) with its own storage in $WORK
# on a free port; sets PROM_PORT and PROMETHEUS_PID. CONFIG is written by the caller, which
# may use the port through `free_port` first.
free_port() { "${PYTHON:-python3}" -c "import sys; sys.path.insert(0, '$(dirname "${BASH_SOURCE[0]}")'); import testkit; print(testkit.free_port())"; }
start_prometheus() {
  PROM_PORT=$(free_port)
  step "starting ${PROMETHEUS:-prometheus} on 127.0.0.1:$PROM_PORT"
  "${PROMETHEUS:-prometheus}" --config.file="$1" --storage.tsdb.path="$WORK/tsdb" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
  PROMETHEUS_PID=$!
  STARTED_PIDS+=("$PROMETHEUS_PID")
}

# query PROMQL: the first result's value of an instant query, or nothing.
query() {
  curl -fsS --get "http://127.0.0.1:$PROM_PORT/api/v1/query" --data-urlencode "query=$1" 2>/dev/null |
    "${PYTHON:-python3}" -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null || true
}
