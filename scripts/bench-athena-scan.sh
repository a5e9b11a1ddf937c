#!/usr/bin/env bash
# Athena scan benchmark: builds the release binary once (reusing $CARGO_TARGET_DIR), ingests a
# generated month of contacts and measures what each Athena KPI query reads (DuckDB standing in
# for Athena), with the per-million-contact volumes the deployment costs follow from.
#   scripts/bench-athena-scan.sh [--contacts N] [--days D] [--tz ZONE]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
echo "building ctrlake --release (reuses $CARGO_TARGET_DIR)" >&2
cargo build --release -p ctrlake-cli --quiet
scripts/python-env.sh
exec .venv/bin/python scripts/bench_athena_scan.py --ctrlake "$CARGO_TARGET_DIR/release/ctrlake" "$@"
