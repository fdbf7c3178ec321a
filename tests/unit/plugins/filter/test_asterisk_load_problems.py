# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""byom.telephony.asterisk_load_problems: the proof of load sees extra objects, lost dialplan, modules.

The answers are the real ones of Debian sid's Asterisk 22 to the role's verify.yml (security
lab: one carrier "carrier" with outbound auth, Vapi, one DID, one transfer target), split the
way verify.yml splits them; "module show" and "pjsip show transports" are the asterisk_sid
scenario's.
"""
from __future__ import absolute_import, division, print_function

import os
import re

import pytest
import yaml

from ansible_collections.byom.telephony.plugins.filter.asterisk_load_problems import (
    FilterModule, asterisk_load_problems, dialplan_contexts, endpoint_parameters, module_states, pjsip_names)

from byom_testlib import ROOT

with open(os.path.join(ROOT, 'roles', 'asterisk', 'defaults', 'main.yml')) as handle:
    NOLOAD = yaml.safe_load(handle)['asterisk_modules_noload']
FIXTURE = os.path.join(os.path.dirname(__file__), 'fixtures', 'asterisk22', 'verify-answers.txt')


def fixture(name):
    with open(os.path.join(os.path.dirname(FIXTURE), name)) as handle:
        return handle.read()


MODULE_SHOW = fixture('module-show.txt')        # all 348 modules of the asterisk_sid scenario
TRANSPORTS = fixture('pjsip-show-transports.txt')

REGISTRATIONS = '''
 <Registration/ServerURI..............................>  <Auth....................>  <Status.......>
==========================================================================================

 carrier-reg/sip:127.0.0.3:5080                           carrier-auth                Registered        (exp. 3588s)

Objects found: 1

'''

HELPERS = {
    'byom-call-start': ['s'], 'byom-hangup': ['s'], 'byom-limit': ['s'], 'byom-budget': ['s'],
    'default': [], 'byom-no-messages': [],
    'from-carrier-carrier': ['+15550100001', '15550100001'],
    'vapi-transfer': ['+15552230002', '15552230002'],
}


def load_answers():
    with open(FIXTURE) as handle:
        text = handle.read()
    answers = dict(re.findall(r'(?ms)^### byom-verify: ([^\n]*)\n(.*?)(?=^### byom-verify: |\Z)', text))
    answers['module show'] = MODULE_SHOW
    answers['pjsip show transports'] = TRANSPORTS
    return answers


def from_vapi(answers):
    """The extensions of from-vapi, read with an independent regex (not the plugin's parser)."""
    block = answers['dialplan show'].split("[ Context 'from-vapi'")[1].split('[ Context')[0]
    return re.findall(r"^  '([^']+)' =>", block, re.M)


def expected(answers, **changes):
    result = {
        'endpoints': ['vapi', 'carrier'], 'aors': ['vapi', 'carrier'], 'auths': ['vapi-inbound', 'carrier-auth'],
        'identifies': ['vapi', 'carrier'], 'transports': ['transport-udp'], 'registrations': [],
        'contexts': dict(HELPERS, **{'from-vapi': from_vapi(answers)}),
        'modules_running': ['res_pjsip.so', 'res_pjsip_authenticator_digest'],
        'modules_absent': ['chan_sip.so'] + NOLOAD,
    }
    result.update(changes)
    return result


def test_the_real_answers_match_what_was_declared():
    answers = load_answers()
    assert asterisk_load_problems(answers, expected(answers)) == []


def test_the_dialplan_parser_counts_what_asterisk_counts():
    answers = load_answers()
    contexts = dialplan_contexts(answers['dialplan show'])
    total = re.search(r'-= (\d+) extensions \(\d+ priorities\) in (\d+) contexts', answers['dialplan show'])
    assert sum(len(c['extensions']) for c in contexts.values()) == int(total.group(1))
    assert len(contexts) == int(total.group(2))
    assert contexts['__func_periodic_hook_context__']['extensions'] == ['beep', 'hook']
    assert '_+449X.' in contexts['from-vapi']['extensions'] and '_1NXXNXXXXXX' in contexts['from-vapi']['extensions']
    assert contexts['byom-budget']['extensions'] == ['s']   # labelled priorities are no extension


def test_object_names_skip_the_header_line():
    answers = load_answers()
    assert pjsip_names(answers['pjsip show endpoints'], 'Endpoint') == ['carrier', 'vapi']
    assert pjsip_names(answers['pjsip show auths'], 'Auth') == ['carrier-auth', 'vapi-inbound']
    assert pjsip_names(TRANSPORTS, 'Transport') == ['transport-udp']
    assert pjsip_names(REGISTRATIONS, None) == ['carrier-reg']
    assert pjsip_names(answers['pjsip show registrations'], None) == []


ROGUE_ENDPOINT = '''
 Endpoint:  rogue                                                Not in use    0 of inf
                Aor:  rogue                                              1
          Transport:  transport-udp             udp      0      0  0.0.0.0:5060
           Identify:  rogue/rogue
                Match: 0.0.0.0/0

'''


@pytest.mark.parametrize('question, insert_after, text, problem', [
    ('pjsip show endpoints', '\n\n\nObjects found: 2', ROGUE_ENDPOINT, 'extra endpoint rogue'),
    ('pjsip show aors', '\n\n\nObjects found: 2', '\n      Aor:  rogue                                                1\n', 'extra aor rogue'),
    ('pjsip show auths', '\nObjects found: 2', '     Auth:  rogue-auth/anyone\n', 'extra auth rogue-auth'),
    ('pjsip show identifies', '\n\n\nObjects found: 2', '\n Identify:  rogue/vapi\n      Match: 0.0.0.0/0\n',
     'extra identify rogue'),
    ('pjsip show transports', '\nObjects found: 1', 'Transport:  transport-rogue           tcp      0      0  0.0.0.0:5099\n',
     'extra transport transport-rogue'),
    ('dialplan show', "[ Context 'default' created by 'pbx_config' ]\n",
     "  '_X.' =>          1. Dial(PJSIP/${EXTEN}@carrier)                [extensions.conf:999]\n",
     'extra extension _X. in default'),
    ('dialplan show', "[ Context 'from-vapi' created by 'pbx_config' ]\n",
     "  Include =>        'from-carrier-carrier'                      [pbx_config]\n",
     'extra include from-carrier-carrier in from-vapi'),
])
def test_an_extra_object_is_named(question, insert_after, text, problem):
    answers = load_answers()
    assert insert_after in answers[question], question
    answers[question] = answers[question].replace(insert_after, insert_after + text if question == 'dialplan show'
                                                  else text + insert_after, 1)
    assert asterisk_load_problems(answers, expected(answers)) == [problem]


def test_an_extra_registration_is_named():
    answers = load_answers()
    answers['pjsip show registrations'] = REGISTRATIONS
    assert asterisk_load_problems(answers, expected(answers)) == ['extra registration carrier-reg']
    assert asterisk_load_problems(answers, expected(answers, registrations=['carrier-reg'])) == []


def test_a_pattern_asterisk_refused_is_named():
    # Asterisk logs a refused extension at WARNING and keeps running without it: the blocked
    # +44 premium range would then fall through to a route.
    answers = load_answers()
    declared = from_vapi(answers)
    answers['dialplan show'] = re.sub(r"(?m)^  '_\+449X\.' => .*\n(^ {10,}\d+\. .*\n)*", '', answers['dialplan show'])
    assert '_+449X.' not in answers['dialplan show']
    problems = asterisk_load_problems(answers, expected(answers, contexts=dict(HELPERS, **{'from-vapi': declared})))
    assert problems == ['lost extension _+449X. in from-vapi']


def test_a_missing_object_and_context_are_named():
    answers = load_answers()
    problems = asterisk_load_problems(answers, expected(
        answers, endpoints=['vapi', 'carrier', 'carrier2'], contexts=dict(HELPERS, **{'from-carrier-carrier2': ['+1555']})))
    assert problems == ['missing endpoint carrier2', 'missing context from-carrier-carrier2']


def test_the_digest_authenticator_must_run():
    answers = load_answers()
    answers['module show'] = '\n'.join(line for line in MODULE_SHOW.splitlines()
                                       if not line.startswith('res_pjsip_authenticator_digest'))
    assert asterisk_load_problems(answers, expected(answers)) == [
        'module res_pjsip_authenticator_digest.so is not loaded (must be Running)']
    answers['module show'] = re.sub(r'(?m)^(res_pjsip_authenticator_digest\.so .*)Running', r'\1Not Running', MODULE_SHOW)
    assert asterisk_load_problems(answers, expected(answers)) == [
        'module res_pjsip_authenticator_digest.so is Not Running (must be Running)']


@pytest.mark.parametrize('module', ['chan_sip.so', 'chan_iax2.so', 'res_pjsip_endpoint_identifier_anonymous.so'])
def test_a_module_that_must_not_load_is_named(module):
    answers = load_answers()
    assert module not in module_states(MODULE_SHOW)
    answers['module show'] = MODULE_SHOW.replace(
        '348 modules loaded', '%-30s Some module                              0          Running              extended\n349 modules loaded' % module)
    assert module_states(answers['module show'])[module] == 'Running'
    assert asterisk_load_problems(answers, expected(answers)) == ['module %s is loaded (Running) and must not be' % module]


def test_a_kind_left_out_is_not_checked_but_an_unanswered_question_is_an_error():
    answers = load_answers()
    assert asterisk_load_problems({}, {}) == []
    del answers['pjsip show transports']
    with pytest.raises(ValueError, match='pjsip show transports'):
        asterisk_load_problems(answers, expected(answers))


def test_registered_as_a_filter():
    assert FilterModule().filters()['asterisk_load_problems'] is asterisk_load_problems


# "pjsip show endpoint vapi" as the role's Vapi endpoint runs (allow_unauthenticated_options=yes),
# on Debian sid's Asterisk 22.10 and Debian 11's Asterisk 16.28.
ENDPOINT_VAPI = {major: fixture(os.path.join('..', 'asterisk%s' % major, 'pjsip-show-endpoint-vapi.txt'))
                 for major in ('22', '16')}
VAPI_OPTIONS = {'vapi': {'auth': 'vapi-inbound', 'identify_by': 'ip', 'context': 'from-vapi',
                         'allow_unauthenticated_options': 'True'}}


@pytest.mark.parametrize('major', sorted(ENDPOINT_VAPI))
def test_endpoint_options_are_read_from_the_parameter_table(major):
    parameters = endpoint_parameters(ENDPOINT_VAPI[major])
    # The header part ("Endpoint:  vapi ...", "InAuth: ...") is not an option; the table is.
    assert 'Endpoint' not in parameters and 'InAuth' not in parameters
    assert len(parameters) > 100
    assert parameters['allow_unauthenticated_options'] == 'true'
    assert parameters['auth'] == 'vapi-inbound' and parameters['accountcode'] == ''
    assert asterisk_load_problems({'pjsip show endpoint vapi': ENDPOINT_VAPI[major]},
                                  {'endpoint_options': VAPI_OPTIONS}) == []


@pytest.mark.parametrize('major', sorted(ENDPOINT_VAPI))
def test_an_endpoint_option_running_otherwise_is_named(major):
    # An object kept from an older load (a reload Asterisk refused) or edited outside the role.
    shown = ENDPOINT_VAPI[major].replace(
        'allow_unauthenticated_options      : true', 'allow_unauthenticated_options      : false').replace(
        ' auth                               : vapi-inbound', ' auth                               : ')
    assert shown != ENDPOINT_VAPI[major]
    assert asterisk_load_problems({'pjsip show endpoint vapi': shown}, {'endpoint_options': VAPI_OPTIONS}) == [
        'endpoint vapi runs allow_unauthenticated_options=false, declared true',
        'endpoint vapi runs auth=, declared vapi-inbound']
    # yes/no and true/false are one boolean (Asterisk prints both styles).
    assert asterisk_load_problems({'pjsip show endpoint vapi': shown}, {'endpoint_options': {
        'vapi': {'allow_unauthenticated_options': 'no', 'timers': 'yes', 'webrtc': False}}}) == []


def test_an_endpoint_that_is_not_shown_or_lacks_the_option_is_named():
    assert asterisk_load_problems({'pjsip show endpoint vapi': '\nUnable to find object vapi.\n\n'},
                                  {'endpoint_options': VAPI_OPTIONS}) == ['no options shown for endpoint vapi']
    assert asterisk_load_problems({'pjsip show endpoint vapi': ENDPOINT_VAPI['22']},
                                  {'endpoint_options': {'vapi': {'no_such_option': 'x'}}}) == [
        'endpoint vapi shows no option no_such_option']
    with pytest.raises(ValueError, match='pjsip show endpoint vapi'):
        asterisk_load_problems({}, {'endpoint_options': VAPI_OPTIONS})
