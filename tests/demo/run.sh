#!/usr/bin/env bash
# `make demo`: engage run (release build, embedded defaults, a fresh data directory) fed by
# `engage loadgen` (players and webinar audiences) for about a minute, with the dashboard's
# URL printed first. Stops engage cleanly at the end or on Ctrl-C: nothing is left listening.
#
#   DEMO_LISTEN   address to serve on (default 127.0.0.1:8080)
#   DEMO_SECONDS  how long loadgen feeds it (default 60)
#   DEMO_ARGS     extra loadgen flags (e.g. "--rate 400 --webinars 5")
#   DEMO_KEEP=1   keep serving after the feed until Enter / Ctrl-C (the default on a terminal)
set -euo pipefail
cd "$(dirname "$0")/../.."
listen=${DEMO_LISTEN:-127.0.0.1:8080}
secs=${DEMO_SECONDS:-60}
bin=target/release/engage
[ -x "$bin" ] || cargo build --release --locked -p engage
data=$(mktemp -d)
pid=""
stop() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  pid=""
  rm -rf "$data"
}
trap stop EXIT
trap 'echo; echo "stopping"; exit 130' INT TERM

"$bin" run --listen "$listen" --data-dir "$data/engage" >"$data/stdout" 2>"$data/engage.log" &
pid=$!
for _ in $(seq 100); do
  grep -q "listening on" "$data/stdout" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
base=$(sed -n 's/^engage listening on //p' "$data/stdout")
if [ -z "$base" ]; then
  echo "engage did not start (is $listen already in use? set DEMO_LISTEN):" >&2
  cat "$data/engage.log" >&2
  exit 1
fi
echo
echo "  dashboard: $base/"
echo "  API:       $base/api/v1/items"
echo
echo "feeding it with engage loadgen for ${secs}s (players, webinars, retries and deliberate bad requests)"
# shellcheck disable=SC2086
ENGAGE_LOG=warn "$bin" loadgen --target "$base" --duration-seconds "$secs" --rate 150 --speed 15 \
  --items 30 --webinars 3 --attendees 60 ${DEMO_ARGS:-}
echo
echo "  dashboard: $base/"
if [ "${DEMO_KEEP:-}" = 1 ] || { [ -z "${DEMO_KEEP:-}" ] && [ -t 0 ] && [ -t 1 ]; }; then
  read -r -p "feed done; the dashboard stays up: press Enter to stop " _ || true
fi
echo "stopping engage"
stop
echo "stopped"
