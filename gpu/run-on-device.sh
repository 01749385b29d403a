#!/usr/bin/env bash
# GPU checks and benchmarks for a lent NVIDIA machine (see the tool
# library's `device`). Nothing is built there: that machine has the driver
# and CUDA but no Rust toolchain, no FFmpeg and no package registries.
#
#   gpu/run-on-device.sh pack   here: builds the release `scout` and the
#                               scout-gpu test binary, gathers the shared
#                               libraries `ldd` shows they need (FFmpeg's and
#                               theirs, not glibc's), generates the clips, into
#                               target/gpu-carry/ (carry that path)
#   gpu/run-on-device.sh unpack there: only unpacks the libraries into
#                               target/gpu-carry/lib (kept between calls), so
#                               the libraries and the binary and clips can
#                               travel in two calls of 64 MiB each
#   gpu/run-on-device.sh        there: runs the device tests (ignored by
#                               default), `scout gpu-bench` (NVDEC vs CPU decode
#                               fps and PSNR; the device fit kernels against
#                               their CPU reference, byte for byte; our NVENC
#                               session where the card has one; extraction on
#                               the GPU path against the CPU's JPEGs; 20
#                               copies of the HEVC clip extracted on the CPU,
#                               on one NVDEC engine and on all), frame
#                               extraction and compose on the CPU and on the
#                               GPU path, and prints one Markdown report
#                               (also $OUT/bench.md)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CARRY="$ROOT/target/gpu-carry"

if [ "${1:-}" = "pack" ]; then
  cd "$ROOT"
  cargo build --release --locked --bin scout --features nvidia
  rm -rf "$CARRY/bin" "$CARRY/libs.tar.xz"
  mkdir -p "$CARRY/bin" "$CARRY/clips"
  # Compressed: the binary, the test binary and the clips travel in one
  # call under the device tool's 64 MiB.
  strip -o "$CARRY/scout" target/release/scout
  xz -T0 -6 -c "$CARRY/scout" > "$CARRY/bin/scout.xz"
  # The probe tests, ignored unless asked for.
  test_bin=$(cargo test --release --locked -p scout-gpu --features nvidia --lib --no-run --message-format=json 2>/dev/null \
    | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("executable") and m["target"]["kind"]==["lib"]:
        print(m["executable"])' | tail -1)
  cp "$test_bin" "$CARRY/bin/scout-gpu-tests"
  # Every shared library but glibc's own (the device's is newer and must be
  # used) and those the device image already has (gpu/device-has-libs.txt,
  # read off the lent machine with ldconfig -p; carrying less keeps the
  # upload under the 64 MiB the device tool takes).
  libs=$(mktemp -d)
  ldd target/release/scout | awk '/=> \//{print $1, $3}' | while read -r soname lib; do
    grep -qxF "$soname" "$ROOT/gpu/device-has-libs.txt" 2>/dev/null && continue
    case "$soname" in
      libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|libresolv.so.*|ld-linux*|libgcc_s.so.*) ;;
      *) cp -L "$lib" "$libs/" ;;
    esac
  done
  tar -C "$libs" -cJf "$CARRY/libs.tar.xz" .
  rm -rf "$libs"
  # Clips: phone-shaped 1080x1920 H.264 High (15 s, 8 Mbps) and HEVC Main 10 (10 s).
  [ -f "$CARRY/clips/h264_1080x1920_15s.mp4" ] || ffmpeg -v error -y -f lavfi \
    -i "testsrc2=size=1080x1920:rate=30:duration=15,noise=alls=10:allf=t" -c:v libx264 -preset veryfast \
    -profile:v high -b:v 8M -maxrate 10M -bufsize 16M -g 60 -pix_fmt yuv420p "$CARRY/clips/h264_1080x1920_15s.mp4"
  [ -f "$CARRY/clips/hevc10_1080x1920_10s.mp4" ] || ffmpeg -v error -y -f lavfi \
    -i "testsrc2=size=1080x1920:rate=30:duration=10,noise=alls=10:allf=t" -c:v libx265 -preset ultrafast \
    -x265-params log-level=error -b:v 5M -pix_fmt yuv420p10le -tag:v hvc1 "$CARRY/clips/hevc10_1080x1920_10s.mp4"
  du -sh "$CARRY"/* | sed 's/^/packed: /'
  exit 0
fi

# ---- on the device ----
if [ -f "$CARRY/libs.tar.xz" ] && { [ ! -d "$CARRY/lib" ] || [ "$CARRY/libs.tar.xz" -nt "$CARRY/lib" ]; }; then
  rm -rf "$CARRY/lib" && mkdir -p "$CARRY/lib"
  tar -C "$CARRY/lib" -xJf "$CARRY/libs.tar.xz"
  touch "$CARRY/lib"
fi
[ "${1:-}" = "unpack" ] && { echo "libraries in $CARRY/lib: $(ls "$CARRY/lib" | wc -l)"; exit 0; }
[ -f "$CARRY/bin/scout.xz" ] || { echo "no $CARRY/bin/scout.xz: run 'gpu/run-on-device.sh pack' here and carry target/gpu-carry/bin" >&2; exit 2; }
xz -dc "$CARRY/bin/scout.xz" > "$CARRY/scout" && chmod +x "$CARRY/scout"
OUT="${OUT:-$(mktemp -d)}"
WORK="$(mktemp -d)"
export LD_LIBRARY_PATH="$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
SCOUT="$CARRY/scout"
H264="$CARRY/clips/h264_1080x1920_15s.mp4"
HEVC="$CARRY/clips/hevc10_1080x1920_10s.mp4"
report="$OUT/bench.md"
: > "$report"
say() { echo "$*" | tee -a "$report"; }

say "# GPU node run: $(date -u +%Y-%m-%dT%H:%MZ)"
say ""
say "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo none)"
say "cpu: $(nproc) cores"
say ""

say "## scout-gpu tests on the device"
# Every test of the crate, the ignored device ones included: on a GPU the
# NVDEC and NVENC tests decode and encode for real.
if "$CARRY/bin/scout-gpu-tests" --include-ignored --test-threads 1 > "$OUT/device-tests.txt" 2>&1; then
  say "PASS: $(grep -c '^test .* ok$' "$OUT/device-tests.txt") test(s), device ones included"
  grep '^test ' "$OUT/device-tests.txt" | sed 's/^/    /' >> "$report"
else
  say "FAIL: see device-tests.txt"; cat "$OUT/device-tests.txt"
fi
say ""

say "## Decode: NVDEC (FFmpeg cuvid) vs CPU, every frame; PSNR of NVDEC's frames against the CPU's"
"$SCOUT" gpu-bench "$H264" "$HEVC" --sample-every 10 --require-psnr 40 --extract-copies 20 2>&1 | tee "$OUT/gpu-bench.txt" | grep -v '^probe:' >> "$report" || say "FAIL: gpu-bench (see gpu-bench.txt)"
say ""

# Median of three runs of a command, in seconds.
timed() {
  local times=()
  for _ in 1 2 3; do
    local s e
    s=$EPOCHREALTIME
    "$@" > /dev/null 2>> "$OUT/stderr.txt"
    e=$EPOCHREALTIME
    times+=("$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }')")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n 2p
}

say "## Frame extraction (1 frame / 2 s, 360 px JPEGs, as the vision worker asks), median of 3"
say "| clip | CPU only, media.gpu=off (s) | auto: the per-stage plan (s) | NVDEC forced, media.gpu=always (s) |"
say "|---|---|---|---|"
for clip in "$H264" "$HEVC"; do
  cpu=$(timed env SCOUT_MEDIA_GPU=off "$SCOUT" frames "$clip" --every 2 --max-dimension 360 -o "$WORK/f-cpu")
  auto=$(timed env SCOUT_MEDIA_GPU=auto "$SCOUT" frames "$clip" --every 2 --max-dimension 360 -o "$WORK/f-auto")
  gpu=$(timed env SCOUT_MEDIA_GPU=always "$SCOUT" frames "$clip" --every 2 --max-dimension 360 -o "$WORK/f-gpu")
  say "| $(basename "$clip") | $cpu | $auto | $gpu |"
done
say ""

say "## Compose: a 60 s 1080x1920 output from the H.264 clip (4 x 15 s), no voice"
cat > "$WORK/timeline.json" <<EOF
{"segments": [
 {"id": "a", "clip": {"media": {"local_path": "$H264"}, "in_seconds": 0, "out_seconds": 15}, "duration_seconds": 15},
 {"id": "b", "clip": {"media": {"local_path": "$H264"}, "in_seconds": 0, "out_seconds": 15}, "duration_seconds": 15},
 {"id": "c", "clip": {"media": {"local_path": "$HEVC"}, "in_seconds": 0, "out_seconds": 10}, "duration_seconds": 15},
 {"id": "d", "clip": {"media": {"local_path": "$H264"}, "in_seconds": 0, "out_seconds": 15}, "duration_seconds": 15}
]}
EOF
cpu=$(cd "$WORK" && timed env SCOUT_MEDIA_GPU=off "$SCOUT" compose timeline.json -o cpu.mp4)
auto=$(cd "$WORK" && timed env SCOUT_MEDIA_GPU=auto "$SCOUT" compose timeline.json -o auto.mp4)
gpu=$(cd "$WORK" && timed env SCOUT_MEDIA_GPU=always "$SCOUT" compose timeline.json -o gpu.mp4)
"$SCOUT" probe "$WORK/cpu.mp4" > "$OUT/cpu-probe.json"
"$SCOUT" probe "$WORK/gpu.mp4" > "$OUT/gpu-probe.json"
say "| path | wall (s) | output |"
say "|---|---|---|"
say "| CPU (libavcodec decode + libx264) | $cpu | $(python3 -c 'import json,sys;p=json.load(open(sys.argv[1]));print(p.get("width"),"x",p.get("height"),p.get("video_codec"),round(p.get("duration_seconds",0),2),"s")' "$OUT/cpu-probe.json" 2>/dev/null || echo see cpu-probe.json) |"
say "| auto (per-stage plan: H.264 on the CPU, HEVC 10-bit on our NVDEC path + device fit, libx264 or our NVENC) | $auto | see below |"
say "| GPU forced: our NVDEC path + device fit for every segment, libx264 (Hopper) or our NVENC | $gpu | $(python3 -c 'import json,sys;p=json.load(open(sys.argv[1]));print(p.get("width"),"x",p.get("height"),p.get("video_codec"),round(p.get("duration_seconds",0),2),"s")' "$OUT/gpu-probe.json" 2>/dev/null || echo see gpu-probe.json) |"
say ""
say "GPU fallbacks logged during the runs: $(grep -c 'GPU failed' "$OUT/stderr.txt" || true)"
