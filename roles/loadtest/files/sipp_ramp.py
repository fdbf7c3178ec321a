# -*- coding: utf-8 -*-
# Copyright: (c) byom.telephony contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""SIPp ramp against the local Asterisk: the engine behind playbooks/loadtest.yml.

Runs ON the target (copied there by the byom.telephony.loadtest role), stdlib only, so the
timing-critical parts (starting SIPp, sampling CPU, stopping a step at the first failure) do
not depend on Ansible round trips.

Per step of N concurrent calls:
  carrier stand-in  SIPp UAC(s), PCMA pcap looped for the whole call, from carrier_ip
        -> Asterisk   (DID -> Vapi trunk; must bridge natively, checked with `bridge show all`)
        -> AI stand-in SIPp UAS on uas_ip:uas_port answering PCMA, -rtp_echo
The calls are placed at call_rate per second; once all N are up they are held for hold_s,
then hung up by the callers. Measured: attempted / answered / failed calls, INVITE -> 200 OK
latency (SIPp's response-time trace), whole-box, Asterisk and SIPp CPU (from /proc), peak
channels, bridge technologies, RTP packets per direction (nftables counters on the loopback
flows, when nft exists) and the loss through Asterisk and the echo.

Usage: sipp_ramp.py --config CONFIG.json   (writes results.json, results.csv, table.txt into
the config's workdir and prints the table). The pure helpers below are unit tested
(tests/unit/roles/loadtest/test_bench_sipp_ramp.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time

NFT_TABLE = "byom_loadtest"
RTP_FLOWS = ("carrier_to_asterisk", "asterisk_to_uas", "uas_to_asterisk", "asterisk_to_carrier")

CSV_FIELDS = [
    "target_calls", "ok", "stop_reason", "attempted", "answered", "failed", "held_s",
    "setup_ms_p50", "setup_ms_p95", "setup_ms_p99", "box_cpu_pct", "box_cpu_pct_peak",
    "asterisk_cpu_pct", "sipp_cpu_pct", "channels_peak", "calls_peak", "native_bridges",
    "other_bridges", "rtp_carrier_to_asterisk", "rtp_asterisk_to_uas", "rtp_uas_to_asterisk",
    "rtp_asterisk_to_carrier", "rtp_loss_pct", "rtp_asterisk_loss_pct", "rtp_uas_echo_loss_pct", "uac_send_ratio",
    "sipp_uac_processes", "sipp_uas_cpu_pct",
    "load_avg_1m_before",
]


# ----------------------------------------------------------------------------- pure helpers

def percentile(values, pct):
    """Linear-interpolated percentile (the "type 7" definition numpy uses); None when empty."""
    if not values:
        return None
    if not 0 <= pct <= 100:
        raise ValueError("percentile must be within 0..100, got %r" % (pct,))
    data = sorted(values)
    if len(data) == 1:
        return float(data[0])
    rank = (len(data) - 1) * pct / 100.0
    low = int(math.floor(rank))
    high = min(low + 1, len(data) - 1)
    return float(data[low] + (data[high] - data[low]) * (rank - low))


def parse_rtt_csv(text, rtd=1):
    """Response times in ms from SIPp's -trace_rtt file (``Date_ms;response_time_ms;rtd_no``)."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split(";")
        if len(parts) < 3 or not parts[0] or parts[0].startswith("Date"):
            continue
        try:
            if int(parts[2]) != rtd:
                continue
            out.append(float(parts[1]))
        except ValueError:
            continue
    return out


def parse_stat_csv(text):
    """Last row of SIPp's -trace_stat file as a dict; counters converted to int."""
    rows = [line for line in text.splitlines() if line.strip()]
    if len(rows) < 2:
        return {}
    header = rows[0].rstrip(";").split(";")
    values = rows[-1].rstrip(";").split(";")
    row = dict(zip(header, values))
    for key, value in list(row.items()):
        if key.endswith("(C)") or key.endswith("(P)") or key in ("CurrentCall", "TotalCallCreated"):
            try:
                row[key] = int(value)
            except ValueError:
                pass
    return row


def parse_channels_count(text):
    """(active channels, active calls) from `core show channels count`; None when absent."""
    chans = re.search(r"(\d+)\s+active channels?", text)
    calls = re.search(r"(\d+)\s+active calls?", text)
    return (int(chans.group(1)) if chans else None, int(calls.group(1)) if calls else None)


def parse_bridge_technologies(text):
    """Count bridges per technology in `bridge show all` output."""
    counts = {}
    for line in text.splitlines():
        # Bridge-ID Name Chans Type Technology Duration; the ID is a UUID, the name may be
        # "<unknown>" or free text, so the technology is taken from the right-hand end.
        fields = line.split()
        if len(fields) >= 4 and re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-", fields[0]) \
                and re.match(r"^\d+(:\d+)+$", fields[-1]):
            counts[fields[-2]] = counts.get(fields[-2], 0) + 1
    return counts


def parse_proc_stat_cpu(text):
    """(busy_ticks, total_ticks) from the aggregate "cpu" line of /proc/stat."""
    for line in text.splitlines():
        if line.startswith("cpu "):
            fields = [int(x) for x in line.split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            # guest time is already counted in user/nice
            total = sum(fields[:8])
            return total - idle, total
    raise ValueError("no aggregate cpu line in /proc/stat")


def parse_pid_stat_ticks(text):
    """utime + stime of one /proc/<pid>/stat line (the comm field may contain spaces)."""
    rest = text[text.rindex(")") + 2:].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15
    return int(rest[11]) + int(rest[12])


def cpu_share_pct(busy_delta, total_delta):
    if total_delta <= 0:
        return None
    return round(100.0 * busy_delta / total_delta, 1)


def split_calls(total, per_process):
    """Spread `total` calls over as few SIPp processes as keep each <= per_process."""
    if total <= 0:
        return []
    if per_process <= 0:
        raise ValueError("per_process must be positive")
    procs = int(math.ceil(total / float(per_process)))
    base, extra = divmod(total, procs)
    return [base + (1 if i < extra else 0) for i in range(procs)]


def call_plan(target_calls, call_rate, hold_s, media_ms):
    """Timing of one step: ramp seconds, pcap loops per call, call length and full-load window."""
    ramp_s = target_calls / float(call_rate)
    loops = int(math.ceil((ramp_s + hold_s + 1.0) * 1000.0 / media_ms))
    call_s = loops * media_ms / 1000.0
    return {"ramp_s": round(ramp_s, 3), "loops": loops, "call_s": round(call_s, 3),
            "full_from_s": round(ramp_s, 3), "full_until_s": round(call_s, 3)}


def rtp_summary(delta, target_calls, window_s, pps_per_call):
    """Packets per direction over the hold window, loss through Asterisk and the echo."""
    if not delta:
        return {"counted": False}
    sent = delta.get("carrier_to_asterisk", 0)
    back = delta.get("asterisk_to_carrier", 0)
    out = {"counted": True}
    for flow in RTP_FLOWS:
        out[flow] = delta.get(flow, 0)
    # End to end: caller -> Asterisk -> UAS echo -> Asterisk -> caller (includes SIPp's echo).
    out["loss_pct"] = round(100.0 * (sent - back) / sent, 3) if sent else None
    fwd = delta.get("asterisk_to_uas", 0)
    echoed = delta.get("uas_to_asterisk", 0)
    out["forward_loss_pct"] = round(100.0 * (sent - fwd) / sent, 3) if sent else None
    # Through Asterisk only, both legs: packets in vs packets out. The system under test.
    into = sent + echoed
    out["asterisk_loss_pct"] = round(100.0 * (into - fwd - back) / into, 3) if into else None
    # Dropped by the echoing SIPp UAS (the test tool): received vs echoed.
    out["uas_echo_loss_pct"] = round(100.0 * (fwd - echoed) / fwd, 3) if fwd else None
    expected = target_calls * window_s * pps_per_call
    out["uac_send_ratio"] = round(sent / expected, 3) if expected > 0 else None
    return out


def step_verdict(step, hold_s, max_loss_pct, loss_basis="asterisk"):
    """Why a step does not count as held (None when it does).

    loss_basis: "asterisk" judges the loss Asterisk itself causes (both legs through it);
    "end_to_end" also counts what the echoing SIPp UAS drops."""
    if step.get("stop_reason"):
        return step["stop_reason"]
    if step.get("failed", 0) > 0:
        return "%d failed calls" % step["failed"]
    if step.get("answered", 0) < step["target_calls"]:
        return "only %d of %d calls answered" % (step.get("answered", 0), step["target_calls"])
    if step.get("held_s", 0) + 0.5 < hold_s:
        return "full load held only %.1f s" % step.get("held_s", 0)
    if step.get("sipp_exit"):
        return step["sipp_exit"]
    rtp = step.get("rtp") or {}
    key = "loss_pct" if loss_basis == "end_to_end" else "asterisk_loss_pct"
    loss = rtp.get(key, rtp.get("loss_pct"))
    if loss is not None and loss >= max_loss_pct:
        return "RTP loss (%s) %.2f%% >= %.2f%%" % (loss_basis.replace("_", " "), loss, max_loss_pct)
    return None


def crossing(points, threshold):
    """Concurrency where a rising series crosses `threshold`, linearly interpolated.

    points: [(calls, value)] in ramp order, may start with (0, idle value). Returns None when
    the threshold is never reached."""
    prev = None
    for calls, value in points:
        if value is None:
            continue
        if value >= threshold:
            if prev is None or prev[1] >= threshold:
                return int(calls)
            c0, v0 = prev[0], prev[1]
            return int(round(c0 + (calls - c0) * (threshold - v0) / float(value - v0)))
        prev = (calls, value)
    return None


def summarize(steps, idle_cpu, cpu_threshold):
    held = [s["target_calls"] for s in steps if s.get("ok")]
    first_bad = next((s for s in steps if not s.get("ok")), None)
    points = [(0, idle_cpu)] + [(s["target_calls"], s.get("box_cpu_pct")) for s in steps
                                if s.get("box_cpu_pct") is not None]
    # Asterisk + SIPp only: what the test itself costs, meaningful when other work shares the box
    # (kernel softirq time for the loopback packets may not be charged to them: a lower bound).
    own = [(0, 0.0)] + [(s["target_calls"], (s.get("asterisk_cpu_pct") or 0) + (s.get("sipp_cpu_pct") or 0))
                        for s in steps if s.get("asterisk_cpu_pct") is not None]
    return {
        "calls_at_cpu_threshold_own": crossing(own, cpu_threshold),
        "max_concurrent_calls": max(held) if held else 0,
        "cpu_threshold_pct": cpu_threshold,
        "calls_at_cpu_threshold": crossing(points, cpu_threshold),
        "idle_box_cpu_pct": idle_cpu,
        "stopped_because": (first_bad or {}).get("verdict"),
    }


def step_row(step):
    rtp = step.get("rtp") or {}
    setup = step.get("setup_ms") or {}
    bridges = step.get("bridges") or {}
    row = dict(step)
    row.update({
        "setup_ms_p50": setup.get("p50"), "setup_ms_p95": setup.get("p95"),
        "setup_ms_p99": setup.get("p99"),
        "native_bridges": bridges.get("native_rtp", 0),
        "other_bridges": sum(v for k, v in bridges.items() if k != "native_rtp"),
        "rtp_loss_pct": rtp.get("loss_pct"), "uac_send_ratio": rtp.get("uac_send_ratio"),
        "rtp_asterisk_loss_pct": rtp.get("asterisk_loss_pct"), "rtp_uas_echo_loss_pct": rtp.get("uas_echo_loss_pct"),
        "stop_reason": step.get("verdict") or "",
    })
    for flow in RTP_FLOWS:
        row["rtp_" + flow] = rtp.get(flow)
    return row


def to_csv(steps):
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for step in steps:
        writer.writerow({k: ("" if v is None else v) for k, v in step_row(step).items()})
    return buf.getvalue()


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def render_table(result):
    cols = [("calls", "target_calls"), ("ok", "ok"), ("att", "attempted"), ("ans", "answered"),
            ("fail", "failed"), ("held s", "held_s"), ("p50 ms", "setup_ms_p50"),
            ("p95 ms", "setup_ms_p95"), ("p99 ms", "setup_ms_p99"), ("box %", "box_cpu_pct"),
            ("ast %", "asterisk_cpu_pct"), ("sipp %", "sipp_cpu_pct"), ("chans", "channels_peak"),
            ("native", "native_bridges"), ("ast loss %", "rtp_asterisk_loss_pct"), ("e2e loss %", "rtp_loss_pct"),
            ("why not", "stop_reason")]
    rows = [[col[0] for col in cols]]
    for step in result.get("steps", []):
        r = step_row(step)
        rows.append([_cell(r.get(col[1])) for col in cols])
    widths = [max(len(row[i]) for row in rows) for i in range(len(cols))]
    lines = ["  ".join(cell.rjust(widths[i]) if i < len(cols) - 1 else cell for i, cell in enumerate(row))
             for row in rows]
    s = result.get("summary", {})
    lines.append("")
    lines.append("held with 0 failures: %s calls; %s%% box CPU at: %s calls; stopped: %s" % (
        s.get("max_concurrent_calls"), s.get("cpu_threshold_pct"),
        s.get("calls_at_cpu_threshold") if s.get("calls_at_cpu_threshold") is not None else "not reached",
        s.get("stopped_because") or "step list done"))
    lines.append("CPU columns are shares of the whole box (%s cores)." % result.get("ncpu"))
    return "\n".join(lines) + "\n"


def uac_scenario(loops, pcap_path, media_ms, recv_timeout_ms=10000, service_hint="byom loadtest"):
    """SIPp UAC: INVITE offering PCMA (like the built-in uac_pcap), then the pcap looped."""
    media = "".join(
        '  <nop><action><exec play_pcap_audio="%s"/></action></nop>\n'
        '  <pause milliseconds="%d"/>\n' % (pcap_path, media_ms) for dummy in range(loops))
    return """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<!-- Generated by sipp_ramp.py: SIPp's uac_pcap with the PCMA pcap looped %(loops)d times. -->
<scenario name="%(name)s">
  <send retrans="500" start_rtd="1">
    <![CDATA[

      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Subject: byom loadtest
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=user1 53655765 2353687637 IN IP[media_ip_type] [media_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio [media_port] RTP/AVP 8 101
      a=rtpmap:8 PCMA/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-11,16

    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="1" rrs="true" timeout="%(recv_timeout)d"/>
  <send>
    <![CDATA[

      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
%(media)s  <send retrans="500">
    <![CDATA[

      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" timeout="%(recv_timeout)d"/>
</scenario>
""" % {"loops": loops, "name": service_hint, "media": media, "recv_timeout": recv_timeout_ms}


def nft_ruleset(carrier_ip, uas_ip, rtp_start, rtp_end):
    """Counting-only nftables table (policy accept, no verdicts) for the four RTP flows."""
    rng = "%d-%d" % (rtp_start, rtp_end)
    # RTP uses the even port of Asterisk's pair, RTCP the odd one: count RTP only, or
    # Asterisk's own RTCP reports would look like extra echoed packets.
    rules = {
        "carrier_to_asterisk": "ip saddr %s udp dport %s udp dport & 1 == 0" % (carrier_ip, rng),
        "asterisk_to_uas": "ip daddr %s udp sport %s udp sport & 1 == 0" % (uas_ip, rng),
        "uas_to_asterisk": "ip saddr %s udp dport %s udp dport & 1 == 0" % (uas_ip, rng),
        "asterisk_to_carrier": "ip daddr %s udp sport %s udp sport & 1 == 0" % (carrier_ip, rng),
    }
    lines = ["table inet %s {" % NFT_TABLE,
             "  chain input {",
             "    type filter hook input priority -400; policy accept;"]
    for name in RTP_FLOWS:
        lines.append('    %s counter comment "%s"' % (rules[name], name))
    lines += ["  }", "}", ""]
    return "\n".join(lines)


def parse_nft_counters(text):
    """{flow name: packets} from `nft -j list table inet byom_loadtest`."""
    data = json.loads(text)
    out = {}
    for item in data.get("nftables", []):
        rule = item.get("rule")
        if not rule or rule.get("comment") not in RTP_FLOWS:
            continue
        for expr in rule.get("expr", []):
            if "counter" in expr:
                out[rule["comment"]] = int(expr["counter"].get("packets", 0))
    return out


# ----------------------------------------------------------------------------- system side

def log(msg):
    sys.stderr.write("[loadtest %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def read(path):
    with open(path, "r", errors="replace") as fh:
        return fh.read()


def pids_named(name):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if read("/proc/%s/comm" % entry).strip() == name:
                    out.append(int(entry))
            except OSError:
                continue
    return out


def proc_ticks(pids):
    total = 0
    for pid in pids:
        try:
            total += parse_pid_stat_ticks(read("/proc/%d/stat" % pid))
        except (OSError, ValueError):
            continue
    return total


def asterisk_cli(cmd, timeout=10):
    try:
        res = subprocess.run(["asterisk", "-rx", cmd], capture_output=True, text=True, timeout=timeout, check=False)
        return res.stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def load_avg():
    try:
        return float(read("/proc/loadavg").split()[0])
    except (OSError, ValueError):
        return None


class CpuSampler:
    """Box, Asterisk and SIPp CPU between two snapshots (shares of the whole box)."""

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK")
        self.ncpu = os.cpu_count() or 1

    def snapshot(self, uas_pid=None):
        busy, total = parse_proc_stat_cpu(read("/proc/stat"))
        return {"t": time.monotonic(), "busy": busy, "total": total,
                "asterisk": proc_ticks(pids_named("asterisk")), "sipp": proc_ticks(pids_named("sipp")),
                "uas": proc_ticks([uas_pid]) if uas_pid else 0}

    def between(self, a, b):
        wall_ticks = (b["t"] - a["t"]) * self.hz * self.ncpu
        return {
            "box": cpu_share_pct(b["busy"] - a["busy"], b["total"] - a["total"]),
            "asterisk": round(100.0 * (b["asterisk"] - a["asterisk"]) / wall_ticks, 1) if wall_ticks > 0 else None,
            "sipp": round(100.0 * (b["sipp"] - a["sipp"]) / wall_ticks, 1) if wall_ticks > 0 else None,
            "uas": round(100.0 * (b.get("uas", 0) - a.get("uas", 0)) / wall_ticks, 1) if wall_ticks > 0 else None,
        }


class Nft:
    def __init__(self, cfg):
        self.enabled = bool(cfg.get("count_rtp", True)) and shutil.which("nft") is not None
        self.cfg = cfg

    def setup(self):
        if not self.enabled:
            return
        self.teardown()
        rules = nft_ruleset(self.cfg["carrier_ip"], self.cfg["uas_ip"],
                            self.cfg["rtp_port_start"], self.cfg["rtp_port_end"])
        res = subprocess.run(["nft", "-f", "-"], input=rules, text=True, capture_output=True, check=False)
        if res.returncode != 0:
            log("nft counters unavailable (%s): RTP loss not measured" % res.stderr.strip())
            self.enabled = False

    def read(self):
        if not self.enabled:
            return {}
        res = subprocess.run(["nft", "-j", "list", "table", "inet", NFT_TABLE], capture_output=True, text=True, check=False)
        return parse_nft_counters(res.stdout) if res.returncode == 0 else {}

    def teardown(self):
        if shutil.which("nft"):
            subprocess.run(["nft", "delete", "table", "inet", NFT_TABLE], capture_output=True, check=False)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def start(cmd, cwd, logname):
    fh = open(os.path.join(cwd, logname), "w")
    return subprocess.Popen(cmd, cwd=cwd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            preexec_fn=raise_nofile, start_new_session=True)


def stop(procs, grace=5.0):
    for p in procs:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except OSError:
                pass
    end = time.monotonic() + grace
    for p in procs:
        try:
            p.wait(timeout=max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()


def contact_status(text):
    """Statuses of the contacts in `pjsip show endpoint X` / `pjsip show contacts` output."""
    return re.findall(r"^\s*Contact:\s+\S+\s+\S+\s+(\w+)", text, re.M)


def uas_reachable(endpoint, bound_s):
    end = time.monotonic() + bound_s
    asterisk_cli("pjsip qualify %s" % endpoint)
    while time.monotonic() < end:
        statuses = contact_status(asterisk_cli("pjsip show endpoint %s" % endpoint))
        # NonQual: qualify is off, Asterisk dials the contact anyway.
        if any(st in ("Avail", "NonQual") for st in statuses):
            return True
        time.sleep(0.5)
        asterisk_cli("pjsip qualify %s" % endpoint)
    return False


def wait_channels_zero(bound_s):
    end = time.monotonic() + bound_s
    while time.monotonic() < end:
        chans = parse_channels_count(asterisk_cli("core show channels count"))[0]
        if chans == 0:
            return True
        time.sleep(1)
    asterisk_cli("channel request hangup all")
    time.sleep(2)
    return parse_channels_count(asterisk_cli("core show channels count"))[0] == 0


def sipp_error_excerpt(directory, limit=3):
    """First events of SIPp's -trace_err files (why calls failed), each cut to 300 chars."""
    out = []
    for name in sorted(os.listdir(directory)):
        if name.endswith("_errors.log"):
            try:
                events = [ln for ln in read(os.path.join(directory, name)).splitlines() if re.match(r"^\d{4}-\d\d-\d\d", ln)]
            except OSError:
                continue
            out += ["%s: %s" % (name.split("_")[0], ev[:300]) for ev in events[:limit]]
    return out[:2 * limit]


def failed_so_far(directory):
    """Failed calls so far over every SIPp process of a step (their -fd 1 stat files)."""
    failed = 0
    for name in os.listdir(directory):
        # Callers only: a stray retransmitted BYE from an earlier aborted run counts as a failed
        # "call" at the UAS although no call of this step failed; real failures reach the caller.
        if name.startswith("uac_") and name.endswith("_.csv"):
            try:
                failed += int(parse_stat_csv(read(os.path.join(directory, name))).get("FailedCall(C)", 0) or 0)
            except (OSError, ValueError):
                continue
    return failed


def run_step(cfg, target, cpu, nft, deadline):
    """One step; returns the step dict. Never runs past `deadline` (monotonic)."""
    plan = call_plan(target, cfg["call_rate"], cfg["hold_s"], cfg["media_ms"])
    step_dir = os.path.join(cfg["workdir"], "step-%04d" % target)
    shutil.rmtree(step_dir, ignore_errors=True)
    os.makedirs(step_dir)
    os.symlink(cfg["pcap_dir"], os.path.join(step_dir, "pcap"))
    with open(os.path.join(step_dir, "uac.xml"), "w") as fh:
        fh.write(uac_scenario(plan["loops"], "pcap/" + cfg["pcap_file"], cfg["media_ms"], cfg["recv_timeout_ms"]))
    shutil.copy(cfg["uas_scenario"], os.path.join(step_dir, "uas.xml"))
    parts = split_calls(target, cfg["max_calls_per_sipp"])
    step = {"target_calls": target, "sipp_uac_processes": len(parts), "plan": plan,
            "load_avg_1m_before": load_avg(), "stop_reason": None}
    bound_s = int(plan["call_s"] + plan["ramp_s"] + 30)
    if time.monotonic() + bound_s + 30 > deadline:
        step["stop_reason"] = "time budget: step needs ~%d s" % (bound_s + 30)
        return step

    common = ["-nostdin", "-trace_stat", "-fd", "1", "-trace_err", "-timeout", "%ds" % bound_s,
              "-timeout_error"]
    uas = start(["sipp", "-sf", "uas.xml", "-i", cfg["uas_ip"], "-p", str(cfg["uas_port"]),
                 "-mi", cfg["uas_ip"], "-mp", str(cfg["uas_media_port"]), "-rtp_echo",
                 "-m", str(target), "-aa"] + common, step_dir, "uas.out")
    time.sleep(0.5)
    # A trunk with qualify marks the UAS unavailable while no SIPp listens (between steps), and
    # Asterisk does not dial unavailable contacts: re-qualify now that the UAS answers OPTIONS (-aa).
    if not uas_reachable(cfg.get("uas_endpoint", "vapi"), 10):
        stop([uas])
        step["stop_reason"] = "UAS contact of endpoint %s not available after qualify" % cfg.get("uas_endpoint", "vapi")
        return step
    uacs = []
    for i, n in enumerate(parts):
        rate = cfg["call_rate"] * n / float(target)
        uacs.append(start(
            ["sipp", "-sf", "uac.xml", "-s", cfg["did"], "%s:%d" % (cfg["target_ip"], cfg["target_port"]),
             "-i", cfg["carrier_ip"], "-p", str(cfg["uac_sip_port"] + i), "-mi", cfg["carrier_ip"],
             "-mp", str(cfg["uac_media_port"] + 10 * i), "-m", str(n), "-l", str(n),
             "-r", "%.3f" % rate, "-rp", "1000", "-trace_rtt", "-rtt_freq", "1"] + common,
            step_dir, "uac-%d.out" % i))
    t0 = time.monotonic()
    full_at = t0 + plan["full_from_s"] + cfg["settle_s"]
    full_until = t0 + plan["full_until_s"] - 0.5
    hold_start = hold_end = None
    samples = []
    chans_peak = calls_peak = 0
    bridges = {}
    over = 0
    last = cpu.snapshot(uas.pid)
    window_first = None
    nft_first = nft_last = None
    nft_first_t = None
    stopped_early = False
    while True:
        time.sleep(cfg["sample_s"])
        now = time.monotonic()
        snap = cpu.snapshot(uas.pid)
        chans, calls = parse_channels_count(asterisk_cli("core show channels count"))
        chans_peak = max(chans_peak, chans or 0)
        calls_peak = max(calls_peak, calls or 0)
        in_window = full_at <= now <= full_until
        if in_window:
            if window_first is None:
                window_first = last
                hold_start = last["t"]
                nft_first = nft.read()
                nft_first_t = now
            share = cpu.between(last, snap)
            samples.append(share)
            hold_end = now
            nft_last = nft.read()
            if not bridges and now - hold_start >= min(5.0, cfg["hold_s"] / 2.0):
                bridges = parse_bridge_technologies(asterisk_cli("bridge show all", timeout=30))
            if cfg["stop_on_cpu"] and share["box"] is not None and share["box"] > cfg["cpu_stop_pct"]:
                over += 1
                if over >= 2:
                    step["stop_reason"] = "box CPU above %s%%" % cfg["cpu_stop_pct"]
                    stopped_early = True
            else:
                over = 0
        last = snap
        failed = failed_so_far(step_dir)
        if failed and not stopped_early:
            step["stop_reason"] = "failed calls during the step"
            stopped_early = True
        if stopped_early:
            break
        if all(p.poll() is not None for p in uacs):
            break
        if now > t0 + bound_s + 10 or now > deadline:
            step["stop_reason"] = "step time bound reached"
            break
    stop(uacs + [uas], grace=3.0 if stopped_early else 15.0)
    step["window_s"] = round((hold_end - hold_start), 1) if hold_start and hold_end else 0.0
    # Full load is held from the moment the last call was answered until the first hangup.
    step["held_s"] = round(min(plan["call_s"] - plan["ramp_s"], (hold_end or t0) - (t0 + plan["full_from_s"])), 1) \
        if hold_end else 0.0
    if window_first is not None:
        whole = cpu.between(window_first, last)
        step["box_cpu_pct"] = whole["box"]
        step["asterisk_cpu_pct"] = whole["asterisk"]
        step["sipp_cpu_pct"] = whole["sipp"]
        # The single UAS process (one SIP contact) echoes all RTP: the first SIPp to saturate.
        step["sipp_uas_cpu_pct"] = whole["uas"]
        step["box_cpu_pct_peak"] = max(s["box"] for s in samples if s["box"] is not None) if samples else None
    else:
        step.update({"box_cpu_pct": None, "asterisk_cpu_pct": None, "sipp_cpu_pct": None, "box_cpu_pct_peak": None})
    # Stats: each SIPp process writes <scenario>_<pid>_.csv and _rtt.csv into the step dir.
    attempted = failed = uas_failed = 0
    rtts = []
    for name in sorted(os.listdir(step_dir)):
        path = os.path.join(step_dir, name)
        if name.startswith("uac_") and name.endswith("_.csv"):
            row = parse_stat_csv(read(path))
            attempted += int(row.get("OutgoingCall(C)", 0) or 0)
            failed += int(row.get("FailedCall(C)", 0) or 0)
        elif name.startswith("uac_") and name.endswith("_rtt.csv"):
            rtts += parse_rtt_csv(read(path))
        elif name.startswith("uas_") and name.endswith("_.csv"):
            uas_failed += int(parse_stat_csv(read(path)).get("FailedCall(C)", 0) or 0)
    step.update({"attempted": attempted, "answered": len(rtts), "failed": failed, "uas_failed": uas_failed,
                 "channels_peak": chans_peak, "calls_peak": calls_peak, "bridges": bridges,
                 "setup_ms": {"n": len(rtts), "p50": _r(percentile(rtts, 50)), "p95": _r(percentile(rtts, 95)),
                              "p99": _r(percentile(rtts, 99)), "max": _r(max(rtts) if rtts else None)}})
    delta = {}
    if nft_first is not None and nft_last:
        delta = {k: nft_last.get(k, 0) - nft_first.get(k, 0) for k in RTP_FLOWS}
    rtp_window = (hold_end - nft_first_t) if nft_first_t and hold_end else 0.0
    step["rtp"] = rtp_summary(delta, target, rtp_window, 1000.0 / cfg["ptime_ms"])
    if bridges and bridges.get("native_rtp", 0) < sum(bridges.values()):
        step["stop_reason"] = step["stop_reason"] or "non-native bridges: %s" % bridges
    early = [(i, p.returncode) for i, p in enumerate(uacs) if p.returncode not in (0, None)]
    if early and not step.get("stop_reason") and step.get("failed", 0) == 0:
        step["sipp_exit"] = "SIPp caller exited with rc %s (%s/uac-%d.out)" % (early[0][1], step_dir, early[0][0])
    step["sipp_errors"] = sipp_error_excerpt(step_dir)
    step["verdict"] = step_verdict(step, cfg["hold_s"], cfg["max_loss_pct"], cfg.get("loss_basis", "asterisk"))
    step["ok"] = step["verdict"] is None
    if not wait_channels_zero(30):
        log("channels still up after the step; hung them up")
    return step


def _r(value):
    return None if value is None else round(value, 2)


def versions():
    out = {}
    try:
        out["sipp"] = subprocess.run(["sipp", "-v"], capture_output=True, text=True, check=False).stdout.split("SIPp")[1].split()[0]
    except (OSError, IndexError):
        out["sipp"] = None
    out["asterisk"] = asterisk_cli("core show version").strip() or None
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    with open(args.config) as fh:
        cfg = json.load(fh)
    started = time.monotonic()
    deadline = started + float(cfg["max_total_s"])
    os.makedirs(cfg["workdir"], exist_ok=True)
    for tool in ("sipp", "asterisk"):
        if shutil.which(tool) is None:
            sys.exit("loadtest: %s is not installed on this host" % tool)
    if not pids_named("asterisk"):
        sys.exit("loadtest: Asterisk is not running on this host")
    if not wait_channels_zero(cfg.get("idle_wait_s", 30)):
        sys.exit("loadtest: Asterisk has active channels; refusing to load a box carrying calls")
    cpu = CpuSampler()
    nft = Nft(cfg)
    nft.setup()
    result = {"label": cfg.get("label"), "host": cfg.get("host"), "ncpu": cpu.ncpu,
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions(),
              "config": {k: v for k, v in cfg.items() if k not in ("workdir",)},
              "rtp_counted": nft.enabled, "steps": []}
    a = cpu.snapshot()
    time.sleep(3)
    idle = cpu.between(a, cpu.snapshot())
    result["idle"] = idle
    try:
        for target in cfg["steps"]:
            log("step: %d concurrent calls" % target)
            step = run_step(cfg, target, cpu, nft, deadline)
            result["steps"].append(step)
            log("step %d: ok=%s attempted=%s answered=%s failed=%s box=%s%% ast=%s%% sipp=%s%% loss=%s%% %s" % (
                target, step.get("ok"), step.get("attempted"), step.get("answered"), step.get("failed"),
                step.get("box_cpu_pct"), step.get("asterisk_cpu_pct"), step.get("sipp_cpu_pct"),
                (step.get("rtp") or {}).get("loss_pct"), step.get("verdict") or ""))
            if not step.get("ok"):
                break
            time.sleep(cfg.get("cooldown_s", 3))
    finally:
        nft.teardown()
    result["duration_s"] = round(time.monotonic() - started, 1)
    result["summary"] = summarize(result["steps"], idle["box"], cfg["cpu_stop_pct"])
    with open(os.path.join(cfg["workdir"], "results.json"), "w") as fh:
        json.dump(result, fh, indent=2, sort_keys=True)
    with open(os.path.join(cfg["workdir"], "results.csv"), "w") as fh:
        fh.write(to_csv(result["steps"]))
    table = render_table(result)
    with open(os.path.join(cfg["workdir"], "table.txt"), "w") as fh:
        fh.write(table)
    sys.stdout.write(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
