"""The python-gpu flavour's repositories (Triton protobuf): shared dense graph named by spec.json."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from repro.families.criteo.gpu_repository import CARRIED_MODULES, ServeConfig, spec_for, write_repository
from repro.serving.model_config import from_pbtxt, mc

@pytest.fixture
def onnx_file(tmp_path):
    path = tmp_path / "dense.onnx"
    path.write_bytes(b"graph")
    return path


def test_fused_repository_is_one_gpu_python_model(tmp_path, onnx_file):
    cfg = ServeConfig("dlrm", "tiny", "fp16", "fused", "fused")
    spec = spec_for(cfg, 7, [256, 1024], 60, 0.1, None)
    name = write_repository(tmp_path / "repo", cfg, spec, onnx_file, 1024)
    config = from_pbtxt((tmp_path / "repo" / name / "config.pbtxt").read_text())
    assert config.backend == "python" and config.instance_group[0].kind == config.instance_group[0].KIND_GPU
    assert config.max_batch_size == 1024
    version = tmp_path / "repo" / name / "1"
    assert sorted(p.relative_to(version / "repro").as_posix() for p in (version / "repro").rglob("*.py")) == \
        sorted(CARRIED_MODULES)
    spec = json.loads((version / "spec.json").read_text())
    assert spec["batch_sizes"] == [256, 1024]
    assert (version / spec["dense"]).resolve() == onnx_file.resolve() and not (version / "dense.onnx").exists()


def test_ensemble_hands_fp16_lookups_between_its_steps(tmp_path, onnx_file):
    cfg = ServeConfig("dlrm", "tiny", "fp16", "fused", "ensemble")
    name = write_repository(tmp_path / "repo", cfg, spec_for(cfg, 7, [256], 60, 0.1, None), onnx_file, 256)
    ensemble = from_pbtxt((tmp_path / "repo" / name / "config.pbtxt").read_text())
    assert [s.model_name for s in ensemble.ensemble_scheduling.step] == [f"{name}_sparse", f"{name}_dense"]
    sparse = from_pbtxt((tmp_path / "repo" / f"{name}_sparse" / "config.pbtxt").read_text())
    assert sparse.output[0].data_type == mc.DataType.Value("TYPE_FP16")
    assert sparse.parameters["FORCE_CPU_ONLY_INPUT_TENSORS"].string_value == "no"


def test_repository_writer_never_overwrites(tmp_path, onnx_file):
    cfg = ServeConfig("dlrm", "tiny", "fp32", "fused", "fused")
    (tmp_path / "repo" / cfg.name).mkdir(parents=True)
    with pytest.raises(FileExistsError):
        write_repository(tmp_path / "repo", cfg, spec_for(cfg, 7, [256], 60, 0.1, None), onnx_file, 256)
