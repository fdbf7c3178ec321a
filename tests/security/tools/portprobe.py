# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs in the probe container: classify a bounded list of ports of one target (the test's
own container) as open / closed / filtered, from a chosen source address.

usage: python3 portprobe.py SRC DST tcp:22,tcp:5038,udp:4569 [WAIT_S]
TCP: connect() success = open, refused = closed, timeout = filtered.
UDP: an ICMP port-unreachable (ECONNREFUSED on a connected socket) = closed, silence = filtered
(or open and silent: only SIP is sent a real request, by sipprobe.py).
"""
from __future__ import absolute_import, division, print_function

import errno
import json
import socket
import sys


def tcp(src, dst, port, wait):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((src, 0))
    sock.settimeout(wait)
    try:
        sock.connect((dst, port))
        return 'open'
    except socket.timeout:
        return 'filtered'
    except OSError as exc:
        return 'closed' if exc.errno == errno.ECONNREFUSED else 'error %s' % exc.errno
    finally:
        sock.close()


def udp(src, dst, port, wait):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((src, 0))
    sock.settimeout(wait)
    sock.connect((dst, port))
    try:
        for _attempt in range(2):
            sock.send(b'\r\n\r\n')
            try:
                sock.recv(2048)
                return 'open'
            except socket.timeout:
                continue
        return 'filtered'
    except OSError as exc:
        return 'closed' if exc.errno == errno.ECONNREFUSED else 'error %s' % exc.errno
    finally:
        sock.close()


def main():
    src, dst, spec = sys.argv[1], sys.argv[2], sys.argv[3]
    wait = float(sys.argv[4]) if len(sys.argv) > 4 else 1.5
    out = {}
    for item in spec.split(',')[:100]:
        proto, port = item.split(':')
        out[item] = (tcp if proto == 'tcp' else udp)(src, dst, int(port), wait)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
