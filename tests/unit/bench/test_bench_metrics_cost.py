"""bench/metrics_cost.py's arithmetic: from per-run and per-scrape measurements to the figures."""

import pytest

from byom_testlib import load_script

metrics_cost = load_script("bench/metrics_cost.py", "metrics_cost")


def raw(runs, scrapes, cpus=2):
    return {"collector_runs": [{"wall_s": w, "own_cpu_s": c, "asterisk_extra_cpu_s": a} for w, c, a in runs],
            "scrapes": [{"wall_s": w, "cpu_s": c, "bytes": 1000, "samples": n} for w, c, n in scrapes],
            "cpus": cpus, "asterisk_calm_cpu_pct_of_core": 10.0, "channels_before": 600, "channels_after": 598}


def test_overhead_is_per_interval_cpu_over_the_whole_box():
    # collector 0.12 s + Asterisk 0.03 s every 15 s, node-exporter 0.015 s every 15 s, 2 cores:
    # (0.15 + 0.015) / 15 / 2 = 0.55 %.
    fig = metrics_cost.summarize(raw([(0.2, 0.10, 0.02), (0.3, 0.14, 0.04)], [(0.01, 0.01, 500), (0.03, 0.02, 502)]), 15, 15)
    assert fig["metrics_cpu_overhead_pct"] == pytest.approx(0.55, abs=1e-3)
    assert fig["collector_cpu_s_per_run"] == pytest.approx(0.12)
    assert fig["asterisk_extra_cpu_s_per_collector_run"] == pytest.approx(0.03)
    assert fig["node_exporter_cpu_s_per_scrape"] == pytest.approx(0.015)
    assert fig["scrape_ms_p50"] == pytest.approx(20.0) and fig["scrape_ms_max"] == pytest.approx(30.0)
    assert fig["samples_per_scrape"] == 501 and fig["channels_during"] == [600, 598]


def test_longer_intervals_and_more_cores_lower_the_share():
    r = raw([(0.2, 0.12, 0.03)], [(0.02, 0.015, 500)])
    base = metrics_cost.summarize(r, 15, 15)["metrics_cpu_overhead_pct"]
    assert metrics_cost.summarize(r, 30, 30)["metrics_cpu_overhead_pct"] == pytest.approx(base / 2, abs=1e-3)
    r4 = raw([(0.2, 0.12, 0.03)], [(0.02, 0.015, 500)], cpus=4)
    assert metrics_cost.summarize(r4, 15, 15)["metrics_cpu_overhead_pct"] == pytest.approx(base / 2, abs=1e-3)
