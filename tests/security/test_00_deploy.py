# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target deploys (first test of the session: the fixture does the work)."""
from __future__ import absolute_import, division, print_function

from byom_testlib import seclib


def test_target_deployed(target):
    out = target.sh("asterisk -rx 'pjsip show endpoints' | grep -c 'Endpoint:'").stdout.strip()
    seclib.record('Deployment', 'site.yml -vvv on byom-sec-vps', 'PJSIP endpoint lines: %s' % out, int(out) >= 2)
    assert int(out) >= 2
