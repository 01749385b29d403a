#!/usr/bin/env bash
# Builds the web app into web/dist, which the edge embeds when scout is
# built (so `scout up` serves it with no Node at run time). Installs the
# app's locked npm packages when they are missing or stale, then generates
# the TypeScript client from proto/ (buf + protoc-gen-es), type-checks
# (vue-tsc), lints (eslint, warnings fail) and bundles (vite).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT/web"
have node || die "Node.js is missing: run scripts/install.sh"
if [ ! -x node_modules/.bin/vite ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing the web app's npm packages (locked versions)"
  # Not `npm ci`: npm 11 refuses a lock file that does not list buf's
  # binaries for every other platform; `install --no-save` installs the
  # locked versions and leaves the lock file as it is.
  npm install --no-save --no-audit --no-fund --loglevel=error
fi
say "web app: generate the client from proto/, type-check, lint, build"
npm run --silent gen
npm run --silent typecheck
npm run --silent lint
npm run --silent build
say "web app built into web/dist"
