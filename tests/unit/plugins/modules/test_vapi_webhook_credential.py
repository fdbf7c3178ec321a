# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vapi_webhook_credential with every HTTP call scripted (CreateWebhookCredentialDTO shape)."""
from __future__ import absolute_import, division, print_function

import copy
import json

import pytest
import responses

from ansible_collections.byom.telephony.plugins.modules import vapi_webhook_credential as mod

API = 'https://api.vapi.ai'
CID = '3fa85f64-5717-4562-b3fc-2c963f66afa6'
SECRET = 'hmac-secret-unit-0123456789'
EXISTING = {'id': CID, 'orgId': 'org-1', 'createdAt': '2026-01-01T00:00:00.000Z', 'updatedAt': '2026-01-01T00:00:00.000Z',
            'provider': 'webhook', 'name': 'hooks', 'authenticationPlan': {'type': 'hmac', 'algorithm': 'sha256'}}
TRUNK = {'id': 'c0ffee00-0000-4000-8000-000000000001', 'provider': 'byo-sip-trunk', 'name': 'hooks'}
ARGS = dict(name='hooks', secret=SECRET)


def no_secret(result):
    assert SECRET not in json.dumps(result)


@pytest.mark.parametrize('check', [False, True])
def test_create(api, run_module, sent, check):
    api.add(responses.GET, API + '/credential', json=[TRUNK])
    if not check:
        api.add(responses.POST, API + '/credential', status=201, json=EXISTING)
    result = run_module(mod.main, ARGS, check=check, diff=True)
    assert result['changed'] is True
    no_secret(result)
    if check:
        assert [c[0] for c in sent(api)] == ['GET'] and result['id'] is None
    else:
        assert sent(api, 'POST')[0][2] == {'provider': 'webhook', 'name': 'hooks',
                                           'authenticationPlan': {'type': 'hmac', 'algorithm': 'sha256', 'secretKey': SECRET}}
        assert result['id'] == CID


def test_idempotent(api, run_module, sent):
    api.add(responses.GET, API + '/credential', json=[TRUNK, EXISTING])
    result = run_module(mod.main, ARGS)
    assert result['changed'] is False and result['id'] == CID
    assert [c[0] for c in sent(api)] == ['GET']


def test_change_and_rotate_send_the_whole_plan(api, run_module, sent):
    api.add(responses.GET, API + '/credential', json=[EXISTING])
    api.add(responses.PATCH, API + '/credential/' + CID, json=EXISTING)
    result = run_module(mod.main, dict(ARGS, signature_header='x-vapi-signature'), diff=True)
    assert result['changed'] is True
    no_secret(result)
    assert sent(api, 'PATCH')[0][2] == {'authenticationPlan': {'type': 'hmac', 'algorithm': 'sha256',
                                                               'signatureHeader': 'x-vapi-signature', 'secretKey': SECRET}}
    api.add(responses.GET, API + '/credential', json=[EXISTING])
    api.add(responses.PATCH, API + '/credential/' + CID, json=EXISTING)
    result = run_module(mod.main, dict(ARGS, update_secret='always'))
    assert result['changed'] is True
    assert sent(api, 'PATCH')[-1][2]['authenticationPlan']['secretKey'] == SECRET


def test_absent(api, run_module, sent):
    api.add(responses.GET, API + '/credential', json=[copy.deepcopy(EXISTING)])
    api.add(responses.DELETE, API + '/credential/' + CID, json=EXISTING)
    result = run_module(mod.main, dict(name='hooks', state='absent'))
    assert result['changed'] is True
    assert [c[0] for c in sent(api)] == ['GET', 'DELETE']


def test_bad_input_fails_before_any_call(api, run_module):
    for args, text in ((dict(name='hooks', secret='short'), 'secret'),
                       (dict(ARGS, payload_format='{timestamp}'), 'payload_format'),
                       (dict(ARGS, id='not-a-uuid'), 'id')):
        with pytest.raises(Exception) as err:
            run_module(mod.main, args)
        assert text in str(err.value)
