#!/usr/bin/env bash
# Compaction benchmark: builds the release binary once (reusing $CARGO_TARGET_DIR), writes a
# generated day as many small files and times `ctrlake compact` and a report before and after.
#   scripts/bench-compact.sh [--contacts N] [--files N] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
echo "building ctrlake --release (reuses $CARGO_TARGET_DIR)" >&2
cargo build --release -p ctrlake-cli --quiet
scripts/python-env.sh
exec .venv/bin/python scripts/bench_compact.py --ctrlake "$CARGO_TARGET_DIR/release/ctrlake" "$@"
