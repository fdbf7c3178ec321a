# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vapi_sip_trunk with every HTTP call scripted."""
from __future__ import absolute_import, division, print_function

import copy
import json

import pytest
import responses

from ansible_collections.byom.telephony.plugins.modules import vapi_sip_trunk

API = 'https://api.vapi.ai'
TRUNK_ID = '3fa85f64-5717-4562-b3fc-2c963f66afa6'
PASSWORD = 'pw-secret-1'
# What the API echoes: only what was sent, no defaults filled in, never the password.
EXISTING = {
    'id': TRUNK_ID, 'orgId': 'org-1', 'createdAt': '2026-01-01T00:00:00.000Z', 'updatedAt': '2026-01-01T00:00:00.000Z',
    'provider': 'byo-sip-trunk', 'name': 'edge',
    'gateways': [{'ip': '203.0.113.10', 'inboundEnabled': True}],
    'outboundAuthenticationPlan': {'authUsername': 'vapi'},
}
OTHER_CREDENTIAL = {'id': 'c0ffee00-0000-4000-8000-000000000001', 'provider': 'openai', 'name': 'edge'}
ARGS = dict(name='edge', gateways=[{'ip': '203.0.113.10'}], outbound_auth_username='vapi', outbound_auth_password=PASSWORD)
FULL_GATEWAY = {'ip': '203.0.113.10', 'port': 5060, 'netmask': 32, 'inboundEnabled': True, 'outboundEnabled': True,
                'outboundProtocol': 'udp', 'optionsPingEnabled': False}


def listing(api, items):
    api.add(responses.GET, API + '/credential', json=items)


def assert_no_secret(result):
    assert PASSWORD not in json.dumps(result)


def test_create(api, run_module, sent, mode):
    listing(api, [OTHER_CREDENTIAL])
    created = dict(copy.deepcopy(EXISTING), gateways=[FULL_GATEWAY])
    if not mode['check']:
        api.add(responses.POST, API + '/credential', status=201, json=created)
    result = run_module(vapi_sip_trunk.main, ARGS, **mode)
    assert result['changed'] is True
    if mode['check']:
        assert [call[0] for call in sent(api)] == ['GET']
        assert result['id'] is None
    else:
        method, path, body = sent(api, 'POST')[0]
        assert body == {'provider': 'byo-sip-trunk', 'name': 'edge', 'gateways': [FULL_GATEWAY],
                        'outboundAuthenticationPlan': {'authUsername': 'vapi', 'authPassword': PASSWORD}}
        assert result['id'] == TRUNK_ID
    # check mode predicts what the API answers: no password, same gateways
    assert result['credential']['gateways'] == [FULL_GATEWAY]
    assert 'authPassword' not in result['credential']['outboundAuthenticationPlan']
    if mode['diff']:
        assert result['diff']['before'] == {}
        assert result['diff']['after']['outboundAuthenticationPlan']['authPassword'] == '********'
    else:
        assert 'diff' not in result
    assert_no_secret(result)


def test_noop_when_only_defaults_differ(api, run_module, sent, mode):
    listing(api, [EXISTING])
    result = run_module(vapi_sip_trunk.main, ARGS, **mode)
    assert result['changed'] is False
    assert [call[0] for call in sent(api)] == ['GET']
    assert result['id'] == TRUNK_ID
    if mode['diff']:
        assert result['diff']['before'] == result['diff']['after']
    assert_no_secret(result)


POOL_GATEWAYS = [{'ip': '203.0.113.%d' % n, 'optionsPingEnabled': True} for n in (10, 11, 12)]
POOL_ARGS = dict(ARGS, gateways=[{'ip': '203.0.113.%d' % n, 'options_ping_enabled': True} for n in (10, 11, 12)])


def test_pool_gateways_in_another_order_are_no_change(api, run_module, sent, mode):
    listing(api, [dict(copy.deepcopy(EXISTING), gateways=list(reversed(POOL_GATEWAYS)))])
    result = run_module(vapi_sip_trunk.main, POOL_ARGS, **mode)
    assert result['changed'] is False
    assert [call[0] for call in sent(api)] == ['GET']


@pytest.mark.parametrize('mode', ['normal', 'check+diff'], indirect=True)
def test_pool_node_added_sends_the_whole_list_once(api, run_module, sent, mode):
    listing(api, [dict(copy.deepcopy(EXISTING), gateways=POOL_GATEWAYS[:2])])
    full = [dict(FULL_GATEWAY, ip=g['ip'], optionsPingEnabled=True) for g in POOL_GATEWAYS]
    if not mode['check']:
        api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=dict(copy.deepcopy(EXISTING), gateways=full))
    result = run_module(vapi_sip_trunk.main, POOL_ARGS, **mode)
    assert result['changed'] is True
    if mode['check']:
        assert [call[0] for call in sent(api)] == ['GET']
        assert [g['ip'] for g in result['diff']['after']['gateways']] == ['203.0.113.10', '203.0.113.11', '203.0.113.12']
    else:
        assert sent(api, 'PATCH') == [('PATCH', '/credential/' + TRUNK_ID, {'gateways': full})]


def test_update_sends_one_patch_with_only_what_differs(api, run_module, sent, mode):
    listing(api, [EXISTING])
    args = dict(ARGS, gateways=[{'ip': '203.0.113.10', 'port': 5080, 'outbound_protocol': 'tcp'}], tech_prefix='99')
    new_gateway = dict(FULL_GATEWAY, port=5080, outboundProtocol='tcp')
    updated = dict(copy.deepcopy(EXISTING), gateways=[new_gateway], techPrefix='99')
    if not mode['check']:
        api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=updated)
    result = run_module(vapi_sip_trunk.main, args, **mode)
    assert result['changed'] is True
    patches = sent(api, 'PATCH')
    if mode['check']:
        assert patches == []
    else:
        assert patches == [('PATCH', '/credential/' + TRUNK_ID, {'gateways': [new_gateway], 'techPrefix': '99'})]
    assert result['credential']['gateways'] == [new_gateway]
    assert result['credential']['techPrefix'] == '99'
    if mode['diff']:
        assert result['diff']['before']['gateways'] == [{'ip': '203.0.113.10', 'inboundEnabled': True}]
        assert result['diff']['after']['gateways'] == [new_gateway]
    assert_no_secret(result)


def test_delete(api, run_module, sent, mode):
    listing(api, [EXISTING])
    if not mode['check']:
        api.add(responses.DELETE, API + '/credential/' + TRUNK_ID, json=EXISTING)
    result = run_module(vapi_sip_trunk.main, dict(name='edge', state='absent'), **mode)
    assert result['changed'] is True
    assert [call[0] for call in sent(api)] == (['GET'] if mode['check'] else ['GET', 'DELETE'])
    if mode['diff']:
        assert result['diff']['before']['name'] == 'edge'
        assert result['diff']['after'] == {}


def test_absent_when_missing_is_a_noop(api, run_module, sent):
    listing(api, [])
    result = run_module(vapi_sip_trunk.main, dict(name='edge', state='absent'))
    assert result['changed'] is False


def test_duplicate_names_fail_and_list_the_ids(api, run_module):
    twin = dict(copy.deepcopy(EXISTING), id='11111111-2222-4333-8444-555555555555')
    listing(api, [EXISTING, twin])
    result = run_module(vapi_sip_trunk.main, ARGS, fails=True)
    assert '2 Vapi SIP trunk credentials match' in result['msg']
    assert TRUNK_ID in result['msg'] and twin['id'] in result['msg']


def test_id_disambiguates_without_listing(api, run_module, sent):
    api.add(responses.GET, API + '/credential/' + TRUNK_ID, json=EXISTING)
    result = run_module(vapi_sip_trunk.main, dict(ARGS, id=TRUNK_ID))
    assert result['changed'] is False
    assert sent(api) == [('GET', '/credential/' + TRUNK_ID, None)]


def test_unknown_id_fails_for_present(api, run_module):
    api.add(responses.GET, API + '/credential/' + TRUNK_ID, status=404, json={'message': 'Not Found'})
    result = run_module(vapi_sip_trunk.main, dict(ARGS, id=TRUNK_ID), fails=True)
    assert 'no Vapi credential with id ' + TRUNK_ID in result['msg']


def test_update_password_always_sends_the_complete_plan(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=EXISTING)
    result = run_module(vapi_sip_trunk.main, dict(ARGS, update_password='always'))
    assert result['changed'] is True
    assert sent(api, 'PATCH')[0][2] == {'outboundAuthenticationPlan': {'authUsername': 'vapi', 'authPassword': PASSWORD}}
    assert_no_secret(result)


def test_username_change_resends_the_password(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=EXISTING)
    run_module(vapi_sip_trunk.main, dict(ARGS, outbound_auth_username='vapi2',
                                         sip_register_plan={'realm': 'pbx.example.com'}))
    assert sent(api, 'PATCH')[0][2] == {'outboundAuthenticationPlan': {
        'authUsername': 'vapi2', 'authPassword': PASSWORD, 'sipRegisterPlan': {'realm': 'pbx.example.com'}}}


def test_leading_plus_false_matches_a_missing_field(api, run_module):
    listing(api, [EXISTING])
    assert run_module(vapi_sip_trunk.main, dict(ARGS, outbound_leading_plus_enabled=False))['changed'] is False


def test_rename_by_id(api, run_module, sent):
    api.add(responses.GET, API + '/credential/' + TRUNK_ID, json=EXISTING)
    api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=dict(EXISTING, name='edge-2'))
    result = run_module(vapi_sip_trunk.main, dict(ARGS, id=TRUNK_ID, name='edge-2'))
    assert result['changed'] is True
    assert sent(api, 'PATCH')[0][2] == {'name': 'edge-2'}


@pytest.mark.parametrize('args, field', [
    (dict(ARGS, name='x' * 41), 'name'),
    (dict(ARGS, id='not-a-uuid'), 'id'),
    (dict(ARGS, gateways=[{'ip': 'sip.example.com'}]), 'gateways[0].ip'),
    (dict(ARGS, gateways=[{'ip': '300.1.1.1', 'inbound_enabled': False}]), 'gateways[0].ip'),
    (dict(ARGS, gateways=[{'ip': '203.0.113.10', 'netmask': 20}]), 'gateways[0].netmask'),
    (dict(ARGS, gateways=[{'ip': '203.0.113.10', 'port': 70000}]), 'gateways[0].port'),
    (dict(ARGS, gateways=[]), 'gateways'),
    (dict(ARGS, gateways=[{'ip': '203.0.113.10'}, {'ip': '203.0.113.11'}, {'ip': '203.0.113.10', 'netmask': 31}]),
     'gateways[0] and gateways[2]'),
    (dict(ARGS, outbound_auth_password=None, update_password='always'), 'update_password'),
])
def test_bad_input_fails_before_any_http_call(api, run_module, args, field):
    result = run_module(vapi_sip_trunk.main, args, fails=True)
    assert result['msg'].startswith(field), result['msg']
    assert len(api.calls) == 0


def test_bad_enum_is_refused_by_the_argument_spec(api, run_module):
    result = run_module(vapi_sip_trunk.main, dict(ARGS, gateways=[{'ip': '203.0.113.10', 'outbound_protocol': 'sctp'}]),
                        fails=True)
    assert 'outbound_protocol' in result['msg'] and 'sctp' in result['msg']
    assert len(api.calls) == 0


def test_outbound_only_gateway_may_be_a_hostname(api, run_module, sent):
    listing(api, [])
    api.add(responses.POST, API + '/credential', status=201, json=EXISTING)
    run_module(vapi_sip_trunk.main, dict(ARGS, gateways=[{'ip': 'sip.example.com', 'inbound_enabled': False}]))
    assert sent(api, 'POST')[0][2]['gateways'][0]['ip'] == 'sip.example.com'


def test_api_error_is_reported_with_status(api, run_module):
    api.add(responses.GET, API + '/credential', status=401, json={'message': 'Invalid Key.', 'error': 'Unauthorized'})
    result = run_module(vapi_sip_trunk.main, ARGS, fails=True)
    assert result['status'] == 401
    assert 'HTTP 401' in result['msg'] and "region 'us'" in result['msg']
    assert PASSWORD not in result['msg']


def test_api_key_from_the_environment(api, run_module, monkeypatch):
    monkeypatch.setenv('VAPI_API_KEY', 'env-key-456')
    api.add(responses.GET, API + '/credential', json=[EXISTING],
            match=[responses.matchers.header_matcher({'Authorization': 'Bearer env-key-456'})])
    args = dict(ARGS)
    result = run_module(vapi_sip_trunk.main, dict(args, api_key=None))
    assert result['changed'] is False


def _fp(password, username='vapi', cid=TRUNK_ID):
    return vapi_sip_trunk.fingerprint(cid, username, password)


def test_rotated_password_is_detected_by_fingerprint_and_sent(api, run_module, sent, mode):
    listing(api, [EXISTING])
    if not mode['check']:
        api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=EXISTING)
    args = dict(ARGS, update_password='on_change', password_fingerprint=_fp('the-old-password'))
    result = run_module(vapi_sip_trunk.main, args, **mode)
    assert result['changed'] is True and result['password_sent'] is True
    if not mode['check']:
        assert sent(api, 'PATCH')[0][2] == {'outboundAuthenticationPlan': {'authUsername': 'vapi', 'authPassword': PASSWORD}}
        assert vapi_sip_trunk.fingerprint_matches(result['password_fingerprint'], TRUNK_ID, 'vapi', PASSWORD)
    else:
        assert [c[0] for c in sent(api)] == ['GET']
    if mode['diff']:
        assert 'rotated' in result['diff']['after']['outboundAuthenticationPlan']['authPassword']
        assert 'other than the one last sent' in result['diff']['before']['outboundAuthenticationPlan']['authPassword']
    assert_no_secret(result)


def test_unrotated_password_is_not_sent_and_the_fingerprint_is_kept(api, run_module, sent):
    listing(api, [EXISTING])
    stored = _fp(PASSWORD)
    result = run_module(vapi_sip_trunk.main, dict(ARGS, update_password='on_change', password_fingerprint=stored))
    assert result['changed'] is False and result['password_fingerprint'] == stored
    assert [c[0] for c in sent(api)] == ['GET']


def test_no_fingerprint_sends_once_then_settles(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=EXISTING)
    first = run_module(vapi_sip_trunk.main, dict(ARGS, update_password='on_change'), diff=True)
    assert first['changed'] is True and 'unknown' in first['diff']['before']['outboundAuthenticationPlan']['authPassword']
    listing(api, [EXISTING])
    second = run_module(vapi_sip_trunk.main, dict(ARGS, update_password='on_change',
                                                  password_fingerprint=first['password_fingerprint']))
    assert second['changed'] is False


def test_fingerprint_is_bound_to_credential_and_username():
    stored = _fp(PASSWORD)
    assert vapi_sip_trunk.fingerprint_matches(stored, TRUNK_ID, 'vapi', PASSWORD)
    assert not vapi_sip_trunk.fingerprint_matches(stored, TRUNK_ID, 'vapi2', PASSWORD)
    assert not vapi_sip_trunk.fingerprint_matches(stored, '00000000-0000-4000-8000-000000000000', 'vapi', PASSWORD)
    assert PASSWORD not in stored and stored != _fp(PASSWORD), 'salted: two fingerprints of one password differ'


def test_on_create_warns_when_the_fingerprint_shows_a_rotation(api, run_module, sent):
    listing(api, [EXISTING])
    result = run_module(vapi_sip_trunk.main, dict(ARGS, password_fingerprint=_fp('the-old-password')))
    assert result['changed'] is False
    assert any('keeps the old one in Vapi' in w for w in result['warnings'])


def test_username_change_without_password_fails_before_writing(api, run_module, sent):
    listing(api, [EXISTING])
    args = dict(ARGS, outbound_auth_username='vapi-new')
    del args['outbound_auth_password']
    result = run_module(vapi_sip_trunk.main, args, fails=True)
    assert 'outbound_auth_password is not set' in result['msg']
    assert [c[0] for c in sent(api)] == ['GET']


def test_username_change_with_on_change_sends_both(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=EXISTING)
    run_module(vapi_sip_trunk.main, dict(ARGS, outbound_auth_username='vapi-new', update_password='on_change',
                                         password_fingerprint=_fp(PASSWORD)))
    assert sent(api, 'PATCH')[0][2]['outboundAuthenticationPlan'] == {'authUsername': 'vapi-new', 'authPassword': PASSWORD}


def test_renamed_in_the_dashboard_is_adopted_by_gateway_ip(api, run_module, sent):
    renamed = dict(copy.deepcopy(EXISTING), name='Edge (renamed by Bob)')
    listing(api, [OTHER_CREDENTIAL, renamed])
    api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=EXISTING)
    result = run_module(vapi_sip_trunk.main, ARGS)
    assert result['id'] == TRUNK_ID
    assert sent(api, 'PATCH')[0][2] == {'name': 'edge'}
    assert any('already owns gateway 203.0.113.10' in w for w in result['warnings'])


@pytest.mark.parametrize('pin', ['id', 'known_id'])
def test_renamed_with_a_pinned_or_known_id_is_renamed_back(api, run_module, sent, pin):
    api.add(responses.GET, API + '/credential/' + TRUNK_ID, json=dict(copy.deepcopy(EXISTING), name='other'))
    api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=EXISTING)
    result = run_module(vapi_sip_trunk.main, dict(ARGS, **{pin: TRUNK_ID}))
    assert sent(api, 'PATCH')[0][2] == {'name': 'edge'}
    assert any('renamed back' in w for w in result['warnings'])


def test_two_credentials_owning_our_gateway_fail(api, run_module):
    twin = dict(copy.deepcopy(EXISTING), id='11111111-1111-4111-8111-111111111111', name='b')
    listing(api, [dict(copy.deepcopy(EXISTING), name='a'), twin])
    result = run_module(vapi_sip_trunk.main, ARGS, fails=True)
    assert 'gateway IP 203.0.113.10' in result['msg'] and twin['id'] in result['msg']


def test_sip_diversion_header_is_managed(api, run_module, sent):
    listing(api, [EXISTING])
    api.add(responses.PATCH, API + '/credential/' + TRUNK_ID, json=EXISTING)
    run_module(vapi_sip_trunk.main, dict(ARGS, sip_diversion_header='<sip:+14155550100@carrier.example>'))
    assert sent(api, 'PATCH')[0][2] == {'sipDiversionHeader': '<sip:+14155550100@carrier.example>'}


@pytest.mark.parametrize('field', ['outbound_auth_password', 'outbound_auth_username'])
def test_trailing_newline_in_credentials_is_refused(api, run_module, field):
    result = run_module(vapi_sip_trunk.main, dict(ARGS, **{field: 'value\n'}), fails=True)
    assert result['msg'].startswith(field) and len(api.calls) == 0


def test_known_id_that_was_deleted_falls_back_to_the_name(api, run_module, sent):
    api.add(responses.GET, API + '/credential/' + TRUNK_ID, status=404, json={'message': 'Not Found'})
    listing(api, [])
    api.add(responses.POST, API + '/credential', status=201, json=EXISTING)
    result = run_module(vapi_sip_trunk.main, dict(ARGS, known_id=TRUNK_ID))
    assert result['changed'] is True and [c[0] for c in sent(api)] == ['GET', 'GET', 'POST']
