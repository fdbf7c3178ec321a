# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""byom.telephony.config_problems: the one rule for values templated into configuration files."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.byom.telephony.plugins.filter.config_problems import FilterModule, config_problems

SECRETS = ['asterisk_vapi_inbound_password', 'password']


def problems(fields):
    return config_problems(fields, secrets=SECRETS)


def test_registered_under_its_name():
    assert FilterModule().filters()['config_problems'] is config_problems


@pytest.mark.parametrize('value', ['PBX', 'BYOM-CALL', '/var/log/asterisk', 'sip:127.0.0.2:5070', 5060, 0, True, None,
                                   'pass word in the middle', u'p\xe4ssw\xf6rd-\u00fc', '+15550100001', '_+1NXXNXXXXXX'])
def test_safe_values_pass(value):
    assert problems({'asterisk_user_agent': value}) == []


@pytest.mark.parametrize('value, reason', [
    ('PBX\n[evil]', 'a newline'),
    ('PBX\r', 'a carriage return'),
    ('a\tb', 'a tab'),
    ('a\x00', 'NUL'),
    ('a\x1b[31m', 'U+001B'),
    ('a\x7f', 'U+007F'),
    (u'a\x85b', 'U+0085'),
    (u'a\u2028b', 'U+2028'),
    ('PBX;comment', "';'"),
    ('PBX\n', 'a newline'),  # a trailing newline, the case a '$' anchor lets through
])
def test_unsafe_values_are_named(value, reason):
    found = problems({'asterisk_user_agent': value})
    assert len(found) == 1
    assert found[0].startswith('asterisk_user_agent ')
    assert reason in found[0]


@pytest.mark.parametrize('value', [' secret-with-lead', 'secret-with-trail ', 'tab-free-but-trailing\u00a0'])
def test_secrets_with_blanks_at_the_ends_are_refused(value):
    found = problems({'asterisk_vapi_inbound_password': value})
    assert found and 'blank' in found[0]
    assert value.strip() not in found[0], 'the message must not echo the secret'


def test_blanks_at_the_ends_are_fine_outside_secrets_only_when_not_secret():
    assert problems({'asterisk_user_agent': ' PBX '}) == []
    assert problems({'asterisk_carrier_trunks': [{'name': 'c1', 'password': 'x '}]}) == [
        'asterisk_carrier_trunks[c1].password starts or ends with a blank (Asterisk strips it, the peer would not)']


def test_message_never_contains_the_secret():
    found = problems({'asterisk_vapi_inbound_password': 'topsecret;rest'})
    assert found == ["asterisk_vapi_inbound_password contains ';' (Asterisk reads the rest of the line as a comment)"]


def test_nested_lists_and_dicts_name_the_trunk_and_key():
    fields = {'asterisk_carrier_trunks': [
        {'name': 'good', 'host': 'h', 'addresses': ['127.0.0.3/32']},
        {'name': 'bad', 'host': 'h\n[x]', 'addresses': ['1.2.3.4/32', '5.6.7.8\n'],
         'extra_options': {'timers': 'yes;', 'ok': 'v'}},
    ]}
    assert sorted(problems(fields)) == sorted([
        'asterisk_carrier_trunks[bad].host contains a newline',
        'asterisk_carrier_trunks[bad].addresses[1] contains a newline',
        "asterisk_carrier_trunks[bad].extra_options.timers contains ';' (Asterisk reads the rest of the line as a comment)",
    ])


def test_unsafe_keys_are_reported_without_echoing_them():
    found = problems({'asterisk_vapi_endpoint_extra_options': {'timers\ncontext': 'x'}})
    assert found == ['asterisk_vapi_endpoint_extra_options key #0: the key contains a newline']


def test_list_entry_with_unsafe_name_is_named_by_index():
    found = problems({'asterisk_carrier_trunks': [{'name': 'a\nb'}]})
    assert found == ['asterisk_carrier_trunks[0].name contains a newline']


def test_semicolon_can_be_allowed():
    assert config_problems({'x': 'a;b'}, semicolon=False) == []
    assert config_problems({'x': 'a;b\n'}, semicolon=False) == ['x contains a newline']


def test_default_secret_keys():
    assert config_problems({'t': [{'name': 'n', 'password': ' p'}]}) == [
        't[n].password starts or ends with a blank (Asterisk strips it, the peer would not)']


def test_refuses_non_dict_input():
    with pytest.raises(TypeError):
        config_problems(['x'])
