# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What verify.yml expects (asterisk_expected_extensions, asterisk_expected_transports in
roles/asterisk/vars/main.yml) is exactly what the templates write, context by context: the proof
of load compares the running Asterisk with these lists, so a template change that forgets them
would fail every deployment, and a list wider than the template would hide a lost pattern."""
from __future__ import absolute_import, division, print_function

import json
import os
import re
import subprocess

import pytest
import yaml

from byom_testlib import ROOT

PLAYBOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'asterisk_expected_config.yml')

CASES = {
    'asterisk_sid lab': os.path.join(ROOT, 'molecule', 'asterisk_sid', 'vars', 'lab.yml'),
    'asterisk_tls lab': os.path.join(ROOT, 'molecule', 'asterisk_tls', 'vars', 'lab.yml'),
}


def render(case_vars, tmp_path):
    extra = tmp_path / 'extra.yml'
    extra.write_text(yaml.safe_dump(case_vars) if isinstance(case_vars, dict) else open(case_vars).read())
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK='json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, '.collections'), ANSIBLE_LOCALHOST_WARNING='0',
               ANSIBLE_INVENTORY_UNPARSED_WARNING='0')
    proc = subprocess.run(['ansible-playbook', '-i', 'localhost,', '-c', 'local', PLAYBOOK,
                           '-e', 'byom_case_vars=%s' % extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, env=env, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    return result['plays'][0]['tasks'][0]['hosts']['localhost']['msg']


def written_extensions(conf):
    """{context: sorted unique extensions} as Asterisk's pbx_config would read them."""
    contexts, current = {}, None
    for line in conf.splitlines():
        match = re.match(r'^\[([^\]]+)\]', line)
        if match:
            current = match.group(1)
            if current not in ('general', 'globals'):
                contexts[current] = set()
            continue
        match = re.match(r'^exten => ([^,]+),', line)
        if match:
            contexts[current].add(match.group(1))
    return {name: sorted(extensions) for name, extensions in contexts.items()}


@pytest.mark.parametrize('case', sorted(CASES) + ['two DIDs, transfer targets'])
def test_expected_extensions_are_what_the_template_writes(case, tmp_path):
    if case in CASES:
        out = render(CASES[case], tmp_path)
    else:
        base = yaml.safe_load(open(CASES['asterisk_sid lab']))
        out = render(dict(base, asterisk_dids=['+15551230001', '+15551230002'], asterisk_vapi_transfer_numbers=[
            {'number': '+15552230002', 'trunk': 'carrier1'}, {'number': '+15552230003', 'trunk': 'carrier2'}]), tmp_path)
        assert out['extensions']['vapi-transfer'] and len(out['extensions']['from-carrier-carrier1']) == 4
    expected = {name: sorted(set(extensions)) for name, extensions in out['extensions'].items()}
    assert expected == written_extensions(out['extensions_conf'])
    assert len(expected['from-vapi']) > 40   # the refused ranges are in it


def test_expected_transports_are_what_the_template_writes(tmp_path):
    base = yaml.safe_load(open(CASES['asterisk_sid lab']))
    for tcp, tls in ((False, False), (True, False), (True, True)):
        out = render(dict(base, asterisk_sip_tcp_enabled=tcp, asterisk_sip_tls_enabled=tls), tmp_path)
        written = re.findall(r'(?m)^\[([^\]]+)\]\ntype=transport$', out['transports_conf'])
        assert out['transports'] == written, (tcp, tls)
        assert len(written) == 1 + tcp + tls
