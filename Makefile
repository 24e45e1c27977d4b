# faultline — see README.md. Every target works from a fresh clone with Go installed.
GO       ?= go
TESTARGS ?=

.PHONY: build test run bench bench-deps lint clean

build:
	$(GO) build -o bin/faultline ./cmd/faultline

# The README's test command; CI runs exactly this (through .ci/run).
test:
	$(GO) test -race -count=1 -timeout 15m $(TESTARGS) ./...

# The flagship experiment on the embedded backend (no Docker needed).
run:
	$(GO) run ./cmd/faultline run dynamodb-empty-dns

# Benchmarks print our figures beside a peer's measured in the same run.
# Peers come from Debian packages; `make bench-deps` installs them (as root).
bench:
	$(GO) run ./cmd/faultline-bench

bench-deps:
	apt-get install -y dnsperf nsd haproxy

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin out
