# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vapi_phone_number and vapi_info with every HTTP call scripted."""
from __future__ import absolute_import, division, print_function

import copy
import json

import pytest
import responses

from ansible_collections.byom.telephony.plugins.modules import vapi_info, vapi_phone_number

API = 'https://api.vapi.ai'
NID = '6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b'
CID = '3fa85f64-5717-4562-b3fc-2c963f66afa6'
AID = '1b4e28ba-2fa1-41d2-883f-0016d3cca427'
NUMBER = '+14155550100'
TRUNK = {'id': CID, 'provider': 'byo-sip-trunk', 'name': 'edge', 'gateways': [{'ip': '203.0.113.10'}],
         'outboundAuthenticationPlan': {'authUsername': 'vapi'}}
ASSISTANT = {'id': AID, 'name': 'receptionist', 'server': {'url': 'https://h', 'headers': {'X-Vapi-Secret': 'assistant-secret'}}}
EXISTING = {'id': NID, 'orgId': 'org-1', 'createdAt': '2026-01-01T00:00:00.000Z', 'updatedAt': '2026-01-01T00:00:00.000Z',
            'provider': 'byo-phone-number', 'number': NUMBER, 'name': 'main line', 'credentialId': CID,
            'assistantId': AID, 'status': 'active'}
ARGS = dict(number=NUMBER, name='main line', credential_id=CID, assistant_id=AID)


def listing(api, items, path='/phone-number'):
    api.add(responses.GET, API + path, json=items)


def methods(sent, api):
    return [call[0] for call in sent(api)]


def test_create(api, run_module, sent, mode):
    listing(api, [])
    if not mode['check']:
        api.add(responses.POST, API + '/phone-number', status=201, json=EXISTING)
    result = run_module(vapi_phone_number.main, ARGS, **mode)
    assert result['changed'] is True
    if mode['check']:
        assert methods(sent, api) == ['GET']
        assert result['id'] is None
    else:
        assert sent(api, 'POST')[0][2] == {'provider': 'byo-phone-number', 'number': NUMBER, 'name': 'main line',
                                           'credentialId': CID, 'assistantId': AID}
        assert result['id'] == NID
    assert result['phone_number']['credentialId'] == CID
    if mode['diff']:
        assert result['diff']['before'] == {} and result['diff']['after']['number'] == NUMBER


def test_noop(api, run_module, sent, mode):
    listing(api, [EXISTING])
    result = run_module(vapi_phone_number.main, dict(ARGS, number_e164_check_enabled=True), **mode)
    assert result['changed'] is False
    assert methods(sent, api) == ['GET']


def test_update(api, run_module, sent, mode):
    listing(api, [EXISTING])
    fallback = {'type': 'number', 'number': '+14155550199'}
    if not mode['check']:
        api.add(responses.PATCH, API + '/phone-number/' + NID, json=dict(EXISTING, name='sales', fallbackDestination=fallback))
    result = run_module(vapi_phone_number.main, dict(ARGS, name='sales', fallback_destination=fallback), **mode)
    assert result['changed'] is True
    if mode['check']:
        assert methods(sent, api) == ['GET']
    else:
        assert sent(api, 'PATCH') == [('PATCH', '/phone-number/' + NID, {'name': 'sales', 'fallbackDestination': fallback})]
    assert result['phone_number']['name'] == 'sales'
    if mode['diff']:
        assert result['diff']['before']['name'] == 'main line' and result['diff']['after']['name'] == 'sales'


def test_delete(api, run_module, sent, mode):
    listing(api, [EXISTING])
    if not mode['check']:
        api.add(responses.DELETE, API + '/phone-number/' + NID, json=EXISTING)
    result = run_module(vapi_phone_number.main, dict(number=NUMBER, state='absent'), **mode)
    assert result['changed'] is True
    assert methods(sent, api) == (['GET'] if mode['check'] else ['GET', 'DELETE'])


def test_names_are_resolved(api, run_module, sent):
    listing(api, [])
    listing(api, [TRUNK, {'id': 'x', 'provider': 'openai', 'name': 'edge'}], '/credential')
    listing(api, [ASSISTANT], '/assistant')
    api.add(responses.POST, API + '/phone-number', status=201, json=EXISTING)
    run_module(vapi_phone_number.main, dict(number=NUMBER, credential_name='edge', assistant_name='receptionist'))
    body = sent(api, 'POST')[0][2]
    assert body['credentialId'] == CID and body['assistantId'] == AID


def test_unknown_trunk_name_fails(api, run_module):
    listing(api, [])
    listing(api, [], '/credential')
    result = run_module(vapi_phone_number.main, dict(number=NUMBER, credential_name='edge'), fails=True)
    assert result['msg'] == "no Vapi SIP trunk credential named 'edge'"


def test_unknown_trunk_name_in_check_mode_warns(api, run_module):
    listing(api, [])
    listing(api, [], '/credential')
    result = run_module(vapi_phone_number.main, dict(number=NUMBER, credential_name='edge'), check=True)
    assert result['changed'] is True
    assert result['phone_number']['credentialId'] == 'unknown (check mode)'
    assert any('does not exist (yet)' in w for w in result['warnings'])


def test_assistant_switch_by_name(api, run_module, sent):
    other = {'id': '99999999-9999-4999-8999-999999999999', 'name': 'sales'}
    listing(api, [EXISTING])
    listing(api, [ASSISTANT, other], '/assistant')
    api.add(responses.PATCH, API + '/phone-number/' + NID, json=dict(EXISTING, assistantId=other['id']))
    run_module(vapi_phone_number.main, dict(number=NUMBER, credential_id=CID, assistant_name='sales'))
    assert sent(api, 'PATCH')[0][2] == {'assistantId': other['id']}


def test_duplicate_numbers_fail(api, run_module):
    listing(api, [EXISTING, dict(EXISTING, id='77777777-7777-4777-8777-777777777777')])
    result = run_module(vapi_phone_number.main, ARGS, fails=True)
    assert '2 Vapi phone numbers match' in result['msg']


def test_server_secret_masked(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/phone-number/' + NID,
            json=dict(EXISTING, server={'url': 'https://h.example.com', 'headers': {'X-Vapi-Secret': 'num-secret-9'}}))
    result = run_module(vapi_phone_number.main, dict(ARGS, server={'url': 'https://h.example.com', 'secret': 'num-secret-9'}),
                        diff=True)
    assert sent(api, 'PATCH')[0][2] == {'server': {'url': 'https://h.example.com', 'headers': {'X-Vapi-Secret': 'num-secret-9'}}}
    assert 'num-secret-9' not in json.dumps(result)


@pytest.mark.parametrize('args, field', [
    (dict(ARGS, number='14155550100'), 'number'),
    (dict(ARGS, number='+0155'), 'number'),
    (dict(ARGS, number='ext 12', number_e164_check_enabled=False), 'number'),
    (dict(ARGS, credential_id='edge'), 'credential_id'),
    (dict(ARGS, assistant_id='receptionist'), 'assistant_id'),
    (dict(ARGS, id='nope'), 'id'),
    (dict(ARGS, name='n' * 41), 'name'),
    (dict(ARGS, fallback_destination={'type': 'number', 'number': '555'}), 'fallback_destination.number'),
    (dict(ARGS, fallback_destination={'type': 'sip', 'sipUri': 'desk@pbx'}), 'fallback_destination.sipUri'),
    (dict(ARGS, fallback_destination={'type': 'queue'}), 'fallback_destination.type'),
])
def test_bad_input_fails_before_any_http_call(api, run_module, args, field):
    result = run_module(vapi_phone_number.main, args, fails=True)
    assert result['msg'].startswith(field), result['msg']
    assert len(api.calls) == 0


def test_non_e164_allowed_when_check_is_off(api, run_module, sent):
    listing(api, [])
    api.add(responses.POST, API + '/phone-number', status=201, json=dict(EXISTING, number='100'))
    run_module(vapi_phone_number.main, dict(ARGS, number='100', number_e164_check_enabled=False))
    assert sent(api, 'POST')[0][2]['numberE164CheckEnabled'] is False


def test_ids_and_names_are_exclusive(api, run_module):
    result = run_module(vapi_phone_number.main, dict(ARGS, credential_name='edge'), fails=True)
    assert 'mutually exclusive' in result['msg']
    assert len(api.calls) == 0


def test_info_lists_everything_masked(api, run_module, sent):
    listing(api, [TRUNK, {'id': 'k', 'provider': 'openai', 'apiKey': 'sk-should-not-show'}], '/credential')
    listing(api, [ASSISTANT], '/assistant')
    listing(api, [EXISTING])
    result = run_module(vapi_info.main, {})
    assert result['changed'] is False
    assert [t['id'] for t in result['sip_trunks']] == [CID]
    assert result['assistants'][0]['server']['headers']['X-Vapi-Secret'] == '********'
    assert result['phone_numbers'] == [EXISTING]
    assert 'assistant-secret' not in json.dumps(result) and 'sk-should-not-show' not in json.dumps(result)
    assert all(call.request.params == {'limit': '1000'} for call in api.calls)


def test_info_only_what_is_asked(api, run_module):
    listing(api, [copy.deepcopy(EXISTING)])
    result = run_module(vapi_info.main, {'resources': ['phone_numbers']})
    assert set(result) >= {'phone_numbers'} and 'sip_trunks' not in result and 'assistants' not in result


# return_listing: the collection after the change, from the lookup's own list (no second GET).
OTHER = {'id': 'f00dbabe-0000-4000-8000-000000000001', 'provider': 'byo-phone-number', 'number': '+14155550111',
         'credentialId': CID, 'server': {'url': 'https://h', 'secret': 'number-secret'}}


def test_return_listing_after_update(api, run_module, sent, mode):
    listing(api, [EXISTING, OTHER])
    if not mode['check']:
        api.add(responses.PATCH, API + '/phone-number/' + NID, json=dict(EXISTING, name='sales'))
    result = run_module(vapi_phone_number.main, dict(ARGS, name='sales', return_listing=True), **mode)
    assert methods(sent, api) == (['GET'] if mode['check'] else ['GET', 'PATCH'])
    assert sorted((n['id'], n.get('name')) for n in result['listing']) == [(NID, 'sales'), (OTHER['id'], None)]
    assert 'number-secret' not in json.dumps(result)


def test_return_listing_after_create_and_delete(api, run_module, sent, mode):
    listing(api, [OTHER])
    if not mode['check']:
        api.add(responses.POST, API + '/phone-number', status=201, json=EXISTING)
    result = run_module(vapi_phone_number.main, dict(ARGS, return_listing=True), **mode)
    created_id = None if mode['check'] else NID
    assert sorted(n['number'] for n in result['listing']) == sorted([NUMBER, OTHER['number']])
    assert [n['id'] for n in result['listing'] if n['number'] == NUMBER] == [created_id]


def test_return_listing_after_delete(api, run_module, sent):
    listing(api, [EXISTING, OTHER])
    api.add(responses.DELETE, API + '/phone-number/' + NID, json=EXISTING)
    result = run_module(vapi_phone_number.main, dict(number=NUMBER, state='absent', return_listing=True))
    assert [n['id'] for n in result['listing']] == [OTHER['id']]
    assert methods(sent, api) == ['GET', 'DELETE']


def test_return_listing_lists_when_found_by_id(api, run_module, sent):
    api.add(responses.GET, API + '/phone-number/' + NID, json=EXISTING)
    listing(api, [EXISTING, OTHER])
    result = run_module(vapi_phone_number.main, dict(id=NID, credential_id=CID, assistant_id=AID, return_listing=True))
    assert result['changed'] is False
    assert methods(sent, api) == ['GET', 'GET']
    assert sorted(n['id'] for n in result['listing']) == sorted([NID, OTHER['id']])


def test_no_listing_unless_asked(api, run_module):
    listing(api, [EXISTING])
    assert 'listing' not in run_module(vapi_phone_number.main, ARGS)
