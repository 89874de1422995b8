"""The h100 serve benchmark's repository is written with Triton's protobuf and carries everything the
GPU model needs (its model.py runs only where PyTorch and a GPU exist)."""
from __future__ import annotations

import json

from repro import paths
from repro.model_config import from_pbtxt
from repro.serve_bench import MODEL, write_bench_input_data, write_repository


def test_repository_and_input_data(tmp_path):
    onnx = tmp_path / "dense.onnx"
    onnx.write_bytes(b"onnx bytes")
    write_repository(tmp_path / "repo", onnx, "4B", "fp16", 7, 65536)
    model = tmp_path / "repo" / MODEL
    config = from_pbtxt((model / "config.pbtxt").read_text())
    assert config.backend == "python" and config.instance_group[0].kind == 1 and config.max_batch_size == 65536
    assert sorted(p.name for p in (model / "1").iterdir()) == ["dense.onnx", "model.py", "onnx_engine.py", "spec.json"]
    spec = json.loads((model / "1" / "spec.json").read_text())
    assert sum(spec["cardinalities"]) == 32709138 and spec["precision"] == "fp16"
    assert (model / "1" / "onnx_engine.py").read_text() == (paths.ROOT / "repro" / "onnx_engine.py").read_text()
    write_bench_input_data(tmp_path / "in.json", "4B", 7, samples=16)
    data = json.loads((tmp_path / "in.json").read_text())["data"]
    assert len(data) == 16 and all(0 <= v < c for row in data
                                   for v, c in zip(row["categorical_features"]["content"], spec["cardinalities"]))
