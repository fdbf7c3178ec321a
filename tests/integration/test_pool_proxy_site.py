# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""site.yml against an inventory with a pool of 2 edges and a Kamailio proxy (issue 15, "must
show"): it converges, the Vapi emulator holds ONE credential whose only gateway is the proxy
(proxy mode: never the nodes), and a re-run reports changed=0. Then, with real Asterisk 22 nodes
(Debian sid's package) behind the real Kamailio 5.6 (Debian 12's package): the proxy answers
Vapi's gateway ping itself, its OPTIONS probes get 200 from both nodes, calls from two carriers
and from "Vapi", all through the proxy, land in the right context (each carrier on its own
trunk by the proxy's X-BYOM-Source: carrier-<trunk> tag, Vapi still digest-challenged; a forged
header from the caller is replaced by the proxy), and a call a node places to Vapi leaves
through the proxy (the far end sees the proxy's address). Proxy mode closed: each node's firewall
admits SIP from the proxy only (fail2ban ignores the proxy only), SIP sent straight to a node from
Vapi's or a carrier's address gets no answer while the same call through the proxy does, and no
PJSIP identify or ACL of a node admits those addresses. Under 1:1 NAT the credential's gateway is
the proxy host's telephony_public_ipv4 (an extra address on the proxy), derived from the inventory.
A carrier trunk with registration registers through the proxy: the registrar (sip_peer.py on the
"regcarrier" address) gets every node's REGISTER from the proxy with the proxy's Path header, and
an INVITE to a node's registered address, sent to the proxy, lands on that node.

Containers (one converge shared by every test): byom-pool-edge1/2 (debian-sid image),
byom-pool-proxy (debian12 image) on the docker network byom-pool-net; the emulator on host port
8140 (BYOM_POOL_EMULATOR_PORT). "Vapi", "carrier" and "carrierb" are extra addresses on the
proxy container's interface, so their calls start inside the network the test created; "Vapi's
SIP host" (the nodes' Vapi contact) is tests/integration/sip_peer.py listening on Vapi's address.
"""
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from byom_testlib.containers import address, remove, start_systemd
from byom_testlib.playbooks import recap

ROOT = Path(__file__).resolve().parents[2]
NET = 'byom-pool-net'
EDGES = ('byom-pool-edge1', 'byom-pool-edge2')
PROXY = 'byom-pool-proxy'
VAPI_HOST_PORT = 5070
VAPI_HOST_LOG = '/root/vapi-host.jsonl'
REGISTRAR_PORT = 5064
REGISTRAR_LOG = '/root/registrar.jsonl'
REG_USER, REG_PASSWORD = 'byom-pool-reg', 'reg-only-password-not-secret'
PORT = int(os.environ.get('BYOM_POOL_EMULATOR_PORT', '8140'))
KEY = 'byom-pool-key'
DID = '+15550100201'
BLOCKED = '+19005550100'
VAPI_USER, VAPI_PASSWORD = 'byom-pool-vapi', 'pool-only-password-not-secret'
ENV = dict(os.environ, PY_COLORS='0', ANSIBLE_NOCOLOR='1', ANSIBLE_FORCE_COLOR='0',
           ANSIBLE_COLLECTIONS_PATH=str(ROOT / '.collections'), ANSIBLE_CONFIG=str(ROOT / 'ansible.cfg'),
           PATH=str(ROOT / '.venv' / 'bin') + os.pathsep + os.environ.get('PATH', ''))

pytestmark = pytest.mark.skipif(shutil.which('docker') is None or os.geteuid() != 0,
                                reason='needs root and docker (scripts/docker-engine.sh installs it)')


def run(*cmd, timeout=120, check=True):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=timeout, check=False)
    if check:
        assert proc.returncode == 0, '%s: %s' % (' '.join(cmd), proc.stdout[-3000:])
    return proc


def box(name, *cmd, timeout=60):
    return run('docker', 'exec', name, *cmd, timeout=timeout, check=False)


def cleanup():
    remove(*EDGES, PROXY, networks=[NET])


def start(name, image, cgroup_v2):
    start_systemd(name, image, cgroup_v2, network=NET, extra=['--tmpfs', '/tmp'])


def inventory(path, ips, vapi_ip, carrier_ip, carrier2_ip, proxy_public_ip, reg_ip):
    inv = {'all': {
        'vars': {
            'ansible_connection': 'community.docker.docker',
            # For the whole inventory, the proxy host included: site.yml keeps the proxy's own
            # firewall open to Vapi and the carriers (it is in front, never behind a proxy).
            'telephony_sip_proxy_addresses': ['%s/32' % ips[PROXY]],
            'telephony_vapi_sip_addresses': ['%s/32' % vapi_ip],
            'telephony_carrier_sip_addresses': ['%s/32' % carrier_ip, '%s/32' % carrier2_ip, '%s/32' % reg_ip],
            'vapi_api_url': 'http://127.0.0.1:%d' % PORT,
            'vapi_api_key': KEY,
            # /proc/sys is read-only in containers: write the sysctl file, apply at next boot.
            'hardening_sysctl_apply': False,
        },
        'children': {
            'asterisk': {'children': {'pool_a': {
                'hosts': {name: {'telephony_public_ipv4': ips[name], 'sip_proxy_node_address': ips[name]}
                          for name in EDGES},
                'vars': {
                    'vapi_pool': 'pool-a',
                    'asterisk_version': '22',
                    'asterisk_limit_nofile': 16384,
                    'asterisk_dids': [DID],
                    'asterisk_vapi_inbound_username': VAPI_USER,
                    'asterisk_vapi_inbound_password': VAPI_PASSWORD,
                    'vapi_assistants': [{'name': 'front-desk', 'first_message': 'Hello',
                                         'model': {'provider': 'openai', 'model': 'gpt-4o-mini'}}],
                    # Never toward the real sip.vapi.ai: the far end this test runs on Vapi's address.
                    'asterisk_vapi_contact_uri': 'sip:%s:%d' % (vapi_ip, VAPI_HOST_PORT),
                    # Two carriers behind the one proxy: each must land on its own trunk.
                    'asterisk_carrier_trunks': [{'name': 'carrier', 'host': '%s:5062' % carrier_ip,
                                                 'addresses': ['%s/32' % carrier_ip]},
                                                {'name': 'carrierb', 'host': '%s:5062' % carrier2_ip,
                                                 'addresses': ['%s/32' % carrier2_ip]},
                                                # Registers (through the proxy, which adds its Path).
                                                {'name': 'regcarrier', 'host': '%s:%d' % (reg_ip, REGISTRAR_PORT),
                                                 'addresses': ['%s/32' % reg_ip], 'registration': True,
                                                 'username': REG_USER, 'password': REG_PASSWORD}],
                },
            }}},
            # 1:1 NAT as the inventory declares it: Vapi reaches the proxy by its public address, the
            # nodes by the private one (telephony_sip_proxy_addresses); the vapi role derives the
            # credential's gateway from this value.
            'sip_proxy': {'hosts': {PROXY: {'telephony_public_ipv4': proxy_public_ip}},
                          'vars': {'sip_proxy_pool_group': 'pool_a'}},
        },
    }}
    path.write_text(yaml.safe_dump(inv))


def site(inv):
    started = time.time()
    proc = run(str(ROOT / '.venv' / 'bin' / 'ansible-playbook'), str(ROOT / 'site.yml'), '-i', str(inv), '-f', '3',
               timeout=1500, check=False)
    return proc, time.time() - started


def failures(output):
    """The task blocks that failed or changed, for the assertion message (the tail is often a recap)."""
    blocks = output.split('\nTASK [')
    return '\n'.join(b[:2000] for b in blocks if re.search(r'^(fatal|failed|changed): ', b, re.M))[-8000:] or output[-6000:]


def emulator_get(path):
    req = urllib.request.Request('http://127.0.0.1:%d%s' % (PORT, path), headers={'Authorization': 'Bearer ' + KEY})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope='module')
def pool(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('pool-proxy')
    # BYOM_POOL_REUSE=1 (with BYOM_POOL_KEEP=1 before): converge the kept containers again, for
    # working on this test only; the real run always starts from fresh containers.
    reuse = os.environ.get('BYOM_POOL_REUSE') == '1' and run('docker', 'inspect', PROXY, check=False).returncode == 0
    if not reuse:
        cleanup()
        run('docker', 'network', 'create', NET)
    emu = subprocess.Popen([sys.executable, str(ROOT / 'tests/vapi_emulator/server.py'), '--host', '127.0.0.1',
                            '--port', str(PORT), '--api-key', KEY],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    try:
        line = emu.stdout.readline()
        assert 'listening on' in line, 'the emulator did not start: %r' % line
        if not reuse:
            for name in EDGES:
                start(name, 'localhost/byom-vps:debian-sid', True)
            start(PROXY, 'localhost/byom-vps:debian12', False)
        for name in EDGES + (PROXY,):
            for _attempt in range(60):
                if box(name, 'systemctl', 'is-system-running').stdout.strip() in ('running', 'degraded'):
                    break
                time.sleep(1)
        ips = {name: address(name) for name in EDGES + (PROXY,)}
        subnet = ipaddress.ip_network(run('docker', 'network', 'inspect', NET, '-f',
                                          '{{range .IPAM.Config}}{{.Subnet}}{{end}}').stdout.strip())
        # Addresses far above the ones docker hands out: "Vapi", two carriers and the proxy's
        # "public" address (on the box, so Kamailio advertises nothing else; only Vapi's gateway uses it).
        vapi_ip, carrier_ip, carrier2_ip, proxy_public_ip, reg_ip = (str(subnet.network_address + n)
                                                                     for n in (250, 251, 252, 249, 248))
        for extra in (vapi_ip, carrier_ip, carrier2_ip, proxy_public_ip, reg_ip):
            run('docker', 'exec', PROXY, 'ip', 'addr', 'replace', '%s/%d' % (extra, subnet.prefixlen), 'dev', 'eth0')
        for helper in ('sip_uac.py', 'sip_peer.py'):
            run('docker', 'cp', str(ROOT / 'tests/integration' / helper), PROXY + ':/root/' + helper)
        for name in EDGES:  # sip_uac.py builds its requests with sip_peer.py's helpers
            for helper in ('sip_uac.py', 'sip_peer.py'):
                run('docker', 'cp', str(ROOT / 'tests/integration' / helper), name + ':/root/' + helper)
        # "Vapi's SIP host" for the nodes' calls to Vapi, recording where each request came from.
        box(PROXY, 'rm', '-f', VAPI_HOST_LOG)
        run('docker', 'exec', '-d', PROXY, 'python3', '/root/sip_peer.py', 'uas', vapi_ip, str(VAPI_HOST_PORT),
            VAPI_HOST_LOG, '--lifetime', '2400')
        # The registering carrier's registrar.
        box(PROXY, 'rm', '-f', REGISTRAR_LOG)
        run('docker', 'exec', '-d', PROXY, 'python3', '/root/sip_peer.py', 'uas', reg_ip, str(REGISTRAR_PORT),
            REGISTRAR_LOG, '--lifetime', '2400')
        inv = tmp / 'hosts.yml'
        inventory(inv, ips, vapi_ip, carrier_ip, carrier2_ip, proxy_public_ip, reg_ip)
        first, first_s = site(inv)
        second, second_s = site(inv) if first.returncode == 0 else (None, 0)
        for label, proc in (('first', first), ('second', second)):
            (tmp / ('site-%s.log' % label)).write_text(proc.stdout if proc else '')
        print('pool+proxy site.yml: first run %.0f s, re-run %.0f s (logs in %s)' % (first_s, second_s, tmp))
        yield {'ips': ips, 'vapi_ip': vapi_ip, 'carrier_ip': carrier_ip, 'carrier2_ip': carrier2_ip,
               'proxy_public_ip': proxy_public_ip, 'reg_ip': reg_ip, 'first': first, 'second': second}
    finally:
        emu.terminate()
        emu.wait(timeout=10)
        if not os.environ.get('BYOM_POOL_KEEP'):
            cleanup()


def test_site_converges_on_a_pool_of_2_and_a_proxy(pool):
    out = pool['first'].stdout
    assert pool['first'].returncode == 0, failures(out)
    hosts = recap(out)
    assert set(hosts) == set(EDGES + (PROXY,)), hosts
    for name, rc in hosts.items():
        assert rc['failed'] == 0 and rc['unreachable'] == 0, (name, rc)
        assert rc['changed'] > 0, (name, rc)


def test_rerun_is_changed_0(pool):
    assert pool['second'] is not None, 'first run failed'
    out = pool['second'].stdout
    assert pool['second'].returncode == 0, failures(out)
    hosts = recap(out)
    assert set(hosts) == set(EDGES + (PROXY,)), hosts
    changed = {name: rc['changed'] for name, rc in hosts.items() if rc['changed'] or rc['failed']}
    assert changed == {}, failures(out)


def test_emulator_holds_one_credential_whose_gateway_is_the_proxy(pool):
    creds = [c for c in emulator_get('/credential') if c.get('provider') == 'byo-sip-trunk']
    assert len(creds) == 1, creds
    gateways = creds[0]['gateways']
    # Proxy mode: Vapi reaches the pool only through the proxy, and the nodes are no gateway. Under
    # 1:1 NAT the gateway is the proxy host's telephony_public_ipv4, not the address the nodes use.
    assert [g['ip'] for g in gateways] == [pool['proxy_public_ip']], gateways
    assert not {g['ip'] for g in gateways} & {pool['ips'][n] for n in EDGES + (PROXY,)}, gateways
    gateway = gateways[0]
    assert gateway.get('port', 5060) == 5060 and gateway.get('outboundProtocol', 'udp') == 'udp', gateway
    assert gateway.get('inboundEnabled', True) and gateway.get('outboundEnabled', True), gateway
    assert gateway.get('optionsPingEnabled'), gateway
    numbers = [n for n in emulator_get('/phone-number') if n.get('number') == DID]
    assert len(numbers) == 1 and numbers[0]['credentialId'] == creds[0]['id'], numbers


def dispatcher_flags(ips):
    out = box(PROXY, 'kamcmd', 'dispatcher.list').stdout
    flags = {}
    for ip in ips:
        match = re.search(r'URI:\s*sip:%s:5060\s+FLAGS:\s*(\w+)' % re.escape(ip), out)
        flags[ip] = match.group(1) if match else out
    return flags


def test_proxy_probes_get_200_from_both_real_asterisk_nodes(pool):
    ips = [pool['ips'][n] for n in EDGES]
    # The probes run every 5 s; a node answering anything but 200 would be marked down (IP/TP).
    flags = {}
    for _attempt in range(20):
        flags = dispatcher_flags(ips)
        if all(f == 'AP' for f in flags.values()):
            break
        time.sleep(1)
    assert all(f == 'AP' for f in flags.values()), flags
    for name in EDGES:
        shown = box(name, 'asterisk', '-rx', 'pjsip show identify vapi-via-proxy').stdout
        assert 'X-BYOM-Source: vapi' in shown, shown
        for trunk in ('carrier', 'carrierb'):
            shown = box(name, 'asterisk', '-rx', 'pjsip show identify %s-via-proxy' % trunk).stdout
            assert 'X-BYOM-Source: carrier-%s' % trunk in shown, shown


def test_the_proxy_answers_vapis_gateway_ping_itself(pool):
    # The credential's gateway is the proxy, with optionsPingEnabled: Vapi's ping (no user part,
    # no credentials) gets 200 from Kamailio, not a challenge and not a relay to a node.
    out = box(PROXY, 'python3', '/root/sip_peer.py', 'options', pool['vapi_ip'], pool['ips'][PROXY], '5060',
              timeout=30).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {'code': 200}, out


def call_logs():
    logs = {}
    for name in EDGES:
        # One hangup-handler line per call that reached a dialplan, naming its endpoint.
        logs[name] = box(name, 'sh', '-c', 'grep -h "BYOM-CALL endpoint=" /var/log/asterisk/messages || true').stdout.splitlines()
    return logs


def uac(source, number, *extra):
    out = box(PROXY, 'python3', '/root/sip_uac.py', source, PROXY_IP[0], '5060', number, *extra, timeout=40).stdout
    return json.loads(out.strip().splitlines()[-1])


PROXY_IP = []


def new_lines(before, after):
    return [line for name in EDGES for line in after[name][len(before[name]):]]


def vapi_host_requests():
    out = box(PROXY, 'sh', '-c', 'cat %s 2>/dev/null || true' % VAPI_HOST_LOG).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith('{')]


def assert_dialled_vapi_through_the_proxy(pool, seen, number):
    invites = [r for r in vapi_host_requests()[seen:] if r['method'] == 'INVITE' and number in r['ruri']]
    assert len(invites) == 1 and invites[0]['source'] == '%s:5060' % pool['ips'][PROXY], invites


# Each carrier's call, with a forged tag the proxy must replace by the one of the trunk its source
# address belongs to ("carrier-carrier", "carrier-carrierb"), lands on that trunk's endpoint.
@pytest.mark.parametrize('source, forged_tag, endpoint', [
    ('carrier_ip', 'vapi', 'carrier'),
    ('carrier2_ip', 'carrier-carrier', 'carrierb'),
], ids=['first-carrier', 'second-carrier-on-its-own-trunk'])
def test_carrier_call_through_the_proxy_lands_on_its_own_trunk(pool, source, forged_tag, endpoint):
    PROXY_IP[:] = [pool['ips'][PROXY]]
    before = call_logs()
    seen = len(vapi_host_requests())
    result = uac(pool[source], DID, '--header', 'X-BYOM-Source: %s' % forged_tag, '--cancel-after', '2')
    assert 100 in result['codes'] and 401 not in result['codes'], result
    # The node dials Vapi for the DID, through the proxy; "Vapi's SIP host" answers Busy, and the
    # 486 comes all the way back: carrier -> proxy -> node -> proxy -> Vapi and back.
    assert result['final'] == 486, result
    assert_dialled_vapi_through_the_proxy(pool, seen, DID)
    time.sleep(1)
    lines = new_lines(before, call_logs())
    assert len(lines) == 1, lines
    assert 'endpoint=%s ' % endpoint in lines[0] and 'to=%s ' % DID in lines[0], lines


def test_a_nodes_call_to_vapi_leaves_through_the_proxy(pool):
    proxy_ip = pool['ips'][PROXY]
    for index, name in enumerate(EDGES):
        number = '+1555010030%d' % index
        out = box(name, 'asterisk', '-rx', 'channel originate PJSIP/%s@vapi application Wait 1' % number).stdout
        invites = []
        for _attempt in range(20):
            invites = [r for r in vapi_host_requests() if r['method'] == 'INVITE' and number in r['ruri']]
            if invites:
                break
            time.sleep(0.5)
        assert invites, (name, out, vapi_host_requests()[-5:])
        # Vapi sees the proxy (the credential's only gateway) as the source, never the node; the
        # proxy stays in the dialog (Record-Route) and added its own Via.
        assert invites[0]['source'] == '%s:5060' % proxy_ip, invites
        assert invites[0]['vias'] == 2 and any(proxy_ip in rr for rr in invites[0]['record_route']), invites
    nodes = {pool['ips'][n] for n in EDGES}
    assert not [r for r in vapi_host_requests() if r['source'].split(':')[0] in nodes]


def test_vapi_call_through_the_proxy_lands_in_the_vapi_context_after_digest(pool):
    PROXY_IP[:] = [pool['ips'][PROXY]]
    before = call_logs()
    unauth = uac(pool['vapi_ip'], BLOCKED)
    assert unauth['final'] == 401, unauth
    result = uac(pool['vapi_ip'], BLOCKED, '--user', VAPI_USER, '--password', VAPI_PASSWORD)
    # from-vapi refuses the premium range with 403 (Hangup(21)); the log names the endpoint.
    assert result['codes'][0] in (100, 401) and result['final'] == 403, result
    time.sleep(1)
    lines = new_lines(before, call_logs())
    assert len(lines) == 1, lines
    assert 'endpoint=vapi ' in lines[0] and 'to=%s ' % BLOCKED in lines[0], lines


def test_invite_from_the_proxy_without_its_header_reaches_no_dialplan(pool):
    PROXY_IP[:] = [pool['ips'][PROXY]]
    node = pool['ips'][EDGES[0]]
    before = call_logs()
    # Straight from the proxy's own address to a node, no source header: the byom-proxy endpoint,
    # whose context has no extensions.
    out = box(PROXY, 'python3', '/root/sip_uac.py', pool['ips'][PROXY], node, '5060', DID, timeout=40).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result['final'] == 404, result
    assert new_lines(before, call_logs()) == []


def test_forged_header_straight_to_a_node_reaches_no_dialplan(pool):
    node = pool['ips'][EDGES[0]]
    before = call_logs()
    acl_before = box(EDGES[0], 'grep', '-c', 'Not match Endpoint ACL', '/var/log/asterisk/messages').stdout.strip()
    # Past the firewall (from the node's own loopback, which UFW admits), a source that is not the
    # proxy claims each tag: the header picks the endpoint, whose ACL admits only the proxy
    # (Asterisk answers an ACL failure with 401), even Vapi's endpoint with Vapi's digest.
    forged = [('127.0.0.2', DID, 'X-BYOM-Source: carrier-regcarrier', []),
              ('127.0.0.3', DID, 'X-BYOM-Source: carrier-carrierb', []),
              ('127.0.0.4', BLOCKED, 'X-BYOM-Source: vapi', ['--user', VAPI_USER, '--password', VAPI_PASSWORD])]
    for source, number, header, extra in forged:
        out = box(EDGES[0], 'python3', '/root/sip_uac.py', source, node, '5060', number, '--header', header,
                  '--timeout', '8', *extra, timeout=40).stdout
        result = json.loads(out.strip().splitlines()[-1])
        assert result['final'] == 401, (source, header, result)
    assert new_lines(before, call_logs()) == []
    acl_after = box(EDGES[0], 'grep', '-c', 'Not match Endpoint ACL', '/var/log/asterisk/messages').stdout.strip()
    assert int(acl_after) >= int(acl_before or 0) + len(forged), (acl_before, acl_after)


def ufw_sip_sources(name):
    """{port/proto: {sources}} of the ALLOW rules UFW shows (IPv4)."""
    out = box(name, 'ufw', 'status').stdout
    assert 'Status: active' in out, out
    rules = {}
    for port, source in re.findall(r'^(\d+(?::\d+)?/\w+)\s+ALLOW(?: IN)?\s+(\S+)', out, re.M):
        rules.setdefault(port, set()).add(re.sub(r'/32$', '', source))
    return rules


def test_a_node_admits_sip_from_the_proxy_only(pool):
    proxy = pool['ips'][PROXY]
    peers = {pool['vapi_ip'], pool['carrier_ip'], pool['carrier2_ip'], pool['reg_ip']}
    for name in EDGES:
        rules = ufw_sip_sources(name)
        assert rules.get('5060/udp') == {proxy}, rules
        # Media stays anchored on the node: RTP open to any.
        assert rules.get('10000:20000/udp') == {'Anywhere'}, rules
        # fail2ban's Asterisk jail ignores the same sources: the proxy, not Vapi or the carriers.
        ignored = box(name, 'fail2ban-client', 'get', 'asterisk', 'ignoreip').stdout
        assert proxy in ignored and not [p for p in peers if p in ignored], ignored
        # No PJSIP identify matches Vapi's or a carrier's address: they are known by the proxy's tag only.
        identifies = box(name, 'asterisk', '-rx', 'pjsip show identifies').stdout
        assert 'byom-proxy' in identifies and not [p for p in peers if p in identifies], identifies
        # Every identify match and ACL permit the node's PJSIP configuration holds: the proxy's.
        written = box(name, 'grep', '-hE', '^(match|permit)=', '/etc/asterisk/pjsip.conf').stdout.split()
        assert written and set(written) == {'match=%s/32' % proxy, 'permit=%s/32' % proxy}, written
    # The proxy, in front of the pool, keeps admitting Vapi and the carriers, and admits its own
    # nodes (their calls to Vapi and their registrations start at them), and nothing else.
    assert ufw_sip_sources(PROXY).get('5060/udp') == peers | {pool['ips'][name] for name in EDGES}


@pytest.mark.parametrize('source', ['vapi_ip', 'carrier_ip'])
def test_sip_straight_to_a_node_gets_no_answer_while_through_the_proxy_it_does(pool, source):
    PROXY_IP[:] = [pool['ips'][PROXY]]
    node = pool['ips'][EDGES[0]]
    before = call_logs()
    out = box(PROXY, 'python3', '/root/sip_uac.py', pool[source], node, '5060', DID, '--timeout', '5', timeout=40).stdout
    direct = json.loads(out.strip().splitlines()[-1])
    # Dropped by the node's firewall: not even a 100 Trying.
    assert direct == {'codes': [], 'final': None}, direct
    assert new_lines(before, call_logs()) == []
    # The same INVITE from the same address through the proxy is answered: Vapi is challenged
    # (digest), the carrier's call reaches the node, which dials Vapi ("Busy" back).
    through = uac(pool[source], DID, '--cancel-after', '2')
    assert through['codes'] and through['final'] == (401 if source == 'vapi_ip' else 486), through


def registrar_requests():
    out = box(PROXY, 'sh', '-c', 'cat %s 2>/dev/null || true' % REGISTRAR_LOG).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith('{')]


def test_a_registering_carrier_gets_each_nodes_register_from_the_proxy_with_its_path(pool):
    proxy = pool['ips'][PROXY]
    registers = []
    # A node that started before the proxy retries its registration every 60 s (retry_interval).
    for _attempt in range(90):
        registers = [r for r in registrar_requests() if r['method'] == 'REGISTER']
        contacts = {c for r in registers for c in r['contact']}
        if all(any(pool['ips'][n] in c for c in contacts) for n in EDGES):
            break
        time.sleep(1)
    assert registers, registrar_requests()
    # Every REGISTER left through the proxy, never straight from a node, and carries the proxy's Path
    # (RFC 3327), loose-routed, so the carrier's calls for the binding come back through the proxy.
    assert {r['source'] for r in registers} == {'%s:5060' % proxy}, registers
    for request in registers:
        assert len(request['path']) == 1 and proxy in request['path'][0] and ';lr' in request['path'][0], request
    contacts = {c for r in registers for c in r['contact']}
    for name in EDGES:
        assert any(pool['ips'][name] in c for c in contacts), (name, contacts)


@pytest.mark.parametrize('node', EDGES)
def test_a_call_to_a_nodes_registration_lands_on_that_node_through_the_proxy(pool, node):
    PROXY_IP[:] = [pool['ips'][PROXY]]
    before = call_logs()
    # The carrier calls the registered address (the node's) through the proxy, following the Path.
    result = uac(pool['reg_ip'], DID, '--ruri-host', '%s:5060' % pool['ips'][node],
                 '--header', 'Route: <sip:%s:5060;lr>' % pool['ips'][PROXY], '--cancel-after', '2')
    assert result['codes'] and result['final'] == 486, result
    time.sleep(1)
    after = call_logs()
    lines = new_lines(before, after)
    assert len(lines) == 1 and 'endpoint=regcarrier ' in lines[0], lines
    # On the node it was addressed to, not where the dispatcher would have sent it.
    assert len(after[node]) == len(before[node]) + 1, (node, lines)
