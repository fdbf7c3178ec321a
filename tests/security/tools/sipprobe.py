# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs inside a test container: send one SIP request (or a raw UDP packet) from a chosen
source address and print what came back as JSON. Not an attack tool (sipvicious and SIPp are):
it only makes the responses comparable (status, header names, reason) and counts silence.

usage: python3 sipprobe.py SRC_IP DST_IP DST_PORT METHOD USER [COUNT] [WAIT_S]
       METHOD "RAW" sends COUNT 160-byte UDP datagrams (RTP-sized) and expects nothing.
"""
from __future__ import absolute_import, division, print_function

import json
import random
import re
import socket
import sys


def request(method, user, src, sport, dst, dport):
    branch = 'z9hG4bK%08x' % random.getrandbits(32)
    tag = '%08x' % random.getrandbits(32)
    callid = '%016x@%s' % (random.getrandbits(64), src)
    lines = [
        '%s sip:%s@%s:%d SIP/2.0' % (method, user, dst, dport),
        'Via: SIP/2.0/UDP %s:%d;branch=%s;rport' % (src, sport, branch),
        'From: <sip:%s@%s>;tag=%s' % (user, dst, tag),
        'To: <sip:%s@%s>' % (user, dst),
        'Call-ID: %s' % callid,
        'CSeq: 1 %s' % method,
        'Contact: <sip:%s@%s:%d>' % (user, src, sport),
        'Max-Forwards: 70',
        'User-Agent: byom-sec-probe',
        'Content-Length: 0',
        '', '']
    return '\r\n'.join(lines).encode()


def main():
    src, dst, dport, method, user = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    count = int(sys.argv[6]) if len(sys.argv) > 6 else 1
    wait = float(sys.argv[7]) if len(sys.argv) > 7 else 2.0
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((src, 0))
    sock.settimeout(wait)
    sport = sock.getsockname()[1]
    answers = []
    for _attempt in range(min(count, 50)):
        if method == 'RAW':
            sock.sendto(b'\x80\x08' + b'\x00' * 158, (dst, dport))
            continue
        sock.sendto(request(method, user, src, sport, dst, dport), (dst, dport))
        try:
            while True:
                data = sock.recv(65535).decode(errors='replace')
                status = re.match(r'SIP/2\.0 (\d{3}) ?([^\r\n]*)', data)
                if not status:
                    continue
                headers = sorted(set(h.split(':', 1)[0].strip().lower()
                                     for h in data.split('\r\n\r\n', 1)[0].split('\r\n')[1:] if ':' in h))
                answers.append({'status': int(status.group(1)), 'reason': status.group(2), 'headers': headers,
                                'server': (re.search(r'^(?:Server|User-Agent):\s*(.*)$', data, re.M | re.I) or [None, None])[1]})
                if int(status.group(1)) >= 200:
                    break
        except socket.timeout:
            answers.append({'status': None})
    print(json.dumps({'src': src, 'method': method, 'user': user, 'answers': answers}))


if __name__ == '__main__':
    main()
