# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets at -vvv, CI-sized: the Vapi modules and the vapi role (the pieces that carry the API
key, the SIP digest password and the assistant's server secret) run at -vvv against the
emulator, through success, change, check/diff mode and failures whose API error echoes a
secret back. 0 hits allowed. (The full deployment at -vvv: tests/security/test_secrets_deploy.py.)
"""
from __future__ import absolute_import, division, print_function

import os

import pytest

from byom_testlib import seclib

KEY = 'sec-secrets-api-key-6c1f0e'
TRUNK_PW = 'sec-trunk-password-7f3a'
HOOK = 'sec-hook-secret-91c2'
ROLE_PW = 'sec-role-password-5d1e'
ROLE_HOOK = 'sec-role-hook-secret-0e9b'
SECRETS = {'api key': KEY, 'trunk password': TRUNK_PW, 'server secret': HOOK, 'role SIP password': ROLE_PW,
           'role server secret': ROLE_HOOK}
OUTPUTS = {}


@pytest.fixture(scope='module')
def emu():
    emulator = seclib.Emulator(KEY)
    yield emulator
    emulator.stop()


def vvv(name, path, variables, inventory='localhost,', args=()):
    run = seclib.playbook(path, variables, inventory=inventory, args=['-vvv'] + list(args), json_output=False,
                          env=seclib.ansible_env(json_output=False, ANSIBLE_DISPLAY_ARGS_TO_STDOUT='1'))
    OUTPUTS[name] = run.output
    return run


def test_modules_at_vvv(emu):
    edge = os.path.join(seclib.PLAYBOOKS, 'vapi_edge.yml')
    base = dict(sec_api_url=emu.url, sec_api_key=KEY, sec_steps=['trunk', 'assistant', 'phone_number', 'info'])
    assert vvv('create', edge, base).rc == 0
    assert vvv('re-run', edge, base).rc == 0
    assert vvv('check+diff', edge, dict(base, sec_hook_secret=HOOK + '-new'), args=['--check', '--diff']).rc == 0
    # The API answers with an error that quotes the secret: the module must mask it.
    emu.reset()
    emu.faults([{'method': 'POST', 'path_regex': '^/credential$', 'status': 400, 'times': 1,
                 'body': {'message': ['authPassword %s is too weak; key %s' % (TRUNK_PW, KEY)],
                          'error': 'Bad Request', 'statusCode': 400}}])
    failed = vvv('API error echoing secrets', edge, dict(base, sec_steps=['trunk']))
    assert failed.rc != 0 and 'too weak' in failed.output
    assert vvv('wrong key (401)', edge, dict(base, sec_api_key=KEY + 'x', sec_steps=['trunk'])).rc != 0


def test_role_at_vvv(emu):
    emu.reset()
    role = os.path.join(seclib.PLAYBOOKS, 'vapi_role.yml')
    variables = dict(sec_api_url=emu.url, sec_api_key=KEY)
    assert vvv('role create', role, variables, inventory='sec-edge,').rc == 0
    assert vvv('role password rotation', role, dict(variables, vapi_update_password='always'), inventory='sec-edge,').rc == 0
    assert vvv('role bad input', role, dict(variables, vapi_gateway_ip='999.0.0.1'), inventory='sec-edge,').rc != 0


def test_no_secret_in_any_vvv_output():
    assert OUTPUTS, 'the -vvv runs above did not run'
    hits = {}
    for run, output in OUTPUTS.items():
        for name, value in SECRETS.items():
            if value in output:
                hits.setdefault(run, []).append(name)
    lines = sum(o.count('\n') for o in OUTPUTS.values())
    seclib.record('Secrets', 'Vapi modules + role at -vvv (%d runs, %d lines)' % (len(OUTPUTS), lines),
                  'hits: %d' % sum(len(v) for v in hits.values()), not hits, '%s' % hits if hits else '')
    assert not hits, hits
