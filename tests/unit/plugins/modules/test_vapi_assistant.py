# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vapi_assistant with every HTTP call scripted."""
from __future__ import absolute_import, division, print_function

import copy
import json

import pytest
import responses

from ansible_collections.byom.telephony.plugins.modules import vapi_assistant

API = 'https://api.vapi.ai'
AID = '1b4e28ba-2fa1-41d2-883f-0016d3cca427'
SECRET = 'hook-secret-xyz'
MODEL = {'provider': 'openai', 'model': 'gpt-4o', 'temperature': 0.3, 'maxTokens': 300,
         'messages': [{'role': 'system', 'content': 'Be brief.'}]}
ARGS = dict(name='receptionist', first_message='Hello', model=MODEL,
            voice={'provider': '11labs', 'voiceId': 'burt'},
            transcriber={'provider': 'deepgram', 'model': 'nova-3', 'language': 'en'},
            server={'url': 'https://hooks.example.com/vapi', 'secret': SECRET},
            metadata={'managed_by': 'ansible'})
# As the API holds it: what was sent plus server-side defaults and bookkeeping.
EXISTING = {
    'id': AID, 'orgId': 'org-1', 'createdAt': '2026-01-01T00:00:00.000Z', 'updatedAt': '2026-01-01T00:00:00.000Z',
    'name': 'receptionist', 'firstMessage': 'Hello', 'firstMessageMode': 'assistant-speaks-first',
    'isServerUrlSecretSet': False,
    'model': dict(MODEL, toolIds=[], emotionRecognitionEnabled=False),
    'voice': {'provider': '11labs', 'voiceId': 'burt', 'chunkPlan': {'enabled': True}},
    'transcriber': {'provider': 'deepgram', 'model': 'nova-3', 'language': 'en', 'smartFormat': True},
    'server': {'url': 'https://hooks.example.com/vapi', 'headers': {'X-Vapi-Secret': SECRET}, 'timeoutSeconds': 20},
    'metadata': {'managed_by': 'ansible', 'owner': 'dashboard-user'},
}


def listing(api, items):
    api.add(responses.GET, API + '/assistant', json=items)


def methods(sent, api):
    return [call[0] for call in sent(api)]


def assert_no_secret(result):
    assert SECRET not in json.dumps(result)


def test_create(api, run_module, sent, mode):
    listing(api, [])
    if not mode['check']:
        api.add(responses.POST, API + '/assistant', status=201, json=EXISTING)
    result = run_module(vapi_assistant.main, ARGS, **mode)
    assert result['changed'] is True
    if mode['check']:
        assert methods(sent, api) == ['GET']
        assert result['id'] is None
        assert result['assistant']['firstMessage'] == 'Hello'
    else:
        body = sent(api, 'POST')[0][2]
        assert body == {'name': 'receptionist', 'firstMessage': 'Hello', 'model': MODEL,
                        'voice': ARGS['voice'], 'transcriber': ARGS['transcriber'],
                        'server': {'url': 'https://hooks.example.com/vapi', 'headers': {'X-Vapi-Secret': SECRET}},
                        'metadata': {'managed_by': 'ansible'}}
        assert result['id'] == AID
    assert result['assistant']['server']['headers']['X-Vapi-Secret'] == '********'
    if mode['diff']:
        assert result['diff']['before'] == {}
        assert result['diff']['after']['name'] == 'receptionist'
    assert_no_secret(result)


def test_server_side_defaults_are_not_drift(api, run_module, sent, mode):
    listing(api, [EXISTING])
    result = run_module(vapi_assistant.main, ARGS, **mode)
    assert result['changed'] is False
    assert methods(sent, api) == ['GET']
    assert_no_secret(result)


def test_update_one_patch_keeps_what_others_set(api, run_module, sent, mode):
    listing(api, [EXISTING])
    args = dict(ARGS, first_message='Hi there', model=dict(MODEL, model='gpt-4o-mini'))
    if not mode['check']:
        api.add(responses.PATCH, API + '/assistant/' + AID, json=EXISTING)
    result = run_module(vapi_assistant.main, args, **mode)
    assert result['changed'] is True
    expected_model = dict(EXISTING['model'], model='gpt-4o-mini')
    if mode['check']:
        assert methods(sent, api) == ['GET']
    else:
        assert sent(api, 'PATCH') == [('PATCH', '/assistant/' + AID, {'firstMessage': 'Hi there', 'model': expected_model})]
    if mode['diff']:
        assert result['diff']['before']['firstMessage'] == 'Hello'
        assert result['diff']['after']['firstMessage'] == 'Hi there'
        assert result['diff']['after']['model']['model'] == 'gpt-4o-mini'
        assert result['diff']['after']['server']['headers']['X-Vapi-Secret'] == '********'
    assert_no_secret(result)


def test_lists_are_compared_whole(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/assistant/' + AID, json=EXISTING)
    messages = [{'role': 'system', 'content': 'Be brief.'}, {'role': 'assistant', 'content': 'Welcome.'}]
    run_module(vapi_assistant.main, dict(ARGS, model=dict(MODEL, messages=messages)))
    assert sent(api, 'PATCH')[0][2]['model']['messages'] == messages


def test_metadata_only_given_keys(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/assistant/' + AID, json=EXISTING)
    run_module(vapi_assistant.main, dict(name='receptionist', metadata={'env': 'lab'}))
    assert sent(api, 'PATCH')[0][2] == {'metadata': {'managed_by': 'ansible', 'owner': 'dashboard-user', 'env': 'lab'}}


def test_secret_change_is_detected_and_masked(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/assistant/' + AID, json=EXISTING)
    result = run_module(vapi_assistant.main, dict(name='receptionist', server={'url': 'https://hooks.example.com/vapi',
                                                                               'secret': 'rotated-secret-2'}), diff=True)
    assert result['changed'] is True
    assert sent(api, 'PATCH')[0][2]['server']['headers']['X-Vapi-Secret'] == 'rotated-secret-2'
    assert 'rotated-secret-2' not in json.dumps(result)


def test_delete(api, run_module, sent, mode):
    listing(api, [EXISTING])
    if not mode['check']:
        api.add(responses.DELETE, API + '/assistant/' + AID, json=EXISTING)
    result = run_module(vapi_assistant.main, dict(name='receptionist', state='absent'), **mode)
    assert result['changed'] is True
    assert methods(sent, api) == (['GET'] if mode['check'] else ['GET', 'DELETE'])
    if mode['diff']:
        assert result['diff']['after'] == {}
    assert_no_secret(result)


def test_pinned_assistant_is_a_clear_error(api, run_module):
    listing(api, [EXISTING])
    api.add(responses.DELETE, API + '/assistant/' + AID, status=409,
            json={'error': 'assistant_pinned', 'message': 'Assistant is pinned by a squad.'})
    result = run_module(vapi_assistant.main, dict(name='receptionist', state='absent'), fails=True)
    assert result['status'] == 409
    assert 'pinned' in result['msg'] and AID in result['msg'] and 'Assistant is pinned by a squad.' in result['msg']


def test_duplicates_fail_unless_id(api, run_module, sent):
    twin = dict(copy.deepcopy(EXISTING), id='22222222-2222-4222-8222-222222222222')
    listing(api, [EXISTING, twin])
    result = run_module(vapi_assistant.main, ARGS, fails=True)
    assert 'ids: ' in result['msg'] and twin['id'] in result['msg']


def test_by_id(api, run_module, sent):
    api.add(responses.GET, API + '/assistant/' + AID, json=EXISTING)
    result = run_module(vapi_assistant.main, dict(ARGS, id=AID))
    assert result['changed'] is False
    assert methods(sent, api) == ['GET']


@pytest.mark.parametrize('args, field', [
    (dict(ARGS, name='n' * 41), 'name'),
    (dict(ARGS, id='123'), 'id'),
    (dict(ARGS, model={'provider': 'openai'}), 'model.model'),
    (dict(ARGS, model=dict(MODEL, temperature=3)), 'model.temperature'),
    (dict(ARGS, model=dict(MODEL, maxTokens=10)), 'model.maxTokens'),
    (dict(ARGS, model=dict(MODEL, messages=[{'role': 'narrator', 'content': 'x'}])), 'model.messages[0].role'),
    (dict(ARGS, voice={'provider': '11labs'}), 'voice.voiceId'),
    (dict(ARGS, transcriber={'model': 'nova-3'}), 'transcriber.provider'),
    (dict(ARGS, server={'url': 'ftp://x'}), 'server.url'),
    (dict(ARGS, server={'url': 'https://x', 'timeout_seconds': 0}), 'server.timeout_seconds'),
])
def test_bad_input_fails_before_any_http_call(api, run_module, args, field):
    result = run_module(vapi_assistant.main, args, fails=True)
    assert result['msg'].startswith(field), result['msg']
    assert len(api.calls) == 0


def test_429_then_success(api, run_module, sent):
    api.add(responses.GET, API + '/assistant', status=429, headers={'Retry-After': '0'}, json={'message': 'slow down'})
    listing(api, [EXISTING])
    assert run_module(vapi_assistant.main, ARGS)['changed'] is False
    assert methods(sent, api) == ['GET', 'GET']


def test_5xx_exhausted_fails_with_the_last_status(api, run_module):
    for _attempt in range(3):
        api.add(responses.GET, API + '/assistant', status=502, json={'message': 'bad gateway'})
    result = run_module(vapi_assistant.main, dict(ARGS, retries=2), fails=True)
    assert result['status'] == 502 and 'gave up after 2 retries' in result['msg']


def test_malformed_json_fails_clearly(api, run_module):
    api.add(responses.GET, API + '/assistant', body='{"truncated": ', status=200)
    result = run_module(vapi_assistant.main, ARGS, fails=True)
    assert 'not JSON' in result['msg']


def test_timeout_fails_clearly(api, run_module):
    import requests
    api.add(responses.GET, API + '/assistant', body=requests.exceptions.ConnectTimeout('connect timed out'))
    result = run_module(vapi_assistant.main, dict(ARGS, timeout=3), fails=True)
    assert 'no answer within 3s' in result['msg']


def test_ambiguous_create_adopts_instead_of_duplicating(api, run_module, sent):
    listing(api, [])
    api.add(responses.POST, API + '/assistant', status=504, json={'message': 'gateway timeout'})
    listing(api, [EXISTING])
    result = run_module(vapi_assistant.main, ARGS)
    assert result['changed'] is True and result['id'] == AID
    assert methods(sent, api) == ['GET', 'POST', 'GET']
    assert any('adopted id ' + AID in w for w in result['warnings'])


SETTINGS = {
    'serverMessages': ['end-of-call-report', 'status-update', 'transcript[transcriptType="final"]'],
    'clientMessages': ['transcript', 'hang'],
    'voicemailDetection': {'provider': 'vapi'},
    'endCallPhrases': ['goodbye'], 'endCallMessage': 'Bye.', 'maxDurationSeconds': 600,
    'transcriber_unused': None,
}


def test_pass_through_settings_are_sent_and_validated_against_the_schema(api, run_module, sent, dto):
    listing(api, [])
    api.add(responses.POST, API + '/assistant', status=201, json=EXISTING)
    settings = dict((k, v) for k, v in SETTINGS.items() if k != 'transcriber_unused')
    args = dict(ARGS, settings=settings,
                voice={'provider': 'custom-voice', 'server': {'url': 'https://tts.example.com'}},
                model={'provider': 'vapi'})
    run_module(vapi_assistant.main, args)
    body = sent(api, 'POST')[0][2]
    assert body['serverMessages'] == settings['serverMessages'] and body['voicemailDetection'] == {'provider': 'vapi'}
    assert dto.errors('CreateAssistantDTO', body) == []


@pytest.mark.parametrize('args, needle', [
    (dict(ARGS, settings={'tools': []}), 'tools is not a property'),
    (dict(ARGS, settings={'serverMessages': ['end-of-call-report', 'bogus']}), 'serverMessages[1] must be one of'),
    (dict(ARGS, settings={'name': 'x'}), 'settings.name: use the option name'),
    (dict(ARGS, voice={'provider': 'openai', 'voiceId': 'alloy', 'stability': 0.5}), 'voice.stability is not a property'),
    (dict(ARGS, voice={'provider': 'nobody', 'voiceId': 'x'}), 'voice matches none of the allowed kinds'),
    (dict(ARGS, settings={'server': {'url': 'https://x', 'timeoutSeconds': 301}}), 'settings.server: use the option'),
    (dict(ARGS, settings={'maxDurationSeconds': 'long'}), 'maxDurationSeconds must be of type number'),
])
def test_schema_refuses_before_any_request(api, run_module, args, needle):
    result = run_module(vapi_assistant.main, args, fails=True)
    assert needle in result['msg'], result['msg']
    assert len(api.calls) == 0


def test_null_in_settings_clears_a_property(api, run_module, sent):
    listing(api, [dict(EXISTING, endCallMessage='Bye.')])
    api.add(responses.PATCH, API + '/assistant/' + AID, json=EXISTING)
    run_module(vapi_assistant.main, dict(ARGS, settings={'endCallMessage': None}))
    assert sent(api, 'PATCH')[0][2] == {'endCallMessage': None}


def test_server_with_credential_timeout_and_backoff(api, run_module, sent, dto):
    listing(api, [])
    api.add(responses.POST, API + '/assistant', status=201, json=EXISTING)
    server = {'url': 'https://hooks.example.com/vapi', 'credential_id': 'cred-1', 'timeout_seconds': 15,
              'backoff_plan': {'type': 'exponential', 'maxRetries': 3, 'baseDelaySeconds': 1}}
    run_module(vapi_assistant.main, dict(ARGS, server=server))
    body = sent(api, 'POST')[0][2]
    assert body['server'] == {'url': 'https://hooks.example.com/vapi', 'credentialId': 'cred-1', 'timeoutSeconds': 15,
                              'backoffPlan': {'type': 'exponential', 'maxRetries': 3, 'baseDelaySeconds': 1}}
    assert dto.errors('CreateAssistantDTO', body) == []


def test_identity_survives_a_dashboard_rename(api, run_module, sent):
    renamed = dict(copy.deepcopy(EXISTING), name='Reception (Bob)',
                   metadata={'managed_by': 'ansible', 'byomIdentity': 'receptionist'})
    listing(api, [renamed])
    api.add(responses.PATCH, API + '/assistant/' + AID, json=EXISTING)
    result = run_module(vapi_assistant.main, dict(ARGS, identity='receptionist'))
    assert result['id'] == AID
    assert sent(api, 'PATCH')[0][2] == {'name': 'receptionist'}
    assert any('renamed back' in w for w in result['warnings'])


def test_identity_is_tagged_on_an_assistant_found_by_name(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/assistant/' + AID, json=EXISTING)
    run_module(vapi_assistant.main, dict(ARGS, identity='receptionist'))
    assert sent(api, 'PATCH')[0][2]['metadata']['byomIdentity'] == 'receptionist'


# return_listing: the collection after the change, from the lookup's own list (no second GET).
TAGGED = {'id': 'f00dbabe-0000-4000-8000-000000000002', 'name': 'old-one', 'metadata': {'byomIdentity': 'old-one'},
          'server': {'url': 'https://h', 'headers': {'X-Vapi-Secret': SECRET}}}


def test_return_listing(api, run_module, sent, mode):
    listing(api, [EXISTING, TAGGED])
    if not mode['check']:
        api.add(responses.PATCH, API + '/assistant/' + AID, json=dict(EXISTING, firstMessage='Hi'))
    result = run_module(vapi_assistant.main, dict(ARGS, first_message='Hi', return_listing=True), **mode)
    assert methods(sent, api) == (['GET'] if mode['check'] else ['GET', 'PATCH'])
    assert sorted((a['id'], a['firstMessage'] if a['id'] == AID else a['name']) for a in result['listing']) == \
        sorted([(AID, 'Hi'), (TAGGED['id'], 'old-one')])
    assert_no_secret(result)


def test_return_listing_after_delete(api, run_module, sent):
    listing(api, [EXISTING, TAGGED])
    api.add(responses.DELETE, API + '/assistant/' + AID, json=EXISTING)
    result = run_module(vapi_assistant.main, dict(name='receptionist', state='absent', return_listing=True))
    assert [a['id'] for a in result['listing']] == [TAGGED['id']]


def test_no_listing_unless_asked(api, run_module):
    listing(api, [EXISTING])
    assert 'listing' not in run_module(vapi_assistant.main, dict(name='receptionist', state='absent'), check=True)
