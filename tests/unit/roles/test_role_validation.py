# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Role validation: argument_specs checks types and choices, validate.yml only the rest.

- No validate task re-asserts a variable's declared choices or type (`x in [...]` for a variable
  with choices, `x is string|sequence|mapping` for one typed str/list/dict).
- One message per rule: the conditions of an assert's `that` all concern one variable (a range's
  two bounds, say); rules about different variables go into a `__<role>_rules` list of {ok, msg}
  pairs, each message naming the variable it is about.
- Only validate*.yml: the source path's own checks (source_validate.yml) also run through
  `tasks_from`, without the argument spec, so they keep their type checks.
"""
from __future__ import absolute_import, division, print_function

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
ROLES = sorted(p.parent.parent for p in ROOT.glob('roles/*/meta/argument_specs.yml'))
TYPE_TESTS = {'str': 'string', 'list': 'sequence', 'dict': 'mapping'}


def _spec(role):
    spec = yaml.safe_load((role / 'meta/argument_specs.yml').read_text())['argument_specs']
    return spec['main'].get('options') or {}


def _asserts(role):
    for path in sorted((role / 'tasks').glob('validate*.yml')):
        for task in yaml.safe_load(path.read_text()) or []:
            if 'ansible.builtin.assert' in task:
                yield path, task


def _conditions(args):
    that = args.get('that')
    return that if isinstance(that, list) else [that]


def _rule_texts(task):
    for name, value in (task.get('vars') or {}).items():
        if name.endswith('_rules'):
            for rule in value:
                yield rule['ok'], rule['msg']


@pytest.mark.parametrize('role', ROLES, ids=lambda r: r.name)
def test_validation_does_not_repeat_the_argument_spec(role):
    spec = _spec(role)
    for path, task in _asserts(role):
        texts = [str(c) for c in _conditions(task['ansible.builtin.assert'])] + [ok for ok, _msg in _rule_texts(task)]
        for text in texts:
            for name, option in spec.items():
                if option.get('choices') and re.search(r'\b%s\s+in\s+\[' % re.escape(name), text):
                    pytest.fail('%s: %r re-asserts the choices of %s' % (path.name, task['name'], name))
                test = TYPE_TESTS.get(option.get('type', 'str'))
                if test and re.search(r'\b%s\s+is\s+%s\b' % (re.escape(name), test), text):
                    pytest.fail('%s: %r re-asserts the type of %s' % (path.name, task['name'], name))


@pytest.mark.parametrize('role', ROLES, ids=lambda r: r.name)
def test_one_message_per_rule(role):
    spec = _spec(role)
    for path, task in _asserts(role):
        args = task['ansible.builtin.assert']
        # Conditions about different variables under one message: the message cannot say which failed.
        subjects = {frozenset(n for n in spec if re.search(r'\b%s\b' % n, str(c))) for c in _conditions(args)}
        subjects.discard(frozenset())
        assert not subjects or frozenset.intersection(*subjects), '%s: %r checks %s under one message: use a rules list' % (
            path.name, task['name'], sorted(sorted(s) for s in subjects))
        for ok, msg in _rule_texts(task):
            about = [n for n in spec if re.search(r'\b%s\b' % n, ok)]
            assert not about or any(n in msg for n in about) or 'asterisk_carrier_trunks' in str(args.get('fail_msg')) \
                or re.search(r'entry|on \{\{ inventory_hostname', str(args.get('fail_msg'))), \
                '%s: %r: the message %r names none of %s' % (path.name, task['name'], msg, about)


def _input_checks(role):
    """Every check of the role's byom.telephony.validate_inputs tasks, item checks with their list's field."""
    for path in sorted((role / 'tasks').glob('validate*.yml')):
        for task in yaml.safe_load(path.read_text()) or []:
            args = task.get('byom.telephony.validate_inputs')
            for check in (args or {}).get('checks') or []:
                yield path, task, check['field'], check
                for sub in check.get('items') or []:
                    yield path, task, check['field'], sub


@pytest.mark.parametrize('role', ROLES, ids=lambda r: r.name)
def test_input_checks_name_declared_variables_and_leave_types_to_the_spec(role):
    spec = _spec(role)
    for path, task, field, check in _input_checks(role):
        # A message names its field: it must be a variable the role declares.
        variable = re.split(r'[\s\[.]', field)[0]
        assert variable in spec, '%s: %r checks %r, which the argument spec does not declare' % (path.name, task['name'], field)
        option = spec[variable] if 'key' not in check else {}
        assert not (option.get('choices') and 'choices' in check), \
            '%s: %r re-checks the choices of %s' % (path.name, task['name'], variable)
        rule = str(check.get('ok', ''))
        for name, declared in spec.items():
            if declared.get('choices') and re.search(r'\b%s\s+in\s+\[' % re.escape(name), rule):
                pytest.fail('%s: %r re-asserts the choices of %s' % (path.name, task['name'], name))
            test = TYPE_TESTS.get(declared.get('type', 'str'))
            if test and re.search(r'\b%s\s+is\s+%s\b' % (re.escape(name), test), rule):
                pytest.fail('%s: %r re-asserts the type of %s' % (path.name, task['name'], name))
