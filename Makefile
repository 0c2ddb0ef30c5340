# The one test command of the README: Go (the library with the race detector and the
# cross-language conformance matrix; the bench module's vet and tests; gofmt of both), the C library (plain and sanitized), the Rust crate, the Promela models of
# the protocol (spin, installed from Debian by spec/models/run when missing), and the Go tests and
# the C library again as linux/arm64 under qemu user emulation (.ci/arm64).
GO ?= go

.PHONY: test test-go test-c test-rust test-models test-arm64 demo bench fuzz

test: test-go test-c test-rust test-models test-arm64

test-go:
	@unformatted="$$(gofmt -l $$(git ls-files '*.go'))"; \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	GOOS=darwin $(GO) vet ./...
	$(GO) test -race -count=1 -timeout 8m ./...
	cd bench && $(GO) vet ./... && GOOS=darwin $(GO) vet ./... && $(GO) test -count=1 -timeout 5m ./...

test-c:
	$(MAKE) -C interop/c test asan

test-rust:
	cd interop/rust && cargo fmt --check && cargo clippy --all-targets -- -D warnings && cargo test

test-models:
	spec/models/run

# Installs qemu-user-static, binfmt-support and the aarch64 cross gcc with apt-get when missing
# (with CI=true it fails when it cannot; elsewhere it skips, saying why).
test-arm64:
	bash .ci/arm64

demo:
	$(GO) run ./cmd/ringwire demo

# The harness is its own module (bench/go.mod); the library's in-process Go benchmarks are
# go test -run '^$$' -bench . ./disruptor.
bench:
	cd bench && $(GO) run ./cmd/rwbench

# Short fuzzing of every parser of foreign bytes; longer runs: FUZZTIME=10m make fuzz.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz FuzzOpen -fuzztime $(FUZZTIME) ./layout
	$(GO) test -run '^$$' -fuzz FuzzPortable -fuzztime $(FUZZTIME) ./naming
	$(GO) test -run '^$$' -fuzz FuzzFrameCheck -fuzztime $(FUZZTIME) ./layout
	$(GO) test -run '^$$' -fuzz FuzzFramedConsumer -fuzztime $(FUZZTIME) ./consumer
