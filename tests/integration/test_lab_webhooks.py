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
import time
from pathlib import Path

import pytest

from byom_testlib.lab import Lab, requires_docker
from byom_testlib.playbooks import recap

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ('lab-only-hmac-secret-not-secret', 'lab-only-redis-password-not-secret')  # inventories/lab-webhooks
DOWNSTREAM_LOG = '/root/byom-downstream.jsonl'             # scripts/lab.sh

lab = Lab(os.environ.get('BYOM_WEBHOOKS_LAB_CONTAINER', 'byom-webhooks-lab-vps'),
          int(os.environ.get('BYOM_WEBHOOKS_LAB_EMULATOR_PORT', '8093')),
          os.environ.get('BYOM_WEBHOOKS_LAB_DIR', str(ROOT / '.lab' / 'webhooks-test')), BYOM_LAB_WEBHOOKS='1')
emulator = lab.emulator

pytestmark = requires_docker


def deliveries():
    out = lab.box('sh', '-c', 'cat %s 2>/dev/null' % DOWNSTREAM_LOG, timeout=30).stdout   # none before the first delivery
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
    lab.images('debian-sid')
    proc = lab('deploy')
    yield proc
    lab('down', timeout=120)
    assert not lab.leaked(SECRETS), 'a lab secret leaked into the output'


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
