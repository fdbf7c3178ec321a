# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one place that makes the suites' imports resolvable; no test file touches sys.path.

- .collections: ansible_collections.byom.telephony through the repository's symlink;
- tests/: byom_testlib, the helpers the suites share;
- tests/vapi_emulator: the Vapi emulator (`import server`), used in-process by unit tests;
- roles/webhooks/files: the webhook receiver's package (byom_webhooks), unit-tested in-process.
"""
from __future__ import absolute_import, division, print_function

import os
import sys

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)

for extra in (os.path.join(ROOT, 'roles', 'webhooks', 'files'), os.path.join(TESTS, 'vapi_emulator'), TESTS,
              os.path.join(ROOT, '.collections')):
    if extra not in sys.path:
        sys.path.insert(0, extra)
