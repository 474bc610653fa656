#!/usr/bin/env bash
# README command 1: set up, bring the sandbox up, generate the world, materialize every asset.
# Extra arguments go to `ctscan-ops demo` (e.g. --down-after, --seed 11).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/ctscan-ops demo "$@"
