# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What verify.yml expects (asterisk_expected_extensions, asterisk_expected_transports in
roles/asterisk/vars/main.yml) is exactly what the templates write, context by context: the proof
of load compares the running Asterisk with these lists, so a template change that forgets them
would fail every deployment, and a list wider than the template would hide a lost pattern."""
from __future__ import absolute_import, division, print_function

import json
import os
import re
import subprocess

import pytest
import yaml

from byom_testlib import ROOT

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'asterisk_expected_config.yml')

CASES = {
    'asterisk_sid lab': os.path.join(ROOT, 'molecule', 'asterisk_sid', 'vars', 'lab.yml'),
    'asterisk_tls lab': os.path.join(ROOT, 'molecule', 'asterisk_tls', 'vars', 'lab.yml'),
}


def render(case_vars, tmp_path):
    extra = tmp_path / 'extra.yml'
    extra.write_text(yaml.safe_dump(case_vars) if isinstance(case_vars, dict) else open(case_vars).read())
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    proc = subprocess.run(['ansible-playbook', '-i', 'localhost,', '-c', 'local', PLAYBOOK,
                           '-e', 'byom_case_vars=%s' % extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    return result['plays'][0]['tasks'][0]['hosts']['localhost']['msg']


def written_extensions(conf):
    """{context: sorted unique extensions} as Asterisk's pbx_config would read them."""
    contexts, current = {}, None
    for line in conf.splitlines():
        match = re.match(r'^\[([^\]]+)\]', line)
        if match:
            current = match.group(1)
            if current not in ('general', 'globals'):
                contexts[current] = set()
            continue
        match = re.match(r'^exten => ([^,]+),', line)
        if match:
            contexts[current].add(match.group(1))
    return {name: sorted(extensions) for name, extensions in contexts.items()}


@pytest.mark.parametrize('case', sorted(CASES) + ['two DIDs, transfer targets'])
def test_expected_extensions_are_what_the_template_writes(case, tmp_path):
    if case in CASES:
        out = render(CASES[case], tmp_path)
    else:
        base = yaml.safe_load(open(CASES['asterisk_sid lab']))
        out = render(dict(base, asterisk_dids=['+15551230001', '+15551230002'], asterisk_vapi_transfer_numbers=[
            {'number': '+15552230002', 'trunk': 'carrier1'}, {'number': '+15552230003', 'trunk': 'carrier2'}]), tmp_path)
        assert out['extensions']['vapi-transfer'] and len(out['extensions']['from-carrier-carrier1']) == 4
    expected = {name: sorted(set(extensions)) for name, extensions in out['extensions'].items()}
    assert expected == written_extensions(out['extensions_conf'])
    assert len(expected['from-vapi']) > 40   # the refused ranges are in it


def test_expected_transports_are_what_the_template_writes(tmp_path):
    base = yaml.safe_load(open(CASES['asterisk_sid lab']))
    for tcp, tls in ((False, False), (True, False), (True, True)):
        out = render(dict(base, asterisk_sip_tcp_enabled=tcp, asterisk_sip_tls_enabled=tls), tmp_path)
        written = re.findall(r'(?m)^\[([^\]]+)\]\ntype=transport$', out['transports_conf'])
        assert out['transports'] == written, (tcp, tls)
        assert len(written) == 1 + tcp + tls


def pjsip_sections(conf):
    """[(name, type, {option: [values]})] in file order (a name is reused across types)."""
    sections = []
    for block in re.split(r'(?m)^(?=\[)', conf):
        header = re.match(r'\[([^\]]+)\]\n', block)
        if not header:
            continue
        options = {}
        for key, value in re.findall(r'(?m)^([a-z_0-9]+)=(.*)$', block):
            options.setdefault(key, []).append(value)
        sections.append((header.group(1), options.get('type', ['?'])[0], options))
    return sections


def endpoint(conf, name):
    found = [options for section, kind, options in pjsip_sections(conf) if section == name and kind == 'endpoint']
    assert len(found) == 1, (name, found)
    return found[0]


@pytest.mark.parametrize('unauthenticated', [None, True, False])
def test_only_vapi_options_skip_the_digest_and_only_from_vapi(unauthenticated, tmp_path):
    """Vapi's OPTIONS ping must get 200 (pool mode): allow_unauthenticated_options on the Vapi
    endpoint, which keeps its digest for every other method, is reached only through an ip
    identify of Vapi's addresses and an ACL denying everything else; no other endpoint skips
    the digest. The proof of load expects the same value."""
    case = yaml.safe_load(open(CASES['asterisk_sid lab']))
    if unauthenticated is not None:
        case['asterisk_vapi_options_unauthenticated'] = unauthenticated
    out = render(case, tmp_path)
    conf = out['pjsip_conf']
    vapi = endpoint(conf, 'vapi')
    expected = 'no' if unauthenticated is False else 'yes'
    assert vapi['allow_unauthenticated_options'] == [expected]
    assert vapi['auth'] == ['vapi-inbound'] and vapi['identify_by'] == ['ip']
    assert vapi['deny'] == ['0.0.0.0/0.0.0.0'] and vapi['permit'] == case['asterisk_vapi_sip_addresses']
    identifies = [options for name, kind, options in pjsip_sections(conf) if kind == 'identify' and options['endpoint'] == ['vapi']]
    assert [i['match'] for i in identifies] == [case['asterisk_vapi_sip_addresses']]
    assert not any('match_request_uri' in i or 'match_header' in i for i in identifies)
    # Nothing identifies by username (From user is the caller's to choose) and no anonymous identifier.
    assert re.search(r'(?m)^endpoint_identifier_order=ip,username$', conf)
    assert conf.count('allow_unauthenticated_options=') == 1
    for trunk in case['asterisk_carrier_trunks']:
        assert 'allow_unauthenticated_options' not in endpoint(conf, trunk['name'])
    assert out['endpoint_options']['vapi']['allow_unauthenticated_options'] == (unauthenticated is not False)
    assert out['endpoint_options']['vapi']['auth'] == vapi['auth'][0]


def sections(conf, kind):
    return sorted(set(re.findall(r'(?m)^\[([^\]]+)\]\ntype=%s$' % kind, conf)))


def section_options(conf, name, kind):
    found = [options for section, k, options in pjsip_sections(conf) if section == name and k == kind]
    assert len(found) == 1, (name, kind, found)
    return found[0]


@pytest.mark.parametrize('proxy', [[], ['10.20.0.5/32']], ids=['no proxy', 'behind a proxy'])
@pytest.mark.parametrize('generic', ['', 'carrier2'], ids=['no generic carrier', 'generic carrier to carrier2'])
def test_pjsip_objects_behind_the_proxy_are_what_verify_expects(proxy, generic, tmp_path):
    base = yaml.safe_load(open(CASES['asterisk_sid lab']))
    # The role's default: Vapi's addresses (telephony_vapi_sip_addresses) admitted directly without a
    # proxy, not at all behind one.
    del base['asterisk_vapi_sip_addresses']
    trunks = [{'name': 'carrier1', 'host': '192.0.2.50', 'addresses': ['192.0.2.50/32']},
              {'name': 'carrier2', 'host': '192.0.2.60', 'addresses': ['192.0.2.60/32']}]
    out = render(dict(base, asterisk_carrier_trunks=trunks, asterisk_sip_proxy_addresses=proxy,
                      telephony_vapi_sip_addresses=['198.51.100.16/28'],
                      asterisk_vapi_contact_uri='sip:198.51.100.7:5060', asterisk_sip_proxy_carrier_trunk=generic), tmp_path)
    conf = out['pjsip_conf']
    assert sections(conf, 'endpoint') == sorted(out['endpoints'])
    assert sections(conf, 'identify') == sorted(out['identifies'])
    headers = re.findall(r'(?m)^\[([^\]]+)\]\ntype=identify\nendpoint=(\S+)\nmatch_header=(.*)$', conf)
    acl = pjsip_acls(conf)
    matches = identify_matches(conf)
    if not proxy:
        assert 'endpoint_identifier_order=ip,username\n' in conf
        assert headers == [] and 'byom-proxy' not in conf and 'outbound_proxy' not in conf
        assert acl['vapi'] == matches['vapi'] == ['198.51.100.16/28']
        assert acl['carrier1'] == matches['carrier1'] == ['192.0.2.50/32']
        assert acl['carrier2'] == matches['carrier2'] == ['192.0.2.60/32']
        return
    # Proxy mode: Vapi and the carriers reach the node only through the proxy. No identify by their
    # own addresses, and every ACL admits the proxy alone.
    assert matches == {'byom-proxy': ['10.20.0.5/32']}
    assert acl == {'vapi': ['10.20.0.5/32'], 'carrier1': ['10.20.0.5/32'], 'carrier2': ['10.20.0.5/32'],
                   'byom-proxy': ['10.20.0.5/32']}
    assert 'endpoint_identifier_order=header,ip,username\n' in conf
    # Vapi and EACH carrier by its own tag from the proxy; the generic "carrier" tag only when asked.
    expected = [('carrier1-via-proxy', 'carrier1', 'X-BYOM-Source: carrier-carrier1'),
                ('carrier2-via-proxy', 'carrier2', 'X-BYOM-Source: carrier-carrier2'),
                ('vapi-via-proxy', 'vapi', 'X-BYOM-Source: vapi')]
    if generic:
        expected.insert(0, ('byom-carrier-via-proxy', 'carrier2', 'X-BYOM-Source: carrier'))
    assert sorted(headers) == expected
    # The proxy's own endpoint: no auth, a context without extensions.
    proxy_ep = re.search(r'(?ms)^\[byom-proxy\]\ntype=endpoint\n(.*?)^\[', conf).group(1)
    assert 'context=default\n' in proxy_ep and 'auth=' not in proxy_ep
    # The node's own calls (to Vapi and to every carrier) leave through the proxy, loose-routed.
    for name in ('vapi', 'carrier1', 'carrier2'):
        for kind in ('endpoint', 'aor'):
            assert section_options(conf, name, kind)['outbound_proxy'] == ['sip:10.20.0.5:5060\\;lr'], (name, kind)
    assert 'outbound_proxy' not in section_options(conf, 'byom-proxy', 'endpoint')


def pjsip_acls(conf):
    """{endpoint: [permit=...]}"""
    return {name: re.findall(r'(?m)^permit=(\S+)$', body) for name, body in
            re.findall(r'(?ms)^\[([^\]]+)\]\ntype=endpoint\n(.*?)(?=^\[)', conf + '\n[')}


def identify_matches(conf):
    """{endpoint: [match=...]} of the identifies that match by source address."""
    found = {}
    for _name, kind, options in pjsip_sections(conf):
        if kind == 'identify' and 'match' in options:
            found.setdefault(options['endpoint'][0], []).extend(options['match'])
    return found


def test_direct_peers_behind_the_proxy_only_when_listed(tmp_path):
    """Direct + proxy is opt-in: an explicit asterisk_vapi_sip_addresses, a trunk's direct_addresses."""
    base = yaml.safe_load(open(CASES['asterisk_sid lab']))
    trunks = [{'name': 'carrier1', 'host': '192.0.2.50', 'addresses': ['192.0.2.50/32'], 'direct_addresses': ['192.0.2.50/32']},
              {'name': 'carrier2', 'host': '192.0.2.60', 'addresses': ['192.0.2.60/32']}]
    out = render(dict(base, asterisk_carrier_trunks=trunks, asterisk_sip_proxy_addresses=['10.20.0.5/32'],
                      asterisk_vapi_sip_addresses=['198.51.100.16/28'], asterisk_vapi_contact_uri='sip:198.51.100.7:5060'),
                 tmp_path)
    conf = out['pjsip_conf']
    assert sections(conf, 'identify') == sorted(out['identifies'])
    assert identify_matches(conf) == {'vapi': ['198.51.100.16/28'], 'carrier1': ['192.0.2.50/32'],
                                      'byom-proxy': ['10.20.0.5/32']}
    acl = pjsip_acls(conf)
    assert acl['vapi'] == ['198.51.100.16/28', '10.20.0.5/32']
    assert acl['carrier1'] == ['192.0.2.50/32', '10.20.0.5/32'] and acl['carrier2'] == ['10.20.0.5/32']


@pytest.mark.parametrize('case, vapi, carrier', [
    ({'asterisk_sip_proxy_outbound': False}, None, None),
    # A lab's Vapi stand-in on the node's loopback: only that leg stays direct.
    ({'asterisk_vapi_contact_uri': 'sip:127.0.0.2:5070'}, None, 'sip:10.20.0.5:5062\\;lr'),
    ({'asterisk_sip_proxy_outbound_proxy': 'sip:203.0.113.9:5070'}, 'sip:203.0.113.9:5070\\;lr', 'sip:203.0.113.9:5070\\;lr'),
], ids=['outbound off', 'loopback vapi contact', 'explicit outbound proxy'])
def test_outbound_proxy_choices(case, vapi, carrier, tmp_path):
    base = yaml.safe_load(open(CASES['asterisk_sid lab']))
    # carrier2 registers: its registration leaves through the proxy too (which adds its Path).
    trunks = [{'name': 'carrier1', 'host': '192.0.2.50', 'addresses': ['192.0.2.50/32']},
              {'name': 'carrier2', 'host': '192.0.2.60', 'addresses': ['192.0.2.60/32'], 'registration': True,
               'username': 'reg-user', 'password': 'reg-password-0123'}]
    values = dict(base, asterisk_carrier_trunks=trunks, asterisk_sip_proxy_addresses=['10.20.0.0/30', '10.20.0.5'],
                  telephony_sip_udp_port=5062, asterisk_vapi_contact_uri='sip:198.51.100.7:5060')
    out = render(dict(values, **case), tmp_path)
    conf = out['pjsip_conf']
    assert section_options(conf, 'vapi', 'aor').get('outbound_proxy') == ([vapi] if vapi else None)
    assert section_options(conf, 'vapi', 'endpoint').get('outbound_proxy') == ([vapi] if vapi else None)
    assert section_options(conf, 'carrier1', 'aor').get('outbound_proxy') == ([carrier] if carrier else None)
    assert section_options(conf, 'carrier1', 'endpoint').get('outbound_proxy') == ([carrier] if carrier else None)
    assert section_options(conf, 'carrier2-reg', 'registration').get('outbound_proxy') == ([carrier] if carrier else None)
