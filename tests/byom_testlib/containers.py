# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Docker helpers shared by the integration tests, the security suite and bench/proxy.py.

Systemd containers are made the way scripts/lab.sh and molecule/shared/create.yml make them:
systemd as PID 1 without --privileged (the machines here refuse it). Every call has a timeout.
"""
from __future__ import absolute_import, division, print_function

import subprocess
import time

# What systemd needs in a container here (docs: /work/shared/reference/environment.md, "Docker works").
SYSTEMD_FLAGS = ['--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
                 '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
                 '--tmpfs', '/run', '--tmpfs', '/run/lock', '--env', 'container=docker', '--pull', 'never']


def run(*cmd, timeout=600, check=True, env=None):
    """A command with stdout and stderr merged; RuntimeError with its output when it fails and check is set."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=timeout, check=False, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError('%s failed (rc %d): %s' % (' '.join(cmd), proc.returncode, proc.stdout[-3000:]))
    return proc


def box(name, *cmd, timeout=60):
    """`docker exec name cmd...`, never raising on the command's exit code."""
    return run('docker', 'exec', name, *cmd, timeout=timeout, check=False)


def cgroup_flags(cgroup_v2):
    # systemd 262 (Debian sid) needs cgroup v2 (mounted at unified/ on these hosts); up to 252 the host's v1.
    if cgroup_v2:
        return ['--cgroupns', 'private', '-v', '/sys/fs/cgroup/unified:/sys/fs/cgroup:rw']
    return ['--cgroupns', 'host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw']


def start_systemd(name, image, cgroup_v2=True, network=None, extra=()):
    """Start (not wait for) a systemd container named and hostnamed `name`; one left behind is replaced."""
    remove(name)
    net = ['--network', network] if network else []
    run('docker', 'run', '-d', '--name', name, '--hostname', name, *net, *SYSTEMD_FLAGS, *cgroup_flags(cgroup_v2),
        *extra, image, '/lib/systemd/systemd', timeout=120)


def wait_systemd(name, timeout=90):
    """Until systemd in the container is up (`degraded` counts: journald fails on Debian sid here)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if box(name, 'systemctl', 'is-system-running').stdout.strip() in ('running', 'degraded'):
            return
        time.sleep(1)
    raise RuntimeError('systemd in %s did not come up in %d s' % (name, timeout))


def systemd_container(name, image, cgroup_v2=True, network=None, extra=()):
    """A systemd container, started and up."""
    start_systemd(name, image, cgroup_v2, network, extra)
    wait_systemd(name)


def address(name):
    """The container's address on its (one) network."""
    return run('docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name,
               timeout=60).stdout.strip()


def remove(*names, networks=()):
    """Remove these containers (with their anonymous volumes) and networks, if they exist."""
    for name in names:
        run('docker', 'rm', '-f', '-v', name, timeout=120, check=False)
    for network in networks:
        run('docker', 'network', 'rm', network, timeout=60, check=False)
