#!/usr/bin/env bash
# Writes three phone-like sample clips (portrait 720x1280, 30 fps, H.264 +
# AAC, 5-6 s) into DIR (default scout-data/samples), made with FFmpeg's
# built-in test sources, so `scout make` has something to work on without
# real footage. Existing clips are kept.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
DIR="${1:-$ROOT/scout-data/samples}"
mkdir -p "$DIR"
make_clip() { # name, video source, seconds, tone Hz
  local out="$DIR/$1.mp4"
  [ -s "$out" ] && return 0
  ffmpeg -v error -y -f lavfi -i "$2" -f lavfi -i "sine=frequency=$4:duration=$3" \
    -t "$3" -vf "scale=720:1280,format=yuv420p" -r 30 \
    -c:v libx264 -preset veryfast -crf 23 -c:a aac -b:a 96k -shortest -movflags +faststart "$out"
}
make_clip 01-storefront "testsrc2=size=720x1280:rate=30" 6 330
make_clip 02-signature-dish "mandelbrot=size=720x1280:rate=30" 5 440
make_clip 03-dining-room "gradients=size=720x1280:rate=30:c0=0x8a4b2a:c1=0xf2c27b:c2=0x3d2b1f:nb_colors=3:speed=0.02" 5 550
say "sample clips in $DIR"
