#!/usr/bin/env bash
# ansible-test sanity needs the collection under ansible_collections/<ns>/<name> and a git
# tree; we copy the tracked files into a temporary tree of that shape.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/byom-sanity.XXXX)
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/ansible_collections/byom/telephony"
mkdir -p "$dest"
(cd "$root" && git ls-files -co --exclude-standard -z | grep -zv '^\.collections/' | xargs -0 -I{} cp --parents -P {} "$dest/")
cd "$dest"
git init -q && git add -A && git -c user.email=ci@localhost -c user.name=ci commit -qm sanity
# Only the Python versions this machine has; no containers: the venv already has every dependency.
pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test sanity --color no --python "$pyver" --requirements "$@"
