#!/usr/bin/env bash
# A real Prometheus scrapes the exporter over HTTPS with basic_auth and a client certificate,
# configured by --web.config.file (exporter-toolkit's format):
#   openssl makes a CA, a server certificate for 127.0.0.1 and a client certificate; htpasswd
#   (Apache's bcrypt) hashes the password; prometheus_client workers write the directory;
#   Prometheus scrapes with `scheme: https`, `tls_config` and `basic_auth` -> up == 1 and the
#   merged value arrives; a second job with a wrong password must stay down with a 401, and a
#   third without a client certificate must fail its handshake. Then gunicorn's child_exit hook
#   (examples/gunicorn/gunicorn.conf.py) marks a worker dead over HTTPS with the admin token.
#
# usage: scripts/integration-tls.sh [path/to/multiproc-exporter]
# needs: prometheus, openssl, htpasswd (apache2-utils), curl, python3 with prometheus-client==0.26.0
set -euo pipefail

BIN=${1:-.build/debug/multiproc-exporter}
PROMETHEUS=${PROMETHEUS:-prometheus}
PYTHON=${PYTHON:-python3}
WAIT_SECONDS=${WAIT_SECONDS:-60}

[[ -x "$BIN" ]] || { echo "FAIL: exporter binary $BIN not found (build it first)" >&2; exit 1; }
for tool in "$PROMETHEUS" openssl htpasswd curl "$PYTHON"; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool not found" >&2; exit 1; }
done

WORK=$(mktemp -d -t multiproc-tls.XXXXXX)
source "$(dirname "$0")/lib/integration.sh"
trap cleanup EXIT INT TERM

# 1. Certificates and the password hash, made by the real tools.
step "openssl: CA, server certificate (IP:127.0.0.1), client certificate (DNS:prometheus.test); htpasswd: bcrypt"
cd "$WORK"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca 2>/dev/null
issue() {  # name subject san usage
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf 'subjectAltName=%s\nextendedKeyUsage=%s\n' "$3" "$4" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.crt" -days 2 -extfile "$1.ext" 2>/dev/null
}
issue server /CN=exporter IP:127.0.0.1 serverAuth
issue client /CN=prometheus DNS:prometheus.test clientAuth
PASSWORD="s3cret-$RANDOM$RANDOM"
printf '%s' "$PASSWORD" >password
printf 'wrong' >wrong-password
HASH=$(htpasswd -nbBC 10 "" "$PASSWORD" | tr -d ':\n')
cat >web-config.yml <<YML
tls_server_config:
  cert_file: server.crt
  key_file: server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ca.pem
  client_allowed_sans: [prometheus.test]
http_server_config:
  headers:
    X-Content-Type-Options: nosniff
basic_auth_users:
  prometheus: $HASH
YML
cd - >/dev/null

# 2. Real prometheus_client workers write the directory.
export PROMETHEUS_MULTIPROC_DIR="$WORK/multiproc"
mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
EXPECTED=$("$PYTHON" - <<'PY'
import os
from prometheus_client import Counter
requests = Counter("app_requests", "Requests handled.", ["route"])
total, children = 0, []
for worker in range(3):
    n = 5 * (worker + 1)
    total += n
    pid = os.fork()
    if pid == 0:
        requests.labels("/api").inc(n)
        os._exit(0)
    children.append(pid)
for pid in children:
    assert os.waitpid(pid, 0)[1] == 0
print(total)
PY
)

# 3. The exporter with the web config.
step "starting $BIN serve --web.config.file (TLS, client certificates, basic auth)"
start_exporter "$BIN" "$WORK/exporter.log" --multiproc-dir "$PROMETHEUS_MULTIPROC_DIR" \
  --web.config.file "$WORK/web-config.yml"
echo "    listening on https://$EXPORTER_ADDR"
CURL=(curl -sS --cacert "$WORK/ca.pem" --cert "$WORK/client.crt" --key "$WORK/client.key")
[[ $("${CURL[@]}" -o /dev/null -w '%{http_code}' "https://$EXPORTER_ADDR/metrics") == 401 ]] || fail "no credentials: want 401"
[[ $("${CURL[@]}" -u "prometheus:$PASSWORD" -o /dev/null -w '%{http_code}' "https://$EXPORTER_ADDR/metrics") == 200 ]] \
  || fail "curl with credentials: want 200"
echo "    curl: 401 without credentials, 200 with them"

# 4. Prometheus: one good job, one with a wrong password, one without a client certificate.
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: multiproc-https
    scheme: https
    tls_config: {ca_file: $WORK/ca.pem, cert_file: $WORK/client.crt, key_file: $WORK/client.key}
    basic_auth: {username: prometheus, password_file: $WORK/password}
    static_configs: [{targets: ["$EXPORTER_ADDR"]}]
  - job_name: wrong-password
    scheme: https
    tls_config: {ca_file: $WORK/ca.pem, cert_file: $WORK/client.crt, key_file: $WORK/client.key}
    basic_auth: {username: prometheus, password_file: $WORK/wrong-password}
    static_configs: [{targets: ["$EXPORTER_ADDR"]}]
  - job_name: no-client-certificate
    scheme: https
    tls_config: {ca_file: $WORK/ca.pem}
    basic_auth: {username: prometheus, password_file: $WORK/password}
    static_configs: [{targets: ["$EXPORTER_ADDR"]}]
YML
start_prometheus "$WORK/prometheus.yml"

last_error() {
  curl -fsS "http://127.0.0.1:$PROM_PORT/api/v1/targets" 2>/dev/null |
    "$PYTHON" -c 'import json,sys; t=[t for t in json.load(sys.stdin)["data"]["activeTargets"] if t["labels"]["job"]==sys.argv[1]]; print(t[0]["lastError"] if t else "")' "$1" 2>/dev/null || true
}

step "waiting up to ${WAIT_SECONDS}s for up{job=\"multiproc-https\"} == 1"
deadline=$((SECONDS + WAIT_SECONDS))
until [[ "$(query 'up{job="multiproc-https"}')" == "1" && -n "$(last_error wrong-password)" && -n "$(last_error no-client-certificate)" ]]; do
  kill -0 "$PROMETHEUS_PID" 2>/dev/null || fail "prometheus exited"
  kill -0 "$EXPORTER_PID" 2>/dev/null || fail "exporter exited"
  (( SECONDS < deadline )) || fail "up{job=\"multiproc-https\"} = '$(query 'up{job="multiproc-https"}')' after ${WAIT_SECONDS}s: $(last_error multiproc-https)"
  sleep 0.5
done
echo "    up == 1 over HTTPS with basic_auth and a client certificate"
got=$(query 'sum(app_requests_total{job="multiproc-https"})')
[[ "$got" == "$EXPECTED" ]] || fail "app_requests_total = '$got', want $EXPECTED"
echo "    ok: sum(app_requests_total) = $got (3 workers)"
[[ "$(query 'up{job="wrong-password"}')" == "0" ]] || fail "the wrong-password job is up"
last_error wrong-password | grep -q 401 || fail "wrong-password: want a 401, got: $(last_error wrong-password)"
echo "    ok: wrong password -> up 0 ($(last_error wrong-password))"
[[ "$(query 'up{job="no-client-certificate"}')" == "0" ]] || fail "the job without a client certificate is up"
echo "    ok: no client certificate -> up 0 ($(last_error no-client-certificate))"
[[ "$(query 'multiproc_exporter_web_config_last_reload_successful{job="multiproc-https"}')" == "1" ]] \
  || fail "multiproc_exporter_web_config_last_reload_successful missing"

# 5. The gunicorn hook over HTTPS: a second exporter with TLS and basic auth (no client
#    certificates: the hook has none) and an admin token, which the mark-dead route takes.
step "gunicorn.conf.py's child_exit hook: POST https://127.0.0.1/mark-dead/<pid> with the bearer token"
printf 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: %s\n' "$HASH" \
  >"$WORK/web-config-hook.yml"
TOKEN="token-$RANDOM$RANDOM"
printf '%s\n' "$TOKEN" >"$WORK/token"
kill "$EXPORTER_PID"; wait "$EXPORTER_PID" 2>/dev/null || true
start_exporter "$BIN" "$WORK/exporter-hook.log" --multiproc-dir "$PROMETHEUS_MULTIPROC_DIR" \
  --web.admin-token-file "$WORK/token" --web.config.file "$WORK/web-config-hook.yml"
"$PYTHON" - "$PROMETHEUS_MULTIPROC_DIR" <<PY || fail "the hook did not mark the worker dead over HTTPS"
import importlib.util, os, sys
from prometheus_client import Gauge
directory = sys.argv[1]
pid = os.fork()
if pid == 0:
    Gauge("app_inflight", "In flight.", multiprocess_mode="livesum").set(1)
    os._exit(0)
os.waitpid(pid, 0)
assert os.path.exists(os.path.join(directory, f"gauge_livesum_{pid}.db"))
os.environ.update(MULTIPROC_EXPORTER_URL="https://$EXPORTER_ADDR", MULTIPROC_EXPORTER_TOKEN="$TOKEN",
                  MULTIPROC_EXPORTER_CA_FILE="$WORK/ca.pem")
spec = importlib.util.spec_from_file_location("gunicorn_conf", "examples/gunicorn/gunicorn.conf.py")
conf = importlib.util.module_from_spec(spec)
spec.loader.exec_module(conf)
class Log:
    def info(self, *a): print("    hook:", a[0] % a[1:])
    def warning(self, *a): print("    hook WARNING:", a[0] % a[1:]); sys.exit(1)
    error = warning
class Server: log = Log()
class Worker: pass
worker = Worker(); worker.pid = pid
conf.mark_dead_via_exporter(Server(), worker)
assert not os.path.exists(os.path.join(directory, f"gauge_livesum_{pid}.db"))
PY
echo "    ok: the exporter removed the worker's live gauge file"

echo "PASS: Prometheus $("$PROMETHEUS" --version 2>&1 | head -1 | awk '{print $3}') scraped over HTTPS with basic_auth and a client certificate; the gunicorn hook marked a worker dead over HTTPS"
