# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kamailio proxy tier benchmark (a benchmark, not a test: it prints figures, asserts nothing).

Builds its own lab with site.yml: one Asterisk 22 node (Debian sid's package) behind the
sip_proxy role's Kamailio 5.6 (Debian 12's package), both containers on a docker network this
script creates; a SIPp UAS inside the node plays Vapi's SIP side (the node's Vapi contact), SIPp
on the controller plays the carrier (UAC bench/proxy/carrier_uac.xml, signalling only). Measures:

  proxy_cps_max             RFC 7502 session attempt rate: the highest rate (call attempts/s)
                            through Kamailio at which every attempt of a step completed, stepping
                            the rate up (each step --step-s seconds of attempts, --hold-ms calls)
                            until a step has a failure or the step list ends
  proxy_added_setup_ms_p99  setup time (INVITE -> 200 at the caller) p99 through the proxy
                            minus the same straight to the node, at --latency-rate
Bounded: a fixed number of attempts per step, a timeout per SIPp run, a list of steps.

usage: bench/proxy.py [--out bench/results.json] [--rates 25,50,100,150,200,300] [--step-s 10]
The figures go under the key "proxy" of --out (merged into an existing file).
"""
import argparse
import csv
import glob
import ipaddress
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
NET = 'byom-bench-proxy-net'
NODE = 'byom-bench-proxy-node'
PROXY = 'byom-bench-proxy-kam'
KEY = 'byom-bench-proxy-key'
DID = '+15550100301'
SIPP_PORT = 5098


def run(*cmd, timeout=600, check=True, env=None):
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
                          timeout=timeout, check=False, env=env)
    if check and proc.returncode != 0:
        raise RuntimeError('%s failed: %s' % (' '.join(cmd), proc.stdout[-3000:]))
    return proc


def log(msg):
    sys.stderr.write('[proxy-bench %s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


def cleanup():
    for name in (NODE, PROXY):
        run('docker', 'rm', '-f', '-v', name, check=False)
    run('docker', 'network', 'rm', NET, check=False)


def start(name, image, cgroup_v2):
    cgroup = (['--cgroupns', 'private', '-v', '/sys/fs/cgroup/unified:/sys/fs/cgroup:rw'] if cgroup_v2
              else ['--cgroupns', 'host', '-v', '/sys/fs/cgroup:/sys/fs/cgroup:rw'])
    run('docker', 'run', '-d', '--name', name, '--hostname', name, '--network', NET,
        '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN', '--cap-add', 'NET_RAW',
        '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined', *cgroup,
        '--tmpfs', '/run', '--tmpfs', '/run/lock', '--env', 'container=docker', '--pull', 'never',
        image, '/lib/systemd/systemd')
    for _attempt in range(60):
        state = run('docker', 'exec', name, 'systemctl', 'is-system-running', check=False).stdout.strip()
        if state in ('running', 'degraded'):
            return
        time.sleep(1)
    raise RuntimeError('systemd in %s did not come up' % name)


def address(name):
    return run('docker', 'inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}', name).stdout.strip()


def converge(tmp, node_ip, proxy_ip, gateway_ip, emu_port):
    inv = {'all': {
        'vars': {'ansible_connection': 'community.docker.docker',
                 # TEST-NET-1: "Vapi" never sends here; the controller is the carrier.
                 'telephony_vapi_sip_addresses': ['192.0.2.10/32'],
                 'telephony_carrier_sip_addresses': ['%s/32' % gateway_ip],
                 'vapi_api_url': 'http://127.0.0.1:%d' % emu_port, 'vapi_api_key': KEY,
                 'hardening_sysctl_apply': False},
        'children': {
            'asterisk': {'children': {'bench_pool': {
                'hosts': {NODE: {'telephony_public_ipv4': node_ip, 'sip_proxy_node_address': node_ip}},
                'vars': {'vapi_pool': 'bench', 'asterisk_version': '22', 'asterisk_limit_nofile': 16384,
                         'asterisk_dids': [DID],
                         'asterisk_vapi_inbound_username': 'bench-vapi',
                         'asterisk_vapi_inbound_password': 'bench-only-password-not-secret',
                         'vapi_assistants': [{'name': 'front-desk', 'first_message': 'Hello',
                                              'model': {'provider': 'openai', 'model': 'gpt-4o-mini'}}],
                         # Vapi's side: the SIPp UAS inside the node, never the real sip.vapi.ai.
                         'asterisk_vapi_contact_uri': 'sip:127.0.0.2:5070',
                         # The product's per-trunk caps (20/10 calls) would cap the measurement.
                         'asterisk_vapi_max_calls': 2000,
                         'asterisk_carrier_trunks': [{'name': 'carrier', 'host': '%s:5062' % gateway_ip,
                                                      'addresses': ['%s/32' % gateway_ip], 'max_calls': 2000}],
                         'telephony_sip_proxy_addresses': ['%s/32' % proxy_ip]},
            }}},
            'sip_proxy': {'hosts': {PROXY: {}}, 'vars': {'sip_proxy_pool_group': 'bench_pool'}},
        },
    }}
    path = os.path.join(tmp, 'hosts.yml')
    with open(path, 'w') as handle:
        yaml.safe_dump(inv, handle)
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'),
               ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'), ANSIBLE_NOCOLOR='1')
    started = time.time()
    proc = run(os.path.join(ROOT, '.venv', 'bin', 'ansible-playbook'), os.path.join(ROOT, 'site.yml'), '-i', path,
               timeout=1500, check=False, env=env)
    with open(os.path.join(tmp, 'site.log'), 'w') as handle:
        handle.write(proc.stdout)
    if proc.returncode != 0:
        raise RuntimeError('site.yml failed: %s' % proc.stdout[-4000:])
    return round(time.time() - started, 1)


def vapi_side_uas():
    """SIPp's built-in UAS inside the node on 127.0.0.2:5070 (the node's Vapi contact)."""
    run('docker', 'exec', '-e', 'DEBIAN_FRONTEND=noninteractive', NODE, 'sh', '-c',
        'command -v sipp >/dev/null || { apt-get -qq update >/dev/null && '
        'apt-get install -y -qq --no-install-recommends sip-tester >/dev/null; }', timeout=600)
    run('docker', 'exec', '-d', NODE, 'sipp', '-sn', 'uas', '-i', '127.0.0.2', '-p', '5070', '-nostdin',
        '-bg', '-max_socket', '4096')
    time.sleep(1)


def sipp_step(work, target, local_ip, rate, calls, hold_ms, tag):
    """One bounded SIPp UAC run; returns attempts, successes, failures and setup times (ms)."""
    wd = os.path.join(work, tag)
    os.makedirs(wd)
    timeout_s = int(calls / float(rate) + hold_ms / 1000.0 + 30)
    cmd = ['sipp', target, '-sf', os.path.join(ROOT, 'bench', 'proxy', 'carrier_uac.xml'), '-s', DID, '-i', local_ip, '-p', str(SIPP_PORT), '-r', str(rate),
           '-m', str(calls), '-d', str(hold_ms), '-l', str(max(50, rate * (hold_ms // 1000 + 3))),
           '-nostdin', '-timeout', '%ds' % timeout_s, '-timeout_error', '-recv_timeout', '10000',
           '-trace_stat', '-stf', os.path.join(wd, 'stat.csv'), '-fd', '1',
           '-trace_rtt', '-rtt_freq', '1', '-max_socket', '4096']
    proc = subprocess.run(cmd, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=timeout_s + 30, check=False)
    with open(os.path.join(wd, 'stat.csv')) as handle:
        rows = list(csv.reader(handle, delimiter=';'))
    header, last = rows[0], rows[-1]
    stats = dict(zip(header, last))
    ok = int(stats.get('SuccessfulCall(C)', 0))
    failed = int(stats.get('FailedCall(C)', 0))
    setup = []
    for path in glob.glob(os.path.join(wd, '*_rtt.csv')):
        with open(path) as handle:
            for row in csv.reader(handle, delimiter=';'):
                # date_ms;rtt;rtt_name
                try:
                    setup.append(float(row[1]))
                except (ValueError, IndexError):
                    continue
    return {'rate': rate, 'attempts': calls, 'ok': ok, 'failed': failed, 'rc': proc.returncode,
            'setup_ms': setup}


def proxy_log_counts():
    """Why attempts failed, from Kamailio's own log lines (sip_proxy role's kamailio.cfg)."""
    journal = run('docker', 'exec', PROXY, 'journalctl', '-u', 'kamailio', '--no-pager', '-o', 'cat',
                  check=False).stdout
    return {'invite_unanswered_within_dispatch_timeout': journal.count('did not answer the INVITE'),
            'node_down_events': journal.count('node DOWN'),
            'no_active_node_503': journal.count('no active node')}


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100.0 * len(values)))], 2)


def merge(out, figures):
    try:
        with open(out) as handle:
            data = json.load(handle)
    except (OSError, ValueError):
        data = {}
    data['proxy'] = figures
    for key in ('proxy_cps_max', 'proxy_added_setup_ms_p99'):
        data[key] = figures.get(key)
    with open(out, 'w') as handle:
        json.dump(data, handle, indent=2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'results.json'))
    ap.add_argument('--rates', default='25,50,100,150,200,300')
    ap.add_argument('--step-s', type=int, default=10)
    ap.add_argument('--hold-ms', type=int, default=1000)
    ap.add_argument('--latency-rate', type=int, default=20)
    ap.add_argument('--latency-calls', type=int, default=400)
    ap.add_argument('--emulator-port', type=int, default=int(os.environ.get('BENCH_PROXY_EMULATOR_PORT', '8151')))
    ap.add_argument('--keep', action='store_true', help='keep the containers')
    args = ap.parse_args()
    if shutil.which('sipp') is None or shutil.which('docker') is None:
        sys.exit('needs sipp (scripts/host-packages.sh) and docker (scripts/docker-engine.sh)')

    load_before = open('/proc/loadavg').read().split()[:3]
    work = tempfile.mkdtemp(prefix='byom-proxy-bench-')
    emu = None
    figures = {'load_before': ' '.join(load_before), 'steps': []}
    try:
        cleanup()
        run('docker', 'network', 'create', NET)
        emu = subprocess.Popen([sys.executable, os.path.join(ROOT, 'tests/vapi_emulator/server.py'), '--host',
                                '127.0.0.1', '--port', str(args.emulator_port), '--api-key', KEY],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if 'listening on' not in emu.stdout.readline():
            raise RuntimeError('the Vapi emulator did not start')
        start(NODE, 'localhost/byom-vps:debian-sid', True)
        start(PROXY, 'localhost/byom-vps:debian12', False)
        node_ip, proxy_ip = address(NODE), address(PROXY)
        gateway_ip = run('docker', 'network', 'inspect', NET, '-f',
                         '{{range .IPAM.Config}}{{.Gateway}}{{end}}').stdout.strip()
        ipaddress.ip_address(gateway_ip)
        log('site.yml: node %s behind proxy %s, carrier = controller %s' % (node_ip, proxy_ip, gateway_ip))
        figures['converge_s'] = converge(work, node_ip, proxy_ip, gateway_ip, args.emulator_port)
        vapi_side_uas()

        # Setup latency at one moderate rate: through the proxy, then straight to the node.
        via = sipp_step(work, '%s:5060' % proxy_ip, gateway_ip, args.latency_rate, args.latency_calls,
                        args.hold_ms, 'latency-proxy')
        direct = sipp_step(work, '%s:5060' % node_ip, gateway_ip, args.latency_rate, args.latency_calls,
                           args.hold_ms, 'latency-direct')
        for name, res in (('via_proxy', via), ('direct', direct)):
            figures['setup_%s' % name] = {'rate': res['rate'], 'attempts': res['attempts'], 'ok': res['ok'],
                                          'failed': res['failed'], 'p50_ms': pct(res['setup_ms'], 50),
                                          'p99_ms': pct(res['setup_ms'], 99)}
        if via['setup_ms'] and direct['setup_ms']:
            figures['proxy_added_setup_ms_p99'] = round(pct(via['setup_ms'], 99) - pct(direct['setup_ms'], 99), 2)
        p99s = (figures['setup_via_proxy']['p99_ms'], figures['setup_direct']['p99_ms'])
        log('setup p99 via proxy %s ms, direct %s ms' % p99s)

        # RFC 7502 session attempt rate: step the rate; the last step with 0 failures counts.
        best = 0
        for rate in [int(r) for r in args.rates.split(',') if r.strip()]:
            res = sipp_step(work, '%s:5060' % proxy_ip, gateway_ip, rate, rate * args.step_s, args.hold_ms,
                            'rate-%d' % rate)
            step = {k: res[k] for k in ('rate', 'attempts', 'ok', 'failed', 'rc')}
            step['setup_p99_ms'] = pct(res['setup_ms'], 99)
            step['load1_after'] = float(open('/proc/loadavg').read().split()[0])
            figures['steps'].append(step)
            log('rate %d/s: %d attempts, %d ok, %d failed, setup p99 %s ms' % (
                rate, res['attempts'], res['ok'], res['failed'], step['setup_p99_ms']))
            if res['failed'] > 0 or res['ok'] < res['attempts']:
                break
            best = rate
        figures['proxy_cps_max'] = best
        figures['proxy_log'] = proxy_log_counts()
        last = figures['steps'][-1] if figures['steps'] else {'failed': 1, 'ok': 0, 'attempts': 1}
        # Every step passed: the list of rates ended before the proxy failed (a lower bound).
        figures['proxy_cps_max_is_lower_bound'] = last['failed'] == 0 and last['ok'] == last['attempts']
        figures['hold_ms'] = args.hold_ms
        figures['load_after'] = ' '.join(open('/proc/loadavg').read().split()[:3])
        figures['note'] = ('one node behind the proxy; SIPp (controller) -> Kamailio -> Asterisk 22 -> SIPp UAS in '
                           'the node; signalling only; the machine is shared: figures are lower bounds')
    finally:
        if emu is not None:
            emu.terminate()
            emu.wait(timeout=10)
        if not args.keep:
            cleanup()
            shutil.rmtree(work, ignore_errors=True)
    merge(args.out, figures)
    print(json.dumps(figures, indent=2))


if __name__ == '__main__':
    main()
