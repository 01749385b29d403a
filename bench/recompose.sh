#!/usr/bin/env bash
# Re-compose benchmark (issue 17): on `scout up` (embedded defaults), one
# task of three clips is composed in full, then again after editing one of
# its paragraphs, then again after changing only the subtitle style; and
# the time to the first preview. Prints the table next to the full compose
# (the baseline) and writes it into bench/RESULTS.md. Not a test: nothing
# is asserted.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
"$ROOT/scripts/install.sh" --test
"$ROOT/scripts/build-web.sh"
# PROFILE=dev measures the debug binary the test command already built.
PROFILE=${PROFILE:-release}
cargo build --profile "$PROFILE" --locked --bin scout
BIN_DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
DATA=$(mktemp -d)
PORT=18182
SCOUT_DATA_DIR="$DATA" SCOUT_EDGE_ADDR="127.0.0.1:$PORT" SCOUT_QUOTAS_ENABLED=false \
  SCOUT_EDGE_RATE_LIMITS_DEFAULT_LIMIT=100000 \
  "$ROOT/target/$BIN_DIR/scout" up >/dev/null 2>"$DATA/stderr.log" &
PID=$!
# The render node's own timings (speech, preview, prepare, pieces, join,
# package) are kept in target/bench-recompose.log for a look afterwards.
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; grep -E "compose (job|speech|preview)|composed" "$DATA/stderr.log" > "$ROOT/target/bench-recompose.log" 2>/dev/null; rm -rf "$DATA"' EXIT
wait_port "$PORT" 90 || die "scout up did not start: $(cat "$DATA/stderr.log")"
"$ROOT/scripts/sample-clips.sh" "$DATA/clips" >/dev/null
python3 "$ROOT/bench/recompose_bench.py" "http://127.0.0.1:$PORT" "$DATA" "$DATA/clips" "$ROOT/bench/RESULTS.md" "$BIN_DIR"
