#!/usr/bin/env bash
# Ingest benchmark: builds the release binary (once; ~5 min cold on 2 cores), generates 1M
# contacts (once, ~3.5 GB), then times `ctrlake ingest files` and DuckDB on the same file with the
# same threads in the same run, printing records/s, MB/s, peak RSS and the ratio.
#   scripts/bench-ingest.sh [--contacts N] [--days D] [--threads T] [--repeat N] [--variants] [--work DIR]
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
exec .venv/bin/python scripts/bench_ingest.py --ctrlake "$CARGO_TARGET_DIR/release/ctrlake" "$@"
