"""`site.yml --check --diff` against a box that has never been deployed (the GitOps pull request
before the first deployment): it must finish, report what it would do, and change nothing -
neither on the box nor at Vapi.

Uses scripts/lab.sh with its own container and emulator port, so it can run next to a lab.
"""
import os
import re
from pathlib import Path

import pytest

from byom_testlib.lab import Lab, requires_docker
from byom_testlib.playbooks import recap

ROOT = Path(__file__).resolve().parents[2]
lab = Lab('byom-check-fresh-vps', int(os.environ.get('BYOM_CHECK_FRESH_EMULATOR_PORT', '8096')),
          ROOT / '.lab' / 'check-fresh', timeout=900)
box = lab.box
api_requests = lab.api_requests

pytestmark = requires_docker


def box_state():
    """What a deployment would leave behind, as one comparable snapshot."""
    probe = box('sh', '-c', 'for p in /usr/sbin/asterisk /etc/asterisk /usr/sbin/ufw /etc/fail2ban/jail.d '
                            '/etc/sysctl.d/60-byom-telephony.conf; do [ -e "$p" ] && echo "present $p"; done; '
                            'dpkg-query -W -f="${Package}\\n" | sort | sha256sum')
    assert probe.returncode == 0, probe.stdout
    return probe.stdout


@pytest.fixture(scope='module')
def fresh_box():
    lab('down', timeout=120)
    # `deploy` creates the container and the emulator, then runs site.yml with these arguments.
    # The first call is the check without python3-apt (the image has none).
    first = lab('deploy', '--check', '--diff')
    yield first
    lab('down', timeout=120)


def test_check_without_python3_apt_stops_early_naming_it(fresh_box):
    out = fresh_box.stdout
    assert fresh_box.returncode != 0, out[-3000:]
    assert 'needs the python3-apt package' in out, out[-3000:]
    # Stopped in the facts play: no role task ran.
    assert 'byom.telephony.hardening :' not in out, out[-3000:]


def test_check_diff_on_a_fresh_box_reports_and_changes_nothing(fresh_box):
    install = box('sh', '-c', 'DEBIAN_FRONTEND=noninteractive apt-get -qq -o Acquire::Check-Valid-Until=false update >/dev/null && '
                              'apt-get install -y -qq --no-install-recommends python3-apt >/dev/null', timeout=600)
    assert install.returncode == 0, install.stdout
    before = box_state()
    requests_before = len(api_requests())

    proc = lab('deploy', '--check', '--diff')
    out = proc.stdout
    assert proc.returncode == 0, out[-6000:]
    rc = recap(out)['byom-lab-vps']
    assert rc['failed'] == 0 and rc['unreachable'] == 0, rc
    # Everything is still to do: packages, firewall, Asterisk configuration, Vapi resources.
    assert rc['changed'] >= 10, rc
    blocks = {b.split(']', 1)[0]: b for b in out.split('\nTASK [')[1:]}
    for would in ('asterisk : Package install | Install Asterisk', 'asterisk : Configure | Configuration and log files',
                  "vapi : Ensure this host's BYO SIP trunk credential", 'hardening : UFW',
                  'hardening : Files | the enabled features'):
        hits = [b for name, b in blocks.items() if would in name]
        assert hits, f'no task {would!r} in the output'
        assert any(re.search(r'^changed: ', b, re.M) for b in hits), f'{would!r} not reported as a change:\n{hits[0][:3000]}'
    # The diff shows the configuration that would be written.
    assert '+[transport-udp]' in out, out[-4000:]
    # pjsip.conf holds the trunk passwords: reported as differing, its content not shown.
    assert 'not shown: the file holds secrets' in out, out[-4000:]

    assert box_state() == before, 'check mode changed the box'
    writes = [r for r in api_requests()[requests_before:] if r['method'] not in ('GET', 'HEAD')]
    assert writes == [], writes
    print(f"fresh-box check: changed={rc['changed']}, ok={rc['ok']}, API requests "
          f"{len(api_requests()) - requests_before} (0 writes)")
