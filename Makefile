# The one test command of the README: Go (with the race detector and the cross-language
# conformance matrix), the C library (plain and sanitized), the Rust crate, and the Promela models
# of the protocol (spin, installed from Debian by spec/models/run when missing).
GO ?= go

.PHONY: test test-go test-c test-rust test-models demo bench fuzz

test: test-go test-c test-rust test-models

test-go:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	$(GO) test -race -count=1 -timeout 8m ./...

test-c:
	$(MAKE) -C interop/c test asan

test-rust:
	cd interop/rust && cargo fmt --check && cargo clippy --all-targets -- -D warnings && cargo test

test-models:
	spec/models/run

demo:
	$(GO) run ./cmd/ringwire demo

bench:
	$(GO) run ./bench/cmd/rwbench

# Short fuzzing of every parser of foreign bytes; longer runs: FUZZTIME=10m make fuzz.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime $(FUZZTIME) ./layout
	$(GO) test -run '^$$' -fuzz FuzzPortable -fuzztime $(FUZZTIME) ./naming
