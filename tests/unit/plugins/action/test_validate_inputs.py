# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""validate_inputs: every check kind passes a good value and names the field of a bad one,
several failures come back together, secrets never appear, and the action runs on a real
Templar (conditional rules with `item`) without a connection, in check mode too."""
from __future__ import absolute_import, division, print_function

import types

import pytest

from ansible.errors import AnsibleActionFail
from ansible.parsing.dataloader import DataLoader
from ansible.playbook.task import Task
from ansible.template import Templar, trust_as_template

from ansible_collections.byom.telephony.plugins.action import validate_inputs as plugin

SECRET = 'Sekr3t-never-shown-0042'


def problems(*checks, **kwargs):
    return plugin.input_problems(list(checks), **kwargs)


def only(*checks, **kwargs):
    found = problems(*checks, **kwargs)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- one kind at a time: (good, bad, expected words)
KINDS = {
    'int': ({'int': [1, 65535]}, 5060, 70000, ['demo=70000', 'from 1 to 65535']),
    'int-digit-string': ({'int': [1, 65535]}, '5060', 'ssh', ['demo="ssh"', 'integer']),
    'int-open-top': ({'int': [1, None]}, 10 ** 9, 0, ['of at least 1']),
    'int-not-bool': ({'int': [0, 1]}, 1, True, ['demo=true']),
    'match': ({'match': r'^/[a-z/]+\Z', 'hint': 'an absolute path'}, '/var/log', 'var/log', ['demo="var/log" is invalid: an absolute path']),
    'match-number-text': ({'match': r'^[0-9]{1,5}\Z'}, 9100, [9100], ['demo=[9100] is invalid']),
    'match-newline': ({'match': r'^[a-z]+\Z'}, 'abc', 'abc\n', ['demo="abc\\n"']),
    'each': ({'each': True, 'match': r'^\+[1-9][0-9]{6,14}\Z'}, ['+15550100001'], ['+15550100001', '5550100001'],
             ['demo[1]="5550100001" is invalid']),
    'choices': ({'choices': ['udp', 'tcp']}, 'udp', 'sctp', ['demo="sctp" must be one of udp, tcp']),
    'subset': ({'subset': ['ulaw', 'alaw']}, ['alaw'], ['ulaw', 'opus'], ['demo may only hold ulaw, alaw; refused: ["opus"]']),
    'subset-nonempty': ({'subset': ['ulaw'], 'nonempty': True}, ['ulaw'], [], ['demo must not be empty']),
    'keys': ({'keys': ['timers', 'language']}, {'timers': 'yes'}, {'timers': 'yes', 'context': 'x'},
             ['demo may only set timers, language; refused: "context"']),
    'keys-not-mapping': ({'keys': ['timers']}, {}, 'timers=yes', ['demo must be a mapping']),
    'networks-invalid': ({'networks': {}}, ['10.0.0.0/8', '2001:db8::/32'], ['10.0.0.300/32'], ['demo: "10.0.0.300/32" is not a valid']),
    'networks-word': ({'networks': {}}, ['127.0.0.1'], ['bogus'], ['demo: "bogus" is not a valid IPv4/IPv6 address']),
    'networks-wide': ({'networks': {'prefix4': 16, 'prefix6': 32}}, ['44.1.0.0/16', '2001:db8::/32'], ['0.0.0.0/0'],
                      ['demo: "0.0.0.0/0" is wider than /16']),
    'networks-wide6': ({'networks': {'prefix4': 16, 'prefix6': 32}}, ['2001:db8::1'], ['2001:db8::/16'], ['is wider than /32']),
    'networks-version': ({'networks': {'version': 4, 'version_hint': 'no IPv6 rules'}}, ['127.0.0.3/32'], ['2001:db8::1'],
                         ['demo: "2001:db8::1" is IPv6, not IPv4 (no IPv6 rules)']),
    'networks-nonempty': ({'networks': {}, 'nonempty': True}, ['127.0.0.2'], [], ['demo must not be empty']),
    'unique': ({'unique': 'name'}, [{'name': 'a'}, {'name': 'b'}], [{'name': 'a'}, {'name': 'a'}], ['demo has duplicate name: ["a"]']),
    'unique-plain': ({'unique': True}, [1, 2], [1, 2, 1], ['demo has duplicate entries: [1]']),
}


@pytest.mark.parametrize('kind', sorted(KINDS))
def test_each_kind_passes_good_and_names_the_field_of_bad(kind):
    check, good, bad, words = KINDS[kind]
    assert problems(dict(check, field='demo', value=good)) == []
    message = only(dict(check, field='demo', value=bad))
    for word in words:
        assert word in message, (word, message)


def test_ok_rules_booleans_and_messages_name_the_field():
    assert problems({'field': 'demo_mode', 'ok': True, 'msg': 'x'}) == []
    # A message that names its field is kept; one that does not gets the field in front.
    assert only({'field': 'demo_mode', 'ok': False, 'msg': 'demo_mode=on needs demo_ip'}) == 'demo_mode=on needs demo_ip'
    assert only({'field': 'demo_mode', 'ok': False, 'msg': 'needs demo_ip'}) == 'demo_mode: needs demo_ip'


def test_every_failure_is_reported_at_once_config_first():
    found = problems({'field': 'demo_port', 'value': 0, 'int': [1, 65535]},
                     {'field': 'demo_dir', 'value': 'rel', 'match': r'^/'},
                     {'field': 'demo_peers', 'value': ['0.0.0.0/0'], 'networks': {'prefix4': 16}},
                     config={'demo_agent': 'PBX;x'})
    assert [f.split(' ')[0].split('=')[0].rstrip(':') for f in found] == ['demo_agent', 'demo_port', 'demo_dir', 'demo_peers']
    assert "contains ';'" in found[0]


def test_secrets_are_never_shown():
    secrets = ['demo_password', 'password']
    found = problems({'field': 'demo_password', 'value': SECRET, 'match': r'^[a-z]+\Z'},
                     {'field': 'demo_password', 'value': SECRET, 'int': [1, 2]},
                     {'field': 'demo_password', 'value': SECRET, 'choices': ['a']},
                     {'field': 'demo_trunks', 'value': [{'name': 'acme', 'username': 'u', 'password': SECRET + ';'},
                                                        {'name': 'beta', 'username': 'u'}],
                      'items': [{'key': 'password', 'match': r'^[a-z]+\Z'}, {'key': 'username', 'requires': 'password'}]},
                     config={'demo_password': ' ' + SECRET, 'demo_trunks': [{'name': 'acme', 'password': SECRET + ';'}]},
                     secrets=secrets)
    assert len(found) == 6, found
    text = '\n'.join(found)
    assert SECRET not in text and 'Sekr3t' not in text
    assert text.count('(value not shown)') == 4
    assert 'demo_trunks[acme].password' in text and 'demo_trunks[beta].username needs password' in text


def test_items_name_the_entry_and_key():
    trunks = [{'name': 'acme', 'host': 'h:70000', 'extra_options': {'context': 'x'}},
              {'host': 'h'}, 'not-a-mapping', {'name': 'bad\nname', 'registration': True}]
    found = problems({'field': 'trunks', 'value': trunks, 'items': [
        {'key': 'name', 'nonempty': True, 'match': r'^[a-z]+\Z'},
        {'key': 'host', 'match': r'^[a-z]+(:[0-9]{1,4})?\Z', 'hint': 'a name with an optional port'},
        {'key': 'extra_options', 'keys': ['timers']},
        {'key': 'qualify_frequency', 'default': 60, 'int': [0, 86400]},
        {'key': 'registration', 'requires': ['username', 'password']},
    ]})
    assert found == [
        'trunks[acme].host="h:70000" is invalid: a name with an optional port',
        'trunks[acme].extra_options may only set timers; refused: "context"',
        'trunks[1].name is required',
        'trunks[2] must be a mapping (got "str")',
        'trunks[3].name="bad\\nname" is invalid',
        'trunks[3].registration needs username and password (value not shown)',
    ]


def test_absent_keys_use_the_default_or_are_skipped():
    check = {'field': 'trunks', 'items': [{'key': 'max_calls', 'default': 10, 'int': [1, None]}, {'key': 'codecs', 'subset': ['ulaw']}]}
    assert problems(dict(check, value=[{'name': 'a'}])) == []
    assert problems(dict(check, value=[{'name': 'a', 'max_calls': 0}])) == ['trunks[a].max_calls=0 must be an integer of at least 1']
    bad_default = {'field': 'trunks', 'value': [{'name': 'a'}], 'items': [{'key': 'max_calls', 'default': 0, 'int': [1, None]}]}
    assert len(problems(bad_default)) == 1


def test_conditional_rules_need_an_evaluator_and_get_the_item():
    seen = []

    def evaluate(expression, item):
        seen.append((expression, item))
        return item.get('transport', 'udp') != 'tcp'

    found = problems({'field': 'trunks', 'value': [{'name': 'a', 'transport': 'tcp', 'password': SECRET}, {'name': 'b'}],
                      'items': [{'key': 'transport', 'ok': 'expr', 'msg': 'tcp needs demo_tcp_enabled'}]},
                     evaluate=evaluate)
    assert found == ['trunks[a].transport: tcp needs demo_tcp_enabled']
    # The rule saw both trunks, neither with its password.
    assert [item['name'] for _expr, item in seen] == ['a', 'b'] and all('password' not in item for _expr, item in seen)
    with pytest.raises(plugin.CheckError):
        problems({'field': 'x', 'ok': 'expr'})


def test_a_rule_that_fails_on_a_malformed_value_is_a_message():
    def evaluate(expression, item):
        raise ValueError('not a string')
    assert problems({'field': 'demo', 'ok': 'expr'}, evaluate=evaluate) == ['demo: cannot be checked (not a string)']


@pytest.mark.parametrize('check', [
    {'value': 1, 'int': [1, 2]},                       # no field
    {'field': 'x', 'value': 1},                        # no kind
    {'field': 'x', 'value': 1, 'intt': [1, 2]},        # a typo
    {'field': 'x', 'value': 1, 'int': 5},              # int without bounds
    {'field': 'x', 'value': 1, 'requires': 'y'},       # requires outside items
], ids=['no-field', 'no-kind', 'typo', 'int-bounds', 'requires-top'])
def test_a_wrongly_declared_check_is_the_roles_error(check):
    with pytest.raises(plugin.CheckError):
        problems(check)


# ---------------------------------------------------------------- the action on a real Templar
def action(args, variables, check_mode=False):
    task = Task()
    task.args = args
    task.check_mode = check_mode
    templar = Templar(loader=DataLoader(), variables=variables)
    # No connection: the task never reaches the host (a connection without a shell would fail if used).
    connection = types.SimpleNamespace(_shell=types.SimpleNamespace(tmpdir=None))
    return plugin.ActionModule(task, connection, None, DataLoader(), templar).run(task_vars=variables)


VARIABLES = {'demo_tcp_enabled': False, 'demo_names': ['acme', 'beta']}


def trunk_args(trunks):
    return {
        'secrets': ['password'],
        'checks': [
            {'field': 'demo_trunks', 'value': trunks, 'unique': 'name', 'items': [
                {'key': 'transport', 'ok': trust_as_template("item.transport | default('udp') != 'tcp' or demo_tcp_enabled | bool"),
                 'msg': 'tcp needs demo_tcp_enabled'},
                {'ok': trust_as_template("item.name in demo_names"), 'msg': 'name must be one of demo_names'},
                {'ok': trust_as_template("item.password is not defined"), 'msg': 'a rule saw the password'},
            ]},
            {'field': 'demo_mode', 'ok': trust_as_template("demo_tcp_enabled is false"), 'msg': 'unreachable'},
        ],
        'warn': [{'when': True, 'msg': 'shown'}, {'when': False, 'msg': 'not shown'},
                 {'when': trust_as_template('demo_tcp_enabled is false'), 'msg': 'evaluated'},
                 {'when': trust_as_template('demo_names.nope.deeper'), 'msg': 'an error is no warning'}],
    }


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check-mode'])
def test_action_passes_valid_input(check_mode):
    result = action(trunk_args([{'name': 'acme', 'password': SECRET}]), VARIABLES, check_mode=check_mode)
    assert not result.get('failed') and result['changed'] is False, result
    assert result['warnings'] == ['shown', 'evaluated']


def test_action_fails_with_every_problem_and_no_secret():
    trunks = [{'name': 'acme', 'transport': 'tcp', 'password': SECRET}, {'name': 'zulu', 'password': SECRET}, {'name': 'acme'}]
    result = action(dict(trunk_args(trunks), config={'demo_trunks': trunks}), VARIABLES)
    assert result['failed'] and result['changed'] is False
    assert result['msg'].startswith('3 invalid inputs, nothing was changed: '), result['msg']
    for part in ('demo_trunks has duplicate name: ["acme"]', 'demo_trunks[acme].transport: tcp needs demo_tcp_enabled',
                 'demo_trunks[zulu]: name must be one of demo_names'):
        assert part in result['msg']
    assert SECRET not in repr(result) and 'saw the password' not in result['msg']


def test_action_refuses_unknown_arguments_and_bad_declarations():
    with pytest.raises(AnsibleActionFail):
        action({'checks': [], 'chekcs': []}, VARIABLES)
    with pytest.raises(AnsibleActionFail, match='declared wrongly'):
        action({'checks': [{'field': 'x', 'value': 1}]}, VARIABLES)


def test_when_skips_a_check_of_a_feature_that_is_off():
    check = {'field': 'demo_port', 'value': 0, 'int': [1, 65535]}
    assert problems(dict(check, when=False)) == []
    assert len(problems(dict(check, when=True))) == 1
    assert problems(dict(check, when='feature_on'), evaluate=lambda expression, item: False) == []
    trunks = {'field': 'trunks', 'value': [{'name': 'a', 'port': 0}, {'name': 'b', 'port': 0, 'off': True}],
              'items': [{'key': 'port', 'int': [1, 9], 'when': 'not item.off'}]}
    assert problems(trunks, evaluate=lambda expression, item: not item.get('off')) == ['trunks[a].port=0 must be an integer from 1 to 9']


def test_a_value_the_config_rule_refused_is_not_reported_twice():
    found = problems({'field': 'demo_dir', 'value': '/var/log\nx', 'match': r'^/[a-z/]+\Z'},
                     {'field': 'demo_peers', 'value': ['127.0.0.1\n', 'bogus'], 'networks': {}},
                     {'field': 'demo_opts', 'value': {'timers\ncontext': 'x'}, 'keys': ['timers']},
                     {'field': 'demo_other', 'value': '/var/log\nx', 'match': r'^/[a-z/]+\Z'},
                     config={'demo_dir': '/var/log\nx', 'demo_peers': ['127.0.0.1\n', 'bogus'], 'demo_opts': {'timers\ncontext': 'x'}})
    assert found == ['demo_dir contains a newline', 'demo_peers[0] contains a newline', 'demo_opts key #0: the key contains a newline',
                     'demo_peers: "bogus" is not a valid IPv4/IPv6 address or CIDR'], found
    # Without the config rule, the shape checks report the same values themselves.
    assert len(problems({'field': 'demo_dir', 'value': '/var/log\nx', 'match': r'^/[a-z/]+\Z'})) == 1
