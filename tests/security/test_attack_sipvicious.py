# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real SIP attack tools (sipvicious svmap, svwar, svcrack) against the deployed edge.

All traffic stays on the target container's loopback. Enumeration and cracking run from
127.0.0.5 (in fail2ban's ignoreip, so they measure Asterisk's answers, not the ban); the ban
test attacks from 127.0.0.4, which fail2ban must ban after maxretry failures, after which its
SIP and RTP packets are dropped by the kernel.
"""
from __future__ import absolute_import, division, print_function

import json
import re
import time

from byom_testlib import seclib

# tools/svsource.py pins the source address (sipvicious ignores -b in svwar/svcrack).
SV = 'cd /opt/sec && PYTHONPATH=/opt/sv timeout %d python3 /opt/sec/svsource.py %s %s'
EXISTING = ['vapi', 'carrier', 'byom-sec-vapi', 'byom-sec-carrier', 'vapi-inbound']
MISSING = ['zz-nobody', 'carrier2', 'alice', '100']


def sv(target, tool, args, limit=120, src='127.0.0.5'):
    proc = target.sh((SV % (limit, src, tool)) + ' -b %s ' % src + args + ' 2>&1', timeout=limit + 30, check=False)
    return proc.stdout


def probe(target, src, method, user, count=1, wait=2.0, port=5060):
    out = target.sh('python3 /opt/sec/sipprobe.py %s 127.0.0.1 %d %s %s %d %s' % (src, port, method, user, count, wait),
                    timeout=120).stdout
    return json.loads(out.strip().splitlines()[-1])


def signature(answers):
    """What a scanner can tell apart: status codes, reasons and header names (not tags or nonces)."""
    return [(a.get('status'), a.get('reason'), tuple(a.get('headers') or ())) for a in answers]


def test_svmap_finds_no_version(target):
    out = sv(target, 'svmap', '-p 5060 127.0.0.1', 60)
    leaked = re.findall(r'Asterisk[ /]?\d[\d.]*', out)
    rows = [line for line in out.splitlines() if '127.0.0.1:5060' in line]
    fingerprint = ' / '.join(cell.strip() for cell in rows[0].split('|')[2:] if cell.strip()) if rows else 'nothing'
    seclib.record('SIP attacks', 'svmap 127.0.0.1 (from 127.0.0.5)', 'found, user agent: %s' % fingerprint, not leaked)
    assert not leaked, 'the SIP server advertises its version: %s' % out


def test_no_endpoint_is_enumerable_with_svwar(target):
    names = ','.join(EXISTING + MISSING)
    found = {}
    for method in ('REGISTER', 'INVITE', 'OPTIONS'):
        out = sv(target, 'svwar', '-m %s -e %s -p 5060 127.0.0.1 --maximumtime 60' % (method, names), 90)
        rows = [line for line in out.splitlines() if re.match(r'^\|\s*\S+\s*\|', line) and 'Extension' not in line]
        found[method] = [line.split('|')[1].strip() for line in rows]
    hits = sum(len(v) for v in found.values())
    seclib.record('SIP attacks', 'svwar REGISTER/INVITE/OPTIONS, %d names' % len(EXISTING + MISSING),
                  'extensions found: %d %s' % (hits, found if hits else ''), hits == 0)
    assert hits == 0, 'svwar enumerated: %s' % found


def test_existing_and_missing_users_get_identical_answers(target):
    differences = []
    for method in ('REGISTER', 'INVITE', 'OPTIONS'):
        reference = signature(probe(target, '127.0.0.5', method, MISSING[0])['answers'])
        for user in EXISTING + MISSING[1:]:
            got = signature(probe(target, '127.0.0.5', method, user)['answers'])
            if got != reference:
                differences.append((method, user, got, reference))
    seclib.record('SIP attacks', 'responses existing vs missing users', '%d difference(s) over %d probes' % (
        len(differences), 3 * (len(EXISTING) + len(MISSING) - 1)), not differences)
    assert not differences, differences


def test_svcrack_cracks_nothing(target):
    real = target.vars['sec_secret_vapi_password']
    user = target.vars['asterisk_vapi_inbound_username']
    words = ['password', '123456', 'vapi', 'asterisk', user, 'byom', 'secret', 'changeme', 'letmein', 'admin']
    target.sh("printf '%s\\n' > /opt/sec/words.txt" % '\\n'.join(words))
    target.sh("printf '%s\\n' > /opt/sec/words_real.txt" % '\\n'.join(words + [real]))
    cracked = {}
    for name, wordlist in (('without', 'words.txt'), ('with', 'words_real.txt')):
        out = sv(target, 'svcrack', '-u %s -d /opt/sec/%s -p 5060 127.0.0.1 --maximumtime 60' % (
            user, wordlist), 90)
        cracked[name] = [line for line in out.splitlines() if re.match(r'^\|\s*%s\s*\|' % re.escape(user), line)]
        assert real not in out or name == 'with' and real not in '\n'.join(cracked[name])
    seclib.record('SIP attacks', 'svcrack %s, %d words (+ the real password)' % (user, len(words)),
                  'cracked: %d without, %d with the real password in the list' % (
                      len(cracked['without']), len(cracked['with'])), not cracked['without'] and not cracked['with'])
    assert not cracked['without'] and not cracked['with'], cracked


def f2b_banned(target):
    out = target.sh('fail2ban-client status asterisk', check=False).stdout
    return '127.0.0.4' in out.split('Banned IP list:')[-1] if 'Banned IP list:' in out else False


def drop_counter(target):
    """Packets the fail2ban asterisk chain dropped from 127.0.0.4 so far."""
    out = target.sh('iptables -L f2b-asterisk -n -v -x 2>/dev/null || true', check=False).stdout
    total = 0
    for line in out.splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[0].isdigit() and '127.0.0.4' in cols and cols[2] in ('DROP', 'REJECT'):
            total += int(cols[0])
    return total


def test_fail2ban_bans_the_attacker_then_drops_sip_and_rtp(target):
    maxretry = int(target.vars['hardening_fail2ban_maxretry'])
    target.sh('fail2ban-client set asterisk unbanip 127.0.0.4 >/dev/null 2>&1 || true', check=False)
    # Control: before the attack the attacker is answered like anyone else.
    before = probe(target, '127.0.0.4', 'OPTIONS', 'probe')['answers']
    assert before and before[0]['status'], 'no answer to 127.0.0.4 before the attack: %s' % before
    words = ['pw%02d' % i for i in range(20)]
    target.sh("printf '%s\\n' > /opt/sec/words_ban.txt" % '\\n'.join(words))
    out = sv(target, 'svcrack', '-u byom-sec-vapi -d /opt/sec/words_ban.txt -p 5060 127.0.0.1 --maximumtime 20',
             45, src='127.0.0.4')
    assert 'found nothing' in out or 'no more passwords' in out or out, out
    banned = seclib.wait_for(lambda: f2b_banned(target), timeout=30, interval=1)
    log = target.sh('cat /var/log/fail2ban.log 2>/dev/null || true', check=False).stdout
    # fail2ban's own log: when the maxretry-th failure was seen, and when the ban followed.
    found_before_ban, t_maxretry, t_ban = 0, None, None
    for line in log.splitlines():
        stamp = re.match(r'(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d+)', line)
        if not stamp:
            continue
        when = time.mktime(time.strptime(stamp.group(1), '%Y-%m-%d %H:%M:%S')) + int(stamp.group(2)) / 1000.0
        if re.search(r'\[asterisk\] Found 127\.0\.0\.4', line):
            found_before_ban += 1
            if found_before_ban == maxretry:
                t_maxretry = when
        if re.search(r'\[asterisk\] Ban 127\.0\.0\.4', line):
            t_ban = when
            break
    latency = (t_ban - t_maxretry) if t_ban and t_maxretry else None
    # After the ban: SIP gets no answer, SIP and RTP-range packets hit the DROP rule.
    dropped_before = drop_counter(target)
    sip_after = probe(target, '127.0.0.4', 'OPTIONS', 'probe', count=5, wait=1.0)['answers']
    target.sh('python3 /opt/sec/sipprobe.py 127.0.0.4 127.0.0.1 %d RAW x 10' % int(target.vars['telephony_rtp_port_start']))
    target.sh('python3 /opt/sec/sipprobe.py 127.0.0.4 127.0.0.1 %d RAW x 10' % (int(target.vars['telephony_rtp_port_start']) + 500))
    dropped = drop_counter(target) - dropped_before
    answered_after = [a for a in sip_after if a.get('status')]
    control = probe(target, '127.0.0.5', 'OPTIONS', 'probe')['answers']
    seclib.record('SIP attacks', 'fail2ban ban of 127.0.0.4 (svcrack, maxretry %d)' % maxretry,
                  'banned %s; %d failures logged before the ban, ban %.1fs after the %dth' % (
                      'yes' if banned else 'NO', found_before_ban, latency if latency is not None else -1, maxretry),
                  bool(banned) and latency is not None and latency <= 10)
    seclib.record('SIP attacks', 'after the ban: 5 SIP + 20 RTP-port packets',
                  'SIP answers %d, packets dropped by f2b-asterisk %d' % (len(answered_after), dropped),
                  not answered_after and dropped >= 25)
    assert banned, 'fail2ban did not ban 127.0.0.4: %s' % target.sh('fail2ban-client status asterisk', check=False).stdout
    # Log-based banning: the ban follows the maxretry-th failure within fail2ban's polling delay.
    assert latency is not None and latency <= 10, 'ban %s s after the %dth failure' % (latency, maxretry)
    assert not answered_after, 'the banned attacker still gets SIP answers: %s' % answered_after
    assert dropped >= 25, 'only %d of 25 packets from the banned address hit the DROP rule' % dropped
    assert control and control[0].get('status'), 'the unbanned control address got no answer either'
