"""Assemble bench/results.json from the pieces scripts/bench.sh measured.

usage: assemble.py --out bench/results.json --ours DIR/results.json --stock DIR/results.json
                   --phases bench/out/phases.json --emulator-log bench/out/emulator-requests.json
                   [--stock-tuned DIR/results.json] [--ours-extra DIR/results.json]

phases.json (written by bench.sh): converge_cold_s, rerun_s, rerun_log (path of the re-run's
ansible output), machine_load_before, quiet_reached, bench_started, ...
Pure helpers are unit tested in tests/unit/bench/test_bench_assemble.py.
"""

import argparse
import json
import re
import sys

WRITE_METHODS = ("POST", "PATCH", "PUT", "DELETE")
GOALS = {
    "max_concurrent_calls": (">=", 500),
    "calls_at_70pct_cpu": (">=", 350),
    "setup_ms_p99": ("<", 15),
    "stock_ratio": (">=", 1.0),
    "rerun_s": ("<=", 20),
    "rerun_changed": ("==", 0),
    "rerun_paired_ratio": ("<=", 1.0),
    "steady_state_api_writes": ("==", 0),
    "edge_latency_ms_p99": ("<=", 1.0),
    "edge_jitter_ms_p99": ("<=", 1.0),
    "cps_max": (">=", 200),
    "silent_leg_survived": ("==", True),
    "carrier_silent_torn_down": ("==", True),
    "soak_failed_calls": ("==", 0),
}
EDGE_AT_CALLS = 300


def recap_changed(text):
    """Sum of changed= over the PLAY RECAP lines of an ansible-playbook run; None without a recap."""
    total = None
    in_recap = False
    for line in text.splitlines():
        if line.startswith("PLAY RECAP"):
            in_recap = True
            continue
        m = re.search(r"\bchanged=(\d+)", line) if in_recap else None
        if m:
            total = (total or 0) + int(m.group(1))
    return total


def api_counts(log):
    """(writes, requests, per 'METHOD kind') from the emulator's GET /_emulator/requests answer."""
    entries = log.get("requests", log) if isinstance(log, dict) else log
    writes = requests = 0
    by_kind = {}
    for e in entries:
        path = e.get("path", "")
        if path.startswith("/_emulator"):
            continue
        requests += 1
        if e.get("method", "").upper() in WRITE_METHODS:
            writes += 1
        kind = "%s /%s" % (e.get("method", "?").upper(), path.strip("/").split("/")[0])
        by_kind[kind] = by_kind.get(kind, 0) + 1
    return writes, requests, by_kind


def step_at(result, calls):
    for step in (result or {}).get("steps", []):
        if step.get("target_calls") == calls:
            return step
    return None


def held_step(result):
    """The largest held step (the one max_concurrent_calls reports)."""
    held = [s for s in (result or {}).get("steps", []) if s.get("ok")]
    return held[-1] if held else None


def max_held_end_to_end(result, max_loss_pct=1.0):
    """Largest step held (from the bottom up) also with end-to-end RTP loss < max_loss_pct,
    i.e. counting what the echoing SIPp UAS on the same box drops."""
    best = 0
    for step in (result or {}).get("steps", []):
        loss = (step.get("rtp") or {}).get("loss_pct")
        if not step.get("ok") or loss is None or loss >= max_loss_pct:
            break
        best = step.get("target_calls", best)
    return best


def other_cpu(step):
    """Whole-box CPU not used by Asterisk or SIPp during the step: other work on the machine
    (plus kernel time not charged to them)."""
    parts = [step.get("box_cpu_pct"), step.get("asterisk_cpu_pct"), step.get("sipp_cpu_pct")]
    if any(p is None for p in parts):
        return None
    return round(parts[0] - parts[1] - parts[2], 1)


CONTENTION_PCT = 15.0


def contended(phases, summary, steps):
    """True when the machine was busy with other work: no quiet start, a busy box right before
    the first step, or a median of more than CONTENTION_PCT box CPU not used by the test."""
    if not phases.get("quiet_reached", False):
        return True
    idle = summary.get("idle_box_cpu_pct")
    other = _median([other_cpu(st) for st in steps])
    return bool((idle is not None and idle > CONTENTION_PCT) or (other is not None and other > CONTENTION_PCT))


def goal_met(value, goal):
    op, target = goal
    if value is None:
        return None
    return {">=": value >= target, "<": value < target, "<=": value <= target, "==": value == target}[op]


def step_brief(step):
    if not step:
        return None
    rtp = step.get("rtp") or {}
    return {
        "calls": step.get("target_calls"), "ok": step.get("ok"), "why_not": step.get("verdict"),
        "attempted": step.get("attempted"), "answered": step.get("answered"), "failed": step.get("failed"),
        "held_s": step.get("held_s"), "setup_ms": step.get("setup_ms"),
        "box_cpu_pct": step.get("box_cpu_pct"), "asterisk_cpu_pct": step.get("asterisk_cpu_pct"),
        "sipp_cpu_pct": step.get("sipp_cpu_pct"), "sipp_uas_cpu_pct": step.get("sipp_uas_cpu_pct"),
        "channels_peak": step.get("channels_peak"),
        "bridges": step.get("bridges"), "rtp_loss_asterisk_pct": rtp.get("asterisk_loss_pct"),
        "rtp_loss_end_to_end_pct": rtp.get("loss_pct"), "rtp_loss_uas_echo_pct": rtp.get("uas_echo_loss_pct"),
        "sipp_errors": step.get("sipp_errors"),
        "rtp_packets_sent": rtp.get("carrier_to_asterisk"), "rtp_packets_echoed": rtp.get("asterisk_to_carrier"),
        "load_avg_1m_before": step.get("load_avg_1m_before"),
        "box_cpu_not_from_test_pct": other_cpu(step),
        "edge_latency_ms": (step.get("edge") or {}).get("latency_ms"),
        "edge_added_jitter_ms": (step.get("edge") or {}).get("added_jitter_ms"),
    }


def assemble(ours, stock, phases, emulator_log, setup_at=100, stock_tuned=None, ours_extra=None):
    ours_sum = (ours or {}).get("summary", {})
    stock_sum = (stock or {}).get("summary", {})
    at100 = step_at(ours, setup_at) or {}
    top = held_step(ours)
    max_ours = ours_sum.get("max_concurrent_calls")
    max_stock = stock_sum.get("max_concurrent_calls")
    writes, requests, by_kind = api_counts(emulator_log) if emulator_log is not None else (None, None, {})
    c70 = ours_sum.get("calls_at_cpu_threshold")
    steps = (ours or {}).get("steps", [])
    res = {
        "max_concurrent_calls": max_ours,
        "max_concurrent_calls_end_to_end": max_held_end_to_end(ours),
        "calls_at_70pct_cpu": c70,
        # None above: 70% was not reached on any step; then the figure is "more than the last step".
        "calls_at_70pct_cpu_reached": c70 is not None,
        # Same, on Asterisk + SIPp CPU only (lower bound of their share): the figure to read when
        # measured_under_contention is true, since other work then inflates whole-box CPU.
        "calls_at_70pct_cpu_own": ours_sum.get("calls_at_cpu_threshold_own"),
        "setup_ms_p50": (at100.get("setup_ms") or {}).get("p50"),
        "setup_ms_p99": (at100.get("setup_ms") or {}).get("p99"),
        "setup_ms_at_calls": setup_at,
        "stock_max_concurrent_calls": max_stock,
        "stock_ratio": round(float(max_ours) / max_stock, 2) if max_ours is not None and max_stock else None,
        "converge_cold_s": phases.get("converge_cold_s"),
        "rerun_s": phases.get("rerun_s"),
        "rerun_changed": phases.get("rerun_changed"),
        # bench/rerun-compare.sh beside the old engine (phase 1b): new/old median of the pairs.
        "rerun_old_commit": phases.get("rerun_old_commit"),
        "rerun_old_median_s": phases.get("rerun_old_median_s"),
        "rerun_new_median_s": phases.get("rerun_new_median_s"),
        "rerun_paired_ratio": phases.get("rerun_paired_ratio"),
        "steady_state_api_writes": writes,
        "steady_state_api_requests": requests,
        "steady_state_api_requests_by_kind": by_kind,
        "at_max": step_brief(top),
        "sipp_cpu_pct_at_max": (top or {}).get("sipp_cpu_pct"),
        "asterisk_cpu_pct_at_max": (top or {}).get("asterisk_cpu_pct"),
        "box_cpu_pct_at_max": (top or {}).get("box_cpu_pct"),
        "rtp_loss_pct_at_max": ((top or {}).get("rtp") or {}).get("asterisk_loss_pct"),
        "rtp_loss_end_to_end_pct_at_max": ((top or {}).get("rtp") or {}).get("loss_pct"),
        "rtp_loss_basis": ((ours or {}).get("config") or {}).get("loss_basis", "asterisk"),
        "first_failed_step": step_brief(next((s for s in steps if not s.get("ok")), None)),
        "ours_steps": [step_brief(s) for s in steps],
        "stock_steps": [step_brief(s) for s in (stock or {}).get("steps", [])],
        "idle_box_cpu_pct": ours_sum.get("idle_box_cpu_pct"),
        "machine_load_before": phases.get("machine_load_before"),
        "machine_quiet_before": phases.get("quiet_reached"),
        # The load average is checked before the run only; other work that starts later shows
        # up as box CPU not used by Asterisk or SIPp (per step in ours_steps).
        "measured_under_contention": contended(phases, ours_sum, steps),
        "box_cpu_not_from_test_pct_median": _median([other_cpu(st) for st in steps]),
        "load_avg_before_loadtest": phases.get("load_before_loadtest"),
        "host_sysctl_for_load": phases.get("host_sysctl_for_load"),
        "hold_s": ((ours or {}).get("config") or {}).get("hold_s"),
        "call_rate_cps": ((ours or {}).get("config") or {}).get("call_rate"),
        "cpu_note": "CPU figures are shares of the whole box (%s cores); SIPp runs on the same box." % (
            (ours or {}).get("ncpu")),
        "versions": {"ours": (ours or {}).get("versions"), "stock": (stock or {}).get("versions")},
        "bench_started": phases.get("bench_started"),
        "bench_duration_s": phases.get("bench_duration_s"),
    }
    res["rtp_ptime_ms"] = ((ours or {}).get("config") or {}).get("ptime_ms")
    res.update(edge_figures(ours))
    res.update(cps_figures(ours))
    res.update(silent_figures(ours))
    res.update(soak_figures(ours))
    max_tuned = ((stock_tuned or {}).get("summary") or {}).get("max_concurrent_calls")
    res["stock_tuned_max_concurrent_calls"] = max_tuned
    # Stock package with only its open-file limit raised: what our configuration costs or gains
    # against a stock Asterisk that does not run out of file descriptors.
    res["stock_tuned_ratio"] = round(float(max_ours) / max_tuned, 2) if max_ours is not None and max_tuned else None
    res["stock_tuned_steps"] = [step_brief(st) for st in (stock_tuned or {}).get("steps", [])]
    if ours_extra:
        extra_sum = ours_extra.get("summary") or {}
        res["extra_ptime"] = {"rtp_ptime_ms": (ours_extra.get("config") or {}).get("ptime_ms"),
                              "max_concurrent_calls": extra_sum.get("max_concurrent_calls"),
                              "calls_at_70pct_cpu": extra_sum.get("calls_at_cpu_threshold"),
                              "steps": [step_brief(st) for st in ours_extra.get("steps", [])]}
    res["goals"] = {k: {"goal": "%s %s" % g, "value": res.get(k), "met": goal_met(res.get(k), g)}
                    for k, g in GOALS.items()}
    return res


def edge_step(result, calls=EDGE_AT_CALLS):
    """The step whose edge figures are the headline: `calls` if measured, else the largest
    step below it with a capture."""
    steps = [st for st in (result or {}).get("steps", []) if (st.get("edge") or {}).get("matched")]
    exact = [st for st in steps if st.get("target_calls") == calls]
    if exact:
        return exact[0]
    below = [st for st in steps if st.get("target_calls", 0) < calls]
    return below[-1] if below else None


def edge_figures(result):
    step = edge_step(result)
    edge = (step or {}).get("edge") or {}
    return {
        "edge_at_calls": (step or {}).get("target_calls"),
        "edge_latency_ms_p50": (edge.get("latency_ms") or {}).get("p50"),
        "edge_latency_ms_p99": (edge.get("latency_ms") or {}).get("p99"),
        "edge_jitter_ms_p99": (edge.get("added_jitter_ms") or {}).get("p99"),
        "edge_transit_jitter_ms_p99": (edge.get("transit_jitter_ms") or {}).get("p99"),
        "edge_by_step": [{"calls": st.get("target_calls"),
                          "latency_ms": (st.get("edge") or {}).get("latency_ms"),
                          "added_jitter_ms": (st.get("edge") or {}).get("added_jitter_ms"),
                          "transit_jitter_ms": (st.get("edge") or {}).get("transit_jitter_ms"),
                          "packets_matched": (st.get("edge") or {}).get("matched"),
                          "packets_unmatched": (st.get("edge") or {}).get("unmatched"),
                          "packets_matched_pct": (st.get("edge") or {}).get("matched_pct"),
                          "capture_kernel_dropped": (st.get("edge") or {}).get("kernel_dropped")}
                         for st in (result or {}).get("steps", []) if st.get("edge")],
    }


CPS_STEP_KEYS = ("rate", "calls", "ok", "verdict", "answered", "failed", "achieved_cps", "setup_ms", "box_cpu_pct",
                 "asterisk_cpu_pct", "sipp_cpu_pct")


def cps_figures(result):
    cps = (result or {}).get("cps")
    if not cps:
        return {"cps_max": None}
    return {
        "cps_max": cps.get("cps_max"),
        "cps_setup_ms_p99": cps.get("setup_ms_p99_at_cps_max"),
        "cps_achieved_at_max": cps.get("achieved_cps_at_max"),
        "cps_stopped_because": cps.get("stopped_because"),
        "cps_steps": [{k: st.get(k) for k in CPS_STEP_KEYS} for st in cps.get("steps", [])],
    }


def silent_figures(result):
    silent = (result or {}).get("silent")
    if not silent:
        return {"silent_leg_survived": None}
    ai, carrier = silent.get("ai_silent") or {}, silent.get("carrier_silent") or {}
    return {
        "silent_leg_survived": silent.get("silent_leg_survived"),
        "carrier_silent_torn_down": silent.get("carrier_silent_torn_down"),
        "silent_ai_s": ai.get("silent_s"),
        "silent_rtp_timeout_s": silent.get("rtp_timeout_s"),
        "silent_hangup_causes": {"ai_silent": (ai.get("log") or {}).get("causes"),
                                 "carrier_silent": (carrier.get("log") or {}).get("causes")},
        "silent_carrier_rtp_timeouts": (carrier.get("log") or {}).get("rtp_timeouts"),
        "silent_carrier_skipped": carrier.get("skipped"),
        "silent_problems": silent.get("problems"),
    }


def soak_figures(result):
    soak = (result or {}).get("soak")
    if not soak:
        return {"soak_failed_calls": None}
    if soak.get("skipped"):
        return {"soak_failed_calls": None, "soak_skipped": soak["skipped"]}
    keys = ("rss_kib_start", "rss_kib_end", "rss_growth_kib", "open_files_start", "open_files_end",
            "open_files_growth", "loss_pct_max", "loss_growth_pct", "idle_rss_growth_kib", "idle_open_files_growth")
    out = {"soak_s": soak.get("soak_s"), "soak_calls": soak.get("calls"), "soak_call_s": (soak.get("plan") or {}).get("call_s"),
           "soak_attempted_calls": soak.get("attempted"), "soak_failed_calls": soak.get("failed")}
    out.update({"soak_" + k: soak.get(k) for k in keys})
    out["soak_loss_pct_by_interval"] = [x.get("asterisk_loss_pct") for x in soak.get("samples", [])]
    out["soak_samples"] = soak.get("samples")
    return out


def _median(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    mid = len(vals) // 2
    return vals[mid] if len(vals) % 2 else round((vals[mid - 1] + vals[mid]) / 2.0, 1)


def _load(path):
    if not path:
        return None
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--ours")
    ap.add_argument("--stock")
    ap.add_argument("--phases", required=True)
    ap.add_argument("--emulator-log")
    ap.add_argument("--stock-tuned")
    ap.add_argument("--ours-extra", help="an extra ramp of ours (e.g. 30 ms media)")
    args = ap.parse_args(argv)
    phases = _load(args.phases) or {}
    if phases.get("rerun_log"):
        try:
            with open(phases["rerun_log"]) as fh:
                phases["rerun_changed"] = recap_changed(fh.read())
        except OSError:
            phases["rerun_changed"] = None
    res = assemble(_load(args.ours), _load(args.stock), phases, _load(args.emulator_log),
                   stock_tuned=_load(args.stock_tuned), ours_extra=_load(args.ours_extra))
    with open(args.out, "w") as fh:
        json.dump(res, fh, indent=2, sort_keys=False)
        fh.write("\n")
    json.dump(res, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
