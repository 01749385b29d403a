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
cargo build --release --locked --bin scout
DATA=$(mktemp -d)
PORT=18181
SCOUT_DATA_DIR="$DATA" SCOUT_EDGE_ADDR="127.0.0.1:$PORT" "$ROOT/target/release/scout" up >/dev/null 2>"$DATA/stderr.log" &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DATA"' EXIT
wait_port "$PORT" 60 || die "scout up did not start: $(cat "$DATA/stderr.log")"
cd "$ROOT/web"
node "$ROOT/bench/web_bench.mjs" "http://127.0.0.1:$PORT" "$ROOT/web/dist" "$ROOT/bench/RESULTS.md"
