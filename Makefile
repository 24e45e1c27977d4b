# faultline — see README.md. Every target works from a fresh clone with Go installed.
GO       ?= go
SHELL    := /bin/bash
TESTARGS ?=

.PHONY: build test test-system fuzz run bench bench-dns bench-nlb bench-soak bench-resolvers bench-replication bench-fleet sdk-table bench-deps resolver-deps coredns bench-coredns lint clean

build:
	$(GO) build -o bin/faultline ./cmd/faultline

# The README's test command; CI runs exactly this (through .ci/run): every
# test with the race detector (the CoreDNS plugin's module, targets/coredns,
# too), then a short run of every fuzz target: a
# count of inputs, not a time, since Go 1.26's fuzzer can fail a run whose
# -fuzztime runs out while a worker is mid-input (go.dev/issue/75804, fixed
# in Go 1.27), and that happens on a busy machine.
test:
	$(GO) test -race -count=1 -timeout 15m -skip '$(SYSTEM_TESTS)' $(TESTARGS) ./...
	cd targets/coredns && $(GO) test -race -count=1 -timeout 15m $(TESTARGS) ./...
	$(MAKE) test-system
	$(MAKE) fuzz FUZZTIME=20000x

# The tests that need more than Go: Docker (containers), namespaces (the
# sandbox and the third-party SDKs in it), Chromium (report.html and the live
# dashboard, the trials' page), Prometheus (scraping the exporter), xmllint
# (junit.xml of real runs against reports/junit.xsd). They skip,
# saying why, where the machine lacks one; verbose, so the log shows whether
# each ran; then what is left in Docker.
SYSTEM_TESTS = ^Test(Container|Sandbox|Reexec|HTMLReport|Dashboard|Prometheus|JUnitOfARealRun|TrialsAggregateReports)
test-system:
	set -o pipefail; $(GO) test -race -count=1 -timeout 10m -v -run '$(SYSTEM_TESTS)' $(TESTARGS) ./... 2>&1 \
		| grep -E '^(--- |FAIL|panic)|^ok .*[0-9]s$$|^\s+--- |_test.go:[0-9]+: |Error|error'
	@docker ps -a --filter label=dev.faultline=true --format 'LEFT BEHIND: {{.Names}} {{.Image}}' 2>/dev/null | grep . && exit 1 || true

FUZZTIME ?= 30s
FUZZ_TARGETS = ./targets/dnsstub:FuzzServeDNS ./targets/dnsstub:FuzzRecords ./targets/dnsstub:FuzzParseQueryAgreesWithMiekg ./faults:FuzzParams \
	./experiments/spec:FuzzParse ./targets/dynamodb/embedded:FuzzOperations

fuzz:
	@for t in $(FUZZ_TARGETS); do pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($$pkg) for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$fn$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done

# The flagship experiment on the embedded backend (no Docker needed).
run:
	$(GO) run ./cmd/faultline run dynamodb-empty-dns

# Benchmarks print our figures beside a peer's measured in the same run.
# Peers come from Debian packages; `make bench-deps` installs them (as root).
# RUNS=N repeats them and prints each ratio's median and spread (single
# runs on a busy 2-core machine vary by ±40 %): make bench RUNS=5.
RUNS ?= 1
bench:
	$(GO) run ./cmd/faultline-bench -runs $(RUNS)

bench-dns:
	$(GO) run ./cmd/faultline-bench -only dns -runs $(RUNS)

bench-nlb:
	$(GO) run ./cmd/faultline-bench -only nlb -runs $(RUNS)

# The residual outage through each real resolver (unbound, dnsmasq, CoreDNS)
# beside the model of the same name, a few rounds per fault; `make
# resolver-deps` provides the resolvers.
bench-replication:
	$(GO) run ./cmd/faultline-bench -only replication

# How many fleet members and requests/s faultline carries here, its CPU per
# 1,000 requests/s and whether the harness's self-check holds (about a
# minute; part of make bench).
bench-fleet:
	$(GO) run ./cmd/faultline-bench -only fleet

bench-resolvers:
	$(GO) run ./cmd/faultline-bench -only resolvers

# Memory over a long run: 32 clients at 100/s with hc.flap and dns.flap for
# 30 minutes (SOAKARGS=-short: 2), a dnsperf flood in the middle, then
# `faultline report` of a 1 GB journal; RSS from /proc and wait4.
SOAKARGS ?=
bench-soak:
	$(GO) run ./cmd/faultline-bench -only soak $(SOAKARGS)

# The README's table of how stock SDKs (boto3, the AWS CLI, the Node SDK,
# the Go SDK v2) behave on DNS failures under each retry mode: each run
# unchanged in faultline's sandbox (root or user namespaces; python3-boto3,
# awscli, bc and npm installed). 40 runs of 25 s, three at a time: about
# 10 minutes on two cores. FAULTLINE_SDKS=boto3,gosdk and
# FAULTLINE_SDK_FAULTS=dns.empty narrow it.
sdk-table:
	$(GO) run ./cmd/faultline-bench -only sdks

# Peers: dnsperf, NSD and HAProxy from Debian; CoreDNS built from its Go
# module (about 4 minutes on two cores, cached in ~/.cache/faultline).
COREDNS_VERSION = v1.15.0
COREDNS_BIN = $(HOME)/.cache/faultline/coredns-$(COREDNS_VERSION)
bench-deps: resolver-deps
	apt-get install -y dnsperf nsd haproxy

# The real resolvers `topology.resolver.exec` runs: unbound and dnsmasq from
# Debian (as root), CoreDNS built from its Go module into the cache above
# (targets/dnsexec looks there; FAULTLINE_COREDNS names another binary).
# The stock resolver is the plugin-enabled build of `make coredns` (the
# same CoreDNS v1.15.0 and its plugins, plus faultline's, unused without a
# faultline block): one 4-minute build serves both.
resolver-deps:
	command -v unbound >/dev/null || test -x /usr/sbin/unbound || apt-get install -y unbound
	command -v dnsmasq >/dev/null || test -x /usr/sbin/dnsmasq || apt-get install -y dnsmasq-base
	test -x $(COREDNS_BIN)/coredns || ($(MAKE) coredns && mkdir -p $(COREDNS_BIN) && cp $(FAULTLINE_COREDNS_PLUGIN) $(COREDNS_BIN)/coredns)

# CoreDNS v1.15.0 with faultline's plugin (targets/coredns, a module of its
# own: CoreDNS's dependencies stay out of faultline's), static, where the
# plugin's tests and `make bench-coredns` look (FAULTLINE_COREDNS_PLUGIN
# names another path). About 4 minutes on two cores the first time.
FAULTLINE_COREDNS_PLUGIN ?= $(HOME)/.cache/faultline/coredns-faultline-$(COREDNS_VERSION)/coredns
coredns:
	cd targets/coredns && CGO_ENABLED=0 $(GO) build -trimpath -o $(FAULTLINE_COREDNS_PLUGIN) ./cmd/coredns

# The plugin with no active fault beside the same CoreDNS without it
# (dnsperf, same run): queries per second and their ratio.
bench-coredns: coredns
	$(GO) run ./cmd/faultline-bench -only coredns

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf bin out
