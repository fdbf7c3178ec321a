"""What the edge's metrics cost at N concurrent calls (a benchmark: prints figures, asserts nothing).

The edge is the lab container as site.yml configures it with metrics on (inventories/lab,
bench/lab-vars.yml, bench/metrics-vars.yml). While playbooks/loadtest.yml (the loadtest role's
SIPp ramp, one step of N calls) holds the calls, the bench measures, inside the container and
per process, with the collector's timer stopped so nothing else runs it:

  collector       the byom textfile collector, run R times: its own CPU and its children's
                  (asterisk -rx, iptables, openssl; getrusage), and the extra CPU Asterisk
                  spends answering it (CLI commands and the res_prometheus scrape it relays):
                  Asterisk's CPU during the run minus its rate in the calm windows around it
  node-exporter   S scrapes with Basic Auth on loopback, as Prometheus does: node-exporter's
                  CPU per scrape (/proc/PID/stat) and the scrape's wall time

metrics_cpu_overhead_pct = (collector + Asterisk extra per run) / collector interval
                           + node-exporter per scrape / scrape interval, as % of the whole box
(all cores = 100 %, like the bench's other CPU figures). The figures go under the key
"metrics_cost" of --out, plus the top-level metrics_cpu_overhead_pct and metrics_scrape_ms_p50.

usage: python3 bench/metrics_cost.py --calls 300 [--container NAME] [--create] [--out bench/results.json]
Bounded: every step has a timeout; the load is the loadtest role's (loopback inside the container).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
IMAGE = 'localhost/byom-vps:debian-sid'
SCRAPE_PASSWORD = 'bench-scrape-password-0123'    # bench/metrics-vars.yml

# Runs inside the container (python3 of the edge, stdlib only).
INNER = r'''
import json, os, resource, statistics, subprocess, sys, time, urllib.request, base64
cfg = json.loads(sys.argv[1])
tck = os.sysconf("SC_CLK_TCK")
def pid_of(unit):
    out = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", unit], capture_output=True, text=True, check=True)
    return int(out.stdout.strip())
def cpu(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tck
def channels():
    out = subprocess.run(["asterisk", "-rx", "core show channels count"], capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        if "active channel" in line:
            return int(line.split()[0])
    return None
ast, ne = pid_of("asterisk"), pid_of("prometheus-node-exporter")
assert ast > 0 and ne > 0, (ast, ne)
def calm(seconds):
    c0, t0 = cpu(ast), time.monotonic()
    time.sleep(seconds)
    return (cpu(ast) - c0) / (time.monotonic() - t0)
res = {"channels_before": channels()}
rates = [calm(cfg["calm_s"])]
runs = []
for _ in range(cfg["collector_runs"]):
    r0, a0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), cpu(ast), time.monotonic()
    subprocess.run(["python3", cfg["script"], "--config", cfg["config"]], check=True, timeout=60,
                   stdout=subprocess.DEVNULL)
    t1, a1, r1 = time.monotonic(), cpu(ast), resource.getrusage(resource.RUSAGE_CHILDREN)
    runs.append({"wall_s": t1 - t0, "own_cpu_s": (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime),
                 "asterisk_cpu_s": a1 - a0})
    time.sleep(cfg["pause_s"])
auth = "Basic " + base64.b64encode(("prometheus:" + cfg["password"]).encode()).decode()
scrapes = []
for _ in range(cfg["scrapes"]):
    c0, t0 = cpu(ne), time.monotonic()
    body = urllib.request.urlopen(urllib.request.Request("http://127.0.0.1:%d/metrics" % cfg["port"], headers={"Authorization": auth}),
                                  timeout=10).read()
    t1, c1 = time.monotonic(), cpu(ne)
    scrapes.append({"wall_s": t1 - t0, "cpu_s": c1 - c0, "bytes": len(body),
                    "samples": sum(1 for l in body.decode().splitlines() if l and not l.startswith("#"))})
    time.sleep(cfg["pause_s"])
rates.append(calm(cfg["calm_s"]))
res["channels_after"] = channels()
base = statistics.mean(rates)
res["asterisk_calm_cpu_pct_of_core"] = round(base * 100, 2)
res["collector_runs"] = [{"wall_s": round(r["wall_s"], 4), "own_cpu_s": round(r["own_cpu_s"], 4),
                          "asterisk_extra_cpu_s": round(r["asterisk_cpu_s"] - base * r["wall_s"], 4)} for r in runs]
res["scrapes"] = [{k: round(v, 5) if isinstance(v, float) else v for k, v in s.items()} for s in scrapes]
res["cpus"] = os.cpu_count()
print(json.dumps(res))
'''


def log(msg):
    print('[metrics-cost %s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr, flush=True)


def docker(*args, timeout=120, check=True, **kw):
    return subprocess.run(['docker', *args], capture_output=True, text=True, timeout=timeout, check=check, **kw)


def http_ok(url):
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


def create_container(name):
    docker('rm', '-f', name, check=False)
    # Same flags as scripts/lab.sh (systemd as PID 1 without --privileged; sid needs cgroup v2).
    docker('run', '-d', '--name', name, '--hostname', name, '--cap-add', 'SYS_ADMIN', '--cap-add', 'NET_ADMIN',
           '--cap-add', 'NET_RAW', '--security-opt', 'seccomp=unconfined', '--security-opt', 'apparmor=unconfined',
           '--cgroupns', 'private', '-v', '/sys/fs/cgroup/unified:/sys/fs/cgroup:rw', '--tmpfs', '/run',
           '--tmpfs', '/run/lock', '--env', 'container=docker', '--pull', 'never', IMAGE, '/lib/systemd/systemd')
    for _attempt in range(60):
        state = docker('exec', name, 'systemctl', 'is-system-running', check=False).stdout.strip()
        if state in ('running', 'degraded'):
            return
        time.sleep(1)
    raise SystemExit('systemd in %s did not come up' % name)


def converge(args, env, workdir):
    """site.yml with metrics on, against the bench container, with a private Vapi emulator."""
    url = 'http://127.0.0.1:%d' % args.emulator_port
    venv_python = os.path.join(ROOT, '.venv', 'bin', 'python')
    python = venv_python if os.path.exists(venv_python) else sys.executable
    emu = subprocess.Popen([python, os.path.join(ROOT, 'tests', 'vapi_emulator', 'server.py'), '--host', '127.0.0.1',
                            '--port', str(args.emulator_port), '--api-key', 'byom-lab-key',
                            '--state-file', os.path.join(workdir, 'vapi-state.json')],
                           stdout=open(os.path.join(workdir, 'emulator.log'), 'w'), stderr=subprocess.STDOUT)
    try:
        for _attempt in range(50):
            if http_ok(url + '/_emulator/health'):
                break
            time.sleep(0.2)
        else:
            raise SystemExit('the Vapi emulator did not answer on %s' % url)
        t0 = time.monotonic()
        logf = os.path.join(workdir, 'site.log')
        with open(logf, 'w') as fh:
            rc = subprocess.run(['ansible-playbook', 'site.yml', '-i', 'inventories/lab', '-e', '@bench/lab-vars.yml',
                                 '-e', '@bench/metrics-vars.yml'], cwd=ROOT, env=dict(env, BYOM_LAB_EMULATOR_URL=url),
                                stdout=fh, stderr=subprocess.STDOUT, timeout=args.converge_timeout, check=False).returncode
        if rc != 0:
            raise SystemExit('site.yml with metrics failed (rc %d): %s' % (rc, logf))
        return round(time.monotonic() - t0, 1)
    finally:
        emu.terminate()
        emu.wait(10)


def summarize(raw, collector_interval, scrape_interval):
    runs, scrapes = raw['collector_runs'], raw['scrapes']

    def median(values):
        values = sorted(values)
        n = len(values)
        return (values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2) if n else None

    # CPU: means over all runs and scrapes (/proc/PID/stat counts in clock ticks of 10 ms, so
    # one scrape reads 0 or 0.01 s; the mean over S scrapes is the resolution that matters).
    own = sum(r['own_cpu_s'] for r in runs) / len(runs)
    extra = sum(r['asterisk_extra_cpu_s'] for r in runs) / len(runs)
    ne = sum(s['cpu_s'] for s in scrapes) / len(scrapes)
    per_s = (own + extra) / collector_interval + ne / scrape_interval
    return {
        'metrics_cpu_overhead_pct': round(per_s / raw['cpus'] * 100, 3),
        'collector_cpu_s_per_run': round(own, 4),
        'asterisk_extra_cpu_s_per_collector_run': round(extra, 4),
        'collector_wall_s_p50': round(median([r['wall_s'] for r in runs]), 4),
        'node_exporter_cpu_s_per_scrape': round(ne, 5),
        'scrape_ms_p50': round(median([s['wall_s'] for s in scrapes]) * 1000, 2),
        'scrape_ms_max': round(max(s['wall_s'] for s in scrapes) * 1000, 2),
        'samples_per_scrape': median([s['samples'] for s in scrapes]),
        'collector_interval_s': collector_interval,
        'scrape_interval_s': scrape_interval,
        'cpus': raw['cpus'],
        'asterisk_calm_cpu_pct_of_core': raw['asterisk_calm_cpu_pct_of_core'],
        'channels_during': [raw['channels_before'], raw['channels_after']],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--calls', type=int, default=300)
    ap.add_argument('--container', default='byom-bench-vps')
    ap.add_argument('--create', action='store_true', help='create a fresh container (else reuse a running one)')
    ap.add_argument('--keep', action='store_true', help='keep a container this run created')
    ap.add_argument('--skip-converge', action='store_true', help='the container already runs site.yml with metrics-vars.yml')
    ap.add_argument('--emulator-port', type=int, default=8161)
    ap.add_argument('--converge-timeout', type=int, default=1500)
    ap.add_argument('--collector-runs', type=int, default=5)
    ap.add_argument('--scrapes', type=int, default=20)
    ap.add_argument('--calm-s', type=float, default=8)
    # The defaults of edge_metrics_interval and monitoring_prometheus_scrape_interval.
    ap.add_argument('--collector-interval', type=float, default=15)
    ap.add_argument('--scrape-interval', type=float, default=15)
    ap.add_argument('--call-rate', type=int, default=50)
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'results.json'))
    args = ap.parse_args()

    env = dict(os.environ, BYOM_LAB_CONTAINER=args.container, BENCH_VPS_CONTAINER=args.container,
               PATH=os.path.join(ROOT, '.venv', 'bin') + os.pathsep + os.environ.get('PATH', ''),
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_CONFIG=os.path.join(ROOT, 'ansible.cfg'),
               ANSIBLE_NOCOLOR='1')
    workdir = os.path.join(ROOT, 'bench', 'out', 'metrics-cost')
    os.makedirs(workdir, exist_ok=True)
    created = False
    load = None
    try:
        if args.create:
            log('fresh container %s' % args.container)
            create_container(args.container)
            created = True
        elif docker('inspect', '-f', '{{.State.Running}}', args.container, check=False).stdout.strip() != 'true':
            raise SystemExit('container %s is not running (use --create)' % args.container)
        converge_s = None
        if not args.skip_converge:
            log('site.yml with metrics on (log: %s/site.log)' % workdir)
            converge_s = converge(args, env, workdir)
        # The bench drives the collector itself: its timer would add runs inside the windows.
        docker('exec', args.container, 'systemctl', 'stop', 'byom-edge-metrics.timer')

        hold_s = int(2 * args.calm_s + args.collector_runs * 3 + args.scrapes * 1.5 + 60)
        extra = json.dumps({'loadtest_steps': [args.calls], 'loadtest_hold_s': hold_s, 'loadtest_call_rate': args.call_rate,
                            'loadtest_max_total_s': hold_s + args.calls // max(1, args.call_rate) + 300,
                            'loadtest_output_dir': os.path.join(workdir, 'loadtest')})
        log('%d calls through the loadtest role, held %d s (log: %s/loadtest.log)' % (args.calls, hold_s, workdir))
        load = subprocess.Popen(['ansible-playbook', 'playbooks/loadtest.yml', '-i', 'bench/inventory.yml',
                                 '-e', 'loadtest_hosts=byom-bench-vps', '-e', '@bench/loadtest-vars.yml', '-e', extra],
                                cwd=ROOT, env=env, stdout=open(os.path.join(workdir, 'loadtest.log'), 'w'),
                                stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 600 + args.calls / max(1, args.call_rate)
        want = int(2 * args.calls * 0.98)
        seen = 0
        while time.monotonic() < deadline and load.poll() is None:
            out = docker('exec', args.container, 'asterisk', '-rx', 'core show channels count', check=False).stdout
            seen = next((int(line.split()[0]) for line in out.splitlines() if 'active channel' in line), 0)
            if seen >= want:
                break
            time.sleep(2)
        if seen < want:
            raise SystemExit('the calls never came up: %d channels of %d (see %s/loadtest.log)' % (seen, want, workdir))
        time.sleep(3)
        log('%d channels up: measuring' % seen)
        cfg = {'script': '/usr/local/lib/byom/byom_edge_metrics.py', 'config': '/etc/byom-edge-metrics.json',
               'password': SCRAPE_PASSWORD, 'port': 9100, 'collector_runs': args.collector_runs, 'scrapes': args.scrapes,
               'calm_s': args.calm_s, 'pause_s': 1.0}
        inner = docker('exec', '-i', args.container, 'python3', '-', json.dumps(cfg), input=INNER, timeout=600)
        raw = json.loads(inner.stdout.strip().splitlines()[-1])
        load.wait(timeout=hold_s + 600)
        load = None
        with open(os.path.join(workdir, 'raw.json'), 'w') as fh:
            json.dump(raw, fh, indent=2)

        figures = summarize(raw, args.collector_interval, args.scrape_interval)
        load1 = float(open('/proc/loadavg').read().split()[0])
        figures.update({'calls': args.calls, 'converge_with_metrics_s': converge_s, 'load_avg_1m_at_end': load1,
                        'measured_under_contention': load1 >= 1.0, 'goal_pct': 1.0,
                        'goal_met': figures['metrics_cpu_overhead_pct'] < 1.0})
        try:
            with open(args.out) as fh:
                results = json.load(fh)
        except (OSError, ValueError):
            results = {}
        results['metrics_cost'] = figures
        results['metrics_cpu_overhead_pct'] = figures['metrics_cpu_overhead_pct']
        results['metrics_scrape_ms_p50'] = figures['scrape_ms_p50']
        with open(args.out, 'w') as fh:
            json.dump(results, fh, indent=2)
        print(json.dumps(figures, indent=2))
        return 0
    finally:
        if load is not None and load.poll() is None:
            os.killpg(load.pid, signal.SIGTERM)
            load.wait(30)
        if docker('inspect', args.container, check=False).returncode == 0:
            docker('exec', args.container, 'systemctl', 'start', 'byom-edge-metrics.timer', check=False)
        if created and not args.keep:
            docker('rm', '-f', args.container, check=False)


if __name__ == '__main__':
    sys.exit(main())
