#!/usr/bin/env bash
# The main job on the embedded default: generate a week of realistic CTRs and the agent event
# stream that goes with them into ./sample (Firehose-style gzip archives), ingest both into the
# local lake ./lake, print the ingest summary and the second-precision KPI reports in Tokyo time
# (the week's queues, a day's agents, and where that day's agent time went).
# Re-running replaces the same files (names derive from the input), so it is safe to repeat.
#   scripts/demo.sh [CONTACTS]
set -euo pipefail
cd "$(dirname "$0")/.."
contacts="${1:-20000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ctrlake-target}"
# The target dir is shared between checkouts (CI's clone, the work tree); cargo re-links
# target/<profile>/ctrlake only when it rebuilds or the link is missing, so remove it first to
# be sure it is this checkout's binary.
rm -f "$CARGO_TARGET_DIR/release/ctrlake"
cargo build --release -p ctrlake-cli --quiet
ctrlake="$CARGO_TARGET_DIR/release/ctrlake"
"$ctrlake" gen --contacts "$contacts" --seed 1 --days 7 --start 2026-03-01 \
  --format firehose --gzip --out sample/ctr-2026-03-01.json.gz \
  --agent-events sample/agent-events-2026-03-01.json.gz
"$ctrlake" ingest files sample/ --lake lake
echo
echo "== queue KPIs per day (Asia/Tokyo), service level at 20 s and 60 s =="
"$ctrlake" report queues --lake lake --from 2026-03-01 --to 2026-03-07 --tz Asia/Tokyo --sl 20,60
echo
echo "== agent KPIs, 2026-03-02 (Asia/Tokyo) =="
"$ctrlake" report agents --lake lake --date 2026-03-02 --tz Asia/Tokyo
echo
echo "== agent activity from the agent event stream, 2026-03-02 (Asia/Tokyo) =="
"$ctrlake" report agent-activity --lake lake --date 2026-03-02 --tz Asia/Tokyo
echo
"$ctrlake" report html --lake lake --date 2026-03-07 --tz Asia/Tokyo --out report.html
echo "== the nightly page for 2026-03-07 (Asia/Tokyo): $(pwd)/report.html (open it in a browser) =="
