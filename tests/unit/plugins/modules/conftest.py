# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fixtures the module tests share (tests/unit/conftest.py has run_module, api, sent)."""
from __future__ import absolute_import, division, print_function

import pytest

# Every way Ansible can run a module: a test taking `mode` runs once in each, as
# run_module(main, args, **mode), so check and diff mode are held to the same results.
MODES = {
    'check': dict(check=True, diff=False),
    'check+diff': dict(check=True, diff=True),
    'diff': dict(check=False, diff=True),
    'normal': dict(check=False, diff=False),
}


@pytest.fixture(params=sorted(MODES))
def mode(request):
    """{'check': bool, 'diff': bool} for each of normal, check, diff and check+diff mode."""
    return dict(MODES[request.param])
