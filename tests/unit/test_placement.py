from __future__ import annotations

import pytest

from repro.engines.placement import place_tables, placement_report
from repro.families.criteo.presets import CARDINALITIES_4B, CARDINALITIES_22B


def test_22b_at_60gb_puts_the_two_largest_tables_on_cpu():
    devices = place_tables(list(CARDINALITIES_22B), 128, 4, 60)
    cpu = [i for i, d in enumerate(devices) if d == "CPU"]
    assert sorted(CARDINALITIES_22B[i] for i in cpu) == [45833188, 48937457]


def test_4b_fits_whole():
    assert set(place_tables(list(CARDINALITIES_4B), 128, 4, 60)) == {"GPU"}


def test_report_orders_by_feature_and_sums():
    report = placement_report([10, 1000, 100], 4, 4, 0.0)
    assert [t["device"] for t in report["tables"]] == ["CPU", "CPU", "CPU"]
    assert report["cpu_bytes"] == (10 + 1000 + 100) * 16


def test_negative_threshold_is_rejected():
    with pytest.raises(ValueError, match="memory threshold must be >= 0 GB"):
        place_tables([10], 4, 4, -1)
