#!/usr/bin/env bash
# Creates or updates the venv of the ClickHouse test front: tests/clickhouse/install.sh VENV_DIR
# Idempotent and silent when VENV_DIR already holds what requirements.txt pins (a stamp file
# holds the hash of requirements.txt). PYTHON picks the interpreter (default python3).
set -euo pipefail
venv="${1:?usage: $0 VENV_DIR}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-python3}"
stamp="$venv/.chfront-requirements"
want="$(sha256sum < "$here/requirements.txt" | cut -d' ' -f1)"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi
echo "install.sh: setting up $venv for tests/clickhouse (chDB, about 180 MB)" >&2
rm -f "$stamp"
# Never cleared: the venv may be shared with other test tooling; pip moves packages to the pins.
[[ -x "$venv/bin/python" ]] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input --no-deps \
    -r "$here/requirements.txt"
"$venv/bin/python" -c 'import chdb.session, lz4.block, lz4.frame, clickhouse_cityhash.cityhash'
echo "$want" > "$stamp.tmp" && mv "$stamp.tmp" "$stamp"
