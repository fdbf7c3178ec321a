"""The shipped alert rules, scrape configuration and dashboard queries, checked by promtool.

promtool comes from the distribution's prometheus package (scripts/host-packages.sh installs it
for `make test`); without it these tests fail rather than skip.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from byom_testlib import ROOT as TESTLIB_ROOT

ROOT = Path(TESTLIB_ROOT)
ROLE = ROOT / "roles" / "monitoring"
RULES = ROLE / "files" / "rules" / "byom-telephony.rules.yml"
RULE_TESTS = Path(__file__).resolve().parent / "promtool" / "byom-telephony.rules.test.yml"
# The ansible of the interpreter running the tests (the project venv), whatever PATH says.
ANSIBLE = str(Path(sys.executable).parent / "ansible") if (Path(sys.executable).parent / "ansible").exists() else "ansible"
DASHBOARD = ROLE / "files" / "grafana" / "dashboards" / "byom-telephony.json"


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    assert path, "promtool missing: run scripts/host-packages.sh (Debian package prometheus)"
    return path


def run(*argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def alerts():
    return [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "alert" in r]


def test_rules_are_valid(promtool):
    res = run(promtool, "check", "rules", str(RULES))
    assert res.returncode == 0, res.stdout + res.stderr


def test_rule_unit_tests_pass(promtool):
    res = run(promtool, "test", "rules", str(RULE_TESTS))
    assert res.returncode == 0, res.stdout + res.stderr


def test_every_alert_has_a_firing_and_a_silent_case():
    fired, silent = set(), set()
    for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for t in case.get("alert_rule_test", []):
            (fired if t.get("exp_alerts") else silent).add(t["alertname"])
    names = alerts()
    assert len(names) == len(set(names)) >= 14
    assert set(names) - fired == set(), "alerts without a test where they fire"
    assert set(names) - silent == set(), "alerts without a test where they stay silent"


def test_dashboard_queries_are_valid_promql(promtool, tmp_path):
    """Each panel query (the edge variable set to 'all') parses, via a recording rule."""
    dash = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 15
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"byom:dashboard_query_{i}", "expr": e.replace("$edge", ".+")} for i, e in enumerate(exprs)]}]}
    f = tmp_path / "dashboard.rules.yml"
    f.write_text(yaml.safe_dump(rules))
    res = run(promtool, "check", "rules", str(f))
    assert res.returncode == 0, res.stdout + res.stderr


def test_rendered_scrape_config_passes_promtool(promtool, tmp_path):
    """prometheus.yml.j2 rendered by Ansible for two edges and a proxy, checked like the role does."""
    (tmp_path / "rules").mkdir()
    shutil.copy(RULES, tmp_path / "rules" / RULES.name)
    (tmp_path / "byom-edge.password").write_text("x" * 16)
    inv = tmp_path / "hosts.yml"
    inv.write_text(yaml.safe_dump({"all": {"children": {"asterisk": {"hosts": {
        "edge-1": {"ansible_host": "192.0.2.10"}, "edge-2": {"ansible_host": "192.0.2.11", "edge_metrics_scrape_address": "10.0.0.11"}}},
        # The proxy tier is scraped too (site.yml runs edge_metrics on it).
        "sip_proxy": {"hosts": {"proxy-1": {"ansible_host": "192.0.2.20"}}},
        "monitoring": {"hosts": {"mon": {"ansible_connection": "local"}}}}}}))
    out = tmp_path / "prometheus.yml"
    extra = {
        "monitoring_prometheus_config_dir": str(tmp_path), "monitoring_prometheus_rules_dir": str(tmp_path / "rules"),
        "monitoring_alertmanager_targets": ["127.0.0.1:9093"],
        "monitoring_extra_scrape_configs": [{"job_name": "extra", "static_configs": [{"targets": ["127.0.0.1:9999"]}]}],
    }
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".collections"), ANSIBLE_ROLES_PATH=str(ROOT / "roles"))
    res = subprocess.run(
        [ANSIBLE, "mon", "-i", str(inv), "-m", "ansible.builtin.include_role",
         "-a", "name=byom.telephony.monitoring tasks_from=render_config.yml",
         "-e", json.dumps(dict(extra, monitoring_render_dest=str(out)))],
        capture_output=True, text=True, timeout=300, env=env, cwd=ROOT, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    cfg = yaml.safe_load(out.read_text())
    edge_job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "byom-edge")
    targets = {sc["labels"]["edge"]: sc["targets"] for sc in edge_job["static_configs"]}
    assert targets == {"edge-1": ["192.0.2.10:9100"], "edge-2": ["10.0.0.11:9100"], "proxy-1": ["192.0.2.20:9100"]}
    assert edge_job["basic_auth"]["password_file"] == str(tmp_path / "byom-edge.password")
    assert [j["job_name"] for j in cfg["scrape_configs"]] == ["prometheus", "byom-edge", "extra"]
    res = run(promtool, "check", "config", str(out))
    assert res.returncode == 0, res.stdout + res.stderr
