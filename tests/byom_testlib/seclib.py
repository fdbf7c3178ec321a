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

import requests

from byom_testlib import ROOT

SEC_DIR = os.path.join(ROOT, 'tests', 'security')
PLAYBOOKS = os.path.join(SEC_DIR, 'playbooks')
BIN = os.path.dirname(os.path.abspath(sys.executable))


def record(section, item, value, ok, detail=''):
    """One row of the `make security` summary table."""
    path = os.environ.get('BYOM_SEC_RESULTS')
    if not path:
        return
    with open(path, 'a') as handle:
        handle.write(json.dumps({'section': section, 'item': item, 'value': '%s' % value,
                                 'ok': bool(ok), 'detail': detail}) + '\n')


class Emulator(object):
    """The local Vapi API emulator (tests/vapi_emulator/server.py) on a free loopback port."""

    def __init__(self, key):
        self.key = key
        self.proc = subprocess.Popen([sys.executable, os.path.join(ROOT, 'tests', 'vapi_emulator', 'server.py'),
                                      '--host', '127.0.0.1', '--port', '0', '--api-key', key],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        line = self.proc.stdout.readline()
        if 'listening on' not in line:
            self.proc.kill()
            raise RuntimeError('the Vapi emulator did not start: %r' % line)
        self.url = line.strip().rsplit(' ', 1)[-1]

    def admin(self, method, path, body=None):
        resp = requests.request(method, self.url + '/_emulator/' + path, json=body, timeout=10)
        resp.raise_for_status()
        return resp.json()

    def reset(self):
        self.admin('POST', 'reset')

    def faults(self, faults):
        self.admin('POST', 'faults', faults)

    def log(self):
        return [(r['method'], r['path'], r['status']) for r in self.admin('GET', 'requests')]

    def writes(self):
        return [entry for entry in self.log() if entry[0] not in ('GET', 'HEAD')]

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


def ansible_env(json_output=True, **extra):
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_RETRY_FILES_ENABLED='0', PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    if json_output:
        env.update(ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1')
    for name in ('VAPI_API_KEY', 'VAPI_API_URL'):
        env.pop(name, None)
    env.update(extra)
    return env


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


def docker_rm(name):
    subprocess.run(['docker', 'rm', '-f', name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=120, check=False)


def dexec(container, script, timeout=300, check=True, user_env=None):
    cmd = ['docker', 'exec']
    for key, value in (user_env or {}).items():
        cmd += ['-e', '%s=%s' % (key, value)]
    cmd += [container, 'sh', '-c', script]
    return sh(cmd, timeout=timeout, check=check)


SYSTEMD_FLAGS = ['--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
                 '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
                 '--tmpfs', '/run', '--tmpfs', '/run/lock', '--env', 'container=docker', '--pull', 'never']


def systemd_container(name, image, cgroup_v2=True):
    """A systemd container like scripts/lab.sh and molecule/shared/create.yml make."""
    docker_rm(name)
    cgroup = (['--cgroupns', 'private', '-v', '/sys/fs/cgroup/unified:/sys/fs/cgroup:rw'] if cgroup_v2
              else ['--cgroupns', 'host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw'])
    sh(['docker', 'run', '-d', '--name', name, '--hostname', name] + SYSTEMD_FLAGS + cgroup
       + [image, '/lib/systemd/systemd'], timeout=120)
    state = wait_for(lambda: dexec(name, 'systemctl is-system-running || true', check=False).stdout.strip()
                     in ('running', 'degraded'), timeout=90, interval=1)
    if not state:
        raise RuntimeError('systemd in %s did not come up' % name)


def container_ip(name):
    return sh(['docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name]).stdout.strip()
