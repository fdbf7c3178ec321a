#!/usr/bin/env bash
# Create or refresh the project virtualenv (.venv) from requirements-dev.txt (the pinned
# toolchain, which includes the runtime requirements.txt). Re-installs only when one of the
# two files changed since the last successful install.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${BYOM_VENV:-$root/.venv}
stamp="$venv/.requirements.sha256"
want=$(cat "$root/requirements.txt" "$root/requirements-dev.txt" | sha256sum | cut -d' ' -f1)

if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" 2>/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[venv] installing Python requirements into $venv" >&2
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q -r "$root/requirements-dev.txt"
  echo "$want" >"$stamp"
fi
