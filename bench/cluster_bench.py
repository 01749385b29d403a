#!/usr/bin/env python3
"""Compose throughput with one and with two render nodes (see bench/cluster.sh).

The cluster of scripts/cluster.sh (six services as separate processes on
PostgreSQL, Redis, Kafka and S3; two vision nodes) is started once per render
node count; TASKS tasks with one clip each are analysed, then all composed at
once, and the time from the first StartCompose to the last COMPLETED gives
videos per hour. Prints the table and writes it into bench/RESULTS.md.

Usage: bench/cluster_bench.py SCOUT_BINARY WORK_DIR RESULTS_MD
Environment: TEST_POSTGRES_URL, TEST_REDIS_URL, TEST_KAFKA_BROKERS,
TEST_S3_ENDPOINT, TEST_S3_ACCESS_KEY, TEST_S3_SECRET_KEY (scripts/test-servers.sh).
"""
import datetime
import json
import os
import platform
import re
import socket
import subprocess
import sys
import time
import urllib.request
import uuid

TASKS = int(os.environ.get("BENCH_TASKS", "8"))
CLIP_SECONDS = 6
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def psql(url, sql):
    subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def config_for(work, tag):
    pg = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    base = pg.rsplit("/", 1)[0]
    dbs = {}
    for svc in ("identity", "tasks", "publish"):
        name = f"bench_{tag}_{svc}_{uuid.uuid4().hex[:8]}"
        psql(pg, f"CREATE DATABASE {name}")
        dbs[svc] = f"{base}/{name}"
    ports = {s: free_port() for s in ("edge", "identity", "tasks", "vision", "render", "publish")}
    data = os.path.join(work, f"data-{tag}")
    os.makedirs(data, exist_ok=True)
    lines = [f'data_dir = "{data}"', "", "[telemetry]", 'log_format = "json"', 'log_level = "info"', ""]
    lines += ["[edge]", f'addr = "127.0.0.1:{ports["edge"]}"', 'request_timeout = "60s"', ""]
    lines += ["[edge.rate_limits.default]", "limit = 100000", ""]
    for svc in ("identity", "tasks", "vision", "render", "publish"):
        lines += [f"[{svc}]", f'addr = "127.0.0.1:{ports[svc]}"', f'endpoint = "http://127.0.0.1:{ports[svc]}"']
        if svc in dbs:
            lines.append(f'database_url = "{dbs[svc]}"')
        lines.append("")
    lines += ["[cache]", 'backend = "redis"', f'url = "{os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379")}"',
              f'key_prefix = "bench{tag}{uuid.uuid4().hex[:6]}:"', ""]
    lines += ["[bus]", 'backend = "kafka"', f'brokers = "{os.environ.get("TEST_KAFKA_BROKERS", "127.0.0.1:9092")}"',
              f'topic_prefix = "bench{tag}{uuid.uuid4().hex[:6]}."', "partitions = 4", 'session_timeout = "6s"', ""]
    lines += ["[blobs]", 'backend = "s3"', f'endpoint = "{os.environ.get("TEST_S3_ENDPOINT", "http://127.0.0.1:9000")}"',
              'region = "us-east-1"', f'bucket = "bench-{tag}-{uuid.uuid4().hex[:8]}"',
              f'access_key = "{os.environ.get("TEST_S3_ACCESS_KEY", "scout")}"',
              f'secret_key = "{os.environ.get("TEST_S3_SECRET_KEY", "scout-secret-key")}"',
              "force_path_style = true", "create_bucket = true", ""]
    lines += ["[quotas]", "enabled = false", ""]
    path = os.path.join(work, f"cluster-{tag}.toml")
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path, ports["edge"], data


def rest(method, url, token=None, body=None):
    req = urllib.request.Request(url, method=method, data=None if body is None else json.dumps(body).encode())
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        env = json.loads(resp.read())
    if env.get("code") != 0:
        raise RuntimeError(f"{method} {url}: {env}")
    return env.get("data") or {}


def login(base, data):
    phone = "139" + str(int(time.time() * 1000))[-8:]
    rest("POST", f"{base}/api/v1/auth/send-code", body={"phone": phone})
    outbox = os.path.join(data, "sms-outbox.log")
    code = None
    for _ in range(100):
        if os.path.exists(outbox):
            for line in open(outbox):
                if line.startswith(phone + " "):
                    code = line.split()[1]
        if code:
            break
        time.sleep(0.1)
    return rest("POST", f"{base}/api/v1/auth/login", body={"phone": phone, "code": code})["access_token"]


def wait_status(base, token, task, want, limit=900):
    start = time.time()
    while time.time() - start < limit:
        status = rest("GET", f"{base}/api/v1/tasks/{task}", token)["status"]
        if status == want:
            return
        if status == "failed":
            raise RuntimeError(f"task {task} failed")
        time.sleep(0.5)
    raise RuntimeError(f"task {task} not {want} after {limit} s")


def run(scout, work, renders, clip):
    tag = f"r{renders}"
    config, edge_port, data = config_for(work, tag)
    cdir = os.path.join(work, f"cluster-{tag}")
    env = dict(os.environ, CLUSTER_BIN=scout)
    subprocess.run([os.path.join(ROOT, "scripts/cluster.sh"), "start", config, cdir, str(renders), "2"],
                   check=True, env=env)
    base = f"http://127.0.0.1:{edge_port}"
    try:
        token = login(base, data)
        ids = []
        for n in range(TASKS):
            task = rest("POST", f"{base}/api/v1/tasks", token,
                        {"shop_name": f"基准小馆{n}", "shop_type": "food", "video_style": "recommend"})["id"]
            up = rest("POST", f"{base}/api/v1/tasks/{task}/videos/upload-url", token,
                      {"filename": "clip.mp4", "file_size": os.path.getsize(clip), "content_type": "video/mp4"})
            subprocess.run(["curl", "-sf", "-X", "PUT", "-T", clip, up["upload_url"]], check=True)
            rest("POST", f"{base}/api/v1/tasks/{task}/videos", token,
                 {"oss_key": up["oss_key"], "original_filename": "clip.mp4"})
            rest("POST", f"{base}/api/v1/tasks/{task}/analyze", token, {})
            ids.append(task)
        for task in ids:
            wait_status(base, token, task, "script_ready")
        start = time.time()
        for task in ids:
            rest("POST", f"{base}/api/v1/tasks/{task}/compose", token, {"voice_type": "xiaomei"})
        for task in ids:
            wait_status(base, token, task, "completed")
        wall = time.time() - start
    finally:
        subprocess.run([os.path.join(ROOT, "scripts/cluster.sh"), "stop", cdir], env=env)
    return wall


def write_section(results, marker, title, text):
    """Puts `text` under `title` in the RESULTS.md at `results`, replacing
    the section an earlier run of the same benchmark (`marker`) wrote."""
    section = f"<!-- {marker}:start -->\n## {title}\n\n{text}\n<!-- {marker}:end -->"
    md = open(results).read() if os.path.exists(results) else "# Benchmark results\n"
    pattern = rf"<!-- {marker}:start -->.*?<!-- {marker}:end -->"
    if re.search(pattern, md, flags=re.S):
        md = re.sub(pattern, lambda _: section, md, flags=re.S)
    else:
        md = md.rstrip() + "\n\n" + section + "\n"
    with open(results, "w") as f:
        f.write(md)


def main():
    scout, work, results = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    clip = os.path.join(work, "clip.mp4")
    if not os.path.exists(clip):
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1080x1920:rate=30",
                        "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(CLIP_SECONDS),
                        "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-pix_fmt", "yuv420p",
                        "-c:a", "aac", "-shortest", clip], check=True)
    rows = []
    for renders in (1, 2):
        wall = run(scout, work, renders, clip)
        rows.append((renders, wall, TASKS / wall * 3600))
    cores = os.cpu_count() or 1
    base_rate = rows[0][2]
    table = [
        f"Run by `bench/cluster.sh` on {datetime.date.today()}: {platform.machine()}, {cores} cores, "
        f"{TASKS} tasks of one {CLIP_SECONDS} s clip each, composed at once (all analysed first); "
        "six services as separate processes on PostgreSQL, Redis, Kafka (tansu) and S3 (s3s-fs), two vision nodes.",
        "",
        "| render nodes | compose wall s | videos per hour | vs one node |",
        "|---:|---:|---:|---:|",
    ]
    for renders, wall, rate in rows:
        table.append(f"| {renders} | {wall:.1f} | {rate:.0f} | {rate / base_rate:.2f}x |")
    scale = rows[1][2] / base_rate
    table += [
        "",
        f"- Two render nodes on this {cores}-core machine compose {scale:.2f}x what one does: a compose is "
        "CPU-bound (decode, filters, x264), so nodes sharing the same cores split them rather than add to them.",
        "- In a cluster each render pod has its own cores (seed 000 §8.2: 2-4 pods, KEDA on the compose lag), "
        f"so throughput grows with pods: about {base_rate:.0f} videos per hour per node of this size, "
        "times the render pods, until the analyze side (vision pods) or the encoder becomes the bottleneck.",
    ]
    text = "\n".join(table)
    print(text)
    write_section(results, "cluster", "Cluster (issue 16): compose throughput with one and two render nodes", text)


if __name__ == "__main__":
    main()
