# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vapi's published SIP signalling CIDRs per region, from the one table in module_utils/vapi.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: vapi_sip_cidrs
author: byom.telephony contributors
short_description: Vapi's published SIP signalling CIDRs for a region
version_added: 1.0.0
description:
  - Returns the signalling addresses Vapi publishes for a region, as a list of CIDRs; the sources
    the firewall, Asterisk's C(identify), the SIP proxy and the address-drift metric accept as Vapi.
  - Vapi has changed them before; the roles take C(telephony_vapi_sip_addresses) from the inventory
    first and use this filter only as the default.
  - Reads the same table as P(byom.telephony.vapi_sip_host#filter) and the Vapi modules' region URLs.
extends_documentation_fragment:
  - byom.telephony.vapi_region
'''

EXAMPLES = r'''
- name: Vapi's signalling addresses, unless the inventory overrides them
  ansible.builtin.set_fact:
    peers: "{{ telephony_vapi_sip_addresses | default(telephony_vapi_region | byom.telephony.vapi_sip_cidrs) }}"
'''

RETURN = r'''
_value:
  description: The CIDRs (a new list on every call).
  type: list
  elements: str
'''

from ansible_collections.byom.telephony.plugins.module_utils.vapi import REGION_SIP_CIDRS, vapi_region_key


def vapi_sip_cidrs(region):
    """Vapi's published signalling CIDRs for the region, as a new list (callers may extend it)."""
    return list(REGION_SIP_CIDRS[vapi_region_key(region, REGION_SIP_CIDRS)])


class FilterModule(object):
    def filters(self):
        return {'vapi_sip_cidrs': vapi_sip_cidrs}
