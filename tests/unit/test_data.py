"""The upstream binary split format: writer, reader, skew, errors, determinism."""
from __future__ import annotations

import numpy as np
import pytest

from repro.families.criteo.dataset import DataFormatError, categorical_dtype, feature_spec, load_spec, read_split, write_dataset
from repro.families.criteo.presets import PRESETS, get_preset
from repro.families.criteo.synthetic import make_dataset

CARDS = [5000, 4, 300, 70000]


@pytest.fixture()
def dataset(tmp_path):
    splits = make_dataset(7, CARDS, 4000, 1000)
    write_dataset(tmp_path, feature_spec(CARDS, 13), splits)
    return tmp_path, splits


def test_round_trip_and_upstream_layout(dataset):
    root, splits = dataset
    spec = load_spec(root)
    assert spec["feature_spec"]["cat_0.bin"] == {"cardinality": 5000, "dtype": "int16"}
    assert spec["feature_spec"]["cat_1.bin"]["dtype"] == "int8"
    assert spec["feature_spec"]["cat_3.bin"]["dtype"] == "int32"
    assert (root / "train" / "numerical.bin").stat().st_size == 4000 * 13 * 2
    assert (root / "test" / "label.bin").stat().st_size == 1000
    test = read_split(root, "test")
    np.testing.assert_array_equal(test.categorical, splits["test"].categorical)
    assert test.numerical.dtype == np.float16


def test_power_law_skew_is_kept(dataset):
    _, splits = dataset
    ids = splits["train"].categorical[:, 3]
    counts = np.sort(np.bincount(ids, minlength=70000))[::-1]
    assert counts[: 70000 // 20].sum() / counts.sum() > 0.5   # 5% of rows serve most lookups


def test_labels_are_learnable_not_constant(dataset):
    _, splits = dataset
    assert 0.1 < splits["train"].label.mean() < 0.9


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        write_dataset(tmp_path / name, feature_spec(CARDS, 13), make_dataset(3, CARDS, 500, 100))
    for f in sorted((tmp_path / "a").rglob("*.bin")):
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()


def test_truncated_file_names_file_and_fix(dataset):
    root, _ = dataset
    path = root / "test" / "cat_2.bin"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataFormatError, match=r"cat_2\.bin has 1997 bytes, expected 1000 samples = 2000 bytes.*regenerate"):
        read_split(root, "test")


def test_out_of_range_ids_are_reported(dataset):
    root, _ = dataset
    np.full(1000, 9, dtype=np.int8).tofile(root / "test" / "cat_1.bin")
    with pytest.raises(DataFormatError, match=r"cat_1\.bin: values outside \[0, 4\)"):
        read_split(root, "test")


def test_not_a_dataset(tmp_path):
    with pytest.raises(DataFormatError, match="feature_spec.yaml is missing"):
        read_split(tmp_path, "test")


def test_presets():
    assert get_preset("4B").parameters == 32709138 * 128
    assert sum(PRESETS["22B"].cardinalities) == 177944291
    assert categorical_dtype(7912889) == np.int32
    with pytest.raises(ValueError, match="unknown data preset 'xl'"):
        get_preset("xl")
