# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The local Vapi API emulator (tests/vapi_emulator/server.py) as a process and its client.

``with Emulator(key_a, key_b) as emu:`` serves one organisation per key on ``emu.url`` (a port
the kernel picks unless one is given: the integration lanes run side by side).
"""
from __future__ import absolute_import, division, print_function

import os
import subprocess
import sys

import requests

from byom_testlib import ROOT


class Emulator(object):
    """One emulator process; ``admin`` speaks to its /_emulator/ endpoints, ``call`` to its Vapi API."""

    def __init__(self, *keys, port=0):
        self.keys = keys
        self.key = keys[0]
        args = [sys.executable, os.path.join(ROOT, 'tests', 'vapi_emulator', 'server.py'), '--host', '127.0.0.1',
                '--port', str(port)]
        for key in keys:
            args += ['--api-key', key]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        # The server prints this line once it listens: no polling needed.
        line = self.proc.stdout.readline()
        if 'listening on' not in line:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise RuntimeError('the Vapi emulator did not start: %r' % line)
        self.url = line.strip().rsplit(' ', 1)[-1]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def admin(self, method, path, body=None, **params):
        """/_emulator/<path> (no key): requests, reset, faults, state, seed, webhook."""
        resp = requests.request(method, self.url + '/_emulator/' + path, json=body, params=params, timeout=60)
        resp.raise_for_status()
        return resp.json()

    def call(self, method, path, body=None, key=None):
        """The Vapi API as the organisation of `key` (the first key by default)."""
        resp = requests.request(method, self.url + path, json=body, timeout=30,
                                headers={'Authorization': 'Bearer ' + (key or self.key)})
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def api_log(self):
        """The logged requests to the Vapi API ({seq, method, path, query, status, body, org})."""
        return [r for r in self.admin('GET', 'requests') if not r['path'].startswith('/_emulator')]

    def log(self):
        """(method, path, status) of every logged request."""
        return [(r['method'], r['path'], r['status']) for r in self.admin('GET', 'requests')]

    def writes(self):
        return [entry for entry in self.log() if entry[0] not in ('GET', 'HEAD')]

    def reset(self):
        self.admin('POST', 'reset')

    def faults(self, faults):
        self.admin('POST', 'faults', faults)

    def clear_log(self):
        self.admin('DELETE', 'requests')

    def counts(self):
        state = self.admin('GET', 'state')
        return dict((kind, len(items)) for kind, items in state.items())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
