# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""API faults and interrupted runs: the real Vapi modules (ansible-playbook) against the emulator.

Faults come from the emulator's fault injection (POST /_emulator/faults); what the modules did is
read from its request log and its stored state. Retries are kept small (2) so a failing case
ends in seconds; the module's backoff is the production one.
"""
from __future__ import absolute_import, division, print_function

import os
import signal
import time

import pytest

from byom_testlib import seclib

KEY = 'sec-fault-key-3b8e'
EDGE = os.path.join(seclib.PLAYBOOKS, 'vapi_edge.yml')
ROLE = os.path.join(seclib.PLAYBOOKS, 'vapi_role.yml')
SECTION = 'API faults'


@pytest.fixture(scope='module')
def emu():
    emulator = seclib.Emulator(KEY)
    yield emulator
    emulator.stop()


@pytest.fixture
def fresh(emu):
    emu.reset()
    return emu


def run_edge(emu, steps=('trunk', 'assistant', 'phone_number'), key=KEY, **extra):
    variables = dict(sec_api_url=emu.url, sec_api_key=key, sec_steps=list(steps))
    variables.update(extra)
    return seclib.playbook(EDGE, variables)


def count(log, method, path, status=None):
    return len([e for e in log if e[0] == method and e[1] == path and (status is None or e[2] == status)])


def test_429_with_retry_after_is_retried_then_succeeds(fresh):
    fresh.faults([{'method': 'GET', 'path_regex': '^/credential$', 'status': 429, 'retry_after': 1, 'times': 2},
                  {'method': 'POST', 'path_regex': '^/credential$', 'status': 429, 'retry_after': 1, 'times': 1}])
    run = run_edge(fresh, steps=['trunk'])
    log = fresh.log()
    throttled = count(log, 'GET', '/credential', 429) + count(log, 'POST', '/credential', 429)
    seclib.record(SECTION, '429 + Retry-After', 'rc %d, %d x 429 then 201, %.1fs' % (run.rc, throttled, run.elapsed),
                  run.rc == 0)
    assert run.rc == 0, run.failure_text()
    assert log[:3] == [('GET', '/credential', 429), ('GET', '/credential', 429), ('GET', '/credential', 200)], log
    assert count(log, 'POST', '/credential', 429) == 1 and count(log, 'POST', '/credential', 201) == 1, log
    assert fresh.counts()['credential'] == 1
    # Three Retry-After: 1 waits were honoured (a lower bound, never flaky).
    assert run.elapsed >= 3


@pytest.mark.parametrize('status', [500, 502, 503])
def test_5xx_is_retried_then_fails_clearly(fresh, status):
    fresh.faults([{'method': 'GET', 'path_regex': '^/credential$', 'status': status, 'times': 0}])
    run = run_edge(fresh, steps=['trunk'])
    log = fresh.log()
    text = run.failure_text()
    ok = (run.rc != 0 and 'HTTP %d' % status in text and 'gave up after 2 retries' in text
          and count(log, 'GET', '/credential') == 3 and not fresh.writes())
    seclib.record(SECTION, '%d persistent' % status, '%d attempts, then: %s' % (count(log, 'GET', '/credential'),
                                                                                text.strip().splitlines()[0][:70]), ok)
    assert run.rc != 0
    assert 'HTTP %d' % status in text and 'gave up after 2 retries' in text, text
    assert count(log, 'GET', '/credential') == 3, log
    assert fresh.writes() == []


@pytest.mark.parametrize('status', [500, 502, 503])
def test_transient_5xx_on_create_converges_without_duplicate(fresh, status):
    # The create fails once before anything is stored: the module lists, finds nothing, POSTs again.
    fresh.faults([{'method': 'POST', 'path_regex': '^/credential$', 'status': status, 'times': 1}])
    run = run_edge(fresh, steps=['trunk'])
    counts = fresh.counts()
    seclib.record(SECTION, '%d once on create' % status, 'rc %d, trunks %d' % (run.rc, counts['credential']),
                  run.rc == 0 and counts['credential'] == 1)
    assert run.rc == 0, run.failure_text()
    assert counts['credential'] == 1


def test_5xx_after_the_create_happened_is_adopted(fresh):
    fresh.faults([{'method': 'POST', 'path_regex': '^/assistant$', 'status': 502, 'commit': True}])
    run = run_edge(fresh, steps=['assistant'])
    counts = fresh.counts()
    seclib.record(SECTION, '502 after commit', 'rc %d, assistants %d' % (run.rc, counts['assistant']),
                  run.rc == 0 and counts['assistant'] == 1)
    assert run.rc == 0, run.failure_text()
    assert counts['assistant'] == 1


def test_create_landing_seconds_after_a_502_is_adopted_not_duplicated(fresh):
    """The proxy answers 502 at once; the backend stores the assistant 2.5 s later."""
    fresh.faults([{'method': 'POST', 'path_regex': '^/assistant$', 'status': 502, 'commit_after_s': 2.5}])
    run = run_edge(fresh, steps=['assistant'])
    counts = fresh.counts()
    posts = count(fresh.log(), 'POST', '/assistant')
    seclib.record(SECTION, '502, create lands 2.5 s later', 'rc %d, assistants %d, POSTs %d, %.1fs'
                  % (run.rc, counts['assistant'], posts, run.elapsed), run.rc == 0 and counts['assistant'] == 1 and posts == 1)
    assert run.rc == 0, run.failure_text()
    assert counts['assistant'] == 1 and posts == 1, fresh.log()


def test_read_timeout_is_retried_then_succeeds(fresh):
    fresh.faults([{'method': 'GET', 'path_regex': '^/credential$', 'delay_s': 3, 'times': 1}])
    run = run_edge(fresh, steps=['trunk'], sec_timeout=1)
    counts = fresh.counts()
    seclib.record(SECTION, 'timeout once', 'rc %d, trunks %d' % (run.rc, counts['credential']), run.rc == 0)
    assert run.rc == 0, run.failure_text()
    assert counts['credential'] == 1


def test_persistent_timeout_fails_clearly(fresh):
    fresh.faults([{'method': 'GET', 'path_regex': '^/credential$', 'delay_s': 3, 'times': 0}])
    run = run_edge(fresh, steps=['trunk'], sec_timeout=1, sec_retries=1)
    fresh.admin('DELETE', 'faults')
    # The abandoned requests are still sleeping server-side: let them land in this test's log.
    time.sleep(3.5)
    text = run.failure_text()
    ok = run.rc != 0 and 'no answer within 1s' in text and not fresh.writes()
    seclib.record(SECTION, 'timeout persistent', text.strip().splitlines()[0][:80] if text.strip() else 'rc %d' % run.rc, ok)
    assert run.rc != 0
    assert 'no answer within 1s' in text, text
    assert fresh.writes() == []


def test_slow_create_answered_after_the_timeout_leaves_no_duplicate(fresh):
    """The create reaches the API but is stored only after the client gave up on it.

    The first POST is held 8 s, longer than the client's whole retry window (timeout 1 s, two
    retries with backoff), so whatever the client does next happens before that create lands.
    """
    fresh.faults([{'method': 'POST', 'path_regex': '^/credential$', 'delay_s': 8, 'times': 1}])
    run = run_edge(fresh, steps=['trunk'], sec_timeout=1)
    # Let the slow request finish server-side, then converge.
    time.sleep(8)
    second = run_edge(fresh, steps=['trunk'], sec_timeout=5)
    counts = fresh.counts()
    seclib.record(SECTION, 'slow create (answer lost)', 'rc %d/%d, trunks %d' % (run.rc, second.rc, counts['credential']),
                  counts['credential'] == 1)
    assert counts['credential'] == 1, 'duplicate trunks after a slow create (re-run rc %d: %s): %s' % (
        second.rc, second.failure_text()[:300] if second.rc else 'ok', fresh.log())


def test_401_fails_at_once_with_a_clear_message(fresh):
    run = run_edge(fresh, steps=['trunk'], key='not-the-key')
    log = fresh.log()
    text = run.failure_text()
    ok = run.rc != 0 and 'HTTP 401' in text and 'API key was refused' in text and len(log) == 1
    seclib.record(SECTION, '401', '%d request(s): %s' % (len(log), 'HTTP 401 ... API key was refused'
                                                         if 'API key was refused' in text else text[:60]), ok)
    assert run.rc != 0
    assert 'HTTP 401' in text and 'API key was refused' in text, text
    assert len(log) == 1, 'a 401 must not be retried: %s' % log
    assert 'not-the-key' not in run.output


def test_malformed_json_fails_clearly_without_writing(fresh):
    fresh.faults([{'method': 'GET', 'path_regex': '^/credential$', 'status': 200, 'body': '{"id": [not json', 'times': 0}])
    run = run_edge(fresh, steps=['trunk'])
    text = run.failure_text()
    ok = run.rc != 0 and 'not JSON' in text and not fresh.writes()
    seclib.record(SECTION, 'malformed JSON (list)', text.strip().splitlines()[0][:80] if text.strip() else '', ok)
    assert run.rc != 0
    assert 'not JSON' in text, text
    assert fresh.writes() == []


def test_malformed_json_answer_to_a_create_converges_without_duplicate(fresh):
    fresh.faults([{'method': 'POST', 'path_regex': '^/credential$', 'status': 201, 'body': '<html>proxy error',
                   'commit': True}])
    first = run_edge(fresh, steps=['trunk'])
    second = run_edge(fresh, steps=['trunk'])
    counts = fresh.counts()
    seclib.record(SECTION, 'malformed JSON (create)', 'rc %d then %d, trunks %d' % (first.rc, second.rc, counts['credential']),
                  second.rc == 0 and counts['credential'] == 1)
    assert first.rc != 0 and 'not JSON' in first.failure_text(), first.failure_text()
    assert second.rc == 0, second.failure_text()
    assert counts['credential'] == 1


def interrupted_role_run(emu, fault, tmp_path, label):
    """Start the vapi role, kill -9 its process group while the armed fault holds a request."""
    emu.faults([fault])
    proc = seclib.start_playbook(ROLE, dict(sec_api_url=emu.url, sec_api_key=KEY), inventory='sec-edge,',
                                 log_path=str(tmp_path / ('%s.log' % label.replace(' ', '_'))))
    # A fault leaves the armed list when a request takes it: that request is now in its delay.
    taken = seclib.wait_for(lambda: emu.admin('GET', 'faults') == [] or proc.poll() is not None, timeout=120)
    seclib.kill_group(proc, signal.SIGKILL)
    emu.admin('DELETE', 'faults')
    assert taken and proc.returncode == -signal.SIGKILL, 'the run ended before the interruption point (%s)' % label
    # Let the request the dead client left behind finish server-side.
    time.sleep(fault.get('delay_s', 0) + 1)


# Each sequence kills three runs in a row at successive points, then lets one run finish.
SEQUENCES = {
    'trunk': [
        ('trunk create in flight', {'method': 'POST', 'path_regex': '^/credential$', 'delay_s': 3}),
        ('trunk done, number not started', {'method': 'GET', 'path_regex': '^/phone-number$', 'delay_s': 3}),
        ('number create in flight', {'method': 'POST', 'path_regex': '^/phone-number$', 'delay_s': 3}),
    ],
    'assistant': [
        ('assistant create in flight', {'method': 'POST', 'path_regex': '^/assistant$', 'delay_s': 3}),
        ('assistant done, trunk not started', {'method': 'GET', 'path_regex': '^/credential$', 'delay_s': 3}),
        ('trunk done, number not started', {'method': 'GET', 'path_regex': '^/phone-number$', 'delay_s': 3}),
    ],
}


@pytest.mark.parametrize('sequence', sorted(SEQUENCES))
def test_interrupted_runs_converge_without_duplicates(fresh, tmp_path, sequence):
    for label, fault in SEQUENCES[sequence]:
        interrupted_role_run(fresh, fault, tmp_path, label)
    run = seclib.playbook(ROLE, dict(sec_api_url=fresh.url, sec_api_key=KEY), inventory='sec-edge,')
    counts = fresh.counts()
    again = seclib.playbook(ROLE, dict(sec_api_url=fresh.url, sec_api_key=KEY), inventory='sec-edge,')
    ok = (run.rc == 0 and again.rc == 0 and again.changed() == 0
          and counts == {'credential': 1, 'assistant': 1, 'phone-number': 1})
    seclib.record('Interrupted runs', '3 x kill -9 (%s first)' % sequence,
                  'trunks %d, assistants %d, numbers %d; re-run changed=%d' % (
                      counts['credential'], counts['assistant'], counts['phone-number'], again.changed()), ok)
    assert run.rc == 0, run.failure_text()
    assert counts == {'credential': 1, 'assistant': 1, 'phone-number': 1}, counts
    assert again.rc == 0 and again.changed() == 0, again.failure_text()
