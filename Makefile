# gatehouse — make targets. `make test` needs nothing installed but Go:
# it installs/starts Redis and PostgreSQL itself (scripts/services.sh).
GO      ?= go
BIN     ?= bin/gatehouse
PKGS    ?= ./...

.PHONY: all build test test-short services vet lint demo bench bench-gateway test-e2e fuzz soak clean

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
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz: $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

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

# Soak (issue 17, not part of test): 3 instances on a private Redis Cluster
# and PostgreSQL behind PgBouncer, mixed load, faults on a schedule; report
# in docs/bench/soak.md. SOAK_TIME=3m for a shorter run.
SOAK_TIME ?= 10m
soak: build
	$(GO) run ./cmd/soak -duration $(SOAK_TIME) -binary $(BIN) -out docs/bench/soak

clean:
	rm -rf bin
