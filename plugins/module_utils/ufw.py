# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read UFW through its public output, normalise declared and current rules alike, and plan
the commands that turn one into the other (the ufw_ruleset module runs them).

Sources, all documented by ufw(8): ``ufw show added`` (the rules as ufw commands, also while
the firewall is inactive), ``ufw status verbose`` (running state, logging, default policies)
and ``/etc/default/ufw`` (IPV6=, the default policies while inactive) plus
``/etc/ufw/ufw.conf`` (LOGLEVEL= while inactive). Pure functions, so they are unit-tested with
captured real output.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import re
import shlex

ACTIONS = ('allow', 'deny', 'reject', 'limit')
POLICIES = ('allow', 'deny', 'reject')
DIRECTIONS = ('incoming', 'outgoing', 'routed')
LOG_LEVELS = ('on', 'off', 'low', 'medium', 'high', 'full')
# IP protocols without ports that ufw (0.36, util.supported_protocols) takes after `proto`, e.g.
# vrrp (112) for a keepalived pair; igmp and ipv6 exist in its IPv4 tables only.
PORTLESS_PROTOCOLS = ('ah', 'esp', 'gre', 'igmp', 'ipv6', 'vrrp')
PROTOCOLS = ('any', 'tcp', 'udp') + PORTLESS_PROTOCOLS
_IPV4_ONLY_PROTOCOLS = ('igmp', 'ipv6')
_ANY = ('any', '0.0.0.0/0', '::/0', '')
# /etc/default/ufw spells policies the iptables way.
_POLICY_WORDS = {'ACCEPT': 'allow', 'DROP': 'deny', 'REJECT': 'reject'}
_POLICY_KEYS = {'incoming': 'DEFAULT_INPUT_POLICY', 'outgoing': 'DEFAULT_OUTPUT_POLICY',
                'routed': 'DEFAULT_FORWARD_POLICY'}


class UfwError(ValueError):
    """A declared rule or a line of ufw's output that cannot be understood."""


def normalise_address(value, field='address'):
    """'any', or the address/network the way ufw prints it: a host without its /32 or /128,
    a network with its host bits cleared, IPv6 compressed."""
    text = str(value if value is not None else 'any').strip()
    if text in _ANY:
        return 'any'
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise UfwError('%s: %r is not an IPv4/IPv6 address or network' % (field, value))
    if net.prefixlen == net.max_prefixlen:
        return str(net.network_address)
    return str(net)


def normalise_port(value, field='port'):
    """'any', 'N', 'N:M' (a range) or 'N,M,...' (a list, as ufw's multiport), numbers checked."""
    text = str(value if value is not None else 'any').strip()
    if text in ('', 'any'):
        return 'any'
    parts = []
    for part in text.split(','):
        bounds = part.split(':')
        if len(bounds) > 2 or not all(b.isdigit() and 1 <= int(b) <= 65535 for b in bounds):
            raise UfwError('%s: %r is not a port (N), range (N:M) or list (N,M) of 1-65535' % (field, value))
        low, high = int(bounds[0]), int(bounds[-1])
        if low > high:
            raise UfwError('%s: %r is a range that runs downwards' % (field, value))
        parts.append(str(low) if low == high else '%d:%d' % (low, high))
    return ','.join(parts)


def family(rule):
    """'v4', 'v6' or 'both' (a rule from and to 'any' lives in both of ufw's tables)."""
    addrs = [a for a in (rule['from'], rule['to']) if a != 'any']
    if rule.get('proto') in _IPV4_ONLY_PROTOCOLS:
        return 'v4'
    if not addrs:
        return 'both'
    return 'v6' if ':' in addrs[0] else 'v4'


def make_rule(action='allow', direction='in', proto='any', port='any', src='any', dst='any',
              from_port='any', comment='', field='rule'):
    """One rule in canonical form; raises UfwError naming the field for bad input."""
    action = str(action or 'allow')
    if action not in ACTIONS:
        raise UfwError('%s.rule: %r is not one of %s' % (field, action, ', '.join(ACTIONS)))
    direction = str(direction or 'in')
    if direction not in ('in', 'out'):
        raise UfwError('%s.direction: %r is not in or out' % (field, direction))
    proto = str(proto or 'any')
    if proto not in PROTOCOLS:
        raise UfwError('%s.proto: %r is not one of %s' % (field, proto, ', '.join(PROTOCOLS)))
    rule = {
        'rule': action, 'direction': direction, 'proto': proto,
        'port': normalise_port(port, field + '.port'),
        'from': normalise_address(src, field + '.from'),
        'to': normalise_address(dst, field + '.to'),
        'from_port': normalise_port(from_port, field + '.from_port'),
        'comment': str(comment or ''),
    }
    if rule['proto'] == 'any' and ',' in rule['port'] + rule['from_port']:
        raise UfwError('%s: a port list needs proto tcp or udp (ufw refuses it otherwise)' % field)
    if rule['proto'] in PORTLESS_PROTOCOLS and (rule['port'], rule['from_port']) != ('any', 'any'):
        raise UfwError('%s: proto %s has no ports (port and from_port must be any)' % (field, rule['proto']))
    if rule['proto'] in _IPV4_ONLY_PROTOCOLS and ':' in rule['from'] + rule['to']:
        raise UfwError('%s: proto %s exists for IPv4 only' % (field, rule['proto']))
    if 'any' not in (rule['from'], rule['to']) and (':' in rule['from']) != (':' in rule['to']):
        raise UfwError('%s: from %s and to %s mix IPv4 and IPv6' % (field, rule['from'], rule['to']))
    return rule


def rule_key(rule):
    """What identifies a rule in ufw (the comment is an attribute, not part of the identity)."""
    if 'raw' in rule:
        return ('raw', rule['raw'])
    return (rule['rule'], rule['direction'], rule['proto'], rule['port'], rule['from'], rule['to'], rule['from_port'])


def rule_args(rule, with_comment=True):
    """The ufw arguments that add (or, without the comment, delete) the rule."""
    if 'args' in rule:
        # As ufw listed it: ufw deletes by its own spelling (it keeps an IPv6 network's host bits).
        args = list(rule['args'])
        if not with_comment and 'comment' in args:
            args = args[:args.index('comment')]
        return args
    args = [rule['rule']]
    if rule['direction'] == 'out':
        args.append('out')
    if rule['proto'] != 'any':
        args += ['proto', rule['proto']]
    args += ['from', rule['from']]
    if rule['from_port'] != 'any':
        args += ['port', rule['from_port']]
    args += ['to', rule['to']]
    if rule['port'] != 'any':
        args += ['port', rule['port']]
    if with_comment and rule['comment']:
        args += ['comment', rule['comment']]
    return args


def rule_text(rule):
    """One readable line per rule, as a ufw command (diffs, reports)."""
    return ' '.join(shlex.quote(a) for a in rule_args(rule))


def _parse_port_proto(token):
    port, _sep, proto = token.partition('/')
    return port, (proto or 'any')


def parse_rule_command(line):
    """One line of ``ufw show added`` (``ufw allow from 10.0.0.1 to any port 22 proto tcp``).

    Plain rules come back in canonical form; rules this module does not declare (application
    profiles, interfaces, routing, logging options) come back as {'raw': <command>, 'args':
    <ufw arguments>, 'comment': ...}, so they can be reported, compared and deleted as they are.
    """
    tokens = shlex.split(line)
    if not tokens or tokens[0] != 'ufw':
        raise UfwError('not a ufw command: %r' % line)
    args = tokens[1:]
    comment = ''
    if 'comment' in args:
        at = args.index('comment')
        comment = ' '.join(args[at + 1:])
        body = args[:at]
    else:
        body = list(args)

    def raw():
        return {'raw': ' '.join(shlex.quote(a) for a in body), 'args': args, 'comment': comment}

    if not body or body[0] not in ACTIONS:
        return raw()          # route ..., or anything newer than this parser
    action, rest = body[0], body[1:]
    direction = 'in'
    if rest and rest[0] in ('in', 'out'):
        direction, rest = rest[0], rest[1:]
    if rest and rest[0] in ('on', 'log', 'log-all'):
        return raw()
    fields = {'from': 'any', 'to': 'any', 'port': 'any', 'from_port': 'any', 'proto': 'any'}
    try:
        if len(rest) == 1 and rest[0] not in ('from', 'to', 'proto'):
            # Short form: "22/tcp", "10000:20000/udp", "53" - or an application profile.
            port, proto = _parse_port_proto(rest[0])
            if not re.match(r'^[0-9][0-9,:]*$', port):
                return raw()
            fields.update(port=port, proto=proto)
        else:
            side = None
            i = 0
            while i < len(rest):
                word = rest[i]
                if word in ('from', 'to'):
                    side = word
                    fields[side] = rest[i + 1]
                    i += 2
                elif word == 'port' and side:
                    fields['port' if side == 'to' else 'from_port'] = rest[i + 1]
                    i += 2
                elif word == 'proto':
                    fields['proto'] = rest[i + 1]
                    i += 2
                else:             # app, or a keyword this parser does not know
                    return raw()
        rule = make_rule(action, direction, fields['proto'], fields['port'], fields['from'], fields['to'],
                         fields['from_port'], comment)
    except (IndexError, UfwError):
        return raw()
    rule['args'] = args
    return rule


def parse_show_added(text):
    """Rules listed by ``ufw show added`` (ufw prints an IPv4+IPv6 'any' rule once)."""
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith('ufw '):
            rules.append(parse_rule_command(line))
    return rules


def parse_status(text):
    """``ufw status verbose``: {'active', 'logging' (None, 'off' or a level), 'defaults'}.

    An inactive firewall prints no logging or defaults: those stay None / {} (read them from
    the configuration files instead).
    """
    state = {'active': bool(re.search(r'^Status: active\s*$', text, re.M)), 'logging': None, 'defaults': {}}
    log = re.search(r'^Logging: (on|off)(?: \(([a-z]+)\))?', text, re.M)
    if log:
        state['logging'] = (log.group(2) or 'on') if log.group(1) == 'on' else 'off'
    found = re.search(r'^Default: (\S+) \(incoming\), (\S+) \(outgoing\), (\S+) \(routed\)', text, re.M)
    if found:
        state['defaults'] = dict(zip(('incoming', 'outgoing', 'routed'), found.groups()))
    return state


def parse_shell_vars(text):
    """KEY=value lines of /etc/default/ufw or /etc/ufw/ufw.conf (last one wins, quotes dropped)."""
    values = {}
    for line in text.splitlines():
        m = re.match(r'^\s*([A-Z_][A-Z0-9_]*)=(.*)$', line)
        if m:
            values[m.group(1)] = m.group(2).strip().strip('"\'')
    return values


def defaults_from_config(default_ufw):
    values = parse_shell_vars(default_ufw)
    return dict((d, _POLICY_WORDS.get(values.get(k, ''), values.get(k, '').lower() or None))
                for d, k in _POLICY_KEYS.items())


def set_ipv6(default_ufw, enabled):
    """/etc/default/ufw with its IPV6= line set (every such line, so the last one agrees)."""
    line = 'IPV6=%s' % ('yes' if enabled else 'no')
    text, count = re.subn(r'(?m)^IPV6=.*$', line, default_ufw)
    if not count:
        text = text + ('' if text.endswith('\n') or not text else '\n') + line + '\n'
    return text


def logging_matches(current, wanted):
    """'on' asks only for logging on (any level); a level asks for that level."""
    if current is None:
        return False
    if wanted in ('on', 'off'):
        return (current != 'off') == (wanted == 'on')
    return current == wanted


def plan(current_rules, desired_rules, status, ipv6_current, ipv6_wanted, policies, logging,
         managed_comment, purge_unmanaged):
    """What differs, and the ufw arguments that repair it, in a safe order.

    current_rules / desired_rules: canonical rules (parse_show_added / make_rule).
    status: parse_status() with 'defaults' and 'logging' already completed from the
    configuration files when ufw is inactive. Returns a dict: add, delete, unmanaged (kept),
    policies, logging, enable, ipv6, commands (argument lists), changed.
    """
    desired_by_key = {}
    for rule in desired_rules:
        desired_by_key.setdefault(rule_key(rule), rule)
    current_by_key = {}
    for rule in current_rules:
        current_by_key.setdefault(rule_key(rule), rule)

    ipv6_change = ipv6_current != ipv6_wanted
    add = []
    for key, rule in desired_by_key.items():
        have = current_by_key.get(key)
        # ufw updates the comment of an existing rule in place; when IPv6 is switched on, adding
        # again creates the missing IPv6 half of 'any' rules (ufw skips the existing IPv4 one).
        if have is None or have['comment'] != rule['comment'] or (ipv6_change and ipv6_wanted and family(rule) == 'both'):
            add.append(rule)
    delete, unmanaged = [], []
    for key, rule in current_by_key.items():
        if key in desired_by_key:
            continue
        if rule['comment'] == managed_comment or purge_unmanaged:
            delete.append(rule)
        else:
            unmanaged.append(rule)

    policy_changes = []
    for direction in DIRECTIONS:
        wanted = policies.get(direction)
        have = status['defaults'].get(direction)
        # 'disabled' (routed): the kernel does not forward, so there is nothing to filter.
        if wanted and have != wanted and not (direction == 'routed' and have == 'disabled'):
            policy_changes.append((direction, wanted))
    logging_change = bool(logging) and not logging_matches(status['logging'], logging)
    enable = not status['active']

    commands = []
    # Additions first (SSH comes first in the declared list), then deletions, then the policies,
    # so an enabled firewall never passes through a state without the declared allows.
    commands += [rule_args(r) for r in add]
    commands += [(['route', 'delete'] + rule_args(r, False)[1:]) if rule_args(r, False)[:1] == ['route']
                 else (['delete'] + rule_args(r, False)) for r in delete]
    commands += [['default', policy, direction] for direction, policy in policy_changes]
    if logging_change:
        commands.append(['logging', logging])
    if enable:
        commands.append(['--force', 'enable'])
    elif ipv6_change:
        # Rule changes apply live; a changed IPV6= only with a reload.
        commands.append(['reload'])
    return {
        'add': add, 'delete': delete, 'unmanaged': unmanaged, 'policies': policy_changes,
        'logging': logging_change, 'enable': enable, 'ipv6': ipv6_change, 'commands': commands,
        'changed': bool(commands) or ipv6_change,
    }


def describe(rules, status, ipv6, policies_now, logging_now):
    """A text view of a firewall for diff mode: sorted rules (one spelling for declared and
    listed ones alike), then the settings."""
    lines = sorted(rule_text(dict((k, v) for k, v in r.items() if k != 'args' or 'raw' in r)) for r in rules)
    lines.append('# ipv6: %s' % ('yes' if ipv6 else 'no'))
    for direction in DIRECTIONS:
        lines.append('# default %s: %s' % (direction, policies_now.get(direction)))
    lines.append('# logging: %s' % logging_now)
    lines.append('# status: %s' % ('active' if status else 'inactive'))
    return '\n'.join(lines) + '\n'
