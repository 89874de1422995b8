"""The Criteo family's python-gpu flavour (the h100 profile): each configuration of
``profiles.<p>.serving.criteo.configs`` served as its own repository by PyTorch CUDA engines in the
python backend (repro.engines.torch_serving), its tables generated on the GPU from the seed at load
time. The repositories are written here, on the machine that trained the models (small: the dense
graphs are shared, the tables are generated), and carried to the GPU host by the kit:

    triton_repos/<p>/graphs/<model>/dense.onnx    converted dense graph (trained weights if carried)
    triton_repos/<p>/perf/<configuration>/        one repository per configuration
    triton_repos/<p>/gate/<model>/                accuracy gate: trained tables cut to the rows its
                                                  samples read, the samples, TensorFlow's AUC on them
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from repro.families.criteo.dataset import Split
from repro.families.criteo.gpu_repository import ServeConfig, spec_for, write_engine, write_repository
from repro.families.criteo.presets import get_preset
from repro.serving.plan import AccuracyCheck, ServedGroup, read_model_stats
from repro.serving.runtime import TRITON_VERSION

# Upstream's server flags: pinned host and CUDA memory pools large enough for batch-65536 tensors
# (the ensemble hands a [B, 26, 128] tensor between its steps).
SERVER_POOLS = ("--pinned-memory-pool-byte-size=4000000000", "--cuda-memory-pool-byte-size=0:2000000000")
INPUTS = {"system": "client system shared memory (upstream's protocol); the model copies them to the GPU",
          "cuda": "client CUDA shared memory: inputs already in GPU memory, no host copies (not upstream's protocol)"}


def has_native(cfg: ServeConfig) -> bool:
    """Configurations the native C++ backend serves: the whole model (or the transport ceiling) on the fused
    table or the placement, inputs from system shared memory (the cache, whose miss path no CUDA graph can hold,
    and the ensemble stay python-only)."""
    return cfg.serving in ("fused", "transport") and cfg.sparse in ("fused", "placement") and cfg.inputs == "system"


def configs(options: dict, model: str) -> list[ServeConfig]:
    """Each configuration on the python backend and, where it has one and ``backends`` lists cpp, the native one."""
    out = []
    for c in options["configs"]:
        if c["model"] != model:
            continue
        cfg = ServeConfig(**c)
        out += [cfg] + ([ServeConfig(**c, backend="cpp")] if "cpp" in options.get("backends", ()) and has_native(cfg)
                        else [])
    return out


# ---- repositories (stage repos, on the machine with the converted models) ----

def write_graph(onnx_path: Path, dest: Path, carry_weights: bool) -> None:
    """The converted dense graph; without weights, they go to an external file that is not kept."""
    import onnx
    dest.mkdir(parents=True, exist_ok=True)
    if carry_weights:
        shutil.copy(onnx_path, dest / "dense.onnx")
    else:
        graph = onnx.load(str(onnx_path))
        onnx.save_model(graph, str(dest / "dense.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="dense.weights.not-carried", size_threshold=1024)
        (dest / "dense.weights.not-carried").unlink()
    from repro.engines.onnx_engine import fuse_linear, load_graph
    from repro.report.physical_limits import mlp_flops_per_sample
    flops = mlp_flops_per_sample(fuse_linear(load_graph(onnx_path)))
    (dest / "weights.json").write_text(json.dumps({"carried": carry_weights, "mlp_flops_per_sample": flops},
                                                  indent=2) + "\n")


def compact_tables(tables: list[np.ndarray], categorical: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Each table restricted to the rows ``categorical`` reads; ids remapped to the kept rows."""
    kept, remapped = [], np.empty_like(categorical)
    for i, table in enumerate(tables):
        rows, inverse = np.unique(categorical[:, i], return_inverse=True)
        kept.append(np.ascontiguousarray(table[rows]))
        remapped[:, i] = inverse.astype(categorical.dtype)
    return kept, remapped


def write_gate_data(checkpoint: Path, data: Path, dest: Path, samples: int) -> dict:
    from repro.families.criteo.checkpoint import read_checkpoint
    from repro.families.criteo.dataset import read_split
    from repro.families.criteo.training import evaluate_auc
    ckpt, test = read_checkpoint(checkpoint), read_split(data, "test")
    subset = test.batch(0, samples)
    auc = evaluate_auc(ckpt, subset)
    tables, ids = compact_tables(ckpt.tables, subset.categorical)
    dest.mkdir(parents=True, exist_ok=True)
    np.savez(dest / "tables.npz", **{f"table_{i}": t for i, t in enumerate(tables)})
    np.savez(dest / "samples.npz", categorical=ids, numerical=subset.numerical.astype(np.float32), label=subset.label)
    reference = {"auc_tensorflow": round(auc, 6), "samples": len(subset), "rows_kept": int(sum(len(t) for t in tables)),
                 "rows_trained": int(sum(len(t) for t in ckpt.tables))}
    (dest / "reference.json").write_text(json.dumps(reference, indent=2, sort_keys=True) + "\n")
    return reference


def write_repositories(model: str, converted: Path, checkpoint: Path, data: Path, options: dict,
                       batch_sizes: list[int], gate_batch: int, max_batch: int, out: Path) -> dict:
    carried = model in options["carry_weights"]
    graph = out / "graphs" / model
    write_graph(converted / "dense.onnx", graph, carried)
    written = []
    batches = sorted(set(batch_sizes))
    for cfg in configs(options, model):
        spec = spec_for(cfg, options["seed"], batches, options["memory_threshold_gb"], options["gpucacheper"],
                        None if carried else options["seed"], fp32_matmul=options["fp32_matmul"],
                        chunk_rows=options["chunk_rows"], native_engine=native_engine(options))
        written.append(write_repository(out / "perf" / cfg.name, cfg, spec, graph / "dense.onnx", max_batch))
    gate = None
    if carried:
        gate_dir = out / "gate" / model
        reference = write_gate_data(checkpoint, data, gate_dir, options["gate_samples"])
        with np.load(gate_dir / "tables.npz") as npz:
            cards = [int(npz[f"table_{i}"].shape[0]) for i in range(26)]
        for cfg in gate_configs(model, options):   # both precisions (and backends) in one repository: one server
            spec = spec_for(cfg, 0, [gate_batch], options["memory_threshold_gb"], options["gpucacheper"], None,
                            cardinalities=cards, fp32_matmul=options["fp32_matmul"],
                            native_engine=native_engine(options))
            write_repository(gate_dir / "repository", cfg, spec, graph / "dense.onnx", gate_batch, gate_dir / "tables.npz")
        gate = {"samples": reference["samples"], "auc_tensorflow": reference["auc_tensorflow"]}
    return {"local": written, "gate": gate, "dense_weights": "trained" if carried else "seeded on the host"}


def native_engine(options: dict) -> str:
    """What the native backend runs: ``torchscript`` (the traced engine, PyTorch reference ops), ``kernels`` (the
    traced engine calling the Triton-language kernels, compiled on the serving host) or ``aoti`` (its forward
    compiled by the serving host's PyTorch into an AOTInductor package)."""
    return options.get("native_engine", "torchscript")


def gate_configs(model: str, options: dict) -> list[ServeConfig]:
    return [ServeConfig(model, "gate", precision, "fused", "fused", backend=backend)
            for precision in ("fp32", "fp16") for backend in options.get("backends", ["python"])]


def prepare_group(repo: Path, names: list[str]) -> None:
    """The native models of a repository made ready on this host (backend library, engine.pt)."""
    from repro.native.flavour import prepare_models
    prepare_models(repo, names, write_engine)


# ---- accuracy (stage accuracy, on the GPU host) ----

def accuracy_checks(model: str, repos: Path, options: dict, tolerance: float, batch: int) -> list[AccuracyCheck]:
    gate = repos / "gate" / model
    if not gate.is_dir():
        return []
    from repro.families.criteo.client import infer_split
    from repro.families.scores import roc_auc
    reference = json.loads((gate / "reference.json").read_text())
    with np.load(gate / "samples.npz") as npz:
        split = Split(npz["numerical"], npz["categorical"], npz["label"])

    def score(url: str, served: str) -> float:
        return roc_auc(split.label, infer_split(url, served, split, batch))

    names = {cfg.name: cfg.precision == "fp32" for cfg in gate_configs(model, options)}
    backends = " and ".join({"python": "the python backend", "cpp": "the native C++ backend"}[b]
                            for b in options.get("backends", ["python"]))
    return [AccuracyCheck(gate / "repository", score, reference["auc_tensorflow"], tolerance, reference["samples"], names,
                          "AUC", f"trained tables cut to the rows of the first {reference['samples']} test samples; "
                          f"FP32 ({options['fp32_matmul']} matmuls) gated, FP16 reported; served by {backends}",
                          SERVER_POOLS, 600, prepare=lambda: prepare_group(gate / "repository", list(names)))]


# ---- perf (stage perf, on the GPU host) ----

def write_bench_input(path: Path, preset: str, seed: int, samples: int) -> None:
    """perf_analyzer input: power-law category ids over the preset's real cardinalities."""
    from repro.families.criteo.client import write_request_inputs
    from repro.families.sampling import power_law_categories
    rng = np.random.default_rng(seed)
    ids = np.stack([power_law_categories(rng, c, samples) for c in get_preset(preset).cardinalities], axis=1)
    num = np.log1p(rng.lognormal(1.0, 1.2, size=(samples, 13))).astype(np.float32)
    write_request_inputs(Split(num, ids, np.zeros(samples, dtype=bool)), path, samples)


def precision_label(precision: str, fp32_matmul: str) -> str:
    if precision == "fp16":
        return "FP16"
    return "FP32 (TF32 matmuls, as TensorRT's default)" if fp32_matmul == "tf32" else "FP32"


def triton_lang_version() -> str:
    try:
        import triton
        return triton.__version__
    except ImportError:
        return "absent (PyTorch reference ops ran instead)"


def labels(cfg: ServeConfig, device: str, runtime: str, weights: str, fp32_matmul: str,
           native: str = "torchscript") -> dict[str, str]:
    import torch
    serving = {"fused": "whole model in one python-backend model",
               "ensemble": "two-step ensemble (sparse step -> dense step, lookups on the GPU)"}.get(cfg.serving)
    kernels = "embedding gather" + (" and dot interaction" if cfg.model == "dlrm" else "")
    engine = (f"PyTorch {torch.__version__} CUDA {torch.version.cuda}, not TensorRT: {serving}; sparse: {cfg.sparse}; "
              f"dense: converted ONNX graph, {weights} weights; Triton-language kernels ({kernels}); "
              "one CUDA graph per batch size")
    if cfg.backend == "cpp":
        code = ("TorchScript of the same engine code (PyTorch reference ops in place of the Triton-language kernels)"
                if native == "torchscript" else
                f"TorchScript of the same engine code calling its Triton-language kernels ({kernels}), compiled on "
                f"this host by Triton {triton_lang_version()} to cubins that the backend launches"
                if native == "kernels" else
                f"AOTInductor package of the same engine code, compiled on this host by PyTorch {torch.__version__} "
                "(Inductor's generated kernels from the PyTorch reference ops, in place of the hand-written "
                "Triton-language kernels; the table filled by the TorchScript module)")
        engine = (f"libtorch {torch.__version__} CUDA {torch.version.cuda}, not TensorRT: native C++ backend "
                  f"(repro_torch), whole model in one model; sparse: {cfg.sparse}; dense: converted ONNX graph, "
                  f"{weights} weights; {code}; one CUDA graph per batch size; inputs copied from the registered "
                  "shared-memory region")
    if cfg.serving == "transport":
        engine = ("none: native C++ backend transport only (repro_transport; returns zeros; a ceiling, not a model "
                  "result)" if cfg.backend == "cpp" else
                  "none: python-backend transport only (the model returns zeros; a ceiling, not a model result)")
    return {"engine": engine, "precision": precision_label(cfg.precision, fp32_matmul), "device": device,
            "runtime": runtime,
            "versions": f"torch {torch.__version__}; triton-lang {triton_lang_version()}; Triton server {TRITON_VERSION}",
            "sparse": cfg.sparse, "serving": cfg.serving, "backend": cfg.backend, "model": cfg.model,
            "preset": cfg.preset,
            "dtype": cfg.precision, "inputs": INPUTS[cfg.inputs], "shared_memory": cfg.inputs}


def perf_groups(model: str, repos: Path, options: dict, runtime: str) -> list[ServedGroup]:
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is visible: the python-gpu flavour runs on a GPU host")
    weights = json.loads((repos / "graphs" / model / "weights.json").read_text())
    weights_label = "trained" if weights["carried"] else "seeded (the trained weights are not carried)"
    device = torch.cuda.get_device_name(0)   # what ran, not what the profile expects
    groups = []
    for cfg in configs(options, model):
        def write_inputs(path: Path, preset=cfg.preset) -> None:
            write_bench_input(path, preset, options["seed"], options["input_samples"])
        repo = repos / "perf" / cfg.name
        groups.append(ServedGroup(cfg.name, repo, {cfg.name: labels(cfg, device, runtime, weights_label,
                                                                      options["fp32_matmul"], native_engine(options))},
                                  write_inputs, cfg.inputs, SERVER_POOLS, 900,
                                  lambda repo=repo: {"model": model, "mlp_flops_per_sample": weights["mlp_flops_per_sample"],
                                                     **read_model_stats(repo)},
                                  lambda repo=repo, name=cfg.name: prepare_group(repo, [name])))
    return groups
