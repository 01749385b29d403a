#!/usr/bin/env python3
"""End-to-end benchmark of `scout make` (see bench/make.sh).

Usage: bench/make_bench.py SCOUT_BINARY WORK_DIR RESULTS_MD
"""
import datetime
import json
import os
import platform
import re
import shutil
import subprocess
import sys

TARGET_SECONDS = 90.0  # seed 002: under 90 s end to end
CLIPS = 10
CLIP_SECONDS = 15


def sources(i):
    return [
        f"testsrc2=size=1080x1920:rate=30",
        f"mandelbrot=size=1080x1920:rate=30:start_scale={2 + i * 0.3}",
        f"gradients=size=1080x1920:rate=30:speed=0.0{2 + i % 5}:seed={i}",
    ][i % 3]


def make_corpus(work):
    corpus = os.path.join(work, "clips")
    os.makedirs(corpus, exist_ok=True)
    paths = []
    for i in range(CLIPS):
        out = os.path.join(corpus, f"clip{i + 1:02d}.mp4")
        if not os.path.exists(out):
            subprocess.run(
                ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", sources(i),
                 "-f", "lavfi", "-i", f"sine=frequency={300 + 40 * i}:duration={CLIP_SECONDS}",
                 "-t", str(CLIP_SECONDS), "-c:v", "libx264", "-preset", "veryfast", "-b:v", "8M",
                 "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", out],
                check=True)
        paths.append(out)
    return paths


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    scout, work, results = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    clips = make_corpus(work)
    data = os.path.join(work, "data")
    shutil.rmtree(data, ignore_errors=True)
    out = os.path.join(work, "out.mp4")
    # scout runs under a helper whose only child it is, so the RSS and CPU
    # are the mesh's alone (not the corpus generation's).
    helper = (
        "import json, resource, subprocess, sys, time\n"
        "t = time.monotonic()\n"
        "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'rc': r.returncode, 'out': r.stdout, 'err': r.stderr, 'wall': time.monotonic() - t,"
        " 'rss_kib': u.ru_maxrss, 'cpu': u.ru_utime + u.ru_stime}))\n"
    )
    measured = subprocess.run(
        [sys.executable, "-c", helper, scout, "make", "--shop", "海底捞火锅(望京店)", "--type", "food",
         "--style", "recommend", "--promo", "人均89，招牌毛肚七上八下", "--data-dir", data, "-o", out, *clips],
        capture_output=True, text=True, check=True)
    run = json.loads(measured.stdout)
    wall, cpu, rss_mib = run["wall"], run["cpu"], run["rss_kib"] / 1024.0
    if run["rc"] != 0:
        sys.stderr.write(run["out"] + run["err"])
        sys.exit("scout make failed")
    m = re.search(r"^phase-seconds: (.*)$", run["err"], re.M)
    if not m:
        sys.exit("no phase-seconds line in scout make's output")
    phases = dict(kv.split("=") for kv in m.group(1).split())
    duration = re.search(r", ([0-9.]+) s, ", run["out"])
    rows = [(name, float(phases[key])) for name, key in [
        ("upload (10 clips, presigned PUT + probe)", "upload"),
        ("analysis (frames + local analyzer)", "analysis"),
        ("script (template writer)", "script"),
        ("voice (speech per paragraph)", "voice"),
        ("compose (render + publish outputs)", "compose"),
        ("download", "download"),
    ]]
    verdict = "within" if wall < TARGET_SECONDS else "over"
    table = "\n".join(f"| {name} | {secs:.1f} |" for name, secs in rows)
    report = f"""## Main job (issue 6): `scout make` end to end

Run by `bench/make.sh` on {datetime.date.today().isoformat()}: {platform.machine()}, {os.cpu_count()} cores ({cpu_name()}), release build, embedded defaults (SQLite, in-process bus and cache, local blobs), espeak-ng voice, local analyzer, template writer.

Corpus: {CLIPS} generated clips of {CLIP_SECONDS} s at 1080x1920 30 fps (H.264 8 Mb/s, AAC). Output: {duration.group(1) if duration else '?'} s of 1080x1920 H.264.

| phase | seconds |
|---|---:|
{table}
| **total, wall (mesh start to file written)** | **{wall:.1f}** |
| seed 002 target | < {TARGET_SECONDS:.0f} |

Peak RSS of the whole mesh (one process): {rss_mib:.0f} MiB; CPU {cpu:.1f} s. {verdict.capitalize()} the seed 002 target by {abs(TARGET_SECONDS - wall):.1f} s.
"""
    print(report)
    try:
        text = open(results).read()
    except OSError:
        text = "# Benchmark results\n\n"
    section = f"<!-- make:start -->\n{report}<!-- make:end -->\n"
    if "<!-- make:start -->" in text:
        text = re.sub(r"<!-- make:start -->.*?<!-- make:end -->\n", lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(results, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
