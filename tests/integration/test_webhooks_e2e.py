# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The webhook receiver end to end with real parts: Debian's redis-server (AOF on, password),
the receiver and the worker as separate processes under the system python3 with Debian's
python3-redis (exactly what the role installs on the VPS), and a stand-in downstream that
dedupes by Idempotency-Key like a well-behaved consumer. Everything on 127.0.0.1.

Packages: scripts/host-packages.sh installs redis-server and python3-redis (CI: make test).
"""
from __future__ import absolute_import, division, print_function

import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
PKG_DIR = os.path.join(ROOT, 'roles', 'webhooks', 'files')
SYSTEM_PY = '/usr/bin/python3'
SECRET = 'it-hmac-secret-0123456789'
REDIS_PW = 'it-redis-password-42'

pytestmark = pytest.mark.skipif(
    not shutil.which('redis-server') or subprocess.call([SYSTEM_PY, '-c', 'import redis'], stderr=subprocess.DEVNULL) != 0,
    reason='needs redis-server and python3-redis: run scripts/host-packages.sh (make test does)')


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError('timed out after %ss waiting for %s' % (timeout, what))


# ---------------------------------------------------------------------- parts
class Redis(object):
    def __init__(self, tmp):
        self.dir = str(tmp)
        self.port = free_port()
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1', '--dir', self.dir,
             '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--requirepass', REDIS_PW,
             '--daemonize', 'no', '--logfile', os.path.join(self.dir, 'redis.log')])
        wait_for(self.answers, 10, 'redis-server')

    def answers(self):
        try:
            with socket.create_connection(('127.0.0.1', self.port), 0.5) as sock:
                sock.sendall(('AUTH %s\r\nPING\r\n' % REDIS_PW).encode())
                time.sleep(0.05)
                return b'PONG' in sock.recv(100)
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis flushes the AOF and exits
            self.proc.wait(10)


class Downstream(object):
    """A consumer: records every request; applies each Idempotency-Key once; scripted failures."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []        # (key, attempt header, status answered)
        self.applied = {}         # key -> body (first successful delivery)
        self.fail_first = 0       # per key: answer 500 to the first N attempts
        self.always_fail = set()  # keys answered 500 until removed
        self.hold = {}            # key -> threading.Event: hold the request until set
        self.holding = threading.Event()
        self.attempts = {}
        parent = self

        class H(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                key = self.headers.get('Idempotency-Key')
                # Held from the second attempt on: the first one fails (fail_first) first.
                gate = parent.hold.get(key) if self.headers.get('X-Byom-Attempt') != '1' else None
                if gate is not None and not gate.is_set():
                    parent.holding.set()
                    gate.wait(30)
                with parent.lock:
                    n = parent.attempts[key] = parent.attempts.get(key, 0) + 1
                    status = 500 if (key in parent.always_fail or n <= parent.fail_first) else 200
                    if status == 200 and key not in parent.applied:
                        parent.applied[key] = body
                    parent.requests.append((key, self.headers.get('X-Byom-Attempt'), status))
                data = b'{}'
                self.send_response(status)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = ThreadingHTTPServer(('127.0.0.1', 0), H)
        self.srv.daemon_threads = True
        # Answering a worker the test killed raises BrokenPipe: expected, not worth a traceback.
        self.srv.handle_error = lambda *a: None
        self.url = 'http://127.0.0.1:%d/events' % self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def ok_count(self, key):
        with self.lock:
            return sum(1 for k, _a, s in self.requests if k == key and s == 200)


class Service(object):
    """The receiver or the worker, as the systemd unit runs it."""

    def __init__(self, tmp, name, cfg):
        self.cfg_path = os.path.join(str(tmp), name + '.json')
        with open(self.cfg_path, 'w') as handle:
            json.dump(cfg, handle)
        self.cfg = cfg
        self.log = open(os.path.join(str(tmp), name + '.log'), 'a')
        self.proc = None

    def cli(self, *args, **kw):
        env = dict(os.environ, PYTHONPATH=PKG_DIR)
        return subprocess.run(check=False, args=[SYSTEM_PY, '-m', 'byom_webhooks', '--config', self.cfg_path] + list(args),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=30, **kw)

    def start(self, command):
        env = dict(os.environ, PYTHONPATH=PKG_DIR)
        self.proc = subprocess.Popen([SYSTEM_PY, '-m', 'byom_webhooks', '--config', self.cfg_path, command],
                                     env=env, stdout=self.log, stderr=self.log)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(10)


def base_config(redis_port, downstream_url, **over):
    cfg = {
        'listen_port': free_port(),
        'auth': {'type': 'hmac', 'secret': SECRET, 'timestamp_tolerance_s': 300},
        'redis': {'port': redis_port, 'password': REDIS_PW, 'prefix': 'it:%d:' % free_port()},
        'downstream': {'urls': [downstream_url], 'max_attempts': 4, 'base_delay_s': 0.05, 'max_delay_s': 0.4,
                       'timeout_s': 10},
        'worker': {'concurrency': 2},
        'sync': {'deadline_s': 0.5, 'rules': [
            {'type': 'assistant-request', 'match': {'call.phoneNumberId': 'pn-rule'},
             'response': {'assistantId': 'asst-from-rule'}},
            {'type': 'tool-calls', 'function': 'opening_hours', 'result': 'Open 9 to 5.'}]},
        'log_level': 'DEBUG',
    }
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


@pytest.fixture
def stack(tmp_path):
    redis = Redis(tmp_path)
    redis.start()
    down = Downstream()
    made = []

    def make(name='svc', start=('serve', 'worker'), **over):
        cfg = base_config(redis.port, down.url, **over)
        rx = Service(tmp_path, name, cfg)
        wk = Service(tmp_path, name + '-worker', cfg)
        made.extend([rx, wk])
        if 'serve' in start:
            rx.start('serve')
            wait_for(lambda: http('GET', rx, '/healthz')[0] == 200, 15, 'the receiver')
        if 'worker' in start:
            wk.start('worker')
        return rx, wk

    yield redis, down, make
    for svc in made:
        svc.stop(signal.SIGKILL)
        svc.log.close()
    redis.stop()
    down.srv.shutdown()


def http(method, svc, path, body=None, headers=None):
    url = 'http://127.0.0.1:%d%s' % (svc.cfg['listen_port'], path)
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError):
        return None, b''


def signed(body, secret=SECRET, ts=None):
    ts = str(int(time.time())) if ts is None else str(ts)
    sig = hmac.new(secret.encode(), ('%s.' % ts).encode() + body, hashlib.sha256).hexdigest()
    return {'x-signature': sig, 'x-timestamp': ts, 'Content-Type': 'application/json'}


def post(svc, body, headers=None):
    return http('POST', svc, '/vapi/webhook', body, headers if headers is not None else signed(body))


def metric(svc, name, **labels):
    """One sample of /metrics, labels compared as a set (their order is the exporter's)."""
    _s, text = http('GET', svc, '/metrics')
    want = dict((k, str(v)) for k, v in labels.items())
    for line in text.decode().splitlines():
        if line.startswith('#'):
            continue
        series, _sp, value = line.rpartition(' ')
        sname, _b, rest = series.partition('{')
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
        if sname == name and got == want:
            return float(value)
    return 0.0


def stats(svc):
    res = svc.cli('stats')
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


# Payloads shaped like Vapi's ServerMessage* schemas (openapi.json): envelope {"message": {...}}.
def vapi_message(kind, n, **extra):
    msg = {'type': kind, 'timestamp': 1764540000000 + n,
           'call': {'id': 'call-%04d' % n, 'orgId': 'org-1', 'type': 'inboundPhoneCall', 'phoneNumberId': 'pn-1'},
           'customer': {'number': '+14155550%03d' % (n % 1000)},
           'phoneNumber': {'id': 'pn-1', 'provider': 'byo-phone-number', 'number': '+14155559999'}}
    if kind == 'status-update':
        msg.update(status='in-progress')
    elif kind == 'end-of-call-report':
        msg.update(endedReason='customer-ended-call', startedAt='2026-11-30T20:00:00Z', endedAt='2026-11-30T20:01:00Z',
                   artifact={'transcript': 'AI: Hello +14155550123', 'messages': []},
                   analysis={'summary': 'caller asked about hours'})
    elif kind == 'transcript':
        msg.update(role='user', transcriptType='final', transcript='my number is +1 415 555 0100')
    elif kind == 'conversation-update':
        msg.update(messages=[], messagesOpenAIFormatted=[])
    elif kind == 'speech-update':
        msg.update(status='started', role='assistant')
    msg.update(extra)
    return json.dumps({'message': msg}).encode()


# ---------------------------------------------------------------------- tests
def test_signature_vectors_reject_and_count(stack):
    _redis, _down, make = stack
    rx, _wk = make(start=('serve',))
    body = vapi_message('status-update', 1)
    now = int(time.time())

    good = signed(body, ts=now)
    assert post(rx, body, good)[0] == 200
    # The same signed request again inside the window: a replay.
    assert post(rx, body, good)[0] == 401
    assert post(rx, body, signed(body, secret='wrong-key', ts=now))[0] == 401
    assert post(rx, body, signed(body, ts=now - 3600))[0] == 401
    assert post(rx, body.replace(b'in-progress', b'ended'), signed(body, ts=now + 1))[0] == 401
    assert post(rx, body, {'Content-Type': 'application/json'})[0] == 401
    assert post(rx, body, dict(signed(body, ts=now), **{'x-timestamp': 'yesterday'}))[0] == 401
    # Milliseconds timestamps (Vapi does not document the unit) within the window are accepted.
    body2 = vapi_message('status-update', 2)
    assert post(rx, body2, signed(body2, ts=int(time.time() * 1000)))[0] == 200

    for reason, n in (('replay', 1), ('bad_signature', 2), ('stale_timestamp', 1), ('missing', 1), ('bad_timestamp', 1)):
        assert metric(rx, 'byom_webhooks_signature_failures_total', reason=reason) == n, reason
    assert stats(rx)['queues']['ready'] == 2


def test_bearer_and_legacy_secret(stack):
    _redis, _down, make = stack
    rx, _wk = make('bearer', start=('serve',), auth={'type': 'bearer', 'secret': 'bearer-secret-1'})
    body = vapi_message('hang', 3)
    assert post(rx, body, {'Authorization': 'Bearer bearer-secret-1'})[0] == 200
    assert post(rx, body, {'Authorization': 'Bearer bearer-secret-2'})[0] == 401
    assert post(rx, body, {'Authorization': 'bearer-secret-1'})[0] == 401
    assert metric(rx, 'byom_webhooks_signature_failures_total', reason='bad_secret') == 1
    assert metric(rx, 'byom_webhooks_signature_failures_total', reason='bad_format') == 1
    legacy, dummy = make('legacy', start=('serve',),
                         auth={'type': 'bearer', 'secret': 'legacy-1', 'header_name': 'X-Vapi-Secret', 'bearer_prefix': False})
    assert post(legacy, body, {'X-Vapi-Secret': 'legacy-1'})[0] == 200
    assert post(legacy, body, {'X-Vapi-Secret': 'legacy-2'})[0] == 401


def test_bad_input_clear_status_nothing_queued(stack):
    _redis, _down, make = stack
    rx, _wk = make(start=('serve',), max_body_bytes=4096)
    big = json.dumps({'message': {'type': 'status-update', 'pad': 'x' * 5000}}).encode()
    cases = [(big, 413, 'too_large'), (b'{"message": {"type": ', 400, 'malformed_json'),
             (b'[1, 2]', 400, 'no_message'), (b'{"message": {"status": "x"}}', 400, 'no_type'),
             (json.dumps({'message': {'type': 'telepathy-update'}}).encode(), 422, 'unknown_type')]
    for body, status, reason in cases:
        got, text = post(rx, body)
        assert got == status, (reason, got, text)
        assert b'error' in text
        assert metric(rx, 'byom_webhooks_rejected_total', reason=reason) == 1, reason
    assert http('GET', rx, '/nope')[0] == 404
    assert stats(rx)['queues'] == {'ready': 0, 'delayed': 0, 'processing': 0, 'dead': 0}


def test_vapi_events_delivered_once_with_idempotency_key(stack):
    _redis, down, make = stack
    rx, _wk = make()
    kinds = ['status-update', 'end-of-call-report', 'transcript', 'conversation-update', 'speech-update', 'hang',
             'user-interrupted', 'transfer-update']
    keys = {}
    for n, kind in enumerate(kinds * 3):
        body = vapi_message(kind, n)
        status, text = post(rx, body)
        assert status == 200, text
        doc = json.loads(text)
        assert doc['status'] == 'queued'
        keys[doc['idempotencyKey']] = body
    # A duplicate (Vapi's backoffPlan resends the same body, freshly signed) is not queued again.
    status, text = post(rx, body, signed(body, ts=int(time.time()) + 2))
    assert status == 200 and json.loads(text)['status'] == 'duplicate'
    wait_for(lambda: len(down.applied) == len(keys), 30, 'every event downstream')
    time.sleep(0.5)
    assert set(down.applied) == set(keys)
    assert all(down.applied[k] == keys[k] for k in keys), 'the downstream gets Vapi\'s body unchanged'
    assert all(down.ok_count(k) == 1 for k in keys)
    assert metric(rx, 'byom_webhooks_duplicates_total') == 1
    assert metric(rx, 'byom_webhooks_messages_total', lane='async', type='end-of-call-report') == 3
    assert metric(rx, 'byom_webhooks_calls_ended_total', ended_reason='customer-ended-call') == 3
    assert metric(rx, 'byom_webhooks_deliveries_total') == len(keys)
    assert metric(rx, 'byom_webhooks_queue_depth', queue='ready') == 0


def test_sync_lane_rules_backend_fallback(stack):
    _redis, _down, make = stack
    answers = {'delay': 0.0}

    class Backend(BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *a):
            pass

        def do_POST(self):
            msg = json.loads(self.rfile.read(int(self.headers['Content-Length'])))['message']
            time.sleep(answers['delay'])
            data = json.dumps({'assistantId': 'asst-from-backend-' + msg['call']['phoneNumberId']}).encode()
            self.send_response(200)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    backend = ThreadingHTTPServer(('127.0.0.1', 0), Backend)
    backend.daemon_threads = True
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    try:
        rx, _wk = make(start=('serve',), sync={
            'deadline_s': 0.5, 'backend_url': 'http://127.0.0.1:%d/' % backend.server_address[1],
            'rules': base_config(0, '')['sync']['rules'],
            'fallbacks': {'assistant-request': {'assistantId': 'asst-fallback'}}})

        def ask(body):
            status, text = post(rx, body)
            assert status == 200
            return json.loads(text)

        assert ask(vapi_message('assistant-request', 10, call={'id': 'c', 'phoneNumberId': 'pn-rule'})) == \
            {'assistantId': 'asst-from-rule'}
        assert ask(vapi_message('assistant-request', 11, call={'id': 'c', 'phoneNumberId': 'pn-7'})) == \
            {'assistantId': 'asst-from-backend-pn-7'}
        answers['delay'] = 3.0
        t0 = time.monotonic()
        assert ask(vapi_message('assistant-request', 12, call={'id': 'c', 'phoneNumberId': 'pn-8'})) == \
            {'assistantId': 'asst-fallback'}
        # The answer came at the deadline, not when the slow backend finished (3 s).
        assert time.monotonic() - t0 < 2.5
        call = {'id': 'tc-1', 'type': 'function', 'function': {'name': 'opening_hours', 'arguments': '{}'}}
        tool = vapi_message('tool-calls', 13, toolCallList=[call])
        assert ask(tool) == {'results': [{'toolCallId': 'tc-1', 'result': 'Open 9 to 5.'}]}
        # Async tools go to the queue, not the sync lane.
        atool = vapi_message('tool-calls', 14, toolWithToolCallList=[
            {'type': 'function', 'async': True, 'toolCall': {'id': 'tc-2', 'function': {'name': 'log_it'}}}])
        assert ask(atool)['status'] == 'queued'
        for source, n in (('rule', 2), ('backend', 1), ('fallback_timeout', 1)):
            got = sum(metric(rx, 'byom_webhooks_sync_answers_total', source=source, type=t)
                      for t in ('assistant-request', 'tool-calls'))
            assert got == n, source
        assert metric(rx, 'byom_webhooks_sync_latency_seconds_count', type='assistant-request') == 3
        assert stats(rx)['queues']['ready'] == 1
    finally:
        backend.shutdown()


def test_chaos_worker_killed_redis_restarted_downstream_500(stack):
    redis, down, make = stack
    rx, wk = make(worker={'concurrency': 1})
    down.fail_first = 1          # every key: 500 on the first attempt, then 200
    held = vapi_message('end-of-call-report', 100)
    held_key = 'b-' + hashlib.sha256(held).hexdigest()[:40]
    gate = down.hold[held_key] = threading.Event()

    sent = {}
    status, text = post(rx, held)
    assert status == 200
    sent[json.loads(text)['idempotencyKey']] = held
    # The first attempt of the held key fails (fail_first), its retry is held in flight.
    wait_for(down.holding.is_set, 30, 'the held delivery in flight')
    wk.stop(signal.SIGKILL)      # the worker dies mid-delivery
    gate.set()                   # the downstream answers to a dead worker
    assert stats(rx)['queues']['processing'] == 1

    for n in range(101, 121):
        body = vapi_message('status-update', n)
        status, text = post(rx, body)
        assert status == 200
        sent[json.loads(text)['idempotencyKey']] = body
    redis.stop()                 # Redis restarts with 21 events in its AOF
    assert post(rx, vapi_message('status-update', 999))[0] == 503, 'no queue: Vapi is told to retry'
    redis.start()
    wk.start('worker')           # recovers the in-flight item, delivers the rest
    wait_for(lambda: set(down.applied) == set(sent), 60, 'every event downstream after the chaos')
    wait_for(lambda: stats(rx)['queues']['processing'] == 0 and stats(rx)['queues']['delayed'] == 0, 20, 'queues empty')
    assert set(down.applied) == set(sent), 'nothing lost'
    assert all(down.applied[k] == sent[k] for k in sent)
    # At least once on the wire, exactly once by key at the consumer: only the in-flight item
    # may have been answered 200 twice (to the dead worker, then on redelivery).
    assert [k for k in sent if down.ok_count(k) > 1] in ([], [held_key])
    assert stats(rx)['counters']['retries'] >= len(sent)
    assert [a for k, a, _s in down.requests if k == held_key][:2] == ['1', '2']


def test_dead_letter_then_replay(stack):
    _redis, down, make = stack
    rx, _wk = make(downstream={'max_attempts': 3})
    body = vapi_message('end-of-call-report', 200)
    key = json.loads(post(rx, body)[1])['idempotencyKey']
    down.always_fail.add(key)
    wait_for(lambda: stats(rx)['queues']['dead'] == 1, 30, 'the event in the dead-letter queue')
    assert down.attempts[key] == 3
    assert [a for k, a, _s in down.requests if k == key] == ['1', '2', '3']
    listing = rx.cli('dlq', 'list')
    assert listing.returncode == 0
    rows = json.loads(listing.stdout)
    assert [(r['key'], r['attempts'], r['last_error']) for r in rows] == [(key, 3, 'HTTP 500')]
    assert '+1415' not in listing.stdout and 'Hello' not in listing.stdout, 'the listing is redacted'
    assert metric(rx, 'byom_webhooks_dead_letters_total') == 1
    down.always_fail.discard(key)
    assert rx.cli('dlq', 'replay', 'b-unknown').returncode == 1
    res = rx.cli('dlq', 'replay', key)
    assert res.returncode == 0 and json.loads(res.stdout) == {'replayed': 1}
    wait_for(lambda: key in down.applied, 30, 'the replayed event downstream')
    assert down.applied[key] == body
    assert stats(rx)['queues']['dead'] == 0


def test_bad_config_named_field(tmp_path):
    svc = Service(tmp_path, 'bad', {'auth': {'type': 'hmac', 'secret': ''}})
    res = svc.cli('check-config')
    assert res.returncode == 2 and 'auth.secret' in res.stderr
    svc = Service(tmp_path, 'bad2', {'auth': {'type': 'none'}, 'sync': {'deadline_s': 9}})
    res = svc.cli('check-config')
    assert res.returncode == 2 and 'sync.deadline_s' in res.stderr
