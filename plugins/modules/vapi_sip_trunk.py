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
    read back. With O(update_password=on_change) the module compares it with O(password_fingerprint),
    a salted fingerprint of what was last sent (kept by the caller, for example on the edge host by
    the C(byom.telephony.vapi) role), and sends it only when it was rotated.
  - Identity survives a rename in the dashboard. With O(id) (pinned by the caller once known) the
    credential is found whatever its name, and renamed back to O(name). Without it, when no
    credential has O(name), a C(byo-sip-trunk) credential that already owns the first inbound
    gateway's IP address is adopted (and renamed) instead of creating a second one for the same
    address; the module warns saying so.
author:
  - byom.telephony maintainers (@byom-telephony)
extends_documentation_fragment:
  - byom.telephony.vapi
  - byom.telephony.vapi.actiongroup
  - byom.telephony.vapi.credential
attributes:
  diff_mode:
    description: Shows the credential before and after, secrets masked.
    support: full
  idempotent:
    description: A second run with the same options changes nothing (unless O(update_password=always)).
    support: partial
options:
  known_id:
    description:
      - An id remembered from an earlier run (the C(byom.telephony.vapi) role keeps it on the edge).
        Used like O(id), so a credential renamed in the dashboard is still found (and renamed back),
        but when it no longer exists the lookup falls back to O(name) and the gateway instead of failing.
    type: str
  gateways:
    description:
      - The trunk's gateways, replaced as a whole when they differ. Required with O(state=present).
      - Compared as a set (order does not matter), after filling in Vapi's defaults; each C(ip)/C(port) once.
      - For a self-hosted SIP server this is its public IPv4 address with inbound and outbound enabled; for
        a pool of servers behind one credential, one gateway per server (with O(gateways[].options_ping_enabled)
        Vapi stops sending calls to a server that does not answer its OPTIONS).
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
        other change of the authentication plan. A rotated password is not sent (Vapi keeps the old one).
      - V(on_change) sends it when it differs from what O(password_fingerprint) records, or when
        there is no fingerprint (unknown, so sent once). The password itself is never stored.
      - V(always) sends it on every run, which is then always reported as changed, because Vapi
        never returns the password to compare with.
    type: str
    choices: [always, on_change, on_create]
    default: on_create
  password_fingerprint:
    description:
      - The RV(password_fingerprint) an earlier run returned, C(v1$<salt>$<HMAC-SHA256>) of the
        credential id, O(outbound_auth_username) and O(outbound_auth_password), salted with 16 random bytes.
      - Used by O(update_password=on_change); a fingerprint of another credential or user name does not match.
    type: str
  adopt_by_gateway:
    description:
      - When no credential has O(name) (and O(id) is not set), adopt the one C(byo-sip-trunk)
        credential whose gateways already contain the first inbound gateway's IP address, renaming it.
      - V(false) creates a new credential instead.
    type: bool
    default: true
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
  sip_diversion_header:
    description:
      - Vapi's C(sipDiversionHeader), the Diversion header Vapi adds to calls it sends over the
        trunk (for carriers that authenticate the calling number by it). At most 10000 characters.
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
password_fingerprint:
  description:
    - Salted fingerprint of the password Vapi now holds for this credential, to keep and pass as
      O(password_fingerprint) next time. Unchanged when the password was not sent.
    - V(null) when no password is managed, when the password Vapi holds is unknown
      (O(update_password=on_create) without a matching fingerprint), or in check mode before a create.
  returned: success
  type: str
  sample: v1$1f0c...$9a7e...
password_sent:
  description: Whether this run sent (or, in check mode, would send) the password to Vapi.
  returned: success
  type: bool
'''

import binascii
import copy
import hashlib
import hmac
import json
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes
from ansible_collections.byom.telephony.plugins.module_utils.vapi import (
    VapiClient, VapiError, check_name, check_range, check_uuid, ensure, fail_api, find_unique, get_by_id,
    MASK, is_hostname, is_ipv4, mask_secrets, remove, vapi_argument_spec,
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


def gateway_key(gateway):
    """A sortable, hashable form of a normalised gateway (for order-insensitive comparison)."""
    return json.dumps(gateway, sort_keys=True)


def validate(module):
    p = module.params
    check_uuid(module, 'id', p['id'])
    check_uuid(module, 'known_id', p['known_id'])
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
    seen = {}
    for index, gateway in enumerate(p['gateways']):
        address = (gateway['ip'], gateway['port'])
        if address in seen:
            module.fail_json(msg='gateways[%d] and gateways[%d] are both %s:%s: each gateway once'
                                 % (seen[address], index, address[0], address[1]))
        seen[address] = index
    for field in ('tech_prefix', 'sip_diversion_header'):
        if p[field] is not None and len(p[field]) > 10000:
            module.fail_json(msg='%s must be at most 10000 characters' % field)
    for field in ('outbound_auth_username', 'outbound_auth_password', 'name'):
        value = p[field]
        if value is not None and value != value.strip():
            module.fail_json(msg='%s has leading or trailing white space (a newline from a file or vault?)' % field)
    if p['password_fingerprint'] is not None and not FINGERPRINT_RE.match(p['password_fingerprint']):
        module.fail_json(msg='password_fingerprint must be a value this module returned (v1$<salt>$<hmac>), got %r'
                         % p['password_fingerprint'])
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
    if params['sip_diversion_header'] is not None:
        body['sipDiversionHeader'] = params['sip_diversion_header']
    return body


def patch_body(params, existing):
    """Only the properties that differ from what Vapi holds (empty: nothing to do)."""
    patch = {}
    if params['name'] is not None and existing.get('name') != params['name']:
        patch['name'] = params['name']
    current_gateways = [normalise_gateway(gw) for gw in existing.get('gateways') or []]
    # Compared as a set: a pool's nodes listed in another order are the same trunk, and a
    # reordered inventory must not PATCH (Vapi does not document an order meaning).
    if sorted(map(gateway_key, desired_gateways(params))) != sorted(map(gateway_key, current_gateways)):
        patch['gateways'] = desired_gateways(params)
    if params['outbound_leading_plus_enabled'] is not None and \
            bool(existing.get('outboundLeadingPlusEnabled', False)) != params['outbound_leading_plus_enabled']:
        patch['outboundLeadingPlusEnabled'] = params['outbound_leading_plus_enabled']
    if params['tech_prefix'] is not None and existing.get('techPrefix', '') != params['tech_prefix']:
        patch['techPrefix'] = params['tech_prefix']
    if params['sip_diversion_header'] is not None and existing.get('sipDiversionHeader', '') != params['sip_diversion_header']:
        patch['sipDiversionHeader'] = params['sip_diversion_header']
    current_plan = existing.get('outboundAuthenticationPlan') or {}
    plan_differs = (
        params['outbound_auth_username'] is not None and current_plan.get('authUsername') != params['outbound_auth_username']
    ) or (
        params['sip_register_plan'] is not None and (current_plan.get('sipRegisterPlan') or {}) != desired_register_plan(params)
    )
    if plan_differs or password_to_send(params, existing):
        patch['outboundAuthenticationPlan'] = auth_plan(params, current_plan)
    return patch


FINGERPRINT_RE = re.compile(r'^v1\$[0-9a-f]{32}\$[0-9a-f]{64}$')


def fingerprint(credential_id, username, password, salt=None):
    """v1$<salt>$<HMAC-SHA256(salt, id NUL username NUL password)>: proves which password was sent.

    Salted so that the stored value cannot be looked up in precomputed tables, and bound to the
    credential and user name so that a recreated credential or a new user name never matches.
    """
    salt = salt if salt is not None else os.urandom(16)
    message = b'\0'.join(to_bytes(part or '', errors='surrogate_or_strict') for part in (credential_id, username, password))
    return 'v1$%s$%s' % (binascii.hexlify(salt).decode('ascii'), hmac.new(salt, message, hashlib.sha256).hexdigest())


def fingerprint_matches(stored, credential_id, username, password):
    if not stored or not FINGERPRINT_RE.match(stored):
        return False
    salt = binascii.unhexlify(stored.split('$')[1])
    return hmac.compare_digest(fingerprint(credential_id, username, password, salt), stored)


def effective_username(params, existing):
    if params['outbound_auth_username'] is not None:
        return params['outbound_auth_username']
    return ((existing or {}).get('outboundAuthenticationPlan') or {}).get('authUsername')


def password_to_send(params, existing):
    """Whether the password must go to Vapi on this update (a create always sends it)."""
    if params['outbound_auth_password'] is None:
        return False
    if params['update_password'] == 'always':
        return True
    if params['update_password'] == 'on_change':
        return not fingerprint_matches(params['password_fingerprint'], existing.get('id'),
                                       effective_username(params, existing), params['outbound_auth_password'])
    return False


def public(resource):
    """What the API answers: the password is write-only."""
    plan = resource.get('outboundAuthenticationPlan')
    if isinstance(plan, dict):
        plan.pop('authPassword', None)
    return resource


def lookup(module, client):
    p = module.params
    if p['known_id'] and not p['id']:
        found = client.get(PATH, p['known_id'])
        if found is not None and found.get('provider') == PROVIDER:
            if p['name'] is not None and found.get('name') != p['name'] and p['state'] == 'present':
                module.warn('credential %s is named %r in Vapi (renamed in the dashboard?): renamed back to %r'
                            % (p['known_id'], found.get('name'), p['name']))
            return found
        return find(module, client)
    if p['id']:
        found = get_by_id(module, client, PATH, 'credential', PROVIDER, 'credential')
        if found is not None and p['name'] is not None and found.get('name') != p['name'] and p['state'] == 'present':
            module.warn('credential %s is named %r in Vapi (renamed in the dashboard?): renamed back to %r'
                        % (p['id'], found.get('name'), p['name']))
        return found
    return find(module, client)


def find_by_name(module, client, items=None):
    name = module.params['name']
    items = client.list(PATH) if items is None else items
    return find_unique(module, items, 'SIP trunk credential', 'name %r' % name,
                       lambda c: c.get('provider') == PROVIDER and c.get('name') == name)


def inbound_ip(params):
    for gateway in params['gateways'] or []:
        if gateway['inbound_enabled']:
            return gateway['ip']
    return None


def find_gateway_owner(module, items):
    """The one byo-sip-trunk credential whose gateways hold our inbound IP (renamed in the dashboard?)."""
    address = inbound_ip(module.params)
    if address is None:
        return None

    def owns_address(credential):
        gateways = [g for g in credential.get('gateways') or [] if isinstance(g, dict)]
        return credential.get('provider') == PROVIDER and any(g.get('ip') == address for g in gateways)

    return find_unique(module, items, 'SIP trunk credential', 'gateway IP %s' % address, owns_address)


def find(module, client):
    """By name, else (adopt_by_gateway) by our inbound gateway address; one list call for both."""
    items = client.list(PATH)
    found = find_by_name(module, client, items)
    if found is None and module.params['adopt_by_gateway'] and module.params['state'] == 'present':
        found = find_gateway_owner(module, items)
        if found is not None:
            module.warn('no credential is named %r, but credential %s (named %r) already owns gateway %s: adopted it '
                        'and renamed it to %r instead of creating a second trunk for the same address'
                        % (module.params['name'], found.get('id'), found.get('name'), inbound_ip(module.params),
                           module.params['name']))
    return found


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
        update_password=dict(type='str', default='on_create', choices=['always', 'on_change', 'on_create'], no_log=False),
        password_fingerprint=dict(type='str', no_log=False),
        known_id=dict(type='str'),
        adopt_by_gateway=dict(type='bool', default=True),
        sip_diversion_header=dict(type='str'),
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
            p = module.params
            if existing is not None and p['outbound_auth_password'] is None and p['outbound_auth_username'] is not None \
                    and effective_username(p, existing) != effective_username(dict(p, outbound_auth_username=None), existing):
                module.fail_json(msg='outbound_auth_username changes from %r to %r but outbound_auth_password is not set: '
                                     'Vapi would keep the old password with the new user name and digest auth would fail; '
                                     'give the password too' % (effective_username(dict(p, outbound_auth_username=None), existing),
                                                                p['outbound_auth_username']))
            patch = patch_body(p, existing) if existing is not None else None
            sent = p['outbound_auth_password'] is not None and (
                existing is None or 'authPassword' in (patch or {}).get('outboundAuthenticationPlan', {}))
            rotated = existing is not None and password_to_send(p, existing)
            changed, resource, diff = ensure(
                module, client, PATH, existing,
                create_body(p) if existing is None else None, patch,
                lambda: find_by_name(module, client), public=public)
            if rotated and p['update_password'] == 'on_change':
                # The API never returns the password, so show in the diff why the plan is sent.
                before = (diff['before'].get('outboundAuthenticationPlan') or {})
                before['authPassword'] = MASK + (' (other than the one last sent)' if p['password_fingerprint']
                                                 else ' (unknown: no fingerprint)')
                diff['before']['outboundAuthenticationPlan'] = before
                diff['after'].setdefault('outboundAuthenticationPlan', {})['authPassword'] = MASK + ' (rotated)'
            elif existing is not None and p['update_password'] == 'on_create' and p['outbound_auth_password'] is not None \
                    and p['password_fingerprint'] and not sent and not fingerprint_matches(
                        p['password_fingerprint'], existing.get('id'), effective_username(p, existing), p['outbound_auth_password']):
                module.warn('outbound_auth_password differs from the one last sent to Vapi, but update_password=on_create '
                            'keeps the old one in Vapi: inbound calls from Vapi will fail digest auth. Use on_change.')
            fp = None
            if p['outbound_auth_password'] is not None and resource.get('id'):
                if not sent and fingerprint_matches(p['password_fingerprint'], resource['id'], effective_username(p, resource),
                                                    p['outbound_auth_password']):
                    fp = p['password_fingerprint']
                elif sent:
                    fp = fingerprint(resource['id'], effective_username(p, resource), p['outbound_auth_password'])
            result.update(changed=changed, id=resource.get('id'), credential=mask_secrets(resource),
                          password_fingerprint=fp, password_sent=bool(sent and changed))
    except VapiError as err:
        fail_api(module, err, **result)
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
