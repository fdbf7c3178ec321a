# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""config_files (module side) on a real temporary directory: what it writes, what it leaves
alone, what it reports in check and diff mode, and which handlers it names."""
from __future__ import absolute_import, division, print_function

import base64
import grp
import os
import pwd
import stat

import pytest

from ansible_collections.byom.telephony.plugins.modules import config_files

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def run(module_main):
    def call(files, check=False, diff=False, probe=()):
        return module_main(config_files.main, dict(files=files, stat=list(probe)), check=check, diff=diff)
    return call


def entries(base):
    return [
        {'path': str(base / 'conf.d'), 'state': 'directory', 'owner': ME, 'group': MY_GROUP, 'mode': '0750'},
        {'path': str(base / 'conf.d' / 'a.conf'), 'content': 'a = 1\n', 'owner': ME, 'group': MY_GROUP, 'mode': '0640',
         'notify': ['Reload a']},
        {'path': str(base / 'conf.d' / 'b.conf'), 'content': 'b = 1\n', 'owner': ME, 'group': MY_GROUP, 'mode': 0o600,
         'notify': ['Restart', 'Reload b']},
        {'path': str(base / 'log'), 'owner': ME, 'group': MY_GROUP, 'mode': '0640'},
    ]


def mode(path):
    return stat.S_IMODE(os.stat(str(path)).st_mode)


def test_fresh_host_gets_every_file_then_nothing_changes(run, tmp_path):
    first = run(entries(tmp_path))
    assert first['changed'] and len(first['changed_files']) == 4
    assert first['notify'] == ['Reload a', 'Restart', 'Reload b']
    assert (tmp_path / 'conf.d' / 'a.conf').read_text() == 'a = 1\n'
    assert mode(tmp_path / 'conf.d') == 0o750 and mode(tmp_path / 'conf.d' / 'b.conf') == 0o600
    assert (tmp_path / 'log').read_text() == ''
    again = run(entries(tmp_path))
    assert not again['changed'] and again['notify'] == [] and again['changed_files'] == []


def test_drift_in_one_file_rewrites_it_and_names_only_its_handler(run, tmp_path):
    run(entries(tmp_path))
    (tmp_path / 'conf.d' / 'a.conf').write_text(u'a = 2  # by hand\n')
    (tmp_path / 'log').write_text(u'a log line Asterisk wrote\n')
    result = run(entries(tmp_path), diff=True)
    assert result['changed_files'] == [str(tmp_path / 'conf.d' / 'a.conf')]
    assert result['notify'] == ['Reload a']
    assert base64.b64decode(result['files'][1]['before_b64']) == b'a = 2  # by hand\n'
    assert (tmp_path / 'conf.d' / 'a.conf').read_text() == 'a = 1\n'
    assert (tmp_path / 'log').read_text() == 'a log line Asterisk wrote\n'   # content never managed


def test_a_mode_change_alone_is_repaired_without_rewriting(run, tmp_path):
    run(entries(tmp_path))
    target = tmp_path / 'conf.d' / 'b.conf'
    inode = os.stat(str(target)).st_ino
    os.chmod(str(target), 0o644)
    result = run(entries(tmp_path))
    report = result['files'][2]
    assert report['attributes_changed'] and not report['content_changed']
    assert report['before_attributes'].endswith(' 0644') and report['after_attributes'].endswith(' 0600')
    assert mode(target) == 0o600 and os.stat(str(target)).st_ino == inode


def test_check_mode_reports_and_writes_nothing_even_for_unknown_owners(run, tmp_path):
    files = entries(tmp_path)
    files[1]['owner'] = 'byom-no-such-user'
    result = run(files, check=True)
    assert result['changed'] and len(result['changed_files']) == 4
    assert list(tmp_path.iterdir()) == []
    failed = run(files)
    assert failed['failed'] and 'files[1]' in failed['msg'] and 'byom-no-such-user' in failed['msg']


@pytest.mark.parametrize('bad, message', [
    ({'path': 'relative/path', 'content': 'x'}, 'files[0].path'),
    ({'path': '/tmp/x', 'mode': 'rw-r--r--'}, 'files[0].mode'),
    ({'path': '/tmp/x', 'src': 'x.j2'}, 'action plugin'),
    ({'path': '/tmp/x', 'state': 'directory', 'content': 'x'}, 'no content'),
])
def test_bad_entries_fail_before_anything_is_written(run, bad, message):
    result = run([bad])
    assert result['failed'] and message in result['msg']


def test_a_directory_where_a_file_belongs_is_an_error_not_a_rewrite(run, tmp_path):
    (tmp_path / 'a.conf').mkdir()
    result = run([{'path': str(tmp_path / 'a.conf'), 'content': 'x\n', 'owner': ME, 'group': MY_GROUP}])
    assert result['failed'] and 'not a regular file' in result['msg']


def test_stat_reports_existence_and_size_in_the_same_call(run, tmp_path):
    (tmp_path / 'messages').write_text(u'12345')
    result = run([], probe=[str(tmp_path / 'messages'), str(tmp_path / 'stamp')])
    assert result['stat'] == {str(tmp_path / 'messages'): {'exists': True, 'size': 5},
                              str(tmp_path / 'stamp'): {'exists': False, 'size': 0}}


def test_create_only_creates_with_a_fallback_owner_and_then_never_touches(run, tmp_path):
    log = tmp_path / 'security'
    entry = {'path': str(log), 'owner': 'byom-no-such-user', 'group': 'byom-no-such-group', 'mode': '0640',
             'create_only': True}
    first = run([entry])
    assert first['changed'] and log.exists() and os.stat(str(log)).st_uid == 0 and mode(log) == 0o640
    os.chmod(str(log), 0o600)
    log.write_text(u'written by its program\n')
    again = run([entry])
    assert not again['changed']
    assert mode(log) == 0o600 and log.read_text() == 'written by its program\n'


FAKE_SYSTEMCTL = """#!/bin/sh
# Answers like systemctl for the units named in $BYOM_FAKE_UNITS ("name:active:enabled ..."); anything
# else is an unknown unit (systemctl prints the answer on stdout and exits non-zero).
question=$1; unit=$3
for spec in $BYOM_FAKE_UNITS; do
  name=${spec%%:*}; rest=${spec#*:}
  if [ "$name" = "$unit" ]; then
    case $question in is-active) echo "${rest%%:*}" ;; is-enabled) echo "${rest#*:}" ;; esac
    exit 0
  fi
done
case $question in is-active) echo inactive; exit 3 ;; *) echo "Failed to get unit file state for $unit.service" >&2; exit 1 ;; esac
"""


@pytest.fixture
def fake_systemctl(tmp_path, monkeypatch):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    script = bindir / 'systemctl'
    script.write_text(FAKE_SYSTEMCTL)
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bindir, os.environ.get('PATH', '')))
    return lambda units: monkeypatch.setenv('BYOM_FAKE_UNITS', ' '.join(units))


@pytest.mark.parametrize('active, enabled, skip', [
    ('active', 'enabled', True),
    ('inactive', 'enabled', False),
    ('activating', 'enabled', False),
    ('active', 'disabled', False),
    # systemd_service treats these as "not enabled" and enables the unit: never skipped.
    ('active', 'enabled-runtime', False),
    ('active', 'indirect', False),
    # systemd_service accepts static or generated as enabled; reporting them as not started_and_enabled
    # only costs the module call, it never skips one that has work.
    ('active', 'static', False),
])
def test_services_are_reported_in_the_same_call(run_services, active, enabled, skip):
    state = run_services(['fail2ban:%s:%s' % (active, enabled)], ['fail2ban'])['fail2ban']
    assert state == {'active': active, 'enabled': enabled, 'started_and_enabled': skip}


def test_an_unknown_unit_or_no_systemd_is_never_started_and_enabled(run_services):
    state = run_services([], ['asterisk'])['asterisk']
    assert state == {'active': 'inactive', 'enabled': 'unknown', 'started_and_enabled': False}


@pytest.fixture
def run_services(module_main, fake_systemctl, tmp_path):
    def call(units, names, check=False):
        fake_systemctl(units)
        result = module_main(config_files.main, dict(files=[], stat=[], services=names), check=check)
        assert not result.get('failed') and not result['changed'], result
        return result['services']
    return call


def test_services_are_read_in_check_mode_too_and_never_changed(run_services):
    assert run_services(['asterisk:active:enabled'], ['asterisk'], check=True)['asterisk']['started_and_enabled']


def test_a_directory_is_created_with_its_missing_parents(run, tmp_path):
    state = tmp_path / 'var' / 'lib' / 'byom'
    entry = [{'path': str(state), 'state': 'directory', 'owner': ME, 'group': MY_GROUP, 'mode': '0750'},
             {'path': str(state / 'vapi.json'), 'content': '{}\n', 'owner': ME, 'group': MY_GROUP, 'mode': '0640'}]
    assert run(entry, check=True)['changed'] and not (tmp_path / 'var').exists()
    assert run(entry)['changed'] and mode(state) == 0o750 and mode(state / 'vapi.json') == 0o640
    assert not run(entry)['changed']


def test_read_returns_content_and_attributes_in_the_same_call_in_check_mode_too(module_main, tmp_path):
    state = tmp_path / 'vapi.json'
    state.write_bytes(b'{"credential_id": "x"}\n')
    os.chmod(str(state), 0o640)
    (tmp_path / 'a-dir').mkdir()
    for check in (True, False):
        result = module_main(config_files.main, dict(
            files=[{'path': str(tmp_path / 'new-dir'), 'state': 'directory', 'owner': ME, 'group': MY_GROUP, 'mode': '0750'}],
            read=[str(state), str(tmp_path / 'missing.json'), str(tmp_path / 'a-dir')]), check=check)
        assert result['changed'] and (tmp_path / 'new-dir').exists() is not check
        assert result['read'] == {
            str(state): {'exists': True, 'content_b64': base64.b64encode(b'{"credential_id": "x"}\n').decode(),
                         'owner': ME, 'group': MY_GROUP, 'mode': '0640'},
            str(tmp_path / 'missing.json'): {'exists': False},
            str(tmp_path / 'a-dir'): {'exists': False},
        }
    assert state.read_bytes() == b'{"credential_id": "x"}\n' and mode(state) == 0o640
