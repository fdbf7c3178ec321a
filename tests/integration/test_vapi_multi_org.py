# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vapi role against two Vapi organisations (one key each), one of them with more than
1,000 assistants, plus what people do in the dashboard between runs: rename the trunk or an
assistant, and rotate the trunk password in the inventory.

Controller only (connection local); the emulator answers each key with its own organisation.
"""
import json
import sys

import pytest
import yaml

from byom_testlib.emulator import Emulator
from byom_testlib.playbooks import VAPI_ROLE_PLAY as PLAYBOOK, ansible_playbook, changed, write_yaml

KEYS = {'a': 'multi-org-key-a-1111', 'b': 'multi-org-key-b-2222'}
BIG = 1200  # assistants already in organisation a, none of them ours


@pytest.fixture(scope='module')
def emu():
    with Emulator(KEYS['a'], KEYS['b']) as emulator:
        emulator.admin('POST', 'seed', {'kind': 'assistant', 'org': 0, 'records': [
            {'name': 'tenant-%04d' % i, 'createdAt': '2025-06-01T00:00:%02d.%03dZ' % (i // 1000, i % 1000)}
            for i in range(BIG)]})
        yield emulator


def call(emu, org, method, path, body=None):
    return emu.call(method, path, body, key=KEYS[org])


def inventory(tmp_path, url, passwords=None):
    passwords = passwords or {}

    def host(name, ip, did):
        return {'vapi_gateway_ip': ip, 'asterisk_dids': [did],
                'asterisk_vapi_inbound_password': passwords.get(name, 'pw-%s-0123456789' % name)}
    inv = {'all': {'children': {'asterisk': {
        'children': {
            'org_a': {'hosts': {'edge-a1': host('edge-a1', '192.0.2.11', '+15550100101'),
                                'edge-a2': host('edge-a2', '192.0.2.12', '+15550100102')},
                      'vars': {'vapi_api_key': KEYS['a']}},
            'org_b': {'hosts': {'edge-b1': host('edge-b1', '198.51.100.11', '+15550100201')},
                      'vars': {'vapi_api_key': KEYS['b'], 'vapi_region': 'eu'}},
        },
        'vars': {
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
            'vapi_api_url': url, 'vapi_edge_state_dir': str(tmp_path / 'state-{{ inventory_hostname }}'),
            'asterisk_vapi_inbound_username': 'vapi-{{ inventory_hostname }}',
            'vapi_assistants': [
                {'name': 'front-desk', 'first_message': 'Hello',
                 'model': {'provider': 'openai', 'model': 'gpt-4o-mini'}, 'voice': {'provider': 'vapi', 'voiceId': 'Elliot'}},
            ],
        },
    }}}}
    return write_yaml(tmp_path / 'hosts.yml', inv)


def play(tmp_path, inv, *args):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    proc = ansible_playbook(tmp_path / 'play.yml', inv, *args)
    assert proc.returncode == 0, proc.stdout[-6000:]
    assert not any(k in proc.stdout for k in KEYS.values())
    return proc.stdout


@pytest.fixture(scope='module')
def deployed(emu, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('multi-org')
    emu.admin('DELETE', 'requests')
    inv = inventory(tmp_path, emu.url)
    out = play(tmp_path, inv)
    return tmp_path, inv, out, emu.api_log()


def test_each_organisation_gets_its_own_assistant_trunks_and_numbers(emu, deployed):
    _tmp, _inv, _out, log = deployed
    posts = [(r['org'], r['path']) for r in log if r['method'] == 'POST']
    assert sorted(posts) == sorted([(0, '/assistant'), (1, '/assistant'), (0, '/credential'), (0, '/credential'),
                                    (1, '/credential'), (0, '/phone-number'), (0, '/phone-number'), (1, '/phone-number')])
    for org, hosts in (('a', ['edge-a1', 'edge-a2']), ('b', ['edge-b1'])):
        trunks = dict((t['name'], t['id']) for t in call(emu, org, 'GET', '/credential'))
        assert sorted(trunks) == ['byom-%s' % h for h in hosts]
        mine = [a for a in call(emu, org, 'GET', '/assistant?limit=1000') if a['name'] == 'front-desk']
        assert len(mine) == 1
        for number in call(emu, org, 'GET', '/phone-number'):
            assert number['credentialId'] in trunks.values() and number['assistantId'] == mine[0]['id']
    # The org-wide list of assistants ran once per organisation, not per host.
    listing_orgs = sorted(set(r['org'] for r in log if r['method'] == 'GET' and r['path'] == '/assistant'))
    assert listing_orgs == [0, 1]


def test_rerun_with_1200_foreign_assistants_changes_nothing_and_counts_requests(emu, deployed):
    tmp_path, inv, _out, _log = deployed
    emu.admin('DELETE', 'requests')
    out = play(tmp_path, inv)
    log = emu.api_log()
    assert changed(out) == 0, out[-4000:]
    assert [r for r in log if r['method'] != 'GET'] == []
    per_org = dict((org, len([r for r in log if r['org'] == org])) for org in (0, 1))
    assistant_lists = len([r for r in log if r['org'] == 0 and r['path'] == '/assistant'])
    print('re-run, 2 organisations (%d + 1 assistants in org a): %d requests in org a (%d for the assistant pages), '
          '%d in org b, all GET' % (BIG, per_org[0], assistant_lists, per_org[1]))
    # 1,201 assistants: the first page of 1000, then one page below and one above it; once, for
    # the assistant (one declared): the prune report reuses that list (return_listing).
    assert assistant_lists == 3
    assert len([r for r in log if r['org'] == 1 and r['path'] == '/assistant']) == 1


def test_rename_in_the_dashboard_is_undone_not_duplicated(emu, deployed):
    tmp_path, inv, _out, _log = deployed
    trunk = [t for t in call(emu, 'a', 'GET', '/credential') if t['name'] == 'byom-edge-a1'][0]
    assistant = [a for a in call(emu, 'b', 'GET', '/assistant') if a['name'] == 'front-desk'][0]
    call(emu, 'a', 'PATCH', '/credential/' + trunk['id'], {'name': 'renamed by Bob'})
    call(emu, 'b', 'PATCH', '/assistant/' + assistant['id'], {'name': 'Front desk (Bob)'})
    emu.admin('DELETE', 'requests')
    out = play(tmp_path, inv)
    writes = [(r['org'], r['method'], r['path']) for r in emu.api_log() if r['method'] != 'GET']
    assert sorted(writes) == sorted([(0, 'PATCH', '/credential/' + trunk['id']), (1, 'PATCH', '/assistant/' + assistant['id'])])
    assert 'renamed back' in out
    assert [t['name'] for t in call(emu, 'a', 'GET', '/credential') if t['id'] == trunk['id']] == ['byom-edge-a1']


def test_rotated_password_is_shown_in_check_diff_then_sent_once(emu, deployed):
    tmp_path, _inv, _out, _log = deployed
    inv = inventory(tmp_path, emu.url, passwords={'edge-b1': 'pw-edge-b1-rotated-98765'})
    emu.admin('DELETE', 'requests')
    check = play(tmp_path, inv, '--check', '--diff')
    assert 'rotated' in check and emu.api_log() and all(r['method'] == 'GET' for r in emu.api_log())
    assert 'pw-edge-b1-rotated-98765' not in check
    play(tmp_path, inv)
    patches = [r for r in emu.api_log() if r['method'] == 'PATCH']
    assert [(r['org'], r['path'].split('/')[1]) for r in patches] == [(1, 'credential')]
    state = emu.admin('GET', 'state', org=1)
    assert [c['outboundAuthenticationPlan']['authPassword'] for c in state['credential'].values()] == ['pw-edge-b1-rotated-98765']
    edge_state = json.loads((tmp_path / 'state-edge-b1' / 'vapi-byom-edge-b1.json').read_text())
    assert edge_state['password_fingerprint'].startswith('v1$') and 'rotated' not in json.dumps(edge_state)
    assert oct((tmp_path / 'state-edge-b1' / 'vapi-byom-edge-b1.json').stat().st_mode & 0o777) == '0o640'
    emu.admin('DELETE', 'requests')
    again = play(tmp_path, inv)
    assert changed(again) == 0 and all(r['method'] == 'GET' for r in emu.api_log())


def test_prune_reports_then_removes_only_when_asked(emu, deployed):
    tmp_path, _inv, _out, _log = deployed
    inv = inventory(tmp_path, emu.url, passwords={'edge-b1': 'pw-edge-b1-rotated-98765'})  # as the rotation test left it
    spec = yaml.safe_load(inv.read_text())
    org_a = spec['all']['children']['asterisk']['children']['org_a']
    org_a['vars']['vapi_assistants'] = []          # front-desk no longer declared in organisation a
    org_a['vars']['vapi_phone_numbers'] = []       # and the DIDs of a's hosts are gone
    inv.write_text(yaml.safe_dump(spec))
    emu.admin('DELETE', 'requests')
    out = play(tmp_path, inv)
    assert 'No longer in the inventory, still in Vapi (kept' in out and 'front-desk' in out and '+15550100101' in out
    assert [r for r in emu.api_log() if r['method'] == 'DELETE'] == [], 'reported, nothing removed'
    org_a['vars']['vapi_prune'] = True
    inv.write_text(yaml.safe_dump(spec))
    emu.admin('DELETE', 'requests')
    play(tmp_path, inv)
    deletes = sorted((r['org'], r['path'].split('/')[1]) for r in emu.api_log() if r['method'] == 'DELETE')
    assert deletes == [(0, 'assistant'), (0, 'phone-number'), (0, 'phone-number')]
    assert [a for a in call(emu, 'a', 'GET', '/assistant?limit=1000') if a['name'] == 'front-desk'] == []
    assert len(call(emu, 'a', 'GET', '/assistant?limit=1000')) == 1000, 'the 1,200 foreign ones untouched'
    assert [a['name'] for a in call(emu, 'b', 'GET', '/assistant')] == ['front-desk'], 'organisation b untouched'
