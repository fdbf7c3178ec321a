# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pool mode of the vapi role against the Vapi emulator: a pool of edges behind ONE byo-sip-trunk
credential (every node a gateway, OPTIONS ping on), in a us and an eu organisation from one
inventory; nodes added and removed by one inventory line; bad pools refused before any request.

Controller only (connection local, no containers).
"""
import re
import sys

import pytest
import yaml

from byom_testlib.emulator import Emulator
from byom_testlib.playbooks import ansible_playbook, changed, write_yaml

KEYS = {'us': 'pool-key-us-1111', 'eu': 'pool-key-eu-2222'}
ORG = {'us': 0, 'eu': 1}
PLAYBOOK = """
- name: Register the edge pools with Vapi
  hosts: asterisk
  gather_facts: false
  roles:
    - role: byom.telephony.vapi
  post_tasks:
    - name: Show the credential each node's Asterisk will use
      ansible.builtin.debug:
        msg: "CONTACT {{ inventory_hostname }} {{ asterisk_vapi_credential_id | default('none') }}"
"""
US_NODES = {'us-1': '192.0.2.11', 'us-2': '192.0.2.12', 'us-3': '192.0.2.13'}
EU_NODES = {'eu-1': '198.51.100.21', 'eu-2': '198.51.100.22'}
US_DIDS = ['+15550100101', '+15550100102']
EU_DIDS = ['+442071230001']


@pytest.fixture(scope='module')
def emu():
    with Emulator(KEYS['us'], KEYS['eu']) as emulator:
        yield emulator


def call(emu, region, method, path):
    return emu.call(method, path, key=KEYS[region])


def inventory(tmp_path, url, us_nodes=('us-1', 'us-2'), eu_nodes=('eu-1', 'eu-2'), eu_dids=None, eu_key=None):
    inv = {'all': {'children': {'asterisk': {
        'children': {
            'pool_us': {'hosts': dict((n, {'vapi_gateway_ip': US_NODES[n]}) for n in us_nodes),
                        'vars': {'vapi_pool': 'us-edge', 'vapi_api_key': KEYS['us'], 'asterisk_dids': US_DIDS}},
            'pool_eu': {'hosts': dict((n, {'vapi_gateway_ip': EU_NODES[n]}) for n in eu_nodes),
                        'vars': {'vapi_pool': 'eu-edge', 'vapi_api_key': eu_key or KEYS['eu'], 'vapi_region': 'eu',
                                 'asterisk_dids': eu_dids or EU_DIDS}},
        },
        'vars': {
            'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable,
            'vapi_api_url': url, 'vapi_edge_state_dir': str(tmp_path / 'state-{{ inventory_hostname }}'),
            # One credential, one digest plan: the pool's nodes share user and password.
            'asterisk_vapi_inbound_username': 'vapi-{{ vapi_pool }}',
            'asterisk_vapi_inbound_password': 'pool-pw-{{ vapi_pool }}-0123456789',
            'vapi_assistants': [{'name': 'front-desk', 'first_message': 'Hello',
                                 'model': {'provider': 'openai', 'model': 'gpt-4o-mini'}}],
        },
    }}}}
    return write_yaml(tmp_path / 'hosts.yml', inv)


def play(tmp_path, inv, *args, ok=True):
    (tmp_path / 'play.yml').write_text(PLAYBOOK)
    proc = ansible_playbook(tmp_path / 'play.yml', inv, *args)
    assert (proc.returncode == 0) == ok, proc.stdout[-6000:]
    assert not any(k in proc.stdout for k in KEYS.values())
    assert 'pool-pw-' not in proc.stdout
    return proc.stdout


def contacts(output):
    return dict(re.findall(r'CONTACT (\S+) ([0-9a-f-]+|none)', output))


def pool_credential(emu, region):
    creds = call(emu, region, 'GET', '/credential')
    assert len(creds) == 1, creds
    return creds[0]


@pytest.fixture(scope='module')
def deployed(emu, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('pools')
    inv = inventory(tmp_path, emu.url)
    emu.admin('DELETE', 'requests')
    check = play(tmp_path, inv, '--check', '--diff')
    assert changed(check) > 0 and emu.api_log() and all(r['method'] == 'GET' for r in emu.api_log())
    assert '192.0.2.12' in check and '198.51.100.22' in check  # the diff names both nodes of each pool
    emu.admin('DELETE', 'requests')
    out = play(tmp_path, inv)
    return tmp_path, out, emu.api_log()


def test_one_credential_per_pool_with_every_node_as_gateway(emu, deployed):
    _tmp, out, log = deployed
    posts = sorted((r['org'], r['path']) for r in log if r['method'] == 'POST')
    # One credential per pool (not per node); each DID bound once.
    assert posts == sorted([(0, '/assistant'), (0, '/credential'), (0, '/phone-number'), (0, '/phone-number'),
                            (1, '/assistant'), (1, '/credential'), (1, '/phone-number')])
    found = contacts(out)
    for region, nodes, dids in (('us', ['us-1', 'us-2'], US_DIDS), ('eu', ['eu-1', 'eu-2'], EU_DIDS)):
        cred = pool_credential(emu, region)
        assert cred['name'] == 'byom-pool-%s-edge' % region
        assert sorted((g['ip'], g['port'], g['inboundEnabled'], g['outboundEnabled'], g['optionsPingEnabled'])
                      for g in cred['gateways']) == [((US_NODES if region == 'us' else EU_NODES)[n], 5060, True, True, True)
                                                     for n in nodes]
        numbers = call(emu, region, 'GET', '/phone-number')
        assert sorted(n['number'] for n in numbers) == sorted(dids)
        assert set(n['credentialId'] for n in numbers) == {cred['id']}
        # Every node's Asterisk gets the pool's credential (contact sip:<id>.sip.vapi.ai).
        assert [found[n] for n in nodes] == [cred['id']] * len(nodes)
    assert 'pool-pw-' not in str(emu.admin('GET', 'requests'))


def test_rerun_changes_nothing(emu, deployed):
    tmp_path, _out, _log = deployed
    emu.admin('DELETE', 'requests')
    out = play(tmp_path, tmp_path / 'hosts.yml')
    assert changed(out) == 0, out[-4000:]
    assert [r for r in emu.api_log() if r['method'] != 'GET'] == []


def test_node_added_then_removed_is_one_patch_each(emu, deployed):
    tmp_path, _out, _log = deployed
    cred = pool_credential(emu, 'us')
    inv = inventory(tmp_path, emu.url, us_nodes=('us-1', 'us-2', 'us-3'))
    emu.admin('DELETE', 'requests')
    check = play(tmp_path, inv, '--check', '--diff')
    assert all(r['method'] == 'GET' for r in emu.api_log()) and '192.0.2.13' in check
    assert [g['ip'] for g in pool_credential(emu, 'us')['gateways']] == ['192.0.2.11', '192.0.2.12']

    emu.admin('DELETE', 'requests')
    out = play(tmp_path, inv)
    writes = [r for r in emu.api_log() if r['method'] != 'GET']
    assert [(r['org'], r['method'], r['path']) for r in writes] == [(0, 'PATCH', '/credential/' + cred['id'])]
    assert sorted(g['ip'] for g in writes[0]['body']['gateways']) == ['192.0.2.11', '192.0.2.12', '192.0.2.13']
    assert list(writes[0]['body']) == ['gateways']
    assert contacts(out)['us-3'] == cred['id']
    assert sorted(g['ip'] for g in pool_credential(emu, 'us')['gateways']) == ['192.0.2.11', '192.0.2.12', '192.0.2.13']

    emu.admin('DELETE', 'requests')
    assert changed(play(tmp_path, inv)) == 0 and all(r['method'] == 'GET' for r in emu.api_log())

    inv = inventory(tmp_path, emu.url, us_nodes=('us-1', 'us-2'))
    emu.admin('DELETE', 'requests')
    play(tmp_path, inv)
    writes = [r for r in emu.api_log() if r['method'] != 'GET']
    assert [(r['org'], r['method'], r['path']) for r in writes] == [(0, 'PATCH', '/credential/' + cred['id'])]
    assert sorted(g['ip'] for g in pool_credential(emu, 'us')['gateways']) == ['192.0.2.11', '192.0.2.12']
    emu.admin('DELETE', 'requests')
    assert changed(play(tmp_path, inv)) == 0 and all(r['method'] == 'GET' for r in emu.api_log())


@pytest.mark.parametrize('case, expected', [
    ('did_in_two_pools', 'listed for more than one host or pool'),
    ('limit_to_one_node', 'are in the pool but not in this play'),
    ('node_in_other_org', 'same Vapi organisation and region'),
    ('number_declared_differently', 'declared differently on its nodes'),
])
def test_bad_pools_fail_before_any_write(emu, deployed, case, expected):
    tmp_path, _out, _log = deployed
    args = []
    if case == 'did_in_two_pools':
        inv = inventory(tmp_path, emu.url, eu_dids=[US_DIDS[0]])
    elif case == 'limit_to_one_node':
        inv = inventory(tmp_path, emu.url)
        args = ['--limit', 'us-1']
    else:
        inv = inventory(tmp_path, emu.url)
        spec = yaml.safe_load(inv.read_text())
        eu2 = spec['all']['children']['asterisk']['children']['pool_eu']['hosts']['eu-2']
        if case == 'node_in_other_org':
            eu2['vapi_api_key'] = KEYS['us']
        else:
            eu2['vapi_phone_numbers'] = [{'number': EU_DIDS[0], 'name': 'named only on eu-2'}]
        inv.write_text(yaml.safe_dump(spec))
    emu.admin('DELETE', 'requests')
    out = play(tmp_path, inv, *args, ok=False)
    assert expected in out, out[-4000:]
    if case == 'number_declared_differently':
        # Every node of the pool stops, not only its leader.
        assert re.search(r'eu-1 +: ok=\d+ +changed=0 +unreachable=0 +failed=1', out) and \
            re.search(r'eu-2 +: ok=\d+ +changed=0 +unreachable=0 +failed=1', out), out[-3000:]
    assert [r for r in emu.api_log() if r['method'] != 'GET'] == []


def test_leader_removed_the_next_node_takes_over(emu, deployed):
    """us-1 (the leader, holding the state file) leaves: us-2 finds the credential by name and, with
    no fingerprint of its own, sends the password once with the new gateway list; then changed=0."""
    tmp_path, _out, _log = deployed
    cred = pool_credential(emu, 'us')
    inv = inventory(tmp_path, emu.url, us_nodes=('us-2',))
    emu.admin('DELETE', 'requests')
    out = play(tmp_path, inv)
    writes = [r for r in emu.api_log() if r['method'] != 'GET']
    assert [(r['org'], r['method'], r['path']) for r in writes] == [(0, 'PATCH', '/credential/' + cred['id'])]
    assert sorted(writes[0]['body']) == ['gateways', 'outboundAuthenticationPlan']
    assert [g['ip'] for g in writes[0]['body']['gateways']] == ['192.0.2.12']
    assert contacts(out) == {'us-2': cred['id'], 'eu-1': pool_credential(emu, 'eu')['id'],
                             'eu-2': pool_credential(emu, 'eu')['id']}
    emu.admin('DELETE', 'requests')
    assert changed(play(tmp_path, inv)) == 0 and all(r['method'] == 'GET' for r in emu.api_log())
