#!/usr/bin/env bash
# Render benchmark: Scout's compose and frame extraction against seed 000's
# FFmpeg recipes on one generated corpus, in one run. Prints the table and
# writes it into bench/RESULTS.md (with the date and the machine).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
"$ROOT/scripts/install.sh"
cargo build --release --locked --bin scout
python3 "$ROOT/bench/render_bench.py" "$ROOT/target/release/scout" "$ROOT/target/bench-render" "$ROOT/bench/RESULTS.md"
