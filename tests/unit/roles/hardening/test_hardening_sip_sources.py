# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Proxy mode in the hardening role (issue 15): behind the SIP proxy tier
(telephony_sip_proxy_addresses) a node's SIP ports admit the proxy only, and fail2ban's Asterisk
jail ignores the proxy only, so Vapi and the carriers cannot bypass the proxy's drains and limits;
RTP stays open to any. Without a proxy: Vapi and the carriers, as before. Direct + proxy is an
explicit hardening_sip_peer_addresses."""
from __future__ import absolute_import, division, print_function

import os

import pytest
import yaml

from byom_testlib.playbooks import playbook

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'hardening_sources.yml')
VAPI, CARRIER, PROXY = ['198.51.100.16/28'], ['192.0.2.50/32'], ['10.20.0.5/32']
BASE = {'telephony_vapi_sip_addresses': VAPI, 'telephony_carrier_sip_addresses': CARRIER,
        'telephony_sip_tcp_enabled': True}


def derive(tmp_path, **case):
    extra = tmp_path / 'case.yml'
    extra.write_text(yaml.safe_dump(dict(BASE, **case)))
    proc = playbook(PLAYBOOK, args=['-c', 'local', '-e', 'byom_case_vars=%s' % extra], timeout=120)
    assert proc.rc == 0, proc.output[-6000:]
    return proc.report['plays'][0]['tasks'][0]['hosts']['localhost']['msg']


def sip_sources(rules):
    """{'5060/udp': [sources]} of the SIP rules (every rule but SSH and RTP)."""
    return {'%s/%s' % (r['port'], r['proto']): r['from'] for r in rules if r['port'] in ('5060', '5061')}


@pytest.mark.parametrize('case, expected', [
    ({}, VAPI + CARRIER),
    ({'telephony_sip_proxy_addresses': PROXY}, PROXY),
    # Direct peers and the proxy together: the explicit list.
    ({'telephony_sip_proxy_addresses': PROXY, 'hardening_sip_peer_addresses': VAPI + PROXY}, VAPI + PROXY),
    # The proxy play of site.yml: the proxy itself is never behind a proxy.
    ({'telephony_sip_proxy_addresses': PROXY, 'hardening_sip_proxy_addresses': []}, VAPI + CARRIER),
], ids=['no proxy', 'behind a proxy', 'direct and proxy, explicit', 'the proxy host itself'])
def test_sip_ports_and_fail2ban_follow_the_sip_peers(tmp_path, case, expected):
    out = derive(tmp_path, **case)
    assert out['peers'] == expected
    assert sip_sources(out['ufw_rules']) == {'5060/udp': expected, '5060/tcp': expected}
    # RTP stays open to any: media is anchored on the node, from Vapi's dynamic addresses.
    rtp = [r for r in out['ufw_rules'] if r['port'] == '10000:20000']
    assert rtp == [{'port': '10000:20000', 'proto': 'udp'}], out['ufw_rules']
    assert out['asterisk_ignoreip'] == ['127.0.0.1/8', '::1'] + expected
