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
import bisect
import csv
import io
import json
import math
import os
import re
import resource
import shutil
import signal
import struct
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
    "load_avg_1m_before", "edge_latency_ms_p50", "edge_latency_ms_p99", "edge_jitter_ms_p99",
    "edge_transit_jitter_ms_p99", "edge_packets_matched",
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
    return [ms for _date, ms in parse_rtt_times(text, rtd)]


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
    edge = step.get("edge") or {}
    row.update({
        "edge_latency_ms_p50": (edge.get("latency_ms") or {}).get("p50"),
        "edge_latency_ms_p99": (edge.get("latency_ms") or {}).get("p99"),
        "edge_jitter_ms_p99": (edge.get("added_jitter_ms") or {}).get("p99"),
        "edge_transit_jitter_ms_p99": (edge.get("transit_jitter_ms") or {}).get("p99"),
        "edge_packets_matched": edge.get("matched"),
    })
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
            ("edge p50 ms", "edge_latency_ms_p50"), ("edge p99 ms", "edge_latency_ms_p99"),
            ("jitter+ p99 ms", "edge_jitter_ms_p99"),
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
    cps = result.get("cps")
    if cps:
        lines.append("call rate: %s/s with 0 failures (setup p99 %s ms); steps %s; stopped: %s" % (
            cps.get("cps_max"), cps.get("setup_ms_p99_at_cps_max"),
            ", ".join("%s/s %s" % (st.get("rate"), "ok" if st.get("ok") else "no") for st in cps.get("steps", [])),
            cps.get("stopped_because") or "rate list done"))
    silent = result.get("silent")
    if silent:
        lines.append("silent legs: AI side silent survived: %s; silent carrier torn down: %s; %s" % (
            _cell(silent.get("silent_leg_survived")), _cell(silent.get("carrier_silent_torn_down")),
            "; ".join(silent.get("problems") or []) or "all assertions hold"))
    soak = result.get("soak")
    if soak:
        if soak.get("skipped"):
            lines.append("soak: skipped (%s)" % soak["skipped"])
        else:
            lines.append("soak: %s calls for %s s: %s attempted, %s failed; Asterisk RSS %s -> %s KiB, open files %s -> %s;"
                         " Asterisk loss max %s%%, growth %s%%" % (
                             soak.get("calls"), soak.get("soak_s"), soak.get("attempted"), soak.get("failed"),
                             soak.get("rss_kib_start"), soak.get("rss_kib_end"), soak.get("open_files_start"),
                             soak.get("open_files_end"), soak.get("loss_pct_max"), soak.get("loss_growth_pct")))
    return "\n".join(lines) + "\n"


UAC_WAIT_BYE = """  <recv request="BYE" timeout="%(bye_timeout)d"/>
  <send>
    <![CDATA[

      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:sipp@[local_ip]:[local_port]>
      Content-Length: 0

    ]]>
  </send>
  <timewait milliseconds="2000"/>
</scenario>
"""


def uac_scenario(loops, pcap_path, media_ms, recv_timeout_ms=10000, service_hint="byom loadtest",
                 after_ack=None, wait_bye_ms=None):
    """SIPp UAC: INVITE offering PCMA (like the built-in uac_pcap), then the pcap looped.

    after_ack replaces the looped media (e.g. a plain pause: a short call without media, or one
    long pcap); wait_bye_ms makes the caller wait that long for the edge's BYE instead of
    hanging up itself (a call the edge must tear down)."""
    media = after_ack if after_ack is not None else "".join(
        '  <nop><action><exec play_pcap_audio="%s"/></action></nop>\n'
        '  <pause milliseconds="%d"/>\n' % (pcap_path, media_ms) for dummy in range(loops))
    xml = uac_scenario_text(loops, service_hint, media, recv_timeout_ms)
    if wait_bye_ms is not None:
        xml = xml[:xml.index("  <send retrans=\"500\">\n    <![CDATA[\n\n      BYE")] + \
            UAC_WAIT_BYE % {"bye_timeout": wait_bye_ms}
    return xml


def uac_scenario_text(loops, service_hint, media, recv_timeout_ms):
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
%(ack)s  </send>
%(media)s  <send retrans="500">
%(bye)s  </send>
  <recv response="200" timeout="%(recv_timeout)d"/>
</scenario>
""" % {"loops": loops, "name": service_hint, "media": media, "recv_timeout": recv_timeout_ms,
       "ack": _in_dialog_request("ACK", 1), "bye": _in_dialog_request("BYE", 2)}


def _in_dialog_request(method, cseq):
    """The caller's ACK or BYE in the call's dialog (the To tag SIPp learnt from the 200 OK)."""
    return """    <![CDATA[

      %(method)s [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      [routes]
      From: sipp <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag09[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: %(cseq)d %(method)s
      Contact: sip:sipp@[local_ip]:[local_port]
      Max-Forwards: 70
      Content-Length: 0

    ]]>
""" % {"method": method, "cseq": cseq}


def uas_scenario(uas_xml, play_pcap=None):
    """The echo UAS's scenario, optionally sending a pcap of its own after the ACK (the AI side
    talking while the carrier side is silent). No pause: a BYE may come at any time."""
    if not play_pcap:
        return uas_xml
    marker = '<recv request="ACK" rtd="true" crlf="true"/>'
    if marker not in uas_xml:
        raise ValueError("UAS scenario has no ACK receive to play media after")
    return uas_xml.replace(marker, marker + '\n  <nop><action><exec play_pcap_audio="%s"/></action></nop>' % play_pcap, 1)


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


# ----------------------------------------------------------------------------- G.711 media

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
LINKTYPE_ETHERNET = 1
LINKTYPE_LINUX_SLL = 113
PCMA_SILENCE = 0xD5
PCAP_EPOCH = 1700000000


def _ip_checksum(header):
    total = sum(struct.unpack("!%dH" % (len(header) // 2), header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def rtp_frame(index, ptime_ms=20, src="127.0.0.1", sport=6000, dst="127.0.0.1", dport=6000, ssrc=0x42594F4D):
    """One Ethernet/IPv4/UDP frame of PCMA RTP: packet `index` of a stream at ptime_ms. The
    payload starts with the index (4 bytes), the rest is A-law silence."""
    samples = 8 * ptime_ms  # 8 kHz
    payload = struct.pack("!I", index) + bytes([PCMA_SILENCE]) * (samples - 4)
    rtp = struct.pack("!BBHII", 0x80, 8 | (0x80 if index == 0 else 0), index & 0xFFFF,
                      (index * samples) & 0xFFFFFFFF, ssrc)
    udp_len = 8 + len(rtp) + len(payload)
    udp = struct.pack("!HHHH", sport, dport, udp_len, 0)  # checksum 0: optional for IPv4
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0xB8, 20 + udp_len, index & 0xFFFF, 0x4000, 64, 17, 0,
                               bytes(int(x) for x in src.split(".")), bytes(int(x) for x in dst.split("."))))
    ip[10:12] = struct.pack("!H", _ip_checksum(bytes(ip)))
    return b"\x00" * 12 + b"\x08\x00" + bytes(ip) + udp + rtp + payload


def pcap_bytes(records, nanosecond=False):
    """A pcap (Ethernet link type) of [(seconds since the start, frame)]."""
    magic, scale = (PCAP_MAGIC_NS, 10 ** 9) if nanosecond else (PCAP_MAGIC_US, 10 ** 6)
    out = [struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET)]
    for t, frame in records:
        frac = int(round(t * scale))
        out.append(struct.pack("<IIII", PCAP_EPOCH + frac // scale, frac % scale, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def pcma_pcap_bytes(ptime_ms=20, duration_ms=10000):
    """A pcap of PCMA (payload 8) RTP, one packet every ptime_ms, as SIPp's play_pcap_audio
    replays it (SIPp rewrites addresses and ports, keeps the RTP header and the timing).
    Carriers and Vapi send G.711 at 20 ms (50 packets/s); SIPp's own g711a.pcap is 30 ms.
    The indexed payload lets a packet be recognised on both sides of the edge.

    Returns (pcap bytes, packet count, period in ms: the replay length before it can loop)."""
    if ptime_ms not in (10, 20, 30, 40, 60):
        raise ValueError("ptime_ms must be one of 10, 20, 30, 40, 60, got %r" % (ptime_ms,))
    count = int(round(duration_ms / float(ptime_ms)))
    if not 1 <= count <= 100000:
        raise ValueError("duration_ms gives %d packets: must be 1..100000" % count)
    records = [(i * ptime_ms / 1000.0, rtp_frame(i, ptime_ms)) for i in range(count)]
    return pcap_bytes(records), count, count * ptime_ms


def write_pcma_pcap(path, ptime_ms=20, duration_ms=10000):
    """Write pcma_pcap_bytes() to path; returns (packet count, period ms)."""
    data, count, period = pcma_pcap_bytes(ptime_ms, duration_ms)
    with open(path, "wb") as fh:
        fh.write(data)
    return count, period


def read_pcap(data):
    """(linktype, [(seconds since the first packet's second, frame bytes)]) from a pcap
    (micro- or nanosecond timestamps, either byte order)."""
    if len(data) < 24:
        return None, []
    for endian in ("<", ">"):
        magic = struct.unpack(endian + "I", data[:4])[0]
        if magic in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            break
    else:
        raise ValueError("not a pcap file (magic %r)" % data[:4])
    scale = 1e-9 if magic == PCAP_MAGIC_NS else 1e-6
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
    out = []
    pos, end = 24, len(data)
    base = None
    hdr = struct.Struct(endian + "IIII")
    while pos + 16 <= end:
        sec, frac, incl, dummy = hdr.unpack_from(data, pos)
        pos += 16
        if pos + incl > end:
            break  # a capture cut short mid-packet
        if base is None:
            base = sec  # relative seconds: a double cannot hold epoch seconds to the nanosecond
        out.append(((sec - base) + frac * scale, data[pos:pos + incl]))
        pos += incl
    return linktype, out


def parse_rtp_frame(frame, linktype):
    """(src ip, src port, dst ip, dst port, seq, rtp ts, key) of an IPv4/UDP/RTP frame, or None.

    key = RTP seq, timestamp, SSRC-free payload prefix: the same packet before and after a
    relay that does not transcode (Asterisk's native RTP bridge may rewrite the SSRC)."""
    if linktype == LINKTYPE_ETHERNET:
        off, ethertype = 14, frame[12:14]
        if ethertype == b"\x81\x00":
            off, ethertype = 18, frame[16:18]
    elif linktype == LINKTYPE_LINUX_SLL:
        off, ethertype = 16, frame[14:16]
    elif linktype == 276:  # LINUX_SLL2 (tcpdump -i any)
        off, ethertype = 20, frame[0:2]
    else:
        return None
    if ethertype != b"\x08\x00" or len(frame) < off + 20:
        return None
    ihl = (frame[off] & 0x0F) * 4
    if frame[off + 9] != 17:
        return None
    src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
    u = off + ihl
    if len(frame) < u + 8 + 12:
        return None
    sport, dport = struct.unpack("!HH", frame[u:u + 4])
    r = u + 8
    if frame[r] >> 6 != 2:
        return None
    seq, ts = struct.unpack("!HI", frame[r + 2:r + 8])
    key = (seq, ts, bytes(frame[r + 12:r + 20]))
    return (".".join(str(b) for b in src), sport, ".".join(str(b) for b in dst), dport, seq, ts, key)


def rfc3550_jitter(pairs):
    """Mean of RFC 3550's running interarrival jitter J (J += (|D| - J) / 16) over a flow.

    pairs: [(arrival s, send s)] in arrival order; D is the change of (arrival - send) between
    consecutive packets. Returns ms, or None for fewer than 2 packets."""
    if len(pairs) < 2:
        return None
    j = 0.0
    total = 0.0
    for (a0, s0), (a1, s1) in zip(pairs, pairs[1:]):
        d = (a1 - a0) - (s1 - s0)
        j += (abs(d) - j) / 16.0
        total += j
    return 1000.0 * total / (len(pairs) - 1)


def _rtp_pairs(packets, clock_hz=8000):
    """(arrival, RTP-timestamp time) pairs of one flow, split where the timestamp jumps (a pcap
    replayed from its start again restarts its timestamps): each run is judged on its own."""
    runs, cur, prev = [], [], None
    for t, ts in packets:
        if prev is not None:
            step = (ts - prev) & 0xFFFFFFFF
            if step == 0 or step > clock_hz:  # 1 s: not the same stream any more
                runs.append(cur)
                cur = []
        prev = ts
        cur.append((t, ts / float(clock_hz)))
    runs.append(cur)
    return [r for r in runs if len(r) >= 2]


def _flow_jitter(packets):
    vals = [(rfc3550_jitter(r), len(r)) for r in _rtp_pairs(packets)]
    vals = [(v, n) for v, n in vals if v is not None]
    n = sum(c for dummy, c in vals)
    return sum(v * c for v, c in vals) / n if n else None


def pair_relays(events, window_s):
    """{port: port} of the edge's relays (both directions: a bridge sends what enters on one
    leg's port out of the other leg's port, and the reverse).

    Every call replays the same media, and SIPp starts calls in bursts, so several calls send
    the same packet within microseconds: one packet alone cannot tell which outgoing port
    relays which incoming one. So: each outgoing copy of a packet is paired with the earliest
    still-pending incoming copy (first in, first out) that did not come from the address it
    goes to, within window_s; every such pairing is a vote; then port pairs are taken by their
    votes in both directions, each port once. events: (time, "in"/"out", edge port, key, peer ip)
    in time order."""
    pending, votes = {}, {}
    for t, kind, port, key, peer in events:
        queue = pending.setdefault(key, [])
        if kind == "in":
            queue.append((t, port, peer))
            continue
        while queue and t - queue[0][0] > window_s:
            queue.pop(0)
        for i, (dummy, iport, src) in enumerate(queue):
            if src != peer:
                votes[(iport, port)] = votes.get((iport, port), 0) + 1
                del queue[i]
                break
    pairs = {}
    for (a, b), n in votes.items():
        pair = (min(a, b), max(a, b))
        pairs[pair] = pairs.get(pair, 0) + n
    relay = {}
    for (a, b), dummy in sorted(pairs.items(), key=lambda kv: (-kv[1], kv[0])):
        if a not in relay and b not in relay:
            relay[a], relay[b] = b, a
    return relay


def edge_transit(frames, linktype, rtp_start, rtp_end, window_s=1.0):
    """Per-packet transit through the edge from one capture that sees both sides of it.

    A packet INTO the edge goes to an even port of its RTP range, a packet OUT of it leaves
    from one. The same packet is recognised on both sides by RTP seq + timestamp + payload
    prefix, once it is known which outgoing port relays which incoming one (pair_relays: all
    calls replay the same media, so one packet alone is ambiguous). Returns
    transit p50/p99/max (ms), RFC 3550 jitter in and out per relayed flow and the jitter the
    edge adds (out minus in), and the transit's own jitter (RFC 3550 with the ingress capture
    time as the send time)."""
    def mine(port):
        return rtp_start <= port <= rtp_end and port % 2 == 0

    inbound, outbound = [], {}
    out_by_port = {}
    events = []
    for t, frame in frames:
        p = parse_rtp_frame(frame, linktype)
        if not p:
            continue
        if mine(p[3]) and not mine(p[1]):
            inbound.append((t, p[3], p[6], p[5]))
            events.append((t, "in", p[3], p[6], p[0]))
        elif mine(p[1]) and not mine(p[3]):
            outbound.setdefault(p[6], []).append((t, p[1]))
            out_by_port.setdefault(p[1], []).append((t, p[5]))
            events.append((t, "out", p[1], p[6], p[2]))
    # Capture order is time order: each key's list is sorted, so bisect finds the first
    # candidate at or after the ingress time.
    out_times = {key: [c[0] for c in cands] for key, cands in outbound.items()}

    def candidates(key, t):
        times = out_times.get(key)
        if not times:
            return
        cands = outbound[key]
        i = bisect.bisect_left(times, t)
        while i < len(times) and times[i] <= t + window_s:
            yield cands[i]
            i += 1

    relay = pair_relays(events, window_s)
    transits, per_flow, in_flows = [], {}, {}
    unmatched = 0
    for t, port, key, ts in inbound:
        in_flows.setdefault(port, []).append((t, ts))
        oport = relay.get(port)
        t_out = next((cand for cand, cport in candidates(key, t) if cport == oport), None)
        if t_out is None:
            unmatched += 1
            continue
        transits.append(1000.0 * (t_out - t))
        per_flow.setdefault(port, []).append((t_out, t))
    added, transit_jitter = [], []
    for port, pairs in per_flow.items():
        transit_jitter.append(rfc3550_jitter(sorted(pairs)))
        j_in = _flow_jitter(in_flows.get(port, []))
        j_out = _flow_jitter(sorted(out_by_port.get(relay[port], [])))
        if j_in is not None and j_out is not None:
            added.append(j_out - j_in)
    transit_jitter = [v for v in transit_jitter if v is not None]

    def stats(vals):
        if not vals:
            return {"p50": None, "p99": None, "max": None}
        return {"p50": _r3(percentile(vals, 50)), "p99": _r3(percentile(vals, 99)), "max": _r3(max(vals))}

    # Unmatched: dropped by the edge, relayed after the capture stopped, or entered on a port
    # whose call began or ended during the capture.
    return {"packets_in": len(inbound), "matched": len(transits), "unmatched": unmatched,
            "matched_pct": round(100.0 * len(transits) / len(inbound), 2) if inbound else None,
            "flows": len(per_flow), "relays": {str(k): v for k, v in sorted(relay.items())}, "latency_ms": stats(transits),
            "added_jitter_ms": stats(added), "transit_jitter_ms": stats(transit_jitter)}


def _r3(value):
    return None if value is None else round(value, 3)


def resolve_media(cfg):
    """Fill pcap_dir / pcap_file / media_ms / ptime_ms: a given pcap is used as configured;
    without one (pcap_file empty) a PCMA pcap at ptime_ms is generated into the workdir."""
    if cfg.get("pcap_file"):
        return cfg
    ptime = int(cfg.get("ptime_ms") or 20)
    name = "pcma-%dms.pcap" % ptime
    count, period = write_pcma_pcap(os.path.join(cfg["workdir"], name), ptime, int(cfg.get("media_period_ms") or 10000))
    cfg.update({"pcap_dir": cfg["workdir"], "pcap_file": name, "media_ms": period, "ptime_ms": ptime,
                "pcap_generated": True, "pcap_packets": count})
    return cfg


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


class EdgeCapture:
    """tcpdump on the target for capture_s seconds of a step's full-load window: the RTP both
    into and out of Asterisk's port range, as a pcap on tcpdump's stdout (no file written by
    tcpdump itself: it drops root and may be confined by AppArmor). Bounded by a packet count
    (-c) and by time (SIGINT after capture_s; SIGKILL 5 s later)."""

    def __init__(self, cfg, step_dir):
        self.cfg = cfg
        self.path = os.path.join(step_dir, "edge.pcap")
        self.proc = None
        self.started = None
        self.enabled = float(cfg.get("capture_s") or 0) > 0 and shutil.which("tcpdump") is not None

    def start(self):
        if not self.enabled or self.proc is not None:
            return
        rng = "%d-%d" % (self.cfg["rtp_port_start"], self.cfg["rtp_port_end"])
        self.fh = open(self.path, "wb")
        self.err = open(self.path + ".log", "w")
        # 62 bytes: Ethernet + IPv4 + UDP + RTP header + the 8-byte payload prefix the matching needs.
        self.proc = subprocess.Popen(
            ["tcpdump", "-i", self.cfg.get("capture_interface", "lo"), "-n", "-s", "96", "-B", "32768",
             "-c", str(int(self.cfg.get("capture_max_packets", 400000))), "--time-stamp-precision=nano",
             "-U", "-w", "-", "udp and portrange %s" % rng],
            stdout=self.fh, stderr=self.err, stdin=subprocess.DEVNULL, start_new_session=True)
        self.started = time.monotonic()

    def due(self):
        return self.proc is not None and self.proc.poll() is None and \
            time.monotonic() - self.started >= float(self.cfg["capture_s"])

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.fh.close()
        self.err.close()

    def result(self):
        if self.proc is None:
            return {"captured": False}
        self.stop()
        with open(self.path, "rb") as fh:
            data = fh.read()
        try:
            linktype, frames = read_pcap(data)
        except ValueError as exc:
            return {"captured": False, "error": str(exc)}
        res = edge_transit(frames, linktype, self.cfg["rtp_port_start"], self.cfg["rtp_port_end"])
        res.update({"captured": True, "frames": len(frames), "capture_s": self.cfg["capture_s"],
                    "kernel_dropped": tcpdump_dropped(read(self.path + ".log"))})
        if not self.cfg.get("keep_captures"):
            os.unlink(self.path)
        return res


def tcpdump_dropped(text):
    """Packets tcpdump reports as "dropped by kernel" (None when it did not say)."""
    m = re.search(r"(\d+) packets? dropped by kernel", text)
    return int(m.group(1)) if m else None


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
    capture = EdgeCapture(cfg, step_dir)
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
                if now + float(cfg.get("capture_s") or 0) < full_until - 1.0:
                    capture.start()
            if capture.due():
                capture.stop()
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
    capture.stop()
    stop(uacs + [uas], grace=3.0 if stopped_early else 15.0)
    step["edge"] = capture.result()
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


def parse_rtt_times(text, rtd=1):
    """[(Date_ms, response time ms)] from SIPp's -trace_rtt file."""
    out = []
    for line in text.splitlines():
        parts = line.strip().split(";")
        if len(parts) < 3 or not parts[0] or parts[0].startswith("Date"):
            continue
        try:
            if int(parts[2]) == rtd:
                out.append((float(parts[0]), float(parts[1])))
        except ValueError:
            continue
    return out


def achieved_rate(times_ms):
    """Calls per second between the first and the last answered call (None under 2 calls)."""
    if len(times_ms) < 2:
        return None
    span = (max(times_ms) - min(times_ms)) / 1000.0
    return round((len(times_ms) - 1) / span, 1) if span > 0 else None


def run_calls(cfg, job_dir, uac_xml, uas_xml, rate, total, bound_s, uas_echo=True, cpu=None):
    """One UAS + one caller process placing `total` calls at `rate`/s; bounded by bound_s
    (SIPp's own -timeout and this loop). Returns the counters, setup times and CPU."""
    shutil.rmtree(job_dir, ignore_errors=True)
    os.makedirs(job_dir)
    os.symlink(cfg["workdir"], os.path.join(job_dir, "media"))
    if cfg.get("pcap_dir") and cfg["pcap_dir"] != cfg["workdir"]:
        os.symlink(cfg["pcap_dir"], os.path.join(job_dir, "pcap"))
    else:
        os.symlink(cfg["workdir"], os.path.join(job_dir, "pcap"))
    with open(os.path.join(job_dir, "uac.xml"), "w") as fh:
        fh.write(uac_xml)
    with open(os.path.join(job_dir, "uas.xml"), "w") as fh:
        fh.write(uas_xml)
    common = ["-nostdin", "-trace_stat", "-fd", "1", "-trace_err", "-timeout", "%ds" % bound_s, "-timeout_error"]
    uas = start(["sipp", "-sf", "uas.xml", "-i", cfg["uas_ip"], "-p", str(cfg["uas_port"]),
                 "-mi", cfg["uas_ip"], "-mp", str(cfg["uas_media_port"]), "-m", str(total), "-aa"]
                + (["-rtp_echo"] if uas_echo else []) + common, job_dir, "uas.out")
    time.sleep(0.5)
    out = {"rate": rate, "calls": total}
    if not uas_reachable(cfg.get("uas_endpoint", "vapi"), 10):
        stop([uas])
        out["verdict"] = "UAS contact of endpoint %s not available after qualify" % cfg.get("uas_endpoint", "vapi")
        return out
    first = cpu.snapshot() if cpu else None
    t0 = time.monotonic()
    uac = start(["sipp", "-sf", "uac.xml", "-s", cfg["did"], "%s:%d" % (cfg["target_ip"], cfg["target_port"]),
                 "-i", cfg["carrier_ip"], "-p", str(cfg["uac_sip_port"]), "-mi", cfg["carrier_ip"],
                 "-mp", str(cfg["uac_media_port"]), "-m", str(total), "-l", str(total),
                 "-r", "%.3f" % rate, "-rp", "1000", "-trace_rtt", "-rtt_freq", "1"] + common,
                job_dir, "uac.out")
    while uac.poll() is None and time.monotonic() < t0 + bound_s + 10:
        time.sleep(0.5)
    last = cpu.snapshot() if cpu else None
    stop([uac, uas], grace=5.0)
    out["duration_s"] = round(time.monotonic() - t0, 1)
    row = uas_row = {}
    rtts = []
    for name in sorted(os.listdir(job_dir)):
        path = os.path.join(job_dir, name)
        if name.startswith("uac_") and name.endswith("_.csv"):
            row = parse_stat_csv(read(path))
        elif name.startswith("uac_") and name.endswith("_rtt.csv"):
            rtts = parse_rtt_times(read(path))
        elif name.startswith("uas_") and name.endswith("_.csv"):
            uas_row = parse_stat_csv(read(path))
    setup = [r for dummy, r in rtts]
    out.update({
        "attempted": int(row.get("OutgoingCall(C)", 0) or 0), "answered": len(rtts),
        "successful": int(row.get("SuccessfulCall(C)", 0) or 0), "failed": int(row.get("FailedCall(C)", 0) or 0),
        "uas_successful": int(uas_row.get("SuccessfulCall(C)", 0) or 0),
        "uas_failed": int(uas_row.get("FailedCall(C)", 0) or 0),
        # INVITE sent = 200 OK received - response time: the rate the calls were attempted at.
        "achieved_cps": achieved_rate([t - r for t, r in rtts]),
        "setup_over_threshold": sum(1 for r in setup if r > float(cfg.get("cps_setup_threshold_ms", 1000))),
        "setup_ms": {"n": len(setup), "p50": _r(percentile(setup, 50)), "p99": _r(percentile(setup, 99)),
                     "max": _r(max(setup) if setup else None)},
        "uac_rc": uac.returncode, "sipp_errors": sipp_error_excerpt(job_dir),
    })
    if first and last:
        share = cpu.between(first, last)
        out.update({"box_cpu_pct": share["box"], "asterisk_cpu_pct": share["asterisk"], "sipp_cpu_pct": share["sipp"]})
    return out


def cps_verdict(res, min_ratio=0.95):
    """Why a call-rate step does not count (None when it does): every call answered and
    completed, and the generator really placed them at >= min_ratio of the rate."""
    if res.get("verdict"):
        return res["verdict"]
    if res.get("failed", 0) > 0:
        return "%d failed calls" % res["failed"]
    if res.get("successful", 0) < res["calls"]:
        return "only %d of %d calls completed" % (res.get("successful", 0), res["calls"])
    if res.get("setup_over_threshold"):
        # RFC 7502: an attempt not established within the threshold time counts as failed.
        return "%d calls set up slower than the %s ms threshold (p99 %s ms)" % (
            res["setup_over_threshold"], res.get("setup_threshold_ms"), (res.get("setup_ms") or {}).get("p99"))
    if res.get("achieved_cps") is not None and res["achieved_cps"] < min_ratio * res["rate"]:
        return "calls placed at %.1f/s only (the generator's limit, not the edge's)" % res["achieved_cps"]
    return None


def run_cps(cfg, cpu, deadline):
    """RFC 7502's session attempt rate: short calls (no media, cps_call_ms long) at rising
    attempt rates until the first rate that is not completed with 0 failures."""
    steps = []
    call_ms = int(cfg.get("cps_call_ms", 1000))
    uac_xml = uac_scenario(0, "", 0, cfg["recv_timeout_ms"], "byom loadtest cps",
                           after_ack='  <pause milliseconds="%d"/>\n' % call_ms)
    uas_xml = read(cfg["uas_scenario"])
    for rate in cfg.get("cps_rates") or []:
        total = int(rate * float(cfg.get("cps_step_s", 10)))
        bound_s = int(float(cfg.get("cps_step_s", 10)) + call_ms / 1000.0 + 30)
        if time.monotonic() + bound_s + 30 > deadline:
            steps.append({"rate": rate, "calls": total, "ok": False, "verdict": "time budget"})
            break
        log("call rate: %d calls at %d/s" % (total, rate))
        res = run_calls(cfg, os.path.join(cfg["workdir"], "cps-%04d" % rate), uac_xml, uas_xml, rate, total,
                        bound_s, cpu=cpu)
        res["setup_threshold_ms"] = int(cfg.get("cps_setup_threshold_ms", 1000))
        res["verdict"] = cps_verdict(res)
        res["ok"] = res["verdict"] is None
        steps.append(res)
        log("call rate %d/s: ok=%s answered=%s failed=%s achieved=%s/s setup p99=%s ms %s" % (
            rate, res["ok"], res.get("answered"), res.get("failed"), res.get("achieved_cps"),
            (res.get("setup_ms") or {}).get("p99"), res["verdict"] or ""))
        wait_channels_zero(30)
        if not res["ok"]:
            break
        time.sleep(cfg.get("cooldown_s", 3))
    held = [st for st in steps if st.get("ok")]
    top = held[-1] if held else None
    return {"steps": steps, "cps_max": top["rate"] if top else 0,
            "setup_ms_p99_at_cps_max": (top or {}).get("setup_ms", {}).get("p99"),
            "achieved_cps_at_max": (top or {}).get("achieved_cps"),
            "stopped_because": next((st["verdict"] for st in steps if not st.get("ok")), None)}


def parse_endpoint_rtp_timeout(text):
    """rtp_timeout (s) from `pjsip show endpoint X`; None when absent (0 = off)."""
    m = re.search(r"^\s*rtp_timeout\s*:\s*(\d+)", text, re.M)
    return int(m.group(1)) if m else None


def parse_log_dir(text):
    m = re.search(r"^\s*Log directory:\s*(\S+)", text, re.M)
    return m.group(1) if m else "/var/log/asterisk"


def parse_silent_log(text, call_log_tag="BYOM-CALL"):
    """Hangup causes per endpoint (the role's hangup handler line) and the channels Asterisk
    disconnected for lack of RTP, from the log lines of one silent-leg call."""
    causes = {}
    for m in re.finditer(r"%s endpoint=(\S*) .*?cause=(\d*)" % re.escape(call_log_tag), text):
        causes.setdefault(m.group(1) or "?", []).append(int(m.group(2)) if m.group(2) else None)
    timeouts = [{"channel": m.group(1), "after_s": int(m.group(2))} for m in re.finditer(
        r"Disconnecting channel '([^']+)' for lack of (?:\w+ )?RTP activity in (\d+) seconds", text)]
    return {"causes": causes, "rtp_timeouts": timeouts}


class TempLog:
    """A temporary Asterisk logger channel (`logger add channel`, gone at the next logger
    reload) for the calls of one check: their log lines without reading the box's own logs."""

    def __init__(self, name):
        self.name = name
        self.path = os.path.join(parse_log_dir(asterisk_cli("core show settings")), name)

    def __enter__(self):
        asterisk_cli("logger add channel %s notice,warning" % self.name)
        return self

    def text(self):
        try:
            return read(self.path)
        except OSError:
            return ""

    def __exit__(self, *exc):
        asterisk_cli("logger remove channel %s" % self.name)
        try:
            os.unlink(self.path)
        except OSError:
            pass


def silent_verdicts(ai, carrier, carrier_endpoint, expect_ai_cause=16, expect_carrier_cause=44):
    """The silent-leg assertions: the AI-silent call survives to the caller's own BYE with a
    normal clearing; the carrier-silent call is torn down by the edge's RTP timeout on the
    carrier leg, both legs get a BYE, with the expected cause."""
    problems = []
    if ai is not None:
        if ai.get("successful") != 1 or ai.get("failed"):
            problems.append("AI-silent call did not survive (successful=%s failed=%s)" % (
                ai.get("successful"), ai.get("failed")))
        if ai.get("log", {}).get("rtp_timeouts"):
            problems.append("AI-silent call: Asterisk disconnected %s for lack of RTP" % ai["log"]["rtp_timeouts"])
        got = (ai.get("log", {}).get("causes") or {}).get(carrier_endpoint)
        if got is not None and got != [expect_ai_cause]:
            problems.append("AI-silent call: hangup cause %s, expected %s" % (got, expect_ai_cause))
    if carrier is not None and not carrier.get("skipped"):
        timeouts = carrier.get("log", {}).get("rtp_timeouts") or []
        if not any("/%s-" % carrier_endpoint in t["channel"] for t in timeouts):
            problems.append("carrier-silent call: no RTP timeout on the carrier leg (%s)" % timeouts)
        if carrier.get("successful") != 1:
            problems.append("carrier-silent call: the caller got no BYE from the edge (successful=%s)" % carrier.get("successful"))
        if carrier.get("uas_successful") != 1:
            problems.append("carrier-silent call: the AI leg was not hung up cleanly (uas successful=%s)" % carrier.get("uas_successful"))
        got = (carrier.get("log", {}).get("causes") or {}).get(carrier_endpoint)
        if got is not None and got != [expect_carrier_cause]:
            problems.append("carrier-silent call: hangup cause %s, expected %s" % (got, expect_carrier_cause))
    return problems


def run_silent(cfg, deadline):
    """Two single calls: the AI side silent for silent_ai_s (must survive), then the carrier
    side silent past its endpoint's rtp_timeout (the edge must tear the call down)."""
    out = {}
    carrier_ep = cfg.get("carrier_endpoint", "carrier")
    uas_ep = cfg.get("uas_endpoint", "vapi")
    out["rtp_timeout_s"] = {carrier_ep: parse_endpoint_rtp_timeout(asterisk_cli("pjsip show endpoint %s" % carrier_ep)),
                            uas_ep: parse_endpoint_rtp_timeout(asterisk_cli("pjsip show endpoint %s" % uas_ep))}
    ptime = int(cfg.get("ptime_ms") or 20)
    silent_ai_s = int(cfg.get("silent_ai_s", 90))
    tag = cfg.get("call_log_tag", "BYOM-CALL")
    # A: the caller talks for silent_ai_s + 5 s, the AI side answers and never sends RTP.
    bound = silent_ai_s + 40
    if time.monotonic() + bound + 30 > deadline:
        out["ai_silent"] = {"skipped": "time budget"}
    else:
        write_pcma_pcap(os.path.join(cfg["workdir"], "silent-caller.pcap"), ptime, (silent_ai_s + 5) * 1000)
        uac = uac_scenario(0, "", 0, cfg["recv_timeout_ms"], "byom loadtest ai silent", after_ack=(
            '  <nop><action><exec play_pcap_audio="media/silent-caller.pcap"/></action></nop>\n'
            '  <pause milliseconds="%d"/>\n' % ((silent_ai_s + 5) * 1000)))
        log("silent legs: AI side silent for %d s" % silent_ai_s)
        with TempLog("byom-loadtest-ai-silent.log") as tl:
            res = run_calls(cfg, os.path.join(cfg["workdir"], "silent-ai"), uac, read(cfg["uas_scenario"]), 1, 1,
                            bound, uas_echo=False)
            time.sleep(1)
            res["log"] = parse_silent_log(tl.text(), tag)
        res["silent_s"] = silent_ai_s
        out["ai_silent"] = res
    wait_channels_zero(30)
    # B: the caller sends nothing after the ACK; the AI side talks; the edge must hang up.
    timeout_s = out["rtp_timeout_s"].get(carrier_ep)
    bound = (timeout_s or 0) + 40
    if not timeout_s:
        out["carrier_silent"] = {"skipped": "endpoint %s has no rtp_timeout: a silent carrier leg is never torn down" % carrier_ep}
    elif timeout_s > int(cfg.get("silent_max_s", 600)) or time.monotonic() + bound + 30 > deadline:
        out["carrier_silent"] = {"skipped": "rtp_timeout %d s is beyond the time bound" % timeout_s}
    else:
        write_pcma_pcap(os.path.join(cfg["workdir"], "silent-ai.pcap"), ptime, (timeout_s + 35) * 1000)
        uac = uac_scenario(0, "", 0, cfg["recv_timeout_ms"], "byom loadtest carrier silent", after_ack="",
                           wait_bye_ms=(timeout_s + 30) * 1000)
        uas = uas_scenario(read(cfg["uas_scenario"]), "media/silent-ai.pcap")
        log("silent legs: carrier side silent, rtp_timeout %d s" % timeout_s)
        with TempLog("byom-loadtest-carrier-silent.log") as tl:
            res = run_calls(cfg, os.path.join(cfg["workdir"], "silent-carrier"), uac, uas, 1, 1, bound, uas_echo=False)
            time.sleep(1)
            res["log"] = parse_silent_log(tl.text(), tag)
        out["carrier_silent"] = res
    wait_channels_zero(30)
    problems = silent_verdicts(out.get("ai_silent"), out.get("carrier_silent"), carrier_ep,
                               int(cfg.get("silent_expect_ai_cause", 16)), int(cfg.get("silent_expect_carrier_cause", 44)))
    ai = out.get("ai_silent") or {}
    out.update({
        "silent_leg_survived": (ai.get("successful") == 1 and not ai.get("failed")) if not ai.get("skipped") else None,
        "carrier_silent_torn_down": None if (out.get("carrier_silent") or {}).get("skipped") else not any(
            p.startswith("carrier-silent") for p in problems),
        "problems": problems, "ok": not problems,
    })
    return out


def asterisk_footprint():
    """(RSS KiB, open files) of the Asterisk process(es) from /proc."""
    rss = fds = 0
    for pid in pids_named("asterisk"):
        try:
            m = re.search(r"^VmRSS:\s+(\d+)", read("/proc/%d/status" % pid), re.M)
            rss += int(m.group(1)) if m else 0
            fds += len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            continue
    return rss, fds


def soak_plan(calls, soak_s, call_s, media_ms):
    """Calls placed at calls / call_s per second, each call_s long, until soak_s - call_s, so
    about `calls` are up from call_s on and the last ends at soak_s."""
    if soak_s < 2 * call_s:
        raise ValueError("soak_s (%s) must be at least twice soak_call_s (%s)" % (soak_s, call_s))
    loops = max(1, int(round(call_s * 1000.0 / media_ms)))
    rate = calls / float(call_s)
    return {"rate": round(rate, 3), "total": int(math.ceil(rate * (soak_s - call_s))), "loops": loops,
            "call_s": loops * media_ms / 1000.0, "steady_from_s": call_s, "steady_until_s": soak_s - call_s}


def soak_summary(samples, steady_from_s, steady_until_s=None, interval_s=0):
    """Growth and loss figures of a soak from its interval samples: only intervals wholly in
    the steady part (all calls up and churning), not the ramp up nor the last calls ending,
    whose packets in flight at hangup look like loss."""
    steady = [x for x in samples if x["t_s"] - interval_s >= steady_from_s - 1
              and (steady_until_s is None or x["t_s"] <= steady_until_s + 1)]
    first, last = (steady[0], steady[-1]) if steady else (None, None)
    losses = [x["asterisk_loss_pct"] for x in steady if x.get("asterisk_loss_pct") is not None]
    half = len(losses) // 2
    return {
        "rss_kib_start": first and first["rss_kib"], "rss_kib_end": last and last["rss_kib"],
        "rss_growth_kib": (last["rss_kib"] - first["rss_kib"]) if first else None,
        "open_files_start": first and first["open_files"], "open_files_end": last and last["open_files"],
        "open_files_growth": (last["open_files"] - first["open_files"]) if first else None,
        "loss_pct_max": max(losses) if losses else None,
        # Loss growth: mean of the second half of the intervals minus the first half.
        "loss_growth_pct": round(sum(losses[half:]) / len(losses[half:]) - sum(losses[:half]) / half, 3)
        if half else None,
    }


def run_soak(cfg, cpu, nft, calls, deadline):
    """soak_s at `calls` concurrent calls (churning: each soak_call_s long), sampled every
    soak_interval_s: failed calls, Asterisk RSS and open files, RTP loss per interval."""
    soak_s = int(cfg["soak_s"])
    plan = soak_plan(calls, soak_s, int(cfg.get("soak_call_s", 60)), cfg["media_ms"])
    out = {"calls": calls, "soak_s": soak_s, "plan": plan}
    bound_s = soak_s + 60
    if time.monotonic() + bound_s + 30 > deadline:
        out["skipped"] = "time budget"
        return out
    job_dir = os.path.join(cfg["workdir"], "soak")
    shutil.rmtree(job_dir, ignore_errors=True)
    os.makedirs(job_dir)
    os.symlink(cfg["pcap_dir"], os.path.join(job_dir, "pcap"))
    with open(os.path.join(job_dir, "uac.xml"), "w") as fh:
        fh.write(uac_scenario(plan["loops"], "pcap/" + cfg["pcap_file"], cfg["media_ms"], cfg["recv_timeout_ms"],
                              "byom loadtest soak"))
    shutil.copy(cfg["uas_scenario"], os.path.join(job_dir, "uas.xml"))
    wait_channels_zero(30)
    out["idle_before"] = dict(zip(("rss_kib", "open_files"), asterisk_footprint()))
    common = ["-nostdin", "-trace_stat", "-fd", "1", "-trace_err", "-timeout", "%ds" % bound_s, "-timeout_error"]
    uas = start(["sipp", "-sf", "uas.xml", "-i", cfg["uas_ip"], "-p", str(cfg["uas_port"]), "-mi", cfg["uas_ip"],
                 "-mp", str(cfg["uas_media_port"]), "-rtp_echo", "-m", str(plan["total"]), "-aa"] + common,
                job_dir, "uas.out")
    time.sleep(0.5)
    if not uas_reachable(cfg.get("uas_endpoint", "vapi"), 10):
        stop([uas])
        out["skipped"] = "UAS contact not available after qualify"
        return out
    uacs = []
    parts = split_calls(calls, cfg["max_calls_per_sipp"])
    for i, n in enumerate(parts):
        uacs.append(start(
            ["sipp", "-sf", "uac.xml", "-s", cfg["did"], "%s:%d" % (cfg["target_ip"], cfg["target_port"]),
             "-i", cfg["carrier_ip"], "-p", str(cfg["uac_sip_port"] + i), "-mi", cfg["carrier_ip"],
             "-mp", str(cfg["uac_media_port"] + 10 * i), "-m", str(int(math.ceil(plan["total"] * n / float(calls)))),
             "-l", str(n), "-r", "%.3f" % (plan["rate"] * n / float(calls)), "-rp", "1000",
             "-trace_rtt", "-rtt_freq", "1"] + common, job_dir, "uac-%d.out" % i))
    t0 = time.monotonic()
    samples = []
    prev_nft, prev_cpu = nft.read(), cpu.snapshot()
    interval = float(cfg.get("soak_interval_s", 60))
    next_t = t0 + interval
    while any(p.poll() is None for p in uacs) and time.monotonic() < t0 + bound_s:
        time.sleep(min(1.0, max(0.0, next_t - time.monotonic())))
        if time.monotonic() < next_t:
            continue
        next_t += interval
        cur_nft, cur_cpu = nft.read(), cpu.snapshot()
        delta = {k: cur_nft.get(k, 0) - prev_nft.get(k, 0) for k in RTP_FLOWS} if cur_nft else {}
        rtp = rtp_summary(delta, calls, interval, 1000.0 / cfg["ptime_ms"])
        rss, fds = asterisk_footprint()
        chans, dummy = parse_channels_count(asterisk_cli("core show channels count"))
        sample = {"t_s": round(time.monotonic() - t0), "rss_kib": rss, "open_files": fds, "channels": chans,
                  "failed_so_far": failed_so_far(job_dir), "box_cpu_pct": cpu.between(prev_cpu, cur_cpu)["box"],
                  "asterisk_loss_pct": rtp.get("asterisk_loss_pct"), "end_to_end_loss_pct": rtp.get("loss_pct")}
        samples.append(sample)
        log("soak %4d s: channels=%s rss=%s KiB fds=%s failed=%s asterisk loss=%s%%" % (
            sample["t_s"], chans, rss, fds, sample["failed_so_far"], sample["asterisk_loss_pct"]))
        prev_nft, prev_cpu = cur_nft, cur_cpu
    stop(uacs + [uas], grace=15.0)
    attempted = failed = 0
    for name in os.listdir(job_dir):
        if name.startswith("uac_") and name.endswith("_.csv"):
            row = parse_stat_csv(read(os.path.join(job_dir, name)))
            attempted += int(row.get("OutgoingCall(C)", 0) or 0)
            failed += int(row.get("FailedCall(C)", 0) or 0)
    wait_channels_zero(30)
    time.sleep(2)
    out["idle_after"] = dict(zip(("rss_kib", "open_files"), asterisk_footprint()))
    out.update({"duration_s": round(time.monotonic() - t0, 1), "attempted": attempted, "failed": failed,
                "samples": samples, "sipp_errors": sipp_error_excerpt(job_dir)})
    out.update(soak_summary(samples, plan["steady_from_s"], plan["steady_until_s"], interval))
    out["steady_samples"] = sum(1 for x in samples if plan["steady_from_s"] - 1 <= x["t_s"] - interval
                                and x["t_s"] <= plan["steady_until_s"] + 1)
    out["idle_open_files_growth"] = out["idle_after"]["open_files"] - out["idle_before"]["open_files"]
    out["idle_rss_growth_kib"] = out["idle_after"]["rss_kib"] - out["idle_before"]["rss_kib"]
    return out


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
    resolve_media(cfg)
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
        result["summary"] = summarize(result["steps"], idle["box"], cfg["cpu_stop_pct"])
        if cfg.get("cps_rates"):
            result["cps"] = run_cps(cfg, cpu, deadline)
        if cfg.get("silent_legs"):
            result["silent"] = run_silent(cfg, deadline)
        if int(cfg.get("soak_s") or 0) > 0:
            calls = int(cfg.get("soak_calls") or 0) or int(
                result["summary"]["max_concurrent_calls"] * float(cfg.get("soak_pct", 60)) / 100.0)
            if calls > 0:
                log("soak: %d calls for %s s" % (calls, cfg["soak_s"]))
                result["soak"] = run_soak(cfg, cpu, nft, calls, deadline)
            else:
                result["soak"] = {"skipped": "no held step to take %s%% of" % cfg.get("soak_pct", 60)}
    finally:
        nft.teardown()
    result["duration_s"] = round(time.monotonic() - started, 1)
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
