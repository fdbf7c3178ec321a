# -*- coding: utf-8 -*-
"""The vapi role for two hosts against the Vapi emulator, controller only (no containers).

Shows what one lab host cannot: one trunk per host, assistants ensured once for the play,
each host's DIDs bound to its own trunk, a re-run that only reads, and bad input refused
before any API request.
"""
import json
import sys

import pytest

from byom_testlib.emulator import Emulator
from byom_testlib.playbooks import VAPI_ROLE_PLAY as PLAYBOOK, ansible_playbook, changed, write_yaml

KEY = 'vapi-role-test-key'
PASSWORDS = {'edge-a': 'edge-a-digest-password-1', 'edge-b': 'edge-b-digest-password-2'}


def inventory(tmp_path, url, edge_b_dids, **extra):
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
            'vapi_api_url': url, 'vapi_api_key': KEY,
            'vapi_edge_state_dir': str(tmp_path / 'edge-state'),
            'asterisk_vapi_inbound_username': 'vapi-{{ inventory_hostname }}',
            'vapi_assistants': [
                {'name': 'front-desk', 'first_message': 'Hello', 'model': {'provider': 'openai', 'model': 'gpt-4o-mini'}},
                {'name': 'after-hours', 'first_message': 'We are closed'},
            ],
            **extra,
        },
    }}}}
    return write_yaml(tmp_path / 'hosts.yml', inv)


def play(tmp_path, inv):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    return ansible_playbook(tmp_path / 'play.yml', inv, timeout=600)


@pytest.fixture(scope='module')
def emulator():
    with Emulator(KEY) as emu:
        yield emu


def test_duplicate_did_is_refused_before_any_request(emulator, tmp_path):
    emulator.reset()
    proc = play(tmp_path, inventory(tmp_path, emulator.url, ['+15550100011']))   # edge-a's DID again
    assert proc.returncode != 0
    assert 'listed for more than one host' in proc.stdout and '+15550100011' in proc.stdout
    assert emulator.api_log() == []


def test_two_hosts_one_trunk_each_shared_assistants(emulator, tmp_path):
    emulator.reset()
    inv = inventory(tmp_path, emulator.url, ['+15550100021', '+15550100022'])
    proc = play(tmp_path, inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    posts = [r['path'] for r in emulator.api_log() if r['method'] == 'POST']
    # 2 assistants once for the play (not per host), 2 trunks, 3 numbers.
    assert sorted(posts) == sorted(['/assistant'] * 2 + ['/credential'] * 2 + ['/phone-number'] * 3), posts

    trunks = {t['name']: t for t in emulator.call('GET', '/credential')}
    assert set(trunks) == {'byom-edge-a', 'byom-edge-b'}
    assert trunks['byom-edge-a']['gateways'][0]['ip'] == '192.0.2.10'
    assert trunks['byom-edge-b']['outboundAuthenticationPlan']['authUsername'] == 'vapi-edge-b'
    assistants = {a['name']: a['id'] for a in emulator.call('GET', '/assistant')}
    numbers = {n['number']: n for n in emulator.call('GET', '/phone-number')}
    assert numbers['+15550100011']['credentialId'] == trunks['byom-edge-a']['id']
    assert numbers['+15550100011']['assistantId'] == assistants['front-desk']
    assert numbers['+15550100021']['credentialId'] == trunks['byom-edge-b']['id']
    assert numbers['+15550100022']['assistantId'] == assistants['after-hours']
    state = json.dumps(emulator.admin('GET', 'state'))
    assert all(p in state for p in PASSWORDS.values())
    assert not any(p in proc.stdout for p in PASSWORDS.values())

    emulator.clear_log()
    again = play(tmp_path, inv)
    assert again.returncode == 0, again.stdout[-4000:]
    assert changed(again.stdout) == 0, again.stdout[-4000:]
    reqs = emulator.api_log()
    assert {r['method'] for r in reqs} == {'GET'}, reqs
    print(f're-run: changed=0, {len(reqs)} requests, all GET')


WEBHOOK_SECRET = 'vapi-role-webhook-secret-01'
WEBHOOKS = dict(vapi_webhooks_url='https://hooks.example.com:8443/vapi/webhook', webhooks_secret=WEBHOOK_SECRET,
                vapi_webhooks_timeout_seconds=12)


def test_webhook_credential_and_server_on_the_assistants(emulator, tmp_path):
    emulator.reset()
    inv = inventory(tmp_path, emulator.url, ['+15550100021'], **WEBHOOKS)
    proc = play(tmp_path, inv)
    assert proc.returncode == 0, proc.stdout[-4000:]
    hooks = [c for c in emulator.call('GET', '/credential') if c['provider'] == 'webhook']
    assert [(c['name'], c['authenticationPlan']) for c in hooks] == [('byom-webhooks', {'type': 'hmac', 'algorithm': 'sha256'})]
    stored = emulator.admin('GET', 'state')['credential'][hooks[0]['id']]
    assert stored['authenticationPlan']['secretKey'] == WEBHOOK_SECRET
    assert WEBHOOK_SECRET not in proc.stdout
    for assistant in emulator.call('GET', '/assistant'):
        assert assistant['server'] == {'url': WEBHOOKS['vapi_webhooks_url'], 'credentialId': hooks[0]['id'], 'timeoutSeconds': 12,
                                       'backoffPlan': {'type': 'exponential', 'maxRetries': 3, 'baseDelaySeconds': 1}}
    # Numbers keep no server of their own by default: Vapi uses the assistant's.
    assert all('server' not in n for n in emulator.call('GET', '/phone-number'))

    emulator.clear_log()
    again = play(tmp_path, inv)
    assert again.returncode == 0 and changed(again.stdout) == 0, again.stdout[-4000:]
    assert {r['method'] for r in emulator.api_log()} == {'GET'}


def test_bad_webhook_settings_are_refused_before_any_request(emulator, tmp_path):
    emulator.reset()
    bad = dict(WEBHOOKS)
    bad.update(webhooks_secret='short', vapi_webhooks_backoff_plan={'type': 'linear', 'maxRetries': 3})
    inv = inventory(tmp_path, emulator.url, ['+15550100021'], **bad)
    proc = play(tmp_path, inv)
    assert proc.returncode != 0
    # One failure naming both fields (validate_inputs reports every failing check at once).
    message = proc.stdout.split('invalid inputs, nothing was changed:')[1].split('Origin:')[0]
    assert 'vapi_webhooks_secret' in message and 'vapi_webhooks_backoff_plan' in message and '"type": "linear"' in message, message
    assert 'short' not in message, message                # the secret's value is never shown
    assert emulator.api_log() == []


def single_edge_inventory(tmp_path, url, **extra):
    """One host already named byom-*, no assistants or numbers: only its trunk credential."""
    host = {'vapi_gateway_ip': '192.0.2.30', 'asterisk_vapi_inbound_password': 'edge-c-digest-password-3', **extra}
    inv = {'all': {'children': {'asterisk': {'hosts': {'byom-edge-c': host}}}, 'vars': {
        'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
        'vapi_api_url': url, 'vapi_api_key': KEY, 'vapi_edge_state_dir': str(tmp_path / 'edge-state'),
        'asterisk_vapi_inbound_username': 'vapi-edge-c', 'vapi_assistants': [], 'vapi_phone_numbers': []}}}
    return write_yaml(tmp_path / 'single.yml', inv)


def test_credential_name_has_one_prefix_and_the_doubled_one_is_renamed(emulator, tmp_path):
    """A host named byom-* gets credential byom-<host>, not byom-byom-<host>; one made so by an older version
    (name and state file as it had them) is found through its pinned id and renamed, never duplicated."""
    emulator.reset()
    state_dir = tmp_path / 'edge-state'
    older = play(tmp_path, single_edge_inventory(
        tmp_path, emulator.url, vapi_trunk_name='byom-byom-edge-c', vapi_edge_state_file=str(state_dir / 'vapi-byom-byom-edge-c.json')))
    assert older.returncode == 0, older.stdout[-4000:]
    [made] = emulator.call('GET', '/credential')
    assert made['name'] == 'byom-byom-edge-c'

    emulator.clear_log()
    upgraded = play(tmp_path, single_edge_inventory(tmp_path, emulator.url))
    assert upgraded.returncode == 0, upgraded.stdout[-4000:]
    [renamed] = emulator.call('GET', '/credential')
    assert (renamed['id'], renamed['name']) == (made['id'], 'byom-edge-c')
    assert [r['method'] for r in emulator.api_log() if r['method'] != 'GET'] == ['PATCH']
    assert 'adopted it' not in upgraded.stdout     # found by the pinned id, not by its gateway address
    assert json.loads((state_dir / 'vapi-byom-edge-c.json').read_text())['credential_id'] == made['id']
    assert not (state_dir / 'vapi-byom-byom-edge-c.json').exists()

    again = play(tmp_path, single_edge_inventory(tmp_path, emulator.url))
    assert again.returncode == 0 and changed(again.stdout) == 0, again.stdout[-4000:]
    assert [c['name'] for c in emulator.call('GET', '/credential')] == ['byom-edge-c']


def test_prune_report_reuses_the_lists_of_the_last_calls(emulator, tmp_path):
    """What is no longer declared, found from the lists the assistant and phone-number calls read
    already (return_listing): no list request of its own, and vapi_prune removes exactly that."""
    emulator.reset()
    declared = [{'name': 'front-desk', 'first_message': 'Hello'}, {'name': 'after-hours', 'first_message': 'We are closed'}]
    spare = {'name': 'spare-line', 'first_message': 'Spare'}
    proc = play(tmp_path, inventory(tmp_path, emulator.url, ['+15550100021', '+15550100022'], vapi_assistants=declared + [spare]))
    assert proc.returncode == 0, proc.stdout[-4000:]

    inv = inventory(tmp_path, emulator.url, ['+15550100021'], vapi_assistants=declared)  # spare-line and +15550100022 dropped
    emulator.clear_log()
    proc = play(tmp_path, inv)
    assert proc.returncode == 0 and changed(proc.stdout) == 0, proc.stdout[-4000:]
    report = [line for line in proc.stdout.splitlines() if 'No longer in the inventory, still in Vapi (kept' in line]
    assert len(report) == 2, proc.stdout[-4000:]          # edge-a: the assistant, edge-b: its number
    assert 'spare-line' in proc.stdout and '+15550100022' in proc.stdout
    lists = [r['path'].split('?')[0] for r in emulator.api_log() if r['method'] == 'GET']
    # One list per module call (2 assistants, 1 number on each edge), none for the report.
    assert lists.count('/assistant') == 2 and lists.count('/phone-number') == 2, lists

    prune = inventory(tmp_path, emulator.url, ['+15550100021'], vapi_assistants=declared, vapi_prune=True)
    emulator.clear_log()
    proc = play(tmp_path, prune)
    assert proc.returncode == 0, proc.stdout[-4000:]
    deletes = sorted(r['path'].split('/')[1] for r in emulator.api_log() if r['method'] == 'DELETE')
    assert deletes == ['assistant', 'phone-number'], deletes
    assert sorted(a['name'] for a in emulator.call('GET', '/assistant')) == ['after-hours', 'front-desk']
    assert sorted(n['number'] for n in emulator.call('GET', '/phone-number')) == ['+15550100011', '+15550100021']
