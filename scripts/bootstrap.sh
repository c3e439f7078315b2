#!/usr/bin/env bash
# Create .venv and install Glimpse with the given extras. Safe to run again: it skips work already done.
# torch is installed first and pinned: any other torch request pulls a multi-GB CUDA build on many machines.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-tools}"
TORCH="torch==2.13.0"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
fi
stamp=".venv/.glimpse-installed-$extras"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha256sum | cut -c1-16)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "Installing Glimpse ($extras) into .venv ..." >&2
  .venv/bin/python -m pip install --quiet "$TORCH"
  .venv/bin/python -m pip install --quiet -e ".[$extras]" "$TORCH"
  echo "$want" > "$stamp"
fi
