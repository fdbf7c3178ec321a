# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The SIP helpers the container tests copy into their boxes (sip_peer.py, sip_uac.py, which builds
its requests with sip_peer's helpers) against each other on loopback, so a broken helper shows up
here and not as a puzzling failure inside a proxy test. A second or two, no container.

Bounded: the far end lives --lifetime seconds, each call or ping has its --timeout.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FAR_END = ('127.0.0.21', int(os.environ.get('BYOM_SIP_PEERS_TEST_PORT', '8240')))
CALLER = '127.0.0.22'


def helper(*args, timeout=20):
    proc = subprocess.run([sys.executable, str(HERE / args[0]), *args[1:]], cwd=HERE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def far_end(tmp_path):
    log = tmp_path / 'far-end.jsonl'
    proc = subprocess.Popen([sys.executable, str(HERE / 'sip_peer.py'), 'uas', FAR_END[0], str(FAR_END[1]), str(log),
                             '--lifetime', '30'], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.3)
    assert proc.poll() is None, proc.stdout.read()

    def received():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    yield received
    proc.terminate()
    proc.wait(timeout=10)


def test_options_ping_is_answered_200_and_logged_with_its_source(far_end):
    assert helper('sip_peer.py', 'options', CALLER, FAR_END[0], str(FAR_END[1]), '--timeout', '5') == {'code': 200}
    [ping] = far_end()
    assert ping['method'] == 'OPTIONS' and ping['source'].startswith(CALLER + ':') and ping['vias'] == 1
    assert ping['ruri'] == 'sip:%s:%d' % FAR_END


def test_a_call_gets_trying_then_busy_and_is_acknowledged(far_end):
    result = helper('sip_uac.py', CALLER, FAR_END[0], str(FAR_END[1]), '+15550100001', '--header', 'X-Test: 1',
                    '--timeout', '5')
    assert result == {'codes': [100, 486], 'final': 486}
    for _attempt in range(20):          # the ACK follows the 486 over UDP
        if len(far_end()) == 2:
            break
        time.sleep(0.1)
    assert [(r['method'], r['ruri']) for r in far_end()] == \
        [('INVITE', 'sip:+15550100001@%s:%d' % FAR_END), ('ACK', 'sip:+15550100001@%s:%d' % FAR_END)]
