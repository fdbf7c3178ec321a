#!/usr/bin/env bash
# Debian packages the controller needs for the tests and the lab (SIPp, debootstrap, ...).
set -euo pipefail
# redis-server + python3-redis: the webhook receiver tests run the real service against a real Redis.
# prometheus: promtool for the alert-rule unit tests (tests/unit/roles/monitoring/test_monitoring_promtool.py).
# fail2ban: fail2ban-regex for the filter tests (tests/integration/test_fail2ban_asterisk.py); no service starts.
pkgs=(debootstrap sip-tester tcpdump git shellcheck redis-server python3-redis prometheus fail2ban)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[host-packages] installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # The controller needs promtool, not running daemons: no package may start a service here
  # (prometheus and node-exporter ship init scripts). Only a policy file we created is removed.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
  fi
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
