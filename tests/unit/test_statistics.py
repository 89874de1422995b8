"""What a point's samples can say: intervals need enough samples, stability needs agreeing windows."""
from __future__ import annotations

import numpy as np

from repro.measure import statistics as stats


def test_p99_interval_needs_100_requests_and_contains_the_p99():
    rng = np.random.default_rng(1)
    latencies = list(rng.lognormal(7, 0.3, 500))
    lo, hi = stats.interval(latencies, stats.p99, stats.MIN_TAIL_REQUESTS)
    assert lo <= np.percentile(latencies, 99) <= hi
    assert stats.interval(latencies[:99], stats.p99, stats.MIN_TAIL_REQUESTS) is None


def test_interval_is_seeded_so_reports_rebuild_byte_identical():
    data = list(np.random.default_rng(2).normal(100, 5, 50))
    assert stats.interval(data, stats.mean, 2) == stats.interval(data, stats.mean, 2)


def test_evidence_counts_and_spread():
    steady = stats.evidence({"throughput": [100.0, 101.0, 99.0, 100.0], "latency_us": [1.0] * 150,
                             "requests": 4000}, max_cv=0.10)
    assert steady["windows"] == 4 and steady["requests"] == 4000 and steady["spread_ok"]
    assert steady["throughput_ci_low"] <= 100.0 <= steady["throughput_ci_high"]
    noisy = stats.evidence({"throughput": [9200.0, 25100.0, 14000.0], "latency_us": [1.0] * 9}, max_cv=0.10)
    assert not noisy["spread_ok"] and noisy["throughput_cv"] > 0.4
    assert noisy["latency_p99_ci_low_us"] is None            # 9 requests: no p99 interval


def test_no_windows_is_never_stable():
    assert stats.evidence({}, max_cv=0.10)["spread_ok"] is False
