# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Code shared by the test suites (unit, integration, security).

Importable from any test because tests/conftest.py puts tests/ on sys.path: test files import
from here, never from each other.

- emulator: the Vapi API emulator as a process (``with Emulator(key) as emu``) and its client;
- playbooks: ansible-playbook runs (default or JSON callback) and reading their output (recap,
  changed, changes);
- lab: scripts/lab.sh driven by a test (its own container, emulator port and state directory);
- containers: systemd containers, docker exec, addresses, clean-up (also used by bench/proxy.py);
- grafana_standin: a Grafana HTTP API stand-in; seclib: the security and fault suites' helpers.
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
