# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Helpers shared by the security and fault suites (tests/security, tests/integration/test_*).

Everything here is bounded: every subprocess has a timeout, every poll a deadline.
Results that go into `make security`'s summary table are appended as JSON lines to the file
named by BYOM_SEC_RESULTS (nothing is written when it is unset).
"""
from __future__ import absolute_import, division, print_function

import json
import os
import signal
import subprocess
import sys
import time

from byom_testlib import ROOT
from byom_testlib.containers import address as container_ip, remove, systemd_container  # noqa: F401 pylint: disable=unused-import
from byom_testlib.emulator import Emulator  # noqa: F401 pylint: disable=unused-import
from byom_testlib.playbooks import BIN, Run, ansible_env, playbook  # noqa: F401 pylint: disable=unused-import

SEC_DIR = os.path.join(ROOT, 'tests', 'security')
PLAYBOOKS = os.path.join(SEC_DIR, 'playbooks')


def record(section, item, value, ok, detail=''):
    """One row of the `make security` summary table."""
    path = os.environ.get('BYOM_SEC_RESULTS')
    if not path:
        return
    with open(path, 'a') as handle:
        handle.write(json.dumps({'section': section, 'item': item, 'value': '%s' % value,
                                 'ok': bool(ok), 'detail': detail}) + '\n')


def adhoc(module, args, timeout=300):
    """`ansible localhost -m <module> -a <json args>`, one module call (JSON report)."""
    cmd = [os.path.join(BIN, 'ansible'), 'localhost', '-i', 'localhost,', '-c', 'local',
           '-e', 'ansible_python_interpreter=%s' % os.path.abspath(sys.executable), '-m', module, '-a', json.dumps(args)]
    started = time.time()
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(True), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, check=False)
    return Run(proc, time.time() - started)


def start_playbook(path, extra_vars=None, args=(), inventory='localhost,', log_path=None):
    """A playbook in its own process group, so a test can kill it (and its workers) mid-run."""
    cmd = [os.path.join(BIN, 'ansible-playbook'), '-i', inventory, path]
    if extra_vars:
        cmd += ['-e', json.dumps(extra_vars)]
    cmd += list(args)
    out = open(log_path or os.devnull, 'w')
    proc = subprocess.Popen(cmd, cwd=ROOT, env=ansible_env(False), stdout=out, stderr=subprocess.STDOUT,
                            start_new_session=True)
    out.close()
    return proc


def descendants(pid):
    """Every live descendant of pid (Ansible's workers call setsid, so a process group is not enough)."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as handle:
                ppid = int(handle.read().rsplit(')', 1)[1].split()[1])
        except (IOError, OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_group(proc, sig=signal.SIGKILL):
    """kill -9 a run started by start_playbook and everything it spawned (a crash, not a stop)."""
    victims = [proc.pid] + descendants(proc.pid)
    for pid in victims:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


def wait_for(predicate, timeout, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


# ---------------------------------------------------------------- Docker
def sh(cmd, timeout=600, check=True, **kwargs):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout, check=False, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d): %s %s' % (' '.join(cmd), proc.returncode, proc.stdout[-2000:],
                                                         proc.stderr[-2000:]))
    return proc


def docker_ready(images=()):
    """Start the engine and build the images through the project's scripts; None or the reason not to."""
    proc = subprocess.run([os.path.join(ROOT, 'scripts', 'docker-engine.sh')], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=300, check=False)
    if proc.returncode != 0:
        return 'scripts/docker-engine.sh could not start Docker: %s' % proc.stdout[-500:]
    for image in images:
        proc = subprocess.run([os.path.join(ROOT, 'scripts', 'lab-images.sh'), image], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                              timeout=1800, check=False)
        if proc.returncode != 0:
            return 'scripts/lab-images.sh %s failed: %s' % (image, proc.stdout[-500:])
    return None


def dexec(container, script, timeout=300, check=True, user_env=None):
    cmd = ['docker', 'exec']
    for key, value in (user_env or {}).items():
        cmd += ['-e', '%s=%s' % (key, value)]
    cmd += [container, 'sh', '-c', script]
    return sh(cmd, timeout=timeout, check=check)


def docker_rm(name):
    remove(name)
