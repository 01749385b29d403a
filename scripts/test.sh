#!/usr/bin/env bash
# The one command that runs every check: installs what is missing, starts
# PostgreSQL, Redis, a Kafka-protocol broker and an S3-compatible server on
# loopback (only those not already running), then runs cargo fmt --check,
# clippy with -D warnings, buf lint (and buf breaking against main) and the
# whole test suite with the production adapters pointed at those servers.
# Also the workspace's anatomy (tools/anatomy.py): no service crate depends on
# another, no module cycles, every service has the same rooms; and the web
# app (scripts/build-web.sh: generated client, type-check, lint, build),
# which the browser tests drive in Chromium.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/install.sh" --test
eval "$("$ROOT/scripts/test-servers.sh")"

# The web app first: its type-check and lint are checks, and the binary the
# tests build embeds it (the browser tests drive it).
"$ROOT/scripts/build-web.sh"

say "cargo fmt --check"
cargo fmt --all -- --check

say "anatomy: services independent, no module cycles, the same rooms everywhere"
python3 "$ROOT/tools/anatomy.py"

say "cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "the nvidia feature: clippy, and its tests built and linked with no CUDA toolkit or driver"
cargo clippy -p scout --features nvidia --bins --locked -- -D warnings
cargo nextest run -p scout-gpu --features nvidia --locked --no-fail-fast

BUF="$ROOT/tools/node/node_modules/.bin/buf"
say "buf lint"
"$BUF" lint
if git rev-parse --verify -q refs/heads/main >/dev/null && [ "$(git rev-parse HEAD)" != "$(git rev-parse main)" ]; then
  say "buf breaking against main"
  "$BUF" breaking --against "$ROOT/.git#branch=main"
fi

say "tests"
cargo nextest run --workspace --locked --no-fail-fast --profile "${NEXTEST_PROFILE:-ci}"

# The deployment, offline: the image's libraries and user against the chart,
# the chart (lint, render, Kubernetes and CRD schemas), the alert rules.
say "container image check"
"$ROOT/scripts/check-image.sh"
say "helm chart and alert rules"
"$ROOT/scripts/check-chart.sh"
say "all checks passed"
