"""roles/edge_metrics/files/byom_edge_metrics.py: parsers on real CLI output shapes, and one
whole run against stand-in tools (asterisk, iptables, openssl) and a real sqlite fail2ban db."""
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from byom_testlib import ROOT as TESTLIB_ROOT, load_script

ROOT = Path(TESTLIB_ROOT)
SCRIPT = ROOT / "roles" / "edge_metrics" / "files" / "byom_edge_metrics.py"
m = load_script("roles/edge_metrics/files/byom_edge_metrics.py", "byom_edge_metrics")

# Asterisk 22.10 `pjsip show contacts` (captured), with qualified contacts added.
CONTACTS = """
  Contact:  <Aor/ContactUri..............................> <Hash....> <Status> <RTT(ms)..>
==========================================================================================

  Contact:  carrier1/sip:127.0.0.3:5080                    bb5a6b813a Avail         1.234
  Contact:  carrier2/sip:198.51.100.7:5060                 cc5a6b813a Unavail       nan
  Contact:  vapi/sip:127.0.0.2:5070                        9681163320 NonQual        -nan

Objects found: 3
"""
GROUPS = """Channel                    Group                 Category
PJSIP/carrier1-00000001    calls                 byom_carrier1
PJSIP/carrier1-00000001    calls                 byom_vapi
PJSIP/carrier1-00000003    calls                 byom_carrier1
PJSIP/carrier1-00000003    calls                 byom_vapi
2 active channels
"""
IPTABLES = """Chain INPUT (policy DROP 42 packets, 3360 bytes)
    pkts      bytes target     prot opt in     out     source               destination
     120    9600 f2b-asterisk  all  --  *      *       0.0.0.0/0            0.0.0.0/0
Chain FORWARD (policy DROP 0 packets, 0 bytes)
Chain OUTPUT (policy ACCEPT 10 packets, 800 bytes)
Chain f2b-asterisk (1 references)
    pkts      bytes target     prot opt in     out     source               destination
       7      560 DROP       all  --  *      *       203.0.113.9          0.0.0.0/0
       3      240 DROP       all  --  *      *       203.0.113.10         0.0.0.0/0
     110     8800 RETURN     all  --  *      *       0.0.0.0/0            0.0.0.0/0
"""


def test_parse_contacts():
    assert m.parse_contacts(CONTACTS) == [
        ("carrier1", "sip:127.0.0.3:5080", "Avail", 1.234),
        ("carrier2", "sip:198.51.100.7:5060", "Unavail", None),
        ("vapi", "sip:127.0.0.2:5070", "NonQual", None),
    ]


def test_parse_groups_counts_channels_per_cap_group():
    assert m.parse_groups(GROUPS) == {"byom_carrier1": 2, "byom_vapi": 2}


def test_parse_iptables_policy_and_fail2ban_drops():
    assert m.parse_iptables(IPTABLES) == ({"INPUT": 42, "FORWARD": 0}, {"asterisk": 10})


def test_rtp_ports_in_use_counts_distinct_ports_in_range():
    udp = ("  sl  local_address rem_address   st\n"
           "   0: 00000000:2710 00000000:0000 07\n"   # 10000
           "   1: 0100007F:2711 00000000:0000 07\n"   # 10001
           "   2: 00000000:13C4 00000000:0000 07\n")  # 5060: outside
    udp6 = "  sl  local_address\n   0: 00000000000000000000000000000000:2710 0\n"  # 10000 again
    assert m.rtp_ports_in_use([udp, udp6], 10000, 20000) == 2


def test_filter_asterisk_drops_per_channel_families_only():
    text = "\n".join([
        "# HELP asterisk_channels_count Number of channels", "# TYPE asterisk_channels_count gauge",
        'asterisk_channels_count{eid="x"} 2',
        "# HELP asterisk_channels_state_info x", 'asterisk_channels_state_info{name="PJSIP/a-1"} 1',
        'asterisk_bridges_channels_count{id="uuid"} 2', 'asterisk_core_uptime_seconds{eid="x"} 5'])
    out = m.filter_asterisk(text, {"prefixes": ["asterisk_channels_", "asterisk_bridges_"], "keep": ["asterisk_channels_count"]})
    assert "asterisk_channels_count{" in out and "asterisk_core_uptime_seconds" in out
    assert "state_info" not in out and "bridges_channels" not in out


def test_drift():
    assert m.drift(["44.229.228.186", "52.0.0.1"], ["44.229.228.186/32", "44.238.177.138/32"]) == {
        "44.229.228.186": True, "52.0.0.1": False}


def test_whole_run_with_stand_in_tools(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "contacts.txt").write_text(CONTACTS)
    (tmp_path / "groups.txt").write_text(GROUPS)
    (tmp_path / "ipt.txt").write_text(IPTABLES)
    for name, body in {
        "asterisk": f'case "$2" in "pjsip show contacts") cat {tmp_path}/contacts.txt;; *) cat {tmp_path}/groups.txt;; esac',
        "iptables": f"cat {tmp_path}/ipt.txt",
        "openssl": 'echo "notAfter=Jan  1 00:00:00 2100 GMT"',
    }.items():
        (bin_dir / name).write_text("#!/bin/sh\n" + body + "\n")
        (bin_dir / name).chmod(0o755)
    db = tmp_path / "f2b.sqlite3"
    con = sqlite3.connect(db)
    con.executescript("CREATE TABLE jails(name TEXT, enabled INTEGER); CREATE TABLE bans(jail TEXT, ip TEXT, timeofban INTEGER, bantime INTEGER);"
                      "INSERT INTO jails VALUES ('asterisk', 1), ('sshd', 1);")
    now = int(time.time())
    con.execute("INSERT INTO bans VALUES ('asterisk', '203.0.113.9', ?, 3600)", (now,))
    con.commit()
    log = tmp_path / "messages"
    log.write_text("[x] WARNING[1] Ext. s: BYOM-CALL trunk carrier1 full: 6 > 5\n")
    (tmp_path / "secret").write_text("pw\n")
    cfg = {
        "textfile_dir": str(tmp_path), "state_dir": str(tmp_path),
        "collectors": {k: True for k in ("asterisk", "refusals", "fail2ban", "firewall", "tls", "rtp", "vapi")},
        "asterisk": {"trunks": [{"name": "vapi", "max_calls": 20}, {"name": "carrier1", "max_calls": 5}]},
        "log_file": str(log),
        "refusal_patterns": [{"reason": "cap", "regex": r"BYOM-CALL trunk (?P<trunk>\S+) full", "init_trunks": ["vapi", "carrier1"]}],
        "fail2ban": {"db": str(db)}, "tls_cert_files": ["/etc/cert.pem"], "rtp_port_start": 10000, "rtp_port_end": 20000,
        "vapi": {"host": "localhost", "allowed_cidrs": ["127.0.0.0/8"]},
    }
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}")

    def collect():
        res = subprocess.run([sys.executable, str(SCRIPT), "--config", str(tmp_path / "cfg.json")],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
        assert res.returncode == 0, res.stderr
        return (tmp_path / "byom_edge.prom").read_text()

    first = collect()
    for name in cfg["collectors"]:
        assert f'byom_edge_metrics_collector_success{{collector="{name}"}} 1' in first.splitlines(), (name, first)
    for line in ['byom_pjsip_contact_up{aor="carrier1",contact="sip:127.0.0.3:5080"} 1',
                 'byom_pjsip_contact_up{aor="carrier2",contact="sip:198.51.100.7:5060"} 0',
                 'byom_trunk_calls_active{trunk="carrier1"} 2', 'byom_trunk_calls_max{trunk="carrier1"} 5',
                 'byom_calls_refused_total{reason="cap",trunk="carrier1"} 1', 'byom_calls_refused_total{reason="cap",trunk="vapi"} 0',
                 'byom_fail2ban_banned{jail="asterisk"} 1', 'byom_fail2ban_banned{jail="sshd"} 0',
                 'byom_fail2ban_bans_total{jail="asterisk"} 0',
                 'byom_firewall_dropped_packets_total{chain="INPUT"} 42', 'byom_fail2ban_dropped_packets_total{jail="asterisk"} 10',
                 'byom_vapi_sip_dns_drift{host="localhost"} 0', 'byom_rtp_ports_total 10001']:
        assert line in first.splitlines(), line
    assert 'byom_pjsip_contact_up{aor="vapi"' not in first  # NonQual: no up/down claim
    assert "byom_tls_cert_days_left{path=\"/etc/cert.pem\"}" in first
    # Counters carry on: two more refusals (one after a rotation), one more ban.
    with log.open("a") as fh:
        fh.write("[x] WARNING[1] Ext. s: BYOM-CALL trunk carrier1 full: 6 > 5\n")
    collect()
    log.unlink()
    log.write_text("[y] WARNING[1] Ext. s: BYOM-CALL trunk vapi full: 21 > 20\n")
    con.execute("INSERT INTO bans VALUES ('asterisk', '203.0.113.10', ?, 3600)", (now,))
    con.commit()
    third = collect().splitlines()
    assert 'byom_calls_refused_total{reason="cap",trunk="carrier1"} 2' in third
    assert 'byom_calls_refused_total{reason="cap",trunk="vapi"} 1' in third
    assert 'byom_fail2ban_bans_total{jail="asterisk"} 1' in third
    assert 'byom_fail2ban_banned{jail="asterisk"} 2' in third
