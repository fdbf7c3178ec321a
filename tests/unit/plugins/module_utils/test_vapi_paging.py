# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Large accounts: lists page through everything, and nothing is created when a list may be incomplete."""
from __future__ import absolute_import, division, print_function

import datetime

import pytest
import responses

from ansible_collections.byom.telephony.plugins.module_utils.vapi import LIST_LIMIT
from ansible_collections.byom.telephony.plugins.modules import vapi_assistant, vapi_sip_trunk

KEY = 'unit-test-key-123'
BASE = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def stamp(seconds):
    return (BASE + datetime.timedelta(milliseconds=seconds)).strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3] + 'Z'


def assistants(count, same_stamp_every=1):
    """count assistants; ours (name 'target') is the oldest. same_stamp_every=n: n share each createdAt."""
    out = []
    for index in range(count):
        name = 'target' if index == 0 else 'other-%05d' % index
        out.append({'name': name, 'createdAt': stamp(index // same_stamp_every), 'firstMessage': 'Hi'})
    return out


def log(emu):
    return [(entry['method'], entry['path'], entry['query']) for entry in emu.log]


@pytest.mark.parametrize('order', ['desc', 'asc'])
@pytest.mark.parametrize('count, same', [(1001, 1), (2500, 1), (2500, 7)])
def test_rerun_on_a_large_account_changes_nothing(http_emulator, run_module, order, count, same):
    emu = http_emulator(list_order=order)
    emu.seed('assistant', assistants(count, same))
    result = run_module(vapi_assistant.main, dict(name='target', first_message='Hi', api_url=emu.url))
    assert result['changed'] is False and result['id']
    calls = log(emu)
    assert all(method == 'GET' for method, _path, _query in calls), 'no write on a re-run'
    # Pages of 1000: about count/1000 + 2 requests (the two bounded directions end on a short page).
    assert len(calls) <= count // LIST_LIMIT + 3, calls
    print('%d assistants (%s, %d per createdAt): %d requests' % (count, order, same, len(calls)))


def test_a_missing_assistant_beyond_the_first_page_is_created_once(http_emulator, run_module):
    emu = http_emulator()
    emu.seed('assistant', assistants(1200)[1:])
    run_module(vapi_assistant.main, dict(name='target', first_message='Hi', api_url=emu.url))
    again = run_module(vapi_assistant.main, dict(name='target', first_message='Hi', api_url=emu.url))
    assert again['changed'] is False
    assert len([a for a in emu.state()['assistant'].values() if a['name'] == 'target']) == 1


def test_a_list_that_cannot_be_proven_complete_creates_nothing(api, run_module, sent):
    # An API that ignores the page bounds: the second page is the first again.
    page = [{'id': '%08d-0000-4000-8000-000000000000' % i, 'name': 'x%d' % i, 'createdAt': stamp(0),
             'provider': 'byo-sip-trunk'} for i in range(LIST_LIMIT)]
    for _page in range(2):
        api.add(responses.GET, 'https://api.vapi.ai/credential', json=page)
    result = run_module(vapi_sip_trunk.main, dict(name='edge', gateways=[{'ip': '203.0.113.10'}]), fails=True)
    assert 'cannot list every item' in result['msg'] and 'Nothing was created' in result['msg']
    assert [call[0] for call in sent(api)] == ['GET', 'GET']
