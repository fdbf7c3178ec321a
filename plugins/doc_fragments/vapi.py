# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # Options every Vapi module takes (plugins/module_utils/vapi.py vapi_argument_spec()).
    DOCUMENTATION = r'''
options:
  api_key:
    description:
      - A private API key of the Vapi organisation (Dashboard, Organization Settings, API Keys).
      - Sent as a bearer token; never logged or returned.
      - If not set, the value of the E(VAPI_API_KEY) environment variable is used.
    type: str
    required: true
  region:
    description:
      - The region the organisation lives in. V(us) uses U(https://api.vapi.ai), V(eu) uses U(https://api.eu.vapi.ai).
      - API keys are region-specific; a key of the other region is answered with HTTP 401.
      - Ignored when O(api_url) is set.
    type: str
    choices: [us, eu]
    default: us
  api_url:
    description:
      - Base URL of the API, overriding O(region), for example the local emulator C(http://127.0.0.1:8089).
      - If not set, the value of the E(VAPI_API_URL) environment variable is used.
    type: str
  timeout:
    description:
      - Seconds to wait for each HTTP answer.
    type: int
    default: 30
  retries:
    description:
      - How many times a request answered with HTTP 429 or 5xx, a timeout or a lost connection is
        tried again, with exponential backoff and jitter, honouring C(Retry-After).
      - A create (POST) is never sent again blindly. After an ambiguous failure the module lists
        the resources again and adopts the one the first attempt created; when a create got no
        answer at all it is not sent a second time, and the module fails asking for a re-run.
    type: int
    default: 5
  validate_certs:
    description:
      - Whether to verify the API's TLS certificate.
    type: bool
    default: true
requirements:
  - requests
  - urllib3
notes:
  - The module talks to the Vapi HTTP API from the controller; run it on V(localhost) (or with C(delegate_to)).
  - Use C(group/byom.telephony.vapi) in C(module_defaults) to set O(api_key), O(region) or O(api_url) once.
seealso:
  - name: Vapi API reference
    description: The REST API these modules use.
    link: https://docs.vapi.ai/api-reference
'''

    ACTIONGROUP = r'''
attributes:
  action_group:
    description: Use C(group/byom.telephony.vapi) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - byom.telephony.vapi
'''

    # What the two credential modules (vapi_sip_trunk, vapi_webhook_credential) share: the lookup by
    # id or name, state, and how check mode behaves.
    CREDENTIAL = r'''
attributes:
  check_mode:
    description: Predicts the change without calling any mutating endpoint.
    support: full
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
'''
