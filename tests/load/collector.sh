#!/usr/bin/env bash
# HTTP load on the collector with wrk, side by side with a baseline on the same process:
#   baseline: GET /healthz (the HTTP stack alone)
#   measured: GET /ping/dot.gif (validation, viewer key, envelope, durable group-committed log)
# Prints both and their ratio; absolute numbers on shared machines are noise, the ratio is the figure.
# Usage: tests/load/collector.sh [seconds] [connections]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-64}
if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"
  (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
bin=target/release/engage
[ -x "$bin" ] || cargo build --release --locked -p engage
data=$(mktemp -d)
out=$(mktemp)
"$bin" run --listen 127.0.0.1:0 --data-dir "$data" >"$out" 2>"$data/engage.log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$data" "$out"' EXIT
for _ in $(seq 100); do grep -q "listening on" "$out" && break; sleep 0.1; done
base=$(sed -n 's/^engage listening on //p' "$out")
[ -n "$base" ] || { echo "engage did not start"; cat "$data/engage.log"; exit 1; }

lua=$(mktemp --suffix .lua)
cat >"$lua" <<'LUA'
-- level-2 sessions of many viewers (distinct user agents) over 500 items
local n = 0
local events = { "initialized", "firstplay", "play", "update", "update", "update", "pause", "resume", "stop" }
local progress = { 0, 0, 0, 10, 20, 30, 35, 35, 40 }
request = function()
  n = n + 1
  local viewer = math.floor(n / #events)
  local i = (n % #events) + 1
  local path = string.format("/ping/dot.gif?item=item%d&ts=%d&il=2&progress=%d&event=%s",
    viewer % 500, os.time() * 1000 + n % 1000, progress[i], events[i])
  return wrk.format("GET", path, { ["User-Agent"] = "Load/Gen 1.0 v" .. viewer })
end
LUA
echo "== baseline: /healthz ($secs s, $conns connections)"
wrk -t2 -c"$conns" -d"${secs}s" --latency "$base/healthz" | tee "$data/base.txt"
echo "== pingbacks: /ping/dot.gif"
wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$lua" "$base/ping/dot.gif" | tee "$data/ping.txt"
b=$(awk '/Requests\/sec/ {print $2}' "$data/base.txt")
p=$(awk '/Requests\/sec/ {print $2}' "$data/ping.txt")
echo "== pingbacks/s: $p, baseline req/s: $b, ratio: $(awk -v p="$p" -v b="$b" 'BEGIN {printf "%.2f", p / b}')"
rm -f "$lua"
