# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vapi doc fragments say what the code does: the shared options are vapi_argument_spec(),
and the action group they document is the one meta/runtime.yml defines, with every module that
claims it (sanity's validate-modules checks each module; this names the shared source)."""
from __future__ import absolute_import, division, print_function

import os
import re

import yaml

from ansible_collections.byom.telephony.plugins.doc_fragments.vapi import ModuleDocFragment
from ansible_collections.byom.telephony.plugins.module_utils.vapi import vapi_argument_spec

from byom_testlib import ROOT


def test_the_shared_options_are_the_shared_argument_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)['options']
    spec = vapi_argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc['type'] == option['type'], name
        assert doc.get('default') == option.get('default'), name
        assert doc.get('choices') == option.get('choices'), name
        assert doc.get('required', False) == option.get('required', False), name
        if 'fallback' in option:   # the environment variable the code reads is the one documented
            assert all('E(%s)' % var in ' '.join(doc['description']) for var in option['fallback'][1]), name


def test_the_action_group_is_runtime_yml_and_every_member_documents_it():
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as handle:
        group = yaml.safe_load(handle)['action_groups']['vapi']
    membership = yaml.safe_load(ModuleDocFragment.ACTIONGROUP)['attributes']['action_group']['membership']
    assert membership == ['byom.telephony.vapi']
    claiming = []
    modules = os.path.join(ROOT, 'plugins', 'modules')
    for name in sorted(os.listdir(modules)):
        with open(os.path.join(modules, name)) as handle:
            if re.search(r'^\s+- byom\.telephony\.vapi\.actiongroup$', handle.read(), re.M):
                claiming.append(name[:-3])
    assert sorted(group) == claiming


def test_every_fragment_is_valid_yaml():
    for name in ('DOCUMENTATION', 'ACTIONGROUP', 'CREDENTIAL'):
        assert isinstance(yaml.safe_load(getattr(ModuleDocFragment, name)), dict), name
