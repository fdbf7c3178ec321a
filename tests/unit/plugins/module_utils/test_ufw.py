# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The UFW reader and planner against real ufw output (fixtures/ufw, captured from ufw 0.36 on
Debian 11 and 0.36.2 on Debian 12 and sid, with the rules of fixtures/ufw/capture.sh)."""
from __future__ import absolute_import, division, print_function

import os

import pytest

from ansible_collections.byom.telephony.plugins.module_utils import ufw as u

FIXTURES = os.path.join(os.path.dirname(__file__), 'fixtures', 'ufw')
MANAGED = 'byom-managed'


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


# What every release's `ufw show added` holds, in canonical form (rule, direction, proto, port,
# from, to, from_port) or raw for what the module only reports and deletes.
EXPECTED_KEYS = [
    ('allow', 'in', 'tcp', '22', 'any', 'any', 'any'),
    ('allow', 'in', 'udp', '5060', '10.0.0.0/8', 'any', 'any'),
    ('allow', 'in', 'udp', '10000:20000', 'any', 'any', 'any'),
    ('raw', 'allow in on eth0 to any port 80 proto tcp'),
    ('limit', 'in', 'tcp', '2222', 'any', 'any', 'any'),
    ('deny', 'out', 'any', '25', 'any', 'any', 'any'),
    ('allow', 'in', 'tcp', '443,8443', 'any', '192.0.2.9', '1024:2000'),
    ('raw', 'route allow in on eth0 out on eth1 to 10.0.0.0/8 port 53 proto udp'),
    ('reject', 'in', 'any', '111', 'any', 'any', 'any'),
    # ufw keeps an IPv6 network's host bits (2001:db8::1/64); the key does not.
    ('allow', 'in', 'tcp', '9100', '2001:db8::/64', 'any', 'any'),
    ('allow', 'in', 'tcp', '22', '2001:db8::7', 'any', 'any'),
]


APP_RULES = [('raw', 'allow SSH'), ('raw', "allow from 192.0.2.0/24 to any app 'WWW Full'"),
             ('raw', 'allow from 198.51.100.0/24 app SSH to 192.0.2.1 app SSH'), ('raw', 'allow log 8080/tcp'),
             ('raw', 'allow out on eth0 to any port 53 proto udp')]


@pytest.mark.parametrize('release', ['debian11', 'debian12', 'sid'])
def test_show_added_of_every_release_parses_to_the_same_rules(release):
    rules = u.parse_show_added(fixture(release + '-show-added.txt'))
    # Debian 12's capture also holds application-profile, logging and interface rules (next test).
    rules = [r for r in rules if u.rule_key(r) not in APP_RULES]
    assert [u.rule_key(r) for r in rules] == EXPECTED_KEYS
    comments = [r['comment'] for r in rules]
    assert comments == [MANAGED] * 3 + [''] * 5 + ['rpc, with spaces'] + [MANAGED] * 2


def test_application_profiles_interfaces_and_logging_rules_stay_raw_with_their_comment():
    rules = u.parse_show_added(fixture('debian12-show-added.txt'))
    raw = dict((r['raw'], r['comment']) for r in rules if 'raw' in r)
    assert raw == {
        'allow in on eth0 to any port 80 proto tcp': '',
        'route allow in on eth0 out on eth1 to 10.0.0.0/8 port 53 proto udp': '',
        'allow SSH': '',
        "allow from 192.0.2.0/24 to any app 'WWW Full'": 'by hand',
        'allow from 198.51.100.0/24 app SSH to 192.0.2.1 app SSH': '',
        'allow log 8080/tcp': '',
        'allow out on eth0 to any port 53 proto udp': '',
    }


def test_no_rules():
    assert u.parse_show_added("Added user rules (see 'ufw status' for running firewall):\n(None)\n") == []


def test_status_active_and_inactive():
    active = u.parse_status(fixture('debian12-status-active.txt'))
    assert active == {'active': True, 'logging': 'medium',
                      'defaults': {'incoming': 'deny', 'outgoing': 'reject', 'routed': 'deny'}}
    assert u.parse_status(fixture('debian11-status-active.txt'))['logging'] == 'medium'
    assert u.parse_status(fixture('status-inactive.txt')) == {'active': False, 'logging': None, 'defaults': {}}
    assert u.parse_status('Status: active\nLogging: off\n')['logging'] == 'off'


def test_defaults_and_ipv6_from_the_configuration_file():
    text = fixture('debian12-default-ufw')
    assert u.defaults_from_config(text) == {'incoming': 'deny', 'outgoing': 'reject', 'routed': 'deny'}
    assert u.parse_shell_vars(text)['IPV6'] == 'yes'
    off = u.set_ipv6(text, False)
    assert u.parse_shell_vars(off)['IPV6'] == 'no'
    assert off.replace('IPV6=no', 'IPV6=yes') == text          # nothing else touched
    assert u.parse_shell_vars(u.set_ipv6('A=1\n', True)) == {'A': '1', 'IPV6': 'yes'}


@pytest.mark.parametrize('given, canonical', [
    ('any', 'any'), ('0.0.0.0/0', 'any'), ('::/0', 'any'),
    ('203.0.113.7', '203.0.113.7'), ('203.0.113.7/32', '203.0.113.7'), ('10.1.2.3/8', '10.0.0.0/8'),
    ('2001:DB8:0:0::1/128', '2001:db8::1'), ('2001:db8:0:0::1/64', '2001:db8::/64'),
])
def test_addresses_normalise_as_ufw_compares_them(given, canonical):
    assert u.normalise_address(given) == canonical


@pytest.mark.parametrize('given, canonical', [(5060, '5060'), ('10000:20000', '10000:20000'), ('7:7', '7'),
                                              ('443,8443', '443,8443'), (None, 'any')])
def test_ports_normalise(given, canonical):
    assert u.normalise_port(given) == canonical


@pytest.mark.parametrize('kwargs, message', [
    (dict(port='70000'), 'rules[3].port'),
    (dict(port='20:10'), 'runs downwards'),
    (dict(src='10.0.0.300'), 'rules[3].from'),
    (dict(proto='icmp'), 'rules[3].proto'),
    (dict(port='80,443'), 'port list needs proto'),
    (dict(src='2001:db8::1', dst='192.0.2.1'), 'mix IPv4 and IPv6'),
    (dict(proto='vrrp', port='5060'), 'proto vrrp has no ports'),
    (dict(proto='gre', from_port='1'), 'proto gre has no ports'),
    (dict(proto='igmp', src='2001:db8::1'), 'proto igmp exists for IPv4 only'),
    (dict(proto='sctp'), 'rules[3].proto'),
])
def test_bad_declared_rules_name_the_field(kwargs, message):
    with pytest.raises(u.UfwError, match=message.replace('[', r'\[').replace(']', r'\]')):
        u.make_rule(field='rules[3]', **kwargs)


def declared(*extra):
    """The managed rules of the fixtures, spelled as a user would declare them."""
    rules = [u.make_rule(proto='tcp', port=22, comment=MANAGED),
             u.make_rule(proto='udp', port='5060', src='10.1.2.3/8', comment=MANAGED),
             u.make_rule(proto='udp', port='10000:20000', comment=MANAGED),
             u.make_rule(proto='tcp', port='9100', src='2001:db8:0:0::5/64', comment=MANAGED),
             u.make_rule(proto='tcp', port='22', src='2001:db8::7/128', comment=MANAGED)]
    return rules + [u.make_rule(comment=MANAGED, **e) for e in extra]


ACTIVE = {'active': True, 'logging': 'low', 'defaults': {'incoming': 'deny', 'outgoing': 'allow', 'routed': 'deny'}}
POLICIES = {'incoming': 'deny', 'outgoing': 'allow', 'routed': 'deny'}


def run_plan(desired, status=None, ipv6=(True, True), logging='low', purge=False, release='debian11'):
    current = u.parse_show_added(fixture(release + '-show-added.txt'))
    return u.plan(current, desired, status or ACTIVE, ipv6[0], ipv6[1], POLICIES, logging, MANAGED, purge)


def test_the_same_rule_set_spelled_differently_plans_nothing():
    todo = run_plan(declared())
    assert todo['commands'] == [] and not todo['changed']
    # the six rules without the comment are kept and reported
    assert len(todo['unmanaged']) == 6


def test_a_missing_rule_is_added_and_a_dropped_managed_rule_deleted_as_ufw_spells_it():
    added = u.make_rule(proto='udp', port=5061, src='198.51.100.4', comment=MANAGED)
    desired = [r for r in declared() if r['port'] != '9100'] + [added]
    todo = run_plan(desired)
    assert todo['commands'] == [
        ['allow', 'proto', 'udp', 'from', '198.51.100.4', 'to', 'any', 'port', '5061', 'comment', MANAGED],
        ['delete', 'allow', 'from', '2001:db8::1/64', 'to', 'any', 'port', '9100', 'proto', 'tcp'],
    ]


def test_purge_deletes_unmanaged_rules_too_including_route_and_app_rules():
    todo = run_plan(declared(), purge=True, release='debian12')
    assert todo['unmanaged'] == []
    assert ['route', 'delete', 'allow', 'in', 'on', 'eth0', 'out', 'on', 'eth1', 'to', '10.0.0.0/8', 'port', '53',
            'proto', 'udp'] in todo['commands']
    assert ['delete', 'allow', 'from', '192.0.2.0/24', 'to', 'any', 'app', 'WWW Full'] in todo['commands']
    assert ['delete', 'reject', '111'] in todo['commands']   # its comment is not part of the delete
    assert len(todo['commands']) == 11


def test_a_rule_with_another_comment_is_rewritten_not_duplicated():
    current = u.parse_show_added("ufw allow 22/tcp comment 'by hand'\n")
    todo = u.plan(current, [u.make_rule(proto='tcp', port=22, comment=MANAGED)], ACTIVE, True, True, {}, None,
                  MANAGED, False)
    assert todo['commands'] == [['allow', 'proto', 'tcp', 'from', 'any', 'to', 'any', 'port', '22', 'comment', MANAGED]]
    assert todo['delete'] == [] and todo['unmanaged'] == []


def test_policies_logging_and_enable_come_after_the_rules():
    status = {'active': False, 'logging': 'off', 'defaults': {'incoming': 'allow', 'outgoing': 'allow', 'routed': 'disabled'}}
    todo = run_plan(declared(dict(proto='tcp', port='8089')), status=status)
    assert todo['commands'] == [
        ['allow', 'proto', 'tcp', 'from', 'any', 'to', 'any', 'port', '8089', 'comment', MANAGED],
        ['default', 'deny', 'incoming'],          # routed 'disabled' (no forwarding) is left alone
        ['logging', 'low'],
        ['--force', 'enable'],
    ]


@pytest.mark.parametrize('have, wanted, same', [('low', 'on', True), ('off', 'on', False), ('medium', 'low', False),
                                                ('off', 'off', True), ('low', 'low', True), (None, 'low', False)])
def test_logging_on_accepts_any_level(have, wanted, same):
    assert u.logging_matches(have, wanted) is same


def test_switching_ipv6_on_re_adds_the_any_rules_and_reloads():
    todo = run_plan(declared(), ipv6=(False, True))
    assert [c[-3] for c in todo['commands'][:-1]] == ['22', '10000:20000']
    assert todo['commands'][-1] == ['reload']
    assert todo['changed']


def test_diff_text_lists_rules_and_settings():
    text = u.describe(u.parse_show_added(fixture('sid-show-added.txt')), True, True, POLICIES, 'low')
    assert 'allow proto udp from 10.0.0.0/8 to any port 5060 comment byom-managed' in text
    assert "route allow in on eth0 out on eth1 to 10.0.0.0/8 port 53 proto udp" in text
    assert text.endswith('# default incoming: deny\n# default outgoing: allow\n# default routed: deny\n'
                         '# logging: low\n# status: active\n')


# ufw 0.36.2 (Debian 12) lists a portless-protocol rule in its full form, "to any" left out
# because "from" is there (ufw/parser.py get_command); a keepalived pair's VRRP rule reads back
# as the rule declared, so it is neither re-added nor reported as unmanaged.
VRRP_SHOW_ADDED = """Added user rules (see 'ufw status' for running firewall):
ufw allow 22/tcp comment 'byom-managed'
ufw allow from 172.18.0.3 proto vrrp comment 'byom-managed'
ufw allow from 10.9.0.0/24 to 10.9.0.10 proto esp
"""


def test_portless_protocol_rules_read_back_as_declared():
    current = u.parse_show_added(VRRP_SHOW_ADDED)
    assert [u.rule_key(r) for r in current] == [
        ('allow', 'in', 'tcp', '22', 'any', 'any', 'any'),
        ('allow', 'in', 'vrrp', 'any', '172.18.0.3', 'any', 'any'),
        ('allow', 'in', 'esp', 'any', '10.9.0.0/24', '10.9.0.10', 'any'),
    ]
    desired = [u.make_rule(proto='tcp', port=22, comment=MANAGED),
               u.make_rule(proto='vrrp', src='172.18.0.3/32', comment=MANAGED)]
    todo = u.plan(current, desired, ACTIVE, True, True, POLICIES, 'low', MANAGED, False)
    assert todo['add'] == [] and todo['delete'] == []
    assert [u.rule_key(r) for r in todo['unmanaged']] == [('allow', 'in', 'esp', 'any', '10.9.0.0/24', '10.9.0.10', 'any')]


def test_a_vrrp_rule_is_added_in_the_spelling_ufw_takes_and_a_departed_peer_deleted():
    current = u.parse_show_added(VRRP_SHOW_ADDED)
    desired = [u.make_rule(proto='tcp', port=22, comment=MANAGED),
               u.make_rule(proto='vrrp', src='172.18.0.4', comment=MANAGED)]
    todo = u.plan(current, desired, ACTIVE, True, True, POLICIES, 'low', MANAGED, False)
    assert todo['commands'] == [
        ['allow', 'proto', 'vrrp', 'from', '172.18.0.4', 'to', 'any', 'comment', MANAGED],
        ['delete', 'allow', 'from', '172.18.0.3', 'proto', 'vrrp'],
    ]
    assert u.family(desired[1]) == 'v4' and u.family(u.make_rule(proto='igmp')) == 'v4'
