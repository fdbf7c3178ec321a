# -*- coding: utf-8 -*-
"""The vapi role for two hosts against the Vapi emulator, controller only (no containers).

Shows what one lab host cannot: one trunk per host, assistants ensured once for the play,
each host's DIDs bound to its own trunk, a re-run that only reads, and bad input refused
before any API request.
"""
import re
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PORT = int(os.environ.get('BYOM_VAPI_ROLE_TEST_PORT', '8096'))
URL = f'http://127.0.0.1:{PORT}'
KEY = 'vapi-role-test-key'
PASSWORDS = {'edge-a': 'edge-a-digest-password-1', 'edge-b': 'edge-b-digest-password-2'}

PLAYBOOK = """
- name: Register the edges with Vapi
  hosts: asterisk
  gather_facts: false
  roles:
    - role: byom.telephony.vapi
"""


def inventory(tmp_path, edge_b_dids, **extra):
    inv = {'all': {'children': {'asterisk': {
        'hosts': {
            'edge-a': {'vapi_gateway_ip': '192.0.2.10', 'asterisk_dids': ['+15550100011'],
                       'asterisk_vapi_inbound_password': PASSWORDS['edge-a']},
            'edge-b': {'vapi_gateway_ip': '192.0.2.20', 'asterisk_dids': edge_b_dids,
                       'asterisk_vapi_inbound_password': PASSWORDS['edge-b'],
                       'vapi_phone_numbers': [{'number': n, 'assistant': 'after-hours' if i else 'front-desk'}
                                              for i, n in enumerate(edge_b_dids)]},
        },
        'vars': {
            'ansible_connection': 'local',
            'ansible_python_interpreter': sys.executable,
            'vapi_api_url': URL, 'vapi_api_key': KEY,
            'vapi_edge_state_dir': str(tmp_path / 'edge-state'),
            'asterisk_vapi_inbound_username': 'vapi-{{ inventory_hostname }}',
            'vapi_assistants': [
                {'name': 'front-desk', 'first_message': 'Hello', 'model': {'provider': 'openai', 'model': 'gpt-4o-mini'}},
                {'name': 'after-hours', 'first_message': 'We are closed'},
            ],
            **extra,
        },
    }}}}
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump(inv))
    return path


def api(method, path, auth=True):
    req = urllib.request.Request(URL + path, method=method)
    if auth:
        req.add_header('Authorization', f'Bearer {KEY}')
    with urllib.request.urlopen(req, timeout=10) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def requests_made():
    return [r for r in api('GET', '/_emulator/requests', auth=False) if not r['path'].startswith('/_emulator')]


def play(tmp_path, inv):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=str(ROOT / '.collections'), ANSIBLE_NOCOLOR='1')
    env.pop('VAPI_API_KEY', None)
    env.pop('VAPI_API_URL', None)
    return subprocess.run([str(Path(sys.executable).parent / 'ansible-playbook'), '-i', str(inv), str(tmp_path / 'play.yml')],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600, check=False)


def changed(output):
    return sum(int(n) for n in re.findall(r'changed=(\d+)', output))


@pytest.fixture(scope='module')
def emulator():
    proc = subprocess.Popen([sys.executable, str(ROOT / 'tests/vapi_emulator/server.py'), '--host', '127.0.0.1',
                             '--port', str(PORT), '--api-key', KEY],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _attempt in range(50):
        try:
            api('GET', '/_emulator/health', auth=False)
            break
        except OSError:
            time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail('the Vapi emulator did not start')
    yield
    proc.terminate()
    proc.wait(timeout=10)


def test_duplicate_did_is_refused_before_any_request(emulator, tmp_path):
    api('POST', '/_emulator/reset', auth=False)
    proc = play(tmp_path, inventory(tmp_path, ['+15550100011']))   # edge-a's DID again
    assert proc.returncode != 0
    assert 'listed for more than one host' in proc.stdout and '+15550100011' in proc.stdout
    assert requests_made() == []


def test_two_hosts_one_trunk_each_shared_assistants(emulator, tmp_path):
    api('POST', '/_emulator/reset', auth=False)
    inv = inventory(tmp_path, ['+15550100021', '+15550100022'])
    proc = play(tmp_path, inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    posts = [r['path'] for r in requests_made() if r['method'] == 'POST']
    # 2 assistants once for the play (not per host), 2 trunks, 3 numbers.
    assert sorted(posts) == sorted(['/assistant'] * 2 + ['/credential'] * 2 + ['/phone-number'] * 3), posts

    trunks = {t['name']: t for t in api('GET', '/credential')}
    assert set(trunks) == {'byom-edge-a', 'byom-edge-b'}
    assert trunks['byom-edge-a']['gateways'][0]['ip'] == '192.0.2.10'
    assert trunks['byom-edge-b']['outboundAuthenticationPlan']['authUsername'] == 'vapi-edge-b'
    assistants = {a['name']: a['id'] for a in api('GET', '/assistant')}
    numbers = {n['number']: n for n in api('GET', '/phone-number')}
    assert numbers['+15550100011']['credentialId'] == trunks['byom-edge-a']['id']
    assert numbers['+15550100011']['assistantId'] == assistants['front-desk']
    assert numbers['+15550100021']['credentialId'] == trunks['byom-edge-b']['id']
    assert numbers['+15550100022']['assistantId'] == assistants['after-hours']
    state = json.dumps(api('GET', '/_emulator/state', auth=False))
    assert all(p in state for p in PASSWORDS.values())
    assert not any(p in proc.stdout for p in PASSWORDS.values())

    api('DELETE', '/_emulator/requests', auth=False)
    again = play(tmp_path, inv)
    assert again.returncode == 0, again.stdout[-4000:]
    assert changed(again.stdout) == 0, again.stdout[-4000:]
    reqs = requests_made()
    assert {r['method'] for r in reqs} == {'GET'}, reqs
    print(f're-run: changed=0, {len(reqs)} requests, all GET')


WEBHOOK_SECRET = 'vapi-role-webhook-secret-01'
WEBHOOKS = dict(vapi_webhooks_url='https://hooks.example.com:8443/vapi/webhook', webhooks_secret=WEBHOOK_SECRET,
                vapi_webhooks_timeout_seconds=12)


def test_webhook_credential_and_server_on_the_assistants(emulator, tmp_path):
    api('POST', '/_emulator/reset', auth=False)
    inv = inventory(tmp_path, ['+15550100021'], **WEBHOOKS)
    proc = play(tmp_path, inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    hooks = [c for c in api('GET', '/credential') if c['provider'] == 'webhook']
    assert [(c['name'], c['authenticationPlan']) for c in hooks] == [('byom-webhooks', {'type': 'hmac', 'algorithm': 'sha256'})]
    stored = api('GET', '/_emulator/state', auth=False)['credential'][hooks[0]['id']]
    assert stored['authenticationPlan']['secretKey'] == WEBHOOK_SECRET
    assert WEBHOOK_SECRET not in proc.stdout
    for assistant in api('GET', '/assistant'):
        assert assistant['server'] == {'url': WEBHOOKS['vapi_webhooks_url'], 'credentialId': hooks[0]['id'], 'timeoutSeconds': 12,
                                       'backoffPlan': {'type': 'exponential', 'maxRetries': 3, 'baseDelaySeconds': 1}}
    # Numbers keep no server of their own by default: Vapi uses the assistant's.
    assert all('server' not in n for n in api('GET', '/phone-number'))

    api('DELETE', '/_emulator/requests', auth=False)
    again = play(tmp_path, inv)
    assert again.returncode == 0 and changed(again.stdout) == 0, again.stdout[-4000:]
    assert {r['method'] for r in requests_made()} == {'GET'}


def test_bad_webhook_settings_are_refused_before_any_request(emulator, tmp_path):
    api('POST', '/_emulator/reset', auth=False)
    bad = dict(WEBHOOKS)
    bad.update(webhooks_secret='short', vapi_webhooks_backoff_plan={'type': 'linear', 'maxRetries': 3})
    inv = inventory(tmp_path, ['+15550100021'], **bad)
    proc = play(tmp_path, inv)
    assert proc.returncode != 0
    assert 'Vapi webhook settings are invalid' in proc.stdout and "'type': 'linear'" in proc.stdout
    assert 'short' not in proc.stdout.split('Vapi webhook settings are invalid')[1].split('vapi_webhooks_credential_name')[0]
    assert requests_made() == []


def single_edge_inventory(tmp_path, **extra):
    """One host already named byom-*, no assistants or numbers: only its trunk credential."""
    host = {'vapi_gateway_ip': '192.0.2.30', 'asterisk_vapi_inbound_password': 'edge-c-digest-password-3', **extra}
    inv = {'all': {'children': {'asterisk': {'hosts': {'byom-edge-c': host}}}, 'vars': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'vapi_api_url': URL, 'vapi_api_key': KEY, 'vapi_edge_state_dir': str(tmp_path / 'edge-state'),
        'asterisk_vapi_inbound_username': 'vapi-edge-c', 'vapi_assistants': [], 'vapi_phone_numbers': []}}}
    path = tmp_path / 'single.yml'
    path.write_text(yaml.safe_dump(inv))
    return path


def test_credential_name_has_one_prefix_and_the_doubled_one_is_renamed(emulator, tmp_path):
    """A host named byom-* gets credential byom-<host>, not byom-byom-<host>; one made so by an older version
    (name and state file as it had them) is found through its pinned id and renamed, never duplicated."""
    api('POST', '/_emulator/reset', auth=False)
    state_dir = tmp_path / 'edge-state'
    older = play(tmp_path, single_edge_inventory(
        tmp_path, vapi_trunk_name='byom-byom-edge-c', vapi_edge_state_file=str(state_dir / 'vapi-byom-byom-edge-c.json')))
    assert older.returncode == 0, older.stdout[-4000:]
    [made] = api('GET', '/credential')
    assert made['name'] == 'byom-byom-edge-c'

    api('DELETE', '/_emulator/requests', auth=False)
    upgraded = play(tmp_path, single_edge_inventory(tmp_path))
    assert upgraded.returncode == 0, upgraded.stdout[-4000:]
    [renamed] = api('GET', '/credential')
    assert (renamed['id'], renamed['name']) == (made['id'], 'byom-edge-c')
    assert [r['method'] for r in requests_made() if r['method'] != 'GET'] == ['PATCH']
    assert 'adopted it' not in upgraded.stdout     # found by the pinned id, not by its gateway address
    assert json.loads((state_dir / 'vapi-byom-edge-c.json').read_text())['credential_id'] == made['id']
    assert not (state_dir / 'vapi-byom-byom-edge-c.json').exists()

    again = play(tmp_path, single_edge_inventory(tmp_path))
    assert again.returncode == 0 and changed(again.stdout) == 0, again.stdout[-4000:]
    assert [c['name'] for c in api('GET', '/credential')] == ['byom-edge-c']


def test_prune_report_reuses_the_lists_of_the_last_calls(emulator, tmp_path):
    """What is no longer declared, found from the lists the assistant and phone-number calls read
    already (return_listing): no list request of its own, and vapi_prune removes exactly that."""
    api('POST', '/_emulator/reset', auth=False)
    declared = [{'name': 'front-desk', 'first_message': 'Hello'}, {'name': 'after-hours', 'first_message': 'We are closed'}]
    spare = {'name': 'spare-line', 'first_message': 'Spare'}
    proc = play(tmp_path, inventory(tmp_path, ['+15550100021', '+15550100022'], vapi_assistants=declared + [spare]))
    assert proc.returncode == 0, proc.stdout[-4000:]

    inv = inventory(tmp_path, ['+15550100021'], vapi_assistants=declared)  # spare-line and +15550100022 dropped
    api('DELETE', '/_emulator/requests', auth=False)
    proc = play(tmp_path, inv)
    assert proc.returncode == 0 and changed(proc.stdout) == 0, proc.stdout[-4000:]
    report = [line for line in proc.stdout.splitlines() if 'No longer in the inventory, still in Vapi (kept' in line]
    assert len(report) == 2, proc.stdout[-4000:]          # edge-a: the assistant, edge-b: its number
    assert 'spare-line' in proc.stdout and '+15550100022' in proc.stdout
    lists = [r['path'].split('?')[0] for r in requests_made() if r['method'] == 'GET']
    # One list per module call (2 assistants, 1 number on each edge), none for the report.
    assert lists.count('/assistant') == 2 and lists.count('/phone-number') == 2, lists

    prune = inventory(tmp_path, ['+15550100021'], vapi_assistants=declared, vapi_prune=True)
    api('DELETE', '/_emulator/requests', auth=False)
    proc = play(tmp_path, prune)
    assert proc.returncode == 0, proc.stdout[-4000:]
    deletes = sorted(r['path'].split('/')[1] for r in requests_made() if r['method'] == 'DELETE')
    assert deletes == ['assistant', 'phone-number'], deletes
    assert sorted(a['name'] for a in api('GET', '/assistant')) == ['after-hours', 'front-desk']
    assert sorted(n['number'] for n in api('GET', '/phone-number')) == ['+15550100011', '+15550100021']
