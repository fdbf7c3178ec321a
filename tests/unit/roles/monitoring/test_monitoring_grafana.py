"""The Grafana artifacts, checked without a Grafana server (none can be installed here).

What a Grafana would reject or silently show empty, and what can be told from the files alone:
the provisioning files agree with the role and with each other, the dashboard's panels use
only core panel types, one data source variable and defined template variables, ids and grid
positions Grafana accepts, and docs/monitoring.md lists exactly these panels. That every panel's
query returns data is checked against a real Prometheus in molecule/monitoring (test_12); the
PromQL parses in test_monitoring_promtool.py. The community.grafana API tasks run against a
Grafana HTTP API stand-in in tests/integration/test_monitoring_grafana_api.py. Not tested: a real
Grafana loading and rendering the dashboard (docs/monitoring.md says so).
"""
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[4]
ROLE = ROOT / "roles" / "monitoring"
DASHBOARD = ROLE / "files" / "grafana" / "dashboards" / "byom-telephony.json"
PROVISIONING = ROLE / "files" / "grafana" / "provisioning"
# Panel types built into Grafana (no plugin to install).
CORE_PANELS = {"timeseries", "stat", "gauge", "bargauge", "table", "text", "state-timeline", "status-history", "heatmap",
               "barchart", "piechart", "logs", "row"}


def dashboard():
    return json.loads(DASHBOARD.read_text())


def grafana_tasks():
    return {t["name"]: t for t in yaml.safe_load((ROLE / "tasks" / "grafana.yml").read_text())}


def test_provisioning_points_where_the_role_copies_the_dashboard():
    providers = yaml.safe_load((PROVISIONING / "dashboards.yml").read_text())
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    copies = grafana_tasks()["Grafana | provisioning files for a local Grafana"]["loop"]
    json_dest = [c["dest"] for c in copies if c["src"].endswith("byom-telephony.json")]
    assert json_dest == [provider["options"]["path"] + "/byom-telephony.json"]
    dirs = grafana_tasks()["Grafana | provisioning directories for a local Grafana"]["loop"]
    assert provider["options"]["path"] in dirs


def test_provisioned_and_api_data_source_are_the_same():
    sources = yaml.safe_load((PROVISIONING / "datasource.yml").read_text())
    assert sources["apiVersion"] == 1
    (ds,) = sources["datasources"]
    # The API task and check mode's comparison both read the one declaration in vars/main.yml.
    declared = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["__monitoring_grafana_datasource"]
    api = grafana_tasks()["Grafana | data source through the API"]["community.grafana.grafana_datasource"]
    for option, field in (("name", "name"), ("uid", "uid"), ("ds_type", "type"), ("ds_url", "url"), ("access", "access")):
        assert api[option] == "{{ __monitoring_grafana_datasource.%s }}" % field, option
    assert (ds["name"], ds["uid"], ds["type"]) == (declared["name"], declared["uid"], declared["type"]) == \
        ("byom-prometheus", "byom-prometheus", "prometheus")
    assert ds["url"] == "${BYOM_PROMETHEUS_URL}"


def test_dashboard_identity_and_schema_fields():
    d = dashboard()
    assert d["uid"] == "byom-telephony" and len(d["uid"]) <= 40
    assert d["title"] and isinstance(d["schemaVersion"], int) and d["schemaVersion"] >= 36
    # Imported through the API with overwrite: an "id" would clash with the target Grafana's own.
    assert d.get("id") is None


def test_panels_use_core_types_unique_ids_and_fit_the_grid():
    panels = dashboard()["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), ids
    assert {p["type"] for p in panels} <= CORE_PANELS
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and 0 <= g["x"] and g["x"] + g["w"] <= 24, (p["title"], g)
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not cells & mine, f"panel {p['title']!r} overlaps another"
        cells |= mine


def test_every_query_uses_the_data_source_variable_and_defined_variables():
    d = dashboard()
    variables = {v["name"]: v for v in d["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    ds = {"type": "prometheus", "uid": "${datasource}"}
    for p in d["panels"]:
        assert p["datasource"] == ds, p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert refs and len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t.get("datasource", ds) == ds, p["title"]
            used = set(re.findall(r"\$\{?(\w+)", t["expr"])) - {"__rate_interval", "__interval", "__range"}
            assert used <= set(variables), (p["title"], used)
    # The edge filter lists every scraped host of the job the monitoring role generates.
    assert 'job="byom-edge"' in variables["edge"]["definition"]
    assert variables["edge"]["allValue"] == ".+" and variables["edge"]["multi"]


def test_docs_list_exactly_the_dashboard_panels():
    doc = (ROOT / "docs" / "monitoring.md").read_text()
    # The table under the "| panel | query ..." header, up to the first blank line.
    table = doc.split("## Dashboard", 1)[1].split("\n| panel |", 1)[1].split("\n\n", 1)[0]
    listed = re.findall(r"^\| ([^|]+?) \| `", table, re.M)
    assert sorted(listed) == sorted(p["title"] for p in dashboard()["panels"])
