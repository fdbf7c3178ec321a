# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A minimal SIP UAC (UDP) for one call attempt, run INSIDE a test container with its python3
(the images carry no SIPp): INVITE from a chosen source address, answer a digest challenge,
CANCEL a call still ringing after --cancel-after seconds, ACK the final reply, BYE a 200.
Prints one JSON line: {"codes": [...every status received...], "final": <last final status>}.

usage: python3 sip_uac.py SRC_IP DST_IP DST_PORT NUMBER [--user U --password P]
                          [--header 'Name: value'] [--cancel-after S] [--timeout S] [--ruri-host H[:P]]
--ruri-host: the Request-URI's host (default DST_IP:DST_PORT), e.g. a registered Contact the
INVITE reaches through a proxy.
Standard library only (it runs on the bare container images); bounded: one call, --timeout.
Needs sip_peer.py next to it (its request builder and reply parsing).
"""
import argparse
import hashlib
import json
import re
import socket
import time

from sip_peer import header, request as sip_request, status, token


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()  # nosec - SIP digest (RFC 2617) is MD5


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('src')
    ap.add_argument('dst')
    ap.add_argument('port', type=int)
    ap.add_argument('number')
    ap.add_argument('--user', default='')
    ap.add_argument('--password', default='')
    ap.add_argument('--header', action='append', default=[])
    ap.add_argument('--cancel-after', type=float, default=2.0)
    ap.add_argument('--timeout', type=float, default=15.0)
    ap.add_argument('--ruri-host', default='')
    args = ap.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((args.src, 0))
    lport = sock.getsockname()[1]
    target = (args.dst, args.port)
    call_id = '%s@%s' % (token(), args.src)
    tag = token()
    ruri = 'sip:%s@%s' % (args.number, args.ruri_host or '%s:%d' % (args.dst, args.port))
    state = {'cseq': 1, 'branch': '', 'auth': '', 'to': ''}
    sdp = ('v=0\r\no=uac 1 1 IN IP4 {0}\r\ns=-\r\nc=IN IP4 {0}\r\nt=0 0\r\n'
           'm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n'
           'a=sendrecv\r\n').format(args.src)

    def request(method, cseq, branch, to_hdr, body='', extra=()):
        sock.sendto(sip_request(method, ruri, '%s:%d;branch=%s' % (args.src, lport, branch),
                                '<sip:+15550009999@%s>;tag=%s' % (args.src, tag), to_hdr, call_id, cseq,
                                ['Contact: <sip:uac@%s:%d>' % (args.src, lport), 'User-Agent: byom-test-uac'] + list(extra),
                                body), target)

    def invite():
        state['branch'] = 'z9hG4bK' + token()
        extra = list(args.header) + ([state['auth']] if state['auth'] else [])
        request('INVITE', state['cseq'], state['branch'], '<%s>' % ruri, sdp, extra)

    codes, final = [], None
    invite()
    sent_at = time.time()
    cancelled = False
    deadline = time.time() + args.timeout
    sock.settimeout(0.2)
    while time.time() < deadline:
        if not cancelled and codes and final is None and time.time() - sent_at > args.cancel_after:
            request('CANCEL', state['cseq'], state['branch'], '<%s>' % ruri)
            cancelled = True
        try:
            data = sock.recv(65535).decode(errors='replace')
        except socket.timeout:
            continue
        code = status(data)
        if code is None:
            continue
        cseq_method = re.search(r'^CSeq:\s*\d+\s+(\w+)', data, re.M | re.I)
        if cseq_method and cseq_method.group(1).upper() != 'INVITE':
            continue
        codes.append(code)
        if code < 200:
            continue
        to_hdr = header(data, 'To', 't')[0]
        if code >= 300:
            request('ACK', state['cseq'], state['branch'], to_hdr)
        if code in (401, 407) and not state['auth'] and args.user:
            chal = re.search(r'^(?:WWW|Proxy)-Authenticate:\s*Digest\s+(.+?)\r?$', data, re.M | re.I).group(1)
            params = dict(re.findall(r'(\w+)="?([^",]*)"?', chal))
            ha1 = md5('%s:%s:%s' % (args.user, params['realm'], args.password))
            ha2 = md5('INVITE:%s' % ruri)
            cnonce, nc = token(), '00000001'
            if 'auth' in params.get('qop', '').split(','):
                resp = md5('%s:%s:%s:%s:auth:%s' % (ha1, params['nonce'], nc, cnonce, ha2))
                qop = ', qop=auth, nc=%s, cnonce="%s"' % (nc, cnonce)
            else:
                resp = md5('%s:%s:%s' % (ha1, params['nonce'], ha2))
                qop = ''
            name = 'Authorization' if code == 401 else 'Proxy-Authorization'
            state['auth'] = ('%s: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
                             'algorithm=MD5%s' % (name, args.user, params['realm'], params['nonce'], ruri, resp, qop))
            state['cseq'] += 1
            invite()
            sent_at = time.time()
            continue
        final = code
        if code < 300:
            request('ACK', state['cseq'], 'z9hG4bK' + token(), to_hdr)
            request('BYE', state['cseq'] + 1, 'z9hG4bK' + token(), to_hdr)
        break
    print(json.dumps({'codes': codes, 'final': final}))


if __name__ == '__main__':
    main()
