#!/usr/bin/env bash
# Print the Debian archive mirror this machine's apt already uses (BYOM_DEBIAN_MIRROR wins),
# so no script ever hard-codes an archive host.
set -euo pipefail
if [ -n "${BYOM_DEBIAN_MIRROR:-}" ]; then
  printf '%s\n' "${BYOM_DEBIAN_MIRROR%/}"
  exit 0
fi
uri=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | awk '{print $2}' | grep -vE 'security' | head -n1 || true)
if [ -z "$uri" ]; then
  uri=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -n1 || true)
fi
[ -n "$uri" ] || { echo "cannot find a Debian mirror in apt's sources; set BYOM_DEBIAN_MIRROR" >&2; exit 1; }
printf '%s\n' "${uri%/}"
