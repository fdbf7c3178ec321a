# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Toll-fraud battery: SIPp INVITEs (and a REFER) towards PSTN, international and premium
numbers and injection strings, from every kind of caller; a SIPp UAS on the carrier address
(127.0.0.3:5062) counts what reaches it. reached-carrier must be 0 for every attack, while an
authenticated Vapi call to an allowed US number (the positive control) must reach it: that
proves the counter and the route work, so a 0 means "refused", not "broken".
"""
from __future__ import absolute_import, division, print_function

import json
import os
import re
import time

import pytest

from byom_testlib import seclib

CARRIER_LOG = '/opt/sec/carrier_msg.log'
ALLOWED = '+15552230001'

# +1 area codes that are not the 50 states or Canada, or not geographic (the role's curated
# asterisk_nanp_refused_npas): revenue-share destinations that "_+1NXXNXXXXXX" used to reach.
NANP_REFUSED = ['242', '246', '264', '268', '284', '345', '441', '473', '649', '658', '664', '721', '758', '767',
                '784', '809', '829', '849', '868', '869', '876', '340', '670', '671', '684', '787', '939',
                '500', '521', '525', '529', '533', '544', '566', '577', '588', '600', '700', '900', '976']
NUMBERS = {
    'pstn': [ALLOWED, '15552230001', '5552230001', '+15552230002'],
    # E.164 and Vapi's default format (outboundLeadingPlusEnabled false: no '+').
    'nanp-foreign': ['+1%s2345678' % npa for npa in NANP_REFUSED] + ['1%s2345678' % npa for npa in NANP_REFUSED],
    'premium-intl': ['+881612345678', '881612345678', '+882345678901', '+883510012345', '+979123456789', '+80012345678',
                     '+870772001899', '+447012345678', '+449012345678', '+448712345678', '+4411800000'],
    'international': ['+442071838750', '011442071838750', '00442071838750', '+8613800138000'],
    'premium': ['+19005551234', '19005551234', '+19765551234', '+882345678901', '+4782000000'],
    'special': ['+1555123#0001', '*72+15551230001', '+1555,123,0001', '+15551230001&PJSIP/+19005551234@carrier',
                '+15551230001;phone-context=+1', '+19005551234@127.0.0.3', '+15551230001@127.0.0.3:5062',
                '+1555%26123', '${EXTEN}', '+1' + '5' * 300, 'A' * 2000],
}


POLICY_ONLY = ('nanp-foreign', 'premium-intl')


def attempts(sec):
    vapi_user = sec.vars['asterisk_vapi_inbound_username']
    vapi_pw = sec.vars['sec_secret_vapi_password']
    callers = [
        # (caller label, scenario, source, port, from_user, from_host, digest user, digest password)
        ('unknown address', 'attack_invite.xml', '127.0.0.5', 5080, 'attacker', '127.0.0.5', None, None),
        ('Vapi address, no auth', 'attack_invite.xml', '127.0.0.2', 5081, 'vapi', '127.0.0.2', None, None),
        ('Vapi address, wrong auth', 'attack_invite_auth.xml', '127.0.0.2', 5082, vapi_user, '127.0.0.2',
         vapi_user, 'wrong-' + vapi_pw[:4]),
        ('unknown address, forged From = Vapi trunk', 'attack_invite.xml', '127.0.0.5', 5083, vapi_user,
         '127.0.0.2', None, None),
        ('unknown address, forged From + real password', 'attack_invite_auth.xml', '127.0.0.5', 5084, 'vapi',
         '127.0.0.2', vapi_user, vapi_pw),
        ('carrier address (inbound only)', 'attack_invite.xml', '127.0.0.3', 5085, 'carrier', '127.0.0.3', None, None),
        ('Vapi, authenticated (dialplan policy)', 'attack_invite_auth.xml', '127.0.0.2', 5086, vapi_user,
         '127.0.0.2', vapi_user, vapi_pw),
        # A UDP spoofer using a peer's address never sees the answers: nothing is ACKed.
        ('Vapi address, spoofed (never ACKs)', 'attack_invite_noack.xml', '127.0.0.2', 5087, 'vapi', '127.0.0.2', None, None),
        ('carrier address, spoofed (never ACKs)', 'attack_invite_noack.xml', '127.0.0.3', 5088, 'carrier', '127.0.0.3',
         None, None),
    ]
    out = []
    for caller in callers:
        for category, numbers in sorted(NUMBERS.items()):
            # The curated +1/premium lists are dialplan policy: only an authenticated Vapi call
            # reaches the dialplan, the other callers are refused before it (kept short).
            if category in POLICY_ONLY and not caller[0].startswith('Vapi, authenticated'):
                continue
            for number in numbers:
                out.append(dict(id='a%03d' % len(out), caller=caller[0], category=category, scenario=caller[1],
                                src=caller[2], port=caller[3], from_user=caller[4], from_host=caller[5],
                                user=caller[6], password=caller[7], number=number))
    return out


@pytest.fixture(scope='module')
def carrier(target):
    target.sh("pkill -f 'sipp -sf /opt/sec/carrier_count_uas.xml' || true; rm -f %s" % CARRIER_LOG, check=False)
    seclib.sh(['docker', 'exec', '-d', target.name, 'sh', '-c',
               'timeout 1500 sipp -sf /opt/sec/carrier_count_uas.xml -i 127.0.0.3 -p 5062 -nostdin '
               '-trace_msg -message_file %s >/dev/null 2>&1' % CARRIER_LOG])
    time.sleep(1)
    # Without a reachable contact Asterisk would refuse even the positive control (CHANUNAVAIL).
    assert qualified(target, 'carrier'), 'the carrier stand-in does not answer qualify OPTIONS'
    yield target
    target.sh("pkill -f 'sipp -sf /opt/sec/carrier_count_uas.xml' || true", check=False)


def qualified(target, endpoint, timeout=20):
    """Have Asterisk qualify endpoint now and wait until Dial() would use its contact: Avail,
    or NonQual for an AOR with qualify off (asterisk_vapi_qualify_frequency defaults to 0;
    a manual qualify does not change that status). Unavail never counts."""
    def avail():
        target.sh("asterisk -rx 'pjsip qualify %s' >/dev/null" % endpoint, check=False)
        out = target.sh("asterisk -rx 'pjsip show contacts'", check=False).stdout
        return any(endpoint + '/' in line and re.search(r'\s(Avail|NonQual)\s', line + ' ')
                   for line in out.splitlines())
    return seclib.wait_for(avail, timeout=timeout, interval=1)


def run_battery(sec, items, name):
    path = os.path.join('/tmp', 'byom-sec-%s.json' % name)
    with open(path, 'w') as handle:
        json.dump(items, handle)
    seclib.sh(['docker', 'cp', path, '%s:/opt/sec/%s.json' % (sec.name, name)])
    proc = sec.sh('python3 /opt/sec/battery.py /opt/sec/%s.json %s' % (name, CARRIER_LOG), timeout=30 * len(items) + 60)
    return json.loads(proc.stdout)


def is_policy_allowed(item):
    """Only an authenticated Vapi call to a plain allowed US number may reach the carrier."""
    # '15552230001' is ALLOWED in Vapi's default format (no '+').
    return item['caller'].startswith('Vapi, authenticated') and item['number'] in (ALLOWED, '15552230001', '+15552230002')


def test_toll_fraud_battery(carrier):
    results = run_battery(carrier, attempts(carrier), 'battery')
    with open(os.path.join(os.environ.get('BYOM_SEC_OUT', '/tmp/byom-sec'), 'tollfraud.json'), 'w') as handle:
        json.dump(results, handle, indent=1)
    attacks = [r for r in results if not is_policy_allowed(r)]
    controls = [r for r in results if is_policy_allowed(r)]
    reached = [r for r in attacks if r['reached'] > 0]
    refused = [r for r in attacks if r['reached'] == 0]
    print('\ntoll-fraud battery: attempts %d / refused %d / reached-carrier %d' % (len(attacks), len(refused), len(reached)))
    by_caller = {}
    for r in attacks:
        row = by_caller.setdefault(r['caller'], {'attempts': 0, 'reached': 0, 'finals': {}})
        row['attempts'] += 1
        row['reached'] += r['reached']
        key = '%s' % (r['final'] or 'no answer')
        row['finals'][key] = row['finals'].get(key, 0) + 1
    for caller, row in sorted(by_caller.items()):
        finals = ', '.join('%s x%d' % kv for kv in sorted(row['finals'].items()))
        print('  %-48s attempts %3d reached %d  final responses: %s' % (caller, row['attempts'], row['reached'], finals))
        seclib.record('Toll fraud', caller, 'attempts %d / refused %d / reached-carrier %d' % (
            row['attempts'], row['attempts'] - len([r for r in attacks if r['caller'] == caller and r['reached']]),
            row['reached']), row['reached'] == 0, finals)
    seclib.record('Toll fraud', 'TOTAL', 'attempts %d / refused %d / reached-carrier %d' % (
        len(attacks), len(refused), len(reached)), not reached)
    control_ok = [r for r in controls if r['reached'] > 0]
    seclib.record('Toll fraud', 'positive control (Vapi, auth, allowed +1 NANP)', '%d/%d reached the carrier' % (
        len(control_ok), len(controls)), len(control_ok) == len(controls))
    assert not reached, 'reached the carrier: %s' % [(r['caller'], r['number'][:40], r['codes']) for r in reached]
    # Every attack got a final refusal or was silently dropped; nothing was answered.
    answered = [r for r in attacks if r['final'] == 200]
    assert not answered, 'answered: %s' % [(r['caller'], r['number'][:40]) for r in answered]
    assert len(control_ok) == len(controls), 'the positive control did not reach the carrier: %s' % controls


def test_no_configured_peer_banned_after_the_battery(carrier):
    """Every failure above from 127.0.0.2 (Vapi) and 127.0.0.3 (the carrier) - wrong digests, no
    digest, blocked and unknown numbers, spoofed INVITEs never ACKed - bans neither: the inventory
    does not list them in ignoreip, the role's production default keeps them out of reach."""
    out = carrier.sh('fail2ban-client status asterisk', check=False).stdout
    banned = (re.search(r'Banned IP list:\s*(.*)', out) or re.search(r'()$', '')).group(1).split()
    peers = [ip for ip in banned if ip in ('127.0.0.2', '127.0.0.3')]
    seclib.record('fail2ban (production ignoreip)', 'configured peers banned after the battery', '%d (banned: %s)' % (
        len(peers), ' '.join(banned) or 'none'), not peers and 'Banned IP list' in out)
    assert 'Banned IP list' in out, out
    assert not peers, out


def test_refer_to_premium_numbers(carrier):
    """Vapi's side (a rogue one) transfers an established call towards premium/international numbers."""
    did = carrier.vars['asterisk_dids'][0]
    allowed = carrier.vars['asterisk_vapi_transfer_numbers'][0]['number']
    targets = ['+19005551234', '+882345678901', '+442071838750', '+19005551234&PJSIP/+19005550000@carrier',
               '+15552239999', allowed]
    rows = []
    for number in targets:
        before = int(carrier.sh("grep -c '^INVITE sip:' %s || true" % CARRIER_LOG, check=False).stdout.strip() or 0)
        carrier.sh('rm -f /opt/sec/trace/refer.log /opt/sec/trace/refer_uac.log', check=False)
        seclib.sh(['docker', 'exec', '-d', carrier.name, 'sh', '-c',
                   'timeout 25 sipp -sf /opt/sec/vapi_uas_refer.xml -i 127.0.0.2 -p 5070 -m 20 -nostdin '
                   '-key refer_target "%s" -trace_msg -message_file /opt/sec/trace/refer.log >/dev/null 2>&1' % number])
        time.sleep(0.5)
        assert qualified(carrier, 'vapi'), 'the Vapi stand-in does not answer qualify OPTIONS'
        carrier.sh('timeout 30 sipp -sn uac -i 127.0.0.3 -p 5063 -s %s -d 6000 -m 1 -nostdin -timeout 20s '
                   '-trace_msg -message_file /opt/sec/trace/refer_uac.log 127.0.0.1:5060 >/dev/null 2>&1 || true' % did,
                   timeout=60, check=False)
        carrier.sh("pkill -f 'sipp -sf /opt/sec/vapi_uas_refer.xml' || true", check=False)
        time.sleep(1)
        after = int(carrier.sh("grep -c '^INVITE sip:' %s || true" % CARRIER_LOG, check=False).stdout.strip() or 0)
        trace = carrier.sh('cat /opt/sec/trace/refer.log 2>/dev/null || true', check=False).stdout
        sent = 'REFER sip:' in trace
        refer_codes = re.findall(r'SIP/2\.0 (\d{3})[^\n]*\n(?:[^\n]+\n)*?\s*CSeq:\s*1 REFER', trace)
        rows.append((number, sent, refer_codes, after - before))
    control = [r for r in rows if r[0] == allowed]
    rows = [r for r in rows if r[0] != allowed]
    reached = sum(r[3] for r in rows)
    sent = sum(1 for r in rows if r[1])
    for number, was_sent, codes, hits in rows + control:
        print('  REFER -> %-40s sent %s response %s reached-carrier %d' % (number[:40], was_sent, codes or 'none', hits))
    seclib.record('Toll fraud', 'REFER/transfer to premium/international', 'attempts %d (sent %d) / reached-carrier %d' % (
        len(rows), sent, reached), reached == 0 and sent == len(rows),
        '; '.join('%s:%s' % (r[0][:14], '/'.join(r[2]) or '-') for r in rows))
    seclib.record('Toll fraud', 'REFER positive control (allowlisted %s)' % allowed,
                  'response %s, reached-carrier %d' % ('/'.join(control[0][2]) or 'none', control[0][3]), control[0][3] > 0)
    assert sent == len(rows), 'the call to the DID was not set up, so no REFER was sent: %s' % rows
    assert reached == 0, rows
    # The allowlisted transfer does reach the carrier: the REFERs above were refused by policy,
    # not lost to a broken scenario.
    assert control[0][3] > 0, 'the allowlisted REFER did not reach the carrier: %s' % control
