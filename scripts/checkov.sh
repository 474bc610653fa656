#!/usr/bin/env bash
# Run checkov over terraform/ from its own tool venv.
#
# checkov is kept out of the project venv on purpose: resolved together with the Dagster line,
# evidently and the google-cloud clients, pip backtracks through ~1,000 checkov releases and
# silently settles on a 2022 release. Its own venv resolves at once.
#
# Usage: scripts/checkov.sh [extra checkov args]
# Exit code: checkov's (0 = clean, 1 = failed checks), 2 = setup failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${CHECKOV_VENV:-$ROOT/.cache/checkov-venv}"
SPEC="${CHECKOV_SPEC:-checkov>=3.2,<3.4}"
PYTHON="${PYTHON:-python3}"

if [[ ! -x "$VENV/bin/checkov" ]]; then
  echo "checkov.sh: creating $VENV ($SPEC)" >&2
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV" || { echo "checkov.sh: cannot create venv at $VENV" >&2; exit 2; }
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "$SPEC" \
    || { echo "checkov.sh: pip install $SPEC failed" >&2; exit 2; }
fi

# No CLI config lookups (silences a warning when ~/.terraformrc is absent).
export TF_CLI_CONFIG_FILE="${TF_CLI_CONFIG_FILE:-/dev/null}"

cd "$ROOT"
exec "$VENV/bin/checkov" -d terraform --framework terraform --skip-download --quiet --compact "$@"
