#!/usr/bin/env bash
# Debian packages the controller needs for the tests and the lab (SIPp, debootstrap, ...).
set -euo pipefail
# redis-server + python3-redis: the webhook receiver tests run the real service against a real Redis.
pkgs=(debootstrap sip-tester tcpdump git shellcheck redis-server python3-redis)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[host-packages] installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
