"""Wide & Deep's python-gpu flavour (the h100 profile): the converted ONNX graph run by PyTorch on the
GPU in FP32 and FP16, from CUDA graphs, in one python-backend model per precision. Written here and
carried to the GPU host by the kit; the graph travels without its weights (the trained model does not fit
the 64 MiB the device tool carries beside the DLRM repositories): they are generated from the seed on
the host, and every row says so.

    triton_repos/<p>/widedeep/graph/model.onnx      the converted graph, weights not carried
    triton_repos/<p>/widedeep/perf/<served>/        one repository per precision and backend (one server start
                                                    each; ``_cpp``: the native C++ backend, repro/native)
    triton_repos/<p>/widedeep/gate/                 both precisions on every backend, plus the gate's samples
    triton_repos/<p>/widedeep/inputs.json           perf_analyzer input data (validation samples)

The accuracy gate on the host: MAP@12 of the served model (FP32 gated, FP16 reported) against the same
graph and weights run by the numpy reference engine on the host's CPU (TensorFlow is not on that host).
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from repro.families.outbrain import dataset
from repro.families.outbrain.features import INPUTS, MAP_AT, OUTPUT, input_dtype, input_width
from repro.families.carried import ENGINE_MODULES, write_python_version
from repro.native import flavour
from repro.serving import model_config as mcfg
from repro.serving.model_config import Tensor
from repro.serving.plan import AccuracyCheck, ServedGroup, read_model_stats
from repro.serving.runtime import TRITON_VERSION

CARRIED_MODULES = (*ENGINE_MODULES, "families/outbrain/__init__.py", "families/outbrain/gpu_engine.py")
SCRIPT = Path(__file__).parent / "triton_models" / "wd_torch.py"
SERVER_POOLS = ("--pinned-memory-pool-byte-size=4000000000", "--cuda-memory-pool-byte-size=0:2000000000")
INPUTS_LABEL = {"none": "gRPC payload (no shared memory; full windows and intervals)",
                "system": "client system shared memory (upstream's protocol); perf_analyzer 2.51 loses its profile export "
                          "for this model: windows from its verbose report, no p99 interval"}


def served_name(precision: str, inputs: str = "none") -> str:
    return f"widedeep_gpu_{precision}" + ("" if inputs == "none" else f"_{inputs}shm")


def graph_batches(perf: dict) -> list[int]:
    """CUDA graphs captured at load: the offline sweep, and the online batch doubled up to the maximum
    (a batch the dynamic batcher forms runs in the smallest graph that holds it)."""
    found = set(perf["batch_sizes"])
    if perf.get("online"):
        b = perf["online"]["batch_size"]
        while b <= perf["max_batch_size"]:
            found.add(b)
            b *= 2
        found.add(perf["max_batch_size"])
    return sorted(found)


def write_graph(onnx_path: Path, dest: Path) -> None:
    import onnx
    dest.mkdir(parents=True)
    graph = onnx.load(str(onnx_path))
    onnx.save_model(graph, str(dest / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.weights.not-carried", size_threshold=1024)
    (dest / "model.weights.not-carried").unlink()


def served_tensors() -> tuple[list[Tensor], Tensor]:
    return [Tensor(n, input_dtype(n), (input_width(n),)) for n in INPUTS], Tensor(OUTPUT, "FP32", (1,))


def write_spec(version: Path, spec: dict, precision: str, graph: Path, samples: Path) -> None:
    (version / "spec.json").write_text(json.dumps({**spec, "precision": precision,
                                                   "graph": os.path.relpath(graph, version),
                                                   "samples": os.path.relpath(samples, version)}, indent=2) + "\n")


def write_model(repo: Path, precision: str, graph: Path, spec: dict, max_batch: int, inputs: str = "none",
                backend: str = "python", samples: Path | None = None) -> str:
    """One served model: the python backend's (model.py and the repro modules it imports) or, with backend
    ``cpp``, the native backend's (settings; its engine.pt is written on the serving host). Both take dynamic
    batches and read the same spec.json (``samples``: the gate's, which the native engine's check draws)."""
    name = flavour.served_name(served_name(precision, inputs), backend)
    samples = samples if samples is not None else graph.parent.parent / "gate" / "samples.npz"
    tensors, output = served_tensors()
    if backend == flavour.NATIVE:
        from repro.native import repository as native
        version = native.write_model(repo / name, name, tensors, output, spec.get("device", "cuda"), max_batch,
                                     spec["graph_batches"], dynamic_batching=True,
                                     tf32=spec["fp32_matmul"] == "tf32")
        write_spec(version, spec, precision, graph, samples)
        return name
    version = repo / name / "1"
    version.mkdir(parents=True)
    write_python_version(version, SCRIPT, CARRIED_MODULES, "Carried: only the outbrain family's GPU engine.")
    write_spec(version, spec, precision, graph, samples)
    config = mcfg.python_model(name, max_batch, tensors, [output], 1,
                               "KIND_GPU" if spec.get("device", "cuda") == "cuda" else "KIND_CPU",
                               {"FORCE_CPU_ONLY_INPUT_TENSORS": "yes"})
    mcfg.add_dynamic_batching(config, [max_batch])
    (repo / name / "config.pbtxt").write_text(mcfg.to_pbtxt(config))
    return name


def write_engine(version: Path, device: str) -> None:
    """On the serving host: the native backend's engine.pt, traced from the python flavour's engine."""
    from repro.families.outbrain.native import write_engine as write
    write(version, device)


def write_repositories(converted: Path, data: Path, options: dict, perf: dict, gate_batch: int, out: Path) -> dict:
    root = out / "widedeep"
    write_graph(converted / "model.onnx", root / "graph")
    spec = {"seed": options["seed"], "fp32_matmul": options["fp32_matmul"],
            "inputs": {n: [input_dtype(n), input_width(n)] for n in INPUTS}}
    batches = graph_batches(perf)
    graph = root / "graph" / "model.onnx"
    written = [write_model(root / "perf" / flavour.served_name(served_name(c["precision"], c["inputs"]), b),
                           c["precision"], graph, {**spec, "graph_batches": batches}, perf["max_batch_size"],
                           c["inputs"], b)
               for c in options["configs"] for b in flavour.backends(options)]
    valid = dataset.read_split(data, "valid")
    from repro.families.outbrain.client import write_request_inputs
    write_request_inputs(valid, root / "inputs.json", options["input_samples"])
    gate = valid.rows(0, options["gate_samples"])
    (root / "gate").mkdir()
    np.savez(root / "gate" / "samples.npz", label=gate.label, display=gate.display, **gate.inputs)
    for p in ("fp32", "fp16"):
        for b in flavour.backends(options):
            write_model(root / "gate" / "repository", p, graph, {**spec, "graph_batches": [gate_batch]}, gate_batch,
                        backend=b)
    return {"local": written, "gate_samples": len(gate), "weights": "seeded on the host (not carried)"}


def read_gate(root: Path) -> dataset.Batch:
    with np.load(root / "gate" / "samples.npz") as npz:
        return dataset.Batch({n: npz[n] for n in INPUTS}, npz["label"], npz["display"])


def reference_map(root: Path, seed: int, samples: dataset.Batch) -> float:
    """MAP@12 of the same graph and seeded weights on the host CPU (numpy reference engine, FP32)."""
    from repro.engines.onnx_engine import Engine, NumpyBackend, load_graph
    from repro.families.scores import map_at_k
    engine = Engine(load_graph(root / "graph" / "model.onnx", seed=seed), NumpyBackend())
    scores = np.concatenate([engine(**samples.rows(i, i + 2048).inputs)[0].ravel() for i in range(0, len(samples), 2048)])
    return map_at_k(samples.display, samples.label, scores, MAP_AT)


def accuracy_checks(repos: Path, options: dict, tolerance: float, batch: int) -> list[AccuracyCheck]:
    root = repos / "widedeep"
    if not (root / "gate").is_dir():
        return []
    from repro.families.outbrain.client import infer
    from repro.families.scores import map_at_k
    samples = read_gate(root)

    def score(url: str, served: str) -> float:
        return map_at_k(samples.display, samples.label, infer(url, served, samples, batch), MAP_AT)

    names = {flavour.served_name(served_name(p), b): p == "fp32"
             for p in ("fp32", "fp16") for b in flavour.backends(options)}
    repo = root / "gate" / "repository"
    return [AccuracyCheck(repo, score, reference_map(root, options["seed"], samples), tolerance,
                          len(samples), names, f"MAP@{MAP_AT}",
                          "seeded weights (the trained ones are not carried to the GPU host); reference: the same "
                          f"graph and weights on the host CPU (numpy, FP32); FP32 gated, FP16 reported; served by "
                          f"{flavour.described(options)}", SERVER_POOLS, 600,
                          prepare=lambda: flavour.prepare_models(repo, list(names), write_engine))]


def labels(precision: str, inputs: str, device: str, runtime: str, fp32_matmul: str,
           backend: str = "python") -> dict[str, str]:
    import torch
    engine = (f"PyTorch {torch.__version__} CUDA {torch.version.cuda}, not TensorRT: the converted W&D ONNX graph op "
              "by op (Linear chains fused), seeded weights; CUDA graphs per captured batch (dynamic batches padded "
              "to the next one); whole model in one python-backend model")
    if backend == flavour.NATIVE:
        engine = (f"libtorch {torch.__version__} CUDA {torch.version.cuda}, not TensorRT: native C++ backend "
                  "(repro_torch), whole model in one model; TorchScript traced from the same engine code (the converted "
                  "W&D ONNX graph op by op, Linear chains fused), seeded weights; CUDA graphs per captured batch "
                  "(requests the dynamic batcher joins run as one batch, padded to the next graph); inputs copied "
                  "from the client's registered shared-memory region")
    shown = "FP16" if precision == "fp16" else ("FP32 (TF32 matmuls)" if fp32_matmul == "tf32" else "FP32")
    return {"engine": engine, "precision": shown, "device": device, "runtime": runtime,
            "versions": f"torch {torch.__version__}; Triton server {TRITON_VERSION}", "serving": "whole",
            "inputs": INPUTS_LABEL[inputs], "dtype": precision, "shared_memory": inputs, "backend": backend}


def perf_groups(repos: Path, options: dict, runtime: str) -> list[ServedGroup]:
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is visible: the python-gpu flavour runs on a GPU host")
    root, device = repos / "widedeep", torch.cuda.get_device_name(0)

    def write_inputs(path: Path) -> None:
        shutil.copy(root / "inputs.json", path)

    # perf_analyzer 2.51 loses its profile export when a model with many FP32 inputs is fed through system
    # shared memory (its windows then come from the verbose report, and there is no p99 interval): "none"
    # sends the inputs in the request and keeps the per-request latencies
    groups = []
    for c in options["configs"]:
        for backend in flavour.backends(options):
            name = flavour.served_name(served_name(c["precision"], c["inputs"]), backend)
            repo = root / "perf" / name
            groups.append(ServedGroup(name, repo, {name: labels(c["precision"], c["inputs"], device, runtime,
                                                                options["fp32_matmul"], backend)},
                                      write_inputs, c["inputs"], SERVER_POOLS, 900,
                                      lambda repo=repo: read_model_stats(repo),
                                      lambda repo=repo, name=name: flavour.prepare_models(repo, [name], write_engine)))
    return groups
