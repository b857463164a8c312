GO      ?= go
BIN     := bin/gannet
DATA    ?= ./data
FUZZTIME ?= 10s

.PHONY: build run selfcheck test bench fuzz vet clean interop-deps profile

build:
	$(GO) build -o $(BIN) ./cmd/gannet

# Name server (127.0.0.1:9876) and broker (127.0.0.1:10911) in one
# process, data in ./data. Ctrl-C stops it cleanly.
run: build
	./$(BIN) standalone --data $(DATA)

# A name server and the brokers of MODE (single, 2m, 2m-2s-async,
# 2m-2s-sync) as child processes, everything under DIR (docs/deploy.md).
# Ctrl-C stops them.
MODE ?= 2m-2s-sync
DIR ?= ./cluster
.PHONY: cluster
cluster: build
	./$(BIN) cluster --mode $(MODE) --dir $(DIR)

# The engine's self-check: append, flush, read back, restart.
selfcheck: build
	./$(BIN) selfcheck --data $(DATA)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }

# Node packages for the real-client (ali-ons) tests, from the lockfile.
interop-deps:
	cd protocols/rocketmq/interop && npm ci --no-audit --no-fund
	cd protocols/mqtt/interop && npm ci --no-audit --no-fund

test: vet interop-deps
	$(GO) test -race -count=1 -timeout 20m ./...

# The engine micro-benchmarks (output kept in bench/results/engine-<UTC
# time>.txt), then the standard suite against fresh standalone brokers
# (bench/suite.sh, reports in bench/results/suite-<UTC time>/; see
# docs/performance.md). Not part of `make test`.
bench:
	@mkdir -p bench/results
	@f=bench/results/engine-$$(date -u +%Y%m%d-%H%M).txt; echo "engine benchmarks: $$f"; \
	{ $(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 60m ./engine/... 2>&1 || echo "FAIL: go test exited $$?"; } | tee "$$f"; \
	! grep -q '^FAIL' "$$f"
	GO=$(GO) bench/suite.sh

# A short bounded run of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$t"; $(GO) test $$pkg -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

# A short produce run against a standalone broker with a CPU profile; top
# functions and an SVG call graph (graphviz) under perf/out/.
profile:
	perf/profile.sh

clean:
	rm -rf bin
