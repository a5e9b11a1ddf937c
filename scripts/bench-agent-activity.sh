#!/usr/bin/env bash
# Agent activity benchmark: builds the release binary once (reusing $CARGO_TARGET_DIR),
# generates a day of agent events, times their ingest and `report agent-activity` against
# DuckDB running the same SQL on the same files.
#   scripts/bench-agent-activity.sh [--contacts N] [--repeat N]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
echo "building ctrlake --release (reuses $CARGO_TARGET_DIR)" >&2
cargo build --release -p ctrlake-cli --quiet
scripts/python-env.sh
exec .venv/bin/python scripts/bench_agent_activity.py --ctrlake "$CARGO_TARGET_DIR/release/ctrlake" "$@"
