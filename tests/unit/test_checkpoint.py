from __future__ import annotations

import numpy as np
import pytest

from repro.families.criteo.checkpoint import Checkpoint, CheckpointError, read_checkpoint, write_checkpoint


@pytest.fixture()
def ckpt_dir(tmp_path):
    ckpt = Checkpoint("dlrm", {"bottom_0_kernel": np.ones((13, 4), np.float32)},
                      [np.zeros((5, 8), np.float32), np.ones((3, 8), np.float32)])
    write_checkpoint(tmp_path, ckpt)
    return tmp_path


def test_upstream_layout_round_trip(ckpt_dir):
    assert sorted(p.name for p in (ckpt_dir / "sparse").iterdir()) == ["config.json", "feature_0.npy", "feature_1.npy"]
    assert read_checkpoint(ckpt_dir).cardinalities == [5, 3]


def test_corrupt_array_is_reported(ckpt_dir):
    (ckpt_dir / "sparse" / "feature_1.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(CheckpointError, match=r"feature_1\.npy is not a readable \.npy array.*corrupt"):
        read_checkpoint(ckpt_dir)


def test_wrong_shape_is_reported(ckpt_dir):
    np.save(ckpt_dir / "sparse" / "feature_0.npy", np.zeros((4, 8), np.float32))
    with pytest.raises(CheckpointError, match=r"feature_0\.npy has shape \(4, 8\), expected \(5, 8\)"):
        read_checkpoint(ckpt_dir)


def test_missing_config(tmp_path):
    with pytest.raises(CheckpointError, match="config.json is missing"):
        read_checkpoint(tmp_path)
