#!/usr/bin/env bash
# Runs every test: the Rust unit and integration tests, then the Python compatibility suite
# (pyarrow, DuckDB and a local S3 server reading/writing through the real binary). Installs what
# it needs into project-local places: .venv for Python tools; Rust crates through cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
mkdir -p "$CARGO_TARGET_DIR"
# The target dir is shared between checkouts (CI's clone, the work tree); cargo re-links
# target/<profile>/ctrlake only when it rebuilds or the link is missing, so remove it first to
# be sure it is this checkout's binary.
rm -f "$CARGO_TARGET_DIR/debug/ctrlake" "$CARGO_TARGET_DIR/debug/bootstrap"
# The Lambda function must stay small: no DataFusion, no backfill machinery.
forbidden=$(cargo tree -p ctrlake-lambda -e normal --prefix none --locked |
  grep -E '^(datafusion|memmap2|glob|crossbeam-channel|ctrlake-query) ' || true)
if [ -n "$forbidden" ]; then
  echo "ctrlake-lambda links what it must not:" >&2
  echo "$forbidden" | sort -u >&2
  exit 1
fi
cargo build --workspace --locked
cargo test --workspace --locked
scripts/test-python.sh
