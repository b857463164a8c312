GO      ?= go
BIN     := bin/gannet
DATA    ?= ./data
FUZZTIME ?= 10s

.PHONY: build run test test-short bench fuzz vet clean

build:
	$(GO) build -o $(BIN) ./cmd/gannet

# Until the RocketMQ front end exists, `run` opens the engine on ./data and
# runs its self-check (append, flush, read back, restart).
run: build
	./$(BIN) selfcheck --data $(DATA)

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }

test: vet
	$(GO) test -race -count=1 -timeout 20m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 -timeout 60m ./engine/...

# A short bounded run of every fuzz target (FUZZTIME each).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
	    echo "== $$pkg $$t"; $(GO) test $$pkg -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME); \
	  done; \
	done

clean:
	rm -rf bin
