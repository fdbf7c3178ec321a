# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proxy mode under 1:1 NAT (issue 15): the nodes reach the proxy by its private address
(telephony_sip_proxy_addresses) while Vapi must use its public one. The vapi role derives the
credential's gateways from the inventory's proxy hosts in front of the node (sip_proxy group,
sip_proxy_pool_group holding the node): sip_proxy_advertise_address, else telephony_public_ipv4;
without either, the proxy's single addresses as before; a proxy host without one while another
has one fails before any API call, naming the field and the host."""
from __future__ import absolute_import, division, print_function

import json
import os
import subprocess
import sys

import pytest
import yaml

from byom_testlib import ROOT

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'vapi_proxy_nat.yml')
NODE_VARS = {'vapi_api_key': 'unit-key', 'vapi_api_url': 'http://127.0.0.1:9', 'vapi_pool': 'pool-a',
             'asterisk_vapi_inbound_username': 'vapi-user', 'asterisk_vapi_inbound_password': 'unit-password-0123',
             'telephony_sip_proxy_addresses': ['10.20.0.5/32']}


def derive(tmp_path, proxies, pool_group='pool_a', extra=None):
    local = {'ansible_connection': 'local', 'ansible_python_interpreter': sys.executable}
    inventory = {'all': {'vars': local, 'children': {
        'pool_a': {'hosts': {'edge1': {'telephony_public_ipv4': '198.51.100.11'},
                             'edge2': {'telephony_public_ipv4': '198.51.100.12'}},
                   'vars': {'vapi_pool': 'pool-a'}},
        'sip_proxy': {'hosts': proxies, 'vars': {'sip_proxy_pool_group': pool_group}},
    }}}
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump(inventory))
    # Extra vars: the playbook loads the role's defaults as play vars, which beat inventory vars.
    cmd = ['ansible-playbook', '-i', str(path), PLAYBOOK, '-e', json.dumps(dict(NODE_VARS, **(extra or {})))]
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_LOCALHOST_WARNING='0')
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, env=env,
                          timeout=120, check=False)
    tasks = json.loads(proc.stdout)['plays'][0]['tasks']
    derived = tasks[0]['hosts']['edge1']['msg']
    failed = [t['hosts']['edge1'].get('msg', '') for t in tasks if t['hosts'].get('edge1', {}).get('failed')]
    return derived, failed, proc.returncode


@pytest.mark.parametrize('proxies, expected', [
    # 1:1 NAT: Vapi reaches the proxy by its public address, never the private one the nodes use.
    ({'proxy1': {'telephony_public_ipv4': '203.0.113.10'}}, ['203.0.113.10']),
    # The address the proxy itself advertises wins.
    ({'proxy1': {'telephony_public_ipv4': '203.0.113.10', 'sip_proxy_advertise_address': '203.0.113.20'}}, ['203.0.113.20']),
    # No public address declared: the proxy's own (single) addresses, as without NAT.
    ({'proxy1': {}}, ['10.20.0.5']),
    # A pair advertising one address is one gateway; two addresses are two.
    ({'proxy1': {'sip_proxy_advertise_address': '203.0.113.30'}, 'proxy2': {'sip_proxy_advertise_address': '203.0.113.30'}},
     ['203.0.113.30']),
    ({'proxy1': {'telephony_public_ipv4': '203.0.113.10'}, 'proxy2': {'telephony_public_ipv4': '203.0.113.11'}},
     ['203.0.113.10', '203.0.113.11']),
], ids=['nat', 'advertise address wins', 'no public address', 'pair with one address', 'two proxies'])
def test_gateways_are_the_proxies_public_addresses(tmp_path, proxies, expected):
    derived, failed, rc = derive(tmp_path, proxies)
    assert rc == 0 and failed == [], failed
    assert derived['enabled'] is True and derived['proxy_gateways'] == expected
    gateways = derived['host_gateways']
    assert [g['ip'] for g in gateways] == expected and '198.51.100.11' not in json.dumps(gateways)


def test_a_proxy_in_front_of_another_pool_is_not_read(tmp_path):
    derived, failed, rc = derive(tmp_path, {'proxy1': {'telephony_public_ipv4': '203.0.113.10'}}, pool_group='pool_b')
    assert rc == 0 and failed == [], failed
    assert derived['proxy_gateways'] == ['10.20.0.5']


def test_a_proxy_without_a_public_address_next_to_one_with_fails_naming_the_field(tmp_path):
    derived, failed, rc = derive(tmp_path, {'proxy1': {'telephony_public_ipv4': '203.0.113.10'}, 'proxy2': {}})
    assert derived['proxy_gateways'] == ['203.0.113.10']
    assert rc != 0 and len(failed) == 1, failed
    assert 'vapi_sip_proxy_gateways cannot be derived' in failed[0] and 'proxy2' in failed[0], failed
    assert 'telephony_public_ipv4' in failed[0] and 'sip_proxy_advertise_address' in failed[0], failed


def test_explicit_gateways_win_over_the_inventory(tmp_path):
    derived, failed, rc = derive(tmp_path, {'proxy1': {'telephony_public_ipv4': '203.0.113.10'}, 'proxy2': {}},
                                 extra={'vapi_sip_proxy_gateways': ['203.0.113.99']})
    assert rc == 0 and failed == [], failed
    assert [g['ip'] for g in derived['host_gateways']] == ['203.0.113.99']
