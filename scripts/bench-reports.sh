#!/usr/bin/env bash
# Report benchmark: builds the release binary (once), generates 1M contacts over 30 days (once,
# shared with bench-ingest.sh) and ingests them into a cached lake, then times `ctrlake report
# queues` (one week), `report intervals --minutes 15` (one day) and `report agents` (one week)
# against DuckDB running the cross-check SQL of tests/test_kpi_crosscheck.py on the same Parquet,
# same threads, same run, printing wall, peak RSS and the ratios.
#   scripts/bench-reports.sh [--big] [--whole-lake] [--repeat N] [--threads T] [--work DIR]
#   --big adds a 10M-contact lake (~37 GB of NDJSON generated once, deleted after ingest).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
echo "building ctrlake --release (reuses $CARGO_TARGET_DIR)" >&2
# The target dir is shared between checkouts (CI's clone, the work tree); cargo re-links
# target/<profile>/ctrlake only when it rebuilds or the link is missing, so remove it first to
# be sure it is this checkout's binary.
rm -f "$CARGO_TARGET_DIR/release/ctrlake"
cargo build --release -p ctrlake-cli --quiet
scripts/python-env.sh
exec .venv/bin/python scripts/bench_reports.py --ctrlake "$CARGO_TARGET_DIR/release/ctrlake" "$@"
