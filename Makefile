# gatehouse — make targets. `make test` needs nothing installed but Go:
# it installs/starts Redis and PostgreSQL itself (scripts/services.sh).
GO      ?= go
BIN     ?= bin/gatehouse
PKGS    ?= ./...

.PHONY: all build test test-short services vet lint demo bench bench-gateway bench-flood check-systemd test-e2e fuzz release soak clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/gatehouse

services:
	./scripts/services.sh

vet:
	$(GO) vet $(PKGS)

lint: vet
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# The full suite: real SQLite, Redis, PostgreSQL, loopback HTTP servers,
# the built binary for multi-instance tests, and the race detector.
test: services lint
	$(GO) test -race -count=1 -timeout 15m $(PKGS)
	$(MAKE) test-e2e

# Quicker inner loop: no race detector.
test-short: services
	$(GO) test -count=1 $(PKGS)

# Every native fuzz target (func Fuzz…) in PKGS for FUZZTIME each; `make test` runs
# only their seed corpora (testdata/fuzz). New findings land in testdata/fuzz.
FUZZTIME ?= 2m
# scripts/fuzz.sh skips packages without tests and runs every target even
# after a failure, then names the failed ones.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh $(PKGS)

demo:
	$(GO) run ./cmd/gatehouse demo

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./internal/...

# Browser end-to-end tests (e2e/): headless Debian Chromium, driven by
# playwright-core (never a downloaded browser), against the real binary,
# started with a test OpenID provider by cmd/e2efixture. Screenshots and the
# gatehouse log go to e2e/output/.
CHROMIUM ?= /usr/bin/chromium
E2E_FIXTURE ?= bin/e2efixture

test-e2e:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "test-e2e: installing Debian's chromium"; \
		sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
		$$sudo apt-get update -qq && \
		$$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-liberation; \
	fi
	cd e2e && export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 && \
		if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; \
		else npm install --no-audit --no-fund --loglevel=error; fi
	$(GO) build -o $(BIN) ./cmd/gatehouse
	$(GO) build -o $(E2E_FIXTURE) ./cmd/e2efixture
	cd e2e && GATEHOUSE_BIN=$(abspath $(BIN)) E2E_FIXTURE=$(abspath $(E2E_FIXTURE)) CHROMIUM_PATH=$(CHROMIUM) \
		timeout -k 10 300 node --test --test-concurrency=1 --test-timeout=60000 ./*.test.mjs

bench-gateway: build
	./scripts/bench-gateway.sh

# Token-route req/s and p99 with and without 16/64 concurrent password
# logins (issue 11 finding 8, issue 15); see docs/benchmarks.md.
bench-flood: build
	./scripts/bench-flood.sh

# The systemd unit in docs/deploy.md: `systemd-analyze security` exposure <= 2.0
# (also checked by go test ./cmd/gatehouse).
check-systemd:
	./scripts/check-systemd-unit.sh

# Release binaries: static, path-free builds for linux/darwin × amd64/arm64
# in dist/, with SHA256SUMS. -buildvcs=auto overrides a GOFLAGS that turns
# stamping off, so `gatehouse version` names the commit; linkVersion (from
# git describe) and its revision and commit time are used only where the
# go command cannot stamp them itself (a git worktree).
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
RELEASE_VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
RELEASE_LDFLAGS   := -s -w -X main.linkVersion=$(RELEASE_VERSION) \
	-X main.linkRevision=$(shell git rev-parse HEAD 2>/dev/null) \
	-X main.linkTime=$(shell git log -1 --format=%cI 2>/dev/null)

release:
	rm -rf dist && mkdir -p dist
	@set -e; for p in $(RELEASE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=dist/gatehouse-$(RELEASE_VERSION)-$$os-$$arch; \
		echo "release: $$out"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -buildvcs=auto \
			-ldflags "$(RELEASE_LDFLAGS)" -o $$out ./cmd/gatehouse; \
	done
	cd dist && sha256sum gatehouse-* > SHA256SUMS && cat SHA256SUMS
# Soak (issue 17, not part of test): 3 instances on a private Redis Cluster
# and PostgreSQL behind PgBouncer, mixed load, faults on a schedule; report
# in docs/bench/soak.md. SOAK_TIME=3m for a shorter run.
SOAK_TIME ?= 10m
soak: build
	$(GO) run ./cmd/soak -duration $(SOAK_TIME) -binary $(BIN) -out docs/bench/soak

clean:
	rm -rf bin dist
