#!/usr/bin/env bash
# Build the web UI (web/) into src/gestalt/web/, which `gestalt serve` serves at `/`
# (hashed files under /assets/). `npm ci` runs only when node_modules is missing or
# package-lock.json changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/../web"
stamp=node_modules/.package-lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" >"$stamp"
fi
npm run --silent build
