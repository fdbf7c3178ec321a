# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A configuration change applied while calls are up drops none of them (reload, not restart).

SIPp holds CALLS calls carrier -> Asterisk -> Vapi (127.0.0.2:5070); while they are up,
site.yml (--tags asterisk) changes a PJSIP endpoint option (rtp_timeout) and a dialplan global
(VAPI_MAX_CALLS). Counted: calls SIPp saw fail, calls up before / after the play, and whether
Asterisk restarted (its system uptime) or reloaded.
"""
from __future__ import absolute_import, division, print_function

import re
import time

from byom_testlib import seclib
from test_tollfraud import qualified

CALLS = 10
HOLD_MAX_S = 200


def active_calls(target):
    """Answered calls: channels in state Up, two per bridged call (carrier leg + Vapi leg)."""
    out = target.sh("asterisk -rx 'core show channels concise'", check=False).stdout
    return len([line for line in out.splitlines() if '!Up!' in line]) // 2


def uptime(target):
    out = target.sh("asterisk -rx 'core show uptime seconds'", check=False).stdout
    system = re.search(r'System uptime:\s*(\d+)', out)
    reload_ = re.search(r'Last reload:\s*(\d+)', out)
    return (int(system.group(1)) if system else None, int(reload_.group(1)) if reload_ else None)


def test_config_change_during_calls_drops_nothing(target):
    did = target.vars['asterisk_dids'][0]
    # New values relative to what is deployed, so every run is a real change.
    current = target.sh("sed -n 's/^rtp_timeout=//p' /etc/asterisk/pjsip.conf | head -n1; "
                        "sed -n 's/^VAPI_MAX_CALLS=//p' /etc/asterisk/extensions.conf", check=False).stdout.split()
    rtp_timeout, max_calls = int(current[0]) + 1, int(current[1]) + 1
    # The stand-ins send no RTP: calls must end before Asterisk's rtp_timeout hangs them up.
    hold_s = min(HOLD_MAX_S, int(current[0]) - 15)
    target.sh('rm -rf /opt/sec/hold && mkdir -p /opt/sec/hold')
    seclib.sh(['docker', 'exec', '-d', '-w', '/opt/sec/hold', target.name, 'sh', '-c',
               'timeout %d sipp -sf /opt/sec/vapi_uas_hold.xml -i 127.0.0.2 -p 5070 -m %d -nostdin '
               '-trace_screen >uas.out 2>&1; echo $? >uas.rc' % (hold_s + 120, CALLS + 50)])
    time.sleep(1)
    assert qualified(target, 'vapi'), 'the Vapi stand-in does not answer qualify OPTIONS'
    seclib.sh(['docker', 'exec', '-d', '-w', '/opt/sec/hold', target.name, 'sh', '-c',
               'timeout %d sipp -sn uac -i 127.0.0.3 -p 5064 -s %s -d %d -l %d -m %d -r 5 -nostdin '
               '-trace_screen 127.0.0.1:5060 >uac.out 2>&1; echo $? >uac.rc' % (hold_s + 120, did, hold_s * 1000, CALLS, CALLS)])
    up = seclib.wait_for(lambda: active_calls(target) >= CALLS, timeout=30, interval=1)
    before = active_calls(target)
    system_before, _reload = uptime(target)
    assert up, 'only %d of %d calls came up before the change' % (before, CALLS)
    started = time.time()
    run, path = target.deploy('site-reload.log', args=['--tags', 'asterisk'],
                              env={'BYOM_SEC_RTP_TIMEOUT': str(rtp_timeout), 'BYOM_SEC_MAX_CALLS': str(max_calls)})
    play_s = time.time() - started
    during = active_calls(target)
    system_after, reload_after = uptime(target)
    config = target.sh("grep -c '^rtp_timeout=%d$' /etc/asterisk/pjsip.conf; grep -c '^VAPI_MAX_CALLS=%d$' "
                       "/etc/asterisk/extensions.conf" % (rtp_timeout, max_calls), check=False).stdout.split()
    # Let the calls run to their end and read SIPp's own verdict.

    def uac_done():
        return target.sh('cat /opt/sec/hold/uac.rc 2>/dev/null || true', check=False).stdout.strip()
    seclib.wait_for(uac_done, timeout=hold_s + 150, interval=5)
    screen = target.sh('cat /opt/sec/hold/*uac*screen.log 2>/dev/null || cat /opt/sec/hold/uac.out', check=False).stdout
    ok_calls = re.search(r'Successful call\s*\|\s*\d+\s*\|\s*(\d+)', screen)
    failed_calls = re.search(r'Failed call\s*\|\s*\d+\s*\|\s*(\d+)', screen)
    successful = int(ok_calls.group(1)) if ok_calls else None
    failed = int(failed_calls.group(1)) if failed_calls else None
    restarted = system_after is not None and system_before is not None and system_after < system_before
    reloaded = reload_after is not None and reload_after <= play_s + 5
    seclib.record('Reload during calls', '%d calls held, site.yml --tags asterisk (%.0fs)' % (CALLS, play_s),
                  'up before %d / after play %d; SIPp successful %s, failed %s; %s' % (
                      before, during, successful, failed,
                      'RESTARTED' if restarted else ('reloaded' if reloaded else 'no reload seen')),
                  run.rc == 0 and during == before and failed == 0 and successful == CALLS and not restarted and reloaded)
    assert run.rc == 0, 'the play failed: %s' % path
    assert during > 0, 'the calls ended before the play did (%.0fs play, %ds hold)' % (play_s, hold_s)
    assert len(config) == 2 and all(int(c) >= 1 for c in config), 'the change did not land in the config: %s' % config
    assert not restarted, 'Asterisk restarted (uptime %s -> %s)' % (system_before, system_after)
    assert reloaded, 'no reload happened during the play (last reload %ss ago, play %.0fs)' % (reload_after, play_s)
    assert during == before, 'calls up before the play %d, after %d' % (before, during)
    assert failed == 0 and successful == CALLS, screen[-2000:]
