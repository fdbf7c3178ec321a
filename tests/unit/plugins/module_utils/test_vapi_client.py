# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The shared client: URLs, auth, retries, POST recovery, error messages."""
from __future__ import absolute_import, division, print_function

import pytest
import requests
import responses
from responses import matchers

from ansible_collections.byom.telephony.plugins.module_utils import vapi as vapi_utils
from ansible_collections.byom.telephony.plugins.module_utils.vapi import VapiClient, VapiError

API = 'https://api.vapi.ai'
KEY = 'client-test-key-abc'


class FakeModule(object):
    def __init__(self, **params):
        self.params = dict(api_key=KEY, region='us', api_url=None, timeout=30, retries=3, validate_certs=True)
        self.params.update(params)
        self.no_log_values = set([KEY])
        self.warnings = []

    def fail_json(self, **kwargs):
        raise AssertionError('fail_json: %s' % kwargs.get('msg'))

    def warn(self, text):
        self.warnings.append(text)


def client(**params):
    return VapiClient(FakeModule(**params))


def test_region_picks_the_base_url():
    assert client().base_url == 'https://api.vapi.ai'
    assert client(region='eu').base_url == 'https://api.eu.vapi.ai'
    assert client(region='eu', api_url='http://127.0.0.1:8089/').base_url == 'http://127.0.0.1:8089'


def test_empty_api_key_fails_before_any_call():
    with pytest.raises(AssertionError, match='api_key is empty'):
        client(api_key='  ')


def test_bad_api_url_fails_before_any_call():
    with pytest.raises(AssertionError, match='api_url must be an http'):
        client(api_url='ftp://example')


def test_bearer_key_and_list_limit(api):
    api.add(responses.GET, API + '/credential', json=[],
            match=[matchers.header_matcher({'Authorization': 'Bearer ' + KEY}),
                   matchers.query_param_matcher({'limit': '1000'})])
    assert client().list('/credential') == []


def test_list_must_be_a_list(api):
    api.add(responses.GET, API + '/assistant', json={'results': []})
    with pytest.raises(VapiError, match='expected a JSON list'):
        client().list('/assistant')


def test_429_then_success_is_retried_honouring_retry_after(api):
    api.add(responses.GET, API + '/assistant', status=429, headers={'Retry-After': '0'},
            json={'message': 'Too Many Requests', 'statusCode': 429})
    api.add(responses.GET, API + '/assistant', json=[{'id': 'a'}])
    assert client().list('/assistant') == [{'id': 'a'}]
    assert len(api.calls) == 2


def test_5xx_exhausted_reports_status_and_message(api):
    for _attempt in range(4):  # 1 try + retries=3
        api.add(responses.GET, API + '/assistant', status=503, json={'message': 'upstream down', 'error': 'Service Unavailable'})
    with pytest.raises(VapiError) as err:
        client(retries=3).list('/assistant')
    assert err.value.status == 503
    assert 'HTTP 503' in err.value.message and 'upstream down' in err.value.message
    assert 'gave up after 3 retries' in err.value.message
    assert len(api.calls) == 4


def test_retries_zero_means_one_attempt(api):
    api.add(responses.GET, API + '/assistant', status=500, json={'message': 'boom'})
    with pytest.raises(VapiError):
        client(retries=0).list('/assistant')
    assert len(api.calls) == 1


def test_401_says_the_key_is_wrong_for_the_region(api):
    api.add(responses.GET, 'https://api.eu.vapi.ai/credential', status=401,
            json={'message': 'Invalid Key.', 'error': 'Unauthorized', 'statusCode': 401})
    with pytest.raises(VapiError) as err:
        client(region='eu').list('/credential')
    assert err.value.status == 401
    assert "region 'eu'" in err.value.message and 'api.eu.vapi.ai' in err.value.message
    assert len(api.calls) == 1, '401 is not retried'


def test_message_list_is_joined(api):
    api.add(responses.POST, API + '/assistant', status=400,
            json={'message': ['property tools should not exist', 'name must be shorter than or equal to 40 characters'],
                  'error': 'Bad Request', 'statusCode': 400})
    with pytest.raises(VapiError) as err:
        client().create('/assistant', {'name': 'x'}, lambda: None)
    assert 'property tools should not exist; name must be shorter' in err.value.message
    assert not err.value.ambiguous


def test_secrets_are_scrubbed_from_errors(api):
    api.add(responses.GET, API + '/credential', status=400, json={'message': 'bad key ' + KEY})
    with pytest.raises(VapiError) as err:
        client().list('/credential')
    assert KEY not in err.value.message
    assert '********' in err.value.message


def test_malformed_json(api):
    api.add(responses.GET, API + '/assistant', body='<html>gateway</html>', status=200)
    with pytest.raises(VapiError, match='not JSON'):
        client().list('/assistant')


def test_timeout_is_an_error_with_the_timeout(api):
    api.add(responses.GET, API + '/assistant', body=requests.exceptions.ReadTimeout('read timed out'))
    with pytest.raises(VapiError) as err:
        client(timeout=7).list('/assistant')
    assert 'no answer within 7s' in err.value.message
    assert err.value.ambiguous


def test_get_404_is_none(api):
    api.add(responses.GET, API + '/assistant/3fa85f64-5717-4562-b3fc-2c963f66afa6', status=404, json={'message': 'Not Found'})
    assert client().get('/assistant', '3fa85f64-5717-4562-b3fc-2c963f66afa6') is None


def test_delete_404_means_already_gone(api):
    api.add(responses.DELETE, API + '/assistant/x', status=404, json={'message': 'Not Found'})
    assert client().delete('/assistant', 'x') is None


def test_post_is_retried_on_429(api):
    api.add(responses.POST, API + '/assistant', status=429, headers={'Retry-After': '0'}, json={'message': 'slow down'})
    api.add(responses.POST, API + '/assistant', status=201, json={'id': 'new'})
    assert client().create('/assistant', {'name': 'a'}, lambda: pytest.fail('no listing after a 429'))['id'] == 'new'


def test_post_5xx_is_not_retried_blindly_but_adopts_a_create_that_succeeded(api):
    api.add(responses.POST, API + '/assistant', status=502, json={'message': 'bad gateway'})
    module = FakeModule()
    found = {'id': 'created-anyway', 'name': 'a'}
    result = VapiClient(module).create('/assistant', {'name': 'a'}, lambda: found)
    assert result == found
    assert [c.request.method for c in api.calls] == ['POST'], 'POST sent once'
    assert module.warnings and 'adopted id created-anyway' in module.warnings[0]


def test_post_timeout_is_never_sent_again(api):
    api.add(responses.POST, API + '/assistant', body=requests.exceptions.ReadTimeout('read timed out'))
    lookups = []
    with pytest.raises(VapiError) as err:
        client().create('/assistant', {'name': 'a'}, lambda: lookups.append(1))
    assert [c.request.method for c in api.calls] == ['POST']
    assert len(lookups) == vapi_utils.ADOPT_POLLS, 'listed again before giving up'
    assert 'not sent again' in err.value.message and 'run again to adopt it' in err.value.message


def test_post_timeout_adopts_a_create_that_lands_late(api):
    api.add(responses.POST, API + '/assistant', body=requests.exceptions.ConnectionError('Connection reset by peer'))
    answers = [None, {'id': 'late', 'name': 'a'}]
    result = client().create('/assistant', {'name': 'a'}, lambda: answers.pop(0))
    assert result['id'] == 'late' and answers == []


def test_post_not_connected_is_not_ambiguous(api):
    import urllib3
    refused = urllib3.exceptions.MaxRetryError(None, '/assistant', urllib3.exceptions.NewConnectionError(None, 'refused'))
    api.add(responses.POST, API + '/assistant', body=requests.exceptions.ConnectionError(refused))
    with pytest.raises(VapiError) as err:
        client().create('/assistant', {'name': 'a'}, lambda: pytest.fail('nothing to look for: never sent'))
    assert not err.value.ambiguous


def test_post_502_waits_and_lists_with_backoff_before_a_second_post(api, monkeypatch):
    slept = []
    monkeypatch.setattr(vapi_utils, 'BACKOFF_FACTOR', 1.0)
    monkeypatch.setattr(vapi_utils.time, 'sleep', slept.append)
    api.add(responses.POST, API + '/assistant', status=502, json={'message': 'bad gateway'})
    answers = [None, None, {'id': 'landed-late', 'name': 'a'}]
    result = client().create('/assistant', {'name': 'a'}, lambda: answers.pop(0))
    assert result['id'] == 'landed-late'
    assert [c.request.method for c in api.calls] == ['POST'], 'no second POST while the first may still land'
    assert slept == [1.0, 2.0, 4.0], 'exponential backoff between the lists'


def test_post_504_posts_again_only_after_every_waited_list(api, monkeypatch):
    monkeypatch.setattr(vapi_utils.time, 'sleep', lambda s: None)
    api.add(responses.POST, API + '/assistant', status=504, json={'message': 'gateway timeout'})
    api.add(responses.POST, API + '/assistant', status=201, json={'id': 'second'})
    lookups = []
    assert client().create('/assistant', {'name': 'a'}, lambda: lookups.append(1))['id'] == 'second'
    assert len(lookups) == vapi_utils.ADOPT_POLLS


def test_post_5xx_without_a_create_posts_again(api):
    api.add(responses.POST, API + '/assistant', status=500, json={'message': 'boom'})
    api.add(responses.POST, API + '/assistant', status=201, json={'id': 'second'})
    lookups = []
    assert client().create('/assistant', {'name': 'a'}, lambda: lookups.append(1))['id'] == 'second'
    assert lookups == [1], 'listed once between the two POSTs'


def test_post_ambiguous_failures_are_bounded_by_retries(api):
    for _attempt in range(3):  # 1 try + retries=2
        api.add(responses.POST, API + '/assistant', status=500, json={'message': 'boom'})
    lookups = []
    with pytest.raises(VapiError, match='HTTP 500'):
        client(retries=2).create('/assistant', {'name': 'a'}, lambda: lookups.append(1))
    assert len(api.calls) == 3
    assert len(lookups) == 3


def test_retry_policy_is_urllib3_retry():
    c = client(retries=4)
    adapter = c.session.get_adapter(API)
    retry = adapter.max_retries
    assert isinstance(retry, vapi_utils.VapiRetry)
    assert retry.total == 4
    assert set(retry.status_forcelist) == {429, 500, 502, 503, 504}
    assert retry.respect_retry_after_header
    assert retry.is_retry('GET', 503)
    assert retry.is_retry('PATCH', 429)
    assert retry.is_retry('POST', 429)
    assert not retry.is_retry('POST', 503)
    assert not retry.is_retry('GET', 400)


def test_retry_after_is_capped():
    retry = client().retry
    assert retry.parse_retry_after('3600') == vapi_utils.RETRY_AFTER_MAX
    assert retry.parse_retry_after('2') == 2


def test_missing_requests_fails_with_missing_required_lib(monkeypatch):
    monkeypatch.setattr(vapi_utils, 'HAS_REQUESTS', False)
    module = FakeModule()
    failures = []

    def fail_json(**kwargs):
        failures.append(kwargs)
        raise SystemExit(1)
    module.fail_json = fail_json
    with pytest.raises(SystemExit):
        VapiClient(module)
    assert 'requests' in failures[0]['msg']


def test_is_subset_and_deep_merge():
    actual = {'model': {'provider': 'openai', 'model': 'gpt-4o', 'temperature': 0.5, 'messages': [{'role': 'system', 'content': 'a'}]}}
    assert vapi_utils.is_subset({'model': {'model': 'gpt-4o'}}, actual)
    assert not vapi_utils.is_subset({'model': {'model': 'gpt-4o-mini'}}, actual)
    # lists whole: a prefix is not a match
    assert not vapi_utils.is_subset({'model': {'messages': []}}, actual)
    assert vapi_utils.is_subset({'n': 300}, {'n': 300.0})
    assert not vapi_utils.is_subset({'b': True}, {'b': 1})
    merged = vapi_utils.deep_merge(actual['model'], {'model': 'gpt-4o-mini', 'messages': [{'role': 'user', 'content': 'b'}]})
    assert merged == {'provider': 'openai', 'model': 'gpt-4o-mini', 'temperature': 0.5, 'messages': [{'role': 'user', 'content': 'b'}]}


def test_mask_secrets_keeps_lookalikes():
    masked = vapi_utils.mask_secrets({'outboundAuthenticationPlan': {'authUsername': 'u', 'authPassword': 'p'},
                                      'server': {'headers': {'X-Vapi-Secret': 's', 'Authorization': 'Bearer t', 'X-Trace': 'v'}},
                                      'model': {'maxTokens': 250}})
    assert masked['outboundAuthenticationPlan'] == {'authUsername': 'u', 'authPassword': '********'}
    assert masked['server']['headers'] == {'X-Vapi-Secret': '********', 'Authorization': '********', 'X-Trace': 'v'}
    assert masked['model'] == {'maxTokens': 250}
