# engage: the two set-up commands are `make run` and `make test`.
# CI (.ci/run) runs `make lint fuzz-smoke test`, the same targets people run.

CARGO ?= cargo
ENGAGE_ARGS ?=

.PHONY: run build test lint fmt bench bench-kafka bench-engine bench-cdnlog bench-collector fuzz fuzz-build fuzz-smoke ci clean demo

## run: build (release) and start the whole pipeline on embedded defaults at http://127.0.0.1:8080
run:
	$(CARGO) run --release --locked -p engage -- run $(ENGAGE_ARGS)

build:
	$(CARGO) build --release --locked -p engage

## test: every test: unit, property, integration and end-to-end (starts real engage processes).
## Installs Debian's chromium first if missing: the dashboard's browser test requires it here.
## Starts a Kafka-protocol broker (Tansu) and ClickHouse (chDB behind its HTTP interface) on
## free loopback ports for the run and stops them after (tests/services/with-services.sh);
## KAFKA_BROKERS / CLICKHOUSE_URL set to real servers are used instead.
test:
	tests/deploy/validate.sh
	tests/browser/install.sh
	ENGAGE_REQUIRE_BROWSER=1 tests/services/with-services.sh sh -c '\
		"$$CHDB_PYTHON" -m unittest discover -s tests/clickhouse -t tests/clickhouse && \
		$(CARGO) test --workspace --all-targets --locked'

## demo: engage run (release) fed by engage loadgen for a minute; prints the dashboard URL (DEMO_SECONDS, DEMO_LISTEN)
demo: build
	tests/demo/run.sh

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	cd fuzz && $(CARGO) fmt -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

## bench: criterion benches of the hot paths, and HTTP load on the collector with wrk
bench: bench-engine bench-cdnlog bench-collector bench-kafka

## bench-kafka: consumer records/s read from a real broker (Tansu), decode + engine per core
bench-kafka:
	tests/services/with-services.sh $(CARGO) bench --locked -p engage-kafka --bench consume

bench-engine:
	$(CARGO) bench --locked -p engage-engine --bench engine

## bench-cdnlog: CDN log lines parsed per second, per format, on one core
bench-cdnlog:
	$(CARGO) bench --locked -p engage-model --bench cdnlog

bench-collector: build
	tests/load/collector.sh

## fuzz: libFuzzer on every target (FUZZ_TARGETS) for FUZZ_SECONDS each; installs cargo-fuzz
## (CARGO_FUZZ_VERSION) if missing and builds all targets in one go. Stable toolchain:
## RUSTC_BOOTSTRAP=1 lets it use the nightly-only flags; no sanitizer. Each target starts from its
## seeds in fuzz/corpus/<target> and grows fuzz/target/corpus/<target>; a crash stops the run, is
## saved under fuzz/artifacts/<target>/ and its log's end is printed (README, "Fuzzing").
FUZZ_SECONDS ?= 30
FUZZ_SMOKE_SECONDS ?= 15
FUZZ_TARGETS ?= segment_body pingback_query raw_event_decode cdnlog_ncsa cdnlog_cloudfront cdnlog_cloudflare cdnlog_json
CARGO_FUZZ_VERSION ?= 0.13.2
# The fuzz crate keeps its own target directory (fuzz/target), whatever CARGO_TARGET_DIR says.
FUZZ := env -u CARGO_TARGET_DIR RUSTC_BOOTSTRAP=1 $(CARGO) fuzz
# cargo-fuzz builds with one codegen unit by default; 16 compile in 150 s instead of 230 s here
# (2 cores) and ran the targets as fast.
FUZZ_FLAGS ?= --sanitizer none --codegen-units 16
# cargo-fuzz itself is installed as a debug build: it only drives cargo and libFuzzer, and so
# compiles in 60 s instead of 100 s.
fuzz-build:
	@command -v cargo-fuzz >/dev/null 2>&1 || $(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --debug
	$(FUZZ) build $(FUZZ_FLAGS)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p fuzz/target/corpus/$$t; \
		echo "fuzz $$t for $(FUZZ_SECONDS) s"; \
		if $(FUZZ) run $(FUZZ_FLAGS) $$t fuzz/target/corpus/$$t fuzz/corpus/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) -timeout=10 > fuzz/target/$$t.log 2>&1; then \
			grep -E '^Done|DONE' fuzz/target/$$t.log | tail -n 1; \
		else \
			tail -n 60 fuzz/target/$$t.log; echo "fuzz: $$t failed (log: fuzz/target/$$t.log)"; exit 1; \
		fi; \
	done

## fuzz-smoke: every fuzz target for FUZZ_SMOKE_SECONDS each: what CI runs (under 8 minutes, build included)
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

ci: lint fuzz-smoke test

clean:
	$(CARGO) clean
