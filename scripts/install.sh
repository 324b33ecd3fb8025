#!/usr/bin/env bash
# Create .venv and install Lumen with pinned, tested versions (idempotent; seconds when up to date).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/system-deps.sh
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.lumen-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ packaging/constraints.txt -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, pinned: the CPU build lies on local disk; the CUDA build would be gigabytes.
  .venv/bin/python -m pip install -q -c packaging/constraints.txt "torch==2.13.0"
  .venv/bin/python -m pip install -q -c packaging/constraints.txt -e ".[test]"
  touch "$stamp"
fi
