"""Unit tests for bench/assemble.py (results.json assembly); no benchmark is run."""

import json

from byom_testlib import load_script

ba = load_script("bench/assemble.py", "bench_assemble")

RECAP = """PLAY [x] ***
TASK [y] ***
changed: [byom-lab-vps]

PLAY RECAP *********************************************************************
byom-lab-vps               : ok=80   changed=2    unreachable=0    failed=0    skipped=10
localhost                  : ok=3    changed=1    unreachable=0    failed=0    skipped=0
"""


def test_recap_changed_sums_hosts_and_ignores_task_lines():
    assert ba.recap_changed(RECAP) == 3
    assert ba.recap_changed("no recap here\nchanged=5") is None
    assert ba.recap_changed(RECAP.replace("changed=2", "changed=0").replace("changed=1", "changed=0")) == 0


def test_api_counts_writes_and_kinds_skip_admin():
    log = [
        {"seq": 1, "method": "GET", "path": "/credential", "status": 200},
        {"seq": 2, "method": "GET", "path": "/assistant", "status": 200},
        {"seq": 3, "method": "PATCH", "path": "/assistant/abc", "status": 200},
        {"seq": 4, "method": "GET", "path": "/_emulator/requests", "status": 200},
    ]
    writes, requests, kinds = ba.api_counts(log)
    assert (writes, requests) == (1, 3)
    assert kinds == {"GET /credential": 1, "GET /assistant": 1, "PATCH /assistant": 1}
    assert ba.api_counts({"requests": log})[:2] == (1, 3)


def _result(max_calls, steps, c70=None):
    return {"ncpu": 2, "config": {"hold_s": 30, "call_rate": 50}, "versions": {"sipp": "v3.8.0"},
            "steps": steps,
            "summary": {"max_concurrent_calls": max_calls, "calls_at_cpu_threshold": c70, "idle_box_cpu_pct": 1.0}}


def _s(calls, ok, p99=7.0, cpu=30.0):
    return {"target_calls": calls, "ok": ok, "verdict": None if ok else "3 failed calls",
            "setup_ms": {"p50": 4.0, "p99": p99}, "box_cpu_pct": cpu, "sipp_cpu_pct": 10.0,
            "asterisk_cpu_pct": 15.0, "rtp": {"loss_pct": 0.2, "asterisk_loss_pct": 0.05}}


def test_assemble_figures_ratio_and_goals():
    ours = _result(500, [_s(100, True, p99=8.5), _s(500, True, cpu=85.0), _s(600, False)], c70=380)
    stock = _result(100, [_s(100, True), _s(200, False)])
    phases = {"converge_cold_s": 200.1, "rerun_s": 15.2, "rerun_changed": 0, "quiet_reached": True,
              "machine_load_before": "0.5 0.7 0.9",
              "host_sysctl_for_load": {"net.core.rmem_default": "4194304 (was 212992)"}}
    res = ba.assemble(ours, stock, phases, [{"method": "GET", "path": "/credential"}])
    assert res["max_concurrent_calls"] == 500
    assert res["host_sysctl_for_load"] == {"net.core.rmem_default": "4194304 (was 212992)"}
    assert res["stock_ratio"] == 5.0
    assert res["setup_ms_p99"] == 8.5
    assert res["calls_at_70pct_cpu"] == 380
    assert res["sipp_cpu_pct_at_max"] == 10.0 and res["box_cpu_pct_at_max"] == 85.0
    assert res["first_failed_step"]["calls"] == 600
    assert res["max_concurrent_calls_end_to_end"] == 500
    assert res["ours_steps"][0]["box_cpu_not_from_test_pct"] == 5.0  # 30 - 15 - 10
    assert res["box_cpu_not_from_test_pct_median"] == 5.0
    assert res["rtp_loss_pct_at_max"] == 0.05 and res["rtp_loss_end_to_end_pct_at_max"] == 0.2
    assert res["steady_state_api_writes"] == 0 and res["steady_state_api_requests"] == 1
    assert res["measured_under_contention"] is False
    old_goals = ("max_concurrent_calls", "calls_at_70pct_cpu", "setup_ms_p99", "stock_ratio", "rerun_s",
                 "rerun_changed", "steady_state_api_writes")
    assert all(res["goals"][k]["met"] for k in old_goals)
    # not measured in this run: no figure, goal neither met nor failed
    assert res["cps_max"] is None and res["goals"]["cps_max"]["met"] is None
    assert res["stock_tuned_ratio"] is None
    json.dumps(res)


def test_assemble_flags_contention_missing_pieces_and_unmet_goals():
    ours = _result(300, [_s(100, True, p99=20.0), _s(300, True)])
    res = ba.assemble(ours, _result(0, [_s(100, False)]), {"quiet_reached": False}, None)
    assert res["stock_ratio"] is None  # stock held nothing: no finite ratio
    assert res["measured_under_contention"] is True
    assert res["calls_at_70pct_cpu_reached"] is False
    assert res["goals"]["max_concurrent_calls"]["met"] is False
    assert res["goals"]["setup_ms_p99"]["met"] is False
    assert res["goals"]["rerun_s"]["met"] is None
    assert res["steady_state_api_requests"] is None


def test_max_held_end_to_end_stops_at_first_lossy_step():
    steps = [_s(100, True), _s(200, True), _s(300, True), _s(400, False)]
    steps[1]["rtp"] = {"loss_pct": 1.5, "asterisk_loss_pct": 0.0}
    assert ba.max_held_end_to_end({"steps": steps}) == 100
    assert ba.max_held_end_to_end({"steps": []}) == 0


def test_contention_detected_after_a_quiet_start():
    busy = [_s(100, True, cpu=80.0)]  # 80 - 15 - 10 = 55% of the box used by something else
    assert ba.contended({"quiet_reached": True}, {"idle_box_cpu_pct": 2.0}, busy) is True
    assert ba.contended({"quiet_reached": True}, {"idle_box_cpu_pct": 40.0}, [_s(100, True)]) is True
    assert ba.contended({"quiet_reached": True}, {"idle_box_cpu_pct": 2.0}, [_s(100, True)]) is False
    assert ba.contended({}, {"idle_box_cpu_pct": 2.0}, [_s(100, True)]) is True


def _edge(p99, jitter):
    return {"captured": True, "matched": 1000, "unmatched": 0, "latency_ms": {"p50": 0.1, "p99": p99, "max": 2.0},
            "added_jitter_ms": {"p50": 0.0, "p99": jitter, "max": 0.5}, "transit_jitter_ms": {"p99": 0.2}}


def test_assemble_ai_call_figures():
    steps = [_s(100, True), _s(300, True), _s(400, True)]
    steps[0]["edge"], steps[1]["edge"], steps[2]["edge"] = _edge(0.3, 0.05), _edge(0.8, 0.1), _edge(3.0, 2.0)
    ours = _result(400, steps)
    ours["config"]["ptime_ms"] = 20
    ours["cps"] = {"cps_max": 150, "setup_ms_p99_at_cps_max": 12.5, "achieved_cps_at_max": 149.0,
                   "stopped_because": "4 failed calls",
                   "steps": [{"rate": 150, "ok": True}, {"rate": 200, "ok": False, "verdict": "4 failed calls"}]}
    ours["silent"] = {"silent_leg_survived": True, "carrier_silent_torn_down": True, "problems": [],
                      "rtp_timeout_s": {"carrier": 120, "vapi": 120},
                      "ai_silent": {"silent_s": 90, "log": {"causes": {"carrier": [16]}}},
                      "carrier_silent": {"log": {"causes": {"carrier": [44]},
                                                 "rtp_timeouts": [{"channel": "PJSIP/carrier-1", "after_s": 120}]}}}
    ours["soak"] = {"calls": 240, "soak_s": 1800, "attempted": 7000, "failed": 0, "rss_kib_start": 100,
                    "rss_kib_end": 120, "rss_growth_kib": 20, "open_files_start": 2500, "open_files_end": 2500,
                    "open_files_growth": 0, "loss_pct_max": 0.01, "loss_growth_pct": 0.0,
                    "samples": [{"asterisk_loss_pct": 0.0}, {"asterisk_loss_pct": 0.01}]}
    tuned = _result(200, [_s(200, True), _s(300, False)])
    extra = _result(500, [_s(500, True)], c70=450)
    extra["config"]["ptime_ms"] = 30
    res = ba.assemble(ours, _result(50, [_s(50, True)]), {"quiet_reached": True}, None,
                      stock_tuned=tuned, ours_extra=extra)
    assert res["rtp_ptime_ms"] == 20
    # the headline edge figures are those of the 300-call step, not the largest
    assert (res["edge_at_calls"], res["edge_latency_ms_p99"], res["edge_jitter_ms_p99"]) == (300, 0.8, 0.1)
    assert [e["calls"] for e in res["edge_by_step"]] == [100, 300, 400]
    assert res["goals"]["edge_latency_ms_p99"]["met"] is True and res["goals"]["edge_jitter_ms_p99"]["met"] is True
    assert (res["cps_max"], res["cps_setup_ms_p99"]) == (150, 12.5)
    assert res["goals"]["cps_max"]["met"] is False
    assert res["silent_leg_survived"] is True and res["goals"]["silent_leg_survived"]["met"] is True
    assert res["silent_hangup_causes"] == {"ai_silent": {"carrier": [16]}, "carrier_silent": {"carrier": [44]}}
    assert res["soak_failed_calls"] == 0 and res["soak_rss_growth_kib"] == 20
    assert res["soak_loss_pct_by_interval"] == [0.0, 0.01]
    assert res["stock_ratio"] == 8.0 and res["stock_tuned_ratio"] == 2.0
    assert res["extra_ptime"]["rtp_ptime_ms"] == 30 and res["extra_ptime"]["max_concurrent_calls"] == 500
    json.dumps(res)


def test_edge_step_falls_back_below_300_calls():
    steps = [_s(100, True), _s(200, True), _s(400, True)]
    steps[1]["edge"] = _edge(0.5, 0.1)
    steps[2]["edge"] = _edge(9.0, 9.0)
    assert ba.edge_step({"steps": steps})["target_calls"] == 200
    assert ba.edge_step({"steps": [_s(100, True)]}) is None


def test_rerun_beside_the_old_engine_is_carried_with_its_goal():
    ours = _result(300, [_s(100, True), _s(300, True)])
    phases = {"rerun_old_commit": "8dc8e43", "rerun_old_median_s": 13.1, "rerun_new_median_s": 10.7,
              "rerun_paired_ratio": 0.76}
    res = ba.assemble(ours, _result(100, [_s(100, True)]), phases, None)
    assert (res["rerun_old_commit"], res["rerun_old_median_s"], res["rerun_new_median_s"]) == ("8dc8e43", 13.1, 10.7)
    assert res["goals"]["rerun_paired_ratio"]["met"] is True
    slower = ba.assemble(ours, _result(100, [_s(100, True)]), dict(phases, rerun_paired_ratio=1.16), None)
    assert slower["goals"]["rerun_paired_ratio"]["met"] is False
    # Phase 1b skipped: no figure, the goal neither met nor failed.
    skipped = ba.assemble(ours, _result(100, [_s(100, True)]), {}, None)
    assert skipped["rerun_paired_ratio"] is None and skipped["goals"]["rerun_paired_ratio"]["met"] is None
