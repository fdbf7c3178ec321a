# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs INSIDE the target container: one SIPp call per attempt, sequentially, and after each
the number of INVITEs the carrier stand-in has received, so every carrier hit is attributed.

usage: python3 battery.py attempts.json carrier_msg.log > results.json
attempts: [{"id", "scenario", "src", "port", "number", "from_user", "from_host", "user", "password"}]
Bounded: each SIPp run has -m 1, -timeout 12s and a 20 s subprocess timeout.
"""
from __future__ import absolute_import, division, print_function

import json
import os
import re
import subprocess
import sys
import time


def carrier_invites(path):
    try:
        with open(path, errors='replace') as handle:
            return len(re.findall(r'^INVITE sip:', handle.read(), re.M))
    except (IOError, OSError):
        return 0


def final_codes(path):
    """Status codes received for INVITE transactions, in order (e.g. [100, 401, 100, 404])."""
    try:
        with open(path, errors='replace') as handle:
            text = handle.read()
    except (IOError, OSError):
        return []
    codes = []
    for block in re.split(r'\n-{5,} ', text):
        if 'message received' not in block:
            continue
        status = re.search(r'^\s*SIP/2\.0 (\d{3})', block, re.M)
        if status and re.search(r'^\s*CSeq:\s*\d+ INVITE', block, re.M | re.I):
            codes.append(int(status.group(1)))
    return codes


def main():
    attempts = json.load(open(sys.argv[1]))
    carrier_log = sys.argv[2]
    out = []
    for attempt in attempts:
        trace = '/opt/sec/trace/%s.log' % attempt['id']
        if os.path.exists(trace):
            os.remove(trace)
        cmd = ['sipp', '-sf', '/opt/sec/%s' % attempt['scenario'], '-i', attempt['src'], '-p', str(attempt['port']),
               '-s', attempt['number'], '-key', 'from_user', attempt['from_user'],
               '-key', 'from_host', attempt['from_host'], '-m', '1', '-nostdin', '-timeout', '8s',
               '-trace_msg', '-message_file', trace, '127.0.0.1:5060']
        if attempt.get('user'):
            cmd[1:1] = ['-au', attempt['user'], '-ap', attempt['password']]
        before = carrier_invites(carrier_log)
        started = time.time()
        try:
            proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20, check=False)
            rc, err = proc.returncode, proc.stderr.decode(errors='replace')[-300:]
        except subprocess.TimeoutExpired:
            rc, err = -1, 'timeout'
        time.sleep(0.3)
        codes = final_codes(trace)
        finals = [c for c in codes if c >= 200]
        out.append(dict(attempt, rc=rc, err=err.strip(), codes=codes, final=finals[-1] if finals else None,
                        reached=carrier_invites(carrier_log) - before, seconds=round(time.time() - started, 2)))
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
