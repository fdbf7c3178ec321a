# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""byom.telephony.validate_inputs: a role's input checks in one pass on the controller.

An assert per rule (and a loop item per value) costs a task result each, ~0.1 s on every run;
here the declared checks run in one task that never contacts the host, and every failing check
is reported at once, each message naming its field."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json
import re

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.collections import is_sequence
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.six import string_types
from ansible.plugins.action import ActionBase

from ansible_collections.byom.telephony.plugins.filter.config_problems import config_problems, value_problem

# The check kinds a check (or an item check) may declare, besides field/value/key/hint.
KINDS = ('int', 'match', 'choices', 'subset', 'keys', 'networks', 'unique', 'requires', 'items', 'ok')
OPTIONS = ('field', 'value', 'key', 'default', 'hint', 'each', 'nonempty', 'label', 'msg', 'when')
_INTEGER = re.compile(r'^[+-]?[0-9]+\Z')


class CheckError(Exception):
    """A check is declared wrongly (the role's bug, not the user's input)."""


def show(value):
    """A value as messages show it: one line, control characters escaped."""
    if isinstance(value, string_types):
        return json.dumps(to_text(value), ensure_ascii=False)
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=to_text)
    except (TypeError, ValueError):
        return json.dumps(to_text(value), ensure_ascii=False)


def as_int(value):
    """The integer a value stands for (42, '42'), or None (booleans, floats, words)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, string_types) and _INTEGER.match(value.strip()):
        return int(value)
    return None


def _label(index, item, key):
    """[name] for an item whose label is a safe string, else [index]."""
    if isinstance(item, dict) and key:
        name = item.get(key)
        if isinstance(name, string_types) and name and value_problem(name) is None:
            return u'[%s]' % name
    return u'[%d]' % index


class Checker(object):
    """Runs declared checks; evaluate(expression, item) evaluates a conditional string."""

    def __init__(self, secrets=None, evaluate=None):
        self.secrets = set(secrets if secrets is not None else ['password', 'secret'])
        self.evaluate = evaluate
        self.problems = []
        # Strings the config rule has already refused (a newline, ';'): one message per condition,
        # so a shape check does not report them a second time.
        self.reported = set()

    def config(self, fields, semicolon):
        self.problems.extend(config_problems(fields, secrets=list(self.secrets), semicolon=semicolon))
        stack = list(fields.values())
        while stack:
            value = stack.pop()
            if isinstance(value, dict):
                stack.extend(value.values())
                stack.extend(k for k in value if isinstance(k, string_types))
            elif is_sequence(value):
                stack.extend(value)
            elif isinstance(value, string_types) and value_problem(value, semicolon=semicolon) is not None:
                self.reported.add(value)

    def _seen(self, value):
        return isinstance(value, string_types) and value in self.reported

    # ------------------------------------------------------------------ helpers
    def _add(self, text):
        self.problems.append(text)

    def _shown(self, name, value):
        return u'(value not shown)' if name in self.secrets else show(value)

    @staticmethod
    def _hint(check, sep=u'; '):
        return (sep + to_text(check['hint'])) if check.get('hint') else u''

    # ------------------------------------------------------------------ kinds
    def _int(self, field, secret_name, value, check):
        bounds = check['int']
        if not is_sequence(bounds) or len(bounds) != 2:
            raise CheckError('%s: int needs [min, max]' % field)
        low, high = as_int(bounds[0]), as_int(bounds[1])
        number = as_int(value)
        if self._seen(value):
            return
        if number is None or (low is not None and number < low) or (high is not None and number > high):
            span = (u'from %s to %s' % (low, high) if low is not None and high is not None
                    else u'of at least %s' % low if low is not None else u'of at most %s' % high)
            self._add(u'%s=%s must be an integer %s%s' % (field, self._shown(secret_name, value), span, self._hint(check, u' ')))

    def _match(self, field, secret_name, value, check):
        # A number is checked by its text (a port 5060 as well as "5060"), never a boolean or a list.
        if isinstance(value, int) and not isinstance(value, bool):
            value = to_text(value)
        if self._seen(value):
            return
        if not isinstance(value, string_types) or not re.match(check['match'], value):
            self._add(u'%s=%s is invalid%s' % (field, self._shown(secret_name, value), self._hint(check, u': ')))

    def _choices(self, field, secret_name, value, check):
        allowed = list(check['choices'] or [])
        if value not in allowed and not self._seen(value):
            self._add(u'%s=%s must be one of %s%s' % (field, self._shown(secret_name, value),
                                                      u', '.join(to_text(a) for a in allowed), self._hint(check)))

    def _subset(self, field, secret_name, value, check):
        allowed = list(check['subset'] or [])
        if not is_sequence(value):
            self._add(u'%s must be a list from %s (got %s)' % (field, u', '.join(map(to_text, allowed)), self._shown(secret_name, value)))
            return
        refused = [v for v in value if v not in allowed]
        if refused:
            self._add(u'%s may only hold %s; refused: %s%s' % (field, u', '.join(map(to_text, allowed)),
                                                               self._shown(secret_name, refused), self._hint(check)))

    def _keys(self, field, secret_name, value, check):
        allowed = list(check['keys'] or [])
        if not isinstance(value, dict):
            self._add(u'%s must be a mapping of options (got %s)' % (field, self._shown(secret_name, value)))
            return
        refused = [to_text(k) for k in value if k not in allowed and not self._seen(k)]
        if refused:
            self._add(u'%s may only set %s; refused: %s%s' % (field, u', '.join(map(to_text, allowed)),
                                                              u', '.join(show(k) for k in refused), self._hint(check)))

    def _networks(self, field, secret_name, value, check):
        rule = check['networks'] or {}
        if not isinstance(rule, dict):
            raise CheckError('%s: networks needs a mapping (version, prefix4, prefix6)' % field)
        version = as_int(rule.get('version'))
        prefix = {4: as_int(rule.get('prefix4')), 6: as_int(rule.get('prefix6'))}
        if not is_sequence(value):
            self._add(u'%s must be a list of IP addresses/CIDRs (got %s)' % (field, self._shown(secret_name, value)))
            return
        kind = u'IPv%d' % version if version else u'IPv4/IPv6'
        for entry in value:
            if self._seen(entry):
                continue
            shown = self._shown(secret_name, entry)
            try:
                if not isinstance(entry, string_types) or not re.match(r'^[0-9A-Fa-f.:]+(/[0-9]{1,3})?\Z', entry):
                    raise ValueError(entry)
                network = ipaddress.ip_network(to_text(entry), strict=False)
            except ValueError:
                self._add(u'%s: %s is not a valid %s address or CIDR%s' % (field, shown, kind, self._hint(check)))
                continue
            if version and network.version != version:
                why = rule.get('version_hint')
                why = (u' (%s)' % to_text(why)) if why else self._hint(check)
                self._add(u'%s: %s is IPv%d, not %s%s' % (field, shown, network.version, kind, why))
            elif prefix[network.version] is not None and network.prefixlen < prefix[network.version]:
                self._add(u'%s: %s is wider than /%d%s' % (field, shown, prefix[network.version], self._hint(check)))

    def _unique(self, field, secret_name, value, check):
        if not is_sequence(value):
            return
        key = check['unique']
        seen, repeated = [], []
        for entry in value:
            name = entry.get(key) if isinstance(key, string_types) and isinstance(entry, dict) else entry
            (repeated if name in seen and name not in repeated else seen).append(name)
        if repeated:
            what = u'%s' % key if isinstance(key, string_types) else u'entries'
            self._add(u'%s has duplicate %s: %s' % (field, what, self._shown(secret_name, repeated)))

    def _ok(self, field, check, item=None):
        ok = check['ok']
        if isinstance(ok, string_types):
            if self.evaluate is None:
                raise CheckError('%s: ok is a string but no evaluator is set' % field)
            try:
                ok = self.evaluate(ok, item)
            except Exception as exc:  # pylint: disable=broad-except
                # A value of the wrong shape (a number where a string is expected) is bad input
                # too: it gets a message naming its field, never a traceback.
                self._add(u'%s: cannot be checked (%s)' % (field, to_text(exc).splitlines()[0] if to_text(exc) else type(exc).__name__))
                return
        if not ok:
            msg = to_text(check.get('msg') or u'is invalid')
            self._add(msg if field in msg else u'%s: %s' % (field, msg))

    def _applies(self, check, item, public):
        """A check's when: a boolean, or a conditional like ok's (an error applies the check)."""
        when = check['when']
        if isinstance(when, string_types):
            if self.evaluate is None:
                raise CheckError('%s: when is a string but no evaluator is set' % (check.get('field') or check.get('key')))
            try:
                return bool(self.evaluate(when, public if item is not None else None))
            except Exception:  # pylint: disable=broad-except
                return True
        return bool(when)

    def _requires(self, field, item, check):
        """A set key needs other keys set (registration needs username and password)."""
        needed = check['requires']
        needed = [needed] if isinstance(needed, string_types) else list(needed)
        missing = [n for n in needed if item.get(n) in (None, '', [], {})]
        if missing:
            hidden = u' (value not shown)' if any(n in self.secrets for n in missing) else u''
            self._add(u'%s needs %s%s' % (field, u' and '.join(missing), hidden))

    def _items(self, field, value, check):
        if not is_sequence(value):
            self._add(u'%s must be a list of mappings (got %s)' % (field, show(type(value).__name__)))
            return
        label = check.get('label', 'name')
        for index, item in enumerate(value):
            where = field + _label(index, item, label)
            if not isinstance(item, dict):
                self._add(u'%s must be a mapping (got %s)' % (where, show(type(item).__name__)))
                continue
            # Secrets never reach a rule's expression: only whether they are set does (requires).
            public = dict((k, v) for k, v in item.items() if k not in self.secrets)
            for sub in check['items']:
                self.run_check(sub, item=item, public=public, where=where)

    # ------------------------------------------------------------------ one check
    def run_check(self, check, item=None, public=None, where=None):
        if not isinstance(check, dict):
            raise CheckError('a check must be a mapping, got %r' % (check,))
        unknown = sorted(set(check) - set(KINDS) - set(OPTIONS))
        if unknown:
            raise CheckError('%s: unknown check options %s' % (check.get('field') or check.get('key'), ', '.join(unknown)))
        kinds = [k for k in KINDS if k in check]
        if not kinds:
            raise CheckError('%s: declares no check (one of %s)' % (check.get('field') or check.get('key'), ', '.join(KINDS)))
        if 'when' in check and not self._applies(check, item, public):
            return
        if item is None:
            if not check.get('field'):
                raise CheckError('every check needs a field (the name its messages show): %r' % sorted(check))
            field = to_text(check['field'])
            secret_name = field
            value = check.get('value')
        else:
            key = check.get('key')
            field = u'%s.%s' % (where, key) if key else where
            secret_name = key
            value = item.get(key, check.get('default')) if key else public
            if key and key not in item and 'default' not in check:
                # Absent and no default: only a rule about the item as a whole may apply.
                if check.get('nonempty'):
                    self._add(u'%s is required' % field)
                    return
                if not ('ok' in check or 'requires' in check):
                    return
        for kind in kinds:
            if kind == 'ok':
                self._ok(field, check, public if item is not None else None)
            elif kind == 'requires':
                if item is None:
                    raise CheckError('%s: requires applies to item checks' % field)
                if value not in (None, False, '', [], {}):
                    self._requires(field, item, check)
            elif kind == 'items':
                self._items(field, value, check)
            elif kind in ('unique', 'subset', 'keys', 'networks'):
                if kind in ('subset', 'networks') and check.get('nonempty') and is_sequence(value) and not value:
                    self._add(u'%s must not be empty%s' % (field, self._hint(check)))
                    continue
                getattr(self, '_' + kind)(field, secret_name, value, check)
            elif check.get('each'):
                if not is_sequence(value):
                    self._add(u'%s must be a list (got %s)' % (field, self._shown(secret_name, value)))
                    continue
                for index, entry in enumerate(value):
                    getattr(self, '_' + kind)(u'%s[%d]' % (field, index), secret_name, entry, check)
            else:
                getattr(self, '_' + kind)(field, secret_name, value, check)


def input_problems(checks=None, config=None, secrets=None, semicolon=True, evaluate=None):
    """Every problem of the declared checks, config values first; [] when all pass."""
    checker = Checker(secrets=secrets, evaluate=evaluate)
    if config:
        checker.config(config, semicolon)
    for check in checks or []:
        checker.run_check(check)
    return checker.problems


class ActionModule(ActionBase):

    TRANSFERS_FILES = False
    # Nothing here needs the host: no connection is opened for this task.
    _requires_connection = False
    _VALID_ARGS = frozenset(('checks', 'config', 'secrets', 'semicolon', 'warn'))

    def _evaluator(self, task_vars):
        # One templar per list entry, shared by that entry's rules (copying the variables per rule
        # is what would cost).
        cache = {}

        def evaluate(expression, item):
            templar = self._templar
            if item is not None:
                if cache.get('item') is not item:
                    cache.update(item=item, templar=self._templar.copy_with_new_env(available_variables=dict(task_vars, item=item)))
                templar = cache['templar']
            return templar.evaluate_conditional(conditional=expression)
        return evaluate

    def _warns(self, when, task_vars):
        if not isinstance(when, string_types):
            return bool(when)
        try:
            return bool(self._evaluator(task_vars)(when, None))
        except Exception:  # pylint: disable=broad-except
            # A value too malformed to evaluate the hint on is reported by the checks.
            return False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._task.args
        checks, config, warn = args.get('checks') or [], args.get('config') or {}, args.get('warn') or []
        if not isinstance(checks, list) or not isinstance(config, dict) or not isinstance(warn, list):
            raise AnsibleActionFail('checks and warn must be lists, config a mapping of variable name to value')
        try:
            problems = input_problems(checks, config, secrets=args.get('secrets'), semicolon=args.get('semicolon', True),
                                      evaluate=self._evaluator(task_vars))
        except CheckError as exc:
            raise AnsibleActionFail('validate_inputs is declared wrongly: %s' % to_text(exc))
        warnings = [to_text(w.get('msg')) for w in warn if isinstance(w, dict) and self._warns(w.get('when'), task_vars)]
        if warnings:
            result['warnings'] = warnings
        result['changed'] = False
        if problems:
            result['failed'] = True
            result['msg'] = u'%d invalid input%s, nothing was changed: %s' % (
                len(problems), u's' if len(problems) > 1 else u'', u' | '.join(problems))
        else:
            result['msg'] = u'All inputs are valid'
        return result
