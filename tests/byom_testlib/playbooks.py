# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running ansible-playbook from the tests and reading its output (default callback)."""
from __future__ import absolute_import, division, print_function

import json
import os
import re
import subprocess
import sys
import time

import yaml

from byom_testlib import ROOT

BIN = os.path.dirname(os.path.abspath(sys.executable))
# The vapi role alone, for the controller-only tests (connection local, the emulator as Vapi).
VAPI_ROLE_PLAY = """
- name: Register the edges with Vapi
  hosts: asterisk
  gather_facts: false
  roles:
    - role: byom.telephony.vapi
"""


def ansible_env(json_output=True, **extra):
    """The environment of a run against this clone: its ansible.cfg and collections, no colour,
    and never a developer's real Vapi credentials (they would turn a test into a deployment)."""
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_FORCE_COLOR='0', ANSIBLE_RETRY_FILES_ENABLED='0', PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    if json_output:
        env.update(ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    for name in ('VAPI_API_KEY', 'VAPI_API_URL'):
        env.pop(name, None)
    env.update(extra)
    return env


def ansible_playbook(playbook, inventory, *args, timeout=900):
    """ansible-playbook with the default callback, output merged; the exit code is the caller's to judge."""
    return subprocess.run([os.path.join(BIN, 'ansible-playbook'), '-i', str(inventory), str(playbook), *args],
                          cwd=ROOT, env=ansible_env(json_output=False), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=timeout, check=False)


class Run(object):
    """The outcome of one ansible-playbook / ansible run."""

    def __init__(self, proc, elapsed):
        self.rc = proc.returncode
        self.stdout = proc.stdout or ''
        self.stderr = proc.stderr or ''
        self.output = self.stdout + self.stderr
        self.elapsed = elapsed
        self.report = None
        # Warnings may precede the JSON document on stdout.
        start = self.stdout.find('{\n') if not self.stdout.startswith('{') else 0
        if start >= 0:
            try:
                self.report = json.loads(self.stdout[start:])
            except ValueError:
                self.report = None

    def results(self):
        """(task name, host, result) of every task result in the JSON report."""
        out = []
        for play in (self.report or {}).get('plays', []):
            for task in play.get('tasks', []):
                for host, result in task.get('hosts', {}).items():
                    out.append((task['task']['name'], host, result))
        return out

    def failures(self):
        return [(name, result) for name, _host, result in self.results() if result.get('failed')]

    def failure_text(self):
        parts = []
        for _name, result in self.failures():
            parts.append('%s' % result.get('msg', ''))
            for item in result.get('results', []) or []:
                if item.get('failed'):
                    parts.append('%s' % item.get('msg', ''))
        return '\n'.join(parts) or self.output[-3000:]

    def changed(self):
        stats = (self.report or {}).get('stats', {})
        return sum(host.get('changed', 0) for host in stats.values())


def playbook(path, extra_vars=None, args=(), inventory='localhost,', timeout=900, json_output=True, env=None):
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, path]
    if extra_vars:
        cmd += ['-e', json.dumps(extra_vars)]
    cmd += list(args)
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=env or ansible_env(json_output), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=timeout, check=False)
    return Run(proc, time.time() - started)


def write_yaml(path, data):
    """An inventory (or any YAML) written to path; returns path."""
    path.write_text(yaml.safe_dump(data))
    return path


def recap(output):
    """{host: {ok, changed, unreachable, failed, ...}} from the PLAY RECAP."""
    hosts = {}
    for m in re.finditer(r'^(\S+)\s+:\s+((?:\w+=\d+\s*)+)$', output, re.M):
        hosts[m.group(1)] = {k: int(v) for k, v in re.findall(r'(\w+)=(\d+)', m.group(2))}
    return hosts


def changed(output):
    """changed= summed over the hosts of the PLAY RECAP."""
    return sum(host.get('changed', 0) for host in recap(output).values())


def changes(output):
    """{(kind, task name, host)} of every task and handler that reported `changed`
    (kind TASK or RUNNING HANDLER, the name without the collection's prefix)."""
    found = set()
    for block in re.split(r'\n(?=(?:TASK|RUNNING HANDLER) \[)', output):
        head = re.match(r'(TASK|RUNNING HANDLER) \[(.*?)\] \*', block)
        if head:
            name = head.group(2).replace('byom.telephony.', '', 1)
            for host in re.findall(r'^changed: \[([^\]]+)\]', block, re.M):
                found.add((head.group(1), name, host))
    return found
