# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Two small SIP peers (UDP), run INSIDE a test container with its python3 (standard library only):

uas: a far end ("Vapi's SIP host", or a carrier's registrar) that writes one JSON line per request it
     receives to LOG (method, the source address:port it came from, Request-URI, Via hops,
     Record-Route, Path, Contact) and answers: OPTIONS 200, INVITE 100 then 486, BYE/CANCEL 200,
     REGISTER 200 (the binding echoed, no challenge), ACK nothing. Exits after --lifetime seconds.
options: one OPTIONS from SRC to DST:PORT (no user part, no credentials, like a gateway ping);
     prints {"code": <status or null>}.

usage: python3 sip_peer.py uas BIND_IP PORT LOG [--lifetime S]
       python3 sip_peer.py options SRC_IP DST_IP PORT [--timeout S]

sip_uac.py (copied next to it) builds its requests and reads replies with the helpers here.
"""
import argparse
import json
import random
import re
import socket
import time


def token():
    """A random tag, branch or Call-ID part."""
    return '%08x' % random.getrandbits(32)


def header(data, name, compact=None):
    names = name if compact is None else '(?:%s|%s)' % (name, compact)
    return re.findall(r'^%s:\s*(.+?)\r?$' % names, data, re.M | re.I)


def status(data):
    """The status code of a reply, None for a request."""
    match = re.match(r'SIP/2\.0 (\d{3})', data)
    return int(match.group(1)) if match else None


def request(method, ruri, via, from_hdr, to_hdr, call_id, cseq, extra=(), body=''):
    """A SIP request (one Via: via is "host:port;branch=..."), bytes ready to send over UDP."""
    lines = ['%s %s SIP/2.0' % (method, ruri), 'Via: SIP/2.0/UDP %s;rport' % via, 'Max-Forwards: 70',
             'From: %s' % from_hdr, 'To: %s' % to_hdr, 'Call-ID: %s' % call_id, 'CSeq: %d %s' % (cseq, method)]
    lines += list(extra)
    if body:
        lines.append('Content-Type: application/sdp')
    lines.append('Content-Length: %d' % len(body))
    return ('\r\n'.join(lines) + '\r\n\r\n' + body).encode()


def reply(sock, addr, data, code, reason, to_tag, extra=()):
    to_hdr = header(data, 'To', 't')[0]
    if to_tag and ';tag=' not in to_hdr:
        to_hdr += ';tag=%s' % to_tag
    lines = ['SIP/2.0 %d %s' % (code, reason)]
    lines += ['Via: %s' % via for via in header(data, 'Via', 'v')]
    lines += ['Record-Route: %s' % rr for rr in header(data, 'Record-Route')]
    lines += ['From: %s' % header(data, 'From', 'f')[0], 'To: %s' % to_hdr,
              'Call-ID: %s' % header(data, 'Call-ID', 'i')[0], 'CSeq: %s' % header(data, 'CSeq')[0],
              'Server: byom-test-far-end'] + list(extra) + ['Content-Length: 0']
    sock.sendto(('\r\n'.join(lines) + '\r\n\r\n').encode(), addr)


def uas(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.bind, args.port))
    sock.settimeout(0.5)
    deadline = time.time() + args.lifetime
    while time.time() < deadline:
        try:
            raw, addr = sock.recvfrom(65535)
        except socket.timeout:
            continue
        data = raw.decode(errors='replace')
        first = re.match(r'^(\w+) (\S+) SIP/2\.0', data)
        if not first:
            continue
        method = first.group(1)
        with open(args.log, 'a') as log:
            log.write(json.dumps({'method': method, 'source': '%s:%d' % addr, 'ruri': first.group(2),
                                  'vias': len(header(data, 'Via', 'v')),
                                  'record_route': header(data, 'Record-Route'), 'path': header(data, 'Path'),
                                  'contact': header(data, 'Contact', 'm')}) + '\n')
        tag = token()
        if method == 'INVITE':
            reply(sock, addr, data, 100, 'Trying', None)
            reply(sock, addr, data, 486, 'Busy Here', tag)
        elif method in ('OPTIONS', 'BYE', 'CANCEL'):
            reply(sock, addr, data, 200, 'OK', tag)
        elif method == 'REGISTER':
            # A registrar that keeps no state: the binding is echoed with the requested lifetime.
            expires = (header(data, 'Expires') or ['3600'])[0]
            contacts = ['Contact: %s;expires=%s' % (c, expires) for c in header(data, 'Contact', 'm') if c != '*']
            reply(sock, addr, data, 200, 'OK', tag, contacts)


def options(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.src, 0))
    lport = sock.getsockname()[1]
    ruri = 'sip:%s:%d' % (args.dst, args.port)
    sock.sendto(request('OPTIONS', ruri, '%s:%d;branch=z9hG4bK%s' % (args.src, lport, token()),
                        '<sip:ping@%s>;tag=%s' % (args.src, token()), '<%s>' % ruri, '%s@%s' % (token(), args.src), 1,
                        ['User-Agent: byom-test-pinger']), (args.dst, args.port))
    sock.settimeout(0.5)
    code = None
    deadline = time.time() + args.timeout
    while time.time() < deadline:
        try:
            data = sock.recv(65535).decode(errors='replace')
        except socket.timeout:
            continue
        if (status(data) or 0) >= 200:
            code = status(data)
            break
    print(json.dumps({'code': code}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='mode')
    p_uas = sub.add_parser('uas')
    p_uas.add_argument('bind')
    p_uas.add_argument('port', type=int)
    p_uas.add_argument('log')
    p_uas.add_argument('--lifetime', type=float, default=1800.0)
    p_opt = sub.add_parser('options')
    p_opt.add_argument('src')
    p_opt.add_argument('dst')
    p_opt.add_argument('port', type=int)
    p_opt.add_argument('--timeout', type=float, default=5.0)
    args = ap.parse_args()
    if args.mode == 'uas':
        uas(args)
    elif args.mode == 'options':
        options(args)
    else:
        ap.error('mode: uas or options')


if __name__ == '__main__':
    main()
