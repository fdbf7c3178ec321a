# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deployed target of the security suite: container byom-sec-vps, deployed by site.yml.

One deployment per session (`-vvv`, output kept for the secrets check), against a Vapi
emulator on a free loopback port. BYOM_SEC_KEEP=1 keeps the container afterwards (debugging);
BYOM_SEC_OUT names the directory for logs (default /tmp/byom-sec); BYOM_SEC_REUSE=1 reuses a
kept, already deployed container and its site log (iterating on the tests only).
"""
from __future__ import absolute_import, division, print_function

import os

import pytest
import yaml

from byom_testlib import seclib

CONTAINER = 'byom-sec-vps'
PROBE = 'byom-sec-probe'
IMAGE = 'localhost/byom-vps:debian-sid'
INVENTORY = os.path.join(seclib.SEC_DIR, 'inventory')
OUT = os.environ.get('BYOM_SEC_OUT', '/tmp/byom-sec')


def sec_vars():
    with open(os.path.join(INVENTORY, 'group_vars', 'all', 'main.yml')) as handle:
        return yaml.safe_load(handle)


class Target(object):
    def __init__(self, emulator, site_log, probe_ip=''):
        self.name = CONTAINER
        self.probe = PROBE
        self.probe_ip = probe_ip
        self.emulator = emulator
        self.site_log = site_log
        self.vars = sec_vars()
        self.secrets = dict((k, v) for k, v in self.vars.items() if k.startswith('sec_secret_'))

    def sh(self, script, timeout=300, check=True):
        return seclib.dexec(self.name, script, timeout=timeout, check=check)

    def deploy(self, log_name, args=(), env=None):
        """site.yml against the target; the whole output goes to OUT/log_name."""
        environ = seclib.ansible_env(json_output=False, BYOM_SEC_EMULATOR_URL=self.emulator.url,
                                     BYOM_SEC_PROBE_IP=self.probe_ip)
        environ.update(env or {})
        run = seclib.playbook(os.path.join(seclib.ROOT, 'site.yml'), inventory=INVENTORY, args=args,
                              json_output=False, env=environ, timeout=1800)
        path = os.path.join(OUT, log_name)
        with open(path, 'w') as handle:
            handle.write(run.output)
        return run, path


def install_tools(name):
    """SIPp, tcpdump and sipvicious are test tooling, never installed by the roles."""
    seclib.dexec(name, 'command -v sipp >/dev/null && command -v tcpdump >/dev/null || '
                       '(apt-get -qq -o Acquire::Check-Valid-Until=false update >/dev/null && '
                       'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends '
                       'sip-tester tcpdump >/dev/null)', timeout=900)
    import sipvicious  # pylint: disable=import-outside-toplevel
    seclib.sh(['docker', 'cp', os.path.dirname(sipvicious.__file__), '%s:/opt/sipvicious' % name])
    seclib.dexec(name, 'mkdir -p /opt/sv && rm -rf /opt/sv/sipvicious && mv /opt/sipvicious /opt/sv/ && '
                       'mkdir -p /opt/sec/trace')
    for sub in ('sipp', 'tools'):
        for item in os.listdir(os.path.join(seclib.SEC_DIR, sub)):
            seclib.sh(['docker', 'cp', os.path.join(seclib.SEC_DIR, sub, item), '%s:/opt/sec/%s' % (name, item)])


@pytest.fixture(scope='session')
def target():
    reason = seclib.docker_ready(images=['debian-sid'])
    if reason:
        pytest.skip('the security suite needs Docker and the debian-sid lab image: %s' % reason)
    if not os.path.isdir(OUT):
        os.makedirs(OUT)
    key = sec_vars()['sec_secret_api_key']
    emulator = seclib.Emulator(key)
    # "Outside the host": a second container on the Docker bridge, one of whose addresses is an
    # allowed SIP source (BYOM_SEC_PROBE_IP, see the inventory) and a second one is not.
    reuse = os.environ.get('BYOM_SEC_REUSE') == '1' and os.path.exists(os.path.join(OUT, 'site-vvv.log'))
    if not reuse:
        seclib.docker_rm(PROBE)
        seclib.sh(['docker', 'run', '-d', '--name', PROBE, '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
                   '--pull', 'never', IMAGE, 'sleep', 'infinity'], timeout=120)
    probe_ip = seclib.container_ip(PROBE) if seclib.sh(['docker', 'inspect', PROBE], check=False).returncode == 0 else ''
    if not reuse:
        seclib.systemd_container(CONTAINER, IMAGE)
    tgt = Target(emulator, None, probe_ip)
    try:
        if reuse:
            run, path = None, os.path.join(OUT, 'site-vvv.log')
        else:
            run, path = tgt.deploy('site-vvv.log', args=['-vvv'])
        tgt.site_log = path
        if run is not None and run.rc != 0:
            pytest.fail('site.yml failed on %s (rc %d), log %s:\n%s' % (CONTAINER, run.rc, path, run.output[-4000:]))
        install_tools(CONTAINER)
        if probe_ip:
            for tool in ('sipprobe.py', 'portprobe.py'):
                seclib.sh(['docker', 'cp', os.path.join(seclib.SEC_DIR, 'tools', tool), '%s:/%s' % (PROBE, tool)])
        yield tgt
    finally:
        emulator.stop()
        if os.environ.get('BYOM_SEC_KEEP') != '1':
            seclib.docker_rm(CONTAINER)
            seclib.docker_rm(PROBE)
