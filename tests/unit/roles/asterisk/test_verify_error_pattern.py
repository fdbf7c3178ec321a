# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proof of load (roles/asterisk/tasks/verify.yml) greps Asterisk's messages log with
asterisk_verify_error_sources: it must match the lines Asterisk really writes.

Asterisk's logger writes "[date] LEVEL[thread][C-call]? file.c: message" (main/logger.c); there
is no colon after the thread id, so a pattern expecting "ERROR[n]:" never matched anything.
The pattern is run with grep -E, as verify.yml runs it.
"""
from __future__ import absolute_import, division, print_function

import os
import subprocess

import pytest
import yaml

from byom_testlib import ROOT


with open(os.path.join(ROOT, 'roles', 'asterisk', 'vars', 'main.yml')) as handle:
    PATTERN = yaml.safe_load(handle)['asterisk_verify_error_sources']

STAMP = '[2026-11-30 21:00:00.123] '


def grep(lines):
    proc = subprocess.run(['grep', '-E', '-e', PATTERN], input='\n'.join(lines) + '\n', stdout=subprocess.PIPE,
                          universal_newlines=True, timeout=10, check=False)
    return proc.stdout.splitlines()


@pytest.mark.parametrize('line', [
    'ERROR[4242] config_options.c: Error parsing timers=bogus at line 61 of pjsip.conf',
    "ERROR[4242] res_sorcery_config.c: Could not create an object of type 'endpoint' with id 'vapi' from configuration file 'pjsip.conf'",
    'ERROR[4242][C-0000001a] res_pjsip/pjsip_configuration.c: Endpoint vapi: unknown transport',
    'ERROR[4242] res_pjsip/config_transport.c: Transport transport-tls could not be started',
    'ERROR[4242] pbx_config.c: Unable to register extension at line 40 of extensions.conf',
    'ERROR[4242] config.c: Unable to open file pjsip_transports.conf',
    'ERROR[4242] sorcery.c: Could not load sorcery wizard',
])
def test_config_errors_as_asterisk_writes_them_match(line):
    assert grep([STAMP + line]) == [STAMP + line]


@pytest.mark.parametrize('line', [
    'ERROR[4242] app_dial.c: Unable to create channel of type PJSIP (cause 3 - Chan unavail)',
    'WARNING[4242] config_options.c: something harmless',
    'NOTICE[4242] res_pjsip/pjsip_distributor.c: Request from x failed for y (callid: ERROR[1] config.c: forged)',
    'ERROR[4242] chan_pjsip.c: unrelated',
])
def test_runtime_errors_and_forged_text_do_not(line):
    assert grep([STAMP + line]) == []
