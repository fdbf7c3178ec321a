# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The proof of load sees SIP objects the role did not write.

A wizard trunk left in /etc/asterisk/pjsip_wizard.conf (a file the role does not manage; the
config wizard module is loaded by default) adds an endpoint, an AOR and an identify that route
into [from-vapi]. The next run of the role must fail in its proof of load and name them; with
the file restored, the run passes again (so the failure came from the extra objects).
"""
from __future__ import absolute_import, division, print_function

import re

from byom_testlib import seclib

WIZARD = '/etc/asterisk/pjsip_wizard.conf'
SAVED = '/opt/sec/pjsip_wizard.conf.orig'
LEFTOVER = """
[byom-leftover]
type = wizard
sends_auth = no
accepts_auth = no
remote_hosts = 127.0.0.7
endpoint/context = from-vapi
"""


def endpoints(target):
    return target.sh("asterisk -rx 'pjsip show endpoints'", check=False).stdout


def test_an_endpoint_the_role_did_not_write_fails_the_run(target):
    target.sh('test -e %s || touch %s; cp -p %s %s' % (WIZARD, WIZARD, WIZARD, SAVED))
    try:
        target.sh("cat >>%s <<'EOF'\n%s\nEOF\nasterisk -rx 'module reload res_pjsip_config_wizard.so' >/dev/null"
                  % (WIZARD, LEFTOVER))
        assert seclib.wait_for(lambda: 'byom-leftover' in endpoints(target), timeout=15, interval=1), \
            'the wizard trunk did not load: %s' % endpoints(target)
        run, path = target.deploy('site-leftover.log', args=['--tags', 'asterisk'])
        named = re.findall(r'byom-leftover', run.output)
        failed_in_proof = 'does not run the configuration as written' in run.output
    finally:
        target.sh("cp -p %s %s && asterisk -rx 'module reload res_pjsip_config_wizard.so' >/dev/null" % (SAVED, WIZARD),
                  check=False)
    gone = seclib.wait_for(lambda: 'byom-leftover' not in endpoints(target), timeout=15, interval=1)
    if not gone:
        # Older config wizards keep removed objects until a restart.
        target.sh("asterisk -rx 'core restart now' >/dev/null; sleep 5", check=False)
        gone = seclib.wait_for(lambda: 'byom-leftover' not in endpoints(target), timeout=60, interval=2)
    clean, clean_path = target.deploy('site-leftover-removed.log', args=['--tags', 'asterisk'])
    ok = run.rc != 0 and failed_in_proof and bool(named) and clean.rc == 0
    seclib.record('Proof of load', 'an endpoint from a file the role does not write (pjsip_wizard.conf)',
                  'run rc %d, proof of load failed: %s, names it: %s; restored: rc %d' % (
                      run.rc, failed_in_proof, bool(named), clean.rc), ok)
    assert run.rc != 0, 'the run passed with an extra endpoint loaded: %s' % path
    assert failed_in_proof and named, 'the run failed, but not in the proof of load naming byom-leftover: %s' % path
    assert gone, 'the leftover endpoint did not go away after the file was restored'
    assert clean.rc == 0, 'the run fails without the leftover too: %s' % clean_path
