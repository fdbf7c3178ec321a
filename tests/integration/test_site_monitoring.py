# -*- coding: utf-8 -*-
"""site.yml with a monitoring host and a proxy tier, end to end (issue 16), through scripts/lab.sh.

Its own lab (BYOM_LAB_MONITORING=1 and BYOM_LAB_WEBHOOKS=1): the edge container runs Asterisk,
the webhook receiver and Prometheus (group monitoring); a Debian 12 container is the proxy tier
(Kamailio dispatching to the edge, node-exporter). In file order:

1. `--check --diff` on two fresh boxes: finishes, reports what edge_metrics, monitoring, webhooks
   and sip_proxy would do, and changes nothing;
2. the first run deploys it all; Prometheus scrapes every target of the inventory (`up == 1` for
   each job and each host, read from its HTTP API), the proxy's collector series included;
3. a re-run reports changed=0 on both hosts;
4. drift (a rule file, the scrape config, a timer unit, node-exporter's arguments on the proxy,
   the dispatcher list, the receiver's nginx site): `--check --diff` shows exactly those files
   changing (and the handlers they notify), prints the lines it would remove, and changes nothing.
Secrets never appear in any output.
"""
import json
import os
import re
import time
import urllib.parse
from pathlib import Path

import pytest

from byom_testlib.containers import box
from byom_testlib.lab import Lab, requires_docker
from byom_testlib.playbooks import changes, recap

ROOT = Path(__file__).resolve().parents[2]
EDGE, PROXY = 'byom-lab-vps', 'byom-lab-proxy'           # inventory names
EDGE_BOX = os.environ.get('BYOM_MONITORING_SITE_CONTAINER', 'byom-mon-site-vps')
PROXY_BOX = os.environ.get('BYOM_MONITORING_SITE_PROXY_CONTAINER', 'byom-mon-site-proxy')
PORT = int(os.environ.get('BYOM_MONITORING_SITE_EMULATOR_PORT', '8160'))
LAB_DIR = Path(os.environ.get('BYOM_MONITORING_SITE_LAB_DIR', str(ROOT / '.lab' / 'monitoring-test')))
# inventories/lab-monitoring, inventories/lab-webhooks and inventories/lab: lab-only values.
SECRETS = ('lab-only-scrape-password', 'lab-only-asterisk-metrics-password', 'lab-only-hmac-secret-not-secret',
           'lab-only-redis-password-not-secret', 'lab-only-password-not-secret')

lab = Lab(EDGE_BOX, PORT, LAB_DIR, keep_logs=True, timeout=2400, BYOM_LAB_PROXY_CONTAINER=PROXY_BOX,
          BYOM_LAB_MONITORING='1', BYOM_LAB_WEBHOOKS='1')

# (box, file, the line appended by hand, the task that owns the file, its host)
DRIFTS = [
    (EDGE_BOX, '/etc/prometheus/rules/byom-telephony.rules.yml', '# drift: rule file edited by hand',
     'monitoring : Prometheus | alert rules shipped with the collection (checked by promtool)', EDGE),
    (EDGE_BOX, '/etc/prometheus/prometheus.yml', '# drift: scrape config edited by hand',
     'monitoring : Prometheus | scrape configuration from the inventory (checked by promtool)', EDGE),
    (EDGE_BOX, '/etc/systemd/system/byom-edge-metrics.timer', '# drift: timer edited by hand',
     "edge_metrics : Configure | the collector's systemd service and timer", EDGE),
    (EDGE_BOX, '/etc/nginx/sites-available/byom-webhooks', '# drift: receiver site edited by hand',
     'webhooks : TLS | nginx site for the receiver', EDGE),
    (PROXY_BOX, '/etc/default/prometheus-node-exporter', '# drift: node-exporter arguments edited by hand',
     'edge_metrics : Configure | node-exporter arguments', PROXY),
    (PROXY_BOX, '/etc/kamailio/dispatcher.list', '# drift: dispatcher list edited by hand',
     'sip_proxy : Config | dispatcher set (the pool\'s nodes)', PROXY),
]
# Handlers those files notify: a check run reports them as changes too (they would run).
DRIFT_HANDLERS = {'Monitoring | reload prometheus', 'Monitoring | restart prometheus', 'Edge metrics | restart the timer',
                  'Webhooks | reload nginx', 'Edge metrics | restart node-exporter', 'Sip_proxy | reload the dispatcher set'}

pytestmark = requires_docker


def state(name):
    """What a deployment would leave behind on a box, as one comparable snapshot."""
    probe = box(name, 'sh', '-c', 'for p in /etc/prometheus /etc/kamailio /etc/byom-edge-metrics.json /etc/nginx '
                                  '/etc/asterisk /usr/sbin/ufw; do [ -e "$p" ] && echo "present $p"; done; '
                                  'dpkg-query -W -f="${Package} ${Version}\\n" | sort | sha256sum')
    assert probe.returncode == 0, probe.stdout
    return probe.stdout


def prometheus_api(path):
    """GET on the monitoring host's Prometheus API (it listens on loopback only)."""
    out = box(EDGE_BOX, 'python3', '-c', 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode())',
              'http://127.0.0.1:9090/api/v1/' + path)
    assert out.returncode == 0, out.stdout
    data = json.loads(out.stdout)
    assert data['status'] == 'success', data
    return data['data']


def prometheus(expr):
    """Instant query: [(labels, value)]."""
    return [(r['metric'], float(r['value'][1])) for r in prometheus_api('query?query=' + urllib.parse.quote(expr))['result']]


@pytest.fixture(scope='module')
def fresh_check():
    lab('down', timeout=120)
    lab.images('debian-sid', 'debian12')
    # The first call creates both containers (and the emulator); it stops early for python3-apt.
    first = lab('deploy', '--check', '--diff')
    assert first.returncode != 0 and 'needs the python3-apt package' in first.stdout, first.stdout[-3000:]
    for name in (EDGE_BOX, PROXY_BOX):
        apt = box(name, 'sh', '-c', 'DEBIAN_FRONTEND=noninteractive apt-get -qq -o Acquire::Check-Valid-Until=false update >/dev/null && '
                                    'apt-get install -y -qq --no-install-recommends python3-apt >/dev/null', timeout=900)
        assert apt.returncode == 0, apt.stdout
    before = {name: state(name) for name in (EDGE_BOX, PROXY_BOX)}
    proc = lab('deploy', '--check', '--diff')
    yield proc, before
    lab('down', timeout=120)
    assert not lab.leaked(SECRETS), 'a lab secret leaked into the output'


def test_check_on_fresh_boxes_reports_and_changes_nothing(fresh_check):
    proc, before = fresh_check
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    rc = recap(out)
    assert set(rc) == {EDGE, PROXY}, rc
    assert all(h['failed'] == 0 and h['unreachable'] == 0 and h['changed'] > 0 for h in rc.values()), rc
    tasks = {(name, host) for kind, name, host in changes(out) if kind == 'TASK'}
    for want in [('edge_metrics : Install | packages', EDGE), ('edge_metrics : Install | packages', PROXY),
                 ('edge_metrics : Configure | node-exporter is not installed yet, so its service would be started', EDGE),
                 ('edge_metrics : UFW | ufw is not installed yet, so these rules would be added', PROXY),
                 ('monitoring : Prometheus | packages', EDGE),
                 ('monitoring : Prometheus | scrape configuration from the inventory (checked by promtool)', EDGE),
                 ('monitoring : Prometheus | not installed yet, so its service would be started', EDGE),
                 ('webhooks : Check mode on a box without the receiver', EDGE),
                 ('sip_proxy : Install | Kamailio', PROXY),
                 ('sip_proxy : Config | Kamailio is not installed yet, so all of this would be set up', PROXY)]:
        assert want in tasks, f'{want} not reported as a change; changes: {sorted(tasks)}'
    # The scrape config the first run would write names both targets of the inventory.
    assert re.search(r'^\+\s+edge: "byom-lab-proxy"$', out, re.M), out[-4000:]
    assert {name: state(name) for name in before} == before, 'check mode changed a box'
    print(f'fresh check: {rc}')


@pytest.fixture(scope='module')
def deployed(fresh_check):
    return lab('deploy')


def test_first_run_deploys_it_all(deployed):
    out = deployed.stdout
    assert deployed.returncode == 0, out[-6000:]
    rc = recap(out)
    assert set(rc) == {EDGE, PROXY}, rc
    assert all(h['failed'] == 0 and h['unreachable'] == 0 and h['changed'] > 0 for h in rc.values()), rc
    print(f'first run: {rc}')


def test_prometheus_scrapes_every_target_of_the_inventory(deployed):
    # The targets of the configuration in force (the package's default config, replaced by the
    # role, may leave series of its own jobs for a few minutes: they are not targets any more).
    want = {('prometheus', None), ('byom-edge', EDGE), ('byom-edge', PROXY)}
    deadline, targets = time.monotonic() + 120, []
    while time.monotonic() < deadline:
        targets = prometheus_api('targets?state=active')['activeTargets']
        if {(t['labels']['job'], t['labels'].get('edge')) for t in targets if t['health'] == 'up'} == want:
            break
        time.sleep(3)
    assert sorted((t['labels']['job'], t['labels'].get('edge'), t['health']) for t in targets) == \
        sorted((job, edge, 'up') for job, edge in want), targets
    for t in targets:
        up = prometheus('up{job="%s", instance="%s"}' % (t['labels']['job'], t['labels']['instance']))
        assert [v for _labels, v in up] == [1.0], (t['labels'], up)
    # Each box's collector runs and is scraped: the proxy's with the collectors that need no Asterisk.
    runs = {m['edge'] for m, _value in prometheus('byom_edge_metrics_last_run_timestamp_seconds')}
    assert runs == {EDGE, PROXY}, runs
    proxy = {m['collector']: v for m, v in prometheus(f'byom_edge_metrics_collector_success{{edge="{PROXY}"}}')}
    assert set(proxy) == {'fail2ban', 'firewall', 'tls', 'vapi'} and set(proxy.values()) == {1.0}, proxy
    assert [v for _labels, v in prometheus(f'byom_asterisk_metrics_up{{edge="{EDGE}"}}')] == [1.0]
    print(f'targets up: {sorted(want, key=str)}')


def test_rerun_changes_nothing(deployed):
    proc = lab('deploy')
    assert proc.returncode == 0, proc.stdout[-6000:]
    rc = recap(proc.stdout)
    assert set(rc) == {EDGE, PROXY} and all(h['changed'] == 0 and h['failed'] == 0 for h in rc.values()), \
        (rc, sorted(changes(proc.stdout)))
    print(f're-run: {rc}')


@pytest.fixture(scope='module')
def drifted(deployed):
    shas = {}
    for name, path, line, _task, _host in DRIFTS:
        edit = box(name, 'sh', '-c', f"echo '{line}' >> {path} && sha256sum {path}")
        assert edit.returncode == 0, edit.stdout
        shas[(name, path)] = edit.stdout.split()[0]
    return shas


def test_check_diff_shows_exactly_the_drift_and_changes_nothing(drifted):
    proc = lab('deploy', '--check', '--diff')
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    found = changes(out)
    tasks = {(name, host) for kind, name, host in found if kind == 'TASK'}
    handlers = {name.split(' : ', 1)[-1] for kind, name, _host in found if kind == 'RUNNING HANDLER'}
    assert tasks == {(task, host) for _b, _p, _l, task, host in DRIFTS}, sorted(tasks)
    assert handlers <= DRIFT_HANDLERS, handlers
    for _box, path, line, _task, _host in DRIFTS:
        assert re.search(r'^-' + re.escape(line) + r'$', out, re.M), f'{path}: the hand edit is not in the diff'
    for (name, path), sha in drifted.items():
        now = box(name, 'sha256sum', path)
        assert now.stdout.split()[0] == sha, f'check mode changed {path} on {name}'
    print(f'drift check: {recap(out)}, {len(tasks)} tasks, handlers {sorted(handlers)}')
