#!/usr/bin/env bash
# Local use: the exporter and gunicorn side by side, as in production.
#
#   examples/gunicorn/start.sh            then: curl localhost:8000/  and  curl localhost:8987/metrics
#
# The exporter binary is $MULTIPROC_EXPORTER_BIN, else multiproc-exporter on PATH, else this
# checkout's release build (`make release`). Ctrl-C stops both.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

# Before Python starts: prometheus_client picks multiprocess mode when it is imported.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-${XDG_RUNTIME_DIR:-/tmp}/multiproc-example}
export MULTIPROC_EXPORTER_URL=${MULTIPROC_EXPORTER_URL:-http://127.0.0.1:8987}
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"

BIN=${MULTIPROC_EXPORTER_BIN:-$(command -v multiproc-exporter || echo "$HERE/../../.build/release/multiproc-exporter")}
[[ -x "$BIN" ]] || { echo "no exporter binary at $BIN: run 'make release' or set MULTIPROC_EXPORTER_BIN" >&2; exit 1; }

# Loopback only, no token: mark-dead is then allowed from loopback clients only, which is
# exactly gunicorn's master. With a token, pass --web.admin-token-file and export
# MULTIPROC_EXPORTER_TOKEN for gunicorn (see the Kubernetes example).
# setsid: Ctrl-C reaches gunicorn only, so the exporter still answers the child_exit calls
# of gunicorn's shutdown; the trap stops it afterwards.
# --compaction: the files of recycled workers (max_requests) are folded into archives a
# minute after child_exit marked them dead, so the directory stays small (README: Compaction).
setsid "$BIN" serve --web.listen-address "${MULTIPROC_EXPORTER_URL#http://}" --compaction &
EXPORTER_PID=$!
trap 'kill "$EXPORTER_PID" 2>/dev/null; wait "$EXPORTER_PID" 2>/dev/null || true' EXIT

echo "app:      http://${GUNICORN_BIND:-127.0.0.1:8000}/"
echo "metrics:  $MULTIPROC_EXPORTER_URL/metrics   (dir: $PROMETHEUS_MULTIPROC_DIR)"
gunicorn --chdir "$HERE" -c "$HERE/gunicorn.conf.py" "$@"
