# tern — one entry point for every routine task. `make test` is what CI runs (.ci/run).
# docs/testing.md says what each part checks and how to run one suite or one case.
SHELL := /bin/bash
CARGO ?= cargo
PORT ?= 8080
FUZZ_SECONDS ?= 60

.PHONY: test lint unit runtime clients python browser cabi conformance \
        run repl bench bench-actors bench-codec bench-vm bench-servers soak fuzz fmt clean

## test: everything CI checks, in order of cost: lint, cargo tests (unit, integration and the
## runtime suites), the clients we did not write, the C ABI example, Autobahn conformance.
test: lint unit clients cabi conformance

## lint: formatting and clippy with warnings as errors, for every crate and target.
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## unit: every crate's unit and integration tests, then the runtime suites (runtime-tests/),
## which drive the `tern` binary built here.
unit:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace

## clients: Python `websockets` and headless Chromium against the chat server.
clients: python browser
python:
	runtime-tests/python/run.sh
browser:
	runtime-tests/browser/run.sh

## cabi: the C example drives an echo server through the bridge's C ABI.
cabi:
	crates/bridge/c/test.sh

## conformance: the Autobahn TestSuite (kosoku) against the echo example; every case must be
## OK or INFORMATIONAL.
conformance:
	crates/bridge/conformance/run.sh

## run: the main job: the chat server example on $(PORT).
run:
	$(CARGO) build --release -p vm --bin tern
	@echo "chat server: ws://127.0.0.1:$(PORT)/room/NAME (Ctrl-C stops it)"
	target/release/tern run examples/chat.tern $(PORT)

## repl: the tern REPL.
repl:
	$(CARGO) run --quiet --release -p vm --bin tern -- repl

## bench: every benchmark (release builds; prints figures, asserts nothing).
bench: bench-actors bench-codec bench-vm bench-servers
bench-actors:
	crates/scheduler/bench/run.sh
bench-codec:
	crates/ws/bench/run.sh
bench-vm:
	crates/vm/bench/run.sh
bench-servers:
	bench/run.sh

## soak: the adversarial suite (hardening/) at its long sizes (10-minute churn, full floods).
soak:
	hardening/run-soak.sh

## fuzz: every cargo-fuzz target (ws: frames, handshake, fragments; vm: parser) for $(FUZZ_SECONDS) s each.
fuzz:
	scripts/fuzz-all.sh $(FUZZ_SECONDS)

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
