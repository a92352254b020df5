#!/usr/bin/env bash
# Build the Gestalt container image (Dockerfile) with the Docker engine on this machine.
#
#   scripts/build-image.sh [--tag TAG] [--bases-only] [--refresh-bases]
#
# The Dockerfile takes its base images as build arguments (PYTHON_IMAGE, NODE_IMAGE;
# defaults: the official python and node slim images). Where no registry is reachable
# (CI, this project's machines) set GESTALT_LOCAL_BASE=1, or let the script find out that
# the defaults cannot be pulled: it then builds both bases from Debian's packages with
# mmdebstrap (installed from apt when missing) and `docker import`:
#   python base  Debian 12 (bookworm): python3 3.11, python3-venv, ca-certificates
#   node base    Debian 13 (trixie):  nodejs 20.19 (the web UI's Vite needs node >= 20.19),
#                with npm through corepack (Debian's npm package is 400 packages)
# Each base is tagged by a hash of its recipe, so it is built once (about 1-2 minutes
# each, most of it downloading packages) and reused on every later run until the recipe
# changes; --refresh-bases rebuilds them (new Debian point release, security updates).
#
# Prints the image tag on the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

TAG=${GESTALT_IMAGE:-gestalt:local}
BASES_ONLY=0
REFRESH=0
while [ $# -gt 0 ]; do
  case $1 in
    --tag) TAG=$2; shift 2 ;;
    --bases-only) BASES_ONLY=1; shift ;;
    --refresh-bases) REFRESH=1; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build-image: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { printf '[build-image] %s\n' "$*" >&2; }

PYTHON_IMAGE=${PYTHON_IMAGE:-python:3.11-slim-bookworm}
NODE_IMAGE=${NODE_IMAGE:-node:20-bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# mmdebstrap options shared by both bases: no recommends, no documentation or locales.
# force-unsafe-io: no fsync per unpacked file (the root is a throwaway tarball), which is
# most of the time a bootstrap takes on a busy disk.
MMDEBSTRAP_OPTS=(--variant=minbase --format=tar --aptopt='APT::Install-Recommends "false"'
  --dpkgopt=force-unsafe-io
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin')

local_base() {  # local_base NAME SUITE PACKAGES [HOOK [ENV]] : echo the tag, building it when missing
  local name=$1 suite=$2 packages=$3 hook=${4:-true} env=${5:-}
  local recipe="$suite|$packages|${MMDEBSTRAP_OPTS[*]}|$MIRROR|1${4:+|$hook|$env}"
  local key; key=$(printf '%s' "$recipe" | sha256sum | cut -c1-16)
  local tag="gestalt-local/$name:$key"
  if [ $REFRESH = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag: cached"
    echo "$tag"; return 0
  fi
  if ! command -v mmdebstrap >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      log "mmdebstrap is missing and this is not root: apt-get install mmdebstrap"; return 1
    fi
    log "installing mmdebstrap"
    apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      mmdebstrap >/dev/null
  fi
  log "building $tag from Debian $suite ($packages)"
  local started=$SECONDS
  # shellcheck disable=SC2086  (the package list is comma-separated, one word)
  mmdebstrap "${MMDEBSTRAP_OPTS[@]}" --include="$packages" --customize-hook="$hook" "$suite" - \
      "deb $MIRROR $suite main" "deb $MIRROR $suite-updates main" \
      "deb ${MIRROR%/debian}/debian-security $suite-security main" 2> >(grep -v '^I: ' >&2) \
    | docker import -c "ENV LANG=C.UTF-8 $env" \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'CMD ["/bin/bash"]' -m "gestalt local base: Debian $suite + $packages" - "$tag" \
        >/dev/null
  log "$tag: built in $((SECONDS - started))s"
  echo "$tag"
}

can_pull() {  # the image is here, or a registry gives it to us
  docker image inspect "$1" >/dev/null 2>&1 && return 0
  timeout 60 docker pull -q "$1" >/dev/null 2>&1
}

if ! docker info >/dev/null 2>&1; then
  log "no Docker engine answers (docker info failed): start it (scripts/services.sh start)"
  exit 1
fi

if [ "${GESTALT_LOCAL_BASE:-}" = 1 ] || ! can_pull "$PYTHON_IMAGE" || ! can_pull "$NODE_IMAGE"; then
  PYTHON_IMAGE=$(local_base python-base bookworm python3,python3-venv,ca-certificates)
  # `npm` is corepack's shim: npm itself is fetched from the npm registry on first use.
  NODE_IMAGE=$(local_base node-base trixie nodejs,ca-certificates \
    'chroot "$1" corepack enable npm' \
    'COREPACK_ENABLE_DOWNLOAD_PROMPT=0 COREPACK_ENABLE_STRICT=0')
fi
if [ $BASES_ONLY = 1 ]; then
  echo "$PYTHON_IMAGE"; echo "$NODE_IMAGE"; exit 0
fi

# The classic builder when BuildKit (buildx) is not installed: the Dockerfile needs
# nothing BuildKit-only.
if [ -z "${DOCKER_BUILDKIT:-}" ]; then
  if docker buildx version >/dev/null 2>&1; then export DOCKER_BUILDKIT=1; else export DOCKER_BUILDKIT=0; fi
fi
# A proxy that re-signs TLS (its CA among the machine's local CAs) must be trusted by npm
# and pip inside the build too; the runtime image does not keep these certificates.
ca_certs=""
for ca in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$ca" ] && ca_certs+="$(cat "$ca")"$'\n'
done
log "building $TAG (python base $PYTHON_IMAGE, node base $NODE_IMAGE, BuildKit $DOCKER_BUILDKIT)"
started=$SECONDS
mkdir -p .services
build_log=.services/build-image.log
if ! docker build --build-arg "PYTHON_IMAGE=$PYTHON_IMAGE" --build-arg "NODE_IMAGE=$NODE_IMAGE" \
    --build-arg "BUILD_CA_CERTS=$ca_certs" \
    --label "org.opencontainers.image.revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)" \
    -t "$TAG" . >"$build_log" 2>&1; then
  tail -40 "$build_log" >&2
  log "docker build failed; the whole output is in $build_log"
  exit 1
fi
size=$(docker image inspect -f '{{.Size}}' "$TAG")
log "$TAG: built in $((SECONDS - started))s, $((size / 1024 / 1024)) MiB"
echo "$TAG"
