"""Wide & Deep's pure parts: MAP@12, the synthetic data layout, its sweeps and its published tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from repro.compare.published import counterparts, side_by_side
from repro.families.outbrain import dataset
from repro.families.outbrain.features import INPUTS, MULTIHOT, PAD, PRESETS, deep_width
from repro.families.scores import map_at_k
from repro.measure import scenarios
from repro.params import load_params
from repro.profiles.catalog import get_profile


def test_map_at_12_by_hand():
    # display 1: the click ranks 2nd -> 1/2; display 2: 1st -> 1; display 3 has no click (left out);
    # display 4: 3rd -> 1/3.  MAP = (0.5 + 1 + 1/3) / 3
    groups = [1, 1, 1, 2, 2, 3, 4, 4, 4]
    labels = [0, 1, 0, 1, 0, 0, 0, 0, 1]
    scores = [0.9, 0.5, 0.1, 0.3, 0.2, 0.5, 0.9, 0.8, 0.7]
    assert map_at_k(groups, labels, scores) == pytest.approx((0.5 + 1 + 1 / 3) / 3)


def test_map_at_k_cuts_off_and_breaks_ties_in_order():
    groups, labels = [7] * 13, [0] * 12 + [1]
    assert map_at_k(groups, labels, np.linspace(1, 0, 13), k=12) == 0.0         # 13th place: outside the top 12
    assert map_at_k(groups, labels, np.linspace(1, 0, 13), k=13) == pytest.approx(1 / 13)
    assert map_at_k([1, 1], [0, 1], [0.5, 0.5]) == 0.5                           # a tie keeps the sample order


def test_map_at_k_refuses_nan():
    with pytest.raises(ValueError, match="NaN"):
        map_at_k([1, 1], [0, 1], [0.5, float("nan")])


def test_synthetic_data_layout_and_determinism():
    a, b = dataset.make_dataset(5, PRESETS["tiny"]), dataset.make_dataset(5, PRESETS["tiny"])
    pd.testing.assert_frame_equal(a["valid"], b["valid"])
    valid = a["valid"]
    assert (valid.groupby("display_id")["clicked"].sum() == 1).all()
    assert valid.groupby("display_id").size().between(2, 6).all()
    batch = dataset.to_batch(valid)
    assert list(batch.inputs) == list(INPUTS) and len(INPUTS) == 29
    for name in MULTIHOT:
        ids = batch.inputs[name]
        assert ids.shape == (len(valid), 3) and ids.dtype == np.int32
        present = ids != PAD
        assert (present[:, :-1] >= present[:, 1:]).all()   # padding only at the end of a row
    assert deep_width() == 1248                            # upstream: 1235 embedding values + 13 numericals


def test_the_cpu_and_container_sweeps():
    params = load_params()
    cpu = get_profile(params, "cpu").perf_for("outbrain")
    assert cpu["scenarios"] == ["offline", "online"] and cpu["note"]
    a100 = scenarios.from_params(get_profile(params, "a100").perf_for("outbrain"), ("offline", "online"))
    offline, online = a100
    assert [b for b, _ in offline.points] == [1, 16384, 32768, 49152, 65536, 81920, 98304, 114688, 131072]
    assert [c for _, c in online.points] == list(range(8, 257, 8)) and {b for b, _ in online.points} == {2048}
    assert online.table_name("widedeep_trt") == "widedeep_trt_online"
    assert get_profile(params, "cpu").perf_for("criteo")["scenarios"] == ["offline"]   # DLRM's sweep is its own


def test_all_16_published_tables_have_a_place():
    match = {"source": "002_7c910ab60ccdc04e.txt", "model": "Wide & Deep"}
    offline, online = counterparts(match, None, "small", "offline"), counterparts(match, None, "small", "online")
    assert len(offline) == 8 and len(online) == 8
    assert {c.gpu for c in online} == {"a100", "a30", "t4", "v100"} and {c.precision for c in online} == {"FP32", "FP16"}


def test_online_rows_match_by_concurrency():
    match = {"source": "002_7c910ab60ccdc04e.txt", "model": "Wide & Deep"}
    published = next(c for c in counterparts(match, "fp16", "small", "online") if c.gpu == "a100")
    measured = pd.DataFrame({"batch": [2048, 2048], "concurrency": [8, 12], "throughput_infer_per_s": [1e6, 2e6],
                             "latency_p99_us": [7000.0, 9000.0]})
    table, missing = side_by_side(measured, published.frame, published.style)
    assert table["Concurrency"].tolist() == [8] and table["published infer/s"].iloc[0] == 3344380.0
    assert table["p99 ratio"].iloc[0] == pytest.approx(7000 / 6840)
    assert missing == ["2048 at concurrency 12"]
