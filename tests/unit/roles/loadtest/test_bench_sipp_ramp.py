"""Unit tests for the load-test engine's pure helpers (roles/loadtest/files/sipp_ramp.py).

No SIPp, no Asterisk, no timing: parsing of SIPp/Asterisk/nft output, statistics, step logic.
"""

import json
import os
import xml.etree.ElementTree as ET

import pytest

from byom_testlib import ROOT, load_script

FILES = os.path.join(ROOT, "roles", "loadtest", "files")
sr = load_script("roles/loadtest/files/sipp_ramp.py", "sipp_ramp")


# ----------------------------------------------------------------------------- statistics

def test_percentile_linear_interpolation():
    data = list(range(1, 101))  # 1..100
    assert sr.percentile(data, 50) == pytest.approx(50.5)
    assert sr.percentile(data, 99) == pytest.approx(99.01)
    assert sr.percentile(data, 0) == 1
    assert sr.percentile(data, 100) == 100


def test_percentile_unsorted_and_single_and_empty():
    assert sr.percentile([9.0, 1.0, 5.0], 50) == 5.0
    assert sr.percentile([7.5], 99) == 7.5
    assert sr.percentile([], 50) is None


def test_percentile_rejects_out_of_range():
    with pytest.raises(ValueError):
        sr.percentile([1, 2], 101)


def test_crossing_interpolates_between_steps():
    points = [(0, 10.0), (100, 30.0), (200, 50.0), (300, 80.0)]
    assert sr.crossing(points, 70) == 267  # 200 + 100 * 20/30


def test_crossing_not_reached_and_already_above():
    assert sr.crossing([(0, 5.0), (100, 20.0)], 70) is None
    assert sr.crossing([(0, 75.0), (100, 90.0)], 70) == 0
    assert sr.crossing([(0, None), (100, 80.0)], 70) == 100


def test_split_calls_spreads_evenly():
    assert sr.split_calls(600, 150) == [150, 150, 150, 150]
    assert sr.split_calls(301, 150) == [101, 100, 100]
    assert sr.split_calls(10, 150) == [10]
    assert sr.split_calls(0, 150) == []
    assert sum(sr.split_calls(777, 100)) == 777
    with pytest.raises(ValueError):
        sr.split_calls(10, 0)


def test_call_plan_holds_full_load_long_enough():
    plan = sr.call_plan(500, 50, 30, 7060)
    assert plan["ramp_s"] == 10.0
    # every call lasts at least ramp + hold: all 500 are up together for >= 30 s
    assert plan["call_s"] - plan["ramp_s"] >= 30
    assert plan["loops"] == 6  # ceil(41 s / 7.06 s)
    assert plan["call_s"] == pytest.approx(6 * 7.06)


# ----------------------------------------------------------------------------- SIPp output

RTT = """Date_ms;response_time_ms;rtd_no
110.037;7.471;1
209.099;7.691;1
250.000;99.0;2
306.536;5.133;1
garbage
"""


def test_parse_rtt_csv_keeps_rtd1_only():
    assert sr.parse_rtt_csv(RTT) == [7.471, 7.691, 5.133]
    assert sr.parse_rtt_csv(RTT, rtd=2) == [99.0]
    assert sr.parse_rtt_csv("") == []


STAT_HEADER = ("StartTime;LastResetTime;CurrentTime;ElapsedTime(P);ElapsedTime(C);TargetRate;CallRate(P);"
               "CallRate(C);IncomingCall(P);IncomingCall(C);OutgoingCall(P);OutgoingCall(C);TotalCallCreated;"
               "CurrentCall;SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);")


def test_parse_stat_csv_last_row_wins():
    rows = [
        "2026-11-24\t14:11:35.5\t1.5;x;y;00:00:00;00:00:01;10.000;0.000;0.322;0;0;2;2;2;2;0;0;0;0;",
        "2026-11-24\t14:11:44.8\t1.8;x;y;00:00:00;00:00:09;10.000;0.000;0.322;0;0;0;3;3;0;0;3;0;1;",
    ]
    row = sr.parse_stat_csv("\n".join([STAT_HEADER] + rows) + "\n")
    assert row["OutgoingCall(C)"] == 3
    assert row["SuccessfulCall(C)"] == 3
    assert row["FailedCall(C)"] == 1
    assert row["CurrentCall"] == 0
    assert row["TargetRate"] == "10.000"


def test_parse_stat_csv_header_only():
    assert sr.parse_stat_csv(STAT_HEADER + "\n") == {}


# ----------------------------------------------------------------------------- Asterisk output

def test_parse_channels_count():
    text = "4 active channels\n2 active calls\n48 calls processed\n"
    assert sr.parse_channels_count(text) == (4, 2)
    assert sr.parse_channels_count("1 active channel\n1 active call\n") == (1, 1)
    assert sr.parse_channels_count("Unable to connect to remote asterisk") == (None, None)


BRIDGES = """Bridge-ID                            Name                                 Chans Type            Technology      Duration
0e299a7b-bc8a-41ce-9629-90048b6089ca <unknown>                                2 basic           native_rtp      00:00:03
20570e9b-ac09-4789-b288-00a5acf254e0 <unknown>                                2 basic           native_rtp      00:00:03
31570e9b-ac09-4789-b288-00a5acf254e1 my bridge                                2 basic           simple_bridge   01:00:03
"""


def test_parse_bridge_technologies():
    assert sr.parse_bridge_technologies(BRIDGES) == {"native_rtp": 2, "simple_bridge": 1}
    assert sr.parse_bridge_technologies("Bridge-ID Name Chans Type Technology Duration\n") == {}


# ----------------------------------------------------------------------------- /proc

def test_parse_proc_stat_cpu_counts_iowait_as_idle():
    text = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n"
    busy, total = sr.parse_proc_stat_cpu(text)
    assert (busy, total) == (150, 1000)
    assert sr.cpu_share_pct(150, 1000) == 15.0
    assert sr.cpu_share_pct(1, 0) is None


def test_parse_pid_stat_ticks_with_spaces_in_comm():
    fields = ["S"] + ["0"] * 10 + ["120", "30"] + ["0"] * 30
    text = "1234 (my weird (proc)) " + " ".join(fields)
    assert sr.parse_pid_stat_ticks(text) == 150


# ----------------------------------------------------------------------------- RTP counters

def test_nft_ruleset_counts_rtp_not_rtcp_and_has_no_verdicts():
    rules = sr.nft_ruleset("127.0.0.3", "127.0.0.2", 10000, 20000)
    assert "table inet byom_loadtest" in rules
    assert "policy accept" in rules
    for word in ("drop", "reject", "jump", "goto"):
        assert word not in rules
    assert rules.count("counter") == 4
    assert 'ip saddr 127.0.0.3 udp dport 10000-20000 udp dport & 1 == 0 counter comment "carrier_to_asterisk"' in rules


def test_parse_nft_counters():
    data = {"nftables": [
        {"metainfo": {"version": "1.1.7"}},
        {"rule": {"comment": "carrier_to_asterisk", "expr": [{"match": {}}, {"counter": {"packets": 1000, "bytes": 1}}]}},
        {"rule": {"comment": "asterisk_to_carrier", "expr": [{"counter": {"packets": 990, "bytes": 1}}]}},
        {"rule": {"comment": "unrelated", "expr": [{"counter": {"packets": 5, "bytes": 1}}]}},
    ]}
    assert sr.parse_nft_counters(json.dumps(data)) == {"carrier_to_asterisk": 1000, "asterisk_to_carrier": 990}


def test_rtp_summary_loss_and_send_ratio():
    delta = {"carrier_to_asterisk": 1000, "asterisk_to_uas": 998, "uas_to_asterisk": 995, "asterisk_to_carrier": 990}
    out = sr.rtp_summary(delta, target_calls=10, window_s=3.0, pps_per_call=100 / 3.0)
    assert out["counted"] is True
    assert out["loss_pct"] == 1.0
    assert out["forward_loss_pct"] == 0.2
    assert out["uac_send_ratio"] == 1.0
    # into Asterisk 1000 + 995, out of it 998 + 990
    assert out["asterisk_loss_pct"] == round(100.0 * 7 / 1995, 3)
    assert out["uas_echo_loss_pct"] == round(100.0 * 3 / 998, 3)
    assert sr.rtp_summary({}, 10, 3.0, 33.3) == {"counted": False}


# ----------------------------------------------------------------------------- step logic

def _step(**kw):
    base = {"target_calls": 100, "attempted": 100, "answered": 100, "failed": 0, "held_s": 30.0,
            "rtp": {"loss_pct": 0.1}, "stop_reason": None}
    base.update(kw)
    return base


def test_step_verdict_held():
    assert sr.step_verdict(_step(), hold_s=30, max_loss_pct=1.0) is None


@pytest.mark.parametrize("kw, expect", [
    ({"failed": 3}, "3 failed calls"),
    ({"answered": 97}, "only 97 of 100 calls answered"),
    ({"held_s": 12.0}, "full load held only 12.0 s"),
    ({"rtp": {"loss_pct": 1.4, "asterisk_loss_pct": 1.2}}, "RTP loss (asterisk) 1.20% >= 1.00%"),
    ({"sipp_exit": "SIPp caller exited with rc 255 (x/uac-0.out)"}, "SIPp caller exited with rc 255 (x/uac-0.out)"),
    ({"stop_reason": "box CPU above 70%"}, "box CPU above 70%"),
])
def test_step_verdict_reasons(kw, expect):
    assert sr.step_verdict(_step(**kw), hold_s=30, max_loss_pct=1.0) == expect


def test_step_verdict_loss_basis():
    step = _step(rtp={"loss_pct": 1.5, "asterisk_loss_pct": 0.01})
    # the echoing SIPp dropped 1.5%, Asterisk 0.01%: the edge held, the end-to-end view did not
    assert sr.step_verdict(step, hold_s=30, max_loss_pct=1.0) is None
    assert sr.step_verdict(step, 30, 1.0, loss_basis="end_to_end") == "RTP loss (end to end) 1.50% >= 1.00%"


def test_step_verdict_without_rtp_counting_ignores_loss():
    assert sr.step_verdict(_step(rtp={"counted": False}), hold_s=30, max_loss_pct=1.0) is None


def test_summarize_max_is_last_held_step_and_threshold_interpolated():
    steps = [
        dict(_step(target_calls=100), ok=True, box_cpu_pct=20.0),
        dict(_step(target_calls=200), ok=True, box_cpu_pct=40.0),
        dict(_step(target_calls=300), ok=True, box_cpu_pct=80.0),
        dict(_step(target_calls=400, failed=5), ok=False, verdict="5 failed calls", box_cpu_pct=95.0),
    ]
    s = sr.summarize(steps, idle_cpu=2.0, cpu_threshold=70)
    assert s["max_concurrent_calls"] == 300
    assert s["calls_at_cpu_threshold"] == 275
    assert s["stopped_because"] == "5 failed calls"
    assert sr.summarize([], 1.0, 70)["max_concurrent_calls"] == 0


def test_csv_and_table_render_every_step():
    steps = [dict(_step(), ok=True, setup_ms={"p50": 4.2, "p95": 6.0, "p99": 7.1}, bridges={"native_rtp": 100},
                  box_cpu_pct=20.0, verdict=None)]
    csv_text = sr.to_csv(steps)
    lines = csv_text.strip().splitlines()
    assert lines[0].split(",") == sr.CSV_FIELDS
    row = dict(zip(sr.CSV_FIELDS, lines[1].split(",")))
    assert row["setup_ms_p99"] == "7.1" and row["native_bridges"] == "100" and row["ok"] == "True"
    table = sr.render_table({"steps": steps, "ncpu": 2, "summary": sr.summarize(steps, 1.0, 70)})
    assert "native" in table.splitlines()[0]
    assert "held with 0 failures: 100 calls" in table


# ----------------------------------------------------------------------------- scenarios

def test_uac_scenario_is_valid_xml_offers_pcma_and_loops_media():
    xml = sr.uac_scenario(4, "pcap/g711a.pcap", 7060, recv_timeout_ms=8000)
    root = ET.fromstring(xml.split("\n", 2)[2])  # skip the XML declaration and DOCTYPE
    plays = [e for e in root.iter("exec") if e.get("play_pcap_audio")]
    assert len(plays) == 4
    pauses = list(root.iter("pause"))
    assert [p.get("milliseconds") for p in pauses] == ["7060"] * 4
    invite = root.find("send").text
    assert "m=audio [media_port] RTP/AVP 8 101" in invite and "PCMA/8000" in invite
    assert "PCMU" not in xml
    recvs = [r for r in root.iter("recv") if r.get("response") == "200"]
    assert recvs[0].get("rtd") == "1" and recvs[0].get("timeout") == "8000"


def test_uas_scenario_answers_pcma_only():
    with open(os.path.join(FILES, "uas_pcma_echo.xml"), encoding="iso-8859-1") as fh:
        text = fh.read()
    root = ET.fromstring(text.split("\n", 2)[2])
    answer = [s.text for s in root.iter("send") if "200 OK" in s.text and "application/sdp" in s.text][0]
    assert "RTP/AVP 8 101" in answer and "PCMA/8000" in answer
    assert "PCMU" not in answer


def test_contact_status_from_show_endpoint():
    text = """ Endpoint:  vapi                                                 Unavailable   0 of inf
     InAuth:  vapi-inbound/byom-lab-vapi
        Aor:  vapi                                               0
      Contact:  vapi/sip:127.0.0.2:5070                    9681163320 Unavail        -nan
      Contact:  <Aor/ContactUri..........................> <Hash....> <Status> <RTT(ms)..>
"""
    assert sr.contact_status(text) == ["Unavail"]
    assert sr.contact_status("      Contact:  vapi/sip:127.0.0.2:5070   9681163320 Avail   0.412\n") == ["Avail"]


def test_summarize_own_cpu_crossing_ignores_other_load_on_the_box():
    steps = [
        dict(_step(target_calls=100), ok=True, box_cpu_pct=99.0, asterisk_cpu_pct=10.0, sipp_cpu_pct=10.0),
        dict(_step(target_calls=400), ok=True, box_cpu_pct=100.0, asterisk_cpu_pct=40.0, sipp_cpu_pct=40.0),
    ]
    s = sr.summarize(steps, idle_cpu=90.0, cpu_threshold=70)
    assert s["calls_at_cpu_threshold"] == 0  # the box was busy before the test started
    assert s["calls_at_cpu_threshold_own"] == 350  # 100 + 300 * (70-20)/(80-20)
