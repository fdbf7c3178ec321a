# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to every role, in ONE playbook run: each case fails in validation, names the field,
writes no file and calls no API.

Each case is one inventory host whose host vars hold its single invalid value (they beat the
valid base values, tests/security/vars/bad_input_base.yml, given as group vars). hardening and
asterisk hosts all point at one throwaway container (`sleep infinity`, no systemd): after the
run no file on its filesystem may be newer than a marker taken just before. vapi hosts run on
the controller against the Vapi emulator, whose request log must stay empty. The failing task
of every host must be a validation task ("Validate | ..." or the argument_specs check), which
all run before the first task that writes anything.
"""
from __future__ import absolute_import, division, print_function

import json
import os
import sys
import tempfile

import pytest
import yaml

from byom_testlib import seclib

KEY = 'sec-bad-role-key-8e21'
CONTAINER = 'byom-sec-badinput'
IMAGE = 'localhost/byom-vps:debian12'
PLAYBOOK = os.path.join(seclib.PLAYBOOKS, 'role_bad_input.yml')
BASE = os.path.join(seclib.SEC_DIR, 'vars', 'bad_input_base.yml')
LONG = 'n' * 41
TRUNK = {'name': 'carrier', 'host': '127.0.0.3:5062', 'addresses': ['127.0.0.3/32']}
PASSWORD = 'sec-bad-input-password-22aa'
# Task names of each role's validation (the vapi role's validate.yml says "Check ...").
VALIDATION_TASKS = {
    'hardening': ('Validate | ', 'Validating arguments against arg spec'),
    'asterisk': ('Validate | ', 'Validating arguments against arg spec'),
    'vapi': ('Check ', 'Validating arguments against arg spec'),
    'edge_metrics': ('Validate | ', 'Validating arguments against arg spec'),
    'monitoring': ('Validate | ', 'Validating arguments against arg spec'),
}


def trunk(**changes):
    return {'asterisk_carrier_trunks': [dict(TRUNK, **changes)]}


def route(**changes):
    return {'asterisk_vapi_outbound_routes': [dict({'pattern': '_+1NXXNXXXXXX', 'trunk': 'carrier'}, **changes)]}


# (role, fields: any one of them named in the error is enough, the invalid values)
CASES = [
    # ---- hardening: addresses, ports, fail2ban, UFW, sysctl, upgrades
    ('hardening', ['hardening_carrier_sip_addresses'], {'hardening_carrier_sip_addresses': ['10.0.0.300/32']}),
    ('hardening', ['hardening_vapi_sip_addresses'], {'hardening_vapi_sip_addresses': ['not-an-address']}),
    ('hardening', ['hardening_vapi_sip_addresses', 'telephony_vapi_sip_addresses'],
     {'telephony_vapi_sip_addresses': ['192.0.2.1/33']}),
    ('hardening', ['hardening_carrier_sip_addresses'], {'hardening_carrier_sip_addresses': ['0.0.0.0/0']}),
    ('hardening', ['hardening_vapi_sip_addresses'], {'telephony_vapi_sip_addresses': ['44.0.0.0/8']}),
    ('hardening', ['hardening_carrier_sip_addresses'], {'hardening_carrier_sip_addresses': ['127.0.0.3/32\n']}),
    ('hardening', ['hardening_sip_udp_port'], {'hardening_sip_udp_port': 70000}),
    ('hardening', ['hardening_ssh_port'], {'hardening_ssh_port': 'ssh'}),
    ('hardening', ['hardening_ssh_extra_ports'], {'hardening_ssh_extra_ports': [70000]}),
    ('hardening', ['hardening_rtp_port_start', 'hardening_rtp_port_end'],
     {'hardening_rtp_port_start': 20000, 'hardening_rtp_port_end': 10000}),
    ('hardening', ['hardening_rtp_port_start', 'hardening_rtp_port_end', 'telephony_rtp_port_start'],
     {'telephony_rtp_port_start': 5060}),
    ('hardening', ['hardening_vapi_region', 'telephony_vapi_region'], {'hardening_vapi_region': 'mars'}),
    ('hardening', ['hardening_fail2ban_bantime'], {'hardening_fail2ban_bantime': 0}),
    ('hardening', ['hardening_fail2ban_bantime'], {'hardening_fail2ban_bantime': -1}),
    ('hardening', ['hardening_fail2ban_maxretry'], {'hardening_fail2ban_maxretry': 0}),
    ('hardening', ['hardening_fail2ban_findtime'], {'hardening_fail2ban_findtime': -600}),
    ('hardening', ['hardening_fail2ban_ignoreip'], {'hardening_fail2ban_ignoreip': ['127.0.0.1/8\n[sshd]\nenabled = false']}),
    ('hardening', ['hardening_fail2ban_ignoreip'], {'hardening_fail2ban_ignoreip': ['bogus']}),
    ('hardening', ['hardening_fail2ban_asterisk_logpaths'],
     {'hardening_fail2ban_asterisk_logpaths': ['/var/log/asterisk/security\nenabled = false']}),
    ('hardening', ['hardening_fail2ban_asterisk_logpaths'], {'hardening_fail2ban_asterisk_logpaths': ['var/log/asterisk/security']}),
    ('hardening', ['hardening_fail2ban_banaction'], {'hardening_fail2ban_banaction': 'iptables-allports\naction = dummy'}),
    ('hardening', ['hardening_fail2ban_banaction'], {'hardening_fail2ban_banaction': 'iptables-allports;x'}),
    ('hardening', ['hardening_fail2ban_banaction'], {'hardening_fail2ban_banaction': '%(action_mwl)s'}),
    ('hardening', ['hardening_fail2ban_blocktype'], {'hardening_fail2ban_blocktype': 'ACCEPT'}),
    ('hardening', ['hardening_fail2ban_asterisk_log_dir'], {'hardening_fail2ban_asterisk_log_dir': '/var/log/asterisk\tx'}),
    ('hardening', ['hardening_fail2ban_asterisk_filter'], {'hardening_fail2ban_asterisk_filter': 'sshd'}),
    ('hardening', ['hardening_ufw_managed_comment'], {'hardening_ufw_managed_comment': 'byom\nmanaged'}),
    ('hardening', ['hardening_ufw_extra_rules'], {'hardening_ufw_extra_rules': [{'port': '70000', 'proto': 'tcp'}]}),
    ('hardening', ['hardening_ufw_extra_rules'], {'hardening_ufw_extra_rules': [{'port': 9100, 'proto': 'icmp'}]}),
    ('hardening', ['hardening_sysctl_settings'],
     {'hardening_sysctl_settings': [{'name': 'net.core.rmem_max\nkernel.sysrq', 'value': '1', 'reason': 'x'}]}),
    ('hardening', ['hardening_unattended_upgrades_origins'],
     {'hardening_unattended_upgrades_origins': ['origin=Debian";\nUnattended-Upgrade::Remove "true']}),
    # ---- asterisk: versions, ports, NAT
    ('asterisk', ['asterisk_version'], {'asterisk_version': '99'}),
    ('asterisk', ['asterisk_install_method'], {'asterisk_install_method': 'magic'}),
    ('asterisk', ['asterisk_sip_udp_port'], {'asterisk_sip_udp_port': 0}),
    ('asterisk', ['asterisk_sip_udp_port'], {'asterisk_sip_udp_port': 70000}),
    ('asterisk', ['asterisk_rtp_port_start', 'asterisk_rtp_port_end'],
     {'asterisk_rtp_port_start': 30000, 'asterisk_rtp_port_end': 20000}),
    ('asterisk', ['asterisk_limit_nofile'], {'asterisk_limit_nofile': 10}),
    ('asterisk', ['asterisk_nat_mode'], {'asterisk_nat_mode': 'sometimes'}),
    # "on" needs a public IPv4; the container is reached by name, so none is known.
    ('asterisk', ['asterisk_nat_mode'], {'asterisk_nat_mode': 'on'}),
    ('asterisk', ['telephony_public_ipv4'], {'telephony_public_ipv4': '203.0.113.300'}),
    ('asterisk', ['telephony_public_ipv4'], {'telephony_public_ipv4': '203.0.113.10/24'}),
    ('asterisk', ['asterisk_public_ipv4'], {'telephony_public_ipv4': '203.0.113.10\n'}),
    ('asterisk', ['asterisk_nat_local_nets'],
     {'asterisk_nat_external_address': '203.0.113.10', 'asterisk_nat_local_nets': ['10.0.0.0/8\nlocal_net=0.0.0.0/0']}),
    ('asterisk', ['asterisk_sip_bind_address'], {'asterisk_sip_bind_address': '0.0.0.0\n[transport-evil]'}),
    ('asterisk', ['asterisk_sip_bind_address'], {'asterisk_sip_bind_address': 'any'}),
    ('asterisk', ['asterisk_tls_ca_file'], {'asterisk_tls_ca_file': 'certs/ca.pem'}),
    ('asterisk', ['asterisk_tls_cert_file'], {'asterisk_tls_cert_file': '/etc/asterisk/keys/cert.pem;x'}),
    ('asterisk', ['asterisk_user_agent'], {'asterisk_user_agent': 'PBX\n[evil]\ntype=endpoint'}),
    ('asterisk', ['asterisk_user_agent'], {'asterisk_user_agent': 'PBX;Asterisk 22'}),
    ('asterisk', ['asterisk_user_agent'], {'asterisk_user_agent': 'PBX,evil=1'}),
    # ---- asterisk: Vapi trunk
    ('asterisk', ['asterisk_vapi_sip_addresses'], {'asterisk_vapi_sip_addresses': ['300.1.1.1/32']}),
    ('asterisk', ['asterisk_vapi_sip_addresses'], {'asterisk_vapi_sip_addresses': ['0.0.0.0/0']}),
    ('asterisk', ['asterisk_vapi_sip_addresses'], {'asterisk_vapi_sip_addresses': ['44.0.0.0/8']}),
    ('asterisk', ['asterisk_vapi_sip_addresses'], {'asterisk_vapi_sip_addresses': ['127.0.0.2/32\nmatch=0.0.0.0/0']}),
    ('asterisk', ['asterisk_vapi_region'], {'asterisk_vapi_region': 'mars', 'asterisk_vapi_contact_uri': ''}),
    ('asterisk', ['asterisk_vapi_transport'], {'asterisk_vapi_transport': 'sctp'}),
    ('asterisk', ['asterisk_vapi_codecs'], {'asterisk_vapi_codecs': ['opus']}),
    ('asterisk', ['asterisk_vapi_max_calls'], {'asterisk_vapi_max_calls': -1}),
    ('asterisk', ['asterisk_vapi_contact_uri'], {'asterisk_vapi_contact_uri': 'sip:127.0.0.2:5070;transport=tcp'}),
    ('asterisk', ['asterisk_vapi_contact_uri'], {'asterisk_vapi_contact_uri': 'sip:127.0.0.2:5070\n'}),
    ('asterisk', ['asterisk_vapi_credential_id'], {'asterisk_vapi_credential_id': 'abc-123\n'}),
    ('asterisk', ['asterisk_vapi_inbound_username'], {'asterisk_vapi_inbound_username': 'sec-vapi\n[vapi]'}),
    ('asterisk', ['asterisk_vapi_inbound_username'], {'asterisk_vapi_inbound_username': 'sec vapi'}),
    ('asterisk', ['asterisk_vapi_inbound_password'], {'asterisk_vapi_inbound_password': 'a;' + PASSWORD}),
    ('asterisk', ['asterisk_vapi_inbound_password'], {'asterisk_vapi_inbound_password': PASSWORD + '\n[vapi-evil]'}),
    ('asterisk', ['asterisk_vapi_inbound_password'], {'asterisk_vapi_inbound_password': ' ' + PASSWORD}),
    ('asterisk', ['asterisk_vapi_inbound_password'], {'asterisk_vapi_inbound_password': PASSWORD + '\t'}),
    ('asterisk', ['asterisk_vapi_inbound_password'], {'asterisk_vapi_inbound_password': 'short'}),
    ('asterisk', ['asterisk_vapi_endpoint_extra_options'], {'asterisk_vapi_endpoint_extra_options': {'auth': ''}}),
    ('asterisk', ['asterisk_vapi_endpoint_extra_options'], {'asterisk_vapi_endpoint_extra_options': {'context': 'from-carrier-carrier'}}),
    ('asterisk', ['asterisk_vapi_endpoint_extra_options'], {'asterisk_vapi_endpoint_extra_options': {'identify_by': 'username,ip'}}),
    ('asterisk', ['asterisk_vapi_endpoint_extra_options'], {'asterisk_vapi_endpoint_extra_options': {'allow_transfer': 'yes'}}),
    ('asterisk', ['asterisk_vapi_endpoint_extra_options'],
     {'asterisk_vapi_endpoint_extra_options': {'set_var': 'TRANSFER_CONTEXT=from-vapi'}}),
    ('asterisk', ['asterisk_vapi_endpoint_extra_options'], {'asterisk_vapi_endpoint_extra_options': {'permit': '0.0.0.0/0'}}),
    ('asterisk', ['asterisk_vapi_endpoint_extra_options'], {'asterisk_vapi_endpoint_extra_options': {'timers\ncontext': 'x'}}),
    ('asterisk', ['asterisk_vapi_endpoint_extra_options'],
     {'asterisk_vapi_endpoint_extra_options': {'timers': 'yes\n[vapi2]\ntype=endpoint'}}),
    ('asterisk', ['asterisk_vapi_aor_extra_options'], {'asterisk_vapi_aor_extra_options': {'max_contacts': 5}}),
    ('asterisk', ['asterisk_vapi_aor_extra_options'], {'asterisk_vapi_aor_extra_options': {'contact': 'sip:203.0.113.9'}}),
    # ---- asterisk: carrier trunks
    ('asterisk', ['asterisk_carrier_trunks', 'addresses'], trunk(addresses=['bogus'])),
    ('asterisk', ['asterisk_carrier_trunks[carrier].addresses'], trunk(addresses=['0.0.0.0/0'])),
    ('asterisk', ['asterisk_carrier_trunks', 'name'], trunk(name=LONG)),
    ('asterisk', ['asterisk_carrier_trunks[0].name'], trunk(name='carrier\n[vapi]')),
    ('asterisk', ['asterisk_carrier_trunks', 'host'], trunk(host='127.0.0.3:70000')),
    ('asterisk', ['asterisk_carrier_trunks[carrier].host'], trunk(host='127.0.0.3\n[evil]')),
    ('asterisk', ['asterisk_carrier_trunks', 'username'], trunk(username='user name', password=PASSWORD)),
    ('asterisk', ['asterisk_carrier_trunks[carrier].username'], trunk(username='user\nx', password=PASSWORD)),
    ('asterisk', ['asterisk_carrier_trunks[carrier].password'], trunk(username='user', password='pa;' + PASSWORD)),
    ('asterisk', ['asterisk_carrier_trunks[carrier].password'], trunk(username='user', password=PASSWORD + ' ')),
    ('asterisk', ['asterisk_carrier_trunks[carrier].password'], trunk(username='user', password=PASSWORD + '\r\n')),
    ('asterisk', ['asterisk_carrier_trunks[carrier].extra_options'], trunk(extra_options={'context': 'from-vapi'})),
    ('asterisk', ['asterisk_carrier_trunks[carrier].extra_options'], trunk(extra_options={'auth': 'vapi-inbound'})),
    ('asterisk', ['asterisk_carrier_trunks[carrier].extra_options'], trunk(extra_options={'timers': 'yes\ncontext=x'})),
    ('asterisk', ['asterisk_carrier_trunks', 'qualify_frequency'], trunk(qualify_frequency='often')),
    ('asterisk', ['asterisk_carrier_trunks', 'rtp_timeout'], trunk(rtp_timeout=-1)),
    ('asterisk', ['asterisk_carrier_trunks', 'transport'], trunk(transport='sctp')),
    ('asterisk', ['asterisk_carrier_trunks', 'max_calls'], trunk(max_calls=0)),
    ('asterisk', ['asterisk_carrier_trunks', 'codecs'], trunk(codecs=['opus'])),
    # ---- asterisk: numbers, routes, logging, modules
    ('asterisk', ['asterisk_dids'], {'asterisk_dids': ['5550100001']}),
    ('asterisk', ['asterisk_dids'], {'asterisk_dids': ['+1555010000&PJSIP/evil']}),
    ('asterisk', ['asterisk_dids'], {'asterisk_dids': ['+15550100001\n']}),
    ('asterisk', ['asterisk_vapi_transfer_numbers', 'number'],
     {'asterisk_vapi_transfer_numbers': [{'number': '+1900555;x', 'trunk': 'carrier'}]}),
    ('asterisk', ['asterisk_vapi_transfer_numbers'],
     {'asterisk_vapi_transfer_numbers': [{'number': '+15550100002\n', 'trunk': 'carrier'}]}),
    ('asterisk', ['asterisk_vapi_outbound_routes'], route(pattern='_+1NXXNXXXXXX\n')),
    ('asterisk', ['asterisk_vapi_outbound_routes'], route(pattern='_+1X.')),
    ('asterisk', ['asterisk_vapi_outbound_routes'], route(pattern='_+44XXXXXXXXXX')),
    ('asterisk', ['asterisk_vapi_outbound_routes'], route(trunk='nope')),
    ('asterisk', ['asterisk_outbound_blocked_patterns'], {'asterisk_outbound_blocked_patterns': ['_+1900NXXXXXX\n']}),
    # ---- asterisk: toll-fraud policy (country codes, curated lists, bill bounds)
    ('asterisk', ['asterisk_country_code'], {'asterisk_country_code': '3'}),
    ('asterisk', ['asterisk_country_code'], {'asterisk_country_code': '882'}),
    ('asterisk', ['asterisk_vapi_outbound_routes'], dict(route(pattern='_+3XXXXXXXXXX'), asterisk_outbound_international_allowed=True)),
    ('asterisk', ['asterisk_vapi_outbound_routes'], dict(route(pattern='_+882XXXXXXXXX'), asterisk_outbound_international_allowed=True)),
    ('asterisk', ['asterisk_outbound_uncurated_countries_acknowledged'],
     dict(route(pattern='_+33XXXXXXXXX'), asterisk_outbound_international_allowed=True)),
    ('asterisk', ['asterisk_nanp_allowed_npas'], {'asterisk_nanp_allowed_npas': ['212']}),
    ('asterisk', ['asterisk_outbound_uncurated_countries_acknowledged'], {'asterisk_outbound_uncurated_countries_acknowledged': ['3']}),
    ('asterisk', ['asterisk_vapi_max_call_duration'], {'asterisk_vapi_max_call_duration': 0}),
    ('asterisk', ['asterisk_carrier_max_calls_per_hour'], {'asterisk_carrier_max_calls_per_hour': -5}),
    ('asterisk', ['max_calls_per_hour'], trunk(max_calls_per_hour='lots')),
    ('asterisk', ['asterisk_call_log_tag'], {'asterisk_call_log_tag': 'BYOM\nCALL'}),
    ('asterisk', ['asterisk_call_log_tag'], {'asterisk_call_log_tag': 'BYOM,x)'}),
    ('asterisk', ['asterisk_log_dir'], {'asterisk_log_dir': '/var/log/asterisk\n/tmp/all => debug'}),
    ('asterisk', ['asterisk_log_dir'], {'asterisk_log_dir': 'var/log/asterisk'}),
    ('asterisk', ['asterisk_modules_noload'], {'asterisk_modules_noload': ['chan_sip.so\nload => chan_sip.so']}),
    ('asterisk', ['asterisk_modules_noload'], {'asterisk_modules_noload': ['chan_sip']}),
    # ---- vapi (controller side)
    # Issue 16 (metrics): passwords are the valid lab-only ones except where the password is the case.
    ('asterisk', ['asterisk_prometheus_password'], {'asterisk_prometheus_enabled': True, 'asterisk_prometheus_password': 'short'}),
    ('edge_metrics', ['edge_metrics_scrape_password'], {'edge_metrics_scrape_password': 'short'}),
    ('edge_metrics', ['edge_metrics_allowed_sources'],
     {'edge_metrics_allowed_sources': ['not-an-address'], 'telephony_metrics_scrape_password': 'bad-input-scrape-0123',
      'telephony_asterisk_metrics_password': 'bad-input-metrics-0123'}),
    ('monitoring', ['monitoring_prometheus_retention_time'],
     {'monitoring_prometheus_retention_time': '30 days', 'telephony_metrics_scrape_password': 'bad-input-scrape-0123'}),
    ('vapi', ['vapi_region'], {'vapi_region': 'mars'}),
    ('vapi', ['vapi_gateway_ip'], {'vapi_gateway_ip': '999.1.1.1'}),
    ('vapi', ['vapi_gateway_port'], {'vapi_gateway_port': 70000}),
    ('vapi', ['vapi_trunk_name'], {'vapi_trunk_name': LONG}),
    ('vapi', ['vapi_assistants', 'name'], {'vapi_assistants': [{'name': LONG}]}),
    ('vapi', ['vapi_phone_numbers', 'number'], {'vapi_phone_numbers': [{'number': '5550100001'}]}),
    ('vapi', ['vapi_api_url'], {'vapi_api_url': 'ftp://127.0.0.1/'}),
    ('vapi', ['vapi_api_url'], {'vapi_api_url': 'http://api.vapi.ai'}),
    ('vapi', ['vapi_api_url'], {'vapi_api_url': 'http://127.0.0.1.example.invalid:8080'}),
    ('vapi', ['vapi_gateway_netmask'], {'vapi_gateway_netmask': 24}),
    # ---- proxy mode (issue 15): behind a proxy known only by a range, Vapi would get no gateway
    # and the node no outbound proxy.
    ('vapi', ['vapi_sip_proxy_gateways', 'vapi_sip_proxy_enabled'], {'telephony_sip_proxy_addresses': ['10.20.0.0/30']}),
    ('vapi', ['vapi_sip_proxy_gateways'], {'vapi_sip_proxy_enabled': True, 'vapi_sip_proxy_gateways': ['proxy.example.com']}),
    ('asterisk', ['asterisk_sip_proxy_outbound_proxy'], {'telephony_sip_proxy_addresses': ['10.20.0.0/30']}),
    ('asterisk', ['asterisk_vapi_transport'],
     {'telephony_sip_proxy_addresses': ['10.20.0.5/32'], 'asterisk_sip_tcp_enabled': True, 'asterisk_vapi_transport': 'tcp'}),
    # A trunk registering straight from a node behind a proxy: the carrier calls the node straight,
    # which admits the proxy only.
    ('asterisk', ['direct_addresses'],
     dict(trunk(registration=True, username='user', password=PASSWORD), telephony_sip_proxy_addresses=['10.20.0.5/32'],
          asterisk_sip_proxy_outbound=False)),
    ('asterisk', ['direct_addresses'], trunk(direct_addresses=['0.0.0.0/0'])),
]

FIND_CHANGED = (
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp "
    "-o -path /root/.ansible \\) -prune -o \\( -newer /tmp/sec-marker -o -cnewer /tmp/sec-marker \\) -print")


def host_name(index):
    return 'case%03d' % index


def case_label(case):
    return '%s %s' % (case[0], ', '.join('%s=%r' % kv for kv in sorted(case[2].items())))[:90]


def inventory(container, emulator_url):
    with open(BASE) as handle:
        base = yaml.safe_load(handle)
    base.update(sec_api_url=emulator_url, sec_api_key=KEY)
    hosts = {}
    for index, (role, _fields, overrides) in enumerate(CASES):
        host = dict(overrides, sec_role=role)
        if role == 'vapi':
            # Controller-side role: a local "host" like the one the Vapi tasks delegate to.
            host.update(ansible_connection='local', ansible_python_interpreter=os.path.abspath(sys.executable))
        else:
            host.update(ansible_connection='community.docker.docker', ansible_host=container,
                        ansible_python_interpreter='/usr/bin/python3')
        hosts[host_name(index)] = host
    return {'all': {'vars': base, 'hosts': hosts}}


@pytest.fixture(scope='module')
def emu():
    emulator = seclib.Emulator(KEY)
    yield emulator
    emulator.stop()


@pytest.fixture(scope='module')
def target():
    reason = seclib.docker_ready(images=['debian12'])
    if reason:
        pytest.skip('Docker is needed for the host-side checks: %s' % reason)
    seclib.docker_rm(CONTAINER)
    seclib.sh(['docker', 'run', '-d', '--name', CONTAINER, '--pull', 'never', IMAGE, 'sleep', 'infinity'], timeout=120)
    yield CONTAINER
    seclib.docker_rm(CONTAINER)


@pytest.fixture(scope='module')
def outcome(emu, target):
    """Run every case in one ansible-playbook run; per host: (failed task, its messages), files, API log."""
    assert len(CASES) >= 80
    # mtime granularity: the marker is strictly older than anything the run could write.
    seclib.dexec(target, 'touch /tmp/sec-marker; sleep 1.1')
    emu.clear_log()
    with tempfile.NamedTemporaryFile('w', suffix='.yml', prefix='byom-badinput-', delete=False) as handle:
        # JSON is YAML: no YAML emitter quirks around newlines and tabs in the invalid values.
        json.dump(inventory(target, emu.url), handle)
        path = handle.name
    try:
        run = seclib.playbook(PLAYBOOK, inventory=path, timeout=1200)
    finally:
        os.unlink(path)
    assert run.report is not None, run.output[-3000:]
    failed = {}
    for name, host, result in run.results():
        if result.get('failed') and host not in failed:
            texts = ['%s' % result.get('msg', '')]
            texts += ['%s' % item.get('msg', '') for item in result.get('results', []) or [] if item.get('failed')]
            failed[host] = (name, '\n'.join(texts))
    changed = seclib.dexec(target, FIND_CHANGED, check=False).stdout.split()
    return {'run': run, 'failed': failed, 'changed': changed, 'api': emu.log()}


def test_one_run_wrote_nothing_and_called_no_api(outcome):
    seclib.record('Bad input (roles)', '%d cases, one run (%.0f s)' % (len(CASES), outcome['run'].elapsed),
                  'files changed %d, API requests %d' % (len(outcome['changed']), len(outcome['api'])),
                  not outcome['changed'] and not outcome['api'])
    assert not outcome['changed'], 'files changed on the target: %s' % outcome['changed'][:20]
    assert not outcome['api'], 'API requests: %s' % outcome['api']


@pytest.mark.parametrize('index', range(len(CASES)), ids=[host_name(i) for i in range(len(CASES))])
def test_bad_role_input_fails_in_validation_naming_the_field(outcome, index):
    role, fields, _overrides = CASES[index]
    task, text = outcome['failed'].get(host_name(index), (None, ''))
    named = [f for f in fields if f in text]
    in_validation = task is not None and any(marker in task for marker in VALIDATION_TASKS[role])
    seclib.record('Bad input (roles)', case_label(CASES[index])[:70],
                  'failed in %s, field %s' % ('validation' if in_validation else task, 'named' if named else 'NOT named'),
                  in_validation and bool(named), text.strip().splitlines()[0][:100] if text.strip() else '')
    assert task is not None, 'accepted: %s' % case_label(CASES[index])
    assert in_validation, 'failed outside validation, in %r: %s' % (task, text[:800])
    assert named, 'the error for %s names none of %s: %s' % (case_label(CASES[index]), fields, text[:1500])
    assert PASSWORD not in text, 'a secret reached the output'
