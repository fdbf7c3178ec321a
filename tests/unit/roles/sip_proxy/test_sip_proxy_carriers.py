# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proxy tells carriers apart (issue 15): a call from one of a carrier trunk's addresses is
tagged "carrier-<trunk name>" (route[CLASSIFY]), taken by default from the pool's own
asterisk_carrier_trunks, so each node lands it on that trunk; Vapi and the nodes are classified
first, the generic "carrier" tag last; bad carrier entries fail in validation, naming the field.
kamailio -c itself runs on every converge (molecule sip_proxy, tests/integration/test_pool_proxy_site.py)."""
from __future__ import absolute_import, division, print_function

import json
import os
import re
import subprocess

import pytest
import yaml

from byom_testlib import ROOT

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sip_proxy_render.yml')
TRUNKS = [{'name': 'telnyx', 'host': 'sip.telnyx.com', 'addresses': ['192.76.120.10/32', '64.16.250.10/32'],
           'username': 'u', 'password': 'not-shown-0123'},
          {'name': 'twilio', 'host': 'x.pstn.twilio.com', 'addresses': ['54.172.60.0/30']}]


def render(tmp_path, proxy_vars=None, node_vars=None):
    inventory = {'all': {
        'vars': {'ansible_connection': 'local', 'telephony_vapi_sip_addresses': ['44.229.228.186/32'],
                 'telephony_carrier_sip_addresses': ['198.51.100.0/28']},
        'children': {
            'pool_a': {'hosts': {'edge1': {'sip_proxy_node_address': '10.0.0.11'},
                                 'edge2': {'sip_proxy_node_address': '10.0.0.12'}},
                       'vars': dict({'asterisk_carrier_trunks': TRUNKS}, **(node_vars or {}))},
            'proxy': {'hosts': {'proxy1': {}}},
        }}}
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump(inventory))
    case = tmp_path / 'proxy.yml'
    case.write_text(yaml.safe_dump(dict({'sip_proxy_pool_group': 'pool_a', 'sip_proxy_listen_address': '10.0.0.2'},
                                        **(proxy_vars or {}))))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_LOCALHOST_WARNING='0')
    proc = subprocess.run(['ansible-playbook', '-i', str(path), PLAYBOOK, '-e', 'byom_case_vars=%s' % case], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=120, check=False)
    tasks = json.loads(proc.stdout)['plays'][0]['tasks']
    printed = tasks[0]['hosts']['proxy1']['msg']
    failed = []
    for task in tasks:
        result = task['hosts']['proxy1']
        if result.get('failed'):
            items = [r.get('msg', '') for r in result.get('results', []) if r.get('failed')]
            failed.append(' '.join([result.get('msg', '')] + items))
    return printed, failed


def classify(cfg):
    """[(cidr, peer)] in the order route[CLASSIFY] tests them."""
    body = re.search(r'(?ms)^route\[CLASSIFY\] \{\n(.*?)^\}', cfg).group(1)
    return re.findall(r'is_in_subnet\("\$si", "([^"]+)"\)\) \{\n\s*\$var\(peer\) = "([^"]+)";', body)


def test_each_trunk_of_the_pool_gets_its_own_tag(tmp_path):
    printed, failed = render(tmp_path)
    assert failed == [], failed
    assert printed['carriers'] == [{'name': 'telnyx', 'addresses': TRUNKS[0]['addresses']},
                                   {'name': 'twilio', 'addresses': TRUNKS[1]['addresses']}]
    cfg = printed['kamailio_cfg']
    assert classify(cfg) == [('44.229.228.186/32', 'vapi'),
                             ('192.76.120.10/32', 'carrier-telnyx'), ('64.16.250.10/32', 'carrier-telnyx'),
                             ('54.172.60.0/30', 'carrier-twilio'),
                             ('198.51.100.0/28', 'carrier')]
    # The nodes first (the dispatcher set), and the tag is what every relayed INVITE carries.
    assert cfg.index('ds_is_from_list') < cfg.index('is_in_subnet')
    assert 'append_hf("X-BYOM-Source: $var(peer)\\r\\n");' in cfg
    assert 'not-shown-0123' not in cfg and 'not-shown-0123' not in json.dumps(printed['carriers'])


def test_explicit_carriers_win_and_without_trunks_only_the_generic_tag(tmp_path):
    printed, failed = render(tmp_path, proxy_vars={'sip_proxy_carriers': [{'name': 'bt', 'addresses': ['203.0.113.0/29']}]})
    assert failed == [], failed
    assert [peer for _cidr, peer in classify(printed['kamailio_cfg'])] == ['vapi', 'carrier-bt', 'carrier']
    printed, failed = render(tmp_path, node_vars={'asterisk_carrier_trunks': []})
    assert failed == [], failed
    assert [peer for _cidr, peer in classify(printed['kamailio_cfg'])] == ['vapi', 'carrier']


@pytest.mark.parametrize('carriers, field', [
    ([{'name': 'Bad-Name', 'addresses': ['203.0.113.1/32']}], 'needs name'),
    ([{'name': 'bt', 'addresses': []}], 'needs name'),
    ([{'name': 'bt', 'addresses': ['not-an-address']}], 'needs name'),
    ([{'name': 'bt', 'addresses': ['203.0.113.1/32\nlisten=udp:0.0.0.0:5060']}], 'sip_proxy_carriers[bt].addresses'),
    ([{'name': 'bt', 'addresses': ['203.0.113.1/32']}, {'name': 'bt', 'addresses': ['203.0.113.2/32']}], 'its own name'),
])
def test_bad_carriers_fail_naming_the_field(tmp_path, carriers, field):
    _printed, failed = render(tmp_path, proxy_vars={'sip_proxy_carriers': carriers})
    assert len(failed) == 1 and 'sip_proxy_carriers' in failed[0] and field in failed[0], failed


def test_vapi_pings_to_the_proxy_are_answered_by_the_proxy_also_under_nat(tmp_path):
    """Vapi's gateway OPTIONS ping (the proxy is the gateway in proxy mode) is answered 200 by the
    proxy itself, before the INVITE-only rule; the advertised public address is "myself" too."""
    for advertise in ('', '203.0.113.10'):
        printed, failed = render(tmp_path, proxy_vars={'sip_proxy_advertise_address': advertise})
        assert failed == [], failed
        cfg = printed['kamailio_cfg']
        listen = re.search(r'(?m)^listen=.*$', cfg).group(0)
        main = re.search(r'(?ms)^request_route \{\n(.*?)^\}', cfg).group(1)
        ping = re.search(r'if \(is_method\("OPTIONS"\) && uri == myself\) \{\n(\t\t#.*\n)*\t\tsl_send_reply\("200", "OK"\);', main).start()
        assert main.index('route(CLASSIFY);') < ping < main.index('if (!is_method("INVITE"))')
        if advertise:
            assert listen == 'listen=udp:10.0.0.2:5060 advertise 203.0.113.10:5060', listen
            assert re.search(r'(?m)^alias=udp:203\.0\.113\.10:5060$', cfg)
        else:
            assert listen == 'listen=udp:10.0.0.2:5060' and 'alias=' not in cfg, listen
