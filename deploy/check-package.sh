#!/usr/bin/env bash
# Checks what `make dist` wrote into dist/ (make test-package runs make dist first):
#   1. sha256sums.txt matches; the tarball holds the binary, docs, unit, defaults file, man
#      page, completions and examples/; its binary is the package's and reports the version;
#   2. the package: its layout, the conffile, Depends: with libevent, libyaml and no Swift library, the
#      man page covering every subcommand the binary has (from --experimental-dump-help) with
#      no groff warning, the bash completion loading; lintian with no error or warning;
#      systemd-analyze verify on the unit it installs;
#   3. only as root (ROOTFS=1, the default for root; debootstrap and Debian's mirror): in a
#      debootstrap --variant=minbase bookworm root (deploy/bookworm-root.sh), where systemd
#      seems to run (/run/systemd/system, systemctl and deb-systemd-invoke record their calls):
#      `apt-get install ./<package>.deb` pulls libevent and the rest from the mirror, the
#      maintainer scripts reload systemd but never enable or start the service (a reinstall
#      only try-restarts it), dpkg --verify passes, `multiproc-exporter --version` and
#      `man -w multiproc-exporter` work; the unit's ExecStart= runs as systemd would start it
#      (EnvironmentFile=, an unprivileged uid) and serves a directory written by
#      prometheus_client: /healthz and /metrics answer from inside the root; purge stops the
#      service and removes the conffile.
#
# usage: deploy/check-package.sh [DIST]    (default dist/; as root about a minute, mostly apt)
# needs: dpkg-dev, lintian, systemd (systemd-analyze), man-db, curl, python3 with
#        prometheus_client; as root also debootstrap
set -euo pipefail
cd "$(dirname "$0")/.."

DIST=${1:-dist}
ROOTFS=${ROOTFS:-$([[ $(id -u) == 0 ]] && echo 1 || echo 0)}
WORK_PREFIX=multiproc-package source deploy/check-lib.sh
for tool in dpkg-deb lintian systemd-analyze man curl python3; do
  command -v "$tool" >/dev/null || fail "$tool not found (make deps-dist installs it)"
done
started=$SECONDS

shopt -s nullglob
debs=("$DIST"/multiproc-exporter_*.deb) tarballs=("$DIST"/multiproc-exporter-*.tar.gz)
shopt -u nullglob
[[ ${#debs[@]} == 1 && ${#tarballs[@]} == 1 ]] || fail "expected one .deb and one .tar.gz in $DIST/ (run make dist)"
DEB=${debs[0]} TARBALL=${tarballs[0]}
PACKAGE_VERSION=$(dpkg-deb --field "$DEB" Version)
VERSION=${PACKAGE_VERSION%-*}
ARCH=$(dpkg --print-architecture)

step "dist/: checksums and the tarball"
(cd "$DIST" && sha256sum --check --quiet sha256sums.txt) || fail "sha256sums.txt does not match"
[[ $(wc -l <"$DIST/sha256sums.txt") == 2 ]] || fail "sha256sums.txt should list the tarball and the package"
TOP=multiproc-exporter-$VERSION.linux-$ARCH
[[ ${TARBALL##*/} == "$TOP.tar.gz" ]] || fail "tarball ${TARBALL##*/} is not named $TOP.tar.gz"
tar -C "$WORK" -xzf "$TARBALL"
for f in multiproc-exporter LICENSE README.md CHANGELOG.md systemd/multiproc-exporter.service \
         systemd/multiproc-exporter.default systemd/auto-mark-dead.conf man/multiproc-exporter.1 completions/multiproc-exporter \
         completions/_multiproc-exporter completions/multiproc-exporter.fish $(git ls-files examples); do
  [[ -f "$WORK/$TOP/$f" ]] || fail "the tarball lacks $TOP/$f"
done
[[ $(tar -tzf "$TARBALL" | grep -cv "^$TOP/") == 0 ]] || fail "the tarball has entries outside $TOP/"
[[ $("$WORK/$TOP/multiproc-exporter" --version) == "$VERSION" ]] || fail "the tarball's binary does not report $VERSION"
echo "    ok: ${TARBALL##*/} ($(tar -tzf "$TARBALL" | grep -vc '/$') files), its binary reports $VERSION"

step "package ${DEB##*/}: layout, conffile, Depends"
PKG=$WORK/package
dpkg-deb --extract "$DEB" "$PKG"
dpkg-deb --control "$DEB" "$WORK/control"
for f in /usr/bin/multiproc-exporter /lib/systemd/system/multiproc-exporter.service /etc/default/multiproc-exporter \
         /usr/share/man/man1/multiproc-exporter.1.gz /usr/share/bash-completion/completions/multiproc-exporter \
         /usr/share/zsh/vendor-completions/_multiproc-exporter /usr/share/fish/vendor_completions.d/multiproc-exporter.fish \
         /usr/share/doc/multiproc-exporter/copyright /usr/share/doc/multiproc-exporter/changelog.Debian.gz \
         /usr/share/doc/multiproc-exporter/changelog.gz; do
  [[ -f "$PKG$f" ]] || fail "the package lacks $f"
done
cmp -s "$PKG/usr/bin/multiproc-exporter" "$WORK/$TOP/multiproc-exporter" || fail "the tarball's and the package's binaries differ"
[[ $(cat "$WORK/control/conffiles") == /etc/default/multiproc-exporter ]] || fail "conffiles: $(cat "$WORK/control/conffiles")"
DEPENDS=$(dpkg-deb --field "$DEB" Depends)
[[ $DEPENDS == *libevent-2.1-7* && $DEPENDS == *libyaml-0-2* && $DEPENDS == *libc6* ]] \
  || fail "Depends: lacks libevent, libyaml or libc: $DEPENDS"
[[ $DEPENDS != *swift* ]] || fail "Depends: names a Swift package: $DEPENDS"
[[ $(grep -c '^ExecStart=/usr/bin/multiproc-exporter serve ' "$PKG/lib/systemd/system/multiproc-exporter.service") == 1 ]] \
  || fail "the package's unit does not start /usr/bin/multiproc-exporter serve"
echo "    ok: Depends: $DEPENDS"

step "man page and completions"
mapfile -t subcommands < <("$PKG/usr/bin/multiproc-exporter" --experimental-dump-help | python3 -c '
import json, sys
def names(command):
    for sub in command.get("subcommands", []):
        yield sub["commandName"]
        yield from names(sub)
print("\n".join(names(json.load(sys.stdin)["command"])))')
[[ ${#subcommands[@]} -ge 4 ]] || fail "the binary lists only ${#subcommands[@]} subcommands"
zcat "$PKG/usr/share/man/man1/multiproc-exporter.1.gz" >"$WORK/multiproc-exporter.1"
for name in "${subcommands[@]}"; do
  grep -qx "\.It Em $name" "$WORK/multiproc-exporter.1" || fail "the man page lacks the subcommand $name"
done
warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$WORK/multiproc-exporter.1" 2>&1 >/dev/null)
[[ -z "$warnings" ]] || fail "groff warnings in the man page: $warnings"
bash -c 'source "$1" && complete -p multiproc-exporter' _ "$PKG/usr/share/bash-completion/completions/multiproc-exporter" >/dev/null \
  || fail "the bash completion does not register multiproc-exporter"
echo "    ok: ${subcommands[*]} in the man page; bash completion loads"

step "lintian ${DEB##*/}"
findings=$(lintian --fail-on error,warning --display-info "$DEB" 2>&1) && status=0 || status=$?
grep -v 'running with root privileges' <<<"$findings" | sed 's/^/    /'
[[ $status == 0 ]] || fail "lintian reports errors or warnings (above)"
echo "    ok: no errors or warnings ($(lintian --version))"

# verify checks that ExecStart='s binary exists: a copy of the unit names the extracted one.
verify_unit() {  # unit file, root the package is in
  sed "s|^ExecStart=/usr/bin/multiproc-exporter |ExecStart=$2/usr/bin/multiproc-exporter |" "$1" >"$WORK/multiproc-exporter.service"
  findings=$(systemd-analyze verify "$WORK/multiproc-exporter.service" 2>&1) || fail "systemd-analyze verify: $findings"
  [[ -z "$findings" ]] || fail "systemd-analyze verify: $findings"
}

if [[ $ROOTFS != 1 ]]; then
  step "systemd-analyze verify the package's unit"
  verify_unit "$PKG/lib/systemd/system/multiproc-exporter.service" "$PKG"
  echo "    ok: no findings"
  echo "SKIPPED (not root): installing the package with apt-get in a debootstrap bookworm root, its maintainer"
  echo "        scripts, --version, man -w, and serving /healthz and /metrics from inside the root (run as root)"
  echo "PASS: deploy/check-package.sh (package built and linted; not installed) in $((SECONDS - started))s"
  exit 0
fi

step "apt-get install ./${DEB##*/} in a debootstrap --variant=minbase bookworm root"
for tool in chroot unshare; do command -v $tool >/dev/null || fail "$tool not found"; done
ROOT=$WORK/rootfs
deploy/bookworm-root.sh "$ROOT" >"$WORK/rootfs.log" 2>&1 || { tail -5 "$WORK/rootfs.log"; fail "deploy/bookworm-root.sh"; }
echo "    $(head -1 "$WORK/rootfs.log")"
# A command in the root, with /proc mounted in a mount namespace of its own (Swift finds its
# command line through /proc; dpkg and apt expect it too).
in_root() {
  unshare --mount --fork sh -c 'root=$1; shift; mount -t proc proc "$root/proc" && exec chroot "$root" "$@"' \
    sh "$ROOT" /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 "$@"
}
! in_root dpkg -s libevent-2.1-7 >/dev/null 2>&1 || fail "libevent is in the minbase root already: Depends: would go untested"
# As if systemd ran: the maintainer scripts then call these, which record the call and the
# package whose script made it instead of acting (in /usr/bin: dpkg runs maintainer scripts
# without /usr/local in PATH; the diversion keeps an upgrade from replacing the recorder).
mkdir -p "$ROOT/run/systemd/system"
in_root dpkg-divert --quiet --local --no-rename --add /usr/bin/deb-systemd-invoke
for command in systemctl deb-systemd-invoke; do
  printf '#!/bin/sh\necho "$DPKG_MAINTSCRIPT_PACKAGE: %s $*" >>/var/log/systemd-calls\n' "$command" >"$ROOT/usr/bin/$command"
  chmod 0755 "$ROOT/usr/bin/$command"
done
# The calls the package's own maintainer scripts made since the last call, joined with ";".
calls() { sed -n 's/^multiproc-exporter: //p' "$ROOT/var/log/systemd-calls" | tr '\n' ';'; : >"$ROOT/var/log/systemd-calls"; }
cp "$DEB" "$ROOT/tmp/"
in_root apt-get update -qq >"$WORK/apt.log" 2>&1 || { tail -5 "$WORK/apt.log"; fail "apt-get update in the root"; }
in_root apt-get install -y -q --no-install-recommends "/tmp/${DEB##*/}" man-db >"$WORK/apt.log" 2>&1 \
  || { tail -20 "$WORK/apt.log"; fail "apt-get install ./${DEB##*/} in the root"; }
for dependency in libevent-2.1-7 libyaml-0-2 multiproc-exporter; do
  in_root dpkg -s "$dependency" 2>/dev/null | grep -qx 'Status: install ok installed' || fail "$dependency is not installed"
done
in_root dpkg --verify multiproc-exporter || fail "dpkg --verify: installed files differ from the package"
echo "    ok: installed $PACKAGE_VERSION with $(grep -c '^Unpacking ' "$WORK/apt.log") packages from the mirror (libevent-2.1-7 and libyaml-0-2 among them); dpkg --verify passes"

calls=$(calls)
[[ $calls == "systemctl --system daemon-reload;" ]] || fail "install: maintainer scripts called: ${calls:-nothing} (want only daemon-reload)"
[[ -z $(find "$ROOT/etc/systemd/system" -name 'multiproc-exporter*' 2>/dev/null) ]] || fail "install enabled the service"
in_root apt-get install -y -q --reinstall "/tmp/${DEB##*/}" >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; fail "reinstall"; }
calls=$(calls)
[[ $calls == "systemctl --system daemon-reload;deb-systemd-invoke try-restart multiproc-exporter.service;" ]] \
  || fail "reinstall: maintainer scripts called: $calls (want daemon-reload, try-restart)"
echo "    ok: install only reloads systemd (not enabled, not started); a reinstall try-restarts"

step "the installed package inside the root"
[[ $(in_root multiproc-exporter --version) == "$VERSION" ]] || fail "multiproc-exporter --version in the root: $(in_root multiproc-exporter --version 2>&1)"
manpath=$(in_root man -w multiproc-exporter) || fail "man -w multiproc-exporter in the root"
[[ $manpath == /usr/share/man/man1/multiproc-exporter.1.gz ]] || fail "man -w found $manpath"
in_root dpkg-query --showformat='${Conffiles}\n' --show multiproc-exporter | grep -q '^ /etc/default/multiproc-exporter ' \
  || fail "/etc/default/multiproc-exporter is not a registered conffile"
# Without /proc the binary cannot see its arguments: it must say so, not print its help.
chroot "$ROOT" /usr/bin/multiproc-exporter --version >/dev/null 2>"$WORK/noproc.log" && status=0 || status=$?
[[ $status == 2 ]] && grep -q 'is /proc mounted?' "$WORK/noproc.log" \
  || fail "without /proc: exit $status, $(cat "$WORK/noproc.log") (want exit 2 and a hint at /proc)"
echo "    ok: --version $VERSION (without /proc: exit 2, \"$(cat "$WORK/noproc.log")\"); man -w: $manpath; conffile registered"

step "systemd-analyze verify the installed unit"
verify_unit "$ROOT/lib/systemd/system/multiproc-exporter.service" "$ROOT"
echo "    ok: no findings"

step "the unit's ExecStart= as systemd starts it: EnvironmentFile=, an unprivileged uid"
UNIT=$ROOT/lib/systemd/system/multiproc-exporter.service
exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
environment_file=$(sed -n 's/^EnvironmentFile=-\{0,1\}//p' "$UNIT")
[[ $environment_file == /etc/default/multiproc-exporter ]] || fail "unexpected EnvironmentFile=$environment_file"
PORT=$(free_port)
mkdir -p "$ROOT/run/app-metrics"
PROMETHEUS_MULTIPROC_DIR="$ROOT/run/app-metrics" python3 -c '
from prometheus_client import Counter
Counter("packaged_requests", "Requests served.", ["path"]).labels("/").inc(3)'
# The administrator's part: the directory, and where to listen (the conffile is edited in place).
sed -i -e 's|^PROMETHEUS_MULTIPROC_DIR=.*|PROMETHEUS_MULTIPROC_DIR=/run/app-metrics|' \
       -e "s|^OPTIONS=.*|OPTIONS=\"--web.listen-address=127.0.0.1:$PORT --log.format=logfmt\"|" "$ROOT$environment_file"
# EnvironmentFile= then ExecStart=: systemd splits an unquoted $OPTIONS at whitespace, as sh does.
printf '#!/bin/sh\nset -a\n. %s\nset +a\nexec %s\n' "$environment_file" "$exec_start" >"$ROOT/tmp/start-as-unit"
# DynamicUser=: a uid from systemd's dynamic range that no account has. Its own mount namespace
# for /proc (process_* metrics); same network namespace, so the host's curl reaches it.
unshare --mount --fork sh -c 'mount -t proc proc "$1/proc" && exec chroot --userspec=61234:61234 "$1" \
  /usr/bin/env -i PATH=/usr/bin:/bin /bin/sh /tmp/start-as-unit' sh "$ROOT" 2>"$WORK/exporter.log" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q 'msg=serving' "$WORK/exporter.log" && break; sleep 0.1; done
grep -q 'msg=serving' "$WORK/exporter.log" || fail "the unit's command did not start in the root"
health=$(curl -fsS "http://127.0.0.1:$PORT/healthz") || fail "GET /healthz"
[[ $health == ok* ]] || fail "GET /healthz answered: $health"
curl -fsS "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics" || fail "GET /metrics"
grep -qx 'packaged_requests_total{path="/"} 3.0' "$WORK/metrics" || fail "/metrics lacks the counter written by prometheus_client"
build_info=$(grep '^multiproc_exporter_build_info{' "$WORK/metrics") || fail "/metrics lacks multiproc_exporter_build_info"
[[ $build_info =~ ^multiproc_exporter_build_info\{revision=\"([0-9a-f]{40})\",version=\"(.*)\"\}\ 1\.0$ ]] \
  && [[ ${BASH_REMATCH[2]} == "$VERSION" ]] || fail "unexpected $build_info (version $VERSION, a full commit wanted)"
# A development version names the commit too: both must be the same one.
[[ $VERSION != *+git*.g* ]] || [[ ${BASH_REMATCH[1]} == $(sed 's/.*\.g\([0-9a-f]*\).*/\1/' <<<"$VERSION")* ]] \
  || fail "$build_info: the revision is not the commit in the version"
kill "$(cat "/proc/$SERVER_PID/task/$SERVER_PID/children")"
wait "$SERVER_PID" || fail "exporter did not exit 0 on SIGTERM"; SERVER_PID=""
echo "    ok: $(grep -m1 'msg=serving' "$WORK/exporter.log" | sed 's/^ts=[^ ]* //'); /healthz, /metrics with the counter and $build_info"

step "apt-get purge multiproc-exporter"
in_root apt-get purge -y -q multiproc-exporter >"$WORK/apt.log" 2>&1 || { tail -20 "$WORK/apt.log"; fail "purge"; }
calls=$(calls)
[[ $calls == "deb-systemd-invoke stop multiproc-exporter.service;systemctl --system daemon-reload;" ]] \
  || fail "purge: maintainer scripts called: $calls (want stop, daemon-reload)"
for f in /usr/bin/multiproc-exporter /etc/default/multiproc-exporter /lib/systemd/system/multiproc-exporter.service; do
  [[ ! -e "$ROOT$f" ]] || fail "purge left $f"
done
echo "    ok: stopped the service, reloaded systemd, removed the binary, unit and conffile"

echo "PASS: deploy/check-package.sh in $((SECONDS - started))s"
