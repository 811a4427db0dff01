#!/usr/bin/env bash
# Validates the Kubernetes manifests under deploy/kubernetes offline (strict: unknown fields are
# errors) with kubernetes-validate from PyPI, installed into target/deploy-venv on first use.
# (That their `args` parse as engage commands is a unit test of crates/engage/src/cli.rs.)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/target/deploy-venv"
if [[ ! -x "$venv/bin/kubernetes-validate" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0"
fi
"$venv/bin/kubernetes-validate" --strict --quiet "$root"/deploy/kubernetes/*.yaml
echo "deploy/kubernetes: valid"
