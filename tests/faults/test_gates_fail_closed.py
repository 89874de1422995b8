"""Faults: NaN, inf or a missing metric stops a gate; it never passes as 'not greater than'."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from repro.families.scores import roc_auc
from repro.measure.perf_analyzer import Measurement, PerfError, normalise
from stages.accuracy import gate
from tests.golden.test_perf_render import HERE


@pytest.mark.parametrize("served", [float("nan"), float("inf"), 0.5])
def test_accuracy_gate_fails_on_nan_inf_and_real_differences(served):
    row = gate("dlrm_tf", served, 0.758414, 1e-4)
    assert row["passed"] is False


def test_accuracy_gate_passes_within_tolerance():
    assert gate("dlrm_tf", 0.7584141, 0.758414, 1e-4)["passed"] is True


def test_auc_of_nan_scores_is_nan_and_fails_the_gate():
    auc = roc_auc([0, 1, 0, 1], [float("nan")] * 4)
    assert math.isnan(auc) and gate("x", auc, 0.75, 1e-4)["passed"] is False


def measurement_of(tmp_path, mutate) -> Measurement:
    frame = pd.read_csv(HERE / "dlrm_hps_b1024.csv")
    mutate(frame)
    csv = tmp_path / "m.csv"
    frame.to_csv(csv, index=False)
    return Measurement("dlrm_hps", 1024, csv, True, 1, 2000, tmp_path / "m.log", {})


def test_a_nan_metric_from_perf_analyzer_stops_the_measurement(tmp_path):
    def nan_p99(frame):
        frame["p99 latency"] = float("nan")
    with pytest.raises(PerfError, match="non-finite latency_p99_us"):
        normalise(measurement_of(tmp_path, nan_p99))


def test_a_missing_metric_column_stops_the_measurement(tmp_path):
    with pytest.raises(PerfError, match=r"lacks columns \['Server Queue'\]"):
        normalise(measurement_of(tmp_path, lambda f: f.drop(columns=["Server Queue"], inplace=True)))
