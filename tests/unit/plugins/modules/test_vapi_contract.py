# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Contract: every body the modules send validates against the matching DTO of Vapi's spec.

The modules run with every option they have, creating and updating; a fake API answers
whatever they ask and records each POST/PATCH body, which is then checked against the DTO
schema taken from Vapi's OpenAPI document (tests/vapi_emulator/schemas.json, origin in its
x-origin), including NestJS's "property X should not exist" rule.
"""
from __future__ import absolute_import, division, print_function

import copy
import json
import re

import pytest
import responses

from ansible_collections.byom.telephony.plugins.modules import vapi_assistant, vapi_phone_number, vapi_sip_trunk

API = 'https://api.vapi.ai'
CID = '3fa85f64-5717-4562-b3fc-2c963f66afa6'
AID = '1b4e28ba-2fa1-41d2-883f-0016d3cca427'
NID = '6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b'
DTO_FOR = {
    ('POST', 'credential'): 'CreateByoSipTrunkCredentialDTO',
    ('PATCH', 'credential'): 'UpdateByoSipTrunkCredentialDTO',
    ('POST', 'assistant'): 'CreateAssistantDTO',
    ('PATCH', 'assistant'): 'UpdateAssistantDTO',
    ('POST', 'phone-number'): 'CreateByoPhoneNumberDTO',
    ('PATCH', 'phone-number'): 'UpdateByoPhoneNumberDTO',
}
SERVER = {'url': 'https://hooks.example.com/vapi', 'secret': 's3cret-hook', 'headers': {'X-Tenant': 'acme'},
          'timeout_seconds': 25, 'credential_id': '550e8400-e29b-41d4-a716-446655440000'}
GATEWAYS_ALL = [
    {'ip': '203.0.113.10', 'port': 5060, 'netmask': 32, 'outbound_protocol': 'udp'},
    {'ip': '203.0.113.11', 'port': 5080, 'netmask': 24, 'outbound_protocol': 'tcp', 'options_ping_enabled': True},
    {'ip': '203.0.113.12', 'port': 5061, 'outbound_protocol': 'tls', 'inbound_enabled': False},
    {'ip': 'sip.carrier.example.com', 'port': 5061, 'outbound_protocol': 'tls/srtp', 'inbound_enabled': False},
    {'ip': '198.51.100.7', 'outbound_enabled': False},
]
TRUNK_FULL = dict(name='edge', gateways=GATEWAYS_ALL, outbound_auth_username='vapi', outbound_auth_password='pw-1',
                  sip_register_plan={'domain': 'pbx.example.com', 'username': 'vapi', 'realm': 'pbx.example.com'},
                  outbound_leading_plus_enabled=True, tech_prefix='99')
ASSISTANT_FULL = dict(
    name='receptionist', first_message='Hello',
    model={'provider': 'openai', 'model': 'gpt-4o', 'temperature': 0.3, 'maxTokens': 300,
           'messages': [{'role': 'system', 'content': 'Be brief.'}]},
    voice={'provider': '11labs', 'voiceId': 'burt'},
    transcriber={'provider': 'deepgram', 'model': 'nova-3', 'language': 'en'},
    server=SERVER, metadata={'managed_by': 'ansible', 'env': 'lab'})
ASSISTANT_OTHER_PROVIDERS = dict(
    name='receptionist',
    model={'provider': 'anthropic', 'model': 'claude-3-5-sonnet-20241022', 'messages': [{'role': 'system', 'content': 'x'}]},
    voice={'provider': 'vapi', 'voiceId': 'Elliot'},
    transcriber={'provider': 'deepgram', 'model': 'nova-2', 'language': 'en'})
PHONE_FULL = dict(number='+14155550100', name='main line', credential_id=CID, assistant_id=AID,
                  number_e164_check_enabled=True, server=SERVER,
                  fallback_destination={'type': 'number', 'number': '+14155550199'})
PHONE_SIP_FALLBACK = dict(number='100', number_e164_check_enabled=False, credential_id=CID,
                          fallback_destination={'type': 'sip', 'sipUri': 'sip:desk@pbx.example.com'})


class FakeVapi(object):
    """Answers any call: lists from a fixed state, echoes creates and updates; records bodies."""

    def __init__(self, state):
        self.state = state
        self.sent = []

    def __call__(self, request):
        path = request.path_url.split('?')[0]
        parts = [p for p in path.split('/') if p]
        body = json.loads(request.body) if request.body else None
        if request.method in ('POST', 'PATCH'):
            self.sent.append((request.method, parts[0], body))
        if request.method == 'GET' and len(parts) == 1:
            return 200, {}, json.dumps(self.state.get(parts[0], []))
        if request.method == 'GET':
            found = [r for r in self.state.get(parts[0], []) if r['id'] == parts[1]]
            return (200, {}, json.dumps(found[0])) if found else (404, {}, '{"message": "Not Found"}')
        if request.method == 'POST':
            return 201, {}, json.dumps(dict(body, id='00000000-0000-4000-8000-000000000001'))
        return 200, {}, json.dumps(dict(self.state[parts[0]][0], **body))


@pytest.fixture
def fake():
    def run(run_module, main, args, state):
        api = FakeVapi(copy.deepcopy(state))
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for method in ('GET', 'POST', 'PATCH', 'DELETE'):
                mock.add_callback(method, re.compile(re.escape(API) + '/.*'), callback=api)
            result = run_module(main, args)
        assert result['changed'] is True, 'the scenario must send a body'
        assert api.sent, 'no POST/PATCH was sent'
        return api.sent
    return run


def check_against_spec(dto, sent):
    for method, kind, body in sent:
        name = DTO_FOR[(method, kind)]
        errors = dto.errors(name, body)
        assert errors == [], '%s /%s body does not satisfy %s: %s\n%s' % (method, kind, name, errors, json.dumps(body, indent=1))


EXISTING_TRUNK = {'id': CID, 'provider': 'byo-sip-trunk', 'name': 'old', 'gateways': [{'ip': '192.0.2.1'}],
                  'outboundAuthenticationPlan': {'authUsername': 'old', 'sipRegisterPlan': {'realm': 'old'}},
                  'orgId': 'o', 'createdAt': 't', 'updatedAt': 't'}
EXISTING_ASSISTANT = {'id': AID, 'name': 'receptionist', 'firstMessage': 'Old', 'orgId': 'o', 'createdAt': 't', 'updatedAt': 't',
                      'isServerUrlSecretSet': False, 'firstMessageMode': 'assistant-speaks-first',
                      'model': {'provider': 'openai', 'model': 'gpt-4o-mini', 'temperature': 0.9, 'toolIds': []},
                      'voice': {'provider': '11labs', 'voiceId': 'sarah'},
                      'transcriber': {'provider': 'deepgram', 'model': 'nova-2', 'language': 'de'},
                      'server': {'url': 'https://old.example.com', 'timeoutSeconds': 20},
                      'metadata': {'owner': 'someone'}}
EXISTING_NUMBER = {'id': NID, 'provider': 'byo-phone-number', 'number': '+14155550100', 'credentialId': 'c-old',
                   'assistantId': 'a-old', 'name': 'old', 'status': 'active', 'orgId': 'o', 'createdAt': 't', 'updatedAt': 't',
                   'server': {'url': 'https://old.example.com'},
                   'fallbackDestination': {'type': 'sip', 'sipUri': 'sip:old@pbx'}}


@pytest.mark.parametrize('args', [TRUNK_FULL, dict(name='min', gateways=[{'ip': '203.0.113.10'}])], ids=['full', 'minimal'])
def test_trunk_create_bodies(dto, run_module, fake, args):
    check_against_spec(dto, fake(run_module, vapi_sip_trunk.main, args, {}))


def test_trunk_update_bodies(dto, run_module, fake):
    sent = fake(run_module, vapi_sip_trunk.main, dict(TRUNK_FULL, id=CID, update_password='always'),
                {'credential': [EXISTING_TRUNK]})
    assert sent[0][0] == 'PATCH'
    assert set(sent[0][2]) == {'name', 'gateways', 'outboundAuthenticationPlan', 'outboundLeadingPlusEnabled', 'techPrefix'}
    check_against_spec(dto, sent)


@pytest.mark.parametrize('args', [ASSISTANT_FULL, ASSISTANT_OTHER_PROVIDERS, dict(name='bare')], ids=['full', 'providers', 'bare'])
def test_assistant_create_bodies(dto, run_module, fake, args):
    check_against_spec(dto, fake(run_module, vapi_assistant.main, args, {}))


def test_assistant_update_bodies(dto, run_module, fake):
    sent = fake(run_module, vapi_assistant.main, ASSISTANT_FULL, {'assistant': [EXISTING_ASSISTANT]})
    assert set(sent[0][2]) == {'firstMessage', 'model', 'voice', 'transcriber', 'server', 'metadata'}
    check_against_spec(dto, sent)


@pytest.mark.parametrize('args', [PHONE_FULL, PHONE_SIP_FALLBACK], ids=['full', 'sip-fallback'])
def test_phone_number_create_bodies(dto, run_module, fake, args):
    check_against_spec(dto, fake(run_module, vapi_phone_number.main, args, {}))


def test_phone_number_update_bodies(dto, run_module, fake):
    sent = fake(run_module, vapi_phone_number.main, PHONE_FULL, {'phone-number': [EXISTING_NUMBER]})
    assert set(sent[0][2]) == {'name', 'credentialId', 'assistantId', 'server', 'fallbackDestination'}
    check_against_spec(dto, sent)


@pytest.mark.parametrize('name, body, message', [
    ('CreateByoSipTrunkCredentialDTO', {'provider': 'byo-sip-trunk', 'gateways': [{'ip': '1.2.3.4', 'inbound_enabled': True}]},
     'gateways.0.property inbound_enabled should not exist'),
    ('CreateByoSipTrunkCredentialDTO', {'provider': 'byo-sip-trunk'}, 'gateways should not be null or undefined'),
    ('UpdateByoSipTrunkCredentialDTO', {'id': CID}, 'property id should not exist'),
    ('CreateAssistantDTO', {'name': 'a', 'tools': []}, 'property tools should not exist'),
    ('CreateAssistantDTO', {'model': {'provider': 'openai', 'model': 'gpt-4o', 'temperature': 9}},
     'model.temperature must not be greater than 2'),
    ('CreateByoPhoneNumberDTO', {'provider': 'byo-phone-number', 'credentialId': CID, 'server': {'url': 'u', 'secret': 's'}},
     'server.property secret should not exist'),
])
def test_the_contract_check_can_fail(dto, name, body, message):
    assert message in dto.errors(name, body)


def test_schema_fixture_records_its_origin(dto):
    origin = dto.document['x-origin']
    assert origin['repository'] == 'VapiAI/docs' and origin['path'] == 'fern/apis/api/openapi.json'
    assert re.match(r'^[0-9a-f]{64}$', origin['sha256'])
    for name in set(DTO_FOR.values()):
        assert name in dto.schemas
