#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vapi_webhook_credential
short_description: Manage a Vapi webhook credential (HMAC) that signs Vapi's server messages
version_added: 1.0.0
description:
  - Creates, updates or deletes a Vapi credential of provider C(webhook) with an HMAC
    authentication plan (C(CreateWebhookCredentialDTO), C(HMACAuthenticationPlan)). Reference its
    id as C(server.credentialId) on the org, phone numbers or assistants, and Vapi signs every
    server message with it; the C(byom.telephony.webhooks) role verifies the signature.
  - The credential is found by O(id), or else by O(name). Vapi does not enforce unique names, so
    when several webhook credentials share the name the module fails and lists their ids.
  - O(secret) is assumed write-only (like every credential secret in Vapi), so a change to it
    cannot be detected; see O(update_secret).
author:
  - byom.telephony maintainers (@byom-telephony)
extends_documentation_fragment:
  - byom.telephony.vapi
  - byom.telephony.vapi.actiongroup
  - byom.telephony.vapi.credential
attributes:
  diff_mode:
    description: Shows the credential before and after, the secret masked.
    support: full
  idempotent:
    description: A second run with the same options changes nothing (unless O(update_secret=always)).
    support: partial
options:
  secret:
    description:
      - The HMAC secret key (C(secretKey)), the same as the receiver's C(webhooks_secret).
        Required with O(state=present).
    type: str
  update_secret:
    description:
      - V(on_create) sends O(secret) only when the credential is created; V(always) sends it on
        every run (to rotate it), which always reports a change.
    type: str
    choices: [always, on_create]
    default: on_create
  algorithm:
    description:
      - HMAC algorithm. Vapi's schema gives no default, so it is always sent.
    type: str
    choices: [sha256, sha512, sha1]
    default: sha256
  signature_header:
    description: Header carrying the signature (Vapi's default C(x-signature)).
    type: str
  timestamp_header:
    description: Header carrying the timestamp (Vapi's default C(x-timestamp)).
    type: str
  payload_format:
    description: Signed payload (Vapi's default C({timestamp}.{body})).
    type: str
  signature_encoding:
    description: Encoding of the signature (Vapi's default V(hex)).
    type: str
    choices: [hex, base64]
'''

EXAMPLES = r'''
- name: The credential Vapi signs webhooks with
  byom.telephony.vapi_webhook_credential:
    name: byom-webhooks
    secret: "{{ vault_webhooks_hmac_secret }}"
  register: webhook_credential

- name: Point a phone number's server messages at the receiver
  byom.telephony.vapi_phone_number:
    number: "+15550100001"
    credential_name: asterisk-edge
    server:
      url: https://hooks.example.com/vapi/webhook
      credential_id: "{{ webhook_credential.id }}"
'''

RETURN = r'''
id:
  description: Id of the credential; V(null) when it was deleted, or would be created in check mode.
  returned: always
  type: str
  sample: 3fa85f64-5717-4562-b3fc-2c963f66afa6
credential:
  description: The credential as Vapi holds it afterwards (as predicted in check mode), the secret masked.
  returned: always
  type: dict
  sample:
    id: 3fa85f64-5717-4562-b3fc-2c963f66afa6
    provider: webhook
    name: byom-webhooks
    authenticationPlan:
      type: hmac
      algorithm: sha256
'''

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.byom.telephony.plugins.module_utils.vapi import (
    VapiClient, VapiError, check_name, check_uuid, diff_view, ensure, fail_api, find_unique, get_by_id, mask_secrets, remove,
    vapi_argument_spec,
)

PATH = '/credential'
PROVIDER = 'webhook'
PLAN_KEYS = (('algorithm', 'algorithm'), ('signature_header', 'signatureHeader'), ('timestamp_header', 'timestampHeader'),
             ('payload_format', 'payloadFormat'), ('signature_encoding', 'signatureEncoding'))


def desired_plan(params, with_secret):
    plan = {'type': 'hmac'}
    for snake, camel in PLAN_KEYS:
        if params[snake] is not None:
            plan[camel] = params[snake]
    if with_secret:
        plan['secretKey'] = params['secret']
    return plan


def patch_body(params, existing):
    patch = {}
    if params['name'] is not None and existing.get('name') != params['name']:
        patch['name'] = params['name']
    current = dict(existing.get('authenticationPlan') or {})
    current.pop('secretKey', None)
    differs = any(current.get(k) != v for k, v in desired_plan(params, False).items())
    if differs or params['update_secret'] == 'always':
        # A nested object is replaced as a whole by a PATCH: send all of it, the secret included.
        plan = dict(current)
        plan.update(desired_plan(params, True))
        patch['authenticationPlan'] = plan
    return patch


def public(resource):
    plan = resource.get('authenticationPlan')
    if isinstance(plan, dict):
        plan.pop('secretKey', None)
    return resource


def view(resource):
    # secretKey does not look like a secret to the shared masking (it ends in "Key"): drop it.
    return diff_view(public(copy.deepcopy(resource)))


def find_by_name(module, client):
    name = module.params['name']
    return find_unique(module, client.list(PATH), 'webhook credential', 'name %r' % name,
                       lambda c: c.get('provider') == PROVIDER and c.get('name') == name)


def lookup(module, client):
    p = module.params
    if p['id']:
        return get_by_id(module, client, PATH, 'credential', PROVIDER, 'credential')
    return find_by_name(module, client)


def main():
    argument_spec = vapi_argument_spec()
    argument_spec.update(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        name=dict(type='str'),
        id=dict(type='str'),
        secret=dict(type='str', no_log=True),
        update_secret=dict(type='str', default='on_create', choices=['always', 'on_create'], no_log=False),
        algorithm=dict(type='str', default='sha256', choices=['sha256', 'sha512', 'sha1']),
        signature_header=dict(type='str'),
        timestamp_header=dict(type='str'),
        payload_format=dict(type='str'),
        signature_encoding=dict(type='str', choices=['hex', 'base64']),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[('name', 'id')],
        required_if=[('state', 'present', ('name', 'secret'))],
        supports_check_mode=True,
    )
    p = module.params
    check_uuid(module, 'id', p['id'])
    check_name(module, 'name', p['name'])
    if p['state'] == 'present' and len(p['secret']) < 16:
        module.fail_json(msg='secret must be at least 16 characters')
    if p['payload_format'] is not None and '{body}' not in p['payload_format']:
        module.fail_json(msg='payload_format must contain {body}, got %r' % p['payload_format'])
    client = VapiClient(module)
    result = dict(changed=False, id=None, credential={})
    try:
        existing = lookup(module, client)
        if p['state'] == 'absent':
            changed, diff = remove(module, client, PATH, existing, view=view)
            result.update(changed=changed)
        else:
            create = {'provider': PROVIDER, 'name': p['name'], 'authenticationPlan': desired_plan(p, True)} if existing is None else None
            changed, resource, diff = ensure(
                module, client, PATH, existing, create,
                patch_body(p, existing) if existing is not None else None,
                lambda: find_by_name(module, client), view=view, public=lambda r: public(copy.deepcopy(r)))
            result.update(changed=changed, id=resource.get('id'), credential=mask_secrets(public(copy.deepcopy(resource))))
    except VapiError as err:
        fail_api(module, err, **result)
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
