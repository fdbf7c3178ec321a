#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: vapi_info
short_description: List Vapi SIP trunks, assistants and phone numbers
version_added: 1.0.0
description:
  - Reads what the Vapi organisation holds, for drift reports and for looking up ids.
  - Secrets (server secrets, authentication headers) are masked; SIP trunk passwords are never returned by Vapi.
author:
  - byom.telephony maintainers (@byom-telephony)
extends_documentation_fragment:
  - byom.telephony.vapi
  - byom.telephony.vapi.actiongroup
attributes:
  check_mode:
    description: Reads only, so it runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
  idempotent:
    description: Reads only.
    support: full
options:
  resources:
    description:
      - What to list. Each is one request for up to 999 items (the API's page is at most 1000),
        else about one per 1000 items plus two (see the client's paging in the collection docs).
    type: list
    elements: str
    choices: [sip_trunks, assistants, phone_numbers]
    default: [sip_trunks, assistants, phone_numbers]
'''

EXAMPLES = r'''
- name: What Vapi holds
  byom.telephony.vapi_info:
  delegate_to: localhost
  register: telephony_vapi_info

- name: Fail when the trunk is missing
  ansible.builtin.assert:
    that:
      - telephony_vapi_info.sip_trunks | selectattr('name', 'equalto', 'asterisk-edge') | list | length == 1
'''

RETURN = r'''
sip_trunks:
  description: The C(byo-sip-trunk) credentials (other credential kinds are left out).
  returned: when sip_trunks is in O(resources)
  type: list
  elements: dict
  sample:
    - id: 3fa85f64-5717-4562-b3fc-2c963f66afa6
      provider: byo-sip-trunk
      name: asterisk-edge
      gateways:
        - ip: 203.0.113.10
assistants:
  description: The assistants, secrets masked.
  returned: when assistants is in O(resources)
  type: list
  elements: dict
  sample:
    - id: 1b4e28ba-2fa1-41d2-883f-0016d3cca427
      name: receptionist
phone_numbers:
  description: The phone numbers of every provider.
  returned: when phone_numbers is in O(resources)
  type: list
  elements: dict
  sample:
    - id: 6ec0bd7f-11c0-43da-975e-2a8ad9ebae0b
      provider: byo-phone-number
      number: "+14155550100"
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.byom.telephony.plugins.module_utils.vapi import (
    VapiClient, VapiError, fail_api, mask_secrets, vapi_argument_spec,
)

ORDER = ('sip_trunks', 'assistants', 'phone_numbers')
RESOURCES = {
    'sip_trunks': ('/credential', lambda item: item.get('provider') == 'byo-sip-trunk'),
    'assistants': ('/assistant', None),
    'phone_numbers': ('/phone-number', None),
}


def main():
    argument_spec = vapi_argument_spec()
    argument_spec.update(
        resources=dict(type='list', elements='str', choices=list(ORDER), default=list(ORDER)),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    client = VapiClient(module)
    result = dict(changed=False)
    try:
        for name in module.params['resources']:
            path, keep = RESOURCES[name]
            items = client.list(path, partial_ok=True)
            result[name] = [mask_secrets(item) for item in items if keep is None or keep(item)]
    except VapiError as err:
        fail_api(module, err)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
