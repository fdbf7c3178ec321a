# -*- coding: utf-8 -*-
"""site.yml end to end on a lab container with the Vapi emulator, through scripts/lab.sh.

One lab (its own container, emulator port and state directory, so it never touches a
developer's `make lab`) is brought up once for the module; the tests run in file order:

1. first run: deploys, places the demo call (answered, RTP both ways, setup time);
2. the emulator holds one trunk per host, the assistants, the numbers bound correctly;
3. a re-run reports changed=0 and the emulator saw only GETs;
4. GitOps drift: the assistant edited through the API (as in Vapi's dashboard), a config
   file edited on the box, a firewall rule deleted, a package removed, fail2ban stopped,
   Asterisk disabled at boot, the Vapi state file made world-readable; `--check --diff` shows
   them all and changes nothing;
5. a normal run repairs them; 6. `--check --diff` then shows nothing.
Secrets never appear in any output.
"""
import hashlib
import json
import os
import re
from pathlib import Path

import pytest

from byom_testlib.lab import Lab, requires_docker
from byom_testlib.playbooks import recap

ROOT = Path(__file__).resolve().parents[2]
VAPI_PASSWORD = 'lab-only-password-not-secret'    # asterisk_vapi_inbound_password in the lab
DID = '+15550100001'
ASSISTANT = 'byom-lab-receptionist'
TRUNK = 'byom-lab-vps'                                # byom-<host>, without doubling the prefix
# A file the asterisk role owns; drift is a line added by hand.
DRIFT_FILE = '/etc/asterisk/rtp.conf'
DRIFT_LINE = '; edited by hand on the box (drift test)'
DRIFT_MESSAGE = 'Edited in the dashboard (drift test)'
# Firewall and package drift: the carrier's SIP rule deleted by hand, a hardening package removed.
DRIFT_UFW_DELETE = ['ufw', 'delete', 'allow', 'proto', 'udp', 'from', '127.0.0.3', 'to', 'any', 'port', '5060']
# byom.telephony.ufw_ruleset's diff line for the rule it would add back.
DRIFT_UFW_DIFF = '+allow proto udp from 127.0.0.3 to any port 5060 comment byom-managed'
DRIFT_PACKAGE = 'unattended-upgrades'
# Service and secret-file drift: the roles read these in the same call as their files
# (byom.telephony.config_files) and call a module only when they differ, so the read must see them.
DRIFT_STATE_FILE = f'/var/lib/byom-telephony/vapi-{TRUNK}.json'   # the vapi role's edge state (0640)

# BYOM_SITE_TEST_CONTAINER: a knob, so two trees can run it side by side.
lab = Lab(os.environ.get('BYOM_SITE_TEST_CONTAINER', 'byom-mol-site-vps'), int(os.environ.get('BYOM_SITE_TEST_EMULATOR_PORT', '8097')),
          ROOT / '.lab' / 'site-test')
box, emulator, api_requests = lab.box, lab.emulator, lab.api_requests

pytestmark = requires_docker


def box_file_sha(path):
    out = box('sha256sum', path)
    assert out.returncode == 0, out.stdout
    return out.stdout.split()[0]


@pytest.fixture(scope='module')
def first_run():
    lab('down', timeout=120)
    proc = lab('up')
    yield proc
    lab('down', timeout=120)


def test_first_run_deploys_and_places_the_demo_call(first_run):
    out = first_run.stdout
    assert first_run.returncode == 0, out[-6000:]
    rc = recap(out)
    assert rc, 'no PLAY RECAP in the output:\n' + out[-3000:]
    assert all(h['failed'] == 0 and h['unreachable'] == 0 for h in rc.values()), rc
    assert rc['byom-lab-vps']['changed'] > 0, rc
    assert re.search(r'^call answered: yes', out, re.M), out[-3000:]
    media = re.search(r'^media flowed: yes \(RTP packets carrier->asterisk (\d+), asterisk->vapi (\d+), '
                      r'vapi->asterisk \(echo\) (\d+), asterisk->carrier (\d+)\)', out, re.M)
    assert media, out[-3000:]
    # uac_pcap plays ~8 s of 20 ms PCMA frames: a few hundred packets each way on every leg.
    assert all(int(n) >= 100 for n in media.groups()), media.group(0)
    setup = re.search(r'^setup time: ([\d.]+) ms', out, re.M)
    assert setup and float(setup.group(1)) < 2000, out[-3000:]
    print(f"first run: changed={rc['byom-lab-vps']['changed']}; {media.group(0)}; {setup.group(0)}")


def test_vapi_resources_created(first_run):
    state = emulator('GET', '/_emulator/state', auth=False)
    trunks = emulator('GET', '/credential')
    trunks = [c for c in trunks if c.get('provider') == 'byo-sip-trunk']
    assert [t['name'] for t in trunks] == [TRUNK], 'one trunk per host expected'
    trunk = trunks[0]
    assert trunk['gateways'][0]['ip'] == '127.0.0.1'
    assert trunk['gateways'][0].get('port', 5060) == 5060
    assert trunk['outboundAuthenticationPlan']['authUsername'] == 'byom-lab-vapi'
    assert 'authPassword' not in trunk['outboundAuthenticationPlan']
    # The write-only password reached Vapi (emulator's admin view keeps it).
    assert VAPI_PASSWORD in json.dumps(state)

    assistants = emulator('GET', '/assistant')
    assert [a['name'] for a in assistants] == [ASSISTANT]
    assistant = assistants[0]
    assert assistant['firstMessage'].startswith('Hello, you reached the byom lab')
    assert assistant['model']['model'] == 'gpt-4o-mini'

    numbers = emulator('GET', '/phone-number')
    assert [n['number'] for n in numbers] == [DID]
    assert numbers[0]['provider'] == 'byo-phone-number'
    assert numbers[0]['credentialId'] == trunk['id']
    assert numbers[0]['assistantId'] == assistant['id']

    # The asterisk role got the credential id; the lab overrides the contact with the UAS.
    aors = box('asterisk', '-rx', 'pjsip show aors')
    assert '127.0.0.2:5070' in aors.stdout, aors.stdout


def test_rerun_is_idempotent_and_only_reads_vapi(first_run):
    emulator('DELETE', '/_emulator/requests', auth=False)
    proc = lab('deploy')
    assert proc.returncode == 0, proc.stdout[-4000:]
    rc = recap(proc.stdout)
    assert rc['byom-lab-vps']['changed'] == 0, (rc, re.findall(r'^changed: .*$', proc.stdout, re.M))
    reqs = api_requests()
    assert reqs, 'the re-run made no Vapi request at all'
    assert {r['method'] for r in reqs} == {'GET'}, [(r['method'], r['path']) for r in reqs if r['method'] != 'GET']
    print(f'idempotent re-run: changed=0, {len(reqs)} Vapi requests, all GET')


@pytest.fixture(scope='module')
def drifted(first_run):
    assistant = [a for a in emulator('GET', '/assistant') if a['name'] == ASSISTANT][0]
    emulator('PATCH', f"/assistant/{assistant['id']}", {'firstMessage': DRIFT_MESSAGE})
    edit = box('sh', '-c', f"echo '{DRIFT_LINE}' >> {DRIFT_FILE}")
    assert edit.returncode == 0, edit.stdout
    rule = box(*DRIFT_UFW_DELETE)
    assert rule.returncode == 0 and 'deleted' in rule.stdout.lower(), rule.stdout
    package = box('env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'remove', '-y', '-q', DRIFT_PACKAGE)
    assert package.returncode == 0, package.stdout[-2000:]
    for cmd in (['systemctl', 'stop', 'fail2ban'], ['systemctl', 'disable', 'asterisk'], ['chmod', '0644', DRIFT_STATE_FILE]):
        done = box(*cmd)
        assert done.returncode == 0, (cmd, done.stdout)
    return {'assistant_id': assistant['id'], 'file_sha': box_file_sha(DRIFT_FILE), 'ufw': box('ufw', 'status').stdout}


def task_changed(out, name):
    """Whether the task whose name ends with `name` reported changed (its header up to the next one)."""
    return re.search(re.escape(name) + r'\] \**\n(?:(?!TASK \[).*\n)*?changed: ', out) is not None


def service_and_mode_drift():
    return (box('systemctl', 'is-active', 'fail2ban').stdout.strip(), box('systemctl', 'is-enabled', 'asterisk').stdout.strip(),
            box('stat', '-c', '%a', DRIFT_STATE_FILE).stdout.strip())


def test_check_diff_reports_drift_and_changes_nothing(drifted):
    emulator('DELETE', '/_emulator/requests', auth=False)
    proc = lab('deploy', '--check', '--diff')
    out = proc.stdout
    assert proc.returncode == 0, out[-4000:]
    rc = recap(out)
    assert rc['byom-lab-vps']['changed'] >= 4, rc
    # The drifts are shown in the diff: the dashboard edit and the hand edit ...
    assert DRIFT_MESSAGE in out, out[-4000:]
    assert DRIFT_LINE in out, out[-4000:]
    # ... and reported: the missing firewall rule and the missing package.
    assert re.search(r'^' + re.escape(DRIFT_UFW_DIFF) + r'$', out, re.M), out[-4000:]
    # (--diff prints apt's plan between the task header and its status line)
    assert re.search(r'Install \| packages of the enabled features\] \**\n(?:(?!TASK \[).*\n)*?changed: ', out), out[-4000:]
    # ... the stopped and the disabled service, the state file's mode.
    assert task_changed(out, 'Fail2ban | running and enabled'), out[-4000:]
    assert task_changed(out, 'Configure | Asterisk runs and starts at boot'), out[-4000:]
    assert f'{DRIFT_STATE_FILE} (owner:group mode)' in out and '+root:root 0640' in out, out[-4000:]
    # ... and nothing was changed.
    assert service_and_mode_drift() == ('inactive', 'disabled', '644')
    assert {r['method'] for r in api_requests()} == {'GET'}
    assistant = emulator('GET', f"/assistant/{drifted['assistant_id']}")
    assert assistant['firstMessage'] == DRIFT_MESSAGE
    assert box_file_sha(DRIFT_FILE) == drifted['file_sha']
    assert box('ufw', 'status').stdout == drifted['ufw']
    assert box('dpkg-query', '-W', '-f', '${db:Status-Status}', DRIFT_PACKAGE).stdout.strip() != 'installed'


def test_normal_run_repairs_drift(drifted):
    proc = lab('deploy')
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert recap(proc.stdout)['byom-lab-vps']['changed'] >= 2
    assistant = emulator('GET', f"/assistant/{drifted['assistant_id']}")
    assert assistant['firstMessage'].startswith('Hello, you reached the byom lab')
    content = box('cat', DRIFT_FILE).stdout
    assert DRIFT_LINE not in content
    assert re.search(r'^5060/udp +ALLOW +127\.0\.0\.3 ', box('ufw', 'status').stdout, re.M)
    assert box('dpkg-query', '-W', '-f', '${db:Status-Status}', DRIFT_PACKAGE).stdout.strip() == 'installed'
    assert service_and_mode_drift() == ('active', 'enabled', '640')


def test_check_diff_is_clean_after_repair(drifted):
    emulator('DELETE', '/_emulator/requests', auth=False)
    proc = lab('deploy', '--check', '--diff')
    assert proc.returncode == 0, proc.stdout[-4000:]
    rc = recap(proc.stdout)
    assert rc['byom-lab-vps']['changed'] == 0, (rc, re.findall(r'^changed: .*$', proc.stdout, re.M))
    assert {r['method'] for r in api_requests()} == {'GET'}


def test_no_secret_in_any_output(first_run):
    assert lab.outputs
    for out in lab.outputs:
        assert VAPI_PASSWORD not in out
        assert hashlib.sha256(VAPI_PASSWORD.encode()).hexdigest() not in out
