#!/usr/bin/env bash
# From a fresh machine to Scout answering through its edge, in one command:
# installs what is missing, builds, starts the whole mesh on embedded
# defaults (`scout up`: SQLite, in-process cache and bus, local blobs under
# ./scout-data), logs in (phone + SMS code, read from the local outbox), asks
# the render node for its capabilities through the edge (gRPC and REST), and stops. Pass --keep to leave the mesh running.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/install.sh"
say "building scout (release)"
cargo build --release --locked --bin scout
SCOUT="$ROOT/target/release/scout"
ADDR="${SCOUT_EDGE_ADDR:-127.0.0.1:8080}"
DATA="$ROOT/scout-data"
mkdir -p "$DATA"

say "starting the mesh: scout up (logs in scout-data/scout.log)"
SCOUT_TELEMETRY_LOG_FORMAT=json "$SCOUT" up --data-dir "$DATA" --edge-addr "$ADDR" >"$DATA/scout.out" 2>"$DATA/scout.log" &
PID=$!
trap 'kill -TERM $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 600); do
  grep -q "Scout is up" "$DATA/scout.out" 2>/dev/null && break
  kill -0 $PID 2>/dev/null || { cat "$DATA/scout.log" >&2; die "scout up exited"; }
  sleep 0.1
done
cat "$DATA/scout.out"

say "logging in: scout login (the SMS code comes from scout-data/sms-outbox.log)"
TOKEN=$("$SCOUT" login --edge "http://$ADDR" --data-dir "$DATA")
say "RenderService/Capabilities through the edge (gRPC)"
"$SCOUT" capabilities --edge "http://$ADDR" --data-dir "$DATA"
say "the same over REST: curl -H 'Authorization: Bearer …' http://$ADDR/api/v1/render/capabilities"
curl -s -H "Authorization: Bearer $TOKEN" "http://$ADDR/api/v1/render/capabilities" | head -c 300; echo " ..."

if [ "${1:-}" = "--keep" ]; then
  trap - EXIT
  say "the mesh keeps running (pid $PID); stop it with: kill $PID"
  exit 0
fi
kill -TERM $PID
wait $PID
say "stopped cleanly"
