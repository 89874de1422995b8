"""The `tiny` preset through every stage: real TensorFlow, tf2onnx, ONNX Runtime, the real Triton
server and the real perf_analyzer. Runs in a temporary directory; the repo's results are untouched."""
from __future__ import annotations

import json
import shutil
import signal

import pandas as pd
import pytest
import yaml

from repro import paths
from repro.serving.model_config import from_pbtxt
from repro.measure.metrics import COMPONENTS, METRICS
from stages import accuracy, convert, data, engine, host, native, perf, repos, tables, train

pytestmark = pytest.mark.e2e


def tiny_params(tmp_path):
    params = yaml.safe_load((paths.ROOT / "params.yaml").read_text())
    params["data"]["criteo"]["preset"] = "tiny"
    params["models"] = {"dlrm": "criteo"}
    params["train"]["criteo"].update(epochs=3, batch_size=512)
    params["profiles"]["cpu"]["perf"].update(batch_sizes=[64, 256], measurement_interval_ms=500, max_trials=4, retries=1,
                          scenarios=["offline", "online"], online={"batch_size": 64, "concurrency": [2]})
    params["profiles"]["cpu"]["native"].update(models=["dlrm"], batch_sizes=[64])
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    p = tiny_params(tmp)
    d = {k: tmp / k for k in ("data", "train", "convert", "engine", "repos", "repos_h100", "results")}
    assert data.main(["--params", str(p), "--out", str(d["data"])]) == 0
    assert train.main(["--params", str(p), "--model", "dlrm", "--data", str(d["data"] / "criteo"), "--out",
                       str(d["train"] / "dlrm"), "--metrics", str(d["results"] / "train" / "dlrm.json")]) == 0
    assert convert.main(["--params", str(p), "--model", "dlrm", "--checkpoint", str(d["train"] / "dlrm"), "--data",
                         str(d["data"] / "criteo"), "--out", str(d["convert"] / "dlrm"), "--report",
                         str(d["results"] / "convert" / "dlrm.json")]) == 0
    assert engine.main(["--params", str(p), "--model", "dlrm", "--converted", str(d["convert"] / "dlrm"),
                        "--out", str(d["engine"] / "dlrm")]) == 0
    for profile in ("cpu", "h100"):   # h100's repositories are written here too, and carried to the GPU host
        assert repos.main(["--params", str(p), "--profile", profile, "--converted", str(d["convert"]), "--engines",
                           str(d["engine"]), "--checkpoints", str(d["train"]), "--data", str(d["data"]),
                           "--out", str(d["repos"] if profile == "cpu" else d["repos_h100"])]) == 0
    assert accuracy.main(["--params", str(p), "--profile", "cpu", "--repos", str(d["repos"]), "--data", str(d["data"]),
                          "--train-metrics", str(d["results"] / "train"),
                          "--out", str(d["results"] / "cpu" / "accuracy.json")]) == 0
    assert perf.main(["--params", str(p), "--profile", "cpu", "--repos", str(d["repos"]), "--data", str(d["data"]), "--out",
                      str(d["results"] / "cpu" / "perf"), "--summary", str(d["results"] / "cpu" / "perf_summary.json")]) == 0
    assert native.main(["--params", str(p), "--profile", "cpu", "--repos", str(d["repos"]), "--data", str(d["data"]), "--out",
                        str(d["results"] / "cpu" / "native")]) == 0
    assert host.main(["--params", str(p), "--profile", "cpu", "--out", str(d["results"] / "cpu" / "host.json")]) == 0
    assert tables.main(["--params", str(p), "--profile", "cpu", "--perf", str(d["results"] / "cpu" / "perf"), "--native",
                        str(d["results"] / "cpu" / "native"), "--accuracy", str(d["results"] / "cpu" / "accuracy.json"),
                        "--host", str(d["results"] / "cpu" / "host.json"),
                        "--out", str(d["results"] / "cpu" / "tables")]) == 0
    return d, p


def test_trained_model_is_better_than_chance(run):
    d, _ = run
    assert json.loads((d["results"] / "train" / "dlrm.json").read_text())["test_auc_tf"] > 0.6


def test_onnx_matches_tensorflow(run):
    d, _ = run
    assert json.loads((d["results"] / "convert" / "dlrm.json").read_text())["onnx_vs_tf_max_abs_diff"] < 1e-5


def test_onnx_engine_numpy_backend_matches_onnxruntime(run):
    """The h100 dense engine executes the ONNX graph op by op; on CPU the same code runs on numpy."""
    import numpy as np
    import onnxruntime as ort

    from repro.engines.onnx_engine import Engine, NumpyBackend, load_graph
    d, _ = run
    onnx_path = d["convert"] / "dlrm" / "dense.onnx"
    rng = np.random.default_rng(0)
    feeds = {"numerical_features": rng.random((32, 13), dtype=np.float32),
             "lookup_vectors": (rng.random((32, 26, 128), dtype=np.float32) - 0.5) * 0.1}
    want = ort.InferenceSession(str(onnx_path)).run(None, feeds)[0]
    got = Engine(load_graph(onnx_path), NumpyBackend())(**feeds)[0]
    assert np.abs(got - want).max() < 1e-6


def test_engine_skipped_with_reason_not_faked(run):
    d, _ = run
    skipped = json.loads((d["engine"] / "dlrm" / "SKIPPED.json").read_text())
    assert "TensorRT" in skipped["reason"] and skipped["command"][0] == "trtexec"
    assert not (d["engine"] / "dlrm" / "model.plan").exists()
    assert not (d["repos"] / "container" / "dlrm_dense" / "1" / "model.plan").exists()


def test_every_config_parses_back_with_tritons_protobuf(run):
    d, _ = run
    configs = {c.parent.name: from_pbtxt(c.read_text()) for c in d["repos"].rglob("config.pbtxt")}
    assert configs["dlrm_tf"].platform == "ensemble" and len(configs["dlrm_tf"].ensemble_scheduling.step) == 2
    assert configs["dlrm_sparse"].platform == "tensorflow_savedmodel"
    assert configs["dlrm_sparse"].optimization.execution_accelerators.gpu_execution_accelerator[0].name == "gpu_io"
    assert configs["dlrm_dense"].backend in ("python", "tensorrt")
    container_dense = from_pbtxt((d["repos"] / "container" / "dlrm_dense" / "config.pbtxt").read_text())
    assert container_dense.backend == "tensorrt" and container_dense.optimization.cuda.graphs
    assert [g.batch_size for g in container_dense.optimization.cuda.graph_spec] == [64, 256]   # the swept batches
    hps_dense = from_pbtxt((d["repos"] / "container" / "dlrm_hps_dense" / "config.pbtxt").read_text())
    assert hps_dense.max_batch_size == 0 and [list(i.dims) for i in hps_dense.input] == [[-1], [-1]]
    assert [list(g.input["args_0"].dim) for g in hps_dense.optimization.cuda.graph_spec] == [[64 * 13], [256 * 13]]
    assert configs["dlrm_hps_sparse"].backend == "hps"


def test_hps_json_and_files(run):
    d, _ = run
    ps = json.loads((d["repos"] / "container" / "ps.json").read_text())   # ONE parameter-server JSON per repository
    assert ps["supportlonglong"] is True and ps["models"][0]["embedding_table_names"] == ["sparse_embedding0"]
    assert ps["models"][0]["sparse_files"] == ["/models/dlrm_hps_sparse/1/sparse_embedding0"]
    assert (d["repos"] / "container" / "dlrm_hps_sparse" / "1" / "sparse_embedding0" / "key").exists()
    table = d["convert"] / "dlrm" / "hps" / "sparse_embedding0"
    rows = (table / "key").stat().st_size // 8
    assert (table / "emb_vector").stat().st_size == rows * 128 * 4


def test_served_auc_matches_tensorflow(run):
    d, _ = run
    report = json.loads((d["results"] / "cpu" / "accuracy.json").read_text())
    assert set(report["models"]) == {"dlrm_tf", "dlrm_hps", "dlrm_native_tf"}
    assert all(m["passed"] and m["metric"] == "AUC" for m in report["models"].values())
    assert (d["results"] / "cpu" / "logs" / "accuracy_dlrm.log").exists()
    assert not list((d["results"] / "cpu" / "logs").glob(".*.partial"))


def test_perf_csv_in_published_schema_with_labels(run):
    d, _ = run
    frame = pd.read_csv(d["results"] / "cpu" / "perf" / "dlrm_hps.csv")
    assert list(frame.columns[: len(METRICS)]) == [m.name for m in METRICS]
    assert frame["batch"].tolist() == [64, 256]
    assert (abs(frame["latency_avg_us"] - frame[COMPONENTS].sum(axis=1)) < 1e-6).all()
    assert frame["engine"].str.contains("HPS-file").all() and not frame["engine"].str.contains("TensorRT").any()
    assert (frame["precision"] == "FP32").all() and frame["device"].str.startswith("CPU").all()
    assert (d["results"] / "cpu" / "perf" / "raw" / "dlrm_hps" / "dlrm_hps_b64.csv").exists()
    sample_files = sorted((d["results"] / "cpu" / "perf" / "samples").glob("*.json"))
    assert [p.name for p in sample_files] == ["dlrm_hps_b256.json", "dlrm_hps_b64.json", "dlrm_hps_online_b64_c2.json",
                                              "dlrm_tf_b256.json", "dlrm_tf_b64.json", "dlrm_tf_online_b64_c2.json"]
    samples = [json.loads(p.read_text()) for p in sample_files]
    # a row whose profile export was unusable keeps its measurement without samples (its log says why)
    assert sum(1 for s in samples if len(s.get("latency_us", [])) > 10 and s.get("throughput")) >= 2
    summary = json.loads((d["results"] / "cpu" / "perf_summary.json").read_text())
    assert set(summary["dlrm_hps"]) == {"b64", "b256"} and set(summary["dlrm_hps_online"]) == {"b64_c2"}
    online = pd.read_csv(d["results"] / "cpu" / "perf" / "dlrm_tf_online.csv")
    assert online[["batch", "concurrency"]].values.tolist() == [[64, 2]] and (online["scenario"] == "online").all()
    breakdown = pd.read_csv(d["results"] / "cpu" / "perf" / "dlrm_breakdown.csv")
    assert {"dlrm_sparse_hps", "dlrm_dense"} <= set(breakdown["model"])


def test_tables_plots_provenance(run):
    d, _ = run
    out = d["results"] / "cpu" / "tables"
    text = (out / "dlrm_tf.md").read_text()
    assert text.startswith("#### Offline: DLRM on CPU") and "ONNX Runtime" in text and "|    |   Batch |" in text
    assert (out / "dlrm_throughput.svg").read_text().lstrip().startswith("<?xml")
    prov = json.loads((out / "dlrm_tf.provenance.json").read_text())
    assert {"commit", "versions", "device", "engine", "measurement", "dvc_lock"} <= set(prov)
    assert "Speedup" in (out / "dlrm_native_vs_ensemble.md").read_text()
    assert (out / "dlrm_tf_online.md").read_text().startswith("#### Online: DLRM on CPU")
    assert "\nHost: " in (out / "report.md").read_text()


def test_server_killed_during_perf_fails_and_keeps_earlier_results(run, monkeypatch):
    d, p = run
    out = d["results"] / "cpu" / "perf"
    before = (out / "dlrm_tf.csv").read_bytes()
    import repro.measure.campaign as measure_module
    real_measure = measure_module.measure

    def kill_then_measure(runtime, model, url, *args, **kwargs):
        import os
        for pid in [int(x) for x in os.listdir("/proc") if x.isdigit()]:
            try:
                cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"tritonserver") and any(str(d["repos"]).encode() in c for c in cmd):
                os.kill(pid, signal.SIGKILL)
        return real_measure(runtime, model, url, *args, **kwargs)

    monkeypatch.setattr(measure_module, "measure", kill_then_measure)
    assert perf.main(["--params", str(p), "--profile", "cpu", "--repos", str(d["repos"]), "--data", str(d["data"]), "--out", str(out),
                      "--summary", str(d["results"] / "cpu" / "perf_summary.json")]) == 2
    assert (out / "dlrm_tf.csv").read_bytes() == before


def test_model_that_fails_to_load_is_a_clear_error(run, tmp_path, capsys):
    d, p = run
    broken = tmp_path / "repos"
    import shutil
    shutil.copytree(d["repos"], broken)
    (broken / "local" / "dlrm_dense" / "1" / "model.onnx").write_bytes(b"not an onnx file")
    out = d["results"] / "cpu" / "accuracy.json"
    before = out.read_bytes()
    assert accuracy.main(["--params", str(p), "--profile", "cpu", "--repos", str(broken), "--data", str(d["data"]),
                          "--train-metrics", str(d["results"] / "train"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Triton server exited" in err and "dlrm_dense" in err
    assert out.read_bytes() == before


def test_h100_repositories_are_written_on_the_cpu_machine(run):
    """repos@h100 runs here: shared dense graph, one repository per configuration, the accuracy gate."""
    d, _ = run
    r = d["repos_h100"]
    graph = r / "graphs" / "dlrm" / "dense.onnx"
    assert graph.exists() and json.loads((r / "graphs" / "dlrm" / "weights.json").read_text())["carried"] is True
    versions = sorted((r / "perf").glob("*/*/1"))
    assert versions and all((v / json.loads((v / "spec.json").read_text())["dense"]).resolve() == graph.resolve()
                            for v in versions)
    gate = r / "gate" / "dlrm"
    assert {p.name for p in (gate / "repository").iterdir()} == {"dlrm_gate_fp32_fused_fused", "dlrm_gate_fp16_fused_fused",
                                                                 "dlrm_gate_fp32_fused_fused_cpp",
                                                                 "dlrm_gate_fp16_fused_fused_cpp"}   # both backends
    spec = json.loads((gate / "repository" / "dlrm_gate_fp32_fused_fused" / "1" / "spec.json").read_text())
    assert (gate / "repository" / "dlrm_gate_fp32_fused_fused" / "1" / spec["tables"]).resolve() == (gate / "tables.npz").resolve()
    assert 0.5 < json.loads((gate / "reference.json").read_text())["auc_tensorflow"] <= 1


def test_container_ensembles_load_and_answer_with_standins(run, tmp_path):
    """Every container ensemble loads in the real server with stand-ins of identical I/O for the models that
    need a GPU (tensorrt, hps, tensorflow_savedmodel), and answers requests shaped as upstream's clients send
    them: the TF ensemble per sample, the HPS ensemble as one flat row of keys."""
    import numpy as np
    import tritonclient.http as http
    from repro.serving.runtime import Runtime
    from repro.serving.server import TritonServer
    from repro.serving.standins import standin_repository
    d, _ = run
    ensembles = standin_repository(d["repos"] / "container", tmp_path / "standins")
    assert ensembles == ["dlrm_hps", "dlrm_tf"]
    batch = 8
    requests = {"dlrm_tf": [("categorical_features", np.zeros((batch, 26), np.int32)),
                            ("numerical_features", np.zeros((batch, 13), np.float32))],
                "dlrm_hps": [("EMB_KEY", np.zeros((1, batch * 26), np.int64)), ("EMB_N_KEY", np.full((1, 1), batch * 26, np.int32)),
                             ("numerical_features", np.zeros((1, batch * 13), np.float32))]}
    with TritonServer(Runtime(paths.RUNTIME), tmp_path / "standins", tmp_path / "server.log", models=ensembles) as server:
        client = http.InferenceServerClient(server.ports.http_url.removeprefix("http://"))
        for name, tensors in requests.items():
            inputs = []
            for tensor, value in tensors:
                inputs.append(http.InferInput(tensor, list(value.shape), {np.int32: "INT32", np.int64: "INT64",
                                                                          np.float32: "FP32"}[value.dtype.type]))
                inputs[-1].set_data_from_numpy(value)
            assert client.infer(name, inputs).as_numpy("DENSE_OUTPUT") is not None


def test_container_onnx_keeps_the_dense_outputs(run):
    """The engines' ONNX sources (upstream tensor names; flat inputs for HPS) compute what the converted graph does."""
    import numpy as np
    import onnxruntime as ort
    d, _ = run
    rng = np.random.default_rng(0)
    numerical, lookups = rng.random((5, 13), np.float32), rng.random((5, 26, 128), np.float32)
    session = lambda path: ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])  # noqa: E731
    want = session(d["convert"] / "dlrm" / "dense.onnx").run(None, {"numerical_features": numerical,
                                                                     "lookup_vectors": lookups})[0]
    container = d["repos"] / "container"
    per_sample = session(container / "dlrm_dense" / "onnx" / "model.onnx").run(
        ["output_1"], {"args_0": numerical, "args_1": lookups.reshape(5, -1)})[0]
    flat = session(container / "dlrm_hps_dense" / "onnx" / "model.onnx").run(
        ["output_1"], {"args_0": numerical.ravel(), "args_1": lookups.ravel()})[0]
    np.testing.assert_array_equal(per_sample, want)
    np.testing.assert_array_equal(flat, want)


def test_container_sparse_export_refuses_a_gpu_placement_without_a_gpu(run, tmp_path, capsys):
    """The container's sparse SavedModel records each table's device at save time: exported here, every GPU
    table would say CPU (what upstream's image would then serve from host memory). It is exported on the GPU
    host instead; here it refuses with the reason, and a CPU placement exports upstream's I/O."""
    import tensorflow as tf
    from repro.families.criteo import container_export
    d, _ = run
    placement = d["convert"] / "dlrm" / "placement.json"
    out = tmp_path / "model.savedmodel"
    args = ["--checkpoint", str(d["train"] / "dlrm"), "--out", str(out)]
    assert container_export.main([*args, "--placement", str(placement)]) == 2
    assert "TensorFlow sees no GPU here" in capsys.readouterr().err and not out.exists()
    on_cpu = json.loads(placement.read_text())
    for t in on_cpu["tables"]:
        t["device"] = "CPU"
    (tmp_path / "cpu.json").write_text(json.dumps(on_cpu))
    assert container_export.main([*args, "--placement", str(tmp_path / "cpu.json")]) == 0
    served = tf.saved_model.load(str(out)).signatures["serving_default"]
    assert served(input_1=tf.zeros([3, 26], tf.int32))["output_1"].shape == (3, 26 * 128)


@pytest.mark.parametrize("native_engine, sparse", [("torchscript", "fused"), ("aoti", "fused"),
                                                   ("torchscript", "placement")])
def test_native_backend_serves_the_python_flavours_outputs(run, tmp_path, native_engine, sparse):
    """The native C++ backend (repro_torch, built here against the venv's libtorch) and the python flavour's
    model, both on the CPU, in one real Triton server: the same trained tiny DLRM, the same engine code
    (scripted for the native one, and with ``aoti`` its forward compiled into an AOTInductor package fed the
    scripted module's table; with the placement, the tables past a threshold of half their bytes held apart
    as host-resident rows); their outputs agree on the gate's samples."""
    import numpy as np
    import tritonclient.grpc as grpcclient
    from repro.families.criteo.gpu_flavour import prepare_group
    from repro.families.criteo.gpu_repository import ServeConfig, spec_for, write_repository
    from repro.serving.model_config import CATEGORICAL, NUMERICAL, OUTPUT
    from repro.serving.runtime import Runtime
    from repro.serving.server import TritonServer
    d, _ = run
    gate = d["repos_h100"] / "gate" / "dlrm"
    with np.load(gate / "tables.npz") as npz:
        cards = [int(npz[f"table_{i}"].shape[0]) for i in range(26)]
    with np.load(gate / "samples.npz") as npz:
        ids, numerical = npz["categorical"], npz["numerical"]
    repo, names = tmp_path / "repo", {}
    threshold_gb = sum(cards) * 128 * 4 / 2 / 2**30
    for backend in ("python", "cpp"):
        cfg = ServeConfig("dlrm", "gate", "fp32", sparse, "fused", backend=backend)
        spec = spec_for(cfg, 0, [64], threshold_gb, 0.1, None, cardinalities=cards, device="cpu", chunk_rows=16,
                        native_engine=native_engine)
        names[backend] = write_repository(repo, cfg, spec, d["repos_h100"] / "graphs" / "dlrm" / "dense.onnx", 512,
                                          gate / "tables.npz")
    assert names["cpp"].endswith("_cpp") and (repo / names["cpp"] / "1" / "native.txt").exists()
    # a second native model, with its own copy of the backend library, in the same server (as in the h100 gate
    # and perf repositories): each copy registers the repro operators, and only the first may define them
    names["twin"] = names["cpp"].removesuffix("_cpp") + "_twin_cpp"
    shutil.copytree(repo / names["cpp"], repo / names["twin"])
    config = repo / names["twin"] / "config.pbtxt"
    config.write_text(config.read_text().replace(f'name: "{names["cpp"]}"', f'name: "{names["twin"]}"', 1))
    prepare_group(repo, list(names.values()))
    assert (repo / names["cpp"] / "libtriton_repro_torch.so").exists() and (repo / names["cpp"] / "1" / "engine.pt").exists()
    assert (repo / names["twin"] / "libtriton_repro_torch.so").exists()
    settings = (repo / names["cpp"] / "1" / "native.txt").read_text()
    assert (repo / names["cpp"] / "1" / "engine.pt2").exists() == (native_engine == "aoti") == ("package engine.pt2" in settings)
    with TritonServer(Runtime(paths.RUNTIME), repo, tmp_path / "server.log", models=list(names.values())) as server:
        client = grpcclient.InferenceServerClient(server.ports.grpc_url)
        for batch in (1, 64, 200):
            outputs = {}
            for backend, name in names.items():
                inputs = [grpcclient.InferInput(CATEGORICAL.name, [batch, 26], "INT32"),
                          grpcclient.InferInput(NUMERICAL.name, [batch, 13], "FP32")]
                inputs[0].set_data_from_numpy(np.ascontiguousarray(ids[:batch].astype(np.int32)))
                inputs[1].set_data_from_numpy(np.ascontiguousarray(numerical[:batch]))
                outputs[backend] = client.infer(name, inputs).as_numpy(OUTPUT.name)
            assert outputs["cpp"].shape == (batch, 1) and np.isfinite(outputs["cpp"]).all()
            assert np.abs(outputs["cpp"] - outputs["python"]).max() <= 1e-6, batch
            assert np.array_equal(outputs["twin"], outputs["cpp"]), batch
    stats = json.loads((repo / names["cpp"] / "stats.json").read_text())   # written when the server unloads it
    assert stats["backend"] == "repro_torch" and stats["model_time_us"]["64"]["requests"] == 1
    assert stats["runs"] == {"torchscript": "torchscript engine.pt", "aoti": "aoti_package engine.pt2"}[native_engine]
