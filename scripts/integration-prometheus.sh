#!/usr/bin/env bash
# End-to-end check against a real Prometheus:
#   real prometheus_client workers write a multiprocess directory -> multiproc-exporter serves it
#   -> prometheus scrapes it -> the query API sees the merged values; promtool lints a scrape.
#
# usage: scripts/integration-prometheus.sh [path/to/multiproc-exporter]
# needs: python3 with prometheus-client==0.26.0, prometheus, promtool, curl (builds nothing)
set -euo pipefail

BIN=${1:-.build/debug/multiproc-exporter}
PROMETHEUS=${PROMETHEUS:-prometheus}
PROMTOOL=${PROMTOOL:-promtool}
PYTHON=${PYTHON:-python3}
WAIT_SECONDS=${WAIT_SECONDS:-60}

[[ -x "$BIN" ]] || { echo "FAIL: exporter binary $BIN not found (build it first)" >&2; exit 1; }
for tool in "$PROMETHEUS" "$PROMTOOL" curl "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found" >&2; exit 1; }
done

WORK=$(mktemp -d -t multiproc-integration.XXXXXX)
source "$(dirname "$0")/lib/integration.sh"
trap cleanup EXIT INT TERM

# 1. Three forked workers write counters, histograms and gauges with the real client.
export PROMETHEUS_MULTIPROC_DIR="$WORK/multiproc"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
step "writing $PROMETHEUS_MULTIPROC_DIR from 3 forked prometheus_client workers"
EXPECTED=$("$PYTHON" - <<'PY'
import os
from prometheus_client import Counter, Gauge, Histogram

requests = Counter("app_requests", "Requests handled.", ["route"])
latency = Histogram("app_request_duration_seconds", "Request latency.", ["route"])
inflight = Gauge("app_inflight_requests", "Requests in flight.", multiprocess_mode="livesum")
memory = Gauge("app_worker_memory_bytes", "Worker memory.", multiprocess_mode="all")

total = 0
children = []
for worker in range(3):
    n = 10 * (worker + 1)
    total += n
    pid = os.fork()
    if pid == 0:
        for i in range(n):
            requests.labels("/api").inc()
            latency.labels("/api").observe(0.001 * i)
        inflight.inc(worker + 1)
        memory.set(1_000_000 * (worker + 1))
        os._exit(0)
    children.append(pid)
for pid in children:
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
print(total)
PY
)
echo "    workers wrote app_requests_total{route=\"/api\"} = $EXPECTED in total; files: $(ls "$PROMETHEUS_MULTIPROC_DIR" | wc -l)"

# 2. The exporter on an ephemeral port; it logs the address it bound.
step "starting $BIN serve on 127.0.0.1:0"
start_exporter "$BIN" "$WORK/exporter.log" --multiproc-dir "$PROMETHEUS_MULTIPROC_DIR"
echo "    exporter listening on $EXPORTER_ADDR"

# 3. Prometheus scraping it every second, with its own storage and a free port.
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: multiproc
    static_configs:
      - targets: ["$EXPORTER_ADDR"]
YML
start_prometheus "$WORK/prometheus.yml"

step "waiting up to ${WAIT_SECONDS}s for up{job=\"multiproc\"} == 1"
deadline=$((SECONDS + WAIT_SECONDS))
until [[ "$(query 'up{job="multiproc"}')" == "1" ]]; do
  kill -0 "$PROMETHEUS_PID" 2>/dev/null || fail "prometheus exited"
  kill -0 "$EXPORTER_PID" 2>/dev/null || fail "exporter exited"
  (( SECONDS < deadline )) || fail "target not up after ${WAIT_SECONDS}s"
  sleep 0.5
done
echo "    up == 1"

# 4. Merged values as Prometheus stored them.
check_query() {  # query expected description
  local got
  got=$(query "$1")
  [[ "$got" == "$2" ]] || fail "$1 = '$got', want '$2' ($3)"
  echo "    ok: $1 = $got ($3)"
}
step "checking merged values through the query API"
check_query 'sum(app_requests_total{job="multiproc"})' "$EXPECTED" "counter summed across 3 workers"
check_query 'sum(app_request_duration_seconds_count{job="multiproc"})' "$EXPECTED" "histogram _count = cumulative total"
check_query 'app_inflight_requests{job="multiproc"}' "6" "livesum gauge 1+2+3"
check_query 'count(app_worker_memory_bytes{job="multiproc"} > 0)' "3" "gauge mode all: one series per worker pid (the parent's 0 aside)"
check_query 'multiproc_exporter_files{job="multiproc",type="counter"}' "3" "self-metric: counter files"
check_query 'sum(multiproc_exporter_file_errors_total{job="multiproc"})' "0" "self-metric: no file problems"

# 5. promtool lint of a scrape: nothing may concern a metric the exporter adds.
step "promtool check metrics on a scrape of http://$EXPORTER_ADDR/metrics"
set +e
LINT=$(curl -fsS "http://$EXPORTER_ADDR/metrics" | "$PROMTOOL" check metrics 2>&1)
LINT_RC=$?
set -e
if [[ -n "$LINT" ]]; then echo "$LINT" | sed 's/^/    promtool: /'; else echo "    promtool: no findings"; fi
if echo "$LINT" | grep -Eq 'multiproc_exporter_|process_|multiproc_worker|multiproc_parent'; then
  fail "promtool reports problems with the exporter's own metrics"
fi
if echo "$LINT" | grep -Eqi 'error while linting|parse|invalid'; then
  fail "promtool could not parse the exposition"
fi
[[ $LINT_RC -eq 0 ]] || echo "    (promtool exit $LINT_RC: findings concern application metrics only)"

# 6. OpenMetrics: promtool's linter only understands the text format (it flags every OpenMetrics
#    counter, Python's own included, as lacking help), so check the framing here; Prometheus
#    itself asks for OpenMetrics first, so step 4 already parsed it.
step "OpenMetrics scrape ends with exactly one # EOF after the exporter's metrics"
OM=$(curl -fsS -H 'Accept: application/openmetrics-text; version=1.0.0' "http://$EXPORTER_ADDR/metrics")
[[ "$(tail -n1 <<<"$OM")" == "# EOF" ]] || fail "OpenMetrics body does not end with # EOF"
[[ $(grep -c '^# EOF' <<<"$OM") -eq 1 ]] || fail "more than one # EOF"
grep -q '^process_start_time_seconds ' <<<"$OM" || fail "self-metrics missing from the OpenMetrics body"
echo "    ok"

echo "PASS: integration with $("$PROMETHEUS" --version 2>&1 | head -1)"
