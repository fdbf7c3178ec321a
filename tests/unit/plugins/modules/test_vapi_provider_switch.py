# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every provider switch of an assistant's model, voice and transcriber the schema allows.

The providers come from the bundled Vapi schemas (the oneOf of CreateAssistantDTO), each as a
valid object with its required properties plus provider-specific optional ones, so that a switch
that kept the old provider's settings would be refused. The module's PATCH body is applied by
the emulator, which validates it per provider and replaces nested objects whole, like Vapi.
"""
from __future__ import absolute_import, division, print_function

import itertools

import pytest

import server as emulator_server  # tests/vapi_emulator/server.py

from ansible_collections.byom.telephony.plugins.modules import vapi_assistant

KEY = 'switch-key'
VALIDATOR = emulator_server.DtoValidator()
SCHEMAS = VALIDATOR.schemas
KINDS = ('model', 'voice', 'transcriber')


def _resolve(schema):
    while isinstance(schema, dict) and '$ref' in schema:
        schema = SCHEMAS[schema['$ref'].rsplit('/', 1)[-1]]
    if isinstance(schema, dict) and schema.get('allOf') and len(schema['allOf']) == 1 and 'properties' not in schema:
        return _resolve(schema['allOf'][0])
    return schema


def sample(schema, name=''):
    """A valid value for schema: required properties only for objects, the first enum value, ..."""
    schema = _resolve(schema)
    for combo in ('oneOf', 'anyOf'):
        if combo in schema:
            real = [b for b in schema[combo] if _resolve(b).get('type') != 'null' and _resolve(b).get('enum') != []]
            return sample(real[0], name)
    if [v for v in schema.get('enum', []) if v is not None]:
        return [v for v in schema['enum'] if v is not None][0]
    kind = schema.get('type')
    kind = [k for k in kind if k != 'null'][0] if isinstance(kind, list) else kind
    if kind == 'object' or 'properties' in schema:
        return dict((key, sample(schema['properties'][key], key)) for key in schema.get('required', []))
    if kind == 'array':
        return [sample(schema.get('items', {'type': 'string'}), name)]
    if kind == 'boolean':
        return True
    if kind in ('number', 'integer'):
        low = schema.get('minimum', 0)
        high = schema.get('maximum', low + 1)
        return low if kind == 'integer' else (low + high) / 2.0
    if name == 'url' or schema.get('format') == 'uri':
        return 'https://hooks.example.com/%s' % name
    return 'sample-%s' % name if name else 'sample'


def branches(kind):
    out = {}
    for ref in SCHEMAS['CreateAssistantDTO']['properties'][kind]['oneOf']:
        schema = _resolve(ref)
        provider = schema['properties']['provider']['enum'][0]
        value = sample(schema)
        # Up to two optional scalar settings only this provider's schema has: a switch that kept
        # them would be refused by the next provider ("property X should not exist").
        extras = [key for key, sub in sorted(schema['properties'].items())
                  if key not in value and _resolve(sub).get('type') in ('boolean', 'string', 'number')
                  and 'default' not in _resolve(sub)][:2]
        for key in extras:
            value[key] = sample(schema['properties'][key], key)
        out[provider] = value
    return out


PROVIDERS = dict((kind, branches(kind)) for kind in KINDS)
CASES = [(kind, old, new) for kind in KINDS for old, new in itertools.permutations(sorted(PROVIDERS[kind]), 2)]


def test_the_schema_offers_the_providers_we_expect():
    # A guard against a silently empty matrix: these counts come from the bundled schema.
    assert len(PROVIDERS['model']) >= 15 and 'openai' in PROVIDERS['model'] and 'vapi' in PROVIDERS['model']
    assert len(PROVIDERS['voice']) >= 15 and 'custom-voice' in PROVIDERS['voice']
    assert len(PROVIDERS['transcriber']) >= 10 and 'deepgram' in PROVIDERS['transcriber']
    for kind in KINDS:
        for provider, value in PROVIDERS[kind].items():
            assert VALIDATOR.errors('CreateAssistantDTO', {kind: value}) == [], (kind, provider)


@pytest.fixture(scope='module')
def emu():
    return emulator_server.Emulator(KEY, validator=VALIDATOR)


def params(kind, value):
    options = ('model', 'voice', 'transcriber', 'first_message', 'server', 'metadata', 'settings')
    base = dict((option, None) for option in options)
    base.update(name='switch', **{kind: value})
    return base


@pytest.mark.parametrize('kind, old, new', CASES, ids=['%s:%s->%s' % case for case in CASES])
def test_provider_switch(emu, kind, old, new):
    status, created = emu.handle('POST', '/assistant', {}, {'name': 'switch', kind: PROVIDERS[kind][old]})
    assert status == 201
    patch = vapi_assistant.patch_body(params(kind, PROVIDERS[kind][new]), created)
    assert patch == {kind: PROVIDERS[kind][new]}, 'the old provider leaked into the PATCH'
    status, updated = emu.handle('PATCH', '/assistant/' + created['id'], {}, patch)
    assert status == 200
    # Nested replace: nothing of the old provider is left, only the new one plus its defaults.
    stored = updated[kind]
    assert dict((k, v) for k, v in stored.items() if k in PROVIDERS[kind][new]) == PROVIDERS[kind][new]
    leaked = set(PROVIDERS[kind][old]) - set(PROVIDERS[kind][new]) - {'provider'}
    assert not leaked & set(stored) - set(VALIDATOR.defaults('CreateAssistantDTO', {kind: PROVIDERS[kind][new]})[kind])
    # And the next run sees no drift.
    assert vapi_assistant.patch_body(params(kind, PROVIDERS[kind][new]), updated) == {}
    emu.handle('DELETE', '/assistant/' + created['id'], {}, None)


def test_same_provider_keeps_settings_made_elsewhere(emu):
    held = {'provider': '11labs', 'voiceId': 'burt', 'stability': 0.4}
    status, created = emu.handle('POST', '/assistant', {}, {'name': 'keep', 'voice': held})
    patch = vapi_assistant.patch_body(params('voice', {'provider': '11labs', 'voiceId': 'sarah'}), created)
    assert patch['voice']['stability'] == 0.4 and patch['voice']['voiceId'] == 'sarah'
    assert emu.handle('PATCH', '/assistant/' + created['id'], {}, patch)[0] == 200


def test_emulator_refuses_the_old_provider_settings_under_the_new_one(emu):
    held = {'provider': '11labs', 'voiceId': 'burt', 'stability': 0.4}
    status, created = emu.handle('POST', '/assistant', {}, {'name': 'merge', 'voice': held})
    with pytest.raises(emulator_server.ApiError) as err:
        merged = {'provider': 'openai', 'voiceId': 'alloy', 'stability': 0.4}
        emu.handle('PATCH', '/assistant/' + created['id'], {}, {'voice': merged})
    assert err.value.status == 400 and 'voice.property stability should not exist' in err.value.body['message']
