# gatehouse — make targets. `make test` needs nothing installed but Go:
# it installs/starts Redis and PostgreSQL itself (scripts/services.sh).
GO      ?= go
BIN     ?= bin/gatehouse
PKGS    ?= ./...

.PHONY: all build test test-short services vet lint demo bench bench-gateway test-e2e clean

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

# Quicker inner loop: no race detector.
test-short: services
	$(GO) test -count=1 $(PKGS)

demo:
	$(GO) run ./cmd/gatehouse demo

bench:
	$(GO) test -run '^$$' -bench . -benchtime 2000x ./internal/...

bench-gateway: build
	./scripts/bench-gateway.sh

clean:
	rm -rf bin
