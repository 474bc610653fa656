#!/usr/bin/env bash
# Install ctscan_ops for production (core + the `deploy` extra, no sandbox, no dev tools) into a
# fresh venv, at the exact versions of constraints.txt. The Dockerfile's builder stage runs this
# script, and tests/deploy/test_packaging.py runs the same script into a temporary venv, so the
# image's install steps are tested on machines without a Docker daemon.
#
# Usage: deploy/install.sh VENV_DIR [SOURCE_DIR]
# Env:   TORCH_INDEX_URL  extra index holding the CPU torch wheel (the Dockerfile passes
#                         https://download.pytorch.org/whl/cpu; unset where a local wheel exists)
#        PYTHON           interpreter for the venv (default python3; must be 3.11 or 3.12)
set -euo pipefail
VENV=${1:?usage: deploy/install.sh VENV_DIR [SOURCE_DIR]}
SRC=${2:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
"${PYTHON:-python3}" -m venv "$VENV"
pip=("$VENV/bin/pip" install --quiet --no-input --disable-pip-version-check -c "$SRC/constraints.txt")
if [ -n "${TORCH_INDEX_URL:-}" ]; then
  pip+=(--extra-index-url "$TORCH_INDEX_URL")
fi
# torch first and pinned: an open resolution may pull a multi-GB CUDA build.
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" "$SRC[deploy]"
"$VENV/bin/pip" check
