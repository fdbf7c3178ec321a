# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local Vapi emulator behaves like the API where tests rely on it."""
from __future__ import absolute_import, division, print_function

import json
import threading

import pytest
import requests

import server as emulator_server  # tests/vapi_emulator/server.py (tests/conftest.py puts it on sys.path)

KEY = 'emulator-key'
CID_FORMAT = r'^[0-9a-f-]{36}$'
TRUNK = {'provider': 'byo-sip-trunk', 'name': 'edge',
         'gateways': [{'ip': '203.0.113.10', 'inboundEnabled': True}],
         'outboundAuthenticationPlan': {'authUsername': 'vapi', 'authPassword': 'pw-emu'}}


@pytest.fixture
def emu(tmp_path):
    state_file = str(tmp_path / 'state.json')
    emulator = emulator_server.Emulator(KEY, state_file=state_file)
    httpd = emulator_server.make_server('127.0.0.1', 0, emulator)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    base = 'http://127.0.0.1:%d' % httpd.server_address[1]
    session = requests.Session()
    session.headers['Authorization'] = 'Bearer ' + KEY

    class Handle(object):
        url = base
        http = session
        state = emulator
        path = state_file

        @staticmethod
        def call(method, path, body=None, **kwargs):
            kwargs.setdefault('timeout', 10)
            return session.request(method, base + path, json=body, **kwargs)

    yield Handle
    httpd.shutdown()
    httpd.server_close()


def test_bearer_auth(emu):
    assert requests.get(emu.url + '/assistant', timeout=5).status_code == 401
    bad = requests.get(emu.url + '/assistant', headers={'Authorization': 'Bearer nope'}, timeout=5)
    assert bad.status_code == 401 and bad.json()['statusCode'] == 401
    assert emu.call('GET', '/assistant').status_code == 200


def test_create_fills_server_fields_and_hides_the_password(emu):
    resp = emu.call('POST', '/credential', TRUNK)
    assert resp.status_code == 201
    body = resp.json()
    assert set(['id', 'orgId', 'createdAt', 'updatedAt']) <= set(body)
    assert body['outboundAuthenticationPlan'] == {'authUsername': 'vapi'}
    assert body['gateways'] == [{'ip': '203.0.113.10', 'inboundEnabled': True}], 'echoes only what was sent'
    assert emu.call('GET', '/credential/' + body['id']).json() == body
    assert 'pw-emu' not in emu.call('GET', '/credential').text
    # the admin view proves the password was stored
    assert emu.state.state()['credential'][body['id']]['outboundAuthenticationPlan']['authPassword'] == 'pw-emu'


@pytest.mark.parametrize('body, message', [
    (dict(TRUNK, bogus=1), 'property bogus should not exist'),
    (dict(TRUNK, gateways=[{'ip': '1.2.3.4', 'netmask': 8}]), 'gateways.0.netmask must not be less than 24'),
    (dict(TRUNK, gateways=[{'ip': '1.2.3.4', 'outboundProtocol': 'sctp'}]),
     'gateways.0.outboundProtocol must be one of the following values: tls/srtp, tcp, tls, udp'),
    ({'provider': 'byo-sip-trunk', 'name': 'x'}, 'gateways should not be null or undefined'),
    (dict(TRUNK, name='n' * 41), 'name must be shorter than or equal to 40 characters'),
    ({'provider': 'twilio'}, 'provider must be one of the following values: byo-sip-trunk, webhook'),
])
def test_bad_bodies_are_refused_like_nestjs(emu, body, message):
    resp = emu.call('POST', '/credential', body)
    assert resp.status_code == 400
    assert resp.json()['error'] == 'Bad Request'
    assert message in resp.json()['message']


def test_inbound_hostname_gateway_is_refused(emu):
    resp = emu.call('POST', '/credential', dict(TRUNK, gateways=[{'ip': 'sip.example.com'}]))
    assert resp.status_code == 400 and 'SIP gateway creation failed' in resp.json()['message']
    ok = emu.call('POST', '/credential', dict(TRUNK, gateways=[{'ip': 'sip.example.com', 'inboundEnabled': False}]))
    assert ok.status_code == 201


def test_patch_replaces_named_properties_and_validates(emu):
    cid = emu.call('POST', '/credential', TRUNK).json()['id']
    assert emu.call('PATCH', '/credential/' + cid, {'createdAt': 'x'}).status_code == 400
    resp = emu.call('PATCH', '/credential/' + cid, {'outboundAuthenticationPlan': {'authUsername': 'v2'}})
    assert resp.status_code == 200 and resp.json()['outboundAuthenticationPlan'] == {'authUsername': 'v2'}
    # chosen behaviour (UNVERIFIED upstream): the stored password survives a PATCH without one
    assert emu.state.state()['credential'][cid]['outboundAuthenticationPlan']['authPassword'] == 'pw-emu'


def test_404_and_malformed_ids(emu):
    assert emu.call('GET', '/assistant/3fa85f64-5717-4562-b3fc-2c963f66afa6').status_code == 404
    assert emu.call('DELETE', '/phone-number/3fa85f64-5717-4562-b3fc-2c963f66afa6').status_code == 404
    bad = emu.call('GET', '/assistant/not-a-uuid')
    assert bad.status_code == 400 and 'uuid is expected' in bad.json()['message']


def test_phone_number_rules(emu):
    cid = emu.call('POST', '/credential', TRUNK).json()['id']
    number = {'provider': 'byo-phone-number', 'number': '+14155550100', 'credentialId': cid}
    created = emu.call('POST', '/phone-number', number)
    assert created.status_code == 201 and created.json()['status'] == 'active'
    assert emu.call('POST', '/phone-number', dict(number, number='0800')).status_code == 400
    assert emu.call('POST', '/phone-number', dict(number, number='0800', numberE164CheckEnabled=False)).status_code == 201
    missing = emu.call('POST', '/phone-number', dict(number, credentialId='3fa85f64-5717-4562-b3fc-2c963f66afa6'))
    assert missing.status_code == 400
    assert emu.call('POST', '/phone-number', {'number': '+14155550101', 'credentialId': cid}).status_code == 400
    assert emu.call('PATCH', '/phone-number/' + created.json()['id'], {'provider': 'vapi'}).status_code == 400


def test_assistant_defaults_and_delete(emu):
    body = {'name': 'a', 'model': {'provider': 'openai', 'model': 'gpt-4o'}}
    created = emu.call('POST', '/assistant', body).json()
    assert created['firstMessageMode'] == 'assistant-speaks-first'
    deleted = emu.call('DELETE', '/assistant/' + created['id'])
    assert deleted.status_code == 200 and deleted.json()['id'] == created['id']
    assert emu.call('GET', '/assistant').json() == []


def test_list_limit_default_and_maximum(emu):
    for index in range(102):
        assert emu.call('POST', '/assistant', {'name': 'a%d' % index}).status_code == 201
    assert len(emu.call('GET', '/assistant').json()) == 100
    assert len(emu.call('GET', '/assistant', params={'limit': 1000}).json()) == 102
    too_many = emu.call('GET', '/assistant', params={'limit': 1001})
    assert too_many.status_code == 400 and 'limit must not be greater than 1000' in too_many.json()['message']


def test_faults_retry_after_times_and_log(emu):
    armed = requests.post(emu.url + '/_emulator/faults', json=[
        {'method': 'GET', 'path_regex': '^/assistant$', 'status': 429, 'retry_after': 2, 'times': 2}], timeout=5)
    assert armed.status_code == 200
    first = emu.call('GET', '/assistant')
    assert first.status_code == 429 and first.headers['Retry-After'] == '2'
    assert emu.call('GET', '/assistant').status_code == 429
    assert emu.call('GET', '/assistant').status_code == 200
    log = requests.get(emu.url + '/_emulator/requests', timeout=5).json()
    assert [(r['method'], r['path'], r['status']) for r in log] == [('GET', '/assistant', 429)] * 2 + [('GET', '/assistant', 200)]
    requests.delete(emu.url + '/_emulator/requests', timeout=5)
    assert requests.get(emu.url + '/_emulator/requests', timeout=5).json() == []


def test_fault_with_commit_creates_but_loses_the_answer(emu):
    requests.post(emu.url + '/_emulator/faults', json=[
        {'method': 'POST', 'path_regex': '^/credential$', 'status': 502, 'commit': True}], timeout=5)
    assert emu.call('POST', '/credential', TRUNK).status_code == 502
    assert len(emu.call('GET', '/credential').json()) == 1


def test_fault_body_can_be_malformed(emu):
    requests.post(emu.url + '/_emulator/faults', json=[{'path_regex': '/assistant', 'status': 200, 'body': '{"cut": '}], timeout=5)
    resp = emu.call('GET', '/assistant')
    with pytest.raises(ValueError):
        resp.json()


def test_slow_response_fault(emu):
    requests.post(emu.url + '/_emulator/faults', json=[{'path_regex': '/assistant', 'delay_s': 1.5}], timeout=5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        emu.call('GET', '/assistant', timeout=0.5)


def test_unknown_fault_keys_are_refused(emu):
    resp = requests.post(emu.url + '/_emulator/faults', json=[{'status': 500, 'often': True}], timeout=5)
    assert resp.status_code == 400


def test_reset_and_state_file(emu):
    cid = emu.call('POST', '/credential', TRUNK).json()['id']
    with open(emu.path) as handle:
        saved = json.load(handle)
    assert cid in saved['resources']['credential']
    reloaded = emulator_server.Emulator(KEY, state_file=emu.path)
    assert cid in reloaded.store['credential'] and reloaded.secrets[cid] == 'pw-emu'
    requests.post(emu.url + '/_emulator/reset', timeout=5)
    assert emu.call('GET', '/credential').json() == []


def test_request_log_masks_secrets(emu):
    emu.call('POST', '/credential', TRUNK)
    log = requests.get(emu.url + '/_emulator/requests', timeout=5).json()
    assert 'pw-emu' not in json.dumps(log)
    assert log[0]['body']['outboundAuthenticationPlan']['authPassword'] == '********'


def test_list_filters_by_created_at_and_orders_newest_first(emu):
    emu.state.seed('assistant', [{'name': 'a%d' % i, 'createdAt': '2026-01-01T00:00:0%d.000Z' % i} for i in range(5)])
    names = [a['name'] for a in emu.call('GET', '/assistant').json()]
    assert names == ['a4', 'a3', 'a2', 'a1', 'a0']
    older = emu.call('GET', '/assistant', params={'createdAtLt': '2026-01-01T00:00:02.000Z'}).json()
    assert [a['name'] for a in older] == ['a1', 'a0']
    newer = emu.call('GET', '/assistant', params={'createdAtGe': '2026-01-01T00:00:03.000Z', 'limit': 1}).json()
    assert [a['name'] for a in newer] == ['a4']
    bad = emu.call('GET', '/assistant', params={'createdAtLt': 'yesterday'})
    assert bad.status_code == 400


def test_several_organisations_one_key_each(tmp_path):
    emulator = emulator_server.Emulator(['key-org-a', 'key-org-b'], state_file=str(tmp_path / 's.json'))
    httpd = emulator_server.make_server('127.0.0.1', 0, emulator)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
    thread.start()
    base = 'http://127.0.0.1:%d' % httpd.server_address[1]
    try:
        made = requests.post(base + '/assistant', json={'name': 'only-in-a'}, headers={'Authorization': 'Bearer key-org-a'},
                             timeout=5).json()
        seen_b = requests.get(base + '/assistant', headers={'Authorization': 'Bearer key-org-b'}, timeout=5).json()
        assert seen_b == []
        other = requests.get(base + '/assistant/' + made['id'], headers={'Authorization': 'Bearer key-org-b'}, timeout=5)
        assert other.status_code == 404
        made_b = requests.post(base + '/assistant', json={'name': 'only-in-b'}, headers={'Authorization': 'Bearer key-org-b'},
                               timeout=5).json()
        assert made_b['orgId'] != made['orgId']
        assert [entry['org'] for entry in emulator.log] == [0, 1, 1, 1]
    finally:
        httpd.shutdown()
        httpd.server_close()
    reloaded = emulator_server.Emulator(['key-org-a', 'key-org-b'], state_file=str(tmp_path / 's.json'))
    assert [a['name'] for a in reloaded.state(1)['assistant'].values()] == ['only-in-b']


def test_fault_that_lands_the_create_after_answering_502(emu):
    import time
    requests.post(emu.url + '/_emulator/faults', json=[
        {'method': 'POST', 'path_regex': '^/assistant$', 'status': 502, 'commit_after_s': 0.5}], timeout=5)
    assert emu.call('POST', '/assistant', {'name': 'late'}).status_code == 502
    assert emu.call('GET', '/assistant').json() == []
    time.sleep(1.0)
    assert [a['name'] for a in emu.call('GET', '/assistant').json()] == ['late']


def test_null_detaches_and_nested_objects_are_replaced(emu):
    made = emu.call('POST', '/assistant', {'name': 'n', 'endCallMessage': 'Bye', 'voice': {'provider': '11labs', 'voiceId': 'burt',
                                                                                           'stability': 0.3}}).json()
    assert made['voice']['cachingEnabled'] is True, 'server-side default filled'
    patched = emu.call('PATCH', '/assistant/' + made['id'], {'endCallMessage': None, 'voice': {'provider': '11labs',
                                                                                               'voiceId': 'sarah'}}).json()
    assert patched['endCallMessage'] is None
    assert 'stability' not in patched['voice'], 'nested objects are replaced, not merged'
    ok = emu.call('PATCH', '/assistant/' + made['id'], {'serverMessages': ['end-of-call-report', 'status-update']})
    assert ok.status_code == 200
    bad = emu.call('PATCH', '/assistant/' + made['id'], {'serverMessages': ['nope']})
    assert bad.status_code == 400
