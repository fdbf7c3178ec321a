# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""tests/unit/plugins mirrors plugins/: every plugin file is imported by a test of its own type."""
from __future__ import absolute_import, division, print_function

import os
import re

from byom_testlib import ROOT

HERE = os.path.dirname(os.path.abspath(__file__))


def untested():
    missing = []
    for kind in sorted(os.listdir(os.path.join(ROOT, 'plugins'))):
        names = [n[:-3] for n in os.listdir(os.path.join(ROOT, 'plugins', kind)) if n.endswith('.py') and n != '__init__.py']
        tests = ''
        for top, _dirs, files in os.walk(os.path.join(HERE, kind)):
            for name in files:
                if name.startswith('test_') and name.endswith('.py'):
                    with open(os.path.join(top, name)) as handle:
                        tests += handle.read()
        for name in names:
            if not re.search(r'plugins\.%s\.%s\b|plugins\.%s import [^\n]*\b%s\b' % (kind, name, kind, name), tests):
                missing.append('plugins/%s/%s.py' % (kind, name))
    return missing


def test_every_plugin_has_unit_tests_under_its_own_type():
    assert untested() == []
