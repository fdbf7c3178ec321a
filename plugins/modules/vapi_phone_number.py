#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vapi_phone_number
short_description: Manage a Vapi "bring your own" phone number or SIP URI number
version_added: 1.0.0
description:
  - Creates, updates or deletes a Vapi phone number of provider C(byo-phone-number), that is a DID of your
    carrier that reaches Vapi over your own SIP trunk (see M(byom.telephony.vapi_sip_trunk)).
  - With O(provider=vapi) it manages a Vapi SIP URI number instead (O(sip_uri), for example
    C(sip:front-desk@sip.vapi.ai)), something your SIP server can dial without any PSTN DID.
  - The number is found by O(id), or else by O(number) (by O(sip_uri) for O(provider=vapi)). When
    several Vapi numbers carry the same number the module fails and lists their ids unless O(id) is set.
  - The whole body is validated against Vapi's own phone number DTO (bundled) before any request.
    Unknown keys in O(fallback_destination) or O(hooks), numbers shorter than 3 characters,
    white space (a trailing newline from a file) in ids and numbers are refused, naming the field.
  - The trunk and the assistant are given by id or by name; names are resolved with one list call each.
  - Only what you set is compared; O(server) and O(fallback_destination) key by key.
author:
  - byom.telephony maintainers (@byom-telephony)
extends_documentation_fragment:
  - byom.telephony.vapi
  - byom.telephony.vapi.actiongroup
attributes:
  check_mode:
    description:
      - Predicts the change without calling any mutating endpoint.
      - A trunk or assistant given by name that does not exist yet (because an earlier task only
        predicted its creation) is shown as C(unknown (check mode)) with a warning.
    support: full
  diff_mode:
    description: Shows the phone number before and after, secrets masked.
    support: full
  idempotent:
    description: A second run with the same options changes nothing.
    support: full
options:
  state:
    description:
      - V(present) creates or updates the phone number, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  provider:
    description:
      - V(byo-phone-number) is a DID of your carrier reaching Vapi over your own trunk (O(credential_id) or
        O(credential_name) required); V(vapi) is a Vapi SIP URI number (O(sip_uri) required, no trunk).
    type: str
    choices: [byo-phone-number, vapi]
    default: byo-phone-number
  sip_uri:
    description:
      - The SIP URI of a O(provider=vapi) number, C(sip:<user>@sip.vapi.ai) (C(sip.eu.vapi.ai) in the EU).
    type: str
  sip_authentication:
    description:
      - Digest credentials Vapi demands on INVITEs to a O(provider=vapi) number (without them any
        credentials are accepted). The password is write-only in Vapi, sent on create and whenever
        O(sip_authentication.username) or O(sip_authentication.realm) change.
    type: dict
    suboptions:
      username:
        description: 20 to 40 characters.
        type: str
        required: true
      password:
        description: 20 to 40 characters.
        type: str
        required: true
      realm:
        description: The digest realm.
        type: str
  squad_id:
    description:
      - Id of the squad that answers calls to the number (instead of an assistant).
    type: str
  workflow_id:
    description:
      - Id of the workflow that answers calls to the number (instead of an assistant).
    type: str
  detach:
    description:
      - V(true) routes the number to no assistant, squad or workflow (sends C(null) for each); Vapi then
        asks the server URL (C(assistant-request)). Excludes O(assistant_id), O(assistant_name), O(squad_id)
        and O(workflow_id).
    type: bool
    default: false
  hooks:
    description:
      - Vapi's phone number C(hooks) (C(call.ringing), C(call.ending)), with Vapi's own keys; compared
        and replaced as a whole list.
    type: list
    elements: dict
  number:
    description:
      - The phone number, in E.164 (C(+14155550100)) unless O(number_e164_check_enabled=false)
        (then letters and digits with an optional leading C(+)). Required with O(state=present).
      - It must be exactly the number your SIP server sends to Vapi, or inbound calls are not routed.
    type: str
  id:
    description:
      - Id (UUID) of an existing phone number. Takes precedence over O(number) for the lookup.
    type: str
  name:
    description:
      - Name of the phone number, at most 40 characters.
    type: str
  credential_id:
    description:
      - Id of the C(byo-sip-trunk) credential the number belongs to. One of O(credential_id) or
        O(credential_name) is required with O(state=present).
    type: str
  credential_name:
    description:
      - Name of the C(byo-sip-trunk) credential the number belongs to (must match exactly one).
    type: str
  assistant_id:
    description:
      - Id of the assistant that answers calls to the number.
    type: str
  assistant_name:
    description:
      - Name of the assistant that answers calls to the number (must match exactly one).
    type: str
  number_e164_check_enabled:
    description:
      - Whether Vapi insists on E.164 for O(number). Vapi's default is V(true).
    type: bool
  server:
    description:
      - Where Vapi sends this number's webhooks (Vapi's C(server) object); the assistant's own server takes precedence.
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
  fallback_destination:
    description:
      - Where a call goes when no assistant answers it, with Vapi's own keys, for example
        C(type=number) with C(number=+14155550199), or C(type=sip) with C(sipUri=sip:desk@pbx.example.com).
      - Replaced as a whole when it differs. Only Vapi's keys for the type are accepted.
    type: dict
  return_listing:
    description:
      - Also return RV(listing), the whole phone number collection after this task's change, from the list
        the lookup read already (listed only when the lookup did not, for example with O(id)).
      - Saves a separate M(byom.telephony.vapi_info) call, for example for a prune report.
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Route a DID to the receptionist over the Asterisk trunk
  byom.telephony.vapi_phone_number:
    number: "+14155550100"
    name: main line
    credential_name: asterisk-edge
    assistant_name: receptionist
    fallback_destination:
      type: number
      number: "+14155550199"
  delegate_to: localhost

- name: Release the number in Vapi
  byom.telephony.vapi_phone_number:
    number: "+14155550100"
    state: absent
'''

RETURN = r'''
id:
  description: Id of the phone number; V(null) when it was deleted, or would be created in check mode.
  returned: always
  type: str
  sample: 6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b
phone_number:
  description:
    - The phone number as Vapi holds it afterwards (as predicted in check mode), secrets masked.
    - Empty after O(state=absent).
  returned: always
  type: dict
  sample:
    id: 6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b
    provider: byo-phone-number
    number: "+14155550100"
    name: main line
    credentialId: 3fa85f64-5717-4562-b3fc-2c963f66afa6
    assistantId: 1b4e28ba-2fa1-41d2-883f-0016d3cca427
    status: active
listing:
  description:
    - Every phone number (of every provider) of the organisation after this task's change (as predicted in check mode), secrets masked.
  returned: when O(return_listing=true)
  type: list
  elements: dict
'''

import re

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.byom.telephony.plugins.module_utils.vapi import (
    VapiClient, VapiError, check_e164, check_name, check_server, check_uuid, deep_merge, ensure,
    fail_api, find_unique, get_by_id, is_subset, listing_after, mask_secrets, remove, server_argument_spec, server_body,
    vapi_argument_spec,
)
from ansible_collections.byom.telephony.plugins.module_utils.vapi_dto import errors as dto_errors

PATH = '/phone-number'
PROVIDER = 'byo-phone-number'
UNKNOWN = 'unknown (check mode)'
DTO = {'byo-phone-number': 'CreateByoPhoneNumberDTO', 'vapi': 'CreateVapiPhoneNumberDTO'}
VAPI_SIP_URI_RE = re.compile(r'^sip:[A-Za-z0-9._~-]+@sip(\.eu)?\.vapi\.ai\Z')


def validate(module):
    p = module.params
    for field in ('id', 'credential_id', 'assistant_id', 'squad_id', 'workflow_id'):
        check_uuid(module, field, p[field])
    for field in ('number', 'sip_uri', 'name', 'credential_name', 'assistant_name'):
        value = p[field]
        if value is not None and value != value.strip():
            module.fail_json(msg='%s has leading or trailing white space (a newline from a file?): %r' % (field, value))
    if p['number'] is not None and len(re.sub(r'[^0-9A-Za-z]', '', p['number'])) < 3:
        module.fail_json(msg='number must have at least 3 digits (Vapi refuses shorter numbers), got %r' % p['number'])
    if p['provider'] == 'vapi':
        if p['state'] == 'present' and not p['sip_uri'] and not p['id']:
            module.fail_json(msg='sip_uri is required with provider=vapi')
        if p['sip_uri'] is not None and not VAPI_SIP_URI_RE.match(p['sip_uri']):
            module.fail_json(msg='sip_uri must look like sip:<user>@sip.vapi.ai (or sip.eu.vapi.ai), got %r' % p['sip_uri'])
        for field in ('number', 'credential_id', 'credential_name', 'number_e164_check_enabled'):
            if p[field] is not None:
                module.fail_json(msg='%s is for provider=byo-phone-number, not provider=vapi' % field)
    else:
        for field in ('sip_uri', 'sip_authentication'):
            if p[field] is not None:
                module.fail_json(msg='%s is for provider=vapi, not provider=byo-phone-number' % field)
        if p['state'] == 'present' and not p['number'] and not p['id']:
            module.fail_json(msg='number is required with provider=byo-phone-number')
        if p['state'] == 'present' and not (p['credential_id'] or p['credential_name']):
            module.fail_json(msg='one of credential_id or credential_name is required with provider=byo-phone-number')
    check_name(module, 'credential_name', p['credential_name'])
    check_name(module, 'assistant_name', p['assistant_name'])
    if p['name'] is not None and len(p['name']) > 40:
        module.fail_json(msg='name must be at most 40 characters, got %r (%d characters)' % (p['name'], len(p['name'])))
    check_e164(module, 'number', p['number'], strict=p['number_e164_check_enabled'] is not False)
    check_server(module, 'server', p['server'])
    fallback = p['fallback_destination']
    if fallback is not None:
        kind = fallback.get('type')
        if kind == 'number':
            if not fallback.get('number'):
                module.fail_json(msg='fallback_destination.number is required when fallback_destination.type is number')
            check_e164(module, 'fallback_destination.number', fallback['number'],
                       strict=fallback.get('numberE164CheckEnabled', True) is not False)
        elif kind == 'sip':
            if not str(fallback.get('sipUri') or '').startswith(('sip:', 'sips:')):
                module.fail_json(msg='fallback_destination.sipUri must be a sip: URI when fallback_destination.type '
                                     'is sip, got %r' % fallback.get('sipUri'))
        else:
            module.fail_json(msg='fallback_destination.type must be one of number, sip, got %r' % kind)
    if p['state'] == 'present':
        body = dict((k, v) for k, v in desired_static(p).items() if v != UNKNOWN)
        body['provider'] = p['provider']
        if p['provider'] == PROVIDER:
            body.setdefault('credentialId', 'checked-later')
        problems = dto_errors(DTO[p['provider']], body)
        if problems:
            module.fail_json(msg='%s (checked against Vapi\'s %s before any request)' % ('; '.join(problems), DTO[p['provider']]))


def resolve(module, client, kind_path, label, name, predicate):
    found = find_unique(module, client.list(kind_path), label, 'name %r' % name, predicate)
    if found is not None:
        return found['id']
    if module.check_mode:
        module.warn('%s %r does not exist (yet); in check mode its id is shown as %r' % (label, name, UNKNOWN))
        return UNKNOWN
    module.fail_json(msg='no Vapi %s named %r' % (label, name))
    return None


def desired_static(p):
    """What the user declared, without name resolution (ids given by name come later)."""
    out = {}
    for option, key in (('number', 'number'), ('sip_uri', 'sipUri'), ('name', 'name'), ('credential_id', 'credentialId'),
                        ('assistant_id', 'assistantId'), ('squad_id', 'squadId'), ('workflow_id', 'workflowId'),
                        ('number_e164_check_enabled', 'numberE164CheckEnabled'), ('hooks', 'hooks'),
                        ('fallback_destination', 'fallbackDestination')):
        if p[option] is not None:
            out[key] = p[option]
    if p['server'] is not None:
        out['server'] = server_body(p['server'])
    if p['sip_authentication'] is not None:
        out['authentication'] = dict((k, v) for k, v in p['sip_authentication'].items() if v is not None)
    if p['detach']:
        out.update(assistantId=None, squadId=None, workflowId=None)
    return out


def desired(module, client):
    p = module.params
    out = desired_static(p)
    if p['credential_id']:
        out['credentialId'] = p['credential_id']
    elif p['credential_name']:
        out['credentialId'] = resolve(module, client, '/credential', 'SIP trunk credential', p['credential_name'],
                                      lambda c: c.get('provider') == 'byo-sip-trunk' and c.get('name') == p['credential_name'])
    if p['assistant_id']:
        out['assistantId'] = p['assistant_id']
    elif p['assistant_name']:
        out['assistantId'] = resolve(module, client, '/assistant', 'assistant', p['assistant_name'],
                                     lambda a: a.get('name') == p['assistant_name'])
    return out


def patch_body(want, existing):
    patch = {}
    for key, value in want.items():
        current = existing.get(key)
        if key == 'numberE164CheckEnabled' and current is None:
            current = True  # Vapi's default, not always echoed
        if key == 'authentication':
            # The password is write-only: compare what can be read, send the whole object if that differs.
            readable = dict((k, v) for k, v in value.items() if k != 'password')
            if is_subset(readable, current or {}):
                continue
            patch[key] = value
            continue
        if is_subset(value, current):
            continue
        if key == 'server' and isinstance(current, dict):
            value = deep_merge(current, value)
        patch[key] = value
    return patch


def find_by_number(module, client):
    p = module.params
    if p['provider'] == 'vapi':
        return find_unique(module, client.list(PATH), 'phone number', 'sipUri %r' % p['sip_uri'],
                           lambda n: n.get('provider') == 'vapi' and n.get('sipUri') == p['sip_uri'])
    number = p['number']
    return find_unique(module, client.list(PATH), 'phone number', 'number %r' % number,
                       lambda n: n.get('provider') == PROVIDER and n.get('number') == number)


def public(resource):
    """What the API answers: the SIP authentication password is write-only."""
    auth = resource.get('authentication')
    if isinstance(auth, dict):
        auth.pop('password', None)
    return resource


def lookup(module, client):
    p = module.params
    if p['id']:
        return get_by_id(module, client, PATH, 'phone number', p['provider'], 'number')
    return find_by_number(module, client)


def main():
    argument_spec = vapi_argument_spec()
    argument_spec.update(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        provider=dict(type='str', default='byo-phone-number', choices=['byo-phone-number', 'vapi']),
        sip_uri=dict(type='str'),
        sip_authentication=dict(type='dict', no_log=False, options=dict(
            username=dict(type='str', required=True),
            password=dict(type='str', required=True, no_log=True),
            realm=dict(type='str'),
        )),
        squad_id=dict(type='str'),
        workflow_id=dict(type='str'),
        detach=dict(type='bool', default=False),
        hooks=dict(type='list', elements='dict'),
        number=dict(type='str'),
        id=dict(type='str'),
        name=dict(type='str'),
        credential_id=dict(type='str'),
        credential_name=dict(type='str'),
        assistant_id=dict(type='str'),
        assistant_name=dict(type='str'),
        number_e164_check_enabled=dict(type='bool'),
        server=server_argument_spec(),
        fallback_destination=dict(type='dict'),
        return_listing=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[('number', 'id', 'sip_uri')],
        mutually_exclusive=[('credential_id', 'credential_name'),
                            ('assistant_id', 'assistant_name', 'squad_id', 'workflow_id', 'detach')],
        supports_check_mode=True,
    )
    validate(module)
    client = VapiClient(module)
    result = dict(changed=False, id=None, phone_number={})
    try:
        existing = lookup(module, client)
        if module.params['state'] == 'absent':
            changed, diff = remove(module, client, PATH, existing)
            result.update(changed=changed)
            after = None
        else:
            want = desired(module, client)
            create = dict(((k, v) for k, v in want.items() if v is not None), provider=module.params['provider']) \
                if existing is None else None
            changed, resource, diff = ensure(
                module, client, PATH, existing, create,
                patch_body(want, existing) if existing is not None else None,
                lambda: find_by_number(module, client), public=public)
            result.update(changed=changed, id=resource.get('id'), phone_number=mask_secrets(resource))
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
