#!/usr/bin/env bash
# Debian packages the controller needs for the tests and the lab (SIPp, debootstrap, ...).
set -euo pipefail
pkgs=(debootstrap sip-tester tcpdump git shellcheck fail2ban)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[host-packages] installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
