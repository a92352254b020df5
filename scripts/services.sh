#!/usr/bin/env bash
# Start (or stop) the real components that the tests, the benchmarks and the demo use.
#
#   scripts/services.sh start    install what is missing (Debian packages), start daemons
#   scripts/services.sh stop     stop what this script started
#   scripts/services.sh status   say what is up
#
# Everything lives under .services/ (logs, pid files). Idempotent: running `start` twice
# leaves one of each. Needs root for apt-get and dockerd; without root it only reports.
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=.services
mkdir -p "$STATE"
TEST_IMAGE=gestalt-busybox:test

log() { printf '[services] %s\n' "$*" >&2; }

APT_UPDATED=0
apt_install() {  # apt_install PACKAGE... : install the Debian packages that are missing
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then log "not root: cannot install ${missing[*]}"; return 1; fi
  if [ $APT_UPDATED = 0 ]; then
    log "apt-get update"; apt-get update -q >"$STATE/apt.log" 2>&1; APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    >>"$STATE/apt.log" 2>&1 || { log "apt-get install failed, see $STATE/apt.log"; return 1; }
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND... : poll until COMMAND succeeds
  local seconds=$1 what=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if [ $SECONDS -ge $deadline ]; then log "$what did not come up in ${seconds}s"; return 1; fi
    sleep 0.2
  done
}

start_docker() {
  apt_install docker.io busybox-static || return 1
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd"
    nohup dockerd --host unix:///var/run/docker.sock >"$STATE/dockerd.log" 2>&1 &
    echo $! >"$STATE/dockerd.pid"
    wait_for 60 dockerd docker info || { tail -20 "$STATE/dockerd.log" >&2; return 1; }
  fi
  if ! docker image inspect "$TEST_IMAGE" >/dev/null 2>&1; then
    # No registry is reachable: build the test image from Debian's static busybox.
    log "importing $TEST_IMAGE from busybox-static"
    local root; root=$(mktemp -d)
    mkdir -p "$root/bin" "$root/tmp" "$root/data"
    cp /bin/busybox "$root/bin/busybox"
    for applet in sh ash sleep ls cat echo env httpd nc wget dd head tail true false kill; do
      ln -sf busybox "$root/bin/$applet"
    done
    tar -C "$root" -c . | docker import -c 'CMD ["/bin/sh"]' - "$TEST_IMAGE" >/dev/null
    rm -rf "$root"
  fi
  log "docker: $(docker info --format '{{.ServerVersion}}') with $TEST_IMAGE"
}

stop_pidfile() {
  local file="$STATE/$1.pid"
  [ -f "$file" ] || return 0
  local pid; pid=$(cat "$file")
  if kill "$pid" 2>/dev/null; then
    log "stopping $1 ($pid)"
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
  fi
  rm -f "$file"
}

case "${1:-start}" in
  start)
    status=0
    start_docker || status=1
    for extra in scripts/services.d/*.sh; do
      [ -e "$extra" ] || continue
      # shellcheck source=/dev/null
      ( source "$extra" && start ) || status=1
    done
    exit $status
    ;;
  stop)
    for extra in scripts/services.d/*.sh; do
      [ -e "$extra" ] || continue
      # shellcheck source=/dev/null
      ( source "$extra" && stop ) || true
    done
    stop_pidfile dockerd
    ;;
  status)
    docker info --format 'docker {{.ServerVersion}}' 2>/dev/null || echo "docker: down"
    ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
