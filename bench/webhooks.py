"""Webhook receiver benchmark (a benchmark, not a test: it prints figures, asserts nothing).

Runs the real receiver (system python3 + Debian's python3-redis, as on the VPS) against a
private redis-server (AOF everysec, as the role configures it), on 127.0.0.1 only, and measures:
  async  closed loop: events/s accepted (signed, deduplicated, queued) and accept latency p50/p99
  async  paced at --rate events/s: accept latency p50/p99 at that offered load
  sync   assistant-request answered from a rule: latency p50/p99
  drain  the worker delivering the queued events to a local downstream: deliveries/s
Bounded: a fixed event count per phase and a wall-clock cap per phase.

usage: bench/webhooks.py [--events 20000] [--rate 2000] [--out bench/results.json]
The figures go under the key "webhooks" of --out (merged into an existing file).
"""
import argparse
import hashlib
import hmac
import http.client
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
PKG = os.path.join(ROOT, 'roles', 'webhooks', 'files')
SECRET = 'bench-hmac-secret-0123456789'
REDIS_PW = 'bench-redis-password-0123456789'


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(p / 100.0 * len(values)))] * 1000, 2)


def body_for(kind, n, tag):
    msg = {'type': kind, 'timestamp': n, 'call': {'id': 'bench-%s-%d' % (tag, n), 'phoneNumberId': 'pn-bench'},
           'status': 'in-progress', 'customer': {'number': '+15550000000'}}
    return json.dumps({'message': msg}).encode()


def client(port, kind, tag, start, count, conns, rate, deadline, out):
    """One load process: `conns` keep-alive connections in threads; latencies to `out`."""
    bodies = []
    for n in range(start, start + count):
        body = body_for(kind, n, tag)
        ts = str(int(time.time()))
        sig = hmac.new(SECRET.encode(), ts.encode() + b'.' + body, hashlib.sha256).hexdigest()
        bodies.append((body, {'Content-Type': 'application/json', 'x-signature': sig, 'x-timestamp': ts}))
    lat, errors = [], [0]
    lock = threading.Lock()

    def run(idx):
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
        mine = bodies[idx::conns]
        interval = conns / float(rate) if rate else 0
        t_next = time.monotonic()
        local = []
        for body, headers in mine:
            if time.monotonic() > deadline:
                break
            if interval:
                t_next += interval
                wait = t_next - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            t0 = time.monotonic()
            try:
                conn.request('POST', '/vapi/webhook', body, headers)
                resp = conn.getresponse()
                resp.read()
                ok = resp.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
            local.append(time.monotonic() - t0)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            lat.extend(local)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((lat, errors[0]))


def load(port, kind, tag, total, procs, conns, rate, max_s):
    out = multiprocessing.Queue()
    per = total // procs
    deadline = time.monotonic() + max_s
    workers = [multiprocessing.Process(target=client, args=(port, kind, tag, i * per, per, conns,
                                                            (rate / procs) if rate else 0, deadline, out))
               for i in range(procs)]
    # The clients sign their bodies before the clock starts; give them a moment.
    t0 = time.monotonic()
    for w in workers:
        w.start()
    lat, errors = [], 0
    for dummy in workers:
        part, err = out.get(timeout=max_s + 60)
        lat.extend(part)
        errors += err
    for w in workers:
        w.join()
    elapsed = time.monotonic() - t0
    return {'events': len(lat), 'errors': errors, 'seconds': round(elapsed, 2),
            'events_per_s': round(len(lat) / elapsed, 1), 'p50_ms': pct(lat, 50), 'p99_ms': pct(lat, 99)}


class Sink(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    count = 0
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers['Content-Length']))
        with Sink.lock:
            Sink.count += 1
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--events', type=int, default=20000)
    ap.add_argument('--rate', type=int, default=2000)
    ap.add_argument('--sync-events', type=int, default=3000)
    ap.add_argument('--max-s', type=int, default=120, help='cap per phase')
    ap.add_argument('--out', default=os.path.join(ROOT, 'bench', 'results.json'))
    args = ap.parse_args()
    if not shutil.which('redis-server'):
        sys.exit('redis-server is missing: scripts/host-packages.sh installs it')

    tmp = tempfile.mkdtemp(prefix='byom-bench-webhooks.')
    rport, hport = free_port(), free_port()
    sink = ThreadingHTTPServer(('127.0.0.1', 0), Sink)
    sink.daemon_threads = True
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    cfg = {'listen_port': hport, 'auth': {'type': 'hmac', 'secret': SECRET},
           'redis': {'port': rport, 'password': REDIS_PW},
           'downstream': {'urls': ['http://127.0.0.1:%d/' % sink.server_address[1]]},
           'sync': {'rules': [{'type': 'assistant-request', 'match': {'call.phoneNumberId': 'pn-bench'},
                               'response': {'assistantId': 'asst-bench'}}]},
           'worker': {'concurrency': 8}, 'log_level': 'WARNING'}
    cfg_path = os.path.join(tmp, 'config.json')
    with open(cfg_path, 'w') as handle:
        json.dump(cfg, handle)
    env = dict(os.environ, PYTHONPATH=PKG)
    procs = []
    try:
        procs.append(subprocess.Popen(['redis-server', '--port', str(rport), '--bind', '127.0.0.1', '--dir', tmp,
                                       '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
                                       '--requirepass', REDIS_PW, '--logfile', os.path.join(tmp, 'redis.log')]))
        procs.append(subprocess.Popen(['/usr/bin/python3', '-m', 'byom_webhooks', '--config', cfg_path, 'serve'], env=env))
        for dummy in range(100):
            try:
                http.client.HTTPConnection('127.0.0.1', hport, timeout=1).request('GET', '/healthz')
                break
            except OSError:
                time.sleep(0.1)
        res = {'machine': {'cpus': os.cpu_count(), 'load_before': open('/proc/loadavg').read().split()[:3]},
               'how': 'receiver (1 process, stdlib ThreadingHTTPServer) + redis-server AOF everysec; '
                      'load from 2 client processes x 8 keep-alive connections on the same 2-core box, loopback'}
        print('async lane, closed loop: %d events ...' % args.events, file=sys.stderr)
        res['async_closed_loop'] = load(hport, 'status-update', 'c', args.events, 2, 8, 0, args.max_s)
        print('async lane, paced at %d/s ...' % args.rate, file=sys.stderr)
        res['async_paced'] = dict(load(hport, 'status-update', 'p', min(args.events, args.rate * 10), 2, 8,
                                       args.rate, args.max_s), offered_per_s=args.rate)
        print('sync lane (assistant-request from a rule) ...', file=sys.stderr)
        res['sync_rule'] = load(hport, 'assistant-request', 's', args.sync_events, 2, 4, 0, args.max_s)
        queued = res['async_closed_loop']['events'] + res['async_paced']['events']
        print('drain: worker delivering %d queued events ...' % queued, file=sys.stderr)
        t0 = time.monotonic()
        procs.append(subprocess.Popen(['/usr/bin/python3', '-m', 'byom_webhooks', '--config', cfg_path, 'worker'], env=env))
        while Sink.count < queued and time.monotonic() - t0 < args.max_s:
            time.sleep(0.2)
        elapsed = time.monotonic() - t0
        res['drain'] = {'delivered': Sink.count, 'queued': queued, 'seconds': round(elapsed, 2),
                        'deliveries_per_s': round(Sink.count / elapsed, 1), 'worker_threads': 8}
        res['measured_at'] = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
    finally:
        for proc in reversed(procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        sink.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    doc = {}
    if os.path.exists(args.out):
        with open(args.out) as handle:
            doc = json.load(handle)
    doc['webhooks'] = res
    with open(args.out, 'w') as handle:
        json.dump(doc, handle, indent=2, sort_keys=True)
        handle.write('\n')
    print(json.dumps(res, indent=2, sort_keys=True))


if __name__ == '__main__':
    main()
