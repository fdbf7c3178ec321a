#!/usr/bin/env bash
# The Vapi client against the urllib3/requests pairs the LTS distributions ship, so the
# collection's declared ranges are tested, not guessed:
#   Ubuntu 22.04: urllib3 1.26.5,  requests 2.25.1
#   Debian 12:    urllib3 1.26.12, requests 2.28.1
# (the project venv has the newest urllib3 2.x). One small venv per pair, holding only those
# two (and responses/pytest for the tests); everything else (ansible-core, jsonschema) comes
# from the project venv through a .pth placed after the venv's own packages.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BYOM_VENV:-$root/.venv}
shared=$("$base/bin/python" -c 'import site; print(site.getsitepackages()[0])')
for pair in "1.26.5 2.25.1" "1.26.12 2.28.1"; do
  read -r urllib3_version requests_version <<<"$pair"
  set -- "$urllib3_version" "$requests_version"
  venv=${BYOM_COMPAT_DIR:-$root/.venv-compat}/urllib3-$1
  if [ ! -x "$venv/bin/python" ]; then
    "$base/bin/python" -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c "import urllib3, requests, sys; sys.exit(urllib3.__version__ != '$1' or requests.__version__ != '$2')" 2>/dev/null; then
    "$venv/bin/pip" install -q "urllib3==$1" "requests==$2" "responses==0.21.0" pytest
  fi
  own=$("$venv/bin/python" -c 'import site; print(site.getsitepackages()[0])')
  echo "$shared" >"$own/zz_project_venv.pth"
  echo "[compat] urllib3 $1 / requests $2" >&2
  (cd "$root" && "$venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/unit/plugins/module_utils/test_vapi_client.py tests/unit/plugins/module_utils/test_vapi_paging.py tests/unit/plugins/modules/test_vapi_sip_trunk.py \
    tests/unit/plugins/modules/test_vapi_assistant.py tests/unit/plugins/modules/test_vapi_phone_number.py)
done
