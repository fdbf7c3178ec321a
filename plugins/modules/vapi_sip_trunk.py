#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vapi_sip_trunk
short_description: Manage a Vapi "bring your own SIP trunk" credential
version_added: 1.0.0
description:
  - Creates, updates or deletes a Vapi credential of provider C(byo-sip-trunk), the Vapi side of a
    SIP trunk between Vapi and your own SIP server (for example Asterisk).
  - The credential is found by O(id), or else by O(name). Vapi does not enforce unique names, so
    when several credentials share the name the module fails and lists their ids unless O(id) is set.
  - Only what you set is compared; gateway defaults are filled in on both sides before comparing,
    because the API echoes only what was sent.
  - O(outbound_auth_password) is write-only in Vapi (never returned), so a change to it cannot be
    detected; see O(update_password).
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
    description: Shows the credential before and after, secrets masked.
    support: full
  idempotent:
    description: A second run with the same options changes nothing (unless O(update_password=always)).
    support: partial
options:
  state:
    description:
      - V(present) creates or updates the credential, V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  name:
    description:
      - Name of the credential, 1 to 40 characters. Required with O(state=present).
    type: str
  id:
    description:
      - Id (UUID) of an existing credential. Takes precedence over O(name) for the lookup; the
        name is then updated to O(name) if that differs.
    type: str
  gateways:
    description:
      - The trunk's gateways, replaced as a whole when they differ. Required with O(state=present).
      - For a self-hosted SIP server this is its public IPv4 address with inbound and outbound enabled.
    type: list
    elements: dict
    suboptions:
      ip:
        description:
          - IPv4 address of the gateway. Outbound-only gateways (O(gateways[].inbound_enabled=false))
            may use a host name.
        type: str
        required: true
      port:
        description: SIP port of the gateway, 1 to 65535.
        type: int
        default: 5060
      netmask:
        description: Prefix length of the gateway's network, 24 to 32.
        type: int
        default: 32
      inbound_enabled:
        description: Whether calls from this gateway into Vapi are accepted (Vapi identifies the trunk by source IP).
        type: bool
        default: true
      outbound_enabled:
        description: Whether Vapi sends calls to this gateway.
        type: bool
        default: true
      outbound_protocol:
        description: Transport of calls Vapi sends to this gateway.
        type: str
        choices: [udp, tcp, tls, tls/srtp]
        default: udp
      options_ping_enabled:
        description: Whether Vapi probes the gateway with SIP OPTIONS.
        type: bool
        default: false
  outbound_auth_username:
    description:
      - User name Vapi answers a digest challenge of your SIP server with (C(outboundAuthenticationPlan.authUsername)).
    type: str
  outbound_auth_password:
    description:
      - Password Vapi answers a digest challenge with (C(outboundAuthenticationPlan.authPassword)).
      - Write-only in Vapi; see O(update_password).
    type: str
  update_password:
    description:
      - V(on_create) sends O(outbound_auth_password) when the credential is created, and with any
        other change of the authentication plan.
      - V(always) sends it on every run, which is then always reported as changed, because Vapi
        never returns the password to compare with.
    type: str
    choices: [always, on_create]
    default: on_create
  sip_register_plan:
    description:
      - Makes Vapi register to your SIP server (C(outboundAuthenticationPlan.sipRegisterPlan)).
        Leave unset for a self-hosted server that identifies Vapi by IP and digest.
    type: dict
    suboptions:
      domain:
        description: SIP registrar domain.
        type: str
      username:
        description: User name sent in the REGISTER request.
        type: str
      realm:
        description: Authentication realm of the registration.
        type: str
  outbound_leading_plus_enabled:
    description:
      - Whether numbers Vapi dials over the trunk get a leading C(+). Vapi's default is V(false).
    type: bool
  tech_prefix:
    description:
      - Prefix Vapi puts in front of numbers it dials over the trunk.
    type: str
'''

EXAMPLES = r'''
- name: Register the Asterisk edge as a BYO SIP trunk in Vapi
  byom.telephony.vapi_sip_trunk:
    name: asterisk-edge
    gateways:
      - ip: 203.0.113.10
        port: 5060
        outbound_protocol: udp
    outbound_auth_username: vapi
    outbound_auth_password: "{{ vault_vapi_trunk_password }}"
    api_key: "{{ vault_vapi_api_key }}"
    region: eu
  delegate_to: localhost
  register: telephony_vapi_trunk

- name: Rotate the digest password
  byom.telephony.vapi_sip_trunk:
    name: asterisk-edge
    gateways:
      - ip: 203.0.113.10
    outbound_auth_username: vapi
    outbound_auth_password: "{{ vault_vapi_trunk_password_new }}"
    update_password: always

- name: Remove the trunk
  byom.telephony.vapi_sip_trunk:
    name: asterisk-edge
    state: absent
'''

RETURN = r'''
id:
  description: Id of the credential; V(null) when it was deleted, or would be created in check mode.
  returned: always
  type: str
  sample: 3fa85f64-5717-4562-b3fc-2c963f66afa6
credential:
  description:
    - The credential as Vapi holds it afterwards (as predicted in check mode), secrets masked.
    - Empty after O(state=absent).
  returned: always
  type: dict
  sample:
    id: 3fa85f64-5717-4562-b3fc-2c963f66afa6
    provider: byo-sip-trunk
    name: asterisk-edge
    gateways:
      - ip: 203.0.113.10
        port: 5060
        netmask: 32
        inboundEnabled: true
        outboundEnabled: true
        outboundProtocol: udp
        optionsPingEnabled: false
    outboundAuthenticationPlan:
      authUsername: vapi
'''

import copy

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.byom.telephony.plugins.module_utils.vapi import (
    VapiClient, VapiError, check_name, check_range, check_uuid, ensure, fail_api, find_unique,
    is_hostname, is_ipv4, mask_secrets, remove, vapi_argument_spec,
)

PATH = '/credential'
PROVIDER = 'byo-sip-trunk'
GATEWAY_DEFAULTS = {
    'port': 5060,
    'netmask': 32,
    'inboundEnabled': True,
    'outboundEnabled': True,
    'outboundProtocol': 'udp',
    'optionsPingEnabled': False,
}
GATEWAY_KEYS = (
    ('ip', 'ip'), ('port', 'port'), ('netmask', 'netmask'), ('inbound_enabled', 'inboundEnabled'),
    ('outbound_enabled', 'outboundEnabled'), ('outbound_protocol', 'outboundProtocol'),
    ('options_ping_enabled', 'optionsPingEnabled'),
)


def normalise_gateway(gateway):
    """The gateway with Vapi's defaults filled in, as the API would apply them."""
    out = dict(GATEWAY_DEFAULTS)
    out.update(dict((k, v) for k, v in (gateway or {}).items() if v is not None))
    for key in ('port', 'netmask'):
        if isinstance(out.get(key), float) and out[key].is_integer():
            out[key] = int(out[key])
    return out


def validate(module):
    p = module.params
    check_uuid(module, 'id', p['id'])
    check_name(module, 'name', p['name'])
    if p['state'] != 'present':
        return
    if not p['gateways']:
        module.fail_json(msg='gateways must list at least one gateway')
    for index, gateway in enumerate(p['gateways']):
        field = 'gateways[%d]' % index
        check_range(module, field + '.port', gateway['port'], 1, 65535)
        check_range(module, field + '.netmask', gateway['netmask'], 24, 32)
        ip = gateway['ip']
        if gateway['inbound_enabled']:
            if not is_ipv4(ip):
                module.fail_json(msg='%s.ip must be an IPv4 address because inbound_enabled is true '
                                     '(Vapi identifies inbound gateways by address), got %r' % (field, ip))
        elif not (is_ipv4(ip) or is_hostname(ip)):
            module.fail_json(msg='%s.ip must be an IPv4 address or a host name, got %r' % (field, ip))
    if p['tech_prefix'] is not None and len(p['tech_prefix']) > 10000:
        module.fail_json(msg='tech_prefix must be at most 10000 characters')
    if p['update_password'] == 'always' and p['outbound_auth_password'] is None:
        module.fail_json(msg='update_password=always needs outbound_auth_password')


def desired_gateways(params):
    return [normalise_gateway(dict((camel, gw[snake]) for snake, camel in GATEWAY_KEYS)) for gw in params['gateways']]


def desired_register_plan(params):
    plan = params['sip_register_plan']
    if plan is None:
        return None
    return dict((k, v) for k, v in plan.items() if v is not None)


def auth_plan(params, existing_plan=None):
    """The complete outboundAuthenticationPlan to send (Vapi replaces it as a whole)."""
    plan = copy.deepcopy(existing_plan or {})
    plan.pop('authPassword', None)
    if params['outbound_auth_username'] is not None:
        plan['authUsername'] = params['outbound_auth_username']
    register = desired_register_plan(params)
    if register is not None:
        plan['sipRegisterPlan'] = register
    if params['outbound_auth_password'] is not None:
        plan['authPassword'] = params['outbound_auth_password']
    return plan


def create_body(params):
    body = {'provider': PROVIDER, 'name': params['name'], 'gateways': desired_gateways(params)}
    plan = auth_plan(params)
    if plan:
        body['outboundAuthenticationPlan'] = plan
    if params['outbound_leading_plus_enabled'] is not None:
        body['outboundLeadingPlusEnabled'] = params['outbound_leading_plus_enabled']
    if params['tech_prefix'] is not None:
        body['techPrefix'] = params['tech_prefix']
    return body


def patch_body(params, existing):
    """Only the properties that differ from what Vapi holds (empty: nothing to do)."""
    patch = {}
    if params['name'] is not None and existing.get('name') != params['name']:
        patch['name'] = params['name']
    current_gateways = [normalise_gateway(gw) for gw in existing.get('gateways') or []]
    if desired_gateways(params) != current_gateways:
        patch['gateways'] = desired_gateways(params)
    if params['outbound_leading_plus_enabled'] is not None and \
            bool(existing.get('outboundLeadingPlusEnabled', False)) != params['outbound_leading_plus_enabled']:
        patch['outboundLeadingPlusEnabled'] = params['outbound_leading_plus_enabled']
    if params['tech_prefix'] is not None and existing.get('techPrefix', '') != params['tech_prefix']:
        patch['techPrefix'] = params['tech_prefix']
    current_plan = existing.get('outboundAuthenticationPlan') or {}
    plan_differs = (
        params['outbound_auth_username'] is not None and current_plan.get('authUsername') != params['outbound_auth_username']
    ) or (
        params['sip_register_plan'] is not None and (current_plan.get('sipRegisterPlan') or {}) != desired_register_plan(params)
    )
    send_password = params['outbound_auth_password'] is not None and params['update_password'] == 'always'
    if plan_differs or send_password:
        patch['outboundAuthenticationPlan'] = auth_plan(params, current_plan)
    return patch


def public(resource):
    """What the API answers: the password is write-only."""
    plan = resource.get('outboundAuthenticationPlan')
    if isinstance(plan, dict):
        plan.pop('authPassword', None)
    return resource


def lookup(module, client):
    p = module.params
    if p['id']:
        found = client.get(PATH, p['id'])
        if found is not None and found.get('provider') != PROVIDER:
            module.fail_json(msg='credential %s is a %r credential, not %s' % (p['id'], found.get('provider'), PROVIDER))
        if found is None and p['state'] == 'present':
            module.fail_json(msg='no Vapi credential with id %s (to create one, leave id unset)' % p['id'])
        return found
    return find_by_name(module, client)


def find_by_name(module, client):
    name = module.params['name']
    return find_unique(module, client.list(PATH), 'SIP trunk credential', 'name %r' % name,
                       lambda c: c.get('provider') == PROVIDER and c.get('name') == name)


def main():
    argument_spec = vapi_argument_spec()
    argument_spec.update(
        state=dict(type='str', default='present', choices=['present', 'absent']),
        name=dict(type='str'),
        id=dict(type='str'),
        gateways=dict(type='list', elements='dict', options=dict(
            ip=dict(type='str', required=True),
            port=dict(type='int', default=5060),
            netmask=dict(type='int', default=32),
            inbound_enabled=dict(type='bool', default=True),
            outbound_enabled=dict(type='bool', default=True),
            outbound_protocol=dict(type='str', default='udp', choices=['udp', 'tcp', 'tls', 'tls/srtp']),
            options_ping_enabled=dict(type='bool', default=False),
        )),
        outbound_auth_username=dict(type='str'),
        outbound_auth_password=dict(type='str', no_log=True),
        update_password=dict(type='str', default='on_create', choices=['always', 'on_create'], no_log=False),
        sip_register_plan=dict(type='dict', options=dict(
            domain=dict(type='str'),
            username=dict(type='str'),
            realm=dict(type='str'),
        )),
        outbound_leading_plus_enabled=dict(type='bool'),
        tech_prefix=dict(type='str'),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        required_one_of=[('name', 'id')],
        required_if=[('state', 'present', ('name', 'gateways'))],
        supports_check_mode=True,
    )
    validate(module)
    client = VapiClient(module)
    result = dict(changed=False, id=None, credential={})
    try:
        existing = lookup(module, client)
        if module.params['state'] == 'absent':
            changed, diff = remove(module, client, PATH, existing)
            result.update(changed=changed)
        else:
            changed, resource, diff = ensure(
                module, client, PATH, existing,
                create_body(module.params) if existing is None else None,
                patch_body(module.params, existing) if existing is not None else None,
                lambda: find_by_name(module, client), public=public)
            result.update(changed=changed, id=resource.get('id'), credential=mask_secrets(resource))
    except VapiError as err:
        fail_api(module, err, **result)
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
