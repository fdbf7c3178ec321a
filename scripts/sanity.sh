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
# ansible-test bootstraps pip in its venvs with a script from a CI file host we cannot reach;
# seed its cache with our offline equivalent (tests/sanity/get_pip_offline.py).
pip_version=$(grep -oE "pip='[0-9.]+'" "$(python3 -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py" | head -n1 | grep -oE '[0-9.]+')
mkdir -p "$HOME/.ansible/test/cache"
cp "$root/tests/sanity/get_pip_offline.py" "$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
# Only the Python versions this machine has; no containers: the venv already has every dependency.
pyver=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
ansible-test sanity --color no --python "$pyver" --requirements "$@"
