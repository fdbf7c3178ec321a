# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):

    # The input of the filters that read the region table of plugins/module_utils/vapi.py
    # (vapi_sip_host, vapi_sip_cidrs); vapi_region_key() accepts exactly these.
    DOCUMENTATION = r'''
options:
  _input:
    description: The Vapi region, C(us) or C(eu).
    type: str
    required: true
'''
