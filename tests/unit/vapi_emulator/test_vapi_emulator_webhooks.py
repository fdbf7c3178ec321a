# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The emulator's webhook side: webhook credentials like Vapi's /credential, the modules
converging against it, and /_emulator/webhook posting a ServerMessage signed the way Vapi signs
it, checked by the receiver's own verification code (roles/webhooks/files/byom_webhooks)."""
from __future__ import absolute_import, division, print_function

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ansible_collections.byom.telephony.plugins.modules import vapi_assistant, vapi_webhook_credential

from byom_webhooks import auth, config  # roles/webhooks/files (tests/conftest.py)

SECRET = 'emu-hmac-secret-0123456789'
BACKOFF = {'type': 'exponential', 'maxRetries': 2, 'baseDelaySeconds': 0}


class Receiver(object):
    """A stand-in for the webhook receiver: verifies like byom-webhooks, answers from a script."""

    def __init__(self, secret, answers=()):
        self.plan = config.validate({'auth': {'type': 'hmac', 'secret': secret}})['auth']
        self.answers = list(answers)
        self.seen = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers['Content-Length']))
                headers = dict((k.lower(), v) for k, v in self.headers.items())
                try:
                    auth.verify(outer.plan, headers, body)
                    status = outer.answers.pop(0) if outer.answers else 200
                except auth.AuthFailure as err:
                    status = 401
                    headers['reason'] = err.reason
                outer.seen.append((status, headers, json.loads(body)))
                data = json.dumps({'status': 'queued' if status == 200 else 'refused'}).encode()
                self.send_response(status)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True).start()
        self.url = 'http://127.0.0.1:%d/vapi/webhook' % self.httpd.server_address[1]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def receiver():
    made = []

    def start(secret=SECRET, answers=()):
        made.append(Receiver(secret, answers))
        return made[-1]
    yield start
    for item in made:
        item.close()


def wired(run_module, emu, url, backoff=None):
    """The playbook's wiring, with the modules: credential, then an assistant whose server uses it."""
    cred = run_module(vapi_webhook_credential.main, {'api_url': emu.url, 'name': 'byom-webhooks', 'secret': SECRET})
    server = {'url': url, 'credential_id': cred['id'], 'timeout_seconds': 5}
    if backoff:
        server['backoff_plan'] = backoff
    assistant = run_module(vapi_assistant.main, {'api_url': emu.url, 'name': 'front-desk', 'server': server})
    return cred, assistant


def test_webhook_credential_and_server_converge_against_the_emulator(run_module, http_emulator):
    emu = http_emulator()
    cred, assistant = wired(run_module, emu, 'https://hooks.example.com/vapi/webhook', BACKOFF)
    assert cred['changed'] and assistant['changed']
    assert SECRET not in json.dumps(cred)
    # The secret is write-only: never returned, but stored (what Vapi signs with).
    got = requests.get(emu.url + '/credential/' + cred['id'], headers={'Authorization': 'Bearer ' + emu.api_key}, timeout=5).json()
    assert got['provider'] == 'webhook' and 'secretKey' not in got['authenticationPlan']
    assert emu.state()['credential'][cred['id']]['authenticationPlan']['secretKey'] == SECRET
    server = emu.state()['assistant'][assistant['id']]['server']
    assert server == {'url': 'https://hooks.example.com/vapi/webhook', 'credentialId': cred['id'],
                      'timeoutSeconds': 5, 'backoffPlan': BACKOFF}
    again_cred, again_assistant = wired(run_module, emu, 'https://hooks.example.com/vapi/webhook', BACKOFF)
    assert again_cred['changed'] is False and again_assistant['changed'] is False
    assert again_cred['id'] == cred['id']


def test_webhook_credential_bad_bodies_are_refused_like_vapi(http_emulator):
    emu = http_emulator()
    with pytest.raises(Exception) as err:
        emu.handle('POST', '/credential', {}, {'provider': 'webhook', 'authenticationPlan': {'type': 'hmac', 'secretKey': 'x'}})
    assert 'algorithm should not be null or undefined' in str(err.value.body)
    _status, made = emu.handle('POST', '/credential', {}, {
        'provider': 'webhook', 'name': 'w', 'authenticationPlan': {'type': 'hmac', 'secretKey': SECRET, 'algorithm': 'sha256'}})
    with pytest.raises(Exception) as err:
        emu.handle('PATCH', '/credential/' + made['id'], {},
                   {'authenticationPlan': {'type': 'hmac', 'algorithm': 'sha256', 'secretKey': 'x', 'signatureHeader': 5}})
    assert 'authenticationPlan.signatureHeader must be a string' in str(err.value.body)
    _status, patched = emu.handle('PATCH', '/credential/' + made['id'], {}, {'name': 'renamed'})
    assert patched['name'] == 'renamed' and patched['authenticationPlan'] == {'type': 'hmac', 'algorithm': 'sha256'}


def test_emulator_posts_a_vapi_signed_end_of_call_report(run_module, http_emulator, receiver):
    emu = http_emulator()
    rx = receiver()
    _cred, assistant = wired(run_module, emu, rx.url)
    resp = requests.post(emu.url + '/_emulator/webhook', json={'assistantId': assistant['id']}, timeout=10)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out['status'] == 200 and len(out['attempts']) == 1 and out['body'] == {'status': 'queued'}
    status, headers, body = rx.seen[0]
    assert status == 200
    message = body['message']
    assert message['type'] == 'end-of-call-report' and message['endedReason'] == 'customer-ended-call'
    assert message['call']['assistantId'] == assistant['id'] and message['artifact']['transcript']
    assert {'x-signature', 'x-timestamp'} <= set(headers)
    assert [e['method'] for e in emu.log].count('WEBHOOK') == 1


def test_a_receiver_with_another_secret_refuses_the_signature(run_module, http_emulator, receiver):
    emu = http_emulator()
    rx = receiver(secret='not-the-credential-secret-0')
    _cred, assistant = wired(run_module, emu, rx.url)
    out = emu.send_server_message({'assistantId': assistant['id'], 'type': 'status-update'})
    assert out['status'] == 401 and rx.seen[0][1]['reason'] == 'bad_signature'
    assert len(out['attempts']) == 1, 'no backoffPlan: Vapi does not retry'


def test_backoff_plan_retries_until_2xx(run_module, http_emulator, receiver):
    emu = http_emulator()
    rx = receiver(answers=[503, 500])
    _cred, assistant = wired(run_module, emu, rx.url, BACKOFF)
    out = emu.send_server_message({'assistantId': assistant['id'], 'type': 'status-update',
                                   'message': {'status': 'in-progress'}})
    assert [a['status'] for a in out['attempts']] == [503, 500, 200]
    assert [seen[2]['message']['status'] for seen in rx.seen] == ['in-progress'] * 3


@pytest.mark.parametrize('spec, needle', [
    ({'type': 'nonsense'}, 'type must be one of'),
    ({'assistantId': '6f0c2b8e-1111-4222-8333-444455556666'}, 'not found'),
    ({'colour': 'blue'}, 'property colour should not exist'),
    ({'org': 3}, 'org must be an organisation index'),
])
def test_bad_webhook_requests(http_emulator, spec, needle):
    emu = http_emulator()
    resp = requests.post(emu.url + '/_emulator/webhook', json=spec, timeout=5)
    assert resp.status_code in (400, 404) and needle in resp.text


def test_no_server_url_is_a_clear_error(http_emulator):
    emu = http_emulator()
    _status, made = emu.handle('POST', '/assistant', {}, {'name': 'no-server'})
    resp = requests.post(emu.url + '/_emulator/webhook', json={'assistantId': made['id']}, timeout=5)
    assert resp.status_code == 400 and 'server.url' in resp.text
