# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proxy tier's optional VRRP pair (issue 15): site.yml converges two Kamailio proxies
(Debian 12's kamailio and keepalived) with sip_proxy_vrrp_enabled, hardened (UFW admits VRRP
from the peer only); the shared address is on exactly one proxy and answers SIP (OPTIONS from
the proxy itself, an INVITE relayed to the pool's node with the shared address in
Record-Route); check mode on the fresh pair finishes, a re-run and a check-mode run on the
converged pair report changed=0. A restart of the master's
Kamailio (a kamailio.cfg change) leaves the address where it is. Then the failovers: the master's
Kamailio stops (the track script puts it in FAULT) and the address moves and answers again; the
old master recovers and, nopreempt, stays backup; the new master's box is killed and the address
moves back and answers again. The seconds each move took are printed, never asserted.

Containers (one converge shared by every test): m15a-proxy1/2 (debian12 image, systemd,
NET_ADMIN) and m15a-node (the pool's one node: tests/integration/sip_peer.py as a SIP far end
that logs what reaches it; "Vapi", the caller, is an extra address on the same container) on the
docker network m15a-net. BYOM_M15A_KEEP=1 keeps them for inspection.
"""
import ipaddress
import json
import os
import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from byom_testlib.containers import address, box, remove, run, start_systemd, wait_systemd
from byom_testlib.playbooks import recap

ROOT = Path(__file__).resolve().parents[2]
NET = 'm15a-net'
PROXIES = ('m15a-proxy1', 'm15a-proxy2')
NODE = 'm15a-node'
NODE_LOG = '/root/node.jsonl'
AUTH_PASS = 'm15a-vrp'
ENV = dict(os.environ, PY_COLORS='0', ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
           ANSIBLE_COLLECTIONS_PATH=str(ROOT / '.collections'), ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),
           PATH=str(ROOT / '.venv' / 'bin') + os.pathsep + os.environ.get('PATH', ''))
# Every wait is bounded: a move of the address that takes longer than this is a failure.
MOVE_LIMIT_S = 30

pytestmark = pytest.mark.skipif(shutil.which('docker') is None or os.geteuid() != 0,
                                reason='needs root and docker (scripts/docker-engine.sh installs it)')


def failures(output):
    """The task blocks that failed or changed, for the assertion message."""
    blocks = output.split('\nTASK [')
    return '\n'.join(b[:2000] for b in blocks if re.search(r'^(fatal|failed|changed): ', b, re.M))[-8000:] or output[-6000:]


def cleanup():
    remove(*PROXIES, NODE, networks=[NET])


def start_proxy(name):
    # cgroup v1 flags (Debian 12's systemd), /tmp a tmpfs too.
    start_systemd(name, 'localhost/byom-vps:debian12', cgroup_v2=False, network=NET, extra=['--tmpfs', '/tmp'])


def holders(vip, among=PROXIES):
    """The proxies that have the shared address on their interface now."""
    return [name for name in among
            if re.search(r'\binet %s/' % re.escape(vip), box(name, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0').stdout)]


def wait_holder(vip, among, timeout=MOVE_LIMIT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = holders(vip, among)
        if len(found) == 1:
            return found[0]
        time.sleep(0.2)
    return None


def options(src, vip, timeout=2):
    out = box(NODE, 'python3', '/root/sip_peer.py', 'options', src, vip, '5060', '--timeout', str(timeout),
              timeout=timeout + 30).stdout
    return json.loads(out.strip().splitlines()[-1])['code']


def wait_answered(src, vip, timeout=MOVE_LIMIT_S):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if options(src, vip, timeout=1) == 200:
            return True
    return False


def invite(src, vip, number='+15550100301'):
    out = box(NODE, 'python3', '/root/sip_uac.py', src, vip, '5060', number, '--timeout', '10', timeout=60).stdout
    return json.loads(out.strip().splitlines()[-1])


def node_requests():
    text = box(NODE, 'cat', NODE_LOG).stdout
    return [json.loads(line) for line in text.splitlines() if line.startswith('{')]


def site(inv, *args):
    started = time.time()
    proc = run(str(ROOT / '.venv' / 'bin' / 'ansible-playbook'), str(ROOT / 'site.yml'), '-i', str(inv), '-f', '3',
               *args, timeout=900, check=False, env=ENV)
    return proc, time.time() - started


@pytest.fixture(scope='module')
def pair(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('sip-proxy-vrrp')
    cleanup()
    run('docker', 'network', 'create', NET)
    try:
        for name in PROXIES:
            start_proxy(name)
        run('docker', 'run', '-d', '--name', NODE, '--hostname', NODE, '--network', NET, '--cap-add', 'NET_ADMIN',
            '--pull', 'never', 'localhost/byom-vps:debian12', 'sleep', '1800')
        for name in PROXIES:
            wait_systemd(name)
        ips = {name: address(name) for name in PROXIES + (NODE,)}
        subnet = ipaddress.ip_network(run('docker', 'network', 'inspect', NET, '-f',
                                          '{{range .IPAM.Config}}{{.Subnet}}{{end}}').stdout.strip())
        # Far above the addresses docker hands out: the shared one and "Vapi" (on the node's box).
        vip, vapi_ip = (str(subnet.network_address + n) for n in (200, 250))
        run('docker', 'exec', NODE, 'ip', 'addr', 'replace', '%s/%d' % (vapi_ip, subnet.prefixlen), 'dev', 'eth0')
        for helper in ('sip_uac.py', 'sip_peer.py'):
            run('docker', 'cp', str(ROOT / 'tests/integration' / helper), NODE + ':/root/' + helper)
        run('docker', 'exec', '-d', NODE, 'python3', '/root/sip_peer.py', 'uas', ips[NODE], '5060', NODE_LOG,
            '--lifetime', '1500')
        inv = tmp / 'hosts.yml'
        inv.write_text(yaml.safe_dump({'all': {
            'vars': {
                'ansible_connection': 'community.docker.docker',
                'telephony_vapi_sip_addresses': ['%s/32' % vapi_ip],
                # /proc/sys is read-only in containers: write the sysctl file, apply at next boot.
                'hardening_sysctl_apply': False,
            },
            'children': {'sip_proxy': {
                'hosts': {name: {} for name in PROXIES},
                'vars': {
                    'sip_proxy_nodes': [{'name': 'node1', 'address': ips[NODE]}],
                    'sip_proxy_vrrp_enabled': True,
                    'sip_proxy_vrrp_address': '%s/%d' % (vip, subnet.prefixlen),
                    'sip_proxy_vrrp_auth_pass': AUTH_PASS,
                    'sip_proxy_vrrp_router_id': 71,
                },
            }},
        }}))
        runs = {}
        # Check mode on the fresh pair first (it needs python3-apt to see packages, as site.yml says):
        # keepalived and Kamailio are not installed yet, so nothing past the install can be simulated.
        for name in PROXIES:
            box(name, 'sh', '-c', 'apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-apt '
                '>/dev/null', timeout=600)
        runs['fresh-check'] = site(inv, '--check', '--diff')
        untouched = {name: box(name, 'sh', '-c', 'dpkg -s keepalived || dpkg -s kamailio || dpkg -s ufw || ls /etc/keepalived').returncode != 0
                     for name in PROXIES}
        runs['first'] = site(inv)
        if runs['first'][0].returncode == 0:
            runs['second'] = site(inv)
            runs['check'] = site(inv, '--check', '--diff')
        for label, (proc, _s) in runs.items():
            (tmp / ('site-%s.log' % label)).write_text(proc.stdout)
        print('VRRP pair site.yml: %s (logs in %s)'
              % (', '.join('%s %.0f s' % (label, s) for label, (_p, s) in runs.items()), tmp))
        yield {'ips': ips, 'vip': vip, 'vapi_ip': vapi_ip, 'runs': runs, 'untouched': untouched}
    finally:
        if os.environ.get('BYOM_M15A_KEEP') != '1':
            cleanup()


def test_check_mode_on_the_fresh_pair_reports_changes_and_installs_nothing(pair):
    proc = pair['runs']['fresh-check'][0]
    assert proc.returncode == 0, failures(proc.stdout)
    counts = recap(proc.stdout)
    assert all(counts[name]['changed'] > 0 for name in PROXIES), proc.stdout[-3000:]
    assert AUTH_PASS not in proc.stdout
    # Neither keepalived, Kamailio nor ufw installed, no /etc/keepalived written.
    assert pair['untouched'] == {name: True for name in PROXIES}


def test_converges_then_reruns_and_check_mode_change_nothing(pair):
    first = pair['runs']['first'][0]
    assert first.returncode == 0, failures(first.stdout)
    assert AUTH_PASS not in first.stdout
    for label in ('second', 'check'):
        proc = pair['runs'][label][0]
        assert proc.returncode == 0, failures(proc.stdout)
        counts = recap(proc.stdout)
        assert set(PROXIES) <= set(counts), proc.stdout[-3000:]
        assert all(counts[name]['changed'] == 0 for name in PROXIES), '%s run changed: %s' % (label, failures(proc.stdout))
        assert AUTH_PASS not in proc.stdout


def test_files_and_firewall_of_the_pair(pair):
    for name in PROXIES:
        peer = pair['ips'][[p for p in PROXIES if p != name][0]]
        assert box(name, 'stat', '-c', '%U:%G %a', '/etc/keepalived/keepalived.conf').stdout.strip() == 'root:root 640'
        assert box(name, 'systemctl', 'is-active', 'keepalived').stdout.strip() == 'active'
        # VRRP from the other member only: one managed rule, from the peer's address.
        vrrp = [line for line in box(name, 'ufw', 'show', 'added').stdout.splitlines() if 'proto vrrp' in line]
        assert vrrp == ["ufw allow from %s proto vrrp comment 'byom-managed'" % peer], vrrp
        assert 'Status: active' in box(name, 'ufw', 'status').stdout


def test_the_shared_address_is_on_one_proxy_and_answers(pair):
    vip, vapi_ip = pair['vip'], pair['vapi_ip']
    assert len(holders(vip)) == 1, holders(vip)
    # Vapi's gateway ping to the shared address: the proxy answers it itself.
    assert options(vapi_ip, vip) == 200
    # A call to the shared address reaches the node through the proxy (the node's 486 comes back),
    # with the shared address, not the box's own, in Record-Route and Via.
    call = invite(vapi_ip, vip)
    assert call['final'] == 486, call
    invites = [r for r in node_requests() if r['method'] == 'INVITE']
    assert invites, node_requests()
    last = invites[-1]
    assert last['source'] == '%s:5060' % vip, last
    assert re.findall(r'sip:([0-9.]+)[;:>]', ' '.join(last['record_route'])) == [vip], last


def test_failover_when_kamailio_stops_and_when_the_box_dies(pair):
    vip, vapi_ip = pair['vip'], pair['vapi_ip']
    master = wait_holder(vip, PROXIES)
    assert master, holders(vip)
    backup = [p for p in PROXIES if p != master][0]

    # 0. A restart of Kamailio (what a kamailio.cfg change does) is shorter than the check's
    # fall x interval: the address stays where it is.
    assert box(master, 'systemctl', 'restart', 'kamailio').returncode == 0
    deadline = time.time() + 10
    while time.time() < deadline:
        assert holders(vip) == [master], 'a Kamailio restart moved the address: %s' % holders(vip)
        time.sleep(1)

    # 1. Kamailio on the master stops: its track script fails, it gives the address away.
    started = time.time()
    assert box(master, 'systemctl', 'stop', 'kamailio').returncode == 0
    moved = wait_holder(vip, (backup,))
    moved_s = time.time() - started
    assert moved == backup and holders(vip) == [backup], holders(vip)
    assert wait_answered(vapi_ip, vip), 'the shared address on %s does not answer OPTIONS' % backup
    answered_s = time.time() - started
    print('Kamailio stopped on %s: address on %s after %.1f s, answered after %.1f s' % (master, backup, moved_s, answered_s))

    # 2. The old master's Kamailio is back: nopreempt keeps the address where it is.
    assert box(master, 'systemctl', 'start', 'kamailio').returncode == 0
    deadline = time.time() + 15
    while time.time() < deadline:
        assert holders(vip) == [backup], 'the recovered member took the address back: %s' % holders(vip)
        time.sleep(1)

    # 3. The new master's box dies outright: the address goes back to the first one and answers.
    started = time.time()
    run('docker', 'kill', backup)
    moved = wait_holder(vip, (master,))
    moved_s = time.time() - started
    assert moved == master, holders(vip, (master,))
    assert wait_answered(vapi_ip, vip), 'the shared address on %s does not answer OPTIONS' % master
    answered_s = time.time() - started
    call = invite(vapi_ip, vip, number='+15550100302')
    assert call['final'] == 486, call
    print('%s killed: address on %s after %.1f s, answered after %.1f s' % (backup, master, moved_s, answered_s))
