# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Vapi's connection options and its SIP facts per region each live in one place.

- Roles call the Vapi modules without connection options: the vapi role sets them once, with
  module_defaults on the collection's action group (meta/runtime.yml).
- Vapi's SIP host and signalling CIDRs per region are one table (module_utils/vapi.py), read by
  the roles through the byom.telephony.vapi_sip_host / vapi_sip_cidrs filters.
"""
from __future__ import absolute_import, division, print_function

import re
from pathlib import Path

import pytest
import yaml

from ansible_collections.byom.telephony.plugins.filter.vapi_sip_cidrs import FilterModule as CidrsFilterModule
from ansible_collections.byom.telephony.plugins.filter.vapi_sip_cidrs import vapi_sip_cidrs
from ansible_collections.byom.telephony.plugins.filter.vapi_sip_host import FilterModule as HostFilterModule
from ansible_collections.byom.telephony.plugins.filter.vapi_sip_host import vapi_sip_host
from ansible_collections.byom.telephony.plugins.module_utils.vapi import REGION_SIP_CIDRS, REGION_URLS

ROOT = Path(__file__).resolve().parents[4]
CONNECTION = {'api_key', 'api_url', 'region', 'timeout', 'retries', 'validate_certs'}
GROUP = 'group/byom.telephony.vapi'


def _vapi_modules():
    runtime = yaml.safe_load((ROOT / 'meta/runtime.yml').read_text())
    return {'byom.telephony.' + name for name in runtime['action_groups']['vapi']}


def _tasks(node):
    """Every task of a task list, blocks flattened."""
    for task in node or []:
        yield task
        for key in ('block', 'rescue', 'always'):
            yield from _tasks(task.get(key))


def _role_task_files():
    return sorted(ROOT.glob('roles/*/tasks/*.yml'))


def test_no_role_task_passes_vapi_connection_options():
    modules = _vapi_modules()
    calls = []
    for path in _role_task_files():
        for task in _tasks(yaml.safe_load(path.read_text())):
            for module in modules & set(task):
                calls.append(path.name)
                given = CONNECTION & set(task[module] or {})
                assert not given, '%s: %s repeats %s (set once by module_defaults)' % (path, module, sorted(given))
    assert calls, 'no role task calls a Vapi module: the test looks in the wrong place'


def test_every_file_calling_vapi_modules_runs_under_the_group_defaults():
    modules = _vapi_modules()
    callers = {}
    for path in _role_task_files():
        if any(modules & set(task) for task in _tasks(yaml.safe_load(path.read_text()))):
            callers.setdefault(path.parent.parent, set()).add(path.name)
    assert callers
    for role, files in callers.items():
        covered = set()
        for task in yaml.safe_load((role / 'tasks/main.yml').read_text()):
            defaults = (task.get('module_defaults') or {}).get(GROUP) or {}
            if set(defaults) >= CONNECTION:
                covered |= {t.get('ansible.builtin.import_tasks') for t in _tasks(task.get('block'))}
        assert files <= covered, '%s: %s not imported under module_defaults %s' % (role.name, sorted(files - covered), GROUP)


@pytest.mark.parametrize('region, host', [('us', 'sip.vapi.ai'), ('eu', 'sip.eu.vapi.ai')])
def test_sip_host_per_region(region, host):
    assert vapi_sip_host(region) == host


def test_sip_cidrs_per_region():
    assert vapi_sip_cidrs('us') == ['44.229.228.186/32', '44.238.177.138/32']
    assert vapi_sip_cidrs('eu') == ['63.182.83.170/32']
    # A fresh list: a role extending it cannot change the table.
    vapi_sip_cidrs('eu').append('192.0.2.1/32')
    assert vapi_sip_cidrs('eu') == ['63.182.83.170/32']


def test_regions_agree_with_the_api_urls():
    assert set(REGION_SIP_CIDRS) == set(REGION_URLS)
    assert set(HostFilterModule().filters()) | set(CidrsFilterModule().filters()) == {'vapi_sip_host', 'vapi_sip_cidrs'}


@pytest.mark.parametrize('region', ['US', 'ap', '', None])
def test_unknown_region_is_named(region):
    with pytest.raises(ValueError, match='unknown Vapi region'):
        vapi_sip_cidrs(region)


def test_no_other_copy_of_vapi_sip_facts():
    """The addresses and region hosts appear in no role, playbook or top-level doc: only in the table."""
    literals = [re.escape(c.split('/')[0]) for cidrs in REGION_SIP_CIDRS.values() for c in cidrs]
    addresses = re.compile('|'.join(literals))
    region_host_map = re.compile(r'^\s*(us|eu):\s*sip\.(eu\.)?vapi\.ai', re.M)
    paths = [p for p in ROOT.glob('roles/**/*') if p.is_file()] + list(ROOT.glob('playbooks/**/*.yml'))
    paths += [ROOT / 'README.md', ROOT / 'CONTRIBUTING.md'] + list(ROOT.glob('docs/*.md'))
    for path in paths:
        text = path.read_text(errors='replace')
        assert not addresses.search(text), '%s repeats Vapi signalling addresses' % path.relative_to(ROOT)
        assert not region_host_map.search(text), '%s keeps its own region -> SIP host map' % path.relative_to(ROOT)
