# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vapi_region doc fragment documents the region filters' input once: the regions it names
are the keys of the region tables the filters read."""
from __future__ import absolute_import, division, print_function

import importlib
import re

import pytest
import yaml

from ansible_collections.byom.telephony.plugins.doc_fragments.vapi_region import ModuleDocFragment
from ansible_collections.byom.telephony.plugins.module_utils.vapi import REGION_SIP_CIDRS, REGION_SIP_HOSTS


def test_the_documented_regions_are_the_tables_keys():
    option = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']['_input']
    assert option['type'] == 'str' and option['required'] is True
    assert sorted(re.findall(r'C\((\w+)\)', option['description'])) == sorted(REGION_SIP_HOSTS) == sorted(REGION_SIP_CIDRS)


@pytest.mark.parametrize('name', ['vapi_sip_host', 'vapi_sip_cidrs'])
def test_each_region_filter_documents_its_input_with_the_fragment(name):
    plugin = importlib.import_module('ansible_collections.byom.telephony.plugins.filter.' + name)
    doc = yaml.safe_load(plugin.DOCUMENTATION)
    assert doc['extends_documentation_fragment'] == ['byom.telephony.vapi_region']
    assert 'options' not in doc
