# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Vapi modules run for real (ansible-playbook) against the local Vapi emulator.

One emulator process on a free loopback port for the module; the tests run in file order:
create, idempotent re-run (GET only), one change -> one PATCH, check mode changes nothing,
429 with Retry-After survived, an ambiguous create adopted instead of duplicated, absent
deletes, and no secret in any output.
"""
from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

import pytest

from byom_testlib import ROOT
from byom_testlib.emulator import Emulator
from byom_testlib.playbooks import playbook as run_playbook

PLAYBOOK = os.path.join(ROOT, 'tests', 'integration', 'vapi_modules', 'deploy.yml')
KEY = 'it-emulator-key'
SECRETS = ('it-trunk-password-0001', 'it-hook-secret-0002', KEY)
OUTPUTS = []


@pytest.fixture(scope='module')
def emulator():
    with Emulator(KEY) as emu:
        yield emu


def playbook(emu, *args, expect_rc=0, **extra_vars):
    run = run_playbook(PLAYBOOK, dict(it_api_url=emu.url, it_api_key=KEY, **extra_vars), args)
    OUTPUTS.append(run.output)
    assert run.rc == expect_rc, (run.stdout[-5000:], run.stderr[-3000:])
    stats = run.report['stats']['localhost']
    tasks = {name: result for name, _host, result in run.results()}
    print('%s: changed=%d in %.1fs' % (' '.join(args) or 'run', stats['changed'], run.elapsed))
    return stats, tasks


def changed_tasks(tasks):
    return sorted(name for name, result in tasks.items() if result.get('changed'))


def test_first_run_creates(emulator):
    emulator.admin('POST', 'reset')
    stats, tasks = playbook(emulator)
    assert changed_tasks(tasks) == ['Ensure the assistant', 'Ensure the phone number', 'Ensure the trunk']
    assert stats['changed'] == 3
    posts = [entry for entry in emulator.log() if entry[0] != 'GET']
    assert posts == [('POST', '/credential', 201), ('POST', '/assistant', 201), ('POST', '/phone-number', 201)]
    state = emulator.admin('GET', 'state')
    assert len(state['credential']) == 1 and len(state['assistant']) == 1 and len(state['phone-number']) == 1
    trunk = list(state['credential'].values())[0]
    assert trunk['outboundAuthenticationPlan']['authPassword'] == 'it-trunk-password-0001'
    assert tasks['Ensure the trunk']['id'] == trunk['id']


def test_second_run_changes_nothing_and_only_reads(emulator):
    emulator.admin('DELETE', 'requests')
    stats, _tasks = playbook(emulator)
    assert stats['changed'] == 0
    log = emulator.log()
    assert log and {entry[0] for entry in log} == {'GET'}, log
    assert all(entry[1] in ('/credential', '/assistant', '/phone-number') for entry in log)


def test_check_mode_predicts_a_change_and_sends_nothing(emulator):
    emulator.admin('DELETE', 'requests')
    stats, tasks = playbook(emulator, '--check', '--diff', it_first_message='Changed in check mode')
    assert changed_tasks(tasks) == ['Ensure the assistant']
    diff = tasks['Ensure the assistant']['diff']
    diff = diff[0] if isinstance(diff, list) else diff
    assert diff['after']['firstMessage'] == 'Changed in check mode'
    assert diff['before']['firstMessage'] == 'Hello, you reached the integration test.'
    assert {entry[0] for entry in emulator.log()} == {'GET'}
    assert stats['changed'] == 1


def test_a_change_is_one_patch(emulator):
    emulator.admin('DELETE', 'requests')
    stats, tasks = playbook(emulator, it_first_message='Good afternoon')
    assert changed_tasks(tasks) == ['Ensure the assistant'] and stats['changed'] == 1
    writes = [entry for entry in emulator.log() if entry[0] != 'GET']
    assistant_id = tasks['Ensure the assistant']['id']
    assert writes == [('PATCH', '/assistant/' + assistant_id, 200)]
    assistant = list(emulator.admin('GET', 'state')['assistant'].values())[0]
    assert assistant['firstMessage'] == 'Good afternoon'


def test_rate_limit_with_retry_after_is_survived(emulator):
    emulator.admin('DELETE', 'requests')
    emulator.admin('POST', 'faults', [{'method': 'GET', 'path_regex': '^/credential$', 'status': 429,
                                      'retry_after': 1, 'times': 2}])
    stats, _tasks = playbook(emulator, it_first_message='Good afternoon')
    assert stats['changed'] == 0
    log = emulator.log()
    assert log[:3] == [('GET', '/credential', 429), ('GET', '/credential', 429), ('GET', '/credential', 200)], log


def test_server_errors_are_retried(emulator):
    emulator.admin('DELETE', 'requests')
    emulator.admin('POST', 'faults', [{'method': 'GET', 'path_regex': '^/assistant$', 'status': 503, 'times': 1}])
    stats, _tasks = playbook(emulator, it_first_message='Good afternoon')
    assert stats['changed'] == 0
    assert ('GET', '/assistant', 503) in emulator.log()


def test_absent_deletes_everything(emulator):
    emulator.admin('DELETE', 'requests')
    stats, tasks = playbook(emulator, it_state='absent')
    assert changed_tasks(tasks) == ['Ensure the phone number', 'Remove the assistant', 'Remove the trunk']
    deletes = [entry[1].split('/')[1] for entry in emulator.log() if entry[0] == 'DELETE']
    assert deletes == ['phone-number', 'assistant', 'credential']
    state = emulator.admin('GET', 'state')
    assert state == {'credential': {}, 'assistant': {}, 'phone-number': {}}
    stats, _tasks = playbook(emulator, it_state='absent')
    assert stats['changed'] == 0


def test_ambiguous_create_is_adopted_not_duplicated(emulator):
    emulator.admin('POST', 'reset')
    # The create happens, the answer is lost: what a proxy timeout or a dropped connection does.
    emulator.admin('POST', 'faults', [{'method': 'POST', 'path_regex': '^/credential$', 'status': 502, 'commit': True}])
    stats, tasks = playbook(emulator)
    assert stats['changed'] == 3
    state = emulator.admin('GET', 'state')
    assert len(state['credential']) == 1, 'no duplicate trunk'
    assert [e for e in emulator.log() if e[1] == '/credential' and e[0] == 'POST'] == [('POST', '/credential', 502)]
    assert any('adopted id' in w for w in tasks['Ensure the trunk'].get('warnings', []))


def test_slow_create_is_not_sent_twice(emulator):
    emulator.admin('POST', 'reset')
    # The create reaches the API but is answered only after the client's 1 s timeout: the module
    # lists again with backoff (1, 2, 4, 8 s) and adopts it once it lands, without a second POST.
    emulator.admin('POST', 'faults', [{'method': 'POST', 'path_regex': '^/credential$', 'delay_s': 3}])
    _stats, tasks = playbook(emulator, it_timeout=1)
    assert tasks['Ensure the trunk']['changed']
    assert any('adopted id' in w for w in tasks['Ensure the trunk'].get('warnings', [])), tasks['Ensure the trunk']
    # Logged when answered: the one slow POST, and no second one.
    assert [e for e in emulator.log() if e[0] == 'POST' and e[1] == '/credential'] == [('POST', '/credential', 201)]
    stats, tasks = playbook(emulator)
    assert not tasks['Ensure the trunk']['changed'], 'the late create is found, not made again'
    assert len(emulator.admin('GET', 'state')['credential']) == 1
    assert stats['changed'] == 0


def test_no_secret_in_any_output():
    assert OUTPUTS
    for output in OUTPUTS:
        for secret in SECRETS:
            assert secret not in output


@pytest.mark.parametrize('module', ['vapi_sip_trunk', 'vapi_assistant', 'vapi_phone_number', 'vapi_info'])
def test_ansible_doc(module):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'))
    proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'ansible-doc'), 'byom.telephony.' + module],
                          cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert 'byom.telephony.' + module in proc.stdout and 'EXAMPLES' in proc.stdout
