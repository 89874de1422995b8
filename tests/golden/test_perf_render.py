"""Golden: a stored perf_analyzer CSV (+ its report) -> the normalised row, the composing-model
breakdown and the table rendered in the published look (tests/golden/perf/expected.md).
Regenerate after an intended change: REGENERATE_GOLDEN=1 make test PYTEST_ARGS=tests/golden/test_perf_render.py"""
from __future__ import annotations

import os
from pathlib import Path

from repro.measure.perf_analyzer import Measurement, composing_breakdown, is_stable, measured_frame, normalise
from repro.measure.metrics import published
from repro.report.render import render_markdown

HERE = Path(__file__).parent / "perf"


def measurement() -> Measurement:
    return Measurement("dlrm_hps", 1024, HERE / "dlrm_hps_b1024.csv", True, 1, 2000, HERE / "dlrm_hps_b1024.log", {})


def test_avg_latency_is_the_sum_of_the_seven_components():
    row = normalise(measurement())
    assert row["latency_avg_us"] == 8 + 0 + 2 + 1062 + 34035 + 2766 + 3      # not perf_analyzer's own 37876
    assert row["batch"] == 1024 and row["concurrency"] == 1


def test_rendered_like_published():
    text = render_markdown(published(measured_frame([normalise(measurement())]), "dlrm"), "dlrm") + "\n"
    expected = HERE / "expected.md"
    if os.environ.get("REGENERATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()
    assert "2.74e+04" in text


def test_composing_breakdown():
    rows = composing_breakdown(measurement())
    assert [(r["model"], r["Server Compute Infer"]) for r in rows] == [("dlrm_dense", 31993), ("dlrm_sparse_hps", 1068)]


def test_instability_is_read_from_the_output_not_the_exit_code():
    assert not is_stable("...\nFailed to obtain stable measurement within 10 measurement windows for concurrency 1.")
    assert is_stable("Concurrency: 1, throughput: 21673.1 infer/sec, latency 11758 usec")
