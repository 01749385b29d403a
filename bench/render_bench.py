#!/usr/bin/env python3
"""Render benchmark: Scout's one-pass compose and frame extraction against
seed 000's FFmpeg recipes, on the same generated corpus, in one run.

Corpus: six 20-second 1080x1920 phone-like clips (H.264 High, a keyframe
every second, 12 Mb/s, camera-like grain), one 60-second voice track spoken
by espeak-ng, and subtitles. Each row reports wall time, CPU time (user +
sys), peak RSS and, for compose, SSIM of the output against a lossless
reference render of the same timeline.

Usage: bench/render_bench.py SCOUT_BINARY WORK_DIR RESULTS_MD
"""

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

CLIPS = 6
CLIP_SECONDS = 20
SLOT = 10.0  # each clip fills 10 s of the 60 s output, centred: 5 s to 15 s
SOURCES = [
    "testsrc2=size=1080x1920:rate=30",
    "mandelbrot=size=1080x1920:rate=30",
    "gradients=size=1080x1920:rate=30:speed=0.03",
    "life=size=1080x1920:rate=30:mold=10:ratio=0.1:life_color=#ff8800:death_color=#202040",
    "cellauto=size=1080x1920:rate=30:rule=110",
    "smptehdbars=size=1080x1920:rate=30",
]
PARAGRAPHS = [
    "家人们！今天给你们探一家望京超火的海底捞，周末晚上六点就开始排队了。",
    "一进门就是满满的烟火气，环境干净明亮，服务员小姐姐特别热情。",
    "招牌毛肚一定要试，七上八下刚刚好，脆嫩爽口，蘸上特调油碟绝了。",
    "还有他们家的虾滑和捞面，现场表演拉面，小朋友看得目不转睛。",
    "人均八十九，现在团购还有优惠，性价比真的很高，强烈推荐。",
    "喜欢的话记得点赞收藏，评论区告诉我你最想去哪家店！",
]


def run(cmd, **kw):
    """Runs a command; returns (wall s, cpu s, peak RSS MiB)."""
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{err[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0


def ffmpeg(*args):
    return ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *map(str, args)]


def corpus(work: Path, scout: str):
    """Generates the clips and the voice once."""
    clips = []
    for i, src in enumerate(SOURCES[:CLIPS]):
        path = work / f"clip{i + 1}.mp4"
        clips.append(path)
        if path.exists():
            continue
        print(f"  generating {path.name}", flush=True)
        vf = "format=yuv420p,noise=alls=10:allf=t+u"
        subprocess.run(
            ffmpeg("-f", "lavfi", "-i", f"{src},{vf}", "-f", "lavfi", "-i", "anoisesrc=color=pink:amplitude=0.05:sample_rate=48000",
                   "-t", CLIP_SECONDS, "-c:v", "libx264", "-preset", "fast", "-profile:v", "high", "-b:v", "12M", "-maxrate", "14M",
                   "-bufsize", "24M", "-g", "30", "-c:a", "aac", "-b:a", "128k", path),
            check=True,
        )
    voice = work / "voice.wav"
    if not voice.exists():
        parts = []
        for i, text in enumerate(PARAGRAPHS):
            part = work / f"voice{i + 1}.wav"
            subprocess.run([scout, "say", text, "-o", str(part)], check=True, stdout=subprocess.DEVNULL)
            parts.append(part)
        listing = work / "voice.txt"
        listing.write_text("".join(f"file '{p}'\n" for p in parts))
        # One 60.0 s track: the paragraphs back to back, padded to the minute.
        subprocess.run(ffmpeg("-f", "concat", "-safe", 0, "-i", listing, "-af", "apad", "-t", 60, "-ar", 48000, "-ac", 1, voice), check=True)
    return clips, voice


def timeline(clips, voice):
    events = []
    for i, text in enumerate(PARAGRAPHS):
        events.append({"start_seconds": i * SLOT, "end_seconds": (i + 1) * SLOT - 0.3, "text": text})
    return {
        "segments": [
            {"id": f"shot{i + 1}", "clip": {"media": {"local_path": str(c)}}, "duration_seconds": SLOT, "fit": "blur_pad"}
            for i, c in enumerate(clips)
        ],
        "voice": [{"media": {"local_path": str(voice)}, "offset_seconds": 0}],
        "subtitles": {"style": "simple_white", "events": events},
    }


def ssim(a: Path, b: Path) -> float:
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-i", a, "-i", b, "-lavfi",
         "[0:v]settb=AVTB,setpts=PTS-STARTPTS[x];[1:v]settb=AVTB,setpts=PTS-STARTPTS[y];[x][y]ssim", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr
    m = re.search(r"All:([0-9.]+)", out)
    return float(m.group(1)) if m else float("nan")


def probe_duration(path: Path) -> float:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", path],
                         capture_output=True, text=True, check=True).stdout
    return float(out.strip())


def main():
    scout, work, results = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    work.mkdir(parents=True, exist_ok=True)
    print("corpus", flush=True)
    clips, voice = corpus(work, scout)
    tl = work / "timeline.json"
    tl.write_text(json.dumps(timeline(clips, voice), ensure_ascii=False))
    rows = []

    # 1. Scout: one process, one pass.
    print("compose: scout", flush=True)
    ours = work / "scout.mp4"
    w, c, r = run([scout, "compose", str(tl), "-o", str(ours)])
    ass = work / "scout.ass"
    rows.append(("Scout compose (one pass, x264 veryfast, ~4 Mb/s VBV)", w, c, r, ours))

    # Memory does not grow with length: the same material as a 4-minute timeline.
    print("compose: scout, 4 minutes", flush=True)
    long_tl = timeline(clips * 4, voice)
    long_tl["subtitles"]["events"] = [dict(e, start_seconds=e["start_seconds"] + 60 * k, end_seconds=e["end_seconds"] + 60 * k)
                                      for k in range(4) for e in timeline(clips, voice)["subtitles"]["events"]]
    long_file = work / "timeline-4min.json"
    long_file.write_text(json.dumps(long_tl, ensure_ascii=False))
    long_out = work / "scout-4min.mp4"
    long_run = run([scout, "compose", str(long_file), "-o", str(long_out)])

    # 2. Seed 000 §4.5 recipe: cut (-c copy), concat + audio overlay (encode 1), burn subtitles (encode 2).
    print("compose: seed recipe", flush=True)
    seg_dir = work / "recipe"
    shutil.rmtree(seg_dir, ignore_errors=True)
    seg_dir.mkdir()
    t_wall = t_cpu = t_rss = 0.0
    start = (CLIP_SECONDS - SLOT) / 2
    segments = []
    for i, clip in enumerate(clips):
        seg = seg_dir / f"segment{i + 1}.mp4"
        w, c, r = run(ffmpeg("-i", clip, "-ss", start, "-t", SLOT, "-c", "copy", seg))
        t_wall, t_cpu, t_rss = t_wall + w, t_cpu + c, max(t_rss, r)
        segments.append(seg)
    listing = seg_dir / "segments.txt"
    listing.write_text("".join(f"file '{s}'\n" for s in segments))
    joined = seg_dir / "joined.mp4"
    w, c, r = run(ffmpeg("-f", "concat", "-safe", 0, "-i", listing, "-i", voice,
                         "-vf", "scale=1080:1920:force_original_aspect_ratio=decrease,pad=1080:1920:(ow-iw)/2:(oh-ih)/2",
                         "-c:v", "libx264", "-preset", "medium", "-crf", 23, "-c:a", "aac", "-b:a", "128k", "-map", "0:v", "-map", "1:a",
                         "-r", 30, joined))
    t_wall, t_cpu, t_rss = t_wall + w, t_cpu + c, max(t_rss, r)
    recipe = work / "recipe.mp4"
    w, c, r = run(ffmpeg("-i", joined, "-vf", f"subtitles={ass}", "-c:v", "libx264", "-preset", "medium", "-crf", 23,
                         "-c:a", "copy", "-movflags", "+faststart", recipe))
    t_wall, t_cpu, t_rss = t_wall + w, t_cpu + c, max(t_rss, r)
    rows.append(("Seed recipe (copy cuts, concat+audio encode, subtitle encode; medium crf 23)", t_wall, t_cpu, t_rss, recipe))

    # 3. For context: the whole recipe as one FFmpeg pass at veryfast.
    print("compose: single ffmpeg pass", flush=True)
    single = work / "single.mp4"
    w, c, r = run(ffmpeg("-f", "concat", "-safe", 0, "-i", listing, "-i", voice,
                         "-vf", f"scale=1080:1920:force_original_aspect_ratio=decrease,pad=1080:1920:(ow-iw)/2:(oh-ih)/2,subtitles={ass}",
                         "-c:v", "libx264", "-preset", "veryfast", "-crf", 23, "-c:a", "aac", "-b:a", "128k", "-map", "0:v", "-map", "1:a",
                         "-r", 30, "-movflags", "+faststart", single))
    rows.append(("One ffmpeg pass (same filters, veryfast crf 23)", w, c, r, single))

    # Lossless reference of the intended timeline (frame-accurate windows).
    print("reference render (lossless)", flush=True)
    ref = work / "reference.mkv"
    if not ref.exists():
        inputs, chains = [], []
        for i, clip in enumerate(clips):
            inputs += ["-i", clip]
            chains.append(f"[{i}:v]trim={start}:{start + SLOT},setpts=PTS-STARTPTS,fps=30,scale=1080:1920,format=yuv420p[v{i}]")
        graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=1:a=0,subtitles={ass}[out]"
        subprocess.run(ffmpeg(*inputs, "-filter_complex", graph, "-map", "[out]", "-c:v", "libx264", "-qp", 0, "-preset", "ultrafast", ref), check=True)

    # 4. Frame extraction, all six clips.
    print("frames", flush=True)
    frames_rows = []
    w_s = c_s = r_s = 0.0
    for i, clip in enumerate(clips):
        d = work / f"frames-scout-{i}"
        shutil.rmtree(d, ignore_errors=True)
        w, c, r = run([scout, "frames", str(clip), "--every", "2", "-o", str(d)])
        w_s, c_s, r_s = w_s + w, c_s + c, max(r_s, r)
    frames_rows.append(("Scout frames (keyframe seek, ±0.5 s)", w_s, c_s, r_s))
    w_f = c_f = r_f = 0.0
    for i, clip in enumerate(clips):
        d = work / f"frames-ffmpeg-{i}"
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir()
        w, c, r = run(ffmpeg("-i", clip, "-vf", "fps=0.5", "-q:v", 2, d / "frame_%04d.jpg"))
        w_f, c_f, r_f = w_f + w, c_f + c, max(r_f, r)
    frames_rows.append(("ffmpeg -vf fps=0.5 -q:v 2", w_f, c_f, r_f))
    # Fairness: the same frame (clip 1 at 0 s) as each side encodes it, against
    # that frame decoded losslessly. The baseline's JPEG is the same command's
    # encoder and quality on that one frame (its fps filter may pick another).
    src = work / "frame0.yuv"
    subprocess.run(ffmpeg("-i", clips[0], "-frames:v", 1, "-pix_fmt", "yuvj420p", "-f", "rawvideo", src), check=True)
    ffmpeg_jpg = work / "frame0-ffmpeg-q2.jpg"
    subprocess.run(ffmpeg("-i", clips[0], "-frames:v", 1, "-q:v", 2, ffmpeg_jpg), check=True)
    fidelity = []
    for label, jpg in (("Scout", work / "frames-scout-0" / "frame_1.jpg"), ("ffmpeg -q:v 2", ffmpeg_jpg)):
        out = subprocess.run(["ffmpeg", "-hide_banner", "-i", jpg, "-f", "rawvideo", "-pix_fmt", "yuvj420p", "-s", "1080x1920", "-i", src,
                              "-lavfi", "[0:v]format=yuvj420p[a];[a][1:v]psnr", "-f", "null", "-"], capture_output=True, text=True).stderr
        m = re.search(r"average:([0-9.]+)", out)
        fidelity.append((label, float(m.group(1)) if m else float("nan"), jpg.stat().st_size))

    print("ssim", flush=True)
    lines = []
    lines.append("| compose (60 s output) | wall s | CPU s | peak RSS MiB | SSIM vs lossless | duration s |")
    lines.append("|---|---:|---:|---:|---:|---:|")
    scores = [ssim(out, ref) for *_, out in rows]
    for (name, w, c, r, out), score in zip(rows, scores):
        lines.append(f"| {name} | {w:.1f} | {c:.1f} | {r:.0f} | {score:.4f} | {probe_duration(out):.2f} |")
    speed = rows[1][1] / rows[0][1]
    lines.append("")
    lines.append("| frame extraction (6 clips x 20 s, 1 frame / 2 s) | wall s | CPU s | peak RSS MiB |")
    lines.append("|---|---:|---:|---:|")
    for name, w, c, r in frames_rows:
        lines.append(f"| {name} | {w:.2f} | {c:.2f} | {r:.0f} |")
    lines.append("")
    lines.append("JPEG fidelity, clip 1's frame at 0 s as each side encodes it, against that frame decoded losslessly: "
                 + "; ".join(f"{label} {db:.2f} dB PSNR ({size / 1024:.0f} KiB)" for label, db, size in fidelity) + ".")
    lines.append("")
    lines.append("| memory check | output s | wall s | CPU s | peak RSS MiB |")
    lines.append("|---|---:|---:|---:|---:|")
    lines.append(f"| Scout compose, 1 minute | {probe_duration(rows[0][4]):.1f} | {rows[0][1]:.1f} | {rows[0][2]:.1f} | {rows[0][3]:.0f} |")
    lines.append(f"| Scout compose, 4 minutes (same material) | {probe_duration(long_out):.1f} | {long_run[0]:.1f} | {long_run[1]:.1f} | {long_run[2]:.0f} |")
    fspeed = frames_rows[1][1] / frames_rows[0][1]  # wall time
    ours_ssim, recipe_ssim = scores[0], scores[1]
    verdict = [
        f"- compose: {speed:.1f}x faster than the seed recipe (target 3x): {'met' if speed >= 3 else 'NOT met'}",
        f"- compose SSIM {ours_ssim:.4f} vs recipe {recipe_ssim:.4f} (target: at least the recipe's): {'met' if ours_ssim >= recipe_ssim else 'NOT met'}",
        f"- compose peak RSS {rows[0][3]:.0f} MiB (target under 600): {'met' if rows[0][3] < 600 else 'NOT met'}; at 4x the length it is {long_run[2]:.0f} MiB",
        f"- frame extraction: {fspeed:.1f}x faster than ffmpeg fps=0.5 (target 8x): {'met' if fspeed >= 8 else 'NOT met'}, "
        f"with JPEGs at least as faithful ({fidelity[0][1]:.2f} vs {fidelity[1][1]:.2f} dB)",
    ]
    machine = f"{platform.machine()}, {os.cpu_count()} cores ({cpu_model()}), {mem_gib():.0f} GiB RAM, {ffmpeg_version()}"
    table = "\n".join(lines)
    report = f"""## Render (issue 3): compose and frame extraction

Run by `bench/render.sh` on {time.strftime('%Y-%m-%d')}: {machine}.

Corpus: {CLIPS} clips of {CLIP_SECONDS} s at 1080x1920 (H.264 High, keyframe every second, 12 Mb/s, grain),
a 60 s espeak-ng voice track, {len(PARAGRAPHS)} subtitle events (简约白字). Each clip fills {SLOT:.0f} s of the
output, cut from its middle. SSIM is the average over all frames against a lossless (x264 qp 0) render of
the same timeline with frame-accurate cuts.

{table}

{chr(10).join(verdict)}
"""
    write_section(results, "render", report)
    print(report)


def write_section(path: Path, name: str, text: str):
    """Replaces this benchmark's section of RESULTS.md, keeping the others."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{text.strip()}\n{end}\n"
    old = path.read_text() if path.exists() else "# Benchmark results\n\nEach section is written by its script in `bench/`; rerun the script to refresh it.\n\n"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) + 1 :]
    else:
        new = old.rstrip() + "\n\n" + block
    path.write_text(new)


def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def mem_gib():
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        return kb / 1024 / 1024
    except (OSError, ValueError, IndexError):
        return 0.0


def ffmpeg_version():
    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout.splitlines()
    return out[0].split(" Copyright")[0] if out else "ffmpeg"


if __name__ == "__main__":
    main()
