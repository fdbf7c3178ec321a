# -*- coding: utf-8 -*-
"""site.yml with the webhook receiver on the lab's edge (BYOM_LAB_WEBHOOKS=1), end to end.

Its own lab (container, emulator port, state directory): deployed once through scripts/lab.sh,
then, in file order:

1. the first run converges, the Vapi side is wired: one HMAC webhook credential, the assistant's
   server = {receiver URL, credentialId, timeoutSeconds, backoffPlan};
2. a re-run reports changed=0 and the emulator saw only GETs;
3. `scripts/lab.sh webhook`: the emulator (as Vapi) signs a server message with the credential's
   secret and posts it to the assistant's server.url; it reaches the stand-in downstream;
4. the same, checked field by field: the body arrives byte-identical in meaning, with the
   Idempotency-Key the receiver answered;
5. the credential's secret rotated in Vapi only: the receiver refuses the signature (401) and
   nothing reaches the downstream.
Secrets never appear in any output.
"""
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTAINER = os.environ.get('BYOM_WEBHOOKS_LAB_CONTAINER', 'byom-webhooks-lab-vps')
PORT = int(os.environ.get('BYOM_WEBHOOKS_LAB_EMULATOR_PORT', '8093'))
EMULATOR = f'http://127.0.0.1:{PORT}'
LAB_DIR = Path(os.environ.get('BYOM_WEBHOOKS_LAB_DIR', str(ROOT / '.lab' / 'webhooks-test')))
API_KEY = 'byom-lab-key'                                   # inventories/lab/group_vars/all/main.yml
SECRETS = ('lab-only-hmac-secret-not-secret', 'lab-only-redis-password-not-secret')  # inventories/lab-webhooks
DOWNSTREAM_LOG = '/root/byom-downstream.jsonl'             # scripts/lab.sh

ENV = dict(os.environ, BYOM_LAB_CONTAINER=CONTAINER, BYOM_LAB_EMULATOR_PORT=str(PORT), BYOM_LAB_DIR=str(LAB_DIR),
           BYOM_LAB_WEBHOOKS='1', PY_COLORS='0', ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0')
for _var in ('VAPI_API_KEY', 'VAPI_API_URL', 'BYOM_LAB_WEBHOOKS_URL'):
    ENV.pop(_var, None)

OUTPUTS = []

pytestmark = pytest.mark.skipif(shutil.which('docker') is None or os.geteuid() != 0,
                                reason='needs root and docker (scripts/docker-engine.sh installs it)')


def run(cmd, timeout=1500):
    proc = subprocess.run(cmd, cwd=ROOT, env=ENV, timeout=timeout, check=False,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    OUTPUTS.append(proc.stdout)
    return proc


def lab(*args, timeout=1500):
    return run([str(ROOT / 'scripts' / 'lab.sh'), *args], timeout=timeout)


def recap(output):
    hosts = {}
    for m in re.finditer(r'^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$', output, re.M):
        hosts[m.group(1)] = {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', m.group(2))}
    return hosts


def emulator(method, path, body=None, auth=True, timeout=10):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(EMULATOR + path, data=data, method=method)
    if data is not None:
        req.add_header('Content-Type', 'application/json')
    if auth:
        req.add_header('Authorization', f'Bearer {API_KEY}')
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def deliveries():
    out = subprocess.run(['docker', 'exec', CONTAINER, 'cat', DOWNSTREAM_LOG], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, timeout=30, check=False).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def wait_for_key(key, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        hits = [d for d in deliveries() if d['headers'].get('idempotency-key') == key]
        if hits:
            return hits
        time.sleep(0.5)
    return []


def assistant():
    found = [a for a in emulator('GET', '/assistant') if a['name'] == 'byom-lab-receptionist']
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope='module')
def first_run():
    lab('down', timeout=120)
    images = run([str(ROOT / 'scripts' / 'lab-images.sh'), 'debian-sid'], timeout=1800)
    assert images.returncode == 0, images.stdout[-3000:]
    proc = lab('deploy')
    yield proc
    lab('down', timeout=120)
    joined = '\n'.join(OUTPUTS)
    assert not any(secret in joined for secret in SECRETS), 'a lab secret leaked into the output'


def test_first_run_converges_and_wires_vapi(first_run):
    out = first_run.stdout
    assert first_run.returncode == 0, out[-6000:]
    rc = recap(out)
    assert rc and all(h['failed'] == 0 and h['unreachable'] == 0 for h in rc.values()), rc
    assert rc['byom-lab-vps']['changed'] > 0, rc
    assert 'Vapi webhook receiver' in out
    hooks = [c for c in emulator('GET', '/credential') if c['provider'] == 'webhook']
    assert [(c['name'], c['authenticationPlan']['type']) for c in hooks] == [('byom-webhooks', 'hmac')]
    server = assistant()['server']
    assert re.match(r'^https://\d+\.\d+\.\d+\.\d+:8443/vapi/webhook$', server['url']), server
    assert server['credentialId'] == hooks[0]['id'] and server['timeoutSeconds'] == 10
    assert server['backoffPlan'] == {'type': 'exponential', 'maxRetries': 3, 'baseDelaySeconds': 1}


def test_rerun_changes_nothing(first_run):
    emulator('DELETE', '/_emulator/requests', auth=False)
    proc = lab('deploy')
    assert proc.returncode == 0, proc.stdout[-6000:]
    rc = recap(proc.stdout)
    assert rc['byom-lab-vps']['changed'] == 0 and rc['byom-lab-vps']['failed'] == 0, rc
    api = [r for r in emulator('GET', '/_emulator/requests', auth=False) if r['method'] != 'WEBHOOK']
    assert {r['method'] for r in api} == {'GET'}, api
    print('re-run: %s' % rc['byom-lab-vps'])


def test_lab_webhook_command_reaches_the_downstream(first_run):
    proc = lab('webhook', 'status-update', timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert re.search(r'^webhook sent: status-update to https://\S+ -> HTTP 200 .*"queued"', proc.stdout, re.M), proc.stdout
    assert re.search(r'^webhook delivered: yes \(idempotency key \S+, type status-update, attempt 1\)', proc.stdout, re.M), proc.stdout


def test_vapi_signed_end_of_call_report_arrives_with_its_idempotency_key(first_run):
    sent = emulator('POST', '/_emulator/webhook', {'assistantId': assistant()['id'], 'type': 'end-of-call-report',
                                                   'verify_tls': False}, auth=False, timeout=60)
    assert sent['status'] == 200 and sent['body']['status'] == 'queued', sent
    assert {'x-signature', 'x-timestamp'} <= set(sent['headers'])
    key = sent['body']['idempotencyKey']
    hits = wait_for_key(key)
    assert len(hits) == 1, deliveries()
    got = hits[0]
    assert got['headers']['x-byom-event-type'] == 'end-of-call-report'
    assert got['body'] == sent['request'], 'the downstream gets the body Vapi sent'
    assert got['body']['message']['call']['assistantId'] == assistant()['id']


def test_a_signature_with_another_secret_is_refused(first_run):
    # Rotate the secret in Vapi only: the receiver still holds the old one.
    cred = [c for c in emulator('GET', '/credential') if c['provider'] == 'webhook'][0]
    emulator('PATCH', '/credential/' + cred['id'], {'authenticationPlan': {
        'type': 'hmac', 'algorithm': 'sha256', 'secretKey': 'rotated-in-vapi-only-0123456789'}})
    before = len(deliveries())
    sent = emulator('POST', '/_emulator/webhook', {'assistantId': assistant()['id'], 'type': 'status-update',
                                                   'verify_tls': False}, auth=False, timeout=60)
    # The lab's backoffPlan has no excludedStatusCodes, so Vapi retries the 401 too: 1 + maxRetries refusals.
    assert [a.get('status') for a in sent['attempts']] == [401] * 4, sent['attempts']
    time.sleep(2)
    assert len(deliveries()) == before
