# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# The work is done by the action plugin of the same name (plugins/action/validate_inputs.py), on
# the controller; this file only documents it.
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
module: validate_inputs
author:
  - byom.telephony maintainers (@byom-telephony)
short_description: Check a role's inputs in one pass on the controller, reporting every problem at once
version_added: 1.0.0
description:
  - Runs the checks a role declares for its variables (what C(meta/argument_specs.yml) cannot
    check - ranges, shapes, allowlists, narrow networks, rules between variables) in one task on
    the controller. It never contacts the managed host.
  - Fails with one message per failing check, each naming its field (for example
    C(asterisk_carrier_trunks[acme].extra_options)), all of them in one result.
  - Values of the fields and keys listed in O(secrets) are never shown in a message.
  - Types, choices and required values are left to the role's argument spec.
attributes:
  check_mode:
    support: full
    description: Nothing is changed in either mode.
  diff_mode:
    support: none
    description: Nothing is changed.
  platform:
    support: full
    platforms: all
    description: Runs on the controller only.
options:
  config:
    description:
      - Variable name to value of every string a template writes into a configuration file,
        checked by the C(byom.telephony.config_problems) filter (no control characters, no C(;),
        no blanks around a secret).
    type: dict
  semicolon:
    description: Whether O(config) values may not contain C(;).
    type: bool
    default: true
  secrets:
    description:
      - Field and key names whose values are secrets - never shown in a message, removed from the
        C(item) that the O(checks[].ok) expressions of O(checks[].items) see, blanks at either end refused in O(config).
    type: list
    elements: str
    default: [password, secret]
  checks:
    description:
      - The checks, in order. Each names a O(checks[].field) and declares one or more kinds
        (O(checks[].int), O(checks[].match), ...); every kind reports its own message.
    type: list
    elements: dict
    suboptions:
      field:
        description: The name messages show (the variable, maybe with the site-wide variable it defaults from).
        type: str
        required: true
      value:
        description: The value checked.
        type: raw
      when:
        description:
          - Run this check only when true (a boolean templated by the task, or a conditional expression
            like O(checks[].ok)), for inputs of a feature that is switched off.
        type: raw
      int:
        description: An integer (or a string of digits) from the first to the second bound; V(null) leaves a side open.
        type: list
        elements: raw
      match:
        description: A string matching this Python regular expression (anchor it with C(^) and C(\Z)).
        type: str
      hint:
        description: What a valid value looks like, appended to the message.
        type: str
      each:
        description: Apply O(checks[].int), O(checks[].match) or O(checks[].choices) to every element of a list.
        type: bool
        default: false
      choices:
        description: The value is one of these (for allowed sets that depend on other variables).
        type: list
        elements: raw
      subset:
        description: A list whose elements all come from these.
        type: list
        elements: raw
      nonempty:
        description: With O(checks[].subset) or O(checks[].networks), the list must not be empty; for an item key, the key is required.
        type: bool
        default: false
      keys:
        description: A mapping whose keys all come from these (allowlisted options).
        type: list
        elements: str
      networks:
        description:
          - A list of IP addresses or CIDRs. C(version) (4 or 6) restricts the family (C(version_hint)
            says why in the message); C(prefix4) and C(prefix6) refuse networks wider than that prefix length.
        type: dict
      unique:
        description: The list's entries are unique; a string names the key of mapping entries compared (C(name)).
        type: raw
      ok:
        description:
          - A rule between variables. A conditional expression without braces, as in
            C(ansible.builtin.assert)'s C(that), that the plugin evaluates (inside O(checks[].items), with
            C(item) the entry without its secret keys; an expression that fails on a malformed value is
            reported as that field's problem), or a boolean templated by the task.
            O(checks[].msg) is reported when it is false; the field is prefixed unless the message names it.
        type: raw
      msg:
        description: The message of O(checks[].ok).
        type: str
      items:
        description:
          - The value is a list of mappings; these checks run on every entry. Instead of O(checks[].value)
            they take C(key) (the entry's key checked, with an optional C(default) when absent; without
            C(key) the rule is about the whole entry) and name their field C(field[label].key).
          - C(requires) (a key name or list) - when the checked key is set, these keys must be set too.
        type: list
        elements: dict
      label:
        description: With O(checks[].items), the key whose value names an entry in messages (its index when unsafe or absent).
        type: str
        default: name
  warn:
    description:
      - Warnings shown when their C(when) is true (C({when, msg}) pairs; C(when) a boolean or a
        conditional expression, false when it cannot be evaluated); they never fail the task.
    type: list
    elements: dict
notes:
  - Conditional expressions in O(checks[].items) are plain strings (no C({{ }})), so that the task does
    not template them before C(item) exists.
seealso:
  - plugin: byom.telephony.config_problems
    plugin_type: filter
'''

EXAMPLES = r'''
- name: Validate | Inputs
  byom.telephony.validate_inputs:
    secrets: [demo_password, password]
    config:
      demo_user_agent: "{{ demo_user_agent }}"
    checks:
      - {field: demo_port, value: "{{ demo_port }}", int: [1, 65535]}
      - {field: demo_log_dir, value: "{{ demo_log_dir }}", match: '^/[A-Za-z0-9._/-]*\Z', hint: an absolute path}
      - {field: demo_peers, value: "{{ demo_peers }}", networks: {version: 4, prefix4: 16}, nonempty: true}
      - field: demo_trunks
        value: "{{ demo_trunks }}"
        unique: name
        items:
          - {key: name, match: '^[a-z][a-z0-9_]{0,30}\Z', hint: "[a-z][a-z0-9_]*", nonempty: true}
          - {key: extra_options, keys: [timers, language]}
          - {key: username, requires: password}
          - {key: transport, ok: "item.transport != 'tcp' or demo_tcp_enabled | bool", msg: tcp needs demo_tcp_enabled}
      - {field: demo_nat_mode, ok: "{{ demo_nat_mode != 'on' or demo_public_ipv4 | length > 0 }}", msg: demo_nat_mode=on needs demo_public_ipv4}
    warn:
      - {when: "{{ demo_version == '18' }}", msg: Asterisk 18 is end of life}
'''

RETURN = r'''
msg:
  description: On failure, the number of problems and one message per failing check, each naming its field, separated by C( | ).
  returned: always
  type: str
  sample: "1 invalid input, nothing was changed: asterisk_carrier_trunks[acme].extra_options may only set timers, language; refused: \"context\""
'''
