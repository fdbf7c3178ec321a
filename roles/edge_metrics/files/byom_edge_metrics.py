"""Textfile-collector script for node-exporter: the SIP-edge series res_prometheus lacks.

Run by a systemd timer; writes <textfile_dir>/byom_edge.prom (and byom_asterisk.prom, a filtered
copy of res_prometheus's loopback-only /metrics) atomically. Standard library only, because
it runs on the edge with Debian's python3 and nothing else.

Usage: python3 byom_edge_metrics.py [--config /etc/byom-edge-metrics.json] [--stdout]
"""
import argparse
import base64
import ipaddress
import json
import math
import os
import re
import socket
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import urllib.request

CONTACT_RE = re.compile(r"^\s*Contact:\s+([^/\s]+)/(\S+)\s+\S+\s+(\S+)\s+(\S+)\s*$")
GROUP_RE = re.compile(r"^(\S+)\s+(\S+)\s+(\S+)\s*$")
POLICY_RE = re.compile(r"^Chain (\S+) \(policy (\w+) (\d+) packets, (\d+) bytes\)")
STATUS_UP = {"Avail": 1, "Reachable": 1, "Unavail": 0, "Unreachable": 0}


def esc(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Out:
    """Prometheus text format, one HELP/TYPE per family, families in first-use order."""

    def __init__(self):
        self.families = {}

    def add(self, name, mtype, helptext, value, **labels):
        fam = self.families.setdefault(name, {"type": mtype, "help": helptext, "samples": []})
        lbl = ",".join(f'{k}="{esc(v)}"' for k, v in sorted(labels.items()))
        fam["samples"].append(f"{name}{{{lbl}}} {value}" if lbl else f"{name} {value}")

    def text(self):
        lines = []
        for name, fam in self.families.items():
            lines += [f"# HELP {name} {fam['help']}", f"# TYPE {name} {fam['type']}"] + fam["samples"]
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- parsers (unit-tested)
def parse_contacts(text):
    """`pjsip show contacts` -> [(aor, uri, status, rtt_ms or None)]."""
    rows = []
    for line in text.splitlines():
        m = CONTACT_RE.match(line)
        if not m or m.group(1).startswith("<"):
            continue
        try:
            rtt = float(m.group(4))
        except ValueError:
            rtt = None
        if rtt is not None and math.isnan(rtt):  # not qualified
            rtt = None
        rows.append((m.group(1), m.group(2), m.group(3), rtt))
    return rows


def parse_groups(text):
    """`group show channels` -> {category: number of channels}."""
    counts = {}
    for line in text.splitlines():
        m = GROUP_RE.match(line)
        if not m or m.group(1) == "Channel" or m.group(3).startswith("channel"):
            continue
        counts[m.group(3)] = counts.get(m.group(3), 0) + 1
    return counts


def parse_iptables(text):
    """`iptables -nvxL` -> (policy drops {chain: packets}, {f2b chain: dropped packets})."""
    policy, f2b, chain = {}, {}, None
    for line in text.splitlines():
        m = POLICY_RE.match(line)
        if m:
            chain = m.group(1)
            if m.group(2) == "DROP":
                policy[chain] = int(m.group(3))
            continue
        if line.startswith("Chain "):
            chain = line.split()[1]
            continue
        fields = line.split()
        if chain and chain.startswith("f2b-") and len(fields) > 2 and fields[0].isdigit() and fields[2] in ("DROP", "REJECT"):
            f2b[chain[4:]] = f2b.get(chain[4:], 0) + int(fields[0])
    return policy, f2b


def rtp_ports_in_use(proc_texts, start, end):
    """Distinct local UDP ports in [start, end] from /proc/net/udp{,6} contents."""
    ports = set()
    for text in proc_texts:
        for line in text.splitlines()[1:]:
            fields = line.split()
            if len(fields) > 1 and ":" in fields[1]:
                port = int(fields[1].rsplit(":", 1)[1], 16)
                if start <= port <= end:
                    ports.add(port)
    return len(ports)


def filter_asterisk(text, drop_prefixes):
    """res_prometheus output without the unbounded per-channel/per-bridge families."""
    keep = []
    for line in text.splitlines():
        name = line.split()[2] if line.startswith("# ") and len(line.split()) > 2 else re.split(r"[{\s]", line, 1)[0]
        if any(name.startswith(p) for p in drop_prefixes["prefixes"]) and name not in drop_prefixes["keep"]:
            continue
        keep.append(line)
    return "\n".join(keep) + "\n"


def drift(addresses, cidrs):
    nets = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    return {a: any(ipaddress.ip_address(a) in n for n in nets) for a in addresses}


# ---------------------------------------------------------------- collectors
def run(argv, timeout=10):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True).stdout


def col_asterisk(cfg, out, state):
    a = cfg["asterisk"]
    contacts = parse_contacts(run(["asterisk", "-rx", "pjsip show contacts"]))
    for aor, uri, status, rtt in contacts:
        out.add("byom_pjsip_contact_status", "gauge", "1 for the contact's current qualify status (Avail, Unavail, NonQual, Unknown).",
                1, aor=aor, contact=uri, status=status)
        if status in STATUS_UP:
            out.add("byom_pjsip_contact_up", "gauge", "1 when a qualified contact answers OPTIONS, 0 when it stopped answering.",
                    STATUS_UP[status], aor=aor, contact=uri)
        if rtt is not None and STATUS_UP.get(status) == 1:
            out.add("byom_pjsip_contact_rtt_seconds", "gauge", "Qualify round-trip time of the contact.", rtt / 1000.0, aor=aor, contact=uri)
    groups = parse_groups(run(["asterisk", "-rx", "group show channels"]))
    for trunk in a["trunks"]:
        out.add("byom_trunk_calls_active", "gauge", "Channels counted against the trunk's concurrency cap (GROUP byom_<trunk>).",
                groups.get("byom_" + trunk["name"], 0), trunk=trunk["name"])
        out.add("byom_trunk_calls_max", "gauge", "The trunk's concurrency cap.", trunk["max_calls"], trunk=trunk["name"])


def col_asterisk_metrics(cfg, out, state):
    """Relay res_prometheus (loopback, Basic Auth) through the textfile collector."""
    a = cfg["asterisk"]
    target = os.path.join(cfg["textfile_dir"], "byom_asterisk.prom")
    req = urllib.request.Request(a["metrics_url"])
    with open(a["password_file"], encoding="utf-8") as fh:
        password = fh.read().strip()
    token = base64.b64encode(f"{a['username']}:{password}".encode()).decode()
    req.add_header("Authorization", "Basic " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:  # nosec: loopback URL from our config
            body = resp.read().decode("utf-8", "replace")
        ok = 1
    except Exception:  # Asterisk down or res_prometheus off: the series must vanish, not go stale.
        body, ok = "", 0
    out.add("byom_asterisk_metrics_up", "gauge", "1 when res_prometheus answered on loopback.", ok)
    if ok:
        atomic_write(target, filter_asterisk(body, a["drop"]))
    elif os.path.exists(target):
        os.unlink(target)


def col_refusals(cfg, out, state):
    """Count refusal log lines incrementally (offset + inode kept), so counters survive rotation."""
    path = cfg["log_file"]
    st = state.setdefault("refusals", {"inode": None, "offset": 0, "counts": {}})
    counts = st["counts"]
    for pat in cfg["refusal_patterns"]:
        for trunk in pat.get("init_trunks", []):
            counts.setdefault(f"{pat['reason']}\t{trunk}", 0)
    try:
        fst = os.stat(path)
    except FileNotFoundError:
        fst = None
    if fst is not None:
        if st["inode"] != fst.st_ino or fst.st_size < st["offset"]:
            st["inode"], st["offset"] = fst.st_ino, 0
        regexes = [(p["reason"], re.compile(p["regex"]), p.get("trunk", "")) for p in cfg["refusal_patterns"]]
        with open(path, "rb") as fh:
            fh.seek(st["offset"])
            # Bounded read per run: a flood is counted over the next runs, never stalls one.
            chunk = fh.read(cfg.get("log_read_limit", 16 * 1024 * 1024))
            end = chunk.rfind(b"\n") + 1
            for line in chunk[:end].decode("utf-8", "replace").splitlines():
                for reason, rx, trunk in regexes:
                    m = rx.search(line)
                    if m:
                        key = f"{reason}\t{m.groupdict().get('trunk') or trunk}"
                        counts[key] = counts.get(key, 0) + 1
            st["offset"] += end
    for key, value in sorted(counts.items()):
        reason, trunk = key.split("\t")
        out.add("byom_calls_refused_total", "counter", "Calls refused by a concurrency cap or a blocked number pattern.",
                value, reason=reason, trunk=trunk)


def col_fail2ban(cfg, out, state):
    """fail2ban's own database (no fail2ban-client start-up cost every run)."""
    f = cfg["fail2ban"]
    st = state.setdefault("fail2ban", {"rowid": None, "totals": {}})
    db = sqlite3.connect(f"file:{f['db']}?mode=ro", uri=True, timeout=2)
    try:
        jails = [r[0] for r in db.execute("SELECT name FROM jails WHERE enabled = 1")]
        now = int(time.time())
        banned = dict(db.execute(
            "SELECT jail, COUNT(DISTINCT ip) FROM bans WHERE bantime < 0 OR timeofban + bantime > ? GROUP BY jail", (now,)))
        maxrow = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM bans").fetchone()[0]
        if st["rowid"] is not None and maxrow > st["rowid"]:
            for jail, n in db.execute("SELECT jail, COUNT(*) FROM bans WHERE rowid > ? GROUP BY jail", (st["rowid"],)):
                st["totals"][jail] = st["totals"].get(jail, 0) + n
        st["rowid"] = maxrow
    finally:
        db.close()
    for jail in sorted(set(jails) | set(st["totals"])):
        out.add("byom_fail2ban_banned", "gauge", "Addresses currently banned by the jail.", banned.get(jail, 0), jail=jail)
        out.add("byom_fail2ban_bans_total", "counter", "Bans the jail issued since metrics collection began.",
                st["totals"].get(jail, 0), jail=jail)


def col_firewall(cfg, out, state):
    policy, f2b = parse_iptables(run(["iptables", "-w", "5", "-nvxL"]))
    for chain, packets in sorted(policy.items()):
        out.add("byom_firewall_dropped_packets_total", "counter",
                "Inbound packets dropped by the chain's default policy (UFW: everything not allowed, SIP from unknown sources included).",
                packets, chain=chain)
    for jail, packets in sorted(f2b.items()):
        out.add("byom_fail2ban_dropped_packets_total", "counter", "Packets from banned addresses dropped by the jail's chain.",
                packets, jail=jail)


def col_tls(cfg, out, state):
    now = time.time()
    for path in cfg["tls_cert_files"]:
        text = run(["openssl", "x509", "-noout", "-enddate", "-in", path])
        expiry = ssl.cert_time_to_seconds(text.strip().split("=", 1)[1])
        out.add("byom_tls_cert_expiry_timestamp_seconds", "gauge", "notAfter of the certificate.", expiry, path=path)
        out.add("byom_tls_cert_days_left", "gauge", "Days until the certificate expires.", round((expiry - now) / 86400, 3), path=path)


def col_rtp(cfg, out, state):
    texts = []
    for p in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(p, encoding="ascii") as fh:
                texts.append(fh.read())
        except FileNotFoundError:
            pass
    start, end = cfg["rtp_port_start"], cfg["rtp_port_end"]
    out.add("byom_rtp_ports_in_use", "gauge", "Local UDP ports bound inside the RTP range (RTP and RTCP).", rtp_ports_in_use(texts, start, end))
    out.add("byom_rtp_ports_total", "gauge", "Size of the RTP port range.", end - start + 1)


def resolve(host, timeout):
    result = {}

    def work():
        try:
            result["a"] = sorted({i[4][0] for i in socket.getaddrinfo(host, 5060, socket.AF_INET, socket.SOCK_DGRAM)})
        except OSError as exc:
            result["e"] = exc

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(timeout)
    return result.get("a")


def col_vapi(cfg, out, state):
    v = cfg["vapi"]
    addrs = resolve(v["host"], v.get("timeout", 5))
    out.add("byom_vapi_sip_dns_resolve_success", "gauge", "1 when the Vapi SIP host resolved.", 1 if addrs else 0, host=v["host"])
    if not addrs:
        return
    allowed = drift(addrs, v["allowed_cidrs"])
    for addr, ok in allowed.items():
        out.add("byom_vapi_sip_address_allowed", "gauge", "1 when the resolved address is inside the CIDRs the edge allows.",
                int(ok), host=v["host"], address=addr)
    out.add("byom_vapi_sip_dns_drift", "gauge", "Resolved Vapi SIP addresses outside the allowed CIDRs (0 = no drift).",
            sum(1 for ok in allowed.values() if not ok), host=v["host"])


COLLECTORS = [("asterisk", col_asterisk), ("asterisk_metrics", col_asterisk_metrics), ("refusals", col_refusals),
              ("fail2ban", col_fail2ban), ("firewall", col_firewall), ("tls", col_tls), ("rtp", col_rtp), ("vapi", col_vapi)]


def atomic_write(path, text):
    tmp = f"{path}.{os.getpid()}.tmp"  # node-exporter reads only *.prom
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="/etc/byom-edge-metrics.json")
    ap.add_argument("--stdout", action="store_true")
    args = ap.parse_args()
    with open(args.config, encoding="utf-8") as fh:
        cfg = json.load(fh)
    state_path = os.path.join(cfg["state_dir"], "state.json")
    try:
        with open(state_path, encoding="utf-8") as fh:
            state = json.load(fh)
    except (FileNotFoundError, ValueError):
        state = {}
    out, t0 = Out(), time.monotonic()
    for name, fn in COLLECTORS:
        if not cfg["collectors"].get(name):
            continue
        try:
            fn(cfg, out, state)
            ok = 1
        except Exception as exc:  # one broken source must not hide the others
            ok = 0
            print(f"collector {name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        out.add("byom_edge_metrics_collector_success", "gauge", "1 when the collector's last run succeeded.", ok, collector=name)
    out.add("byom_edge_metrics_duration_seconds", "gauge", "Wall time of the last collection.", round(time.monotonic() - t0, 4))
    out.add("byom_edge_metrics_last_run_timestamp_seconds", "gauge", "When the last collection finished.", round(time.time(), 3))
    if args.stdout:
        sys.stdout.write(out.text())
    else:
        atomic_write(os.path.join(cfg["textfile_dir"], "byom_edge.prom"), out.text())
    atomic_write(state_path, json.dumps(state))
    # A failing source is reported by byom_edge_metrics_collector_success (and on stderr, in the
    # journal), not by failing the unit: the other series were written and are valid.
    return 0


if __name__ == "__main__":
    sys.exit(main())
