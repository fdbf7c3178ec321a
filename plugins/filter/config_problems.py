# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one rule for every value that reaches an Asterisk or fail2ban configuration file."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: config_problems
author: byom.telephony contributors
short_description: Why values cannot be written into an Asterisk/fail2ban configuration file
version_added: 1.0.0
description:
  - Walks a dict of C(variable name -> value) (values may be nested lists and dicts) and returns
    one message per string that could change the structure of the file it is templated into.
  - A control character (newline, carriage return, tab, NUL...) starts a new line or object; a
    C(;) starts a comment in Asterisk's C(.conf) files and silently truncates the value (a
    password C(a;bcdef) is read as C(a)); leading or trailing blanks are dropped by Asterisk's
    parser, so a secret that has them is not the secret the peer sends.
  - Dict keys are checked like values. Lists of dicts with a C(name) key are reported as
    C(var[name].key), so the error names the variable and the trunk.
  - Messages name the field and the reason, never the value, so secrets can be checked too.
options:
  _input:
    description: Variable name to value.
    type: dict
    required: true
  secrets:
    description: Key or variable names whose values are secrets (blanks at the ends refused).
    type: list
    elements: str
    default: [password, secret]
  semicolon:
    description: Whether C(;) is refused (Asterisk files). fail2ban files allow it nowhere either.
    type: bool
    default: true
'''

EXAMPLES = r'''
- name: Refuse values that would change a configuration file's structure
  ansible.builtin.assert:
    that: __problems | length == 0
    fail_msg: "{{ __problems | join('; ') }}"
  vars:
    __problems: "{{ {'asterisk_user_agent': asterisk_user_agent} | byom.telephony.config_problems }}"
'''

RETURN = r'''
_value:
  description: One message per unsafe value, naming the field; empty when all are safe.
  type: list
  elements: str
'''

import re

from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types

# C0 controls, DEL and the C1 controls (U+0085 NEL is a line break to Python's splitlines),
# plus the Unicode line and paragraph separators.
_CONTROL = re.compile(u'[\x00-\x1f\x7f-\x9f\u2028\u2029]')
_NAMES = {u'\n': u'a newline', u'\r': u'a carriage return', u'\t': u'a tab', u'\x00': u'a NUL byte'}


def _describe(char):
    return _NAMES.get(char, u'the control character U+%04X' % ord(char))


def value_problem(value, secret=False, semicolon=True):
    """Why one scalar value is unsafe in a configuration line, or None."""
    if value is None or isinstance(value, bool):
        return None
    text = to_text(value, errors='surrogate_or_strict')
    found = _CONTROL.search(text)
    if found:
        return u'contains %s' % _describe(found.group(0))
    if semicolon and u';' in text:
        return u"contains ';' (Asterisk reads the rest of the line as a comment)"
    if secret and text != text.strip():
        return u'starts or ends with a blank (Asterisk strips it, the peer would not)'
    return None


def _item_label(index, item):
    if isinstance(item, dict) and isinstance(item.get('name'), string_types) and item.get('name'):
        return u'[%s]' % item['name'] if value_problem(item['name']) is None else u'[%d]' % index
    return u'[%d]' % index


def _walk(path, value, secret, secrets, semicolon, out):
    if isinstance(value, dict):
        for key in value:
            key_text = to_text(key)
            reason = value_problem(key_text, semicolon=semicolon)
            sub = u'%s.%s' % (path, key_text) if reason is None else u'%s key #%d' % (path, list(value).index(key))
            if reason is not None:
                out.append(u'%s: the key %s' % (sub, reason))
                continue
            _walk(sub, value[key], secret or key_text in secrets, secrets, semicolon, out)
    elif is_sequence(value):
        for index, item in enumerate(value):
            _walk(path + _item_label(index, item), item, secret, secrets, semicolon, out)
    else:
        reason = value_problem(value, secret=secret, semicolon=semicolon)
        if reason is not None:
            out.append(u'%s %s' % (path, reason))


def config_problems(fields, secrets=None, semicolon=True):
    """One message per unsafe string in fields (variable name -> value), naming where it is."""
    if not isinstance(fields, dict):
        # TypeError, not AnsibleFilterError: importing ansible.errors in a plugin that unit tests load
        # switches module warnings to the controller's display for every later test in the process.
        raise TypeError('config_problems expects a dict of variable name to value, got %s' % type(fields).__name__)
    secrets = list(secrets) if secrets is not None else ['password', 'secret']
    out = []
    for name in fields:
        _walk(to_text(name), fields[name], to_text(name) in secrets, secrets, semicolon, out)
    return out


class FilterModule(object):
    def filters(self):
        return {'config_problems': config_problems}
