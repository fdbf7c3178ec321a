#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vapi_assistant
short_description: Manage a Vapi assistant
version_added: 1.0.0
description:
  - Creates, updates or deletes a Vapi assistant (the AI agent that answers calls).
  - The assistant is found by O(id), or else by O(name). Vapi does not enforce unique names, so
    when several assistants share the name the module fails and lists their ids unless O(id) is set.
  - Only what you set is compared, key by key inside O(model), O(voice), O(transcriber),
    O(server) and O(metadata); defaults the server fills in never count as drift. Lists (for
    example the C(messages) of O(model)) are compared whole.
  - An update sends only the top-level properties that differ. Vapi replaces a nested object
    (O(model), O(voice), O(transcriber), ...) as a whole on PATCH, so the module sends whole objects;
    when the C(provider) (or C(type)) stays the same, what you declared laid over what Vapi holds
    (settings made elsewhere, for example in the dashboard, are kept); when it changes, exactly
    what you declared (the old provider's settings would be refused by the new one).
  - Everything is validated against Vapi's own C(CreateAssistantDTO) schema (bundled with the
    collection) before any request. Unknown properties (per provider inside O(model), O(voice) and
    O(transcriber)), missing required ones, wrong types, enum values and ranges fail early, naming the field.
author:
  - byom.telephony maintainers (@byom-telephony)
extends_documentation_fragment:
  - byom.telephony.vapi
  - byom.telephony.vapi.actiongroup
attributes:
  check_mode:
    description: Predicts the change without calling any mutating endpoint.
    support: full
  diff_mode:
    description: Shows the assistant before and after, secrets masked.
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
options:
  state:
    description:
      - V(present) creates or updates the assistant, V(absent) deletes it.
      - Vapi refuses to delete a pinned assistant (HTTP 409 C(assistant_pinned)); the module then fails saying so.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - Name of the assistant, 1 to 40 characters. Required to create one.
    type: str
  id:
    description:
      - Id (UUID) of an existing assistant. Takes precedence over O(name) for the lookup.
    type: str
  model:
    description:
      - The language model, with Vapi's own keys (camelCase), for example C(provider), C(model),
        C(messages) (the system prompt is a message with C(role=system)), C(temperature) (0 to 2),
        C(maxTokens). Passed to Vapi as given.
    type: dict
  voice:
    description:
      - The voice, with Vapi's own keys, for example C(provider) and C(voiceId).
    type: dict
  transcriber:
    description:
      - The speech-to-text settings, with Vapi's own keys, for example C(provider), C(model), C(language).
    type: dict
  first_message:
    description:
      - What the assistant says first (C(firstMessage)).
    type: str
  server:
    description:
      - Where Vapi sends this assistant's webhooks (Vapi's C(server) object).
    type: dict
    suboptions:
      url:
        description: The webhook URL.
        type: str
        required: true
      secret:
        description:
          - Shared secret Vapi sends to the webhook in the C(X-Vapi-Secret) header. Never returned by the module.
        type: str
      headers:
        description: Further HTTP headers Vapi sends to the webhook; secret-looking values are masked in output.
        type: dict
      timeout_seconds:
        description: Seconds Vapi waits for the webhook, 1 to 300.
        type: int
      credential_id:
        description: Id of a Vapi credential used to authenticate to the webhook.
        type: str
      backoff_plan:
        description:
          - How Vapi retries the webhook (Vapi's C(BackoffPlan), camelCase keys, for example
            C(type=exponential), C(maxRetries), C(baseDelaySeconds)).
        type: dict
      static_ip_addresses_enabled:
        description: Whether Vapi calls the webhook from its static IP addresses.
        type: bool
  metadata:
    description:
      - Free-form metadata stored on the assistant. Only the keys given are compared and updated.
    type: dict
  identity:
    description:
      - A stable identity kept in the assistant's C(metadata.byomIdentity). The assistant is then
        found by it before O(name), so a rename in the dashboard does not create a second assistant;
        the module finds it and renames it back (with a warning saying so).
      - The C(byom.telephony.vapi) role sets it to the assistant's name in the inventory.
    type: str
  return_listing:
    description:
      - Also return RV(listing), the whole assistant collection after this task's change, from the list
        the lookup read already (listed only when the lookup did not, for example with O(id)).
      - Saves a separate M(byom.telephony.vapi_info) call, for example for a prune report.
    type: bool
    default: false
  settings:
    description:
      - Any other property of Vapi's C(CreateAssistantDTO), with Vapi's own camelCase keys, passed
        through as given, for example C(serverMessages), C(clientMessages), C(voicemailDetection),
        C(endCallPhrases), C(endCallMessage), C(maxDurationSeconds), C(startSpeakingPlan),
        C(analysisPlan) or C(server) with C(credentialId), C(timeoutSeconds) and C(backoffPlan).
      - A key may not repeat a dedicated option (O(name), O(model), O(voice), O(transcriber),
        O(first_message), O(server), O(metadata)).
      - Compared like the dedicated options (dicts key by key, lists whole); V(null) clears a property.
    type: dict
'''

EXAMPLES = r'''
- name: An inbound receptionist
  byom.telephony.vapi_assistant:
    name: receptionist
    first_message: Hello, how can I help you?
    model:
      provider: openai
      model: gpt-4o
      temperature: 0.3
      maxTokens: 300
      messages:
        - role: system
          content: You are the receptionist of Example Ltd. Be brief.
    voice:
      provider: 11labs
      voiceId: burt
    transcriber:
      provider: deepgram
      model: nova-3
      language: en
    server:
      url: https://hooks.example.com/vapi
      secret: "{{ vault_vapi_webhook_secret }}"
    metadata:
      managed_by: ansible
  delegate_to: localhost
  register: telephony_vapi_assistant

- name: Remove it
  byom.telephony.vapi_assistant:
    name: receptionist
    state: absent
'''

RETURN = r'''
id:
  description: Id of the assistant; V(null) when it was deleted, or would be created in check mode.
  returned: always
  type: str
  sample: 1b4e28ba-2fa1-41d2-883f-0016d3cca427
assistant:
  description:
    - The assistant as Vapi holds it afterwards (as predicted in check mode), secrets masked.
    - Empty after O(state=absent).
  returned: always
  type: dict
  sample:
    id: 1b4e28ba-2fa1-41d2-883f-0016d3cca427
    name: receptionist
    firstMessage: Hello, how can I help you?
    model:
      provider: openai
      model: gpt-4o
    server:
      url: https://hooks.example.com/vapi
      headers:
        X-Vapi-Secret: "********"
listing:
  description:
    - Every assistant of the organisation after this task's change (as predicted in check mode), secrets masked.
  returned: when O(return_listing=true)
  type: list
  elements: dict
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.byom.telephony.plugins.module_utils.vapi import (
    VapiClient, VapiError, check_name, check_range, check_server, check_uuid, ensure,
    fail_api, find_unique, get_by_id, is_subset, listing_after, mask_secrets, nested_patch, remove, server_argument_spec,
    server_body,
    vapi_argument_spec,
)
from ansible_collections.byom.telephony.plugins.module_utils.vapi_dto import errors as dto_errors

PATH = '/assistant'
MESSAGE_ROLES = ('assistant', 'function', 'user', 'system', 'tool')


def validate(module):
    p = module.params
    check_uuid(module, 'id', p['id'])
    check_name(module, 'name', p['name'])
    model = p['model']
    if model is not None:
        for key, low, high in (('temperature', 0, 2), ('maxTokens', 50, 10000)):
            value = model.get(key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                module.fail_json(msg='model.%s must be a number, got %r' % (key, value))
            check_range(module, 'model.%s' % key, value, low, high)
        messages = model.get('messages')
        if messages is not None:
            if not isinstance(messages, list):
                module.fail_json(msg='model.messages must be a list, got %r' % (messages,))
            for index, message in enumerate(messages):
                if not isinstance(message, dict) or message.get('role') not in MESSAGE_ROLES:
                    module.fail_json(msg='model.messages[%d].role must be one of %s, got %r'
                                     % (index, ', '.join(MESSAGE_ROLES), message.get('role') if isinstance(message, dict) else message))
                if not isinstance(message.get('content'), str):
                    module.fail_json(msg='model.messages[%d].content must be a string, got %r' % (index, message.get('content')))
    for option in ('model', 'voice', 'transcriber'):
        value = p[option]
        if value is not None and not value.get('provider'):
            module.fail_json(msg='%s.provider is required when %s is set (got %s=%r)' % (option, option, option, value))
    check_server(module, 'server', p['server'])
    clash = sorted(set(p['settings'] or {}) & set(DEDICATED))
    if clash:
        module.fail_json(msg='settings.%s: use the option %s instead (one place per property)'
                         % (clash[0], DEDICATED[clash[0]]))
    problems = dto_errors('CreateAssistantDTO', desired(p))
    if problems:
        module.fail_json(msg='%s (checked against Vapi\'s CreateAssistantDTO before any request)' % '; '.join(problems))


DEDICATED = {'name': 'name', 'model': 'model', 'voice': 'voice', 'transcriber': 'transcriber',
             'firstMessage': 'first_message', 'server': 'server', 'metadata': 'metadata'}


def desired(params):
    out = dict(params.get('settings') or {})
    for option, key in (('name', 'name'), ('model', 'model'), ('voice', 'voice'), ('transcriber', 'transcriber'),
                        ('first_message', 'firstMessage'), ('metadata', 'metadata')):
        if params[option] is not None:
            out[key] = params[option]
    if params['server'] is not None:
        out['server'] = server_body(params['server'])
    if params.get('identity'):
        out['metadata'] = dict(out.get('metadata') or {}, **{IDENTITY_KEY: params['identity']})
    return out


def patch_body(params, existing):
    """Top-level properties that differ, each a whole object (Vapi replaces nested objects)."""
    patch = {}
    for key, value in desired(params).items():
        current = existing.get(key)
        if is_subset(value, current):
            continue
        patch[key] = nested_patch(current, value)
    return patch


IDENTITY_KEY = 'byomIdentity'


def find_by_name(module, client):
    """By identity (metadata tag) first, then by name; one list call."""
    p = module.params
    items = client.list(PATH)
    if p.get('identity'):
        tagged = find_unique(module, items, 'assistant', 'identity %r' % p['identity'],
                             lambda a: isinstance(a.get('metadata'), dict) and a['metadata'].get(IDENTITY_KEY) == p['identity'])
        if tagged is not None:
            if p['name'] is not None and tagged.get('name') != p['name'] and p['state'] == 'present':
                module.warn('assistant %s (identity %r) is named %r in Vapi (renamed in the dashboard?): renamed back to %r'
                            % (tagged.get('id'), p['identity'], tagged.get('name'), p['name']))
            return tagged
    name = p['name']
    return find_unique(module, items, 'assistant', 'name %r' % name, lambda a: a.get('name') == name)


def lookup(module, client):
    p = module.params
    if p['id']:
        return get_by_id(module, client, PATH, 'assistant')
    return find_by_name(module, client)


def main():
    argument_spec = vapi_argument_spec()
    argument_spec.update(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        name=dict(type='str'),
        id=dict(type='str'),
        model=dict(type='dict'),
        voice=dict(type='dict'),
        transcriber=dict(type='dict'),
        first_message=dict(type='str'),
        server=server_argument_spec(),
        metadata=dict(type='dict'),
        settings=dict(type='dict'),
        identity=dict(type='str'),
        return_listing=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[('name', 'id')],
        supports_check_mode=True,
    )
    validate(module)
    client = VapiClient(module)
    result = dict(changed=False, id=None, assistant={})
    try:
        existing = lookup(module, client)
        if module.params['state'] == 'absent':
            try:
                changed, diff = remove(module, client, PATH, existing)
            except VapiError as err:
                if err.status == 409:
                    module.fail_json(msg='Vapi refuses to delete assistant %s (%s): it is pinned '
                                         '(assistant_pinned); unpin it in Vapi first. %s'
                                     % (existing.get('name'), existing.get('id'), err.message), status=409, **result)
                raise
            result.update(changed=changed)
            after = None
        else:
            if existing is None and module.params['name'] is None:
                module.fail_json(msg='name is required to create an assistant')
            changed, resource, diff = ensure(
                module, client, PATH, existing,
                desired(module.params) if existing is None else None,
                patch_body(module.params, existing) if existing is not None else None,
                lambda: find_by_name(module, client))
            result.update(changed=changed, id=resource.get('id'), assistant=mask_secrets(resource))
            after = resource
        if module.params['return_listing']:
            result['listing'] = listing_after(client, PATH, existing, after)
    except VapiError as err:
        fail_api(module, err, **result)
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
