# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vapi's SIP host and signalling CIDRs per region, from the one table in module_utils/vapi.py."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Documented in vapi_sip_host.yml and vapi_sip_cidrs.yml (one file per filter, as ansible-doc looks them up).

from ansible.module_utils.common.text.converters import to_text

from ansible_collections.byom.telephony.plugins.module_utils.vapi import REGION_SIP_CIDRS, REGION_SIP_HOSTS


def _region(region, table):
    key = to_text(region)
    if key not in table:
        # Ansible reports any exception of a filter with the filter's name. ValueError rather than
        # AnsibleFilterError keeps ansible.errors (controller-side warning handling) out of the
        # unit-test process, where it changes how the modules' warnings are collected.
        raise ValueError('unknown Vapi region %r: expected one of %s' % (key, ', '.join(sorted(table))))
    return key


def vapi_sip_host(region):
    """sip.vapi.ai / sip.eu.vapi.ai."""
    return REGION_SIP_HOSTS[_region(region, REGION_SIP_HOSTS)]


def vapi_sip_cidrs(region):
    """Vapi's published signalling CIDRs for the region, as a new list (callers may extend it)."""
    return list(REGION_SIP_CIDRS[_region(region, REGION_SIP_CIDRS)])


class FilterModule(object):
    def filters(self):
        return {'vapi_sip_host': vapi_sip_host, 'vapi_sip_cidrs': vapi_sip_cidrs}
