# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The webhook receiver's pure logic: signatures, lanes, keys, backoff, redaction, rules, metrics.

Signature vectors follow Vapi's HMACAuthenticationPlan defaults (openapi.json): sha256, hex,
header x-signature, timestamp in x-timestamp, payload "{timestamp}.{body}".
"""
from __future__ import absolute_import, division, print_function

import base64
import hashlib
import hmac
import json

import pytest

from byom_webhooks import auth, config, core  # roles/webhooks/files (tests/conftest.py)
from byom_webhooks.metrics import Registry

SECRET = 'whsec-unit-0001'
NOW = 1764540000
BODY = b'{"message":{"type":"status-update","status":"ended","call":{"id":"c1"}}}'


def plan(**over):
    cfg = config.validate({'auth': dict({'type': 'hmac', 'secret': SECRET}, **over)})
    return cfg['auth']


def vapi_headers(body=BODY, ts=NOW, secret=SECRET):
    # Computed independently of byom_webhooks.auth.sign, straight from the documented format.
    sig = hmac.new(secret.encode(), ('%s.' % ts).encode() + body, hashlib.sha256).hexdigest()
    return {'x-signature': sig, 'x-timestamp': str(ts)}


def test_hmac_right_signature_returns_replay_token():
    headers = vapi_headers()
    assert auth.verify(plan(), headers, BODY, now=NOW + 10) == headers['x-signature']


@pytest.mark.parametrize('headers,body,now,reason', [
    (vapi_headers(secret='other'), BODY, NOW, 'bad_signature'),
    (vapi_headers(), BODY.replace(b'ended', b'in-progress'), NOW, 'bad_signature'),
    (vapi_headers(), BODY, NOW + 301, 'stale_timestamp'),
    (vapi_headers(), BODY, NOW - 301, 'stale_timestamp'),
    ({'x-timestamp': str(NOW)}, BODY, NOW, 'missing'),
    ({'x-signature': 'ab'}, BODY, NOW, 'missing_timestamp'),
    (dict(vapi_headers(), **{'x-timestamp': 'soon'}), BODY, NOW, 'bad_timestamp'),
    (dict(vapi_headers(), **{'x-timestamp': str(NOW + 1)}), BODY, NOW, 'bad_signature'),
])
def test_hmac_failures(headers, body, now, reason):
    with pytest.raises(auth.AuthFailure) as err:
        auth.verify(plan(), headers, body, now=now)
    assert err.value.reason == reason


def test_hmac_milliseconds_timestamp_and_window():
    ms = NOW * 1000
    headers = vapi_headers(ts=ms)
    assert auth.verify(plan(), headers, BODY, now=NOW + 5)
    with pytest.raises(auth.AuthFailure):
        auth.verify(plan(), headers, BODY, now=NOW + 400)


def test_hmac_base64_prefix_sha512_and_base64_secret():
    raw_key = b'\x00\x01binary-key'
    p = plan(algorithm='sha512', signature_encoding='base64', signature_prefix='sha512=', secret=base64.b64encode(raw_key).decode(),
             secret_is_base64=True)
    digest = hmac.new(raw_key, ('%d.' % NOW).encode() + BODY, hashlib.sha512).digest()
    headers = {'x-signature': 'sha512=' + base64.b64encode(digest).decode(), 'x-timestamp': str(NOW)}
    assert auth.verify(p, headers, BODY, now=NOW)
    headers['x-signature'] = base64.b64encode(digest).decode()
    with pytest.raises(auth.AuthFailure):
        auth.verify(p, headers, BODY, now=NOW)


def test_hmac_custom_headers_and_payload_format():
    p = plan(signature_header='X-Vapi-Signature', timestamp_header='X-Ts', payload_format='{method}:{timestamp}:{body}')
    sig = hmac.new(SECRET.encode(), ('POST:%d:' % NOW).encode() + BODY, hashlib.sha256).hexdigest()
    assert auth.verify(p, {'x-vapi-signature': sig, 'x-ts': str(NOW)}, BODY, method='POST', now=NOW)


def test_bearer_and_legacy_header():
    p = config.validate({'auth': {'type': 'bearer', 'secret': 's3cret'}})['auth']
    assert auth.verify(p, {'authorization': 'Bearer s3cret'}, BODY) is None
    for headers, reason in (({'authorization': 'Bearer s3cret2'}, 'bad_secret'), ({'authorization': 's3cret'}, 'bad_format'),
                            ({}, 'missing')):
        with pytest.raises(auth.AuthFailure) as err:
            auth.verify(p, headers, BODY)
        assert err.value.reason == reason
    legacy = config.validate({'auth': {'type': 'bearer', 'secret': 's3cret', 'header_name': 'X-Vapi-Secret',
                                       'bearer_prefix': False}})['auth']
    assert auth.verify(legacy, {'x-vapi-secret': 's3cret'}, BODY) is None


def test_parse_and_lanes():
    msg = core.parse(b'{"message":{"type":"assistant-request","call":{}}}')
    assert core.lane(msg) == 'sync'
    assert core.lane({'type': 'end-of-call-report'}) == 'async'
    assert core.lane({'type': 'tool-calls', 'toolWithToolCallList': [{'async': True}, {'async': False}]}) == 'sync'
    assert core.lane({'type': 'tool-calls', 'toolWithToolCallList': [{'async': True}]}) == 'async'
    for body, status, reason in ((b'nope', 400, 'malformed_json'), (b'\xff\xfe', 400, 'malformed_json'),
                                 (b'{"message": 3}', 400, 'no_message'), (b'{"message": {}}', 400, 'no_type'),
                                 (b'{"message": {"type": "zap"}}', 422, 'unknown_type')):
        with pytest.raises(core.BadRequest) as err:
            core.parse(body)
        assert (err.value.status, err.value.reason) == (status, reason)
    assert core.parse(b'{"message": {"type": "zap"}}', accept_unknown_types=True)['type'] == 'zap'


def test_event_key_stable_per_body_and_message_id():
    assert core.event_key(BODY) == core.event_key(BODY)
    assert core.event_key(BODY) != core.event_key(BODY + b' ')
    assert core.event_key(BODY, 'msg-1') == core.event_key(b'other', 'msg-1')
    assert core.event_key(BODY, 'msg-1').startswith('m-')


def test_backoff_full_jitter_bounds():
    assert core.backoff_delay(1, 1.0, 300, rng=lambda: 1.0) == 1.0
    assert core.backoff_delay(4, 1.0, 300, rng=lambda: 1.0) == 8.0
    assert core.backoff_delay(20, 1.0, 300, rng=lambda: 1.0) == 300
    assert core.backoff_delay(4, 1.0, 300, rng=lambda: 0.0) == 0.0
    assert core.backoff_delay(1000, 1.0, 300, rng=lambda: 0.5) == 150
    # Real jitter: spread over the whole interval.
    samples = [core.backoff_delay(5, 1.0, 300) for dummy in range(2000)]
    assert min(samples) >= 0 and max(samples) <= 16
    assert min(samples) < 2 and max(samples) > 14


def test_redaction_removes_pii():
    msg = {'type': 'end-of-call-report', 'call': {'id': 'c1', 'customer': {'number': '+14155550100'}},
           'artifact': {'transcript': 'hello'}, 'note': 'call me at +1 (415) 555-0100', 'endedReason': 'customer-ended-call'}
    text = json.dumps(core.redact(msg))
    assert '4155550100' not in text and '555-0100' not in text and 'hello' not in text
    assert 'customer-ended-call' in text and 'c1' in text


def test_rules_and_fallbacks():
    sync = config.validate({'auth': {'type': 'none'}, 'sync': {'rules': [
        {'type': 'assistant-request', 'match': {'call.phoneNumberId': 'pn-1'}, 'response': {'assistantId': 'a1'}},
        {'type': 'tool-calls', 'function': 'hours', 'result': '9-5'}]}})['sync']
    ar = {'type': 'assistant-request', 'call': {'phoneNumberId': 'pn-1'}}
    assert core.answer_from_rules(ar, sync['rules']) == {'assistantId': 'a1'}
    assert core.answer_from_rules(dict(ar, call={'phoneNumberId': 'pn-2'}), sync['rules']) is None
    tc = {'type': 'tool-calls', 'toolCallList': [{'id': 't1', 'function': {'name': 'hours'}}]}
    assert core.answer_from_rules(tc, sync['rules']) == {'results': [{'toolCallId': 't1', 'result': '9-5'}]}
    tc2 = {'type': 'tool-calls', 'toolCallList': [{'id': 't1', 'function': {'name': 'hours'}}, {'id': 't2', 'function': {'name': 'x'}}]}
    assert core.answer_from_rules(tc2, sync['rules']) is None
    fb = core.fallback_answer(tc2, sync)
    assert [r['toolCallId'] for r in fb['results']] == ['t1', 't2']
    assert 'error' in core.fallback_answer(ar, sync)


@pytest.mark.parametrize('raw,field', [
    ({'auth': {'type': 'hmac'}}, 'auth.secret'),
    ({'auth': {'type': 'jwt', 'secret': 'x'}}, 'auth.type'),
    ({'auth': {'type': 'none'}, 'sync': {'deadline_s': 7.5}}, 'sync.deadline_s'),
    ({'auth': {'type': 'none'}, 'downstream': {'urls': ['ftp://x']}}, 'downstream.urls'),
    ({'auth': {'type': 'none'}, 'sync': {'rules': [{'type': 'status-update', 'response': {}}]}}, 'sync.rules[0].type'),
    ({'auth': {'type': 'none'}, 'bogus': 1}, 'bogus'),
    ({'auth': {'type': 'none'}, 'redis': {'prot': 1}}, 'redis.prot'),
])
def test_config_errors_name_the_field(raw, field):
    with pytest.raises(config.ConfigError) as err:
        config.validate(raw)
    assert field in str(err.value)


def test_metrics_text_format():
    reg = Registry()
    reg.counter('m_total', 'help', ('type',))
    reg.histogram('h_seconds', 'help', ('type',))
    reg.inc('m_total', ('a"b',))
    reg.observe('h_seconds', 0.003, ('x',))
    reg.observe('h_seconds', 0.2, ('x',))
    text = reg.render(gauges=[('g', 'help', (), {(): 5})])
    assert 'm_total{type="a\\"b"} 1' in text
    assert 'h_seconds_bucket{type="x",le="0.0025"} 0' in text
    assert 'h_seconds_bucket{type="x",le="0.005"} 1' in text
    assert 'h_seconds_bucket{type="x",le="0.25"} 2' in text
    assert 'h_seconds_bucket{type="x",le="+Inf"} 2' in text
    assert 'h_seconds_count{type="x"} 2' in text
    assert '# TYPE g gauge\ng 5' in text
