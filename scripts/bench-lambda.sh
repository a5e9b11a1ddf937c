#!/usr/bin/env bash
# Lambda function benchmark: builds the release `bootstrap` and `ctrlake` once (reusing
# $CARGO_TARGET_DIR), then sends a batch of generated CTRs through cargo-lambda's runtime
# emulator (from .venv) and prints duration, peak memory, binary size and the cold start.
#   scripts/bench-lambda.sh [--records N] [--warm N] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
echo "building ctrlake and bootstrap --release (reuses $CARGO_TARGET_DIR)" >&2
# Built apart: built together, cargo would unify features and link the writer's backfill
# machinery into the function, which the measured binary must not have.
cargo build --release -p ctrlake-lambda --quiet
cargo build --release -p ctrlake-cli --quiet
scripts/python-env.sh
exec .venv/bin/python scripts/bench_lambda.py \
  --bootstrap "$CARGO_TARGET_DIR/release/bootstrap" \
  --ctrlake "$CARGO_TARGET_DIR/release/ctrlake" \
  --cargo-lambda .venv/bin/cargo-lambda "$@"
