#!/usr/bin/env bash
# Checks the container images without a Docker engine (tools/image_check.py):
#   1. every library `ldd` reports for the binary (the argument, else
#      target/release/scout, else target/debug/scout) is shipped by a Debian
#      package the runtime image installs: the Dockerfile's RUNTIME PACKAGES
#      block, their dependencies, or the slim base (Essential / required
#      packages), from this machine's dpkg database (the same Debian 12);
#   2. Dockerfile and Dockerfile.gpu agree on those packages, the user and
#      the entrypoint;
#   3. the image's user (uid 10001) and ENTRYPOINT match the Helm chart's
#      runAsUser and container command (the chart rendered with its defaults,
#      and with ci/gpu-values.yaml for the GPU image).
# Exits non-zero on any mismatch, naming the library and its package.
#
#   scripts/check-image.sh [BINARY]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

PY="$ROOT/.venv/bin/python"
"$PY" -c "import helm_python, yaml" 2>/dev/null \
  || die "the chart tools are missing from .venv: run scripts/install.sh --test"
have ldd || die "ldd is missing (libc-bin)"
have dpkg-query || die "dpkg-query is missing: this check reads a Debian package database"

say "image: runtime libraries, user and entrypoint"
"$PY" tools/image_check.py "$@"
