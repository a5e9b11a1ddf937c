#!/usr/bin/env bash
# Creates (or refreshes) the project-local virtual environment .venv with the pinned Python tools
# from tests/requirements.txt (pyarrow, DuckDB, moto, pytest, ...). Idempotent: pip runs only
# when requirements.txt changed since the last successful install.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
stamp=.venv/.requirements.sha256
want=$(sha256sum tests/requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
  echo "$want" > "$stamp"
fi
