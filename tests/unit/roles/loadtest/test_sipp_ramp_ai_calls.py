"""Unit tests for the AI-call measurements of the load-test engine (issue 18): the generated
20 ms PCMA pcap, the capture parser, per-packet edge transit and RFC 3550 jitter.

Synthetic captures with known delays: no SIPp, no Asterisk, no timing of this machine.
"""

import os
import struct

import pytest

from byom_testlib import ROOT, load_script

FILES = os.path.join(ROOT, "roles", "loadtest", "files")
sr = load_script("roles/loadtest/files/sipp_ramp.py", "sipp_ramp_ai")


# ----------------------------------------------------------------------------- the 20 ms pcap

def test_pcma_pcap_20ms_is_50_packets_per_second_of_160_byte_pcma():
    data, count, period = sr.pcma_pcap_bytes(20, 10000)
    assert (count, period) == (500, 10000)
    linktype, frames = sr.read_pcap(data)
    assert linktype == sr.LINKTYPE_ETHERNET
    assert len(frames) == 500
    times = [t for t, dummy in frames]
    gaps = {round(b - a, 6) for a, b in zip(times, times[1:])}
    assert gaps == {0.02}
    first = frames[0][1]
    # Ethernet 14 + IP 20 + UDP 8 + RTP 12 + 160 bytes of A-law (8 kHz x 20 ms)
    assert len(first) == 14 + 20 + 8 + 12 + 160
    rtp = first[42:54]
    assert rtp[0] == 0x80 and rtp[1] & 0x7F == 8  # version 2, payload type 8 (PCMA)
    assert rtp[1] & 0x80  # marker on the first packet only
    assert not frames[1][1][43] & 0x80
    seqs_ts = [sr.parse_rtp_frame(f, linktype)[4:6] for dummy, f in frames[:3]]
    assert seqs_ts == [(0, 0), (1, 160), (2, 320)]


def test_pcma_pcap_ip_header_checksum_verifies():
    frames = sr.read_pcap(sr.pcma_pcap_bytes(20, 100)[0])[1]
    ip = frames[3][1][14:34]
    total = sum(struct.unpack("!10H", ip))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    assert total == 0xFFFF


def test_pcma_pcap_30ms_keeps_the_old_rate_as_an_option():
    data, count, period = sr.pcma_pcap_bytes(30, 10000)
    assert (count, period) == (333, 9990)
    assert len(sr.read_pcap(data)[1][0][1]) == 54 + 240


@pytest.mark.parametrize("ptime", [0, 25, 1000])
def test_pcma_pcap_refuses_odd_packet_times(ptime):
    with pytest.raises(ValueError, match="ptime_ms"):
        sr.pcma_pcap_bytes(ptime, 1000)


def test_resolve_media_generates_the_pcap_unless_one_is_given(tmp_path):
    cfg = sr.resolve_media({"workdir": str(tmp_path), "pcap_file": "", "ptime_ms": 20})
    assert cfg["pcap_file"] == "pcma-20ms.pcap" and cfg["pcap_dir"] == str(tmp_path)
    assert cfg["media_ms"] == 10000 and cfg["pcap_packets"] == 500
    assert (tmp_path / "pcma-20ms.pcap").stat().st_size > 500 * 200
    given = {"workdir": str(tmp_path), "pcap_file": "g711a.pcap", "pcap_dir": "/x", "media_ms": 7060, "ptime_ms": 30}
    assert sr.resolve_media(dict(given)) == given


def test_read_pcap_nanosecond_and_truncated_tail():
    recs = [(0.0, sr.rtp_frame(0)), (0.000123456, sr.rtp_frame(1))]
    data = sr.pcap_bytes(recs, nanosecond=True)
    linktype, frames = sr.read_pcap(data + b"\x01\x02\x03")  # a capture cut mid-header
    assert linktype == 1 and len(frames) == 2
    assert frames[1][0] - frames[0][0] == pytest.approx(0.000123456, abs=1e-9)
    with pytest.raises(ValueError, match="not a pcap"):
        sr.read_pcap(b"\x00" * 40)


# ----------------------------------------------------------------------------- edge transit

def _call(records, index0, n, t0, carrier_port, ast_in, ast_out, uas_port, fwd_ms, echo_ms, back_ms, jitter=None):
    """One bridged call: carrier -> ast_in (edge) ast_out -> UAS, echoed back the same way."""
    for k in range(n):
        i = index0 + k
        t = t0 + k * 0.02
        extra = jitter(k) if jitter else 0.0
        records.append((t, sr.rtp_frame(i, 20, "127.0.0.3", carrier_port, "127.0.0.1", ast_in)))
        t_fwd = t + (fwd_ms + extra) / 1000.0
        records.append((t_fwd, sr.rtp_frame(i, 20, "127.0.0.1", ast_out, "127.0.0.2", uas_port)))
        t_echo = t_fwd + echo_ms / 1000.0
        records.append((t_echo, sr.rtp_frame(i, 20, "127.0.0.2", uas_port, "127.0.0.1", ast_out)))
        records.append((t_echo + back_ms / 1000.0, sr.rtp_frame(i, 20, "127.0.0.1", ast_in, "127.0.0.3", carrier_port)))


def _capture(records):
    records.sort(key=lambda r: r[0])
    return sr.read_pcap(sr.pcap_bytes(records, nanosecond=True))


def test_edge_transit_measures_known_delays_and_no_added_jitter():
    recs = []
    _call(recs, 0, 100, 0.0, 6000, 10000, 10002, 7000, fwd_ms=0.2, echo_ms=0.05, back_ms=0.4)
    linktype, frames = _capture(recs)
    res = sr.edge_transit(frames, linktype, 10000, 20000)
    assert res["packets_in"] == 200 and res["matched"] == 200 and res["unmatched"] == 0 and res["matched_pct"] == 100.0
    assert res["flows"] == 2
    assert res["latency_ms"]["p50"] == pytest.approx(0.3, abs=0.11)
    assert res["latency_ms"]["max"] == pytest.approx(0.4, abs=0.001)
    assert res["added_jitter_ms"]["max"] == pytest.approx(0.0, abs=0.001)
    assert res["transit_jitter_ms"]["max"] == pytest.approx(0.0, abs=0.001)


def test_edge_transit_pairs_the_right_legs_when_calls_replay_the_same_media():
    # Two calls playing the same packets 1 ms apart: the nearest copy of a packet is often the
    # OTHER call's; the vote must still pair each leg with its own relay.
    recs = []
    _call(recs, 0, 150, 0.0, 6000, 10000, 10002, 7000, fwd_ms=1.5, echo_ms=0.05, back_ms=1.5)
    _call(recs, 0, 150, 0.001, 6010, 10004, 10006, 7000, fwd_ms=0.1, echo_ms=0.05, back_ms=0.1)
    linktype, frames = _capture(recs)
    res = sr.edge_transit(frames, linktype, 10000, 20000)
    assert res["flows"] == 4 and res["matched"] == 600
    assert res["latency_ms"]["max"] == pytest.approx(1.5, abs=0.001)
    assert res["relays"] == {"10000": 10002, "10002": 10000, "10004": 10006, "10006": 10004}
    assert res["latency_ms"]["p50"] == pytest.approx(0.8, abs=0.71)  # half 0.1, half 1.5


def test_edge_transit_sees_jitter_the_edge_adds():
    recs = []
    # every other packet held 4 ms longer in the edge: transit alternates 0.2 / 4.2 ms
    _call(recs, 0, 200, 0.0, 6000, 10000, 10002, 7000, fwd_ms=0.2, echo_ms=0.05, back_ms=0.2,
          jitter=lambda k: 4.0 if k % 2 else 0.0)
    linktype, frames = _capture(recs)
    res = sr.edge_transit(frames, linktype, 10000, 20000)
    # forward flow: |D| = 4 ms every packet, J converges towards 4 ms (mean over the flow a bit less)
    assert 3.0 < res["added_jitter_ms"]["max"] < 4.0
    assert 3.0 < res["transit_jitter_ms"]["max"] < 4.0
    assert res["latency_ms"]["max"] == pytest.approx(4.2, abs=0.001)


def test_edge_transit_counts_packets_the_edge_never_sent():
    recs = []
    _call(recs, 0, 50, 0.0, 6000, 10000, 10002, 7000, fwd_ms=0.2, echo_ms=0.05, back_ms=0.2)
    # packet 7 never left towards the UAS, so it was not echoed either
    keep = sr.rtp_frame(7, 20, "127.0.0.3", 6000, "127.0.0.1", 10000)
    recs = [r for r in recs if r[1] == keep or sr.parse_rtp_frame(r[1], 1)[4] != 7]
    linktype, frames = _capture(recs)
    res = sr.edge_transit(frames, linktype, 10000, 20000)
    assert res["unmatched"] == 1 and res["packets_in"] == 99


def test_rfc3550_jitter():
    assert sr.rfc3550_jitter([(0.0, 0.0)]) is None
    assert sr.rfc3550_jitter([(i * 0.02, i * 0.02) for i in range(50)]) == 0.0
    # one 16 ms late packet: J jumps by 1 ms (16 / 16), then decays
    j = sr.rfc3550_jitter([(0.0, 0.0), (0.036, 0.02)])
    assert j == pytest.approx(1.0)


def test_jitter_runs_split_where_a_replayed_pcap_restarts_its_timestamps():
    pkts = [(i * 0.02, (i % 10) * 160) for i in range(30)]  # the pcap loops every 10 packets
    runs = sr._rtp_pairs(pkts)
    assert [len(r) for r in runs] == [10, 10, 10]
    assert sr._flow_jitter(pkts) == pytest.approx(0.0, abs=1e-9)


def test_tcpdump_dropped():
    assert sr.tcpdump_dropped("1200 packets captured\n1300 packets received by filter\n7 packets dropped by kernel\n") == 7
    assert sr.tcpdump_dropped("tcpdump: lo: No such device exists") is None


def test_step_row_and_table_carry_the_edge_figures():
    edge = {"latency_ms": {"p50": 0.08, "p99": 0.41}, "added_jitter_ms": {"p99": 0.05},
            "transit_jitter_ms": {"p99": 0.07}, "matched": 5000}
    step = {"target_calls": 300, "ok": True, "edge": edge}
    row = sr.step_row(step)
    assert (row["edge_latency_ms_p99"], row["edge_jitter_ms_p99"], row["edge_packets_matched"]) == (0.41, 0.05, 5000)
    table = sr.render_table({"steps": [step], "summary": {}, "ncpu": 2})
    assert "edge p99 ms" in table and "0.41" in table


# ----------------------------------------------------------------------------- call rate

def test_achieved_rate_and_rtt_times():
    text = "Date_ms;response_time_ms;rtd_no\n1000.0;5.0;1\n1010.0;5.0;1\n1020.0;7.0;1\n1020.0;9.0;2\n"
    rtts = sr.parse_rtt_times(text)
    assert rtts == [(1000.0, 5.0), (1010.0, 5.0), (1020.0, 7.0)]
    assert sr.achieved_rate([t for t, dummy in rtts]) == 100.0
    assert sr.achieved_rate([1.0]) is None


def _cps(**kw):
    res = {"rate": 200, "calls": 2000, "answered": 2000, "successful": 2000, "failed": 0, "achieved_cps": 199.0,
           "setup_over_threshold": 0, "setup_threshold_ms": 1000, "setup_ms": {"p99": 12.0}}
    res.update(kw)
    return res


def test_cps_verdict():
    assert sr.cps_verdict(_cps()) is None
    assert sr.cps_verdict(_cps(failed=3)) == "3 failed calls"
    assert sr.cps_verdict(_cps(successful=1990)) == "only 1990 of 2000 calls completed"
    assert "slower than the 1000 ms threshold" in sr.cps_verdict(_cps(setup_over_threshold=4))
    assert "generator" in sr.cps_verdict(_cps(achieved_cps=150.0))


# ----------------------------------------------------------------------------- silent legs

LOG = """[2026-12-01 00:25:20.100] NOTICE[123][C-00000001] res_pjsip_sdp_rtp.c: \
Disconnecting channel 'PJSIP/carrier-00000002' for lack of audio RTP activity in 120 seconds
[2026-12-01 00:25:20.105] NOTICE[456][C-00000001] Ext. s: BYOM-CALL endpoint=carrier from=15550000 to=+15550100001 cause=44 dialstatus=ANSWER duration=121
"""


def test_parse_silent_log_and_verdicts():
    parsed = sr.parse_silent_log(LOG)
    assert parsed["causes"] == {"carrier": [44]}
    assert parsed["rtp_timeouts"] == [{"channel": "PJSIP/carrier-00000002", "after_s": 120}]
    ai = {"successful": 1, "failed": 0, "log": {"causes": {"carrier": [16]}, "rtp_timeouts": []}}
    carrier = {"successful": 1, "uas_successful": 1, "log": parsed}
    assert sr.silent_verdicts(ai, carrier, "carrier") == []
    # the AI-silent call cut by the edge: not survived, and the timeout is named
    cut = {"successful": 0, "failed": 1, "log": {"causes": {"carrier": [44]},
                                                 "rtp_timeouts": [{"channel": "PJSIP/vapi-1", "after_s": 60}]}}
    problems = sr.silent_verdicts(cut, carrier, "carrier")
    assert len(problems) == 3 and problems[0].startswith("AI-silent call did not survive")
    # a silent carrier that the edge never hangs up
    hung = {"successful": 0, "uas_successful": 0, "log": {"causes": {}, "rtp_timeouts": []}}
    assert len(sr.silent_verdicts(ai, hung, "carrier")) == 3
    assert sr.silent_verdicts(ai, {"skipped": "no rtp_timeout"}, "carrier") == []


def test_parse_endpoint_rtp_timeout_and_log_dir():
    assert sr.parse_endpoint_rtp_timeout(" rtp_timeout                        : 120\n rtp_timeout_hold : 0\n") == 120
    assert sr.parse_endpoint_rtp_timeout("nothing") is None
    assert sr.parse_log_dir("  Log directory:               /var/log/asterisk\n") == "/var/log/asterisk"


def test_uas_scenario_plays_media_after_the_ack():
    with open(os.path.join(FILES, "uas_pcma_echo.xml")) as fh:
        xml = fh.read()
    assert sr.uas_scenario(xml) == xml
    played = sr.uas_scenario(xml, "media/x.pcap")
    assert played.index("ACK") < played.index('play_pcap_audio="media/x.pcap"') < played.index('request="BYE"')
    with pytest.raises(ValueError):
        sr.uas_scenario("<scenario/>", "x")


def test_uac_wait_bye_scenario_lets_the_edge_hang_up():
    xml = sr.uac_scenario(0, "", 0, after_ack="", wait_bye_ms=150000)
    assert '<recv request="BYE" timeout="150000"/>' in xml
    assert "CSeq: 2 BYE" not in xml  # the caller never hangs up itself
    short = sr.uac_scenario(0, "", 0, after_ack='  <pause milliseconds="1000"/>\n')
    assert "play_pcap_audio" not in short and "CSeq: 2 BYE" in short


# ----------------------------------------------------------------------------- soak

def test_soak_plan():
    plan = sr.soak_plan(300, 1800, 60, 10000)
    assert plan["rate"] == 5.0 and plan["total"] == 8700 and plan["loops"] == 6 and plan["call_s"] == 60.0
    assert (plan["steady_from_s"], plan["steady_until_s"]) == (60, 1740)
    with pytest.raises(ValueError, match="twice"):
        sr.soak_plan(300, 100, 60, 10000)


def test_soak_summary_growth_and_loss_trend():
    samples = [{"t_s": 30, "rss_kib": 90, "open_files": 100, "asterisk_loss_pct": 0.0},   # ramping up: not steady
               {"t_s": 60, "rss_kib": 100, "open_files": 600, "asterisk_loss_pct": 0.0},
               {"t_s": 90, "rss_kib": 104, "open_files": 602, "asterisk_loss_pct": 0.0},
               {"t_s": 120, "rss_kib": 110, "open_files": 598, "asterisk_loss_pct": 0.2},
               {"t_s": 150, "rss_kib": 112, "open_files": 600, "asterisk_loss_pct": 0.4}]
    res = sr.soak_summary(samples, 60)
    assert (res["rss_kib_start"], res["rss_kib_end"], res["rss_growth_kib"]) == (100, 112, 12)
    assert res["open_files_growth"] == 0 and res["loss_pct_max"] == 0.4
    assert res["loss_growth_pct"] == 0.3  # (0.2 + 0.4) / 2 - (0 + 0) / 2
    assert sr.soak_summary([], 60)["rss_growth_kib"] is None
    # the last calls ending (after soak_s - call_s) are not steady: their in-flight packets look like loss
    tail = samples + [{"t_s": 180, "rss_kib": 111, "open_files": 300, "asterisk_loss_pct": 2.0}]
    assert sr.soak_summary(tail, 60, 150)["loss_pct_max"] == 0.4
    # an interval must lie wholly in the steady part
    assert sr.soak_summary(samples, 60, 150, interval_s=30)["rss_kib_start"] == 104


def test_edge_transit_matches_a_saturated_edge_up_to_the_window():
    # 300 ms in the edge (a saturated box) is still the same packet; past the 1 s window it is not
    recs = []
    _call(recs, 0, 50, 0.0, 6000, 10000, 10002, 7000, fwd_ms=300.0, echo_ms=0.05, back_ms=300.0)
    linktype, frames = _capture(recs)
    res = sr.edge_transit(frames, linktype, 10000, 20000)
    assert res["unmatched"] == 0 and res["latency_ms"]["p50"] == pytest.approx(300.0, abs=0.01)
    res = sr.edge_transit(frames, linktype, 10000, 20000, window_s=0.1)
    assert res["matched"] == 0 and res["matched_pct"] == 0.0
