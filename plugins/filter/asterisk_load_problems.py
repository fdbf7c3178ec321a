# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the running Asterisk loaded, compared with what the asterisk role wrote."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
name: asterisk_load_problems
author: byom.telephony contributors
short_description: Differences between the Asterisk configuration written and the one running
version_added: 1.0.0
description:
  - Reads the answers of C(asterisk -rx) questions (C(pjsip show endpoints|aors|auths|identifies|transports|registrations),
    C(dialplan show), C(module show)) and compares them with what the role declared.
  - PJSIP objects are compared both ways. A missing one was dropped (a bad option); an extra one came
    from somewhere the role does not write (another sorcery source, a stray include).
  - Each declared dialplan context must hold exactly the declared extensions (patterns) and no include,
    because Asterisk drops an extension it refuses with a WARNING only, and an extra one is a route nobody declared.
  - Modules in O(expected.modules_running) must be C(Running); modules in O(expected.modules_absent) must not
    appear at all.
  - Options in O(expected.endpoint_options) must run with the declared value (C(pjsip show endpoint <name>)), for
    the options that decide who gets in without a digest (auth, identify_by, allow_unauthenticated_options).
options:
  _input:
    description: The answers, keyed by the question asked (C(pjsip show endpoints), C(dialplan show), C(module show)...).
    type: dict
    required: true
  expected:
    description:
      - C(endpoints), C(aors), C(auths), C(identifies), C(transports), C(registrations) (lists of names; a kind
        left out is not checked), C(contexts) (dict of context name to its list of extensions),
        C(modules_running) and C(modules_absent) (lists of module file names, C(.so) optional),
        C(endpoint_options) (dict of endpoint name to a dict of option and value; booleans compare as Asterisk
        shows them, C(yes)/C(true) alike).
    type: dict
    required: true
'''

EXAMPLES = r'''
- name: Compare
  ansible.builtin.set_fact:
    problems: "{{ answers | byom.telephony.asterisk_load_problems({'endpoints': ['vapi'], 'contexts': {'default': []}}) }}"
'''

RETURN = r'''
_value:
  description: One sentence per difference, such as C(extra endpoint rogue) or C(lost extension _+1NXXNXXXXXX in from-vapi); empty when none.
  type: list
  elements: str
'''

# No ansible.errors import: it changes how modules' warnings are collected in the unit suite.
import re

from ansible.module_utils.common.text.converters import to_text

# Question and the label its object lines start with. Header lines hold "<...>" placeholders.
PJSIP_KINDS = (
    ('endpoints', 'pjsip show endpoints', r'Endpoint'),
    ('aors', 'pjsip show aors', r'Aor'),
    ('auths', 'pjsip show auths', r'Auth'),
    ('identifies', 'pjsip show identifies', r'Identify'),
    ('transports', 'pjsip show transports', r'Transport'),
    ('registrations', 'pjsip show registrations', None),
)
# "pjsip show registrations": "<name>/<server uri>  <auth>  <status>"; its header starts with "<".
_REGISTRATION = re.compile(r'^ *([^ </][^ /]*)/\S+ ', re.M)
_CONTEXT = re.compile(r"^\[ Context '([^']*)' created by '[^']*' \]$")
_EXTENSION = re.compile(r"^  '([^']*)'(?: \(CID match '[^']*'\))? =>")
_INCLUDE = re.compile(r"^  Include =>\s+'([^']*)'")
_MODULE = re.compile(r'^(\S+\.so)\s(.*)$')
# "pjsip show endpoint <name>": after the "ParameterName : ParameterValue" header, one option a line.
_PARAMETER = re.compile(r'^ ([a-z0-9_]+) +: ?(.*?)[ \t]*$', re.M)
_TRUE = ('yes', 'true', 'on', '1')
_FALSE = ('no', 'false', 'off', '0')


def pjsip_names(output, label):
    """Names listed by a "pjsip show <kind>s" answer (the part before a '/', headers skipped)."""
    if label is None:
        return _REGISTRATION.findall(to_text(output))
    return re.findall(r'^ *%s: +([^ <][^ /]*)' % label, to_text(output), re.M)


def dialplan_contexts(output):
    """{context: {'extensions': [...], 'includes': [...]}} from a "dialplan show" answer."""
    contexts = {}
    current = None
    for line in to_text(output).splitlines():
        match = _CONTEXT.match(line)
        if match:
            current = contexts.setdefault(match.group(1), {'extensions': [], 'includes': []})
            continue
        if current is None:
            continue
        match = _EXTENSION.match(line)
        if match:
            current['extensions'].append(match.group(1))
            continue
        match = _INCLUDE.match(line)
        if match:
            current['includes'].append(match.group(1))
    return contexts


def module_states(output):
    """{module.so: 'Running' | 'Not Running' | ...} from a "module show [like]" answer."""
    states = {}
    for line in to_text(output).splitlines():
        match = _MODULE.match(line)
        if match:
            status = re.search(r'\s(Not Running|Running|Declined|Unknown)\s+\S+\s*$', match.group(2))
            states[match.group(1)] = status.group(1) if status else 'unknown status'
    return states


def endpoint_parameters(output):
    """{option: value} from a "pjsip show endpoint <name>" answer; {} when it shows no endpoint."""
    text = to_text(output)
    start = text.find(' ParameterName ')
    if start < 0:
        return {}
    parameters = {}
    for name, value in _PARAMETER.findall(text[start:]):
        parameters.setdefault(name, value)
    return parameters


def _option_value(value):
    """Asterisk shows some booleans as yes/no and others as true/false: compare them as one."""
    text = to_text(value).strip()
    if text.lower() in _TRUE:
        return 'true'
    if text.lower() in _FALSE:
        return 'false'
    return text


def _so(name):
    name = to_text(name)
    return name if name.endswith('.so') else name + '.so'


def asterisk_load_problems(answers, expected):
    if not isinstance(answers, dict) or not isinstance(expected, dict):
        raise ValueError('asterisk_load_problems needs a dict of answers and a dict of expectations')
    problems = []

    def answer(question):
        if question not in answers:
            raise ValueError('asterisk_load_problems: no answer to %r' % question)
        return answers[question]

    for kind, question, label in PJSIP_KINDS:
        if kind not in expected:
            continue
        singular = kind[:-3] + 'y' if kind.endswith('ies') else kind[:-1]
        declared = [to_text(name) for name in expected[kind]]
        loaded = pjsip_names(answer(question), label)
        problems += ['missing %s %s' % (singular, name) for name in declared if name not in loaded]
        problems += ['extra %s %s' % (singular, name) for name in sorted(set(loaded)) if name not in declared]

    if 'contexts' in expected:
        loaded = dialplan_contexts(answer('dialplan show'))
        for context, extensions in sorted(expected['contexts'].items()):
            if context not in loaded:
                problems.append('missing context %s' % context)
                continue
            declared = [to_text(extension) for extension in extensions]
            found = loaded[context]['extensions']
            problems += ['lost extension %s in %s' % (extension, context)
                         for extension in sorted(set(declared)) if extension not in found]
            problems += ['extra extension %s in %s' % (extension, context)
                         for extension in sorted(set(found)) if extension not in declared]
            problems += ['extra include %s in %s' % (include, context) for include in loaded[context]['includes']]

    if 'modules_running' in expected or 'modules_absent' in expected:
        states = module_states(answer('module show'))
        for module in sorted(set(_so(name) for name in expected.get('modules_running', []))):
            if states.get(module) != 'Running':
                problems.append('module %s is %s (must be Running)' % (module, states.get(module, 'not loaded')))
        for module in sorted(set(_so(name) for name in expected.get('modules_absent', []))):
            if module in states:
                problems.append('module %s is loaded (%s) and must not be' % (module, states[module]))

    for endpoint, options in sorted(expected.get('endpoint_options', {}).items()):
        running = endpoint_parameters(answer('pjsip show endpoint %s' % endpoint))
        if not running:
            problems.append('no options shown for endpoint %s' % endpoint)
            continue
        for option, value in sorted(options.items()):
            if option not in running:
                problems.append('endpoint %s shows no option %s' % (endpoint, option))
            elif _option_value(running[option]) != _option_value(value):
                problems.append('endpoint %s runs %s=%s, declared %s' % (endpoint, option, running[option], _option_value(value)))
    return problems


class FilterModule(object):
    def filters(self):
        return {'asterisk_load_problems': asterisk_load_problems}
