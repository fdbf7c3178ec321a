# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""scripts/lab.sh driven by a test: its own container(s), emulator port and state directory, so
it never touches a developer's `make lab` nor another test's lab."""
from __future__ import absolute_import, division, print_function

import json
import os
import shutil
import subprocess
import urllib.request

import pytest

from byom_testlib import ROOT
from byom_testlib.containers import box

LAB_SH = os.path.join(ROOT, 'scripts', 'lab.sh')
API_KEY = 'byom-lab-key'   # inventories/lab/group_vars/all/main.yml

requires_docker = pytest.mark.skipif(shutil.which('docker') is None or os.geteuid() != 0,
                                     reason='needs root and docker (scripts/docker-engine.sh installs it)')


class Lab(object):
    """One lab: ``lab('deploy', '--check')`` runs scripts/lab.sh, ``lab.box(...)`` runs a command in
    its container, ``lab.emulator(...)`` calls its Vapi emulator. Every output is kept in
    ``outputs`` (the tests look for secrets in them); with ``keep_logs`` also under lab_dir."""

    def __init__(self, container, port, lab_dir, keep_logs=False, timeout=1500, **env):
        self.container = container
        self.url = 'http://127.0.0.1:%d' % port
        self.lab_dir = str(lab_dir)
        self.keep_logs = keep_logs
        self.timeout = timeout
        self.outputs = []
        self.env = dict(os.environ, BYOM_LAB_CONTAINER=container, BYOM_LAB_EMULATOR_PORT=str(port),
                        BYOM_LAB_DIR=self.lab_dir, PY_COLORS='0', ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0', **env)
        # Never let a developer's real Vapi credentials (or receiver) turn a test into a deployment.
        for name in ('VAPI_API_KEY', 'VAPI_API_URL', 'BYOM_LAB_WEBHOOKS_URL'):
            self.env.pop(name, None)

    def run(self, *cmd, timeout=None):
        """A command in the lab's environment, output merged and kept."""
        proc = subprocess.run(cmd, cwd=ROOT, env=self.env, timeout=timeout or self.timeout, check=False,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        self.outputs.append(proc.stdout)
        if self.keep_logs:
            # For a failing run's post-mortem: lab.sh's site.log holds only the last run.
            os.makedirs(self.lab_dir, exist_ok=True)
            with open(os.path.join(self.lab_dir, 'run-%02d.log' % len(self.outputs)), 'w') as handle:
                handle.write(proc.stdout)
        return proc

    def __call__(self, *args, timeout=None):
        return self.run(LAB_SH, *args, timeout=timeout)

    def images(self, *names):
        """Build the lab images (scripts/lab-images.sh) a test needs; asserts they were built."""
        for name in names:
            built = self.run(os.path.join(ROOT, 'scripts', 'lab-images.sh'), name, timeout=1800)
            assert built.returncode == 0, built.stdout[-3000:]

    def box(self, *cmd, timeout=60):
        return box(self.container, *cmd, timeout=timeout)

    def emulator(self, method, path, body=None, auth=True, timeout=10):
        """The lab's emulator: the Vapi API with the lab's key, or (auth=False) its /_emulator/ endpoints."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header('Content-Type', 'application/json')
        if auth:
            req.add_header('Authorization', 'Bearer %s' % API_KEY)
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def api_requests(self):
        """The requests the emulator logged on its Vapi API."""
        return [r for r in self.emulator('GET', '/_emulator/requests', auth=False) if not r['path'].startswith('/_emulator')]

    def leaked(self, secrets):
        """The secrets found in any output of this lab."""
        joined = '\n'.join(self.outputs)
        return [s for s in secrets if s in joined]
