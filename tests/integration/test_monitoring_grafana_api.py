# -*- coding: utf-8 -*-
"""The monitoring role's Grafana API tasks (community.grafana) run for real by ansible-playbook on
the controller against a Grafana HTTP API stand-in (tests/byom_testlib/grafana_standin.py:
Grafana cannot be installed here). What a user with a Grafana gets: the data source pointing at the configured Prometheus,
the dashboard as shipped in the configured folder, a quiet second run, a check mode that writes
nothing and reports what the run would create or put back, a wrong key that stops with a clear error and writes nothing, and the key in no output.
Not tested here: Grafana rendering the dashboard. A few seconds a run, no container."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from byom_testlib.grafana_standin import GrafanaStandIn
from byom_testlib.playbooks import changes

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
DASHBOARD = ROOT / 'roles' / 'monitoring' / 'files' / 'grafana' / 'dashboards' / 'byom-telephony.json'
KEY = 'glsa_k16StandInKey0123456789abcdef'
PROMETHEUS = 'http://10.20.30.40:9090'
FOLDER = 'byom-telephony'
# The check-mode stand-ins of the API tasks the modules cannot run in check mode.
CHECK_DATASOURCE = 'monitoring : Grafana | check mode, the data source would be created or updated'
CHECK_FOLDER = 'monitoring : Grafana | check mode, the folder and its dashboard would be created'

PLAY = """
- hosts: localhost
  connection: local
  gather_facts: false
  vars:
    monitoring_grafana_url: "%(url)s/"
    monitoring_grafana_api_key: "%(key)s"
    monitoring_grafana_datasource_url: "%(prometheus)s"
    monitoring_grafana_folder: "%(folder)s"
  tasks:
    - name: The role's Grafana part only
      ansible.builtin.include_role:
        name: byom.telephony.monitoring
        tasks_from: grafana
"""


@pytest.fixture(scope='module')
def standin():
    with GrafanaStandIn(KEY) as grafana:
        yield grafana


@pytest.fixture
def grafana(standin):
    standin.reset()
    return standin


def play(tmp_path, grafana, *args, key=KEY, expect_rc=0):
    (tmp_path / 'play.yml').write_text(PLAY % {'url': grafana.url, 'key': key, 'prometheus': PROMETHEUS, 'folder': FOLDER})
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / '.collections'), ANSIBLE_NOCOLOR='1',
               ANSIBLE_LOCALHOST_WARNING='false', ANSIBLE_INVENTORY_UNPARSED_WARNING='false')
    proc = subprocess.run([str(BIN / 'ansible-playbook'), 'play.yml', *args], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120, check=False)
    assert proc.returncode == expect_rc, proc.stdout[-4000:]
    # no_log: the key is in no output, whatever the outcome and verbosity.
    assert KEY not in proc.stdout and (key == KEY or key not in proc.stdout)
    changed = int(re.search(r'changed=(\d+)', proc.stdout).group(1))
    return changed, proc.stdout


def test_data_source_folder_and_dashboard_as_shipped_then_a_quiet_second_run(tmp_path, grafana):
    changed = play(tmp_path, grafana)[0]
    assert changed == 3
    state = grafana.state
    (ds,) = state.datasources.values()
    assert (ds['name'], ds['uid'], ds['type'], ds['url'], ds['access']) == \
        ('byom-prometheus', 'byom-prometheus', 'prometheus', PROMETHEUS, 'proxy')
    (folder,) = state.folders.values()
    assert folder['title'] == FOLDER
    shipped = json.loads(DASHBOARD.read_text())
    stored = state.dashboards[shipped['uid']]
    assert stored['folderId'] == folder['id']
    assert stored['dashboard']['title'] == shipped['title']
    assert stored['dashboard']['panels'] == shipped['panels']
    assert stored['dashboard']['templating'] == shipped['templating']

    writes = len(state.writes())
    changed, out = play(tmp_path, grafana)
    assert changed == 0, out[-3000:]
    assert len(state.writes()) == writes
    assert state.dashboards[shipped['uid']]['dashboard']['version'] == 1 and ds['version'] == 1


def test_a_dashboard_edited_in_grafana_is_put_back(tmp_path, grafana):
    play(tmp_path, grafana)
    uid = json.loads(DASHBOARD.read_text())['uid']
    edited = grafana.state.dashboards[uid]['dashboard']
    edited['panels'] = edited['panels'][:1]
    edited['version'] = 7  # saved several times in the UI since
    changed = play(tmp_path, grafana)[0]
    assert changed == 1
    assert grafana.state.dashboards[uid]['dashboard']['panels'] == json.loads(DASHBOARD.read_text())['panels']


def changed_tasks(out):
    return sorted(name for kind, name, _host in changes(out) if kind == 'TASK')


def test_check_mode_on_a_fresh_grafana_writes_nothing_and_reports_the_change(tmp_path, grafana):
    # -vvv: the read-only probes of check mode send the key in a header of their own.
    changed, out = play(tmp_path, grafana, '--check', '-vvv')
    # What the run would do: create the data source, and the folder with the dashboard in it.
    assert changed_tasks(out) == [CHECK_DATASOURCE, CHECK_FOLDER], out[-3000:]
    assert changed == 2
    assert 'Data source byom-prometheus is not in Grafana; the run creates it' in out
    assert grafana.state.writes() == []
    assert not grafana.state.datasources and not grafana.state.folders and not grafana.state.dashboards
    # Once converged, check mode has nothing to report.
    play(tmp_path, grafana)
    writes = len(grafana.state.writes())
    changed, out = play(tmp_path, grafana, '--check')
    assert changed == 0, out[-3000:]
    assert len(grafana.state.writes()) == writes


def test_check_mode_reports_a_data_source_edited_in_grafana_and_the_run_puts_it_back(tmp_path, grafana):
    play(tmp_path, grafana)
    (ds,) = grafana.state.datasources.values()
    ds['url'] = 'http://192.0.2.99:9090'   # pointed elsewhere in Grafana's UI
    writes = len(grafana.state.writes())
    changed, out = play(tmp_path, grafana, '--check')
    assert changed_tasks(out) == [CHECK_DATASOURCE] and changed == 1, out[-3000:]
    assert 'Data source byom-prometheus is different in Grafana; the run updates it' in out
    assert len(grafana.state.writes()) == writes and ds['url'] == 'http://192.0.2.99:9090'
    changed = play(tmp_path, grafana)[0]
    assert changed == 1
    assert grafana.state.datasource('byom-prometheus')['url'] == PROMETHEUS
    assert play(tmp_path, grafana, '--check')[0] == 0


def test_a_wrong_api_key_stops_with_a_clear_error_and_writes_nothing(tmp_path, grafana):
    wrong = 'glsa_wrongKey9876543210'
    out = play(tmp_path, grafana, key=wrong, expect_rc=2)[1]
    assert 'Unauthorized to perform action' in out
    assert 'data source through the API' in out
    assert grafana.state.writes() == []
    # Check mode skips the data source and folder modules: the dashboard task says it instead.
    out = play(tmp_path, grafana, '--check', key=wrong, expect_rc=2)[1]
    assert 'Invalid API key' in out and 'dashboard through the API' in out
    assert grafana.state.writes() == []
    assert not grafana.state.datasources and not grafana.state.folders and not grafana.state.dashboards


def test_the_key_is_in_no_output_even_at_high_verbosity(tmp_path, grafana):
    # play() asserts the key's absence; -vvv prints every module's arguments and results.
    changed, out = play(tmp_path, grafana, '-vvv')
    assert changed == 3 and '"grafana_api_key": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"' in out
