#!/usr/bin/env bash
# A fresh `debootstrap --variant=minbase bookworm` root (the package set of
# debian:bookworm-slim) at DEST, for the checks that run commands in one:
# check-package.sh; deploy/image.sh imports its tarball as the images' Debian base.
#
# debootstrap takes most of a minute; its result is kept as a tarball (ROOTFS_CACHE) for
# ROOTFS_CACHE_DAYS days, so the second check of a `make test` run, and the next runs, unpack
# it in a second. Each caller gets its own copy and may change it freely. Packages in a cached
# root may be behind the mirror: callers run `apt-get update` in it before installing.
#
# usage: deploy/bookworm-root.sh DEST      (as root; DEST must not exist or be empty)
#        deploy/bookworm-root.sh --tarball  (make or refresh the cached tarball only, print its
#                                            path: deploy/image.sh imports it as an image)
# needs: debootstrap, tar; Debian's mirror (MIRROR)
set -euo pipefail
cd "$(dirname "$0")/.."

DEST=${1:?usage: deploy/bookworm-root.sh DEST}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS_CACHE=${ROOTFS_CACHE:-.build/rootfs/bookworm-minbase.tar}
ROOTFS_CACHE_DAYS=${ROOTFS_CACHE_DAYS:-7}
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ $(id -u) == 0 ]] || fail "deploy/bookworm-root.sh needs root (debootstrap, device nodes)"

if [[ -z $(find "$ROOTFS_CACHE" -mtime "-$ROOTFS_CACHE_DAYS" 2>/dev/null) ]]; then
  command -v debootstrap >/dev/null || fail "debootstrap not found (apt-get install debootstrap)"
  fresh=$(mktemp -d -t multiproc-bookworm.XXXXXX)
  trap 'rm -rf "$fresh"' EXIT
  echo "debootstrap --variant=minbase bookworm ($MIRROR); cached in $ROOTFS_CACHE" >&2
  debootstrap --variant=minbase bookworm "$fresh/root" "$MIRROR" >&2 || fail "debootstrap"
  mkdir -p "$(dirname "$ROOTFS_CACHE")"
  # Written aside and renamed: an interrupted run leaves no half tarball behind.
  tar --numeric-owner -C "$fresh/root" -cf "$ROOTFS_CACHE.partial" .
  mv "$ROOTFS_CACHE.partial" "$ROOTFS_CACHE"
else
  echo "bookworm minbase root from $ROOTFS_CACHE ($(date -r "$ROOTFS_CACHE" '+%F %H:%M'))" >&2
fi
if [[ $DEST == --tarball ]]; then echo "$ROOTFS_CACHE"; exit 0; fi
mkdir -p "$DEST"
tar --numeric-owner -C "$DEST" -xpf "$ROOTFS_CACHE"
cp /etc/resolv.conf "$DEST/etc/resolv.conf"
