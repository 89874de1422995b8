"""The calibration arithmetic behind `make calibrate-compare` (pure functions, synthetic runs)."""
from __future__ import annotations

import math

import numpy as np

from repro.compare import calibration as cal
from repro.compare.classify import Row
from tools.calibrate_compare import render, summarise

NOISE = {"throughput_infer_per_s": 1.2, "latency_p50_us": 1.2, "latency_p99_us": 1.2}


def run(rng, scale: float = 1.0) -> list[Row]:
    """One run of three batch sizes: 6 windows, 200 request latencies each; run-level drift ~3%."""
    rows = []
    drift = float(rng.normal(0, 0.03))
    for batch in (256, 1024, 4096):
        thr = 1e5 * scale * math.exp(drift)
        windows = list(thr * (1 + rng.normal(0, 0.01, 6)))
        lat = list(1e6 * batch / thr * (1 + rng.normal(0, 0.02, 200)))
        rows.append(Row("m", batch, 1, {"throughput_infer_per_s": float(np.mean(windows)),
                                        "latency_p50_us": float(np.percentile(lat, 50)),
                                        "latency_p99_us": float(np.percentile(lat, 99))},
                        {"throughput": windows, "latency_us": lat, "requests": 200}, {}))
    return rows


def test_envelope_covers_95_percent_of_aa_pairs():
    logs = list(np.random.default_rng(0).normal(0, 0.1, 1000))
    factor = cal.envelope(logs)
    inside = np.mean(np.abs(logs) <= math.log(factor))
    assert 0.95 <= inside <= 0.97


def test_smaller_spread_needs_fewer_runs_and_resolves_smaller_drops():
    assert cal.repetitions_for(0.2, 0.05) < cal.repetitions_for(0.2, 0.2)
    assert cal.repetitions_for(0.2, 0.0) == 1
    assert cal.smallest_detected_drop(1.1, 0.05) < cal.smallest_detected_drop(1.3, 0.05)
    assert 0.09 < cal.smallest_detected_drop(1.1, 0.0) < 0.092     # 1 - 1/1.1


def test_summary_right_for_aa_and_a_large_drop():
    rng = np.random.default_rng(1)
    base = [run(rng) for _ in range(4)]
    slowed = {1.0: [run(rng, 0.5) for _ in range(4)]}
    result = summarise(base, slowed, NOISE, 0.05)
    assert result["A/A"]["pairs"] == 6
    assert result["A/A"]["rates"]["throughput_infer_per_s"]["wrong"] == 0
    assert result["slowed"]["1.0"]["rates"]["throughput_infer_per_s"]["right_share"] == 1.0
    assert 0.45 < result["slowed"]["1.0"]["throughput_ratio_mean"] < 0.55
    assert result["envelope_95"]["throughput_infer_per_s"]["factor"] < 1.2
    text = render(result, "m", "test")
    assert "A/A envelope at 95%" in text and "interleaved independent runs per side" in text
