#!/usr/bin/env bash
# Create .venv and install ctscan_ops with every extra the demo and the tests need
# (sandbox, deploy, dev) at the exact versions CI resolved (constraints.txt). Idempotent: re-runs
# only when pyproject.toml or constraints.txt changed. torch is pinned and installed first (a CPU
# wheel; an open range could pull a multi-GB CUDA build). pip, not uv: uv cannot see the local
# CPU torch wheel these machines use. Where no local +cpu wheel exists, set
# TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.ctscan-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi
.venv/bin/pip install -q --upgrade pip
pip=(.venv/bin/pip install -q -c constraints.txt)
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  pip+=(--extra-index-url "$TORCH_INDEX_URL")
fi
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e '.[sandbox,deploy,dev]'
.venv/bin/pip check
echo "$want" > "$stamp"
if ! command -v "${CTSCAN_GCLOUD:-gcloud}" >/dev/null 2>&1; then
  echo "setup: WARNING gcloud not found: the Firestore emulator cannot start." >&2
  echo "       Install google-cloud-cli-firestore-emulator or set CTSCAN_GCLOUD." >&2
fi
echo "setup: done in ${SECONDS}s (package install; the demo reports its own phases)"
