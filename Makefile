# engage: the two set-up commands are `make run` and `make test`.
# CI (.ci/run) runs `make lint test`, the same targets people run.

CARGO ?= cargo
ENGAGE_ARGS ?=

.PHONY: run build test lint fmt bench bench-engine bench-collector ci clean

## run: build (release) and start the whole pipeline on embedded defaults at http://127.0.0.1:8080
run:
	$(CARGO) run --release --locked -p engage -- run $(ENGAGE_ARGS)

build:
	$(CARGO) build --release --locked -p engage

## test: every test: unit, property, integration and end-to-end (starts real engage processes)
test:
	$(CARGO) test --workspace --all-targets --locked

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: criterion benches of the hot paths, and HTTP load on the collector with wrk
bench: bench-engine bench-collector

bench-engine:
	$(CARGO) bench --locked -p engage-consumer --bench engine

bench-collector: build
	tests/load/collector.sh

ci: lint test

clean:
	$(CARGO) clean
