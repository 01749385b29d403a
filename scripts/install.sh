#!/usr/bin/env bash
# Installs what Shop Video Scout needs on a Debian/Ubuntu machine, skipping
# whatever is already there.
#
#   scripts/install.sh          build and run: C libraries (FFmpeg, librdkafka's
#                               build deps, clang for bindgen), the ffmpeg CLI,
#                               espeak-ng, Noto CJK fonts, a Rust toolchain
#   scripts/install.sh --test   also what the tests use: PostgreSQL, Redis,
#                               cargo-nextest, a Kafka-protocol broker (tansu),
#                               an S3-compatible server (s3s-fs), Node tools
#                               (buf, connect-web), Python grpcio-reflection and
#                               Chromium (the web app's browser tests); for
#                               scripts/check-chart.sh promtool (Debian's
#                               prometheus) and the Helm and Kubernetes schema
#                               tools (tools/requirements.txt)
set -euo pipefail
source "$(dirname "$0")/lib.sh"

TEST=0
[ "${1:-}" = "--test" ] && TEST=1

APT_PACKAGES=(
  build-essential pkg-config cmake clang libclang-dev
  libcurl4-openssl-dev libssl-dev libsasl2-dev libzstd-dev liblz4-dev
  libsqlite3-dev libpq-dev
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev
  libswscale-dev libswresample-dev ffmpeg libturbojpeg0-dev
  espeak-ng fonts-noto-cjk fontconfig
  ca-certificates curl git python3 python3-venv
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${APT_PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
# Node builds the web app (scripts/build-web.sh); Vite wants 20.19 or newer.
have node || missing+=(nodejs)
have npm || missing+=(npm)
if [ "$TEST" = 1 ]; then
  # The servers may come from elsewhere (this machine type runs its own):
  # install a package only when neither it nor the command is present.
  have pg_ctlcluster || port_open 5432 || missing+=(postgresql postgresql-client)
  have psql || missing+=(postgresql-client)
  # The binary itself: tests start a private Redis to stop it mid-test.
  have redis-server || missing+=(redis-server)
  # The browser the web app's tests drive (playwright-core, no download).
  have chromium || missing+=(chromium fonts-liberation)
  # promtool: the alert rules and their unit tests (scripts/check-chart.sh).
  have promtool || missing+=(prometheus)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# A system Node older than 20.19 (Debian 12 ships 18): the official build
# from the npm registry, under .node/ (scripts/lib.sh puts it on PATH).
NODE_VERSION=20.20.2
node_ok() {
  have node && node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 19) ? 0 : 1)'
}
if ! node_ok; then
  arch=$(uname -m | sed 's/x86_64/x64/; s/aarch64/arm64/')
  say "installing Node $NODE_VERSION from the npm registry (the system's is older than 20.19)"
  npm install --prefix "$ROOT/.node" --no-save --no-audit --no-fund --loglevel=error "node-linux-$arch@$NODE_VERSION"
  ln -sfn "$ROOT/.node/node_modules/node-linux-$arch/bin" "$ROOT/.node/bin"
  hash -r
  node_ok || die "Node $NODE_VERSION did not install"
fi

if ! have cargo; then
  say "installing the Rust toolchain (rustup)"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  # shellcheck disable=SC1091
  source "$HOME/.cargo/env"
fi

if [ "$TEST" = 1 ]; then
  if ! have cargo-nextest; then
    say "installing cargo-nextest"
    cargo install cargo-nextest --locked
  fi
  if ! have tansu; then
    say "installing tansu, a Kafka-protocol broker (about 15 minutes on 2 cores)"
    cargo install tansu --locked --features dynostore
  fi
  if ! have s3s-fs; then
    say "installing s3s-fs, an S3-compatible server (about 3 minutes)"
    cargo install s3s-fs --version 0.14.1 --locked --features binary
  fi
  if [ ! -x "$ROOT/tools/node/node_modules/.bin/buf" ] || [ "$ROOT/tools/node/package-lock.json" -nt "$ROOT/tools/node/node_modules/.package-lock.json" ]; then
    say "installing Node tools (buf, connect-web)"
    # Not `npm ci`: npm 11 refuses a lock file that does not list buf's
    # binaries for other platforms; `install --no-save` still installs the
    # locked versions and leaves the lock file untouched.
    (cd "$ROOT/tools/node" && npm install --no-save --no-audit --no-fund --loglevel=error)
  fi
  if ! "$ROOT/.venv/bin/python" -c "import grpc_reflection, openapi_spec_validator, schemathesis, helm_python, kubernetes_validate" 2>/dev/null; then
    say "installing the Python test tools into .venv (tools/requirements.txt)"
    [ -x "$ROOT/.venv/bin/pip" ] || python3 -m venv "$ROOT/.venv"
    "$ROOT/.venv/bin/pip" install -q --disable-pip-version-check -r "$ROOT/tools/requirements.txt"
  fi
fi
say "dependencies are in place"
