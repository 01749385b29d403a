#!/usr/bin/env bash
# End-to-end benchmark of the main job: `scout make` (release) on 10
# generated 15-second 1080x1920 clips with embedded defaults, split by phase
# (upload, analysis, script, voice, compose, download), with the peak RSS of
# the whole mesh (it runs in the scout process). Prints the table and writes
# it into bench/RESULTS.md beside seed 002's target (under 90 s end to end).
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
"$ROOT/scripts/install.sh"
cargo build --release --locked --bin scout
python3 "$ROOT/bench/make_bench.py" "$ROOT/target/release/scout" "$ROOT/target/bench-make" "$ROOT/bench/RESULTS.md"
