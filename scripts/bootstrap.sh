#!/usr/bin/env bash
# Create the virtual environment and install the project with its pinned dependencies.
#   scripts/bootstrap.sh [PYTHON] [VENV]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
VENV=${2:-.venv}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "bootstrap: $PYTHON is not Python 3.11 or newer" >&2; exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
    # Debian's python3 ships venv separately.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "bootstrap: installing python3-venv" >&2
      apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
      rm -rf "$VENV"; "$PYTHON" -m venv "$VENV"
    else
      echo "bootstrap: '$PYTHON -m venv' failed; install your distribution's venv package" >&2
      exit 1
    fi
  fi
fi
echo "bootstrap: installing pinned dependencies into $VENV" >&2
"$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.lock
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e .
