# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Bad input to every Vapi module: each case fails before any HTTP call and names the field.

One `ansible localhost -m <module>` call per row, pointed at the local Vapi emulator, whose
request log must stay empty (no read, no write: the check happens before the client is used).
"""
from __future__ import absolute_import, division, print_function


import pytest

from byom_testlib import seclib

KEY = 'sec-bad-input-key-41d0'
LONG = 'n' * 41
GOOD = {
    'vapi_sip_trunk': {'name': 'sec-bad', 'gateways': [{'ip': '203.0.113.50'}], 'outbound_auth_username': 'u',
                       'outbound_auth_password': 'sec-bad-trunk-password'},
    'vapi_assistant': {'name': 'sec-bad'},
    'vapi_phone_number': {'number': '+15550100050', 'credential_id': '3fa85f64-5717-4562-b3fc-2c963f66afa6'},
    'vapi_info': {},
}

# (module, field named in the error, option overrides)
CASES = [
    ('vapi_sip_trunk', 'name', {'name': LONG}),
    ('vapi_sip_trunk', 'ip', {'gateways': [{'ip': '999.0.0.1'}]}),
    ('vapi_sip_trunk', 'ip', {'gateways': [{'ip': '203.0.113.0/24'}]}),
    ('vapi_sip_trunk', 'port', {'gateways': [{'ip': '203.0.113.50', 'port': 70000}]}),
    ('vapi_sip_trunk', 'port', {'gateways': [{'ip': '203.0.113.50', 'port': 0}]}),
    ('vapi_sip_trunk', 'netmask', {'gateways': [{'ip': '203.0.113.50', 'netmask': 33}]}),
    ('vapi_sip_trunk', 'outbound_protocol', {'gateways': [{'ip': '203.0.113.50', 'outbound_protocol': 'sctp'}]}),
    ('vapi_sip_trunk', 'id', {'id': 'not-a-uuid'}),
    ('vapi_sip_trunk', 'region', {'region': 'mars', 'api_url': None}),
    ('vapi_sip_trunk', 'api_url', {'api_url': 'ftp://127.0.0.1/'}),
    ('vapi_sip_trunk', 'timeout', {'timeout': 0}),
    ('vapi_sip_trunk', 'retries', {'retries': -1}),
    ('vapi_assistant', 'name', {'name': LONG}),
    ('vapi_assistant', 'name', {'name': '   '}),
    ('vapi_assistant', 'id', {'id': '12345'}),
    ('vapi_phone_number', 'number', {'number': '5550100050'}),
    ('vapi_phone_number', 'number', {'number': '+1555 0100'}),
    ('vapi_phone_number', 'number', {'number': '+155501000500000000'}),
    ('vapi_phone_number', 'name', {'name': LONG}),
    ('vapi_phone_number', 'credential_id', {'credential_id': 'trunk-1'}),
    ('vapi_phone_number', 'assistant_id', {'assistant_id': 'x;DROP'}),
    ('vapi_info', 'resources', {'resources': ['calls']}),
    ('vapi_info', 'region', {'region': 'apac', 'api_url': None}),
]


@pytest.fixture(scope='module')
def emu():
    emulator = seclib.Emulator(KEY)
    yield emulator
    emulator.stop()


def case_id(case):
    return '%s-%s-%s' % (case[0], case[1], '-'.join(sorted(case[2])))


@pytest.mark.parametrize('case', CASES, ids=[case_id(c) for c in CASES])
def test_bad_module_input_fails_early_naming_the_field(emu, case):
    module, field, overrides = case
    args = dict(GOOD[module], api_url=emu.url, api_key=KEY)
    for name, value in overrides.items():
        if value is None:
            args.pop(name, None)
        else:
            args[name] = value
    emu.clear_log()
    run = seclib.adhoc('byom.telephony.' + module, args)
    text = run.failure_text()
    requests_seen = emu.log()
    named = field in text
    ok = run.rc != 0 and named and requests_seen == []
    seclib.record('Bad input (modules)', '%s %s=%s' % (module, field, '%s' % list(overrides.values())[0])[:60],
                  'rc %d, %d API request(s), field %s' % (run.rc, len(requests_seen), 'named' if named else 'NOT named'),
                  ok, text.strip().splitlines()[0][:100] if text.strip() else '')
    assert run.rc != 0, 'accepted: %s' % run.output[-1500:]
    assert named, 'the error does not name %s: %s' % (field, text)
    assert requests_seen == [], 'API requests before failing: %s' % requests_seen
    assert 'sec-bad-trunk-password' not in run.output
