"""The report section every GPU family shares for its two backends: rows at the points both measured, the ratio,
whether both rows are stable, and the native backend's own clocks (joined requests, padding, copies)."""
from __future__ import annotations

import pandas as pd

from repro.measure.metrics import P99, THROUGHPUT
from repro.report.backends import comparison, native_clocks, side_by_side


def frame(axis, points, rate, stable=True):
    return pd.DataFrame({axis: points, THROUGHPUT: [rate * p for p in points], P99: [100.0] * len(points),
                         "stable": [stable] * len(points)})


def cells(markdown: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")] for line in markdown.splitlines()
            if line.startswith("|") and not line.startswith("|:") and not line.startswith("|-")]


def test_only_points_both_backends_measured_are_compared():
    table = side_by_side(frame("batch", [1, 16, 128], 10.0), frame("batch", [16, 128, 256], 25.0, stable=False), "batch")
    assert list(table["Batch"]) == [16, 128] and list(table["native/python"]) == [2.5, 2.5]
    assert not table["both stable"].any()


def test_the_section_names_the_default_and_counts_where_native_wins():
    text = comparison("ResNet50", {"resnet50_gpu_fp16_online": (frame("concurrency", [16, 32], 2.0),
                                                                frame("concurrency", [16, 32], 1.0), "concurrency")},
                      "python", "because", "profiles.<profile>.serving.imagenet.default_backend")
    assert "serves `python` by default (params.yaml: profiles.<profile>.serving.imagenet.default_backend): because" in text
    assert "native is faster at 0 of 2 points" in text and ["Concurrency", "python infer/s"] == cells(text)[0][:2]
    assert "(no configuration measured" in comparison("W&D", {}, "cpp", "x", "k")


def test_native_clocks_show_joined_requests_padding_and_copies():
    stats = {"m_cpp": {"registered_copies": 3, "gathered_copies": 128, "pageable_copies": 0, "model_time_us": {
        "128": {"requests": 347, "requests_joined": 65.3, "requests_joined_n": 347, "padded_rows": 0.0,
                "padded_rows_n": 177, "copy_in_us": 1929.0, "copy_in_us_n": 177, "graph_and_copy_out_us": 7986.0,
                "graph_and_copy_out_us_n": 177, "chunked_us": 9962.0, "chunked_us_n": 170, "execute_us": 9978.0,
                "execute_us_n": 347},
        "100": {"requests": 1, "padded_rows": 28.0, "padded_rows_n": 1, "copy_in_us": 20.0, "copy_in_us_n": 1,
                "graph_and_copy_out_us": 90.0, "graph_and_copy_out_us_n": 1, "execute_us": 120.0, "execute_us_n": 1}}}}
    text = native_clocks(stats, ["m_cpp", "absent_cpp"])
    rows = cells(text)
    assert ["m_cpp", "100", "1", "1", "28", "0.020", "0.090", "", ""] == rows[1][:9]        # padded, not joined
    # single requests ran chunked, joined dynamic batches whole: each phase's mean over its own executions
    assert ["m_cpp", "128", "347", "65.3", "0 (of 177)", "1.929 (of 177)", "7.986 (of 177)", "9.962 (of 170)"] == \
        rows[2][:8]
    assert "m_cpp 3 / 128 / 0" in text and "whichever path ran" not in text and native_clocks({}, ["x"]) == ""
    old = {"m_cpp": {"model_time_us": {"128": {"requests": 4, "copy_in_us": 1.0}}}}   # before per-phase counts
    assert "whichever path ran" in native_clocks(old, ["m_cpp"])
