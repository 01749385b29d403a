#!/usr/bin/env bash
# Web app benchmark: the bundle's size (raw and gzipped, per file and in
# all) and its first load in headless Chromium against `scout up` (release,
# embedded defaults): time to the login page's first contentful paint and
# to `load`, cold cache, median of several loads. Prints the table and
# writes it into bench/RESULTS.md. Not a test: nothing is asserted.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
"$ROOT/scripts/install.sh" --test
"$ROOT/scripts/build-web.sh"
# PROFILE=dev measures the debug binary the test command already built
# (the edge serves the same embedded bytes; a release build takes a while
# on a small machine).
PROFILE=${PROFILE:-release}
cargo build --profile "$PROFILE" --locked --bin scout
BIN_DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
DATA=$(mktemp -d)
PORT=18181
SCOUT_DATA_DIR="$DATA" SCOUT_EDGE_ADDR="127.0.0.1:$PORT" "$ROOT/target/$BIN_DIR/scout" up >/dev/null 2>"$DATA/stderr.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
wait_port "$PORT" 60 || die "scout up did not start: $(cat "$DATA/stderr.log")"
cd "$ROOT/web"
BENCH_PROFILE="$BIN_DIR" node "$ROOT/web/e2e/first_load.mjs" "http://127.0.0.1:$PORT" "$ROOT/web/dist" "$ROOT/bench/RESULTS.md"
