# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proxy mode in the vapi role (issue 15): behind a byom.telephony.sip_proxy tier the credential's
gateways are the proxy's addresses (UDP, its port), never the node's own, so Vapi cannot bypass
the proxy; the addresses come from telephony_sip_proxy_addresses' single addresses unless given;
proxy mode without any proxy address fails in validation, naming vapi_sip_proxy_gateways."""
from __future__ import absolute_import, division, print_function

import json
import os

import pytest
import yaml

from byom_testlib.playbooks import playbook

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'vapi_gateways.yml')
BASE = {'vapi_api_key': 'unit-key', 'vapi_api_url': 'http://127.0.0.1:9', 'vapi_gateway_ip': '198.51.100.11',
        'asterisk_vapi_inbound_username': 'vapi-user', 'asterisk_vapi_inbound_password': 'unit-password-0123',
        'vapi_pool': 'pool-a'}


def derive(tmp_path, **case):
    extra = tmp_path / 'case.yml'
    extra.write_text(yaml.safe_dump(dict(BASE, **case)))
    proc = playbook(PLAYBOOK, args=['-c', 'local', '-e', 'byom_case_vars=%s' % extra], timeout=120)
    tasks = proc.report['plays'][0]['tasks']
    derived = tasks[0]['hosts']['localhost']['msg']
    failed = [t['hosts']['localhost'].get('msg', '') for t in tasks if t['hosts']['localhost'].get('failed')]
    return derived, failed, proc.rc


def test_without_a_proxy_the_node_is_its_own_gateway(tmp_path):
    derived, failed, rc = derive(tmp_path)
    assert rc == 0 and failed == [], failed
    assert derived['enabled'] is False
    assert [g['ip'] for g in derived['host_gateways']] == ['198.51.100.11']
    assert derived['host_gateways'][0]['options_ping_enabled'] is True   # a pool


@pytest.mark.parametrize('addresses, expected', [
    (['203.0.113.5/32'], ['203.0.113.5']),
    (['203.0.113.5'], ['203.0.113.5']),
    # A range cannot be a gateway: only the single addresses are taken.
    (['203.0.113.5/32', '192.0.2.0/30', '203.0.113.6'], ['203.0.113.5', '203.0.113.6']),
])
def test_behind_a_proxy_the_gateways_are_the_proxy_not_the_node(tmp_path, addresses, expected):
    derived, failed, rc = derive(tmp_path, telephony_sip_proxy_addresses=addresses, telephony_sip_tls_enabled=True,
                                 telephony_sip_udp_port=5080)
    assert rc == 0 and failed == [], failed
    assert derived['enabled'] is True
    assert derived['proxy_gateways'] == expected
    gateways = derived['host_gateways']
    assert [g['ip'] for g in gateways] == expected and '198.51.100.11' not in json.dumps(gateways)
    for gateway in gateways:
        # The proxy speaks UDP only, on its own port, even when the node itself has TLS.
        assert gateway['port'] == 5080 and gateway['outbound_protocol'] == 'udp' and gateway['netmask'] == 32
        assert gateway['inbound_enabled'] and gateway['outbound_enabled'] and gateway['options_ping_enabled']


def test_explicit_proxy_gateways_win(tmp_path):
    derived, failed, rc = derive(tmp_path, telephony_sip_proxy_addresses=['10.20.0.5/32'],
                                 vapi_sip_proxy_gateways=['203.0.113.50'], vapi_pool='')
    assert rc == 0 and failed == [], failed
    assert [g['ip'] for g in derived['host_gateways']] == ['203.0.113.50']
    # Not a pool, still pinged: the proxy answers OPTIONS itself.
    assert derived['host_gateways'][0]['options_ping_enabled'] is True


@pytest.mark.parametrize('case', [
    {'telephony_sip_proxy_addresses': ['192.0.2.0/30']},
    {'vapi_sip_proxy_enabled': True},
])
def test_proxy_mode_without_a_proxy_address_fails_naming_the_field(tmp_path, case):
    derived, failed, rc = derive(tmp_path, **case)
    assert derived['enabled'] is True and derived['host_gateways'] == []
    assert rc != 0 and len(failed) == 1, failed
    assert 'vapi_sip_proxy_gateways is empty' in failed[0] and 'vapi_sip_proxy_enabled' in failed[0], failed


def test_proxy_gateways_must_be_ipv4_addresses(tmp_path):
    _derived, failed, rc = derive(tmp_path, vapi_sip_proxy_enabled=True, vapi_sip_proxy_gateways=['proxy.example.com'])
    assert rc != 0 and len(failed) == 1 and 'vapi_sip_proxy_gateways must be distinct IPv4 addresses' in failed[0], failed
