#!/usr/bin/env bash
# Create .venv and install ctscan_ops with its dev extras. Idempotent: re-runs only when
# pyproject.toml changed. torch is pinned and installed first (a CPU wheel; an open range could
# pull a multi-GB CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.ctscan-installed
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "setup: .venv is up to date"
  exit 0
fi
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q "torch==2.13.0"
.venv/bin/pip install -q -e '.[dev]'
.venv/bin/pip check
echo "$want" > "$stamp"
if ! command -v "${CTSCAN_GCLOUD:-gcloud}" >/dev/null 2>&1; then
  echo "setup: WARNING gcloud not found: the Firestore emulator cannot start." >&2
  echo "       Install google-cloud-cli-firestore-emulator or set CTSCAN_GCLOUD." >&2
fi
echo "setup: done"
