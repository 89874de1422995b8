"""ResNet50, `tiny` preset, through every stage: real PyTorch/torchvision, TorchScript, the ONNX exporter
and checker, ONNX Runtime, the real Triton server (dynamic batching) and the real perf_analyzer, offline
and online. Runs in a temporary directory; the repo's results are untouched."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from repro import paths
from repro.serving.model_config import from_pbtxt
from stages import accuracy, convert, data, engine, host, perf, repos, tables, train

pytestmark = pytest.mark.e2e


def tiny_params(tmp_path):
    params = yaml.safe_load((paths.ROOT / "params.yaml").read_text())
    params["data"]["imagenet"]["preset"] = "tiny"
    params["models"] = {"resnet50": "imagenet"}
    params["convert"]["imagenet"]["check_samples"] = 4
    cpu = params["profiles"]["cpu"]
    cpu["perf"].update(measurement_interval_ms=1000, max_trials=4, retries=1, min_windows=3)
    cpu["perf"]["families"]["imagenet"].update(batch_sizes=[1, 4], online={"batch_size": 1, "concurrency": [2, 4]})
    cpu["native"].update(models=[])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("resnet50")
    p = tiny_params(tmp)
    d = {k: tmp / k for k in ("data", "train", "convert", "engine", "repos", "repos_h100", "results")}
    r = d["results"]
    assert data.main(["--params", str(p), "--out", str(d["data"])]) == 0
    assert train.main(["--params", str(p), "--model", "resnet50", "--data", str(d["data"] / "imagenet"), "--out",
                       str(d["train"] / "resnet50"), "--metrics", str(r / "train" / "resnet50.json")]) == 0
    assert convert.main(["--params", str(p), "--model", "resnet50", "--checkpoint", str(d["train"] / "resnet50"),
                         "--data", str(d["data"] / "imagenet"), "--out", str(d["convert"] / "resnet50"),
                         "--report", str(r / "convert" / "resnet50.json")]) == 0
    assert engine.main(["--params", str(p), "--model", "resnet50", "--converted", str(d["convert"] / "resnet50"),
                        "--out", str(d["engine"] / "resnet50")]) == 0
    for profile, out in (("cpu", d["repos"]), ("h100", d["repos_h100"])):   # h100: written here, carried to the GPU host
        assert repos.main(["--params", str(p), "--profile", profile, "--converted", str(d["convert"]), "--engines",
                           str(d["engine"]), "--checkpoints", str(d["train"]), "--data", str(d["data"]),
                           "--out", str(out)]) == 0
    assert accuracy.main(["--params", str(p), "--profile", "cpu", "--repos", str(d["repos"]), "--data", str(d["data"]),
                          "--train-metrics", str(r / "train"), "--out", str(r / "cpu" / "accuracy.json")]) == 0
    assert perf.main(["--params", str(p), "--profile", "cpu", "--repos", str(d["repos"]), "--data", str(d["data"]),
                      "--out", str(r / "cpu" / "perf"), "--summary", str(r / "cpu" / "perf_summary.json")]) == 0
    (r / "cpu" / "native").mkdir(parents=True)
    assert host.main(["--params", str(p), "--profile", "cpu", "--out", str(r / "cpu" / "host.json")]) == 0
    assert tables.main(["--params", str(p), "--profile", "cpu", "--perf", str(r / "cpu" / "perf"), "--native",
                        str(r / "cpu" / "native"), "--accuracy", str(r / "cpu" / "accuracy.json"),
                        "--host", str(r / "cpu" / "host.json"), "--out", str(r / "cpu" / "tables")]) == 0
    return d, p


def test_fit_means_something(run):
    d, _ = run
    metrics = json.loads((d["results"] / "train" / "resnet50.json").read_text())
    assert metrics["valid_top1_torch"] > 2 / 8          # 8 classes: well above chance
    assert "seeded" in metrics["weights"] and len(metrics["seeded_digest"]) == 64


def test_every_format_matches_pytorch(run):
    import onnx
    d, _ = run
    report = json.loads((d["results"] / "convert" / "resnet50.json").read_text())
    assert set(report["parity_vs_pytorch"]) == {"ts-trace", "ts-script", "onnx"}
    for name, parity in report["parity_vs_pytorch"].items():
        assert parity["top1_agreement"] == 1.0 and parity["max_abs_logit_diff"] < 1e-3, name
    graph = onnx.load(str(d["convert"] / "resnet50" / "onnx" / "model.onnx"))
    assert graph.opset_import[0].version == 11
    assert [i.name for i in graph.graph.input] == ["INPUT__0"] and [o.name for o in graph.graph.output] == ["OUTPUT__0"]
    assert graph.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    assert set(report["cpu_engines_images_per_s"]) == {"torchscript", "onnxruntime"}
    assert json.loads((d["engine"] / "resnet50" / "SKIPPED.json").read_text())["command"][0] == "trtexec"


def test_served_top1_agrees_with_pytorch(run):
    d, _ = run
    (name, result), = json.loads((d["results"] / "cpu" / "accuracy.json").read_text())["models"].items()
    assert name == "resnet50_onnxruntime" and result["passed"] and result["metric"] == "top-1 agreement"
    assert result["score_served"] >= 0.999 and result["details"]["max_abs_logit_diff"] < 1e-3
    assert result["details"]["top1_served"] == result["details"]["top1_framework"]


def test_torchscript_engine_serves_the_same_classes(run, tmp_path):
    """The other cpu engine (TorchScript in PyTorch) passes the same gate."""
    from stages import accuracy as acc, repos as rep
    d, p = run
    params = yaml.safe_load(p.read_text())
    params["profiles"]["cpu"]["serving"]["imagenet"]["engine"] = "torchscript"
    q = tmp_path / "params.yaml"
    q.write_text(yaml.safe_dump(params))
    assert rep.main(["--params", str(q), "--profile", "cpu", "--converted", str(d["convert"]), "--engines", str(d["engine"]),
                     "--checkpoints", str(d["train"]), "--data", str(d["data"]), "--out", str(tmp_path / "repos")]) == 0
    assert acc.main(["--params", str(q), "--profile", "cpu", "--repos", str(tmp_path / "repos"), "--data", str(d["data"]),
                     "--train-metrics", str(d["results"] / "train"), "--out", str(tmp_path / "accuracy.json")]) == 0
    assert json.loads((tmp_path / "accuracy.json").read_text())["models"]["resnet50_torchscript"]["score_served"] >= 0.999


def test_offline_and_online_sweeps_and_tables(run):
    d, _ = run
    perf_dir = d["results"] / "cpu" / "perf"
    offline, online = pd.read_csv(perf_dir / "resnet50_onnxruntime.csv"), pd.read_csv(perf_dir / "resnet50_onnxruntime_online.csv")
    assert offline["batch"].tolist() == [1, 4] and set(offline["concurrency"]) == {1}
    assert online["concurrency"].tolist() == [2, 4] and set(online["batch"]) == {1}
    assert np.isfinite(online["throughput_infer_per_s"]).all() and (online["throughput_infer_per_s"] > 0).all()
    report = (d["results"] / "cpu" / "tables" / "report.md").read_text()
    assert "| Client Batch Size |" in report.replace("   ", " ").replace("  ", " ") or "Client Batch Size" in report
    assert "Concurrent client requests" in report and "Online: ResNet50 v1.5" in report
    assert "seeded" in report and "ONNX Runtime" in report and "scaled down for the CPU" in report
    online_md = (d["results"] / "cpu" / "tables" / "resnet50_onnxruntime_online.md").read_text()
    table_header = next(line for line in online_md.splitlines() if line.startswith("|") and "Inferences/second" in line)
    assert "Batch" not in table_header                       # the published online layout has no batch column


def test_container_repository_is_the_published_config(run):
    d, _ = run
    ort = from_pbtxt((d["repos"] / "container" / "resnet50_onnxrt_trt" / "config.pbtxt").read_text())
    assert ort.platform == "onnxruntime_onnx" and ort.max_batch_size == 128 and ort.instance_group[0].count == 1
    accelerator = ort.optimization.execution_accelerators.gpu_execution_accelerator[0]
    assert accelerator.name == "tensorrt" and accelerator.parameters["precision_mode"] == "FP16"
    assert list(ort.dynamic_batching.preferred_batch_size) == [128] and ort.dynamic_batching.max_queue_delay_microseconds == 0
    trt = from_pbtxt((d["repos"] / "container" / "resnet50_trt" / "config.pbtxt").read_text())
    assert trt.backend == "tensorrt" and (d["repos"] / "container" / "resnet50_trt" / "onnx" / "model.onnx").exists()


def test_container_models_load_and_answer_with_standins(run, tmp_path):
    import tritonclient.grpc as grpcclient

    from repro.serving.runtime import Runtime
    from repro.serving.server import TritonServer
    from repro.serving.standins import standin_repository
    d, _ = run
    standin_repository(d["repos"] / "container", tmp_path / "standins")
    with TritonServer(Runtime(paths.RUNTIME), tmp_path / "standins", tmp_path / "server.log",
                      models=["resnet50_onnxrt_trt", "resnet50_trt"]) as server:
        client = grpcclient.InferenceServerClient(server.ports.grpc_url)
        for model in ("resnet50_onnxrt_trt", "resnet50_trt"):
            tensor = grpcclient.InferInput("INPUT__0", [2, 3, 224, 224], "FP32")
            tensor.set_data_from_numpy(np.zeros((2, 3, 224, 224), np.float32))
            assert client.infer(model, [tensor]).as_numpy("OUTPUT__0").shape == (2, 1000)
        client.close()


def test_h100_repositories_carry_seed_and_fitted_tensors(run):
    """The h100 flavour's repositories, written here: the fitted tensors (bfloat16) rebuild the checkpoint from
    the seed exactly; the host draws the same images; one repository per configuration, CUDA graphs for every
    batch the dynamic batcher can form; the gate in both precisions."""
    import torch

    from repro.families.imagenet import gpu_flavour, model
    d, _ = run
    root = d["repos_h100"] / "resnet50"
    assert (root / "fitted.pt").stat().st_size < 5_000_000
    spec = json.loads((root / "perf" / "resnet50_gpu_fp16_chunk32" / "resnet50_gpu_fp16_chunk32" / "1" / "spec.json").read_text())
    assert spec["graph_batches"] == [1, 2, 4, 8, 16, 32, 64, 128] and spec["chunk_rows"] == 32
    rebuilt = model.from_seed(spec["seed"], torch.load(root / "fitted.pt", weights_only=True), spec["seeded_digest"])
    checkpoint = model.load(d["train"] / "resnet50")
    assert all(torch.equal(a, b) for a, b in zip(rebuilt.state_dict().values(), checkpoint.state_dict().values()))
    gpu_flavour.host_images.cache_clear()
    assert len(gpu_flavour.host_images(root)) == 32
    for precision in ("fp32", "fp16"):
        model = root / "gate" / precision / f"resnet50_gpu_{precision}_chunk32"      # gated like the first configuration
        assert (model / "1" / "repro" / "families" / "imagenet" / "model.py").exists()
        assert json.loads((model / "1" / "spec.json").read_text())["graph_batches"][-1] == 128


def test_native_backend_serves_the_python_flavours_logits(run, tmp_path):
    """The h100 flavour's two backends on the CPU in one real Triton server (FP32): the python-backend model and
    the native C++ backend (repro_torch, built here) running the network traced from the same served_model;
    the same top-1 and logits within 1e-4 on the validation images, single requests and a chunkable one."""
    import torch
    import tritonclient.grpc as grpcclient

    from repro.families.imagenet import gpu_flavour
    from repro.families.imagenet.client import infer
    from repro.native import flavour
    from repro.serving.runtime import Runtime
    from repro.serving.server import TritonServer
    d, _ = run
    root = d["repos_h100"] / "resnet50"
    spec = json.loads((root / "perf" / "resnet50_gpu_fp16_chunk32" / "resnet50_gpu_fp16_chunk32" / "1" / "spec.json")
                      .read_text())
    spec = {k: spec[k] for k in ("seed", "seeded_digest")} | {"fitted": str(root / "fitted.pt"), "device": "cpu",
                                                              "graph_batches": [1, 2, 4, 8]}
    repo = tmp_path / "repo"
    names = {b: gpu_flavour.write_model(repo, "fp32", spec, 8, 4, b) for b in ("python", "cpp")}
    assert names["cpp"] == "resnet50_gpu_fp32_chunk4_cpp"
    native_txt = (repo / names["cpp"] / "1" / "native.txt").read_text()
    assert "input INPUT__0 float32 3 224 224\n" in native_txt and "tf32 0\ncudnn_benchmark 1\n" in native_txt
    torch.set_num_threads(2)
    flavour.prepare_models(repo, list(names.values()), gpu_flavour.write_engine)
    gpu_flavour.host_images.cache_clear()
    images = gpu_flavour.host_images(root).images[:8]
    with TritonServer(Runtime(paths.RUNTIME), repo, tmp_path / "server.log", models=list(names.values())) as server:
        url = server.ports.grpc_url
        for batch in (3, 8):
            out = {b: infer(url, n, images, batch) for b, n in names.items()}
            assert out["cpp"].shape == (8, 1000) and np.isfinite(out["cpp"]).all()
            assert np.abs(out["cpp"] - out["python"]).max() <= 1e-4, batch
            assert (out["cpp"].argmax(1) == out["python"].argmax(1)).all()
