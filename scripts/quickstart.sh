#!/usr/bin/env bash
# From a fresh machine to a finished video, in one command: installs what is
# missing, builds, writes three sample clips (scripts/sample-clips.sh), and
# runs the main job on embedded defaults (SQLite, in-process cache and bus,
# local blobs under ./scout-data):
#
#   scout make --shop 海底捞火锅(望京店) --type food --style recommend \
#              --promo "人均89，招牌毛肚七上八下" scout-data/samples/*.mp4 -o scout-data/out.mp4
#
# which starts the whole mesh in-process, logs in (the SMS code comes from
# the local outbox), uploads the clips, analyses them, writes the script,
# speaks it, renders the 1080x1920 video and downloads it — through the same
# public API a phone uses. It ends by saying how to start the web app and
# which URL to open. Pass your own clips to use them instead:
#   scripts/quickstart.sh my1.mp4 my2.mp4
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/install.sh"
"$ROOT/scripts/build-web.sh"
say "building scout (release, with the web app built in)"
cargo build --release --locked --bin scout
SCOUT="$ROOT/target/release/scout"
DATA="$ROOT/scout-data"
mkdir -p "$DATA"

if [ "$#" -gt 0 ]; then
  CLIPS=("$@")
else
  "$ROOT/scripts/sample-clips.sh" "$DATA/samples"
  CLIPS=("$DATA"/samples/*.mp4)
fi

say "scout make: ${#CLIPS[@]} clips in, a finished video out"
"$SCOUT" make --shop "海底捞火锅(望京店)" --type food --style recommend \
  --promo "人均89，招牌毛肚七上八下" --data-dir "$DATA" -o "$DATA/out.mp4" "${CLIPS[@]}"
say "done: $DATA/out.mp4"
say "to use the web app: $SCOUT up --data-dir $DATA   then open http://127.0.0.1:8080"
