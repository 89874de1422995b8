"""The native C++ backend as a serving flavour: which configurations get one, what its model folder holds
(Triton's protobuf config, the backend's settings), and the build line against libtorch."""
from __future__ import annotations

import json

import pytest

from repro.families.criteo.gpu_flavour import configs, gate_configs, has_native
from repro.families.criteo.gpu_repository import ServeConfig, spec_for, write_repository
from repro.native import build
from repro.native.repository import settings_text
from repro.serving.model_config import CATEGORICAL, NUMERICAL, OUTPUT, Tensor, from_pbtxt


def options(backends):
    return {"backends": backends, "configs": [
        {"model": "dlrm", "preset": "4B", "precision": "fp16", "sparse": "fused", "serving": "fused"},
        {"model": "dlrm", "preset": "4B", "precision": "fp16", "sparse": "fused", "serving": "ensemble"},
        {"model": "dlrm", "preset": "22B", "precision": "fp32", "sparse": "placement", "serving": "fused"},
        {"model": "dlrm", "preset": "4B", "precision": "fp16", "sparse": "fused", "serving": "fused", "inputs": "cuda"},
        {"model": "dlrm", "preset": "4B", "precision": "fp16", "sparse": "fused", "serving": "transport"},
        {"model": "dcnv2", "preset": "4B", "precision": "fp16", "sparse": "fused", "serving": "fused"}]}


def test_each_configuration_the_native_backend_serves_is_measured_on_both_backends():
    names = [c.name for c in configs(options(["python", "cpp"]), "dlrm")]
    assert names == ["dlrm_4b_fp16_fused_fused", "dlrm_4b_fp16_fused_fused_cpp", "dlrm_4b_fp16_fused_ensemble",
                     "dlrm_22b_fp32_placement_fused", "dlrm_22b_fp32_placement_fused_cpp", "dlrm_4b_fp16_fused_fused_cudashm",
                     "dlrm_4b_fp16_fused_transport", "dlrm_4b_fp16_fused_transport_cpp"]
    assert [c.name for c in configs(options(["python"]), "dlrm")] == [n for n in names if not n.endswith("_cpp")]
    assert not has_native(ServeConfig("dlrm", "22B", "fp32", "cache", "fused"))
    assert [c.name for c in gate_configs("dlrm", {"backends": ["python", "cpp"]})] == [
        "dlrm_gate_fp32_fused_fused", "dlrm_gate_fp32_fused_fused_cpp", "dlrm_gate_fp16_fused_fused",
        "dlrm_gate_fp16_fused_fused_cpp"]


def test_native_model_folder_holds_the_settings_and_no_python(tmp_path):
    onnx_file = tmp_path / "dense.onnx"
    onnx_file.write_bytes(b"graph")
    cfg = ServeConfig("dlrm", "4B", "fp16", "fused", "fused", backend="cpp")
    spec = spec_for(cfg, 7, [256, 65536], 60, 0.1, None, chunk_rows=16384)
    name = write_repository(tmp_path / "repo", cfg, spec, onnx_file, 65536)
    config = from_pbtxt((tmp_path / "repo" / name / "config.pbtxt").read_text())
    assert config.backend == "repro_torch" and config.instance_group[0].kind == config.instance_group[0].KIND_GPU
    version = tmp_path / "repo" / name / "1"
    assert sorted(p.name for p in version.iterdir()) == ["native.txt", "spec.json"]
    text = (version / "native.txt").read_text()
    assert "input categorical_features int32 26\ninput numerical_features float32 13\noutput output float32 1\n" in text
    assert "device cuda\n" in text and "graph_batches 256 65536\n" in text and "chunk_rows 16384\n" in text
    assert "tf32 0\n" in text, "spec_for's default fp32_matmul is ieee"
    tf32 = spec_for(ServeConfig("dlrm", "22B", "fp32", "placement", "fused", backend="cpp"), 7, [256], 60, 0.1, None,
                    fp32_matmul="tf32")
    name = write_repository(tmp_path / "repo", ServeConfig("dlrm", "22B", "fp32", "placement", "fused", backend="cpp"),
                            tf32, onnx_file, 256)
    assert "tf32 1\n" in (tmp_path / "repo" / name / "1" / "native.txt").read_text(), \
        "the native engine runs FP32 matmuls as the python flavour's (profiles.<profile>.serving.criteo.fp32_matmul)"


def test_a_compiled_native_engine_names_its_package_and_the_state_it_is_fed(tmp_path):
    """native_engine aoti: the native model's settings name the AOTInductor package and the module's tables it
    takes; the python model beside it, and a native transport model, are written as before."""
    onnx_file = tmp_path / "dense.onnx"
    onnx_file.write_bytes(b"graph")
    written = {}
    for backend, serving in (("cpp", "fused"), ("python", "fused"), ("cpp", "transport")):
        cfg = ServeConfig("dlrm", "4B", "fp16", "fused", serving, backend=backend)
        spec = spec_for(cfg, 7, [256], 60, 0.1, None, native_engine="aoti")
        written[backend, serving] = spec, write_repository(tmp_path / "repo", cfg, spec, onnx_file, 256)
    (spec, name) = written["cpp", "fused"]
    text = (tmp_path / "repo" / name / "1" / "native.txt").read_text()
    assert spec["native_engine"] == "aoti" and "module engine.pt\npackage engine.pt2\nstate table offsets\n" in text
    assert "native_engine" not in written["python", "fused"][0] and "native_engine" not in written["cpp", "transport"][0]
    assert "package" not in settings_text([CATEGORICAL, NUMERICAL], OUTPUT, "cpu")


def test_the_native_engine_is_validated():
    from pydantic import ValidationError
    from repro.families.criteo.family import ServingParams
    with pytest.raises(ValidationError, match="native_engine"):
        ServingParams(flavour="python-cpu", native_engine="tensorrt")


def test_transport_on_the_native_backend_is_repro_transport(tmp_path):
    onnx_file = tmp_path / "dense.onnx"
    onnx_file.write_bytes(b"graph")
    cfg = ServeConfig("dlrm", "4B", "fp16", "fused", "transport", backend="cpp")
    name = write_repository(tmp_path / "repo", cfg, spec_for(cfg, 7, [256], 60, 0.1, None), onnx_file, 256)
    assert from_pbtxt((tmp_path / "repo" / name / "config.pbtxt").read_text()).backend == "repro_transport"


def test_the_native_backend_serves_only_whole_models(tmp_path):
    cfg = ServeConfig("dlrm", "4B", "fp16", "fused", "ensemble", backend="cpp")
    with pytest.raises(ValueError, match="serving: fused or transport"):
        write_repository(tmp_path / "repo", cfg, spec_for(cfg, 7, [256], 60, 0.1, None), tmp_path / "x.onnx", 256)


def test_settings_refuse_a_dtype_the_backend_cannot_take():
    with pytest.raises(ValueError, match="not INT64"):
        settings_text([Tensor("ids", "INT64", (2,))], OUTPUT, "cpu")
    assert settings_text([CATEGORICAL, NUMERICAL], OUTPUT, "cpu").startswith("# repro_torch settings")


def test_the_torch_backend_links_the_environments_libtorch():
    argv = build.compile_command("repro_torch", build.HERE / "x.so")
    assert any(a.startswith("-D_GLIBCXX_USE_CXX11_ABI=") for a in argv) and "-ltorch" in argv
    assert argv.index("-o") < argv.index("-ltorch") and "-DREPRO_WITH_CUDA" not in argv


def test_the_module_check_fails_on_a_non_finite_reference(monkeypatch, tmp_path):
    import torch
    from repro.engines import scripted
    spec = type("Spec", (), {"cardinalities": (3, 4), "precision": "fp32", "fp32_matmul": "ieee"})()
    monkeypatch.setattr(scripted, "eager_forward", lambda *a: lambda ids, num: torch.full((ids.shape[0], 1), float("nan")))
    monkeypatch.setattr(scripted, "module_rows", lambda module, spec: ())
    module = lambda ids, num: torch.zeros(ids.shape[0], 1)
    with pytest.raises(RuntimeError, match="differs from the eager engine by nan"):
        scripted.check_module(module, spec, tmp_path, torch.device("cpu"))


def test_families_with_a_gpu_engine_write_a_native_model_beside_the_python_one(tmp_path):
    """W&D and ResNet50: each configuration on both backends; the native model takes the python one's inputs,
    joins the dynamic batcher's requests (dynamic batching in its config, join_requests in its settings) and
    reads the same spec.json."""
    from repro.families.imagenet import gpu_flavour as resnet
    from repro.families.outbrain import gpu_flavour as wd
    from repro.families.outbrain.features import INPUTS, input_dtype, input_width
    graph = tmp_path / "widedeep" / "graph" / "model.onnx"
    spec = {"seed": 1, "fp32_matmul": "ieee", "graph_batches": [1, 2048], "inputs": {n: [input_dtype(n), input_width(n)]
                                                                                   for n in INPUTS}}
    names = [wd.write_model(tmp_path / "wd", "fp16", graph, spec, 131072, "system", b) for b in ("python", "cpp")]
    assert names == ["widedeep_gpu_fp16_systemshm", "widedeep_gpu_fp16_systemshm_cpp"]
    python, native = (from_pbtxt((tmp_path / "wd" / n / "config.pbtxt").read_text()) for n in names)
    assert native.backend == "repro_torch" and python.backend == "python"
    assert [i.name for i in native.input] == [i.name for i in python.input] == list(INPUTS)
    assert native.dynamic_batching.preferred_batch_size == [131072]
    text = (tmp_path / "wd" / names[1] / "1" / "native.txt").read_text()
    assert "join_requests 1\ntf32 0\n" in text and "graph_batches 1 2048\n" in text and "cudnn" not in text
    assert sorted(p.name for p in (tmp_path / "wd" / names[1] / "1").iterdir()) == ["native.txt", "spec.json"]
    version = tmp_path / "wd" / names[1] / "1"
    samples = version / json.loads((version / "spec.json").read_text())["samples"]
    assert samples.resolve() == (tmp_path / "widedeep" / "gate" / "samples.npz").resolve()   # the gate's, beside the graph
    fitted = tmp_path / "fitted.pt"
    rspec = {"seed": 1, "seeded_digest": "x", "fitted": str(fitted), "graph_batches": [1, 2, 4]}
    name = resnet.write_model(tmp_path / "rn", "fp16", rspec, 128, 32, "cpp")
    assert name == "resnet50_gpu_fp16_chunk32_cpp"
    text = (tmp_path / "rn" / name / "1" / "native.txt").read_text()
    assert "chunk_rows 32\njoin_requests 1\ntf32 0\ncudnn_benchmark 1\n" in text
    assert from_pbtxt((tmp_path / "rn" / name / "config.pbtxt").read_text()).dynamic_batching.preferred_batch_size == [128]


def test_the_backends_a_profile_lists_are_checked():
    from pydantic import ValidationError
    from repro.families.outbrain.family import ServingParams
    gpu = {"flavour": "python-gpu", "seed": 1, "configs": [{"precision": "fp16"}], "fp32_matmul": "ieee",
           "input_samples": 1, "gate_samples": 1, "hardware": {"x": 1.0}}
    assert ServingParams(**gpu, backends=["python", "cpp"], default_backend="cpp").default_backend == "cpp"
    with pytest.raises(ValidationError, match="default_backend 'cpp' is not one of backends"):
        ServingParams(**gpu, default_backend="cpp")
    with pytest.raises(ValidationError, match="at most once"):
        ServingParams(**gpu, backends=["cpp", "cpp"], default_backend="cpp")
    with pytest.raises(ValidationError, match="belong to the python-gpu flavour"):
        ServingParams(flavour="python-cpu", engine="tensorflow", backends=["python", "cpp"])
