#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: ufw_ruleset
short_description: Make UFW hold exactly a declared rule set, changing only what differs
version_added: 1.0.0
description:
  - Takes the whole declared firewall (rules, default policies, logging, IPv6) and compares it with
    the running UFW in one read (C(ufw status verbose), C(ufw show added), C(/etc/default/ufw)).
    Both sides are normalised (addresses, networks, port ranges) before the comparison.
  - Only what differs is changed; when nothing differs, no ufw command that writes runs, so the
    firewall is never reloaded by an unchanged run.
  - Rules carrying O(managed_comment) belong to this module; such a rule that is no longer
    declared is deleted. Other rules are kept and reported (O(purge_unmanaged=true) deletes them).
  - Rules are added before anything is deleted and before UFW is enabled, so a declared SSH rule
    exists before the firewall goes up.
author:
  - byom.telephony maintainers (@byom-telephony)
attributes:
  check_mode:
    description: Reports the ufw commands it would run. Without ufw installed (a fresh host in check
      mode) it reports the whole rule set as to be added.
    support: full
  diff_mode:
    description: The firewall before and after, one ufw command per rule plus the settings.
    support: full
  idempotent:
    description: A second run with the same input changes nothing.
    support: full
options:
  rules:
    description:
      - Every rule this module owns, in the order they are to be added (put SSH first).
      - A rule with O(rules[].from) and O(rules[].to) both C(any) applies to IPv4 and, with O(ipv6), IPv6.
    type: list
    elements: dict
    default: []
    suboptions:
      rule:
        description: What the rule does.
        type: str
        choices: [allow, deny, reject, limit]
        default: allow
      direction:
        description: Incoming or outgoing traffic.
        type: str
        choices: [in, out]
        default: in
      proto:
        description:
          - Protocol. V(ah), V(esp), V(gre), V(igmp), V(ipv6) and V(vrrp) (IP protocol 112, a keepalived
            pair's adverts) have no ports; V(igmp) and V(ipv6) exist for IPv4 only.
        type: str
        choices: [any, tcp, udp, ah, esp, gre, igmp, ipv6, vrrp]
        default: any
      port:
        description: Destination port, range C(N:M) or list C(N,M) (lists need a protocol); C(any) for all.
        type: str
        default: any
      from:
        description:
          - Source addresses or networks (IPv4 or IPv6), or C(any).
          - A list declares one rule per source, the other fields alike.
        type: list
        elements: str
        default: [any]
      to:
        description: Destination address or network, or C(any).
        type: str
        default: any
      from_port:
        description: Source port, range or list, or C(any).
        type: str
        default: any
  default_incoming:
    description: Default policy for incoming traffic. Unset leaves it as it is.
    type: str
    choices: [allow, deny, reject]
  default_outgoing:
    description: Default policy for outgoing traffic. Unset leaves it as it is.
    type: str
    choices: [allow, deny, reject]
  default_routed:
    description:
      - Default policy for routed traffic. Unset leaves it as it is.
      - When UFW reports routing as C(disabled) (the kernel does not forward), nothing is changed.
    type: str
    choices: [allow, deny, reject]
  logging:
    description: UFW's logging (C(on) accepts any level). Unset leaves it as it is.
    type: str
    choices: ['on', 'off', low, medium, high, full]
  ipv6:
    description: Whether UFW also writes IPv6 rules (C(IPV6=) in C(/etc/default/ufw)). Unset leaves it as it is.
    type: bool
  managed_comment:
    description: The comment that marks the rules this module owns; every declared rule is written with it.
    type: str
    default: byom-managed
  purge_unmanaged:
    description: Also delete rules that do not carry O(managed_comment) and are not declared.
    type: bool
    default: false
notes:
  - UFW is enabled (C(ufw --force enable)) when it is not active.
  - Rules this module does not declare itself (application profiles, interfaces, routing) are read,
    reported and, when they are to be deleted, deleted as ufw lists them.
  - UFW lists an IPv4+IPv6 rule once; removing only its IPv6 half by hand is not detected.
requirements:
  - ufw
'''

EXAMPLES = r'''
- name: Firewall of a SIP edge
  byom.telephony.ufw_ruleset:
    rules:
      - {proto: tcp, port: "22"}
      - {proto: udp, port: "5060", from: [203.0.113.10, 198.51.100.0/24]}
      - {proto: udp, port: "10000:20000"}
      - {proto: tcp, port: "9100", from: "2001:db8::/64"}
    default_incoming: deny
    default_outgoing: allow
    default_routed: deny
    logging: low
    ipv6: true
'''

RETURN = r'''
commands:
  description: The ufw commands run (or, in check mode, that would run), in order.
  returned: always
  type: list
  elements: str
  sample: ["ufw allow proto udp from 203.0.113.10 to any port 5060 comment byom-managed"]
added:
  description: Declared rules that were missing (or had another comment), as ufw commands.
  returned: always
  type: list
  elements: str
deleted:
  description: Rules deleted, as ufw commands.
  returned: always
  type: list
  elements: str
unmanaged:
  description: Rules kept although not declared (no O(managed_comment), O(purge_unmanaged=false)).
  returned: always
  type: list
  elements: str
'''

import os
import shlex

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.byom.telephony.plugins.module_utils import ufw as ufw_utils

DEFAULT_FILE = '/etc/default/ufw'
CONF_FILE = '/etc/ufw/ufw.conf'


def read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return ''


def declared_rules(module):
    rules = []
    for index, item in enumerate(module.params['rules']):
        for source in item['from'] or ['any']:
            try:
                rules.append(ufw_utils.make_rule(item['rule'], item['direction'], item['proto'], item['port'],
                                                 source, item['to'], item['from_port'],
                                                 module.params['managed_comment'], field='rules[%d]' % index))
            except ufw_utils.UfwError as exc:
                module.fail_json(msg=str(exc))
    return rules


def current_state(module, ufw):
    """Rules, running status, IPv6 setting, as one read of ufw and its configuration."""
    env = {'LANG': 'C', 'LC_ALL': 'C'}
    rc, status_out, err = module.run_command([ufw, 'status', 'verbose'], environ_update=env)
    if rc != 0:
        module.fail_json(msg='ufw status verbose failed: %s' % (err or status_out).strip())
    rc, added_out, err = module.run_command([ufw, 'show', 'added'], environ_update=env)
    if rc != 0:
        module.fail_json(msg='ufw show added failed: %s' % (err or added_out).strip())
    status = ufw_utils.parse_status(status_out)
    default_text = read(DEFAULT_FILE)
    if not status['defaults']:
        # Inactive: ufw prints neither defaults nor logging; what it will apply is configured here.
        status['defaults'] = ufw_utils.defaults_from_config(default_text)
    if status['logging'] is None:
        level = ufw_utils.parse_shell_vars(read(CONF_FILE)).get('LOGLEVEL', 'low')
        status['logging'] = level or 'low'
    ipv6 = ufw_utils.parse_shell_vars(default_text).get('IPV6', 'yes').lower() == 'yes'
    return ufw_utils.parse_show_added(added_out), status, ipv6, default_text


def main():
    rule_spec = dict(
        rule=dict(type='str', choices=list(ufw_utils.ACTIONS), default='allow'),
        direction=dict(type='str', choices=['in', 'out'], default='in'),
        proto=dict(type='str', choices=list(ufw_utils.PROTOCOLS), default='any'),
        port=dict(type='str', default='any'),
        to=dict(type='str', default='any'),
        from_port=dict(type='str', default='any'),
    )
    rule_spec['from'] = dict(type='list', elements='str', default=['any'])
    module = AnsibleModule(
        argument_spec=dict(
            rules=dict(type='list', elements='dict', default=[], options=rule_spec),
            default_incoming=dict(type='str', choices=list(ufw_utils.POLICIES)),
            default_outgoing=dict(type='str', choices=list(ufw_utils.POLICIES)),
            default_routed=dict(type='str', choices=list(ufw_utils.POLICIES)),
            logging=dict(type='str', choices=list(ufw_utils.LOG_LEVELS)),
            ipv6=dict(type='bool'),
            managed_comment=dict(type='str', default='byom-managed'),
            purge_unmanaged=dict(type='bool', default=False),
        ),
        supports_check_mode=True,
    )
    params = module.params
    desired = declared_rules(module)
    policies = dict((d, params['default_' + d]) for d in ufw_utils.DIRECTIONS)

    ufw = module.get_bin_path('ufw')
    if ufw is None:
        if not module.check_mode:
            module.fail_json(msg='ufw is not installed (install the ufw package first)')
        # Check mode on a fresh host: the package task only reported it would install ufw.
        current, status, ipv6_now, default_text = [], {'active': False, 'logging': None, 'defaults': {}}, params['ipv6'], ''
    else:
        current, status, ipv6_now, default_text = current_state(module, ufw)
    ipv6_wanted = ipv6_now if params['ipv6'] is None else params['ipv6']

    todo = ufw_utils.plan(current, desired, status, ipv6_now, ipv6_wanted, policies, params['logging'],
                          params['managed_comment'], params['purge_unmanaged'])

    result = dict(
        changed=todo['changed'],
        commands=[" ".join(["ufw"] + [shlex.quote(a) for a in args]) for args in todo["commands"]],
        added=[ufw_utils.rule_text(r) for r in todo['add']],
        deleted=[ufw_utils.rule_text(r) for r in todo['delete']],
        unmanaged=[ufw_utils.rule_text(r) for r in todo['unmanaged']],
    )
    if module._diff:
        gone = set(ufw_utils.rule_key(r) for r in todo['delete'] + todo['add'])
        after = [r for r in current if ufw_utils.rule_key(r) not in gone] + todo['add']
        after_policies = dict(status['defaults'])
        after_policies.update(dict(todo['policies']))
        result['diff'] = dict(
            before_header='ufw', after_header='ufw',
            before=ufw_utils.describe(current, status['active'], ipv6_now, status['defaults'], status['logging']),
            after=ufw_utils.describe(after, True, ipv6_wanted, after_policies,
                                     params['logging'] if todo['logging'] else status['logging']),
        )
    if todo['unmanaged']:
        module.warn('UFW rules without the %r comment are kept (purge_unmanaged is false): %s'
                    % (params['managed_comment'], '; '.join(result['unmanaged'])))

    if module.check_mode or not todo['changed']:
        module.exit_json(**result)

    if todo['ipv6']:
        # Before the rules are added: ufw reads IPV6= on every call, so 'any' rules get both halves.
        module.atomic_move(write_temp(module, ufw_utils.set_ipv6(default_text, ipv6_wanted)), DEFAULT_FILE)
    for args in todo['commands']:
        rc, out, err = module.run_command([ufw] + args, environ_update={'LANG': 'C', 'LC_ALL': 'C'})
        if rc != 0:
            module.fail_json(msg='ufw %s failed: %s' % (' '.join(args), (err or out).strip()), **result)
    module.exit_json(**result)


def write_temp(module, text):
    """A temporary file beside the target with the target's owner and mode (atomic_move keeps them)."""
    path = os.path.join(module.tmpdir, 'ufw-default')
    with open(path, 'w') as handle:
        handle.write(text)
    return path


if __name__ == '__main__':
    main()
