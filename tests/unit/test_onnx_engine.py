from __future__ import annotations

import numpy as np
import pytest

from repro.engines.onnx_engine import reshape_target, slice_index


def test_slice_index_follows_onnx_semantics():
    a = np.arange(24).reshape(2, 3, 4)
    index = slice_index(a.shape, [0, 1], [2**62, 3], [0, 2], [1, 1])
    assert a[index].shape == (2, 3, 2)


def test_reshape_zero_copies_the_dimension():
    assert reshape_target((8, 27, 27), np.array([0, -1])) == [8, -1]


def test_torch_backend_runs_where_torch_exists():
    torch = pytest.importorskip("torch", reason="PyTorch is not part of the cpu environment; the h100 host has it")
    from repro.engines.onnx_engine import TorchBackend
    backend = TorchBackend("float32", device="cpu")
    assert backend.tensor(np.ones((2, 2), np.float32)).dtype == torch.float32
