#!/usr/bin/env bash
# Local use: the exporter (with --auto-mark-dead) and uWSGI side by side, as in production.
#
#   examples/uwsgi/start.sh            then: curl localhost:8000/  and  curl localhost:8987/metrics
#
# Needs uWSGI with Python 3 (Debian: apt install uwsgi-core uwsgi-plugin-python3) and
# prometheus-client importable by it. The exporter binary is $MULTIPROC_EXPORTER_BIN, else
# multiproc-exporter on PATH, else this checkout's release build (`make release`). Ctrl-C
# stops both. Extra arguments go to uwsgi; APP_LISTEN sets the app's address.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

# Before Python starts: prometheus_client picks multiprocess mode when it is imported.
export PROMETHEUS_MULTIPROC_DIR=${PROMETHEUS_MULTIPROC_DIR:-${XDG_RUNTIME_DIR:-/tmp}/multiproc-uwsgi-example}
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
# Files of the previous run would be merged into this one (uWSGI has no on_starting hook:
# empty it here). Only *.db: the directory itself may be a mount.
find "$PROMETHEUS_MULTIPROC_DIR" -maxdepth 1 -name '*.db' -delete

BIN=${MULTIPROC_EXPORTER_BIN:-$(command -v multiproc-exporter || echo "$HERE/../../.build/release/multiproc-exporter")}
[[ -x "$BIN" ]] || { echo "no exporter binary at $BIN: run 'make release' or set MULTIPROC_EXPORTER_BIN" >&2; exit 1; }

# Same host, same pid namespace: the exporter sees uWSGI's workers in /proc.
LISTEN=${MULTIPROC_EXPORTER_LISTEN:-127.0.0.1:8987}
setsid "$BIN" serve --web.listen-address "$LISTEN" --auto-mark-dead &
EXPORTER_PID=$!
trap 'kill "$EXPORTER_PID" 2>/dev/null; wait "$EXPORTER_PID" 2>/dev/null || true' EXIT

export APP_LISTEN=${APP_LISTEN:-127.0.0.1:8000}
echo "app:      http://$APP_LISTEN/"
echo "metrics:  http://$LISTEN/metrics   (dir: $PROMETHEUS_MULTIPROC_DIR)"
cd "$HERE"
uwsgi --ini "$HERE/uwsgi.ini" "$@"
