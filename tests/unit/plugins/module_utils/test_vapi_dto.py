# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""vapi_dto on its own: the schemas the modules carry are the emulator's (one source,
tests/vapi_emulator/schemas.json), and the validator names what Vapi would refuse."""
from __future__ import absolute_import, division, print_function

import json
import os

import pytest

from ansible_collections.byom.telephony.plugins.module_utils import vapi_dto

from byom_testlib import ROOT

GATEWAY = {'ip': '203.0.113.10', 'port': 5060, 'netmask': 32, 'outboundProtocol': 'udp'}
TRUNK = {'provider': 'byo-sip-trunk', 'name': 'edge', 'gateways': [GATEWAY]}


def test_the_embedded_schemas_are_the_emulators():
    """Regenerating one without the other (tests/vapi_emulator/extract_schemas.py writes both) fails here."""
    with open(os.path.join(ROOT, 'tests', 'vapi_emulator', 'schemas.json')) as handle:
        assert vapi_dto.schemas() == json.load(handle)['components']['schemas']


def test_a_valid_body_has_no_errors_and_null_detaches_an_optional_property():
    assert vapi_dto.errors('CreateByoSipTrunkCredentialDTO', TRUNK) == []
    assert vapi_dto.errors('UpdateByoSipTrunkCredentialDTO', {'techPrefix': None}) == []


@pytest.mark.parametrize('body, message', [
    (dict(TRUNK, colour='red'), 'colour is not a property Vapi accepts here (allowed: gateways, name, '),
    ({'name': 'edge'}, 'gateways is required'),
    (dict(TRUNK, gateways=None), 'gateways is required'),
    (dict(TRUNK, name='x' * 41), 'name must be at most 40 characters, got 41'),
    (dict(TRUNK, name=''), 'name must be at least 1 characters, got 0'),
    (dict(TRUNK, outboundLeadingPlusEnabled='yes'), "outboundLeadingPlusEnabled must be of type boolean, got 'yes'"),
    (dict(TRUNK, gateways=[dict(GATEWAY, netmask=16)]), 'gateways[0].netmask must be at least 24, got 16'),
    (dict(TRUNK, gateways=[GATEWAY, dict(GATEWAY, port=70000)]), 'gateways[1].port must be at most 65535, got 70000'),
    (dict(TRUNK, gateways=[dict(GATEWAY, outboundProtocol='sctp')]),
     "gateways[0].outboundProtocol must be one of tls/srtp, tcp, tls, udp, got 'sctp'"),
    (dict(TRUNK, gateways=[{'port': 5060}]), 'gateways[0].ip is required'),
    (dict(TRUNK, gateways=[dict(GATEWAY, port=True)]), 'gateways[0].port must be of type number, got True'),
])
def test_each_refusal_names_the_property(body, message):
    found = vapi_dto.errors('CreateByoSipTrunkCredentialDTO', body)
    assert len(found) == 1 and found[0].startswith(message), found


def test_a_provider_picks_its_own_branch_of_a_one_of():
    assistant = {'name': 'r', 'model': {'provider': 'openai', 'model': 'gpt-4o'}}
    assert vapi_dto.errors('CreateAssistantDTO', assistant) == []
    unknown = vapi_dto.errors('CreateAssistantDTO', dict(assistant, model={'provider': 'no-such-llm', 'model': 'x'}))
    assert len(unknown) == 1 and unknown[0].startswith('model matches none of the allowed kinds (provider or type one of: ')
    assert 'openai' in vapi_dto.discriminator_values(vapi_dto.property_schema('CreateAssistantDTO', 'model'))
