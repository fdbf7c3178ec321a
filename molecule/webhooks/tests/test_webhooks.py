# -*- coding: utf-8 -*-
"""The deployed receiver: a Vapi-signed event through nginx TLS reaches the stand-in downstream."""
import json
import time

SECRET = 'mol-hmac-secret-0123456789'
REDIS_PW = 'mol-redis-password-0123456789'

POSTER = r'''
import hashlib, hmac, json, ssl, sys, time, urllib.request, urllib.error
body = sys.argv[1].encode()
secret = sys.argv[2].encode()
ts = str(int(time.time()))
sig = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
ctx = ssl.create_default_context(cafile="/etc/byom-webhooks/tls/cert.pem")
req = urllib.request.Request("https://127.0.0.1:8443/vapi/webhook", data=body, method="POST",
                             headers={"Content-Type": "application/json", "x-signature": sig, "x-timestamp": ts})
try:
    with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
        print(resp.status, resp.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.code, exc.read().decode())
'''


def post(host, message, secret=SECRET):
    body = json.dumps({'message': message})
    host.run("cat > /tmp/poster.py <<'EOF'\n%s\nEOF" % POSTER)
    out = host.check_output("python3 /tmp/poster.py %s %s", body, secret)
    status, _sp, text = out.partition(' ')
    return int(status), text


def event(n):
    return {'type': 'end-of-call-report', 'endedReason': 'customer-ended-call', 'timestamp': int(time.time() * 1000) + n,
            'call': {'id': 'mol-call-%d' % n, 'phoneNumberId': 'pn-1'}, 'customer': {'number': '+14155550142'},
            'artifact': {'transcript': 'AI: hello'}}


def test_services_run_unprivileged(host):
    for unit in ('redis-server', 'byom-webhooks', 'byom-webhooks-worker', 'nginx'):
        assert host.service(unit).is_running and host.service(unit).is_enabled, unit
    uid = host.check_output('id -u byom-webhooks').strip()
    for unit in ('byom-webhooks', 'byom-webhooks-worker'):
        pid = host.check_output('systemctl show -p MainPID --value %s', unit).strip()
        assert host.check_output('ps -o uid= -p %s', pid).strip() == uid, unit
    for unit in ('byom-webhooks', 'byom-webhooks-worker'):
        props = host.check_output('systemctl show %s -p NoNewPrivileges -p ProtectSystem -p CapabilityBoundingSet -p PrivateTmp', unit)
        assert sorted(props.splitlines()) == ['CapabilityBoundingSet=', 'NoNewPrivileges=yes', 'PrivateTmp=yes', 'ProtectSystem=strict']


def test_config_and_redis_locked_down(host):
    cfg = host.file('/etc/byom-webhooks/config.json')
    assert (cfg.user, cfg.group, cfg.mode) == ('root', 'byom-webhooks', 0o640)
    rconf = host.file('/etc/redis/redis.conf')
    assert (rconf.user, rconf.mode) == ('redis', 0o640)
    assert 'NOAUTH' in host.run('redis-cli ping').stdout + host.run('redis-cli ping').stderr
    assert host.check_output('redis-cli --no-auth-warning -a %s config get appendonly', REDIS_PW).split() == ['appendonly', 'yes']
    bind = host.check_output('redis-cli --no-auth-warning -a %s config get bind', REDIS_PW).split()
    assert bind == ['bind', '127.0.0.1']
    assert host.socket('tcp://127.0.0.1:8091').is_listening
    assert not host.socket('tcp://0.0.0.0:8091').is_listening


def test_signed_event_reaches_the_downstream(host):
    n = int(time.time())
    status, text = post(host, event(n))
    assert status == 200, text
    key = json.loads(text)['idempotencyKey']
    got = []
    for dummy in range(40):
        lines = host.run('cat /var/lib/standin/received.jsonl').stdout.splitlines()
        got = [json.loads(line) for line in lines if json.loads(line)['key'] == key]
        if got:
            break
        time.sleep(0.5)
    assert len(got) == 1, 'delivered once with its Idempotency-Key'
    assert json.loads(got[0]['body'])['message']['call']['id'] == 'mol-call-%d' % n
    assert got[0]['type'] == 'end-of-call-report'


def test_bad_signature_refused_and_counted(host):
    status, _text = post(host, event(1), secret='not-the-secret-0000')
    assert status == 401
    metrics = host.check_output('python3 -c "import urllib.request;print(urllib.request.urlopen(\'http://127.0.0.1:8091/metrics\').read().decode())"')
    assert 'byom_webhooks_signature_failures_total{reason="bad_signature"}' in metrics
    assert 'byom_webhooks_calls_ended_total{ended_reason="customer-ended-call"}' in metrics
    assert 'byom_webhooks_redis_up 1' in metrics


def test_sync_lane_rule(host):
    status, text = post(host, {'type': 'assistant-request', 'call': {'id': 'c', 'phoneNumberId': 'pn-mol'}})
    assert (status, json.loads(text)) == (200, {'assistantId': 'asst-mol'})


def test_metrics_not_exposed_through_tls(host):
    out = host.check_output('python3 -c "import ssl,urllib.request,urllib.error\n'
                            'ctx=ssl.create_default_context(cafile=\'/etc/byom-webhooks/tls/cert.pem\')\n'
                            'try:\n urllib.request.urlopen(\'https://127.0.0.1:8443/metrics\',context=ctx)\n print(200)\n'
                            'except urllib.error.HTTPError as e:\n print(e.code)"')
    assert out.strip() == '404'


def test_logs_hold_no_customer_numbers(host):
    logs = host.run('journalctl -u byom-webhooks -u byom-webhooks-worker --no-pager').stdout
    assert 'delivered' in logs or not logs, 'the worker logs deliveries (when journald runs)'
    assert '4155550142' not in logs and 'hello' not in logs


def test_dlq_cli_and_ufw_rule(host):
    out = host.check_output('byom-webhooks dlq list')
    assert json.loads(out) == []
    assert '8443/tcp' in host.check_output('ufw show added')
