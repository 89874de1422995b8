"""The h100 profile's run: the accuracy gate (small trained DLRM through the GPU engines, AUC vs
TensorFlow's) and the offline perf matrix (each configuration served by the real Triton server from
the runtime bundle and measured by the real perf_analyzer). Everything large is generated on the
host from the seed; what is carried comes from the kit (repro.profiles.h100.kit)."""
from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro import paths
from repro.families.criteo.dataset import Split
from repro.families.criteo.gpu_repository import ServeConfig, spec_for, write_repository
from repro.families.criteo.client import write_request_inputs
from repro.measure.metrics import P99, THROUGHPUT
from repro.measure.perf_analyzer import PerfSettings, measure, measured_frame, normalise
from repro.families.criteo.presets import get_preset
from repro.serving.runtime import TRITON_VERSION, Runtime
from repro.serving.server import TritonServer
from repro.families.criteo.synthetic import power_law_categories


# Upstream's server flags: pinned host and CUDA memory pools large enough for batch-65536 tensors
# (the ensemble hands a [B, 26, 128] tensor between its steps).
SERVER_POOLS = ["--pinned-memory-pool-byte-size=4000000000", "--cuda-memory-pool-byte-size=0:2000000000"]


@dataclass(frozen=True)
class Kit:
    root: Path

    def dense(self, model: str) -> Path:
        path = self.root / "models" / model / "dense.onnx"
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing: rebuild the kit with `make h100-kit` (after `make deploy`)")
        return path

    def dense_weights_shipped(self, model: str) -> bool:
        return json.loads((self.root / "models" / model / "weights.json").read_text())["shipped"]

    @property
    def gate(self) -> Path:
        return self.root / "gate"


def log(message: str) -> None:
    print(f"[h100] {message}", file=sys.stderr, flush=True)


def configs_from_params(section: dict, only: list[str] | None = None) -> list[ServeConfig]:
    configs = [ServeConfig(**c) for c in section["configs"]]
    if only:
        configs = [c for c in configs if any(tag.lower() in c.name for tag in only)]
    return configs


def write_bench_input(path: Path, preset: str, seed: int, samples: int) -> None:
    """perf_analyzer input: power-law category ids over the preset's real cardinalities."""
    rng = np.random.default_rng(seed)
    ids = np.stack([power_law_categories(rng, c, samples) for c in get_preset(preset).cardinalities], axis=1)
    num = np.log1p(rng.lognormal(1.0, 1.2, size=(samples, 13))).astype(np.float32)
    write_request_inputs(Split(num, ids, np.zeros(samples, dtype=bool)), path, samples)


def precision_label(precision: str, fp32_matmul: str) -> str:
    if precision == "fp16":
        return "FP16"
    return "FP32 (TF32 matmuls, as TensorRT's default)" if fp32_matmul == "tf32" else "FP32"


INPUTS = {"system": "client system shared memory (upstream's protocol); the model copies them to the GPU",
          "cuda": "client CUDA shared memory: inputs already in GPU memory, no host copies (not upstream's protocol)"}


def labels(cfg: ServeConfig, torch, spec_label: str, weights: str, fp32_matmul: str) -> dict:
    gpu = torch.cuda.get_device_name(0)
    serving = {"fused": "whole model in one python-backend model",
               "ensemble": "two-step ensemble (sparse step -> dense step, lookups on the GPU)"}.get(cfg.serving)
    kernels = "embedding gather" + (" and dot interaction" if cfg.model == "dlrm" else "")
    engine = (f"PyTorch {torch.__version__} CUDA {torch.version.cuda}, not TensorRT: {serving}; sparse: {spec_label}; "
              f"dense: converted ONNX graph, {weights} weights; Triton-language kernels ({kernels}); "
              "one CUDA graph per batch size")
    if cfg.serving == "transport":
        engine = "none: python-backend transport only (the model returns zeros; a ceiling, not a model result)"
    return {"engine": engine,
            "precision": precision_label(cfg.precision, fp32_matmul), "device": gpu, "runtime": f"Triton {TRITON_VERSION} (local runtime bundle)",
            "versions": f"torch {torch.__version__}; triton-lang {triton_lang_version()}; Triton server {TRITON_VERSION}",
            "sparse": cfg.sparse, "serving": cfg.serving, "model": cfg.model, "preset": cfg.preset,
            "dtype": cfg.precision, "inputs": INPUTS[cfg.inputs], "shared_memory": cfg.inputs}


def triton_lang_version() -> str:
    try:
        import triton
        return triton.__version__
    except ImportError:
        return "absent (PyTorch reference ops ran instead)"


def serve_and_measure(cfg: ServeConfig, section: dict, kit: Kit, work: Path, out: Path, on_frame=None) -> dict:
    """One configuration: repository, server, one perf_analyzer measurement per batch size;
    ``on_frame(frame, stats)`` gets the rows and model statistics so far after each batch (an
    interrupted run keeps them)."""
    import torch
    seed, batches = int(section["seed"]), [int(b) for b in section["batch_sizes"]]
    shipped = kit.dense_weights_shipped(cfg.model)
    spec = spec_for(cfg, seed, batches, section["memory_threshold_gb"], section["gpucacheper"],
                    None if shipped else seed, fp32_matmul=section["fp32_matmul"], chunk_rows=int(section["chunk_rows"]))
    repo = work / "repos" / cfg.name
    shutil.rmtree(repo, ignore_errors=True)
    name = write_repository(repo, cfg, spec, kit.dense(cfg.model), max(batches))
    inputs = work / f"input_{cfg.preset}.json"
    if not inputs.exists():
        write_bench_input(inputs, cfg.preset, seed, int(section["perf"]["input_samples"]))
    p = section["perf"]
    settings = PerfSettings(1, p["measurement_interval_ms"], p["stability_percentage"], p["max_trials"], p["retries"],
                            shared_memory=cfg.inputs)
    logs = out / "logs" / cfg.name
    shutil.rmtree(logs, ignore_errors=True)
    rows, started = [], time.monotonic()
    log(f"{cfg.name}: starting the server (tables generated on the GPU from the seed)")
    with TritonServer(Runtime(paths.RUNTIME), repo.resolve(), logs / "server.log", models=[name],
                      ready_timeout_s=900, extra_args=SERVER_POOLS) as server:
        ready_s = time.monotonic() - started
        log(f"{cfg.name}: ready in {ready_s:.0f} s")
        for batch in batches:
            m = measure(server.runtime, name, server.ports.grpc_url, batch, work / "raw" / cfg.name, inputs, settings)
            shutil.copy(m.log, logs / m.log.name)
            rows.append({**normalise(m), "throughput_samples": json.dumps(m.samples.get("throughput", []))})
            if on_frame is not None:
                so_far = model_stats(repo)
                on_frame(labelled(rows, cfg, torch, so_far, shipped, section), so_far)
            log(f"{cfg.name}: batch {batch}: {rows[-1][THROUGHPUT]:,.0f} infer/s, p99 "
                f"{rows[-1][P99]:.0f} us{'' if m.stable else ' (unstable)'}")
    stats = model_stats(repo)
    frame = labelled(rows, cfg, torch, stats, shipped, section)
    return {"config": cfg, "frame": frame, "stats": stats, "server_ready_s": round(ready_s, 1)}


def model_stats(repo: Path) -> dict:
    """What the served model last wrote to its stats.json (repro/triton_models), or nothing."""
    path = next(repo.glob("*/stats.json"), None)
    try:
        return json.loads(path.read_text()) if path else {}
    except json.JSONDecodeError:      # being replaced by the model right now: the next batch reads it
        return {}


def labelled(rows: list[dict], cfg: ServeConfig, torch, stats: dict, shipped: bool, section: dict):
    weights = "trained" if shipped else "seeded (the trained weights are not carried)"
    label = labels(cfg, torch, stats.get("sparse_label", cfg.sparse), weights, section["fp32_matmul"])
    return measured_frame([{**r, **label} for r in rows])


def accuracy_gate(section: dict, kit: Kit, work: Path, out: Path) -> dict:
    """The small trained DLRM (its tables restricted to the rows the gate's samples read) served by
    the GPU engines in FP32 and FP16; FP32's AUC must be within tolerance of TensorFlow's."""
    from repro.families.criteo.client import infer_split
    from repro.families.scores import roc_auc
    reference = json.loads((kit.gate / "reference.json").read_text())
    with np.load(kit.gate / "samples.npz") as npz:
        split = Split(npz["numerical"], npz["categorical"], npz["label"])
    with np.load(kit.gate / "tables.npz") as npz:
        cards = [int(npz[f"table_{i}"].shape[0]) for i in range(26)]
    batch = int(section["accuracy"]["batch_size"])
    repo = work / "repos" / "gate"
    shutil.rmtree(repo, ignore_errors=True)
    names = {}
    for precision in ("fp32", "fp16"):
        cfg = ServeConfig("dlrm", "gate", precision, "fused", "fused")
        spec = spec_for(cfg, 0, [batch], section["memory_threshold_gb"], section["gpucacheper"], None,
                        cardinalities=cards, tables="tables.npz", fp32_matmul=section["fp32_matmul"])
        names[precision] = write_repository(repo / precision, cfg, spec, kit.dense("dlrm"), batch,
                                            kit.gate / "tables.npz")
        for model_dir in (repo / precision).iterdir():
            shutil.move(str(model_dir), repo / model_dir.name)
        (repo / precision).rmdir()
    report = {"samples": len(split), "fp32_matmul": section["fp32_matmul"], "auc_tensorflow": reference["auc_tensorflow"],
              "tolerance": section["accuracy"]["auc_tolerance"], "reference": reference, "served": {}}
    with TritonServer(Runtime(paths.RUNTIME), repo.resolve(), out / "logs" / "accuracy_server.log",
                      models=list(names.values()), ready_timeout_s=600, extra_args=SERVER_POOLS) as server:
        for precision, name in names.items():
            auc = roc_auc(split.label, infer_split(server.ports.grpc_url, name, split, batch))
            diff = abs(auc - reference["auc_tensorflow"])
            report["served"][precision] = {"model": name, "auc": round(auc, 6), "abs_diff": round(diff, 8),
                                           "gated": precision == "fp32",
                                           "passed": diff <= report["tolerance"] if precision == "fp32" else None}
            log(f"accuracy {precision}: AUC {auc:.6f} vs TensorFlow {reference['auc_tensorflow']:.6f} (|diff| {diff:.2e})")
    return report
