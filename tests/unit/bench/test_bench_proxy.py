"""bench/proxy.py's pure parts: SIPp statistics and response times, Kamailio's dispatcher list,
Asterisk's channel count, and the failover arithmetic (failover time, who lost which calls).
No lab is built."""

import json
import time

import pytest

from byom_testlib import load_script

bp = load_script("bench/proxy.py", "bench_proxy")

# Shape of SIPp 3.6's -trace_stat file (first columns, a failure counter, trailing ';').
HEADER = ("StartTime;LastResetTime;CurrentTime;ElapsedTime(P);TotalCallCreated;CurrentCall;"
          "SuccessfulCall(P);SuccessfulCall(C);FailedCall(P);FailedCall(C);FailedMaxUDPRetrans(C);"
          "FailedUnexpectedMessage(C);FailedTimeoutOnRecv(C);")
START = "2026-12-01\t04:50:00.000000\t1795927800.000000"


def row(now, created, current, ok_p, ok_c, failed_p, failed_c, unexpected=0, timeout=0):
    cur = "2026-12-01\t04:50:%02d.000000\t%.6f" % (int(now - 1795927800), now)
    return ";".join(str(v) for v in (START, START, cur, "00:00:01", created, current, ok_p, ok_c, failed_p,
                                     failed_c, 0, unexpected, timeout)) + ";"


STAT = "\n".join([HEADER,
                  row(1795927801.0, 5, 5, 0, 0, 0, 0),
                  row(1795927802.0, 10, 6, 4, 4, 0, 0),
                  row(1795927809.5, 40, 2, 30, 34, 3, 4, unexpected=3, timeout=1)]) + "\n"


def test_stat_rows_epoch_and_counters():
    rows = bp.parse_stat_csv(STAT)
    assert len(rows) == 3
    assert bp.stat_epoch(rows[0]["StartTime"]) == pytest.approx(1795927800.0)
    assert bp.stat_epoch(rows[2]["CurrentTime"]) == pytest.approx(1795927809.5)
    assert bp.stat_int(rows[2], "FailedCall(C)") == 4 and bp.stat_int(rows[2], "NoSuchColumn") == 0
    # Only the non-zero reasons of the cumulative row, without the total.
    assert bp.failure_reasons(rows[2]) == {"FailedUnexpectedMessage": 3, "FailedTimeoutOnRecv": 1}
    assert bp.failures_over_time(rows) == [(pytest.approx(1795927809.5), 3)]


def test_stat_edge_cases():
    assert bp.parse_stat_csv("") == [] and bp.parse_stat_csv(HEADER + "\n") == []
    assert bp.stat_epoch("garbage") is None and bp.stat_epoch(None) is None
    # Without the epoch part: the date and time, in local time like SIPp's localtime().
    local = time.mktime(time.strptime("2026-12-01 04:50:00", "%Y-%m-%d %H:%M:%S"))
    assert bp.stat_epoch("2026-12-01\t04:50:00.250000") == pytest.approx(local + 0.25)
    assert bp.stat_int({"CurrentCall": "x"}, "CurrentCall") == 0


def test_rtt_rows_and_call_times():
    text = "Date_ms;response_time_ms;rtd_no\n1200.5;200.5;1\n5100;2100;1\nbad;line\n"
    assert bp.parse_rtt(text) == [(1200.5, 200.5), (5100.0, 2100.0)]
    # date_ms is when the 200 arrived, counted from SIPp's start: the call started rtt earlier.
    expected = [(1001.0, pytest.approx(1001.2005), 200.5), (1003.0, 1005.1, 2100.0)]
    assert bp.call_times(bp.parse_rtt(text), 1000.0) == expected


# kamcmd indents with tabs (written here as 4 spaces).
DISPATCHER = """{
    NRSETS: 1
    RECORDS: {
        SET: {
            ID: 1
            TARGETS: {
                DEST: {
                    URI: sip:172.30.0.2:5060
                    FLAGS: AP
                    PRIORITY: 0
                    ATTRS: {
                        BODY: duid=byom-bench-proxy-node1
                        DUID: byom-bench-proxy-node1
                    }
                }
                DEST: {
                    URI: sip:172.30.0.3:5060
                    FLAGS: IP
                    PRIORITY: 0
                }
            }
        }
    }
}
""".replace("    ", "\t")


def test_dispatcher_list_flags_per_uri():
    assert bp.parse_dispatcher_list(DISPATCHER) == {"sip:172.30.0.2:5060": "AP", "sip:172.30.0.3:5060": "IP"}
    assert bp.parse_dispatcher_list("error: 500 - command not found") == {}


def test_channels_count():
    assert bp.parse_channels_count("42 active channels\n21 active calls\n230 calls processed\n") == {
        "channels": 42, "calls": 21, "processed": 230}
    assert bp.parse_channels_count("0 active channels\n1 active call\n1 call processed\n") == {
        "channels": 0, "calls": 1, "processed": 1}
    assert bp.parse_channels_count("Unable to connect to remote asterisk") == {
        "channels": None, "calls": None, "processed": None}


KILL = 1000.0


def probe(*calls):
    """Answered probe calls as (start offset from the kill, setup ms)."""
    return [(KILL + s, KILL + s + ms / 1000.0, ms) for s, ms in calls]


def test_failover_until_the_first_clean_call_after_the_last_slow_one():
    # Calls at 5/s: two went to the dead node first (answered after the 2 s dispatch timeout).
    calls = probe((-1.0, 20), (0.2, 2030), (0.4, 25), (0.6, 2040), (0.8, 30), (1.0, 22), (1.2, 21))
    res = bp.failover_window(KILL, calls, [], 2000, KILL + 30)
    assert res["failover_s"] == pytest.approx(0.8)
    assert res["last_hurt_s"] == pytest.approx(0.6)
    assert res["new_calls_slow"] == 2 and res["new_calls_failed"] == 0 and res["recovered"]
    assert res["new_calls_after_kill"] == 6


def test_failover_counts_a_call_in_flight_at_the_kill():
    # Its INVITE left before the kill, its 200 came after the retry on the survivor.
    calls = probe((-0.1, 2050), (0.1, 20), (0.3, 20))
    res = bp.failover_window(KILL, calls, [], 2000, KILL + 30)
    assert res["new_calls_slow"] == 1 and res["failover_s"] == pytest.approx(0.1)


def test_failures_count_at_the_time_sipp_declared_them():
    calls = probe((0.2, 20), (3.0, 20), (12.2, 20), (12.4, 20))
    failures = [(KILL - 5, 1), (KILL + 11.0, 2)]  # the one before the kill is not the dead node's
    res = bp.failover_window(KILL, calls, failures, 2000, KILL + 30)
    assert res["new_calls_failed"] == 2 and res["new_calls_slow"] == 0
    assert res["failover_s"] == pytest.approx(12.2) and res["last_hurt_s"] == pytest.approx(11.0)


def test_an_answered_call_lost_on_the_dead_node_is_not_a_new_call_failing():
    # Answered just before the kill, its BYE failed 5 s later: lost, not a set-up failure.
    calls = probe((-0.1, 20), (0.2, 1980), (0.4, 20), (1.0, 20))
    res = bp.failover_window(KILL, calls, [(KILL + 5.9, 1)], 1500, KILL + 30, answered_then_failed=1)
    assert res["new_calls_failed"] == 0 and res["answered_calls_lost"] == 1 and res["new_calls_slow"] == 1
    assert res["failover_s"] == pytest.approx(0.4)
    # One more failure than answered-then-lost calls: a set-up failed, every failure time counts.
    res = bp.failover_window(KILL, calls, [(KILL + 5.9, 2)], 1500, KILL + 30, answered_then_failed=1)
    assert res["new_calls_failed"] == 1 and res["failover_s"] is None


def test_no_call_hurt_is_zero_and_never_clean_is_none():
    res = bp.failover_window(KILL, probe((0.5, 20), (1.0, 20)), [], 2000, KILL + 30)
    assert res["failover_s"] == 0.0 and res["last_hurt_s"] is None and res["recovered"]
    res = bp.failover_window(KILL, probe((0.5, 2100), (1.0, 2100)), [(KILL + 2, 1)], 2000, KILL + 30)
    assert res["failover_s"] is None and not res["recovered"]
    # A clean call after the probe window does not count as recovered within it.
    res = bp.failover_window(KILL, probe((0.5, 2100), (31.0, 20)), [], 2000, KILL + 30)
    assert res["failover_s"] is None
    assert bp.failover_window(KILL, [], [], 2000, KILL + 30)["failover_s"] is None


def test_lost_calls_must_fit_on_the_dead_node():
    held = {"created": 40, "ok": 21, "failed": 19}
    acc = bp.failover_accounting(held, {"dead": 19, "survivor": 21}, 0)
    assert acc["calls_lost_on_failover"] == 19 and acc["failover_lost_only_dead_nodes_calls"]
    # More lost than the dead node held, or a failure on the survivor: not only the dead node's.
    assert not bp.failover_accounting({"created": 40, "ok": 19, "failed": 21}, {"dead": 19, "survivor": 21},
                                      0)["failover_lost_only_dead_nodes_calls"]
    assert not bp.failover_accounting(held, {"dead": 19, "survivor": 21}, 1)["failover_lost_only_dead_nodes_calls"]
    # A call SIPp neither completed nor failed (its run was cut) is lost too.
    assert bp.failover_accounting({"created": 40, "ok": 20, "failed": 18}, {"dead": 20, "survivor": 20},
                                  0)["calls_lost_on_failover"] == 20


def test_recap_changed_of_one_host():
    out = ("PLAY RECAP ****\nbyom-bench-proxy-kam       : ok=5    changed=1    unreachable=0    failed=0\n"
           "byom-bench-proxy-kam2      : ok=5    changed=7    unreachable=0    failed=0\n")
    assert bp.recap_changed(out, "byom-bench-proxy-kam") == 1
    assert bp.recap_changed(out, "other") is None


def test_merge_keeps_other_keys_and_lifts_the_headline_figures(tmp_path):
    out = tmp_path / "results.json"
    out.write_text('{"cps_max": 200, "proxy": {"old": 1}}')
    bp.merge(str(out), {"proxy_cps_max": 50, "failover_s": 2.4, "calls_lost_on_failover": 19, "nodes": 2})
    data = json.loads(out.read_text())
    assert data["cps_max"] == 200 and data["proxy"]["nodes"] == 2 and "old" not in data["proxy"]
    assert (data["proxy_cps_max"], data["failover_s"], data["calls_lost_on_failover"]) == (50, 2.4, 19)
    assert data["proxy_added_setup_ms_p99"] is None
