#!/usr/bin/env bash
# Kinesis consumer benchmark: builds the release binary and the local Kinesis (the ferrokinesis
# emulator, `local_kinesis` example) once, puts generated CTRs into a 4-shard local stream, and
# measures the consumer: records/s draining the stream, freshness (put -> visible to
# `ctrlake sql`) at a 1 s and a 10 s flush interval, files per hour per shard, peak RSS.
#   scripts/bench-kinesis.sh [--records N] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
echo "building ctrlake and local_kinesis --release (reuses $CARGO_TARGET_DIR)" >&2
rm -f "$CARGO_TARGET_DIR/release/ctrlake"
cargo build --release -p ctrlake-cli --quiet
cargo build --release -p ctrlake-kinesis --example local_kinesis --quiet
scripts/python-env.sh
exec .venv/bin/python scripts/bench_kinesis.py \
  --ctrlake "$CARGO_TARGET_DIR/release/ctrlake" \
  --local-kinesis "$CARGO_TARGET_DIR/release/examples/local_kinesis" "$@"
