# -*- coding: utf-8 -*-
# Copyright: byom.telephony contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Secrets after the full lab-like deployment at -vvv: no secret value in the run's output, in
any log on the host, or anywhere on the host it has no business being; files that must hold
one (Asterisk's digest credentials) are not world-readable.
"""
from __future__ import absolute_import, division, print_function

import os
import stat

from byom_testlib import seclib

# Where each secret may legitimately live on the SIP edge (config Asterisk reads).
ALLOWED_ON_HOST = {
    'sec_secret_vapi_password': True,
    'sec_secret_carrier_password': True,
    'sec_secret_api_key': False,
    'sec_secret_hook': False,
}


def test_no_secret_in_the_vvv_output(target):
    with open(target.site_log) as handle:
        output = handle.read()
    hits = dict((name, output.count(value)) for name, value in target.secrets.items())
    seclib.record('Secrets', 'site.yml -vvv output (%d lines)' % output.count('\n'),
                  'hits: %s' % ', '.join('%s %d' % (k.replace('sec_secret_', ''), v) for k, v in sorted(hits.items())),
                  not any(hits.values()))
    assert not any(hits.values()), hits


def test_no_secret_in_any_log_on_the_host(target):
    hits = {}
    for name, value in target.secrets.items():
        out = target.sh("grep -rlF -- '%s' /var/log /root/.ansible /tmp /var/tmp 2>/dev/null || true" % value,
                        check=False).stdout.split()
        if out:
            hits[name] = out
    seclib.record('Secrets', 'logs and temp dirs on the host', 'files with a secret: %d' % sum(len(v) for v in hits.values()),
                  not hits, '%s' % hits if hits else '')
    assert not hits, hits


def test_secret_files_are_not_world_readable(target):
    misplaced, exposed, holders = {}, [], set()
    for name, value in target.secrets.items():
        # /opt holds only the suite's own tooling (/opt/sec: attack word lists, SIPp inputs).
        files = target.sh("grep -rlF --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev --exclude-dir=run "
                          "--exclude-dir=opt -- '%s' / 2>/dev/null || true" % value, check=False, timeout=600).stdout.split()
        if files and not ALLOWED_ON_HOST[name]:
            misplaced[name] = files
        holders.update(files)
    for path in sorted(holders):
        mode = int(target.sh("stat -c '%%a' '%s'" % path).stdout.strip(), 8)
        owner = target.sh("stat -c '%%U:%%G' '%s'" % path).stdout.strip()
        if mode & stat.S_IROTH or mode & stat.S_IWOTH:
            exposed.append('%s %o %s' % (path, mode, owner))
    listing = ', '.join('%s %s' % (p, target.sh("stat -c '%%a %%U:%%G' '%s'" % p).stdout.strip()) for p in sorted(holders))
    seclib.record('Secrets', 'files holding secrets on the host', listing or 'none', not exposed and not misplaced and holders)
    assert holders, 'no file holds the Vapi digest password: Asterisk could not authenticate Vapi'
    assert not exposed, 'world-readable: %s' % exposed
    assert not misplaced, 'secrets the SIP edge never needs were written to it: %s' % misplaced


def test_controller_side_leftovers(target):
    """The controller keeps no secret either (ansible's temp dirs)."""
    hits = []
    tmp = os.path.expanduser('~/.ansible/tmp')
    for root, _dirs, files in os.walk(tmp) if os.path.isdir(tmp) else []:
        for name in files:
            try:
                with open(os.path.join(root, name), errors='replace') as handle:
                    text = handle.read()
            except (IOError, OSError):
                continue
            hits += [(os.path.join(root, name), k) for k, v in target.secrets.items() if v in text]
    seclib.record('Secrets', 'controller ~/.ansible/tmp', 'files with a secret: %d' % len(hits), not hits)
    assert not hits, hits
