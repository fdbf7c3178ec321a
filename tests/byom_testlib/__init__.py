# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Code shared by the test suites (unit, integration, security).

Importable from any test because tests/conftest.py puts tests/ on sys.path: test files import
from here, never from each other.
"""
from __future__ import absolute_import, division, print_function

import os

# The repository (collection) root, for files the tests read: roles, playbooks, fixtures.
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
