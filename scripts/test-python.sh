#!/usr/bin/env bash
# Python compatibility suite (pyarrow, DuckDB, moto S3) for the ctrlake binary.
#
# Prepares .venv (scripts/python-env.sh) and the browser (scripts/browser-env.sh: Chromium from
# Debian's packages), then runs pytest. The binary is $CTRLAKE_BIN, by
# default $CARGO_TARGET_DIR/debug/ctrlake with CARGO_TARGET_DIR defaulting to
# ~/.cache/ctrlake-target. Extra arguments go to pytest. Exits with pytest's exit code.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
scripts/python-env.sh
scripts/browser-env.sh
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
export CTRLAKE_BIN="${CTRLAKE_BIN:-$CARGO_TARGET_DIR/debug/ctrlake}"
exec .venv/bin/python -m pytest tests -q "$@"
