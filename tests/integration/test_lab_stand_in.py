# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The lab's Vapi stand-in answers the INVITE that follows a qualify OPTIONS.

scripts/lab.sh runs SIPp as Vapi's SIP side. SIPp counts every new Call-ID as a call, an OPTIONS
included: with `-m 1`, SIPp 3.6 (Debian 11 and 12) answered Asterisk's qualify OPTIONS (-aa) and
then ignored the call's INVITE. This runs the stand-in with lab.sh's own scenario and options on
this machine's SIPp, on loopback, and sends it an OPTIONS and then a call.
"""
from __future__ import absolute_import, division, print_function

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAB = str(ROOT / 'scripts' / 'lab.sh')
STAND_IN = ('127.0.0.12', int(os.environ.get('BYOM_STAND_IN_TEST_PORT', '8125')))
CALLER = ('127.0.0.11', int(os.environ.get('BYOM_STAND_IN_TEST_CALLER_PORT', '8126')))

pytestmark = pytest.mark.skipif(shutil.which('sipp') is None, reason='SIPp missing: scripts/host-packages.sh installs sip-tester')


def options_ping():
    """One out-of-dialog OPTIONS, as Asterisk's qualify sends it; returns the status line."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((CALLER[0], 0))
        sock.settimeout(3)
        port, tag = sock.getsockname()[1], uuid.uuid4().hex[:10]
        sock.sendto((
            'OPTIONS sip:%s:%d SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=z9hG4bK-%s\r\n'
            'From: <sip:asterisk@%s>;tag=%s\r\nTo: <sip:%s:%d>\r\nCall-ID: qualify-%s\r\nCSeq: 1 OPTIONS\r\n'
            'Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n'
            % (STAND_IN + (CALLER[0], port, tag, CALLER[0], tag) + STAND_IN + (tag,))).encode(), STAND_IN)
        return sock.recv(4096).decode(errors='replace').splitlines()[0]


def test_stand_in_answers_a_call_after_a_qualify(tmp_path):
    (tmp_path / 'vapi_uas.xml').write_text(subprocess.check_output([LAB, 'stand-in', 'scenario'], text=True))
    options = subprocess.check_output([LAB, 'stand-in', 'options'], text=True).split()
    uas = subprocess.Popen(['timeout', '30', 'sipp', '-sf', 'vapi_uas.xml', '-i', STAND_IN[0], '-p', str(STAND_IN[1]),
                            '-mi', STAND_IN[0]] + options,
                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        for _attempt in range(50):
            if uas.poll() is not None:
                pytest.fail('the stand-in exited at once (rc %s)' % uas.returncode)
            try:
                status = options_ping()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail('the stand-in never answered an OPTIONS')
        assert status.startswith('SIP/2.0 200'), status
        call = subprocess.run(['timeout', '20', 'sipp', '-sn', 'uac', '-i', CALLER[0], '-p', str(CALLER[1]),
                               '-s', '15550100001', '%s:%d' % STAND_IN, '-m', '1', '-nostdin', '-timeout', '15s',
                               '-timeout_error', '-trace_err'],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, check=False)
        assert call.returncode == 0, 'the call after the OPTIONS was not answered: %s' % call.stdout[-1500:]
        assert uas.poll() is None, 'the stand-in stopped by itself; lab.sh stops it after the call'
    finally:
        uas.terminate()
        uas.wait(timeout=10)
