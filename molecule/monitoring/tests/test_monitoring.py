"""End to end: a real Prometheus (container prom) scrapes a real edge (container edge).

Series are read back through Prometheus's HTTP API on the prom container, so every assertion
covers the whole path: Asterisk/fail2ban/kernel -> collector -> node-exporter (Basic Auth,
UFW) -> Prometheus (scrape, rules). Every wait is bounded.
"""
import json
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import testinfra

from sipp_lab import Uas, cli, responses, uac, wait_background

testinfra_hosts = ["byom-mol-monitoring-edge"]
PROM = testinfra.get_host("docker://byom-mol-monitoring-prom")
EDGE_NAME = "byom-mol-monitoring-edge"
ROOT = Path(__file__).resolve().parents[3]
DASHBOARD = ROOT / "roles" / "monitoring" / "files" / "grafana" / "dashboards" / "byom-telephony.json"
SCRAPE_USER, SCRAPE_PASS = "prometheus", "lab-scrape-secret-0123"
AST_PASS = "lab-ast-metrics-0123"
DID = "+15551230001"
RESPONDER = "/tmp/byom-options-responder"


def query(expr):
    """Instant query on the prom container; returns {frozenset(labels): value}."""
    url = "http://127.0.0.1:9090/api/v1/query?query=" + urllib.parse.quote(expr)
    out = PROM.check_output(f"curl -sf --max-time 10 '{url}'")
    data = json.loads(out)
    assert data["status"] == "success", data
    return {frozenset((k, v) for k, v in r["metric"].items() if k not in ("instance", "job")): float(r["value"][1])
            for r in data["data"]["result"]}


def wait_for(expr, predicate, limit=60, what=""):
    last = None
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        last = query(expr)
        if predicate(last):
            return last
        time.sleep(2)
    raise AssertionError(f"{what or expr}: not reached in {limit}s, last result {last}")


def value(result, **labels):
    want = set(labels.items())
    vals = [v for k, v in result.items() if want <= set(k)]
    return vals[0] if len(vals) == 1 else None


def curl_code(host, url, auth=None):
    a = f"-u '{auth}' " if auth else ""
    return host.check_output(f"curl -s -o /dev/null -w '%{{http_code}}' --max-time 5 {a}'{url}' || true")


@pytest.fixture(scope="module", autouse=True)
def scraped(host):
    wait_for('up{job="byom-edge"}', lambda r: list(r.values()) == [1.0], limit=90, what="edge scraped")
    wait_for("byom_asterisk_metrics_up", lambda r: list(r.values()) == [1.0], limit=30)


def test_01_carrier_peer_stops_answering(host):
    """Qualify peer up -> silenced: the contact goes down and the alert becomes active.
    test_99 waits for it to fire, so the alert's `for` elapses while the other tests run."""
    host.run(f"kill $(cat {RESPONDER}.pid 2>/dev/null) 2>/dev/null")
    cmd = (f"setsid -f sh -c 'echo $$ > {RESPONDER}.pid; exec timeout 120 sipp -sf /opt/byom-sipp/options_responder.xml "
           f"-i 127.0.0.3 -p 5080 -m 100 -nostdin >/dev/null 2>&1'")
    assert host.run(cmd).rc == 0
    up = wait_for('byom_pjsip_contact_up{aor="carrier1"}', lambda r: list(r.values()) == [1.0], limit=60)
    rtt = query('byom_pjsip_contact_rtt_seconds{aor="carrier1"}')
    assert len(rtt) == 1 and 0 < list(rtt.values())[0] < 1, rtt
    host.run(f"kill $(cat {RESPONDER}.pid)")
    wait_for('byom_pjsip_contact_up{aor="carrier1"}', lambda r: list(r.values()) == [0.0], limit=60)
    wait_for('ALERTS{alertname="ByomTrunkContactDown", aor="carrier1"}', lambda r: len(r) == 1, limit=30)
    assert "Unavail" in cli(host, "pjsip show contacts"), up
    # Vapi's trunk is not qualified (qualify_frequency 0): reported, but never as "down".
    assert query('byom_pjsip_contact_up{aor="vapi"}') == {}
    assert value(query('byom_pjsip_contact_status{aor="vapi"}'), status="NonQual") == 1


def test_02_endpoints_refuse_unauthenticated_scrapes(host):
    edge = f"http://{EDGE_NAME}:9100/metrics"
    assert curl_code(PROM, edge) == "401"
    assert curl_code(PROM, edge, f"{SCRAPE_USER}:wrong-password-0000") == "401"
    assert curl_code(PROM, edge, f"{SCRAPE_USER}:{SCRAPE_PASS}") == "200"
    ast = "http://127.0.0.1:8088/metrics"
    assert curl_code(host, ast) == "401"
    assert curl_code(host, ast, f"prometheus:{AST_PASS}") == "200"


def test_03_metrics_not_reachable_from_other_sources(host):
    # Asterisk's HTTP server listens on loopback only; node-exporter is open to the Prometheus
    # host only (UFW). The docker host is another source on the same network.
    listeners = host.check_output("ss -Hltn")
    assert re.search(r"127\.0\.0\.1:8088\b", listeners) and not re.search(r"(0\.0\.0\.0|\*|\[::\]):8088\b", listeners)
    ip = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", EDGE_NAME],
                        capture_output=True, text=True, check=True).stdout.strip()
    res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "4",
                          "-u", f"{SCRAPE_USER}:{SCRAPE_PASS}", f"http://{ip}:9100/metrics"], capture_output=True, text=True, check=False)
    assert res.stdout in ("000", ""), f"node-exporter answered an unlisted source: {res.stdout}"
    assert "byom-metrics" in host.check_output("ufw status")


def test_04_active_calls_equal_the_calls_sipp_holds(host):
    """4 calls offered against asterisk_vapi_max_calls=3: 3 held, 1 refused (503)."""
    refused_before = value(query("byom_calls_refused_total"), reason="cap", trunk="vapi")
    assert refused_before is not None
    vapi = Uas(host, "127.0.0.2", 5070, calls=3, echo=True, timeout=90)
    name = uac(host, "uac_pcma.xml", "127.0.0.3", 5081, DID, extra="-d 40000 -l 4 -r 10", calls=4, timeout=80, background=True)
    try:
        r = wait_for("byom_trunk_calls_active", lambda r: value(r, trunk="vapi") == 3 and value(r, trunk="carrier1") == 3,
                     limit=35, what="3 calls on each trunk")
        assert value(query("byom_trunk_calls_max"), trunk="vapi") == 3
        assert list(query("asterisk_channels_count").values()) == [6.0]
        # 2 legs x (RTP + RTCP) per held call.
        assert list(query("byom_rtp_ports_in_use").values())[0] >= 12, query("byom_rtp_ports_in_use")
        # Unbounded per-channel/per-bridge families never reach Prometheus.
        names = {dict(k)["__name__"] for k in query('{__name__=~"asterisk_(channels|bridges)_.+"}')}
        assert names <= {"asterisk_channels_count", "asterisk_bridges_count"}, names
        wait_for('byom_calls_refused_total{reason="cap", trunk="vapi"}', lambda r: list(r.values()) == [refused_before + 1], limit=30)
        wait_for('ALERTS{alertname="ByomCallsRefusedByCap", trunk="vapi", alertstate="firing"}', lambda r: len(r) == 1, limit=30)
        wait_for('ALERTS{alertname="ByomTrunkNearCap", trunk="vapi"}', lambda r: len(r) == 1, limit=30)
    finally:
        rc, msg = wait_background(host, name, limit=90)
        vapi.stop(wait=5)
    assert responses(msg).count(503) == 1 and responses(msg).count(200) >= 3, responses(msg)
    wait_for("byom_trunk_calls_active", lambda r: value(r, trunk="vapi") == 0 and value(r, trunk="carrier1") == 0, limit=30)
    print(f"\nheld calls seen by Prometheus: {r}")


def test_05_vapi_address_drift(host):
    assert list(query("byom_vapi_sip_dns_drift").values()) == [0.0]
    hosts = host.file("/etc/hosts").content_string
    try:
        # /etc/hosts is a bind mount: rewrite in place.
        host.run("python3 -c \"import sys; p='/etc/hosts'; s=open(p).read().replace('127.0.0.2 vapi-sip', '127.0.0.9 vapi-sip'); "
                 "open(p,'w').write(s)\"")
        r = wait_for("byom_vapi_sip_address_allowed", lambda r: value(r, address="127.0.0.9") == 0, limit=30)
        assert list(query("byom_vapi_sip_dns_drift").values()) == [1.0], r
    finally:
        host.run("python3 -c \"p='/etc/hosts'; s=open(p).read().replace('127.0.0.9 vapi-sip', '127.0.0.2 vapi-sip'); open(p,'w').write(s)\"")
    wait_for("byom_vapi_sip_dns_drift", lambda r: list(r.values()) == [0.0], limit=30)


def test_06_fail2ban_bans_are_counted(host):
    before = value(query("byom_fail2ban_bans_total"), jail="asterisk")
    assert before is not None
    # TEST-NET-1 address: never contacted, only banned and unbanned.
    assert host.run("fail2ban-client set asterisk banip 192.0.2.77").rc == 0
    try:
        wait_for("byom_fail2ban_banned", lambda r: value(r, jail="asterisk") == 1, limit=30)
        wait_for("byom_fail2ban_bans_total", lambda r: value(r, jail="asterisk") == before + 1, limit=30)
    finally:
        host.run("fail2ban-client set asterisk unbanip 192.0.2.77")
    wait_for("byom_fail2ban_banned", lambda r: value(r, jail="asterisk") == 0, limit=30)


def test_07_certificate_days_left_and_alert(host):
    days = list(query("byom_tls_cert_days_left").values())
    assert len(days) == 1 and 9.5 < days[0] <= 10.0, days
    wait_for('ALERTS{alertname="ByomTlsCertExpiring", alertstate="firing"}', lambda r: len(r) == 1, limit=30)


def test_08_every_collector_succeeds():
    result = query("byom_edge_metrics_collector_success")
    assert len(result) == 8 and set(result.values()) == {1.0}, result


def test_09_scrape_cost_figures():
    """Figures for the report (not a timed assertion): scrape and collector durations."""
    scrape = query('scrape_duration_seconds{job="byom-edge"}')
    collector = query("byom_edge_metrics_duration_seconds")
    samples = query('scrape_samples_scraped{job="byom-edge"}')
    print(f"\nscrape_duration_seconds={list(scrape.values())} collector_duration_seconds={list(collector.values())} "
          f"samples_per_scrape={list(samples.values())}")
    assert scrape and collector and samples


def test_10_trunk_down_alert_fires():
    """The alert activated in test_01 fires once its `for: 1m` has elapsed."""
    wait_for('ALERTS{alertname="ByomTrunkContactDown", aor="carrier1", alertstate="firing"}', lambda r: len(r) == 1, limit=90)


def test_11_carrier_peer_answers_again(host):
    """The peer is back: contact up, RTT reported, the alert resolves."""
    cmd = (f"setsid -f sh -c 'echo $$ > {RESPONDER}.pid; exec timeout 120 sipp -sf /opt/byom-sipp/options_responder.xml "
           f"-i 127.0.0.3 -p 5080 -m 100 -nostdin >/dev/null 2>&1'")
    assert host.run(cmd).rc == 0
    wait_for('byom_pjsip_contact_up{aor="carrier1"}', lambda r: list(r.values()) == [1.0], limit=60)
    wait_for('ALERTS{alertname="ByomTrunkContactDown"}', lambda r: r == {}, limit=30)


def test_12_every_dashboard_panel_returns_data(host):
    dash = json.loads(DASHBOARD.read_text())
    empty = []
    try:
        for panel in dash["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("$edge", ".+")
                if not query(expr):
                    empty.append((panel["title"], expr))
    finally:
        host.run(f"kill $(cat {RESPONDER}.pid) 2>/dev/null")
    assert len(dash["panels"]) >= 15
    assert not empty, f"panels without data: {empty}"
