"""Offline and online scenarios: their points, table and file names, and how params select them."""
from __future__ import annotations

from repro.measure import scenarios
from repro.measure.scenarios import point_name

PERF = {"scenarios": ["offline", "online"], "batch_sizes": [256, 1024], "concurrency": 1,
        "online": {"batch_size": 2048, "concurrency": [8, 16, 24]}}


def test_offline_is_a_batch_sweep_at_concurrency_1_and_online_a_concurrency_sweep_at_one_batch():
    off, on = scenarios.from_params(PERF, ("offline", "online"))
    assert off.points == ((256, 1), (1024, 1)) and off.table_name("wd_tf") == "wd_tf"
    assert on.points == ((2048, 8), (2048, 16), (2048, 24)) and on.table_name("wd_tf") == "wd_tf_online"


def test_a_family_gets_only_the_scenarios_it_supports():
    assert [s.name for s in scenarios.from_params(PERF, ("offline",))] == ["offline"]
    assert [s.name for s in scenarios.from_params({**PERF, "scenarios": ["online"]}, ("offline", "online"))] == ["online"]


def test_point_names_keep_the_offline_names_and_add_the_concurrency_otherwise():
    assert point_name("dlrm_tf", 256, 1) == "dlrm_tf_b256"
    assert point_name("wd_tf_online", 2048, 16) == "wd_tf_online_b2048_c16"
