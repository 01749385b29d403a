#!/usr/bin/env bash
# Cluster benchmark: compose throughput (videos per hour) with one and with
# two render nodes of scripts/cluster.sh on this machine, and what it means
# for a cluster. Prints the table and writes it into bench/RESULTS.md. Not a
# test: nothing is asserted.
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
"$ROOT/scripts/install.sh" --test
"$ROOT/scripts/build-web.sh"
PROFILE=${PROFILE:-release}
cargo build --profile "$PROFILE" --locked --bin scout
BIN_DIR=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
eval "$("$ROOT/scripts/test-servers.sh")"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
python3 "$ROOT/bench/cluster_bench.py" "$ROOT/target/$BIN_DIR/scout" "$WORK" "$ROOT/bench/RESULTS.md"
