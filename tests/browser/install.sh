#!/usr/bin/env bash
# Installs headless Chromium (Debian's `chromium` package) and a font for the dashboard's
# browser test (crates/engage/tests/dashboard_e2e.rs), unless a Chromium is already there.
# Called by `make test`; needs root (as CI is) or sudo.
set -euo pipefail
for bin in "${CHROMIUM:-}" chromium chromium-browser google-chrome; do
  if [ -n "$bin" ] && command -v "$bin" >/dev/null 2>&1; then
    exit 0
  fi
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "tests/browser/install.sh: need root or sudo to install chromium" >&2; exit 1; }
  sudo="sudo"
fi
echo "installing chromium (Debian package) for the dashboard's browser test"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
chromium --version
