# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Firewall reachability from outside the host: a second container (byom-sec-probe) on the
Docker bridge probes the deployed edge. Its primary address is an allowed SIP source
(telephony_carrier_sip_addresses in tests/security/inventory); a second address on the same
interface is not. Only the allowed ports may answer, and SIP only to the allowed source.
"""
from __future__ import absolute_import, division, print_function

import json

from byom_testlib import seclib

# What UFW must not let through from an arbitrary source (nothing else listens publicly).
CLOSED_TCP = [21, 23, 25, 80, 443, 2000, 3306, 5038, 5060, 5061, 8080, 8088, 8089, 9090, 9100]
CLOSED_UDP = [53, 69, 123, 161, 1900, 4569, 5000, 9999]


def probe(target, script, *args):
    out = seclib.sh(['docker', 'exec', target.probe, 'python3', '/%s' % script] + list(args), timeout=300).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_only_allowed_ports_answer(target):
    vps_ip = seclib.container_ip(target.name)
    spec = ','.join(['tcp:%d' % p for p in CLOSED_TCP] + ['udp:%d' % p for p in CLOSED_UDP])
    res = probe(target, 'portprobe.py', target.probe_ip, vps_ip, spec, '1.5')
    answering = dict((k, v) for k, v in res.items() if v != 'filtered')
    # SSH stays allowed (UFW opens it before enabling itself): open, or closed when no sshd runs.
    ssh = probe(target, 'portprobe.py', target.probe_ip, vps_ip, 'tcp:22', '1.5')['tcp:22']
    rtp = int(target.vars['telephony_rtp_port_start'])
    rtp_state = probe(target, 'portprobe.py', target.probe_ip, vps_ip, 'udp:%d' % (rtp + 2), '1.5')
    seclib.record('Firewall', 'ports from the probe container (%d TCP, %d UDP)' % (len(CLOSED_TCP), len(CLOSED_UDP)),
                  'answering: %s; ssh %s; RTP udp/%d %s' % (answering or 'none', ssh, rtp + 2, list(rtp_state.values())[0]),
                  not answering)
    assert not answering, 'ports that should be filtered answered: %s' % answering
    assert ssh in ('open', 'closed'), 'SSH must stay reachable (got %s): the firewall would lock the admin out' % ssh
    # RTP is open to any source: no listener outside a call gives an ICMP "closed", never "filtered".
    assert list(rtp_state.values()) == ['closed'], 'RTP port range not reachable: %s' % rtp_state


def test_sip_answers_only_allowed_sources(target):
    vps_ip = seclib.container_ip(target.name)
    octets = target.probe_ip.split('.')
    other = '.'.join(octets[:2] + ['250', octets[3]])
    seclib.sh(['docker', 'exec', target.probe, 'sh', '-c', 'ip addr show dev eth0 | grep -q "%s/" || '
               'ip addr add %s/32 dev eth0' % (other, other)])
    allowed = probe(target, 'sipprobe.py', target.probe_ip, vps_ip, '5060', 'OPTIONS', 'probe', '2', '2')
    denied = probe(target, 'sipprobe.py', other, vps_ip, '5060', 'OPTIONS', 'probe', '2', '2')
    allowed_n = len([a for a in allowed['answers'] if a.get('status')])
    denied_n = len([a for a in denied['answers'] if a.get('status')])
    seclib.record('Firewall', 'SIP OPTIONS from an allowed / a non-allowed source',
                  'answered %d/2 from %s, %d/2 from %s' % (allowed_n, target.probe_ip, denied_n, other),
                  allowed_n == 2 and denied_n == 0)
    assert allowed_n == 2, 'the allowed SIP source got no answer: %s' % allowed
    assert denied_n == 0, 'a non-allowed source got SIP answers: %s' % denied
