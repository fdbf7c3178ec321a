#!/usr/bin/env bash
# `make security`: the security and fault suite, then one summary table of what was measured.
#   - API faults and interrupted runs, bad input, secrets (tests/integration/test_faults_*,
#     test_bad_input_*, test_secrets_*: these also run in `make test`);
#   - the heavy part, tests/security: a lab-like host deployed in container byom-sec-vps with
#     site.yml -vvv, attacked with sipvicious and a SIPp toll-fraud battery, probed from a second
#     container, and reloaded during calls.
# Every attack stays on loopback inside the test's own containers; every loop is bounded.
#
# usage: scripts/security.sh [PYTEST ARGS...]      e.g. scripts/security.sh -k tollfraud
#        BYOM_SEC_OUT=DIR  where logs, the toll-fraud detail and results.jsonl go (default .cache/security)
#        BYOM_SEC_KEEP=1   keep the target containers afterwards
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="$root/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$root/.collections"
export PY_COLORS=0 ANSIBLE_NOCOLOR=1 NO_COLOR=1

set -e
scripts/host-packages.sh
scripts/venv.sh
scripts/docker-engine.sh
scripts/lab-images.sh debian12 debian-sid
set +e

out=${BYOM_SEC_OUT:-$root/.cache/security}
mkdir -p "$out"
results=$out/results.jsonl
: >"$results"
export BYOM_SEC_OUT=$out BYOM_SEC_RESULTS=$results

t0=$SECONDS
pytest -q -p no:cacheprovider -rfEs --junitxml "$out/junit.xml" \
  tests/integration/test_faults_vapi.py tests/integration/test_bad_input_modules.py \
  tests/integration/test_bad_input_roles.py tests/integration/test_secrets_vapi.py \
  tests/security "$@" 2>&1 | tee "$out/pytest.log"
rc=${PIPESTATUS[0]}

python3 - "$results" "$out/junit.xml" "$((SECONDS - t0))" <<'PY'
import json, sys, xml.etree.ElementTree as ET
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
tests = failures = skipped = 0
try:
    suite = ET.parse(sys.argv[2]).getroot()
    suite = suite if suite.tag == 'testsuite' else suite.find('testsuite')
    tests, failures = int(suite.get('tests', 0)), int(suite.get('failures', 0)) + int(suite.get('errors', 0))
    skipped = int(suite.get('skipped', 0))
except Exception:  # noqa: BLE001 - the table is still useful without the junit totals
    pass
width = [20, 52, 80]
line = '+' + '+'.join('-' * (w + 2) for w in width) + '+------+'
print('\n' + line)
print('| %-20s | %-52s | %-80s | %-4s |' % ('section', 'check', 'measured', 'ok'))
print(line)
section = None
for row in rows:
    name = row['section'] if row['section'] != section else ''
    section = row['section']
    value = ' '.join(row['value'].split())
    print('| %-20s | %-52s | %-80s | %-4s |' % (name[:20], row['item'][:52], value[:80],
                                             'yes' if row['ok'] else 'NO'))
print(line)
bad = [r for r in rows if not r['ok']]
print('%d measurements, %d not ok; pytest: %d tests, %d failed, %d skipped; %ss'
      % (len(rows), len(bad), tests, failures, skipped, sys.argv[3]))
PY
echo "logs: $out (pytest.log, site-*.log, tollfraud.json, results.jsonl)"
exit "$rc"
