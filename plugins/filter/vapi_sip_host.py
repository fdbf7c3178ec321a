# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vapi's SIP host name per region, from the one table in module_utils/vapi.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: vapi_sip_host
author: byom.telephony contributors
short_description: Vapi's SIP host name for a region
version_added: 1.0.0
description:
  - Returns the host under which Vapi's BYO SIP trunks are reached in a region
    (C(sip.vapi.ai) for C(us), C(sip.eu.vapi.ai) for C(eu)); a trunk's contact is
    C(sip:<credential id>.<host>).
  - Reads the same table as the Vapi modules' region URLs and P(byom.telephony.vapi_sip_cidrs#filter),
    so every role agrees.
extends_documentation_fragment:
  - byom.telephony.vapi_region
'''

EXAMPLES = r'''
- name: The Vapi trunk's contact
  ansible.builtin.debug:
    msg: "sip:{{ credential_id }}.{{ 'eu' | byom.telephony.vapi_sip_host }}"
'''

RETURN = r'''
_value:
  description: The host name.
  type: str
'''

from ansible_collections.byom.telephony.plugins.module_utils.vapi import REGION_SIP_HOSTS, vapi_region_key


def vapi_sip_host(region):
    """sip.vapi.ai / sip.eu.vapi.ai."""
    return REGION_SIP_HOSTS[vapi_region_key(region, REGION_SIP_HOSTS)]


class FilterModule(object):
    def filters(self):
        return {'vapi_sip_host': vapi_sip_host}
