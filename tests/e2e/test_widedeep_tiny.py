"""Wide & Deep, `tiny` preset, through every stage: real TensorFlow, tf2onnx, ONNX Runtime, the real
Triton server (dynamic batching) and the real perf_analyzer, offline and online. Runs in a temporary
directory; the repo's results are untouched."""
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
    params["data"]["outbrain"]["preset"] = "tiny"
    params["models"] = {"widedeep": "outbrain"}
    params["train"]["outbrain"].update(epochs=2, batch_size=256)
    params["convert"]["outbrain"]["check_samples"] = 256
    cpu = params["profiles"]["cpu"]
    cpu["perf"].update(measurement_interval_ms=500, max_trials=4, retries=1, min_windows=3)
    cpu["perf"]["families"]["outbrain"].update(batch_sizes=[1, 64], online={"batch_size": 16, "concurrency": [2, 4]})
    cpu["native"].update(models=[])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("widedeep")
    p = tiny_params(tmp)
    d = {k: tmp / k for k in ("data", "train", "convert", "engine", "repos", "repos_h100", "results")}
    r = d["results"]
    assert data.main(["--params", str(p), "--out", str(d["data"])]) == 0
    assert train.main(["--params", str(p), "--model", "widedeep", "--data", str(d["data"] / "outbrain"), "--out",
                       str(d["train"] / "widedeep"), "--metrics", str(r / "train" / "widedeep.json")]) == 0
    assert convert.main(["--params", str(p), "--model", "widedeep", "--checkpoint", str(d["train"] / "widedeep"),
                         "--data", str(d["data"] / "outbrain"), "--out", str(d["convert"] / "widedeep"),
                         "--report", str(r / "convert" / "widedeep.json")]) == 0
    assert engine.main(["--params", str(p), "--model", "widedeep", "--converted", str(d["convert"] / "widedeep"),
                        "--out", str(d["engine"] / "widedeep")]) == 0
    assert repos.main(["--params", str(p), "--profile", "cpu", "--converted", str(d["convert"]), "--engines",
                       str(d["engine"]), "--checkpoints", str(d["train"]), "--data", str(d["data"]),
                       "--out", str(d["repos"])]) == 0
    assert repos.main(["--params", str(p), "--profile", "h100", "--converted", str(d["convert"]), "--engines",
                       str(d["engine"]), "--checkpoints", str(d["train"]), "--data", str(d["data"]),
                       "--out", str(d["repos_h100"])]) == 0   # written here, carried to the GPU host
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


def test_data_layout_is_upstreams(run):
    d, _ = run
    root = d["data"] / "outbrain"
    valid = sorted((root / "valid").glob("part_*.parquet"))
    assert len(valid) == 2   # the tiny preset's file count
    frame = pd.concat([pd.read_parquet(f) for f in valid], ignore_index=True)
    assert frame["display_id"].is_monotonic_increasing
    assert (frame.groupby("display_id")["clicked"].sum() == 1).all()     # exactly one click per display
    for column in ("topic_id_list", "entity_id_list", "category_id_list"):
        assert frame[column].map(len).max() <= 3 and frame[column].map(len).min() >= 0
    assert len([c for c in frame.columns if c not in ("display_id", "clicked")]) == 29


def test_export_parity_and_names(run):
    import onnx
    d, _ = run
    report = json.loads((d["results"] / "convert" / "widedeep.json").read_text())
    assert report["onnx_vs_tf_max_abs_diff"] < 1e-5
    assert set(report["cpu_engines_samples_per_s"]) == {"onnxruntime", "tensorflow"}
    graph = onnx.load(str(d["convert"] / "widedeep" / "model.onnx")).graph
    assert len(graph.input) == 29 and [o.name for o in graph.output] == ["wide_deep_model"]
    assert {i.name for i in graph.input} >= {"document_id", "topic_id_list", "ad_id_ctr"}


def test_both_cpu_engines_serve_the_same_map(run, tmp_path):
    """The python-cpu flavour runs either engine (params choose by `make bench-widedeep`): both score alike."""
    import yaml as _yaml

    from stages import accuracy as acc, repos as rep
    d, p = run
    params = _yaml.safe_load(p.read_text())
    other = {"tensorflow": "onnxruntime", "onnxruntime": "tensorflow"}[params["profiles"]["cpu"]["serving"]["outbrain"]["engine"]]
    params["profiles"]["cpu"]["serving"]["outbrain"]["engine"] = other
    q = tmp_path / "params.yaml"
    q.write_text(_yaml.safe_dump(params))
    assert rep.main(["--params", str(q), "--profile", "cpu", "--converted", str(d["convert"]), "--engines", str(d["engine"]),
                     "--checkpoints", str(d["train"]), "--data", str(d["data"]), "--out", str(tmp_path / "repos")]) == 0
    assert acc.main(["--params", str(q), "--profile", "cpu", "--repos", str(tmp_path / "repos"), "--data", str(d["data"]),
                     "--train-metrics", str(d["results"] / "train"), "--out", str(tmp_path / "accuracy.json")]) == 0
    assert json.loads((tmp_path / "accuracy.json").read_text())["models"][f"widedeep_{other}"]["passed"]


def test_served_map_matches_tensorflow(run):
    d, _ = run
    models = json.loads((d["results"] / "cpu" / "accuracy.json").read_text())["models"]
    (result,) = [r for name, r in models.items() if name.startswith("widedeep_")]
    assert result["passed"] and result["metric"] == "MAP@12" and result["abs_diff"] < 1e-4


def test_offline_and_online_tables(run):
    d, _ = run
    perf_dir = d["results"] / "cpu" / "perf"
    (offline_csv,) = [p for p in perf_dir.glob("widedeep_*.csv") if p.stem.count("_") == 1 and "breakdown" not in p.stem]
    offline, online = pd.read_csv(offline_csv), pd.read_csv(perf_dir / f"{offline_csv.stem}_online.csv")
    assert offline["batch"].tolist() == [1, 64] and set(offline["concurrency"]) == {1}
    assert online["concurrency"].tolist() == [2, 4] and set(online["batch"]) == {16}
    assert np.isfinite(online["throughput_infer_per_s"]).all()
    report = (d["results"] / "cpu" / "tables" / "report.md").read_text()
    assert "Online: Wide & Deep" in report and "scaled down for the CPU" in report
    assert "p99 latency (ms)" in report   # the published W&D layout: milliseconds
    assert (d["results"] / "cpu" / "tables" / "widedeep_online_latency.svg").exists()


def test_container_repository(run):
    d, _ = run
    tf = from_pbtxt((d["repos"] / "container" / "widedeep_tf" / "config.pbtxt").read_text())
    trt = from_pbtxt((d["repos"] / "container" / "widedeep_trt" / "config.pbtxt").read_text())
    assert tf.platform == "tensorflow_savedmodel" and tf.max_batch_size == 131072
    assert tf.optimization.execution_accelerators.gpu_execution_accelerator[0].name == "auto_mixed_precision"
    assert trt.backend == "tensorrt" and trt.optimization.cuda.graphs and trt.instance_group[0].count == 2
    assert list(trt.dynamic_batching.preferred_batch_size) == [131072]
    assert (d["repos"] / "container" / "widedeep_trt" / "onnx" / "model.onnx").exists()


def test_container_models_load_and_answer_with_standins(run, tmp_path):
    """Upstream's two W&D models, each replaced by a stand-in of identical I/O, load in the real server
    and answer a request shaped like upstream's client's."""
    import tritonclient.grpc as grpcclient

    from repro.families.outbrain.features import INPUTS, input_dtype, input_width
    from repro.serving.runtime import Runtime
    from repro.serving.server import TritonServer
    from repro.serving.standins import standin_repository
    d, _ = run
    standin_repository(d["repos"] / "container", tmp_path / "standins")
    with TritonServer(Runtime(paths.RUNTIME), tmp_path / "standins", tmp_path / "server.log",
                      models=["widedeep_tf", "widedeep_trt"]) as server:
        client = grpcclient.InferenceServerClient(server.ports.grpc_url)
        for model in ("widedeep_tf", "widedeep_trt"):
            inputs = []
            for name in INPUTS:
                array = np.zeros((4, input_width(name)), np.float32 if input_dtype(name) == "FP32" else np.int32)
                tensor = grpcclient.InferInput(name, list(array.shape), input_dtype(name))
                tensor.set_data_from_numpy(array)
                inputs.append(tensor)
            assert client.infer(model, inputs).as_numpy("wide_deep_model").shape == (4, 1)
        client.close()


def test_h100_repositories_carry_the_graph_without_weights(run):
    """The h100 flavour's repositories, written on the CPU machine: the graph without its weights (seeded on
    the host), one repository per precision with CUDA graphs for the sweep, the gate with its samples, and
    the same engine code on CPU tensors matching the numpy reference on the seeded weights."""
    import torch

    from repro.engines.onnx_engine import Engine, NumpyBackend, TorchBackend, load_graph, optimize
    from repro.families.outbrain import gpu_flavour
    d, _ = run
    root = d["repos_h100"] / "widedeep"
    assert not list((root / "graph").glob("*.not-carried")) and (root / "graph" / "model.onnx").stat().st_size < 200_000
    for name in ("widedeep_gpu_fp32_systemshm", "widedeep_gpu_fp16_systemshm"):
        config = from_pbtxt((root / "perf" / name / name / "config.pbtxt").read_text())
        assert config.max_batch_size == 131072 and config.instance_group[0].kind == 1   # KIND_GPU
        spec = json.loads((root / "perf" / name / name / "1" / "spec.json").read_text())
        # the published offline sweep, and the online batch 2048 doubled up to the max batch
        assert spec["graph_batches"] == [1, 2048, 4096, 8192, 16384, 32768, 49152, 65536, 81920, 98304, 114688,
                                         131072]
    samples = gpu_flavour.read_gate(root)
    assert len(samples) == len(samples.label) > 0
    reference = gpu_flavour.reference_map(root, 20261122, samples)
    assert 0 < reference <= 1
    graph = optimize(load_graph(root / "graph" / "model.onnx", seed=20261122))
    part = samples.rows(0, 64).inputs
    want = Engine(graph, NumpyBackend())(**part)[0]
    got = Engine(graph, TorchBackend("float32", "cpu"))(**{k: torch.from_numpy(v) for k, v in part.items()})[0]
    assert np.abs(got.numpy() - want).max() < 1e-5


def test_native_backend_serves_the_python_flavours_outputs(run, tmp_path):
    """The h100 flavour's two backends on the CPU in one real Triton server: the python-backend model and the
    native C++ backend (repro_torch, built here against the venv's libtorch) running the same engine code
    (traced for the native one) on the seeded weights. Their outputs agree at graph batches and between them;
    eight concurrent requests the dynamic batcher joins run as one batch in the native backend, each answered
    with its own rows."""
    import tritonclient.grpc as grpcclient

    from repro.families.outbrain import gpu_flavour
    from repro.families.outbrain.features import INPUTS, OUTPUT, input_dtype, input_width
    from repro.native import flavour
    from repro.serving import model_config as mcfg
    from repro.serving.runtime import Runtime
    from repro.serving.server import TritonServer
    d, _ = run
    root = d["repos_h100"] / "widedeep"
    spec = {"seed": 20261122, "fp32_matmul": "ieee", "device": "cpu", "graph_batches": [16, 64],
            "inputs": {n: [input_dtype(n), input_width(n)] for n in INPUTS}}
    repo = tmp_path / "repo"
    names = {b: gpu_flavour.write_model(repo, "fp32", root / "graph" / "model.onnx", spec, 128, backend=b,
                                        samples=root / "gate" / "samples.npz") for b in ("python", "cpp")}
    assert names["cpp"] == "widedeep_gpu_fp32_cpp"
    native_txt = (repo / names["cpp"] / "1" / "native.txt").read_text()
    assert "join_requests 1\n" in native_txt and "tf32 0\n" in native_txt and len(native_txt.split("\ninput ")) == 30
    config = mcfg.from_pbtxt((repo / names["cpp"] / "config.pbtxt").read_text())
    config.dynamic_batching.max_queue_delay_microseconds = 300_000   # the test's eight requests wait to be joined
    (repo / names["cpp"] / "config.pbtxt").write_text(mcfg.to_pbtxt(config))
    flavour.prepare_models(repo, list(names.values()), gpu_flavour.write_engine)
    assert (repo / names["cpp"] / "1" / "engine.pt").exists() and not (repo / names["python"] / "1" / "engine.pt").exists()
    samples = gpu_flavour.read_gate(root)

    def request(part):
        tensors = []
        for name in INPUTS:
            array = np.ascontiguousarray(part.inputs[name])
            tensors.append(grpcclient.InferInput(name, list(array.shape), input_dtype(name)))
            tensors[-1].set_data_from_numpy(array)
        return tensors

    with TritonServer(Runtime(paths.RUNTIME), repo, tmp_path / "server.log", models=list(names.values())) as server:
        client = grpcclient.InferenceServerClient(server.ports.grpc_url)
        for batch in (1, 64, 100):
            part = samples.rows(0, batch)
            out = {b: client.infer(n, request(part)).as_numpy(OUTPUT) for b, n in names.items()}
            assert out["cpp"].shape == (batch, 1) and np.isfinite(out["cpp"]).all()
            assert np.abs(out["cpp"] - out["python"]).max() <= 1e-5, batch
        want = client.infer(names["python"], request(samples.rows(0, 32))).as_numpy(OUTPUT)
        from concurrent.futures import ThreadPoolExecutor

        def ask(i):
            with grpcclient.InferenceServerClient(server.ports.grpc_url) as own:
                return own.infer(names["cpp"], request(samples.rows(4 * i, 4 * i + 4))).as_numpy(OUTPUT)
        with ThreadPoolExecutor(8) as pool:
            got = np.concatenate(list(pool.map(ask, range(8))))
        assert np.abs(got - want).max() <= 1e-5          # each request answered with its own rows
        client.close()
    stats = json.loads((repo / names["cpp"] / "stats.json").read_text())   # written when the server unloads it
    assert stats["backend"] == "repro_torch" and stats["model_time_us"]["64"]["requests"] == 1
    assert any(phases.get("requests_joined", 0) > 1 for phases in stats["model_time_us"].values())
