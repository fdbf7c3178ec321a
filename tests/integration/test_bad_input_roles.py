# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to every role: each case fails early, names the field, writes no file, calls no API.

hardening and asterisk run against a throwaway container (`sleep infinity`, no systemd: a role
that got past its checks would fail soon after, but only after writing, which is what this test
catches): after each case no file on the container's filesystem is newer than a marker taken
just before the run. The vapi role runs on the controller against the Vapi emulator, whose
request log must stay empty. Every run also has the emulator URL and key, so an API write
from any role would show.
"""
from __future__ import absolute_import, division, print_function

import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'security'))
import seclib  # noqa: E402  pylint: disable=wrong-import-position

KEY = 'sec-bad-role-key-8e21'
CONTAINER = 'byom-sec-badinput'
IMAGE = 'localhost/byom-vps:debian12'
PLAYBOOK = os.path.join(seclib.PLAYBOOKS, 'role_bad_input.yml')
LONG = 'n' * 41
TRUNK = {'name': 'carrier', 'host': '127.0.0.3:5062', 'addresses': ['127.0.0.3/32']}

# (role, fields: any one of them named in the error is enough, the one invalid value)
CASES = [
    ('hardening', ['hardening_carrier_sip_addresses'], {'hardening_carrier_sip_addresses': ['10.0.0.300/32']}),
    ('hardening', ['hardening_vapi_sip_addresses'], {'hardening_vapi_sip_addresses': ['not-an-address']}),
    ('hardening', ['hardening_vapi_sip_addresses', 'telephony_vapi_sip_addresses'],
     {'telephony_vapi_sip_addresses': ['192.0.2.1/33']}),
    ('hardening', ['hardening_sip_udp_port'], {'hardening_sip_udp_port': 70000}),
    ('hardening', ['hardening_ssh_port'], {'hardening_ssh_port': 'ssh'}),
    ('hardening', ['hardening_rtp_port_start', 'hardening_rtp_port_end'],
     {'hardening_rtp_port_start': 20000, 'hardening_rtp_port_end': 10000}),
    ('hardening', ['hardening_rtp_port_start', 'hardening_rtp_port_end', 'telephony_rtp_port_start'],
     {'telephony_rtp_port_start': 5060}),
    ('hardening', ['hardening_vapi_region', 'telephony_vapi_region'], {'hardening_vapi_region': 'mars'}),
    ('asterisk', ['asterisk_version'], {'asterisk_version': '99'}),
    ('asterisk', ['asterisk_sip_udp_port'], {'asterisk_sip_udp_port': 0}),
    ('asterisk', ['asterisk_rtp_port_start', 'asterisk_rtp_port_end'],
     {'asterisk_rtp_port_start': 30000, 'asterisk_rtp_port_end': 20000}),
    ('asterisk', ['asterisk_vapi_sip_addresses'], {'asterisk_vapi_sip_addresses': ['300.1.1.1/32']}),
    ('asterisk', ['asterisk_vapi_region'], {'asterisk_vapi_region': 'mars', 'asterisk_vapi_contact_uri': ''}),
    ('asterisk', ['asterisk_carrier_trunks', 'addresses'],
     {'asterisk_carrier_trunks': [dict(TRUNK, addresses=['bogus'])]}),
    ('asterisk', ['asterisk_carrier_trunks', 'name'], {'asterisk_carrier_trunks': [dict(TRUNK, name=LONG)]}),
    ('asterisk', ['asterisk_dids'], {'asterisk_dids': ['5550100001']}),
    ('asterisk', ['asterisk_dids'], {'asterisk_dids': ['+1555010000&PJSIP/evil']}),
    ('asterisk', ['asterisk_vapi_transfer_numbers', 'number'],
     {'asterisk_vapi_transfer_numbers': [{'number': '+1900555;x', 'trunk': 'carrier'}]}),
    ('asterisk', ['asterisk_vapi_max_calls'], {'asterisk_vapi_max_calls': -1}),
    ('asterisk', ['asterisk_nat_mode'], {'asterisk_nat_mode': 'sometimes'}),
    # "on" needs a public IPv4; the container is reached by name, so none is known.
    ('asterisk', ['asterisk_nat_mode'], {'asterisk_nat_mode': 'on'}),
    ('asterisk', ['telephony_public_ipv4'], {'telephony_public_ipv4': '203.0.113.300'}),
    ('asterisk', ['telephony_public_ipv4'], {'telephony_public_ipv4': '203.0.113.10/24'}),
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
]

FIND_CHANGED = (
    "find / -xdev \\( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp "
    "-o -path /root/.ansible \\) -prune -o \\( -newer /tmp/sec-marker -o -cnewer /tmp/sec-marker \\) -print")


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


def case_id(case):
    return '%s-%s' % (case[0], '-'.join(sorted(case[2])))


@pytest.mark.parametrize('case', CASES, ids=[case_id(c) for c in CASES])
def test_bad_role_input_fails_early(emu, target, case):
    role, fields, overrides = case
    variables = dict(sec_role=role, sec_api_url=emu.url, sec_api_key=KEY)
    variables.update(overrides)
    if role == 'vapi':
        # Controller-side role: a local "host" like the one the Vapi tasks delegate to.
        inventory = 'sec-edge,'
        variables.update(ansible_connection='local', ansible_python_interpreter=os.path.abspath(sys.executable))
    else:
        inventory = '%s,' % target
        variables.update(ansible_connection='community.docker.docker')
        # mtime granularity: the marker is strictly older than anything the run could write.
        seclib.dexec(target, 'touch /tmp/sec-marker; sleep 1.1')
    emu.clear_log()
    run = seclib.playbook(PLAYBOOK, variables, inventory=inventory, timeout=600)
    text = run.failure_text()
    changed = [] if role == 'vapi' else seclib.dexec(target, FIND_CHANGED, check=False).stdout.split()
    api = emu.log()
    named = [f for f in fields if f in text]
    value = ', '.join('%s=%s' % kv for kv in sorted(overrides.items()))
    ok = run.rc != 0 and bool(named) and not changed and not api
    seclib.record('Bad input (roles)', '%s %s' % (role, value)[:70],
                  'rc %d, field %s, files changed %d, API requests %d' % (
                      run.rc, 'named' if named else 'NOT named', len(changed), len(api)),
                  ok, text.strip().splitlines()[0][:100] if text.strip() else '')
    assert run.rc != 0, 'accepted %s: %s' % (value, run.output[-1500:])
    assert named, 'the error for %s names none of %s: %s' % (value, fields, text[:1500])
    assert not changed, 'files changed before failing: %s' % changed[:20]
    assert not api, 'API requests before failing: %s' % api
