# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ufw_ruleset end to end in-process: ufw's answers are the captured real outputs; every ufw
call is recorded, so a test sees exactly what would have been written."""
from __future__ import absolute_import, division, print_function

import os
import shutil

import pytest

from ansible.module_utils import basic

from ansible_collections.byom.telephony.plugins.modules import ufw_ruleset

FIXTURES = os.path.join(os.path.dirname(__file__), '..', 'module_utils', 'fixtures', 'ufw')
READS = (['status', 'verbose'], ['show', 'added'])


def fixture(name):
    with open(os.path.join(FIXTURES, name)) as handle:
        return handle.read()


@pytest.fixture
def box(monkeypatch, tmp_path):
    """A host whose ufw answers with a fixture; .calls records every ufw invocation."""
    class Box(object):
        calls = []
        installed = True
        show_added = fixture('debian11-show-added.txt')
        status = fixture('debian11-status-active.txt')

    default = tmp_path / 'default-ufw'
    shutil.copy(os.path.join(FIXTURES, 'debian12-default-ufw'), str(default))
    (tmp_path / 'ufw.conf').write_text(u'ENABLED=yes\nLOGLEVEL=medium\n')
    monkeypatch.setattr(ufw_ruleset, 'DEFAULT_FILE', str(default))
    monkeypatch.setattr(ufw_ruleset, 'CONF_FILE', str(tmp_path / 'ufw.conf'))
    Box.default = default

    def run_command(self, args, **kwargs):
        Box.calls.append(args[1:])
        if args[1:] == ['status', 'verbose']:
            return 0, Box.status, ''
        if args[1:] == ['show', 'added']:
            return 0, Box.show_added, ''
        return 0, 'Rule added\n', ''

    monkeypatch.setattr(basic.AnsibleModule, 'run_command', run_command)
    monkeypatch.setattr(basic.AnsibleModule, 'get_bin_path',
                        lambda self, name, *a, **k: '/usr/sbin/ufw' if Box.installed else None)
    return Box


@pytest.fixture
def run(module_main):
    def call(args, check=False, diff=False):
        return module_main(ufw_ruleset.main, args, check=check, diff=diff)
    return call


# The fixtures' managed rules, as the hardening role declares them.
RULES = [{'proto': 'tcp', 'port': '22'},
         {'proto': 'udp', 'port': '5060', 'from': '10.0.0.0/8'},
         {'proto': 'udp', 'port': '10000:20000'},
         {'proto': 'tcp', 'port': '9100', 'from': '2001:db8::1/64'},
         {'proto': 'tcp', 'port': '22', 'from': '2001:db8::7'}]
SETTINGS = dict(default_incoming='deny', default_outgoing='reject', default_routed='deny', logging='medium', ipv6=True)


def test_nothing_differs_so_only_reads_run(run, box):
    result = run(dict(SETTINGS, rules=RULES), diff=True)
    assert result['changed'] is False and result['commands'] == []
    assert box.calls == list(READS)
    assert result['diff']['before'] == result['diff']['after']
    assert len(result['unmanaged']) == 6


@pytest.mark.parametrize('check', [False, True])
def test_a_rule_deleted_by_hand_is_put_back_and_check_mode_writes_nothing(run, box, check):
    box.show_added = box.show_added.replace("ufw allow from 10.0.0.0/8 to any port 5060 proto udp comment 'byom-managed'\n", '')
    result = run(dict(SETTINGS, rules=RULES), check=check, diff=True)
    add = ['allow', 'proto', 'udp', 'from', '10.0.0.0/8', 'to', 'any', 'port', '5060', 'comment', 'byom-managed']
    assert result['changed'] is True
    assert result['commands'] == ['ufw ' + ' '.join(add)]
    assert box.calls == list(READS) + ([] if check else [add])
    assert '+ufw allow proto udp from 10.0.0.0/8' not in result['diff']['before']
    assert ' '.join(add) in result['diff']['after'] and ' '.join(add) not in result['diff']['before']


def test_settings_differ_on_an_inactive_firewall_read_from_its_configuration(run, box):
    box.status = fixture('status-inactive.txt')
    result = run(dict(SETTINGS, rules=RULES, default_outgoing='allow', logging='low'))
    # defaults from /etc/default/ufw (outgoing REJECT), logging from ufw.conf (medium)
    assert box.calls[2:] == [['default', 'allow', 'outgoing'], ['logging', 'low'], ['--force', 'enable']]
    assert result['changed'] is True


def test_ipv6_switched_off_rewrites_only_that_line(run, box):
    before = box.default.read_text()
    result = run(dict(SETTINGS, rules=RULES, ipv6=False))
    assert result['changed'] is True
    assert box.default.read_text() == before.replace('IPV6=yes', 'IPV6=no')
    assert box.calls[2:] == [['reload']]


def test_bad_rule_fails_before_anything_is_read(run, box):
    result = run(dict(SETTINGS, rules=RULES + [{'proto': 'udp', 'port': '99999'}]))
    assert result['failed'] and 'rules[5].port' in result['msg']
    assert box.calls == []


def test_check_mode_without_ufw_reports_the_whole_set(run, box):
    box.installed = False
    result = run(dict(SETTINGS, rules=RULES), check=True)
    assert result['changed'] is True and box.calls == []
    assert len(result['added']) == 5 and result['commands'][-1] == 'ufw --force enable'
    box_result = run(dict(SETTINGS, rules=RULES))
    assert box_result['failed'] and 'ufw is not installed' in box_result['msg']


def test_vrrp_from_the_pair_peers_is_added_once_then_read_back_unchanged(run, box):
    vrrp = [{'proto': 'vrrp', 'from': ['172.18.0.3', '172.18.0.4/32']}]
    first = run(dict(SETTINGS, rules=RULES + vrrp))
    assert first['changed'] is True
    assert box.calls[2:] == [['allow', 'proto', 'vrrp', 'from', ip, 'to', 'any', 'comment', 'byom-managed']
                             for ip in ('172.18.0.3', '172.18.0.4')]
    # What ufw 0.36.2 lists for them (parser.get_command): the second run writes nothing.
    box.show_added += ''.join("ufw allow from %s proto vrrp comment 'byom-managed'\n" % ip for ip in ('172.18.0.3', '172.18.0.4'))
    del box.calls[:]
    again = run(dict(SETTINGS, rules=RULES + vrrp))
    assert again['changed'] is False and box.calls == list(READS)


def test_a_port_on_vrrp_fails_before_anything_is_read(run, box):
    result = run(dict(SETTINGS, rules=RULES + [{'proto': 'vrrp', 'port': '112'}]))
    assert result['failed'] and 'rules[5]: proto vrrp has no ports' in result['msg']
    assert box.calls == []
