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


def load_script(relpath, name):
    """A script of the repository that is not a package (a role's files/, bench/) as a module."""
    import importlib.util  # pylint: disable=import-outside-toplevel
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, relpath))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
