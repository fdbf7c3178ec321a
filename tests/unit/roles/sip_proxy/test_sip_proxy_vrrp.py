# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The optional VRRP pair of the proxy tier (issue 15): keepalived.conf unicast between the
members of the sip_proxy group with priorities from the group's order, nopreempt by default, the
Kamailio check as its track script; Kamailio also listens on the shared address and answers the
check from its own address; bad VRRP input fails in validation naming the field, never showing
the password. The running pair (election, failover, firewall) is
tests/integration/test_sip_proxy_vrrp.py."""
from __future__ import absolute_import, division, print_function

import json
import os
import re
import socket
import subprocess
import sys
import threading

import pytest
import yaml

from byom_testlib import ROOT

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sip_proxy_vrrp_render.yml')
PASS = 'Pa55-x7z'
VRRP = {'sip_proxy_vrrp_enabled': True, 'sip_proxy_vrrp_address': '10.0.0.100/24',
        'sip_proxy_vrrp_interface': 'eth0', 'sip_proxy_vrrp_auth_pass': PASS,
        'sip_proxy_nodes': [{'name': 'edge1', 'address': '10.0.0.11'}]}


def render(tmp_path, member='proxy1', case=None):
    inventory = {'all': {
        'vars': {'ansible_connection': 'local', 'telephony_vapi_sip_addresses': ['44.229.228.186/32']},
        'children': {'sip_proxy': {'hosts': {'proxy1': {'sip_proxy_listen_address': '10.0.0.2'},
                                             'proxy2': {'sip_proxy_listen_address': '10.0.0.3'},
                                             'proxy3': {'sip_proxy_vrrp_unicast_address': '10.0.0.4'}}}}}}
    path = tmp_path / 'hosts.yml'
    path.write_text(yaml.safe_dump(inventory))
    own = {'proxy1': '10.0.0.2', 'proxy2': '10.0.0.3', 'proxy3': '10.0.0.4'}[member]
    case_file = tmp_path / 'case.yml'
    values = dict(VRRP, sip_proxy_listen_address=own)
    values.update(case or {})
    case_file.write_text(yaml.safe_dump(values))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_LOCALHOST_WARNING='0')
    proc = subprocess.run(['ansible-playbook', '-i', str(path), PLAYBOOK, '-e', 'byom_case_vars=%s' % case_file,
                           '--limit', member], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=120, check=False)
    tasks = json.loads(proc.stdout)['plays'][0]['tasks']
    printed = tasks[0]['hosts'][member].get('msg')
    failed = []
    for task in tasks:
        result = task['hosts'][member]
        if result.get('failed'):
            items = [r.get('msg', '') for r in result.get('results', []) if r.get('failed')]
            failed.append(' '.join([result.get('msg', '')] + items))
    return printed, failed, proc.stdout


def block(conf, name):
    return re.search(r'(?ms)^\s*%s \{\n(.*?)^\s*\}' % name, conf).group(1).split()


def test_members_advertise_unicast_to_each_other_with_priorities_from_the_group_order(tmp_path):
    seen = {}
    for member in ('proxy1', 'proxy2', 'proxy3'):
        printed, failed, _out = render(tmp_path, member)
        assert failed == [], failed
        conf = printed['keepalived_conf']
        seen[member] = printed['priority']
        assert re.search(r'(?m)^\s+unicast_src_ip %s$' % {'proxy1': r'10\.0\.0\.2', 'proxy2': r'10\.0\.0\.3',
                                                          'proxy3': r'10\.0\.0\.4'}[member], conf)
        assert block(conf, 'unicast_peer') == printed['peers']
        assert block(conf, 'virtual_ipaddress') == ['10.0.0.100/24', 'dev', 'eth0']
        assert block(conf, 'track_script') == ['byom_kamailio_alive']
        assert '    script "/usr/bin/python3 /etc/keepalived/byom-kamailio-alive"\n' in conf
        assert re.search(r'(?m)^\s+state BACKUP$', conf) and re.search(r'(?m)^\s+nopreempt$', conf)
        assert re.search(r'(?m)^\s+auth_pass %s$' % re.escape(PASS), conf)
        assert 'keepalived' in printed['packages']
    # peers: the other members' sip_proxy_listen_address or sip_proxy_vrrp_unicast_address
    assert printed['peers'] == ['10.0.0.2', '10.0.0.3']
    assert seen == {'proxy1': 150, 'proxy2': 140, 'proxy3': 130}


def test_preempt_and_an_explicit_priority(tmp_path):
    printed, failed, _out = render(tmp_path, case={'sip_proxy_vrrp_preempt': True, 'sip_proxy_vrrp_priority': 90})
    assert failed == [], failed
    assert 'nopreempt' not in printed['keepalived_conf']
    assert re.search(r'(?m)^\s+priority 90$', printed['keepalived_conf'])


def test_kamailio_listens_on_the_shared_address_second_and_answers_its_own_check(tmp_path):
    printed, failed, _out = render(tmp_path)
    assert failed == [], failed
    cfg = printed['kamailio_cfg']
    # Own address first (the dispatcher's probes leave from it), the shared one second (free bind).
    assert re.findall(r'(?m)^listen=.*$', cfg) == ['listen=udp:10.0.0.2:5060', 'listen=udp:10.0.0.100:5060']
    assert re.search(r'(?m)^ip_free_bind=1$', cfg)
    body = re.search(r'(?ms)^route\[CLASSIFY\] \{\n(.*?)^\}', cfg).group(1)
    assert body.index('src_ip == myself') < body.index('ds_is_from_list')
    # Off: none of it.
    off, failed, _out = render(tmp_path, case={'sip_proxy_vrrp_enabled': False})
    assert failed == [], failed
    assert 'ip_free_bind' not in off['kamailio_cfg'] and 'src_ip == myself' not in off['kamailio_cfg']
    assert off['packages'] == ['kamailio']


@pytest.mark.parametrize('case, field', [
    ({'sip_proxy_vrrp_address': '10.0.0.100'}, 'sip_proxy_vrrp_address'),
    ({'sip_proxy_vrrp_address': 'vip.example/24'}, 'sip_proxy_vrrp_address'),
    ({'sip_proxy_vrrp_address': '10.0.0.2/24'}, "must not be this box's own address"),
    ({'sip_proxy_vrrp_interface': 'eth0 dev lo'}, 'sip_proxy_vrrp_interface'),
    ({'sip_proxy_vrrp_peers': []}, 'sip_proxy_vrrp_peers'),
    ({'sip_proxy_vrrp_peers': ['proxy2.example']}, 'sip_proxy_vrrp_peers'),
    ({'sip_proxy_vrrp_auth_pass': ''}, 'sip_proxy_vrrp_auth_pass'),
    ({'sip_proxy_vrrp_auth_pass': 'longer-than-8'}, 'sip_proxy_vrrp_auth_pass'),
    ({'sip_proxy_vrrp_auth_pass': 'a b'}, 'sip_proxy_vrrp_auth_pass'),
    ({'sip_proxy_vrrp_auth_pass': 'x\n}\nvrr'}, 'sip_proxy_vrrp_auth_pass'),
    ({'sip_proxy_vrrp_auth_pass': 'ab#cd'}, 'sip_proxy_vrrp_auth_pass'),
    ({'sip_proxy_vrrp_router_id': 256}, 'sip_proxy_vrrp_router_id'),
    ({'sip_proxy_vrrp_priority': 255}, 'sip_proxy_vrrp_priority'),
])
def test_bad_vrrp_input_fails_naming_the_field_without_the_password(tmp_path, case, field):
    _printed, failed, out = render(tmp_path, case=case)
    assert len(failed) == 1 and field in failed[0], failed
    if 'sip_proxy_vrrp_auth_pass' in case:
        assert case['sip_proxy_vrrp_auth_pass'] not in ' '.join(failed) or not case['sip_proxy_vrrp_auth_pass']
    assert PASS not in ' '.join(failed)


class FakeKamailio(object):
    """A UDP SIP responder on 127.0.0.1 that answers each request's branch with `code`."""

    def __init__(self, code):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.code, self.requests, self.stop = code, [], False
        self.thread = threading.Thread(target=self.serve)
        self.thread.start()

    def serve(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            text = data.decode()
            self.requests.append((text, addr))
            via = re.search(r'(?m)^Via: (.*)\r$', text).group(1)
            if self.code:
                self.sock.sendto(('SIP/2.0 %d Whatever\r\nVia: %s\r\nContent-Length: 0\r\n\r\n' % (self.code, via)).encode(), addr)

    def close(self):
        self.stop = True
        self.thread.join(5)
        self.sock.close()


@pytest.mark.parametrize('code, exit_code', [(200, 0), (405, 1), (None, 1)])
def test_the_track_script_passes_only_on_a_200_from_the_own_address(tmp_path, code, exit_code):
    far = FakeKamailio(code)
    try:
        printed, failed, _out = render(tmp_path, case={'sip_proxy_listen_address': '127.0.0.1', 'sip_proxy_port': far.port,
                                                       'sip_proxy_vrrp_check_interval': 1})
        assert failed == [], failed
        script = tmp_path / 'alive'
        script.write_text(printed['check_script'])
        proc = subprocess.run([sys.executable, str(script)], timeout=10, check=False)
        assert proc.returncode == exit_code
        (text, addr), = far.requests
        assert text.startswith('OPTIONS sip:127.0.0.1:%d SIP/2.0\r\n' % far.port) and addr[0] == '127.0.0.1'
    finally:
        far.close()
