# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vapi_phone_number against the in-process emulator: squads, workflows, hooks, detaching,
SIP URI numbers, and input Vapi would refuse, refused before any request."""
from __future__ import absolute_import, division, print_function

import pytest

from ansible_collections.byom.telephony.plugins.modules import vapi_phone_number

HOOKS = [{'on': 'call.ringing', 'do': [{'type': 'say', 'exact': 'Please hold.'}]}]
SQUAD = '5f0c2b8e-1111-4222-8333-444455556666'
WORKFLOW = '6f0c2b8e-1111-4222-8333-444455556666'


@pytest.fixture
def org(http_emulator):
    emu = http_emulator()
    trunk_body = {'provider': 'byo-sip-trunk', 'name': 'edge', 'gateways': [{'ip': '203.0.113.10'}]}
    _status, trunk = emu.handle('POST', '/credential', {}, trunk_body)
    _status, assistant = emu.handle('POST', '/assistant', {}, {'name': 'front-desk'})
    emu.trunk, emu.assistant = trunk['id'], assistant['id']
    return emu


def run(run_module, emu, **args):
    fails = args.pop('fails', False)
    args.setdefault('api_url', emu.url)
    return run_module(vapi_phone_number.main, args, fails=fails)


def writes(emu):
    return [(e['method'], e['path'], e['body']) for e in emu.log if e['method'] != 'GET']


def test_squad_workflow_hooks_and_detach_converge(run_module, org):
    base = dict(number='+14155550100', credential_id=org.trunk)
    first = run(run_module, org, assistant_id=org.assistant, hooks=HOOKS, **base)
    assert first['changed'] and first['phone_number']['hooks'] == HOOKS
    assert run(run_module, org, assistant_id=org.assistant, hooks=HOOKS, **base)['changed'] is False
    # Move the number to a squad, then to a workflow: the other routes are nulled by the user or kept as Vapi holds them.
    run(run_module, org, squad_id=SQUAD, **base)
    run(run_module, org, workflow_id=WORKFLOW, **base)
    detached = run(run_module, org, detach=True, **base)
    assert detached['changed'] is True
    stored = list(org.state()['phone-number'].values())[0]
    assert stored['assistantId'] is None and stored['squadId'] is None and stored['workflowId'] is None
    assert stored['hooks'] == HOOKS
    assert run(run_module, org, detach=True, **base)['changed'] is False
    assert writes(org)[-1] == ('PATCH', '/phone-number/' + stored['id'],
                               {'assistantId': None, 'squadId': None, 'workflowId': None})


def test_sip_uri_number_without_a_trunk(run_module, org):
    auth = {'username': 'edge-user-0123456789ab', 'password': 'edge-pass-0123456789abcd'}
    args = dict(provider='vapi', sip_uri='sip:front-desk@sip.vapi.ai', assistant_id=org.assistant, sip_authentication=auth)
    made = run(run_module, org, **args)
    assert made['changed'] and made['phone_number']['sipUri'] == 'sip:front-desk@sip.vapi.ai'
    assert 'password' not in made['phone_number']['authentication']
    assert 'edge-pass-0123456789abcd' not in repr(made)
    assert run(run_module, org, **args)['changed'] is False, 'the write-only password is not drift'
    stored = list(org.state()['phone-number'].values())[0]
    assert stored['authentication']['password'] == 'edge-pass-0123456789abcd' and 'credentialId' not in stored


@pytest.mark.parametrize('args, needle', [
    (dict(number='+1', credential_id='T'), 'number must have at least 3 digits'),
    (dict(number='12', credential_id='T', number_e164_check_enabled=False), 'number must have at least 3 digits'),
    (dict(number='+14155550100\n', credential_id='T'), 'number has leading or trailing white space'),
    (dict(number='+14155550100', credential_id='3fa85f64-5717-4562-b3fc-2c963f66afa6\n'), 'credential_id must be a UUID'),
    (dict(number='+14155550100', credential_id='T',
          fallback_destination={'type': 'number', 'number': '+14155550199', 'callerID': 'x'}),
     'fallbackDestination.callerID is not a property'),
    (dict(number='+14155550100', credential_id='T', hooks=[{'on': 'call.ringing', 'do': [{'type': 'shout'}]}]),
     'hooks[0].do[0] matches none of the allowed kinds'),
    (dict(provider='vapi', sip_uri='sip:x@example.com'), 'sip_uri must look like'),
    (dict(provider='vapi', sip_uri='sip:front@sip.vapi.ai', number='+14155550100'), 'number is for provider=byo-phone-number'),
])
def test_refused_before_any_request(run_module, org, args, needle):
    if args.get('credential_id') == 'T':
        args['credential_id'] = org.trunk
    before = len(org.log)
    result = run(run_module, org, fails=True, **args)
    assert needle in result['msg'], result['msg']
    assert len(org.log) == before
