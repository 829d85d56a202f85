#!/usr/bin/env bash
# `make dist`: the release artifacts, in dist/ (replaced on every run, ignored by git):
#
#   multiproc-exporter-<version>.linux-<arch>.tar.gz   binary, man page, completions, LICENSE,
#                                                      README.md, CHANGELOG.md, systemd unit and
#                                                      defaults file, examples/
#   multiproc-exporter_<version>-1_<arch>.deb          the Debian package (layout below)
#   sha256sums.txt
#
# The binary: `swift build -c release --static-swift-stdlib` (no Swift runtime needed on the
# host, as in deploy/Dockerfile), without the $ORIGIN run path, with BIND_NOW, stripped, and
# with the version of deploy/version.sh and the git commit built in (MULTIPROC_EXPORTER_VERSION,
# MULTIPROC_EXPORTER_REVISION: set them to override). The man page comes from that binary
# (swift-argument-parser's generate-manual, the tool behind its GenerateManual plugin), and so
# do the completions (--generate-completion-script): both always cover every subcommand.
#
# The package (dpkg-deb --root-owner-group; deploy/debian/ has the control template, the
# maintainer scripts and the copyright file):
#   /usr/bin/multiproc-exporter
#   /lib/systemd/system/multiproc-exporter.service   deploy/systemd's unit, ExecStart in /usr/bin
#   /etc/default/multiproc-exporter                   conffile
#   /usr/share/man/man1/multiproc-exporter.1.gz
#   /usr/share/bash-completion/completions/multiproc-exporter
#   /usr/share/zsh/vendor-completions/_multiproc-exporter
#   /usr/share/fish/vendor_completions.d/multiproc-exporter.fish
#   /usr/share/doc/multiproc-exporter/                copyright, changelog.gz (CHANGELOG.md),
#                                                      changelog.Debian.gz, README.md, examples/
# Depends: is dpkg-shlibdeps' reading of the binary. The maintainer scripts never start the
# service (its directory and group must be configured first).
#
# usage: deploy/dist.sh      (make dist; about a minute from a warm build directory)
# needs: swift, git, dpkg-dev (dpkg-shlibdeps), binutils (strip, readelf)
set -euo pipefail
cd "$(dirname "$0")/.."
umask 022

SWIFT=${SWIFT:-swift}
DIST=${DIST:-dist}
MAINTAINER=${DEB_MAINTAINER:-"multiproc-exporter maintainers <multiproc-exporter@example.org>"}
# The Debian revision: the packaging of one upstream version (this is the first and only one).
DEBIAN_REVISION=1
BUILD_FLAGS=(-c release --static-swift-stdlib --disable-local-rpath -Xlinker -z -Xlinker now)

step() { echo "==> $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in git dpkg-deb dpkg-shlibdeps strip readelf gzip; do
  command -v "$tool" >/dev/null || fail "$tool not found (make deps-dist installs it)"
done

VERSION=${MULTIPROC_EXPORTER_VERSION:-$(deploy/version.sh)}
REVISION=${MULTIPROC_EXPORTER_REVISION:-$(deploy/version.sh --revision)}
ARCH=$(dpkg --print-architecture)
# Every timestamp inside the artifacts (files, man page date, changelog) is the commit's.
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export SOURCE_DATE_EPOCH
NAME=multiproc-exporter-$VERSION.linux-$ARCH
DEB=multiproc-exporter_${VERSION}-${DEBIAN_REVISION}_$ARCH.deb

WORK=$(mktemp -d -t multiproc-dist.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
started=$SECONDS

step "build $VERSION ($REVISION): swift build ${BUILD_FLAGS[*]}"
export MULTIPROC_EXPORTER_VERSION=$VERSION MULTIPROC_EXPORTER_REVISION=$REVISION
for product in multiproc-exporter generate-manual; do
  $SWIFT build "${BUILD_FLAGS[@]}" --product "$product" >"$WORK/build.log" 2>&1 \
    || { tail -20 "$WORK/build.log"; fail "swift build --product $product"; }
done
BUILT=$($SWIFT build "${BUILD_FLAGS[@]}" --show-bin-path)
BIN=$WORK/multiproc-exporter
# As dh_strip does for executables: symbols and debug information, and the notes nobody reads.
strip --remove-section=.comment --remove-section=.note -o "$BIN" "$BUILT/multiproc-exporter"
chmod 0755 "$BIN"
reported=$("$BIN" --version)
[[ "$reported" == "$VERSION" ]] || fail "the binary reports version '$reported', not $VERSION"
needed=$(readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
[[ "$needed" != *libswift* && "$needed" != *libFoundation* && "$needed" != *libdispatch* ]] \
  || fail "the binary needs a Swift runtime library: $needed"
! readelf -d "$BIN" | grep -qE '\((RPATH|RUNPATH)\)' || fail "the binary has a run path"
echo "    $(du -h "$BIN" | cut -f1) stripped, needs: $needed"

step "man page and completions from the binary"
mkdir -p "$WORK/man" "$WORK/completions"
"$BUILT/generate-manual" "$BIN" --date "$(date -u -d "@$SOURCE_DATE_EPOCH" +%F)" --output-directory "$WORK/man" >/dev/null
MANPAGE=$WORK/man/multiproc-exporter.1
[[ -s "$MANPAGE" ]] || fail "generate-manual wrote no $MANPAGE"
# bash-completion sources its files: no "#!" line (lintian: bash-completion-with-hashbang).
"$BIN" --generate-completion-script bash | sed '1{/^#!/d}' >"$WORK/completions/multiproc-exporter"
"$BIN" --generate-completion-script zsh >"$WORK/completions/_multiproc-exporter"
"$BIN" --generate-completion-script fish >"$WORK/completions/multiproc-exporter.fish"
echo "    $(grep -c '^\.It Em ' "$MANPAGE") subcommands in the man page; bash, zsh, fish completions"

# Directories 0755, files 0644 unless given, owner root (tar --owner, dpkg-deb --root-owner-group).
put() {  # mode source destination
  install -D -m "$1" "$2" "$3"
}

step "tarball $NAME.tar.gz"
T=$WORK/$NAME
put 0755 "$BIN" "$T/multiproc-exporter"
for doc in LICENSE README.md CHANGELOG.md; do put 0644 "$doc" "$T/$doc"; done
put 0644 deploy/systemd/multiproc-exporter.service "$T/systemd/multiproc-exporter.service"
put 0644 deploy/systemd/multiproc-exporter.default "$T/systemd/multiproc-exporter.default"
put 0644 deploy/systemd/auto-mark-dead.conf "$T/systemd/auto-mark-dead.conf"
put 0644 "$MANPAGE" "$T/man/multiproc-exporter.1"
for f in "$WORK"/completions/*; do put 0644 "$f" "$T/completions/${f##*/}"; done
while IFS= read -r -d '' f; do
  put "$([[ -x $f ]] && echo 0755 || echo 0644)" "$f" "$T/$f"
done < <(git ls-files -z examples)

step "package $DEB"
D=$WORK/deb
DOC=$D/usr/share/doc/multiproc-exporter
put 0755 "$BIN" "$D/usr/bin/multiproc-exporter"
sed 's|^ExecStart=/usr/local/bin/multiproc-exporter |ExecStart=/usr/bin/multiproc-exporter |' \
  deploy/systemd/multiproc-exporter.service >"$WORK/multiproc-exporter.service"
grep -q '^ExecStart=/usr/bin/multiproc-exporter serve' "$WORK/multiproc-exporter.service" \
  || fail "unexpected ExecStart= in deploy/systemd/multiproc-exporter.service"
put 0644 "$WORK/multiproc-exporter.service" "$D/lib/systemd/system/multiproc-exporter.service"
put 0644 deploy/systemd/multiproc-exporter.default "$D/etc/default/multiproc-exporter"
gzip -9n <"$MANPAGE" >"$WORK/multiproc-exporter.1.gz"
put 0644 "$WORK/multiproc-exporter.1.gz" "$D/usr/share/man/man1/multiproc-exporter.1.gz"
put 0644 "$WORK/completions/multiproc-exporter" "$D/usr/share/bash-completion/completions/multiproc-exporter"
put 0644 "$WORK/completions/_multiproc-exporter" "$D/usr/share/zsh/vendor-completions/_multiproc-exporter"
put 0644 "$WORK/completions/multiproc-exporter.fish" "$D/usr/share/fish/vendor_completions.d/multiproc-exporter.fish"
put 0644 deploy/debian/copyright "$DOC/copyright"
put 0644 deploy/debian/lintian-overrides "$D/usr/share/lintian/overrides/multiproc-exporter"
put 0644 README.md "$DOC/README.md"
gzip -9n <CHANGELOG.md >"$WORK/changelog.gz"
put 0644 "$WORK/changelog.gz" "$DOC/changelog.gz"
cat >"$WORK/changelog.Debian" <<EOF
multiproc-exporter ($VERSION-$DEBIAN_REVISION) unstable; urgency=medium

  * Built with make dist (deploy/dist.sh) from git commit
    $REVISION.
    Upstream changes: /usr/share/doc/multiproc-exporter/changelog.gz.

 -- $MAINTAINER  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
gzip -9n <"$WORK/changelog.Debian" >"$WORK/changelog.Debian.gz"
put 0644 "$WORK/changelog.Debian.gz" "$DOC/changelog.Debian.gz"
# Documentation, not programs: nothing under /usr/share/doc is executable.
while IFS= read -r -d '' f; do put 0644 "$f" "$DOC/$f"; done < <(git ls-files -z examples)

# dpkg-shlibdeps reads the package's name from a debian/control, as in a source package.
mkdir -p "$WORK/shlibs/debian"
printf 'Source: multiproc-exporter\n\nPackage: multiproc-exporter\nArchitecture: any\n' >"$WORK/shlibs/debian/control"
DEPENDS=$(cd "$WORK/shlibs" && dpkg-shlibdeps -O "$D/usr/bin/multiproc-exporter" 2>"$WORK/shlibdeps.log" \
          | sed -n 's/^shlibs:Depends=//p') || { cat "$WORK/shlibdeps.log"; fail "dpkg-shlibdeps"; }
[[ -n "$DEPENDS" ]] || { cat "$WORK/shlibdeps.log"; fail "dpkg-shlibdeps found no dependencies"; }
echo "    Depends: $DEPENDS"

mkdir -p "$D/DEBIAN"
for script in postinst prerm postrm; do put 0755 "deploy/debian/$script" "$D/DEBIAN/$script"; done
echo /etc/default/multiproc-exporter >"$D/DEBIAN/conffiles"
(cd "$D" && find usr lib -type f -print0 | LC_ALL=C sort -z | xargs -0 md5sum) >"$D/DEBIAN/md5sums"
# Installed-Size as dpkg-gencontrol counts it: KiB per file, rounded up, and 1 per directory.
installed_size=$(cd "$D" && find . -path ./DEBIAN -prune -o \( -type f -printf '%s\n' -o -printf '1024\n' \) \
                 | awk '{ kib += int(($1 + 1023) / 1024) } END { print kib }')
sed -e "s|@VERSION@|$VERSION-$DEBIAN_REVISION|" -e "s|@ARCH@|$ARCH|" -e "s|@MAINTAINER@|$MAINTAINER|" \
    -e "s|@INSTALLED_SIZE@|$installed_size|" -e "s|@DEPENDS@|$DEPENDS|" deploy/debian/control.in >"$D/DEBIAN/control"
chmod 0644 "$D/DEBIAN/control" "$D/DEBIAN/conffiles" "$D/DEBIAN/md5sums"

rm -rf "$DIST"
mkdir -p "$DIST"
find "$T" "$D" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
dpkg-deb --root-owner-group -Zxz --build "$D" "$DIST/$DEB" >/dev/null
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$SOURCE_DATE_EPOCH" -C "$WORK" -cf - "$NAME" \
  | gzip -9n >"$DIST/$NAME.tar.gz"
(cd "$DIST" && sha256sum "$NAME.tar.gz" "$DEB" >sha256sums.txt)

step "dist/ in $((SECONDS - started))s"
(cd "$DIST" && ls -l --time-style=+ "$NAME.tar.gz" "$DEB" sha256sums.txt | awk '{ printf "    %10s  %s\n", $5, $NF }')
