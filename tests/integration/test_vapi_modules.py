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

import json
import os
import subprocess
import sys
import time

import pytest
import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PLAYBOOK = os.path.join(ROOT, 'tests', 'integration', 'vapi_modules', 'deploy.yml')
KEY = 'it-emulator-key'
SECRETS = ('it-trunk-password-0001', 'it-hook-secret-0002', KEY)
OUTPUTS = []


@pytest.fixture(scope='module')
def emulator():
    proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'tests', 'vapi_emulator', 'server.py'),
                             '--host', '127.0.0.1', '--port', '0', '--api-key', KEY],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    line = proc.stdout.readline()
    if 'listening on' not in line:
        proc.kill()
        pytest.fail('the emulator did not start: %r' % line)
    url = line.strip().rsplit(' ', 1)[-1]
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def admin(url, method, path, body=None):
    resp = requests.request(method, url + '/_emulator/' + path, json=body, timeout=10)
    resp.raise_for_status()
    return resp.json()


def api_log(url):
    return [(r['method'], r['path'], r['status']) for r in admin(url, 'GET', 'requests')]


def playbook(url, *args, **extra_vars):
    expect_rc = extra_vars.pop('expect_rc', 0)
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_NOCOLOR='1')
    env.pop('VAPI_API_KEY', None)
    env.pop('VAPI_API_URL', None)
    variables = dict(it_api_url=url, it_api_key=KEY, **extra_vars)
    cmd = [os.path.join(os.path.dirname(sys.executable), 'ansible-playbook'), '-i', 'localhost,', PLAYBOOK,
           '-e', json.dumps(variables)] + list(args)
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600, check=False)
    OUTPUTS.append(proc.stdout + proc.stderr)
    assert proc.returncode == expect_rc, (proc.stdout[-5000:], proc.stderr[-3000:])
    report = json.loads(proc.stdout)
    stats = report['stats']['localhost']
    tasks = {}
    for play in report['plays']:
        for task in play['tasks']:
            tasks[task['task']['name']] = task['hosts']['localhost']
    print('%s: changed=%d in %.1fs' % (' '.join(args) or 'run', stats['changed'], time.time() - started))
    return stats, tasks


def changed_tasks(tasks):
    return sorted(name for name, result in tasks.items() if result.get('changed'))


def test_first_run_creates(emulator):
    admin(emulator, 'POST', 'reset')
    stats, tasks = playbook(emulator)
    assert changed_tasks(tasks) == ['Ensure the assistant', 'Ensure the phone number', 'Ensure the trunk']
    assert stats['changed'] == 3
    posts = [entry for entry in api_log(emulator) if entry[0] != 'GET']
    assert posts == [('POST', '/credential', 201), ('POST', '/assistant', 201), ('POST', '/phone-number', 201)]
    state = admin(emulator, 'GET', 'state')
    assert len(state['credential']) == 1 and len(state['assistant']) == 1 and len(state['phone-number']) == 1
    trunk = list(state['credential'].values())[0]
    assert trunk['outboundAuthenticationPlan']['authPassword'] == 'it-trunk-password-0001'
    assert tasks['Ensure the trunk']['id'] == trunk['id']


def test_second_run_changes_nothing_and_only_reads(emulator):
    admin(emulator, 'DELETE', 'requests')
    stats, _tasks = playbook(emulator)
    assert stats['changed'] == 0
    log = api_log(emulator)
    assert log and {entry[0] for entry in log} == {'GET'}, log
    assert all(entry[1] in ('/credential', '/assistant', '/phone-number') for entry in log)


def test_check_mode_predicts_a_change_and_sends_nothing(emulator):
    admin(emulator, 'DELETE', 'requests')
    stats, tasks = playbook(emulator, '--check', '--diff', it_first_message='Changed in check mode')
    assert changed_tasks(tasks) == ['Ensure the assistant']
    diff = tasks['Ensure the assistant']['diff']
    diff = diff[0] if isinstance(diff, list) else diff
    assert diff['after']['firstMessage'] == 'Changed in check mode'
    assert diff['before']['firstMessage'] == 'Hello, you reached the integration test.'
    assert {entry[0] for entry in api_log(emulator)} == {'GET'}
    assert stats['changed'] == 1


def test_a_change_is_one_patch(emulator):
    admin(emulator, 'DELETE', 'requests')
    stats, tasks = playbook(emulator, it_first_message='Good afternoon')
    assert changed_tasks(tasks) == ['Ensure the assistant'] and stats['changed'] == 1
    writes = [entry for entry in api_log(emulator) if entry[0] != 'GET']
    assistant_id = tasks['Ensure the assistant']['id']
    assert writes == [('PATCH', '/assistant/' + assistant_id, 200)]
    assistant = list(admin(emulator, 'GET', 'state')['assistant'].values())[0]
    assert assistant['firstMessage'] == 'Good afternoon'


def test_rate_limit_with_retry_after_is_survived(emulator):
    admin(emulator, 'DELETE', 'requests')
    admin(emulator, 'POST', 'faults', [{'method': 'GET', 'path_regex': '^/credential$', 'status': 429,
                                        'retry_after': 1, 'times': 2}])
    stats, _tasks = playbook(emulator, it_first_message='Good afternoon')
    assert stats['changed'] == 0
    log = api_log(emulator)
    assert log[:3] == [('GET', '/credential', 429), ('GET', '/credential', 429), ('GET', '/credential', 200)], log


def test_server_errors_are_retried(emulator):
    admin(emulator, 'DELETE', 'requests')
    admin(emulator, 'POST', 'faults', [{'method': 'GET', 'path_regex': '^/assistant$', 'status': 503, 'times': 1}])
    stats, _tasks = playbook(emulator, it_first_message='Good afternoon')
    assert stats['changed'] == 0
    assert ('GET', '/assistant', 503) in api_log(emulator)


def test_absent_deletes_everything(emulator):
    admin(emulator, 'DELETE', 'requests')
    stats, tasks = playbook(emulator, it_state='absent')
    assert changed_tasks(tasks) == ['Ensure the phone number', 'Remove the assistant', 'Remove the trunk']
    deletes = [entry[1].split('/')[1] for entry in api_log(emulator) if entry[0] == 'DELETE']
    assert deletes == ['phone-number', 'assistant', 'credential']
    state = admin(emulator, 'GET', 'state')
    assert state == {'credential': {}, 'assistant': {}, 'phone-number': {}}
    stats, _tasks = playbook(emulator, it_state='absent')
    assert stats['changed'] == 0


def test_ambiguous_create_is_adopted_not_duplicated(emulator):
    admin(emulator, 'POST', 'reset')
    # The create happens, the answer is lost: what a proxy timeout or a dropped connection does.
    admin(emulator, 'POST', 'faults', [{'method': 'POST', 'path_regex': '^/credential$', 'status': 502, 'commit': True}])
    stats, tasks = playbook(emulator)
    assert stats['changed'] == 3
    state = admin(emulator, 'GET', 'state')
    assert len(state['credential']) == 1, 'no duplicate trunk'
    assert [e for e in api_log(emulator) if e[1] == '/credential' and e[0] == 'POST'] == [('POST', '/credential', 502)]
    assert any('adopted id' in w for w in tasks['Ensure the trunk'].get('warnings', []))


def test_slow_create_is_not_sent_twice(emulator):
    admin(emulator, 'POST', 'reset')
    # The create reaches the API but is answered only after the client's 1 s timeout: the module
    # lists again with backoff (1, 2, 4, 8 s) and adopts it once it lands, without a second POST.
    admin(emulator, 'POST', 'faults', [{'method': 'POST', 'path_regex': '^/credential$', 'delay_s': 3}])
    _stats, tasks = playbook(emulator, it_timeout=1)
    assert tasks['Ensure the trunk']['changed']
    assert any('adopted id' in w for w in tasks['Ensure the trunk'].get('warnings', [])), tasks['Ensure the trunk']
    # Logged when answered: the one slow POST, and no second one.
    assert [e for e in api_log(emulator) if e[0] == 'POST' and e[1] == '/credential'] == [('POST', '/credential', 201)]
    stats, tasks = playbook(emulator)
    assert not tasks['Ensure the trunk']['changed'], 'the late create is found, not made again'
    assert len(admin(emulator, 'GET', 'state')['credential']) == 1
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
