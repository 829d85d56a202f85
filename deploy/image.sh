#!/usr/bin/env bash
# `make image`: the exporter's image from deploy/Dockerfile and the example app's image from
# examples/Dockerfile, with podman (or docker where that is what is installed):
#
#   localhost/multiproc-exporter:dev and :<version>     (version: deploy/version.sh, with ~ and +
#                                                         spelt - and _ as image tags allow)
#   localhost/multiproc-exporter-example-app:dev        (the name deploy/kubernetes/local-podman
#                                                         puts in place of ghcr.io/example/app)
#
# BINARY_SOURCE=dist (the default here): the exporter binary is the release binary in dist/
# (run `make dist` first; `make image` does); BINARY_SOURCE=build compiles it in SWIFT_IMAGE.
# DEBIAN_IMAGE: the Debian 12 both images start from. Default: local, an image imported from
# the debootstrap --variant=minbase bookworm root of deploy/bookworm-root.sh (the package set of
# debian:bookworm-slim, made from Debian's packages: no image registry needed; re-imported when
# that cached root is renewed). Set DEBIAN_IMAGE=debian:bookworm-slim to use the public image.
#
# usage: deploy/image.sh       (as root with podman; about 30 s once the base image exists)
# needs: podman (runc, catatonit) or docker; debootstrap for the local base; dist/ for dist
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-localhost/multiproc-exporter}
APP_IMAGE=${APP_IMAGE:-localhost/multiproc-exporter-example-app}
BINARY_SOURCE=${BINARY_SOURCE:-dist}
DEBIAN_IMAGE=${DEBIAN_IMAGE:-local}
LOCAL_DEBIAN_IMAGE=localhost/multiproc-exporter-debian:bookworm-minbase
fail() { echo "FAIL: $*" >&2; exit 1; }
step() { echo "==> $*"; }

if [[ -z ${ENGINE:-} ]]; then
  if command -v podman >/dev/null; then ENGINE=podman
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then ENGINE=docker
  else fail "neither podman nor a running docker engine found (apt-get install podman runc catatonit)"; fi
fi
BUILD_FLAGS=()
if [[ $ENGINE == podman ]]; then
  # --format docker: OCI image configs have no HEALTHCHECK, podman would drop it.
  BUILD_FLAGS+=(--format docker)
  export CONTAINERS_CONF=${CONTAINERS_CONF:-${PODMAN_CONF-$PWD/deploy/podman/containers.conf}}
  [[ -n $CONTAINERS_CONF ]] || unset CONTAINERS_CONF
fi

VERSION=$(deploy/version.sh)
TAG=$(tr '~+' '-_' <<<"$VERSION")
if [[ $BINARY_SOURCE == dist ]]; then
  tarballs=(dist/multiproc-exporter-*.linux-*.tar.gz)
  [[ ${#tarballs[@]} == 1 && -f ${tarballs[0]} ]] || fail "dist/ must hold one release tarball: run make dist"
  [[ ${tarballs[0]} == "dist/multiproc-exporter-$VERSION.linux-"* ]] \
    || echo "note: ${tarballs[0]} is not version $VERSION (make dist builds the checkout's)"
fi

if [[ $DEBIAN_IMAGE == local ]]; then
  DEBIAN_IMAGE=$LOCAL_DEBIAN_IMAGE
  tarball=$(deploy/bookworm-root.sh --tarball)
  stamp=$(date -r "$tarball" +%s)
  if [[ $($ENGINE image inspect --format '{{index .Config.Labels "rootfs-stamp"}}' "$DEBIAN_IMAGE" 2>/dev/null) != "$stamp" ]]; then
    step "$ENGINE import $tarball as $DEBIAN_IMAGE"
    # An imported root has no environment: the PATH a Debian image has.
    $ENGINE import --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL rootfs-stamp=$stamp" "$tarball" "$DEBIAN_IMAGE" >/dev/null
  fi
fi

# The host's pip may trust a CA that the image does not (a TLS-inspecting proxy): hand its
# bundle to the app image's pip install as a build secret, which stays out of the image.
SECRET_FLAGS=()
pip_ca=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}
[[ -n $pip_ca && -s $pip_ca ]] && SECRET_FLAGS+=(--secret "id=pip-ca,src=$pip_ca")

step "$ENGINE build -f deploy/Dockerfile ($BINARY_SOURCE binary, on $DEBIAN_IMAGE) -> $IMAGE:dev, $IMAGE:$TAG"
start=$SECONDS
$ENGINE build "${BUILD_FLAGS[@]}" -f deploy/Dockerfile --build-arg "BINARY_SOURCE=$BINARY_SOURCE" \
  --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" ${SWIFT_IMAGE:+--build-arg "SWIFT_IMAGE=$SWIFT_IMAGE"} \
  -t "$IMAGE:dev" -t "$IMAGE:$TAG" . >"${BUILD_LOG:-/dev/null}" 2>&1 \
  || fail "$ENGINE build of deploy/Dockerfile (BUILD_LOG=file keeps its output)"
step "$ENGINE build -f examples/Dockerfile examples -> $APP_IMAGE:dev"
$ENGINE build "${BUILD_FLAGS[@]}" "${SECRET_FLAGS[@]}" -f examples/Dockerfile --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" \
  -t "$APP_IMAGE:dev" examples >>"${BUILD_LOG:-/dev/null}" 2>&1 \
  || fail "$ENGINE build of examples/Dockerfile (BUILD_LOG=file keeps its output)"
size=$($ENGINE image inspect --format '{{.Size}}' "$IMAGE:dev")
echo "    built in $((SECONDS - start))s: $IMAGE:dev $((size / 1000000)) MB ($size bytes), $APP_IMAGE:dev"
