# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Limits that bound a bill, observed with real calls on the deployed edge (Asterisk 22):
- every Vapi -> PSTN leg ends asterisk_vapi_max_call_duration seconds after answer (Dial's S()),
  while the two legs stay in a native RTP bridge;
- a trunk's max_calls_per_hour lets the hour's first call out and refuses the next with 503 and
  one WARNING line naming the trunk.
The inventory sets the cap to 20 s (the shipped 3600 s cannot be waited for) and adds the trunk
carrier_budget (one call per hour) for the route _+1213NXXXXXX.
"""
from __future__ import absolute_import, division, print_function

import json
import re
import time

from byom_testlib import seclib
from test_tollfraud import qualified

WORK = '/opt/sec/bill'
BUDGET_CARRIER_LOG = WORK + '/budget_carrier.log'
BUDGET_LINE = 'trunk carrier_budget hourly budget exhausted'


def channels_up(target):
    out = target.sh("asterisk -rx 'core show channels concise'", check=False).stdout
    return len([line for line in out.splitlines() if '!Up!' in line])


def uac_rc(target):
    """The Vapi-side SIPp's exit status once it has ended, else ''."""
    return target.sh('cat %s/uac.rc 2>/dev/null || true' % WORK, check=False).stdout.strip()


def test_duration_cap_ends_the_vapi_to_pstn_leg(target):
    cap = int(target.vars['asterisk_vapi_max_call_duration'])
    user, password = target.vars['asterisk_vapi_inbound_username'], target.vars['sec_secret_vapi_password']
    target.sh("pkill -f '[s]ipp -sf /opt/sec/carrier_' || true; rm -rf %s && mkdir -p %s" % (WORK, WORK), check=False)
    seclib.sh(['docker', 'exec', '-d', '-w', WORK, target.name, 'sh', '-c',
               'timeout %d sipp -sf /opt/sec/carrier_answer_uas.xml -rtp_echo -i 127.0.0.3 -p 5062 -mi 127.0.0.3 '
               '-nostdin -trace_msg -message_file carrier.msg >/dev/null 2>&1' % (cap + 90)])
    time.sleep(1)
    assert qualified(target, 'carrier'), 'the carrier stand-in does not answer qualify OPTIONS'
    seclib.sh(['docker', 'exec', '-d', '-w', WORK, target.name, 'sh', '-c',
               'timeout %d sipp -sf /opt/sec/vapi_uac_capped.xml -au %s -ap %s -i 127.0.0.2 -p 5091 -mi 127.0.0.2 '
               '-s +15552230001 -m 1 -nostdin -trace_msg -message_file uac.msg 127.0.0.1:5060 >/dev/null 2>&1; '
               'echo $? >uac.rc' % (cap + 60, user, password)])
    answered = seclib.wait_for(lambda: channels_up(target) >= 2 and time.time(), timeout=20, interval=0.25)
    assert answered, 'the call to the carrier was not answered'
    bridges = target.sh("asterisk -rx 'bridge show all'", check=False).stdout
    done = seclib.wait_for(lambda: uac_rc(target), timeout=cap + 45, interval=0.5)
    ended_after = time.time() - answered
    uac_msg = target.sh('cat %s/uac.msg 2>/dev/null || true' % WORK, check=False).stdout
    carrier_msg = target.sh('cat %s/carrier.msg 2>/dev/null || true' % WORK, check=False).stdout
    target.sh("pkill -f '[s]ipp -sf /opt/sec/carrier_answer_uas.xml' || true", check=False)
    bye_to_vapi = bool(re.search(r'^BYE sip:', uac_msg, re.M))
    bye_to_carrier = bool(re.search(r'^BYE sip:', carrier_msg, re.M))
    ok = done == '0' and bye_to_vapi and bye_to_carrier and 'native_rtp' in bridges and cap - 1 <= ended_after <= cap + 8
    seclib.record('Bill limits', 'duration cap (asterisk_vapi_max_call_duration %d s)' % cap,
                  'Vapi -> PSTN call ended by Asterisk %.1f s after answer; BYE to Vapi %s, to the carrier %s; '
                  'bridge %s' % (ended_after, bye_to_vapi, bye_to_carrier,
                                 'native_rtp' if 'native_rtp' in bridges else 'NOT native_rtp'), ok)
    assert done == '0', 'the Vapi-side SIPp did not get its BYE within the scenario (rc %r):\n%s' % (done, uac_msg[-2000:])
    assert bye_to_vapi and bye_to_carrier, 'Asterisk must end both legs'
    assert 'native_rtp' in bridges, bridges
    # The cap, not something earlier (rtp_timeout, a dial timeout) or much later, ended the call.
    assert cap - 1 <= ended_after <= cap + 8, ended_after


def test_hourly_budget_refuses_the_next_call_and_logs(target):
    user, password = target.vars['asterisk_vapi_inbound_username'], target.vars['sec_secret_vapi_password']
    # The count lives in AstDB per clock hour: start from none, whatever ran before.
    target.sh("asterisk -rx 'database deltree byom_budget' >/dev/null; mkdir -p %s; rm -f %s" % (WORK, BUDGET_CARRIER_LOG))
    before = target.sh('grep -c %r /var/log/asterisk/messages || true' % BUDGET_LINE, check=False).stdout.strip()
    seclib.sh(['docker', 'exec', '-d', target.name, 'sh', '-c',
               'timeout 120 sipp -sf /opt/sec/carrier_count_uas.xml -i 127.0.0.3 -p 5066 -nostdin '
               '-trace_msg -message_file %s >/dev/null 2>&1' % BUDGET_CARRIER_LOG])
    time.sleep(1)
    items = [dict(id='budget%d' % n, caller='Vapi, authenticated', category='budget', scenario='attack_invite_auth.xml',
                  src='127.0.0.2', port=5092 + n, from_user=user, from_host='127.0.0.2', user=user, password=password,
                  number='+12135550100') for n in range(2)]
    try:
        first, second = battery(target, items, BUDGET_CARRIER_LOG)
    finally:
        target.sh("pkill -f '[s]ipp -sf /opt/sec/carrier_count_uas.xml -i 127.0.0.3 -p 5066' || true", check=False)
    after = target.sh('grep -c %r /var/log/asterisk/messages || true' % BUDGET_LINE, check=False).stdout.strip()
    new_lines = int(after or 0) - int(before or 0)
    ok = first['reached'] == 1 and second['reached'] == 0 and second['final'] == 503 and new_lines == 1
    seclib.record('Bill limits', 'hourly budget (carrier_budget, max_calls_per_hour 1)',
                  'call 1: reached the carrier %d (final %s); call 2: reached %d, final %s; WARNING lines %d' % (
                      first['reached'], first['final'], second['reached'], second['final'], new_lines), ok)
    assert first['reached'] == 1, first
    assert second['reached'] == 0 and second['final'] == 503, second
    assert new_lines == 1, 'expected one "%s" line, got %d' % (BUDGET_LINE, new_lines)


def battery(target, items, carrier_log):
    """tools/battery.py (one SIPp call per item, carrier INVITEs counted per call) against carrier_log."""
    path = '/tmp/byom-sec-bill.json'
    with open(path, 'w') as handle:
        json.dump(items, handle)
    seclib.sh(['docker', 'cp', path, '%s:%s/items.json' % (target.name, WORK)])
    proc = target.sh('python3 /opt/sec/battery.py %s/items.json %s' % (WORK, carrier_log), timeout=30 * len(items) + 60)
    return json.loads(proc.stdout)
