"""Unit tests for bench/assemble.py (results.json assembly); no benchmark is run."""

import importlib.util
import json
import os

from byom_testlib import ROOT

spec = importlib.util.spec_from_file_location("bench_assemble", os.path.join(ROOT, "bench", "assemble.py"))
ba = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ba)

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
    assert all(g["met"] for g in res["goals"].values())
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
