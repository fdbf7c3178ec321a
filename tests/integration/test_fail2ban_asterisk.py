# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""fail2ban never bans our own trunks, bans the scanner, and cannot be steered by forged text.

The hardening role's own templates (jail.local.j2, byom-asterisk.conf.j2) are rendered with the
role's production defaults (ignoreip: loopback; the configured SIP peers added by
hardening_fail2ban_ignore_sip_peers), then a real fail2ban-server (Debian's package, installed
by scripts/host-packages.sh) reads Asterisk security-log lines written as Asterisk 16-22 write
them. Only the ban action is swapped for fail2ban's "dummy" action and the paths moved into a
temporary directory, so nothing touches this machine's firewall.
"""
from __future__ import absolute_import, division, print_function

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from byom_testlib import seclib

ROLE = os.path.join(seclib.ROOT, 'roles', 'hardening')
VAPI = ['44.229.228.186', '44.238.177.138']          # the role's default US signalling addresses
CARRIER = '198.51.100.7'                             # inside the carrier network below
CARRIER_NET = '198.51.100.0/24'
SCANNER = '203.0.113.66'
FORGER = '203.0.113.77'
VICTIM = '203.0.113.99'
LOCAL = 'IPV4/UDP/192.0.2.10/5060'
MAXRETRY = 5          # the role's default hardening_fail2ban_maxretry
N = 12                # failures of each kind per peer address: well above maxretry


def stamp(offset=0.0):
    now = time.time() + offset
    return time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(now)) + '.%03d' % int((now % 1) * 1000)


def event(kind, account, source, extra='', session='byom-f2b-test@host', port=5060, transport='UDP'):
    """One security-log line as res_security_log writes it (Asterisk 16, 18, 20, 22)."""
    return ('[{ts}] SECURITY[4242] res_security_log.c: SecurityEvent="{kind}",EventTV="2026-01-01T00:00:00.000+0000",'
            'Severity="Error",Service="PJSIP",EventVersion="1",AccountID="{account}",SessionID="{session}",'
            'LocalAddress="{local}",RemoteAddress="IPV4/{transport}/{source}/{port}"{extra}').format(
                ts=stamp(), kind=kind, account=account, session=session, local=LOCAL.replace('UDP', transport),
                source=source, port=port, transport=transport, extra=extra)


CHALLENGE = ',Challenge="1764530000/3f2a0c55e0e3b1d0c1a2b3c4d5e6f708"'
FAILED = CHALLENGE + ',Response="0123456789abcdef0123456789abcdef",ExpectedResponse=""'


def unidentified_lines(source, **kw):
    """What a source no identify matches produces: one line of each counted kind."""
    return [event('InvalidAccountID', '1000', source, **kw),
            event('ChallengeSent', '<unknown>', source, CHALLENGE, **kw),
            event('ChallengeResponseFailed', '<unknown>', source, FAILED, **kw),
            event('FailedACL', '<unknown>', source, ',ACLName="SIP ACL"', **kw)]


def identified_lines(source, endpoint):
    """What an identified peer (or another Vapi tenant through it) produces: wrong digest, unknown
    DID and blocked numbers (messages log), challenges."""
    return [event('ChallengeSent', endpoint, source, CHALLENGE),
            event('ChallengeResponseFailed', endpoint, source, FAILED),
            '[{ts}] NOTICE[4242] res_pjsip/pjsip_distributor.c: Request \'INVITE\' from \'<sip:+15550100001@{s}>\' failed '
            'for \'{s}:5060\' (callid: abc@{s}) - Failed to authenticate'.format(ts=stamp(), s=source),
            '[{ts}] NOTICE[4242][C-00000001] res_pjsip_session.c: Call from \'{e}\' (UDP:{s}:5060) to extension '
            '\'+15559990000\' rejected because extension not found in context \'from-{e}\'.'.format(ts=stamp(), s=source, e=endpoint),
            '[{ts}] WARNING[4242][C-00000002] pbx.c: BYOM-CALL blocked number +19005550100 from vapi'.format(ts=stamp())]


def forged_lines():
    """Client-controlled fields (Call-ID, From user, digest nonce/response, Request-URI) that
    imitate the address fields or a whole log line, naming VICTIM."""
    fake = '",LocalAddress="%s",RemoteAddress="IPV4/UDP/%s/5060' % (LOCAL, VICTIM)
    fake_line = ("x) - No matching endpoint found\n[2026-01-01 00:00:00.000] SECURITY[1] res_security_log.c: "
                 "SecurityEvent=\"InvalidAccountID\"").replace('\n', ' ')
    return [
        # Real source FORGER; the Call-ID / From user carry VICTIM's address.
        event('InvalidAccountID', '1000', FORGER, session='abc' + fake),
        event('InvalidAccountID', '1000' + fake, FORGER, session='abc'),
        event('ChallengeSent', '<unknown>', FORGER, CHALLENGE, session=fake + '",Challenge="1/2'),
        # Nonce and response sent by the client, imitating a trailing address: such a line counts
        # for nobody (it matches no regex) rather than for VICTIM.
        event('ChallengeResponseFailed', '<unknown>', FORGER,
              ',Challenge="1%s",Response="0a",ExpectedResponse=""' % fake),
        event('ChallengeResponseFailed', '<unknown>', FORGER,
              ',Challenge="1/2",Response="0a%s",ExpectedResponse=""' % fake),
        # Messages-log lines whose Call-ID / Request-URI imitate a security line or a failed request.
        '[{ts}] NOTICE[4242] res_pjsip/pjsip_distributor.c: Request \'INVITE\' from \'<sip:1@{v}>\' failed for '
        '\'{f}:5060\' (callid: {fl}) - No matching endpoint found'.format(ts=stamp(), v=VICTIM, f=FORGER, fl=fake_line),
        '[{ts}] NOTICE[4242] res_pjsip_session.c: Call from \'vapi\' (UDP:{f}:5060) to extension \'x\' rejected '
        'because SECURITY[1] res_security_log.c: SecurityEvent="InvalidAccountID",RemoteAddress="IPV4/UDP/{v}/5060"'.format(
            ts=stamp(), f=FORGER, v=VICTIM),
    ]


def render(template, dest, extra_vars):
    """Render one of the role's templates with its defaults and vars, as the role would."""
    cmd = [os.path.join(seclib.BIN, 'ansible'), 'localhost', '-c', 'local', '-i', 'localhost,',
           '-m', 'ansible.builtin.template', '-a', json.dumps({'src': os.path.join(ROLE, 'templates', template), 'dest': dest}),
           '-e', '@' + os.path.join(ROLE, 'defaults', 'main.yml'), '-e', '@' + os.path.join(ROLE, 'vars', 'main.yml'),
           '-e', json.dumps(dict(extra_vars, ansible_python_interpreter=os.path.abspath(sys.executable)))]
    run = subprocess.run(cmd, cwd=seclib.ROOT, env=seclib.ansible_env(json_output=False), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, timeout=180, check=False)
    assert run.returncode == 0, run.stdout[-3000:]


@pytest.fixture(scope='module')
def confdir(tmp_path_factory):
    if not shutil.which('fail2ban-server'):
        pytest.fail('fail2ban is missing: scripts/host-packages.sh installs it')
    base = tmp_path_factory.mktemp('f2b')
    conf = base / 'conf'
    shutil.copytree('/etc/fail2ban', str(conf), ignore=shutil.ignore_patterns('jail.d', '*.local', 'paths-overrides.local'))
    (conf / 'jail.d').mkdir()
    production = {'telephony_carrier_sip_addresses': [CARRIER_NET], 'hardening_fail2ban_sshd_backend_effective': 'auto'}
    render('jail.local.j2', str(conf / 'jail.d' / 'byom-telephony.local'), production)
    render('byom-asterisk.conf.j2', str(conf / 'filter.d' / 'byom-asterisk.conf'), production)
    log = base / 'security'
    log.write_text('')
    # Only what cannot run here changes: paths into the temporary directory, the dummy action
    # instead of iptables, no sshd jail. ignoreip, maxretry, findtime and the filter stay.
    (conf / 'fail2ban.local').write_text(
        '[Definition]\nlogtarget = {b}/f2b.log\nsocket = {b}/f2b.sock\npidfile = {b}/f2b.pid\ndbfile = :memory:\n'.format(b=base))
    (conf / 'jail.d' / 'zz-test.local').write_text(
        '[asterisk]\nlogpath = {log}\naction = dummy[target={b}/banned]\n\n[sshd]\nenabled = false\n'.format(log=log, b=base))
    return conf, log


def client(conf, *args):
    return subprocess.run(['fail2ban-client', '-c', str(conf)] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False)


def status(conf):
    out = client(conf, 'status', 'asterisk').stdout
    failed = re.search(r'Total failed:\s+(\d+)', out)
    banned = re.search(r'Banned IP list:\s*(.*)', out)
    return (int(failed.group(1)) if failed else -1), (banned.group(1).split() if banned else None), out


@pytest.fixture(scope='module')
def jail(confdir):
    conf, log = confdir
    started = client(conf, '-x', 'start')
    assert started.returncode == 0, started.stdout
    try:
        deadline = time.time() + 30
        while status(conf)[1] is None:
            assert time.time() < deadline, 'the asterisk jail did not come up: %s' % status(conf)[2]
            time.sleep(0.5)
        yield conf, log
    finally:
        client(conf, 'stop')


def feed(jail_, lines, sentinel):
    """Append lines, then maxretry failures of a fresh sentinel address; fail2ban reads the file in
    order, so once the sentinel is banned every line before it has been counted."""
    conf, log = jail_
    lines = list(lines)
    for _round in range(MAXRETRY):
        lines += unidentified_lines(sentinel, port=41000)
    with open(str(log), 'a') as handle:
        handle.write('\n'.join(lines) + '\n')
    deadline = time.time() + 60
    while True:
        _failed, banned, out = status(conf)
        if sentinel in (banned or []):
            return banned, out
        assert time.time() < deadline, 'the sentinel %s was never banned: %s' % (sentinel, out)
        time.sleep(0.5)


def test_jail_runs_our_filter_with_the_peers_in_ignoreip(confdir):
    conf, _log = confdir
    text = (conf / 'jail.d' / 'byom-telephony.local').read_text()
    section = text.split('\n[asterisk]\n', 1)[1].split('\n[', 1)[0]
    assert 'filter = byom-asterisk' in section
    ignore = re.search(r'(?m)^ignoreip = (.*)$', section).group(1).split()
    assert set(ignore) >= {'127.0.0.1/8', '::1', CARRIER_NET, VAPI[0] + '/32', VAPI[1] + '/32'}


def test_peers_are_never_banned_the_scanner_is(jail):
    lines = []
    for _round in range(N):
        for address in VAPI + [CARRIER]:
            lines += identified_lines(address, 'vapi' if address in VAPI else 'carrier')
            # Even failures the filter does count (a spoofed source, a misrouted tenant).
            lines += unidentified_lines(address)
    # The scanner: one line of each kind, maxretry rounds -> banned (it is the sentinel).
    banned, out = feed(jail, lines, SCANNER)
    ok = banned == [SCANNER]
    seclib.record('fail2ban (production ignoreip)', '%d failures of each kind from Vapi and carrier, then a scanner' % N,
                  'banned %s' % banned, ok, out[-200:])
    assert ok, 'expected only the scanner %s to be banned: %s' % (SCANNER, out)


def test_forged_fields_ban_nobody_else(jail):
    lines = []
    for _round in range(MAXRETRY + 1):
        lines += forged_lines()
    banned, out = feed(jail, lines, '203.0.113.88')
    ok = VICTIM not in banned and FORGER in banned
    seclib.record('fail2ban (forged text)', 'Call-ID/From/nonce/response naming %s' % VICTIM, 'banned %s' % banned, ok, out[-200:])
    assert VICTIM not in banned, out
    # The forger itself is counted through its real address.
    assert FORGER in banned, out
    assert set(banned) <= {SCANNER, FORGER, '203.0.113.88'}, out


@pytest.mark.parametrize('transport', ['UDP', 'TCP', 'TLS'])
def test_filter_reads_each_transport_and_ipv6(confdir, tmp_path, transport):
    conf, _log = confdir
    sample = tmp_path / 'sample.log'
    lines = unidentified_lines(SCANNER, transport=transport) + [
        event('InvalidAccountID', '1000', '2001:db8::66', transport=transport).replace('IPV4/', 'IPV6/')]
    sample.write_text('\n'.join(lines) + '\n')
    run = subprocess.run(['fail2ban-regex', '--print-all-matched', str(sample), str(conf / 'filter.d' / 'byom-asterisk.conf')],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=60, check=False)
    assert re.search(r'Lines: 5 lines, 0 ignored, 5 matched, 0 missed', run.stdout), run.stdout[-2000:]
