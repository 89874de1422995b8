"""Triton model repositories of the h100 profile, written with Triton's model_config protobuf: the
whole model as one python-backend model (``fused``), the upstream-like two-step ensemble
(``ensemble``: sparse step -> lookup vectors on the GPU -> dense step), or ``transport``: the same
inputs and output with no model work (zeros), which measures the python backend's own ceiling. Each
model version carries the repro modules it imports, the dense ONNX graph and a spec.json
(repro.engines.torch_serving.ModelSpec).

With ``backend: cpp`` the same configuration is served by the native C++ backend instead
(repro/native: ``repro_torch`` runs the engine scripted from the same spec, repro.engines.scripted;
a transport configuration uses ``repro_transport``): the version holds spec.json and native.txt, and
the backend library and engine.pt are made on the serving host (``write_engine``, through
repro.native.flavour.prepare_models)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from repro.families.carried import ENGINE_MODULES, write_python_version
from repro.native.flavour import served_name
from repro.serving import model_config as mcfg
from repro.families.criteo.presets import get_preset

CARRIED_MODULES = ENGINE_MODULES   # what the python-backend models import (repro/families/carried.py)
TRITON_MODELS = Path(__file__).parent / "triton_models"
LOOKUP_DTYPE = {"fp16": "FP16", "fp32": "FP32"}


@dataclass(frozen=True)
class ServeConfig:
    """One measured configuration of the h100 profile."""
    model: str           # dlrm | dcnv2
    preset: str          # 4B | 22B (or a small preset in tests)
    precision: str       # fp16 | fp32
    sparse: str          # fused | placement | cache
    serving: str         # fused (one model) | ensemble (two steps) | transport (no model work)
    inputs: str = "system"   # system (client system shared memory, upstream's) | cuda (already in GPU memory)
    backend: str = "python"  # python (python backend) | cpp (the native C++ backend, repro/native)

    @property
    def name(self) -> str:
        suffix = "" if self.inputs == "system" else f"_{self.inputs}shm"
        return served_name(f"{self.model}_{self.preset}_{self.precision}_{self.sparse}_{self.serving}{suffix}".lower(),
                           self.backend)


def spec_for(cfg: ServeConfig, seed: int, batch_sizes: list[int], memory_threshold_gb: float, gpucacheper: float,
             dense_seed: int | None, cardinalities: list[int] | None = None,
             fp32_matmul: str = "ieee", chunk_rows: int = 0, device: str = "cuda",
             native_engine: str = "torchscript") -> dict:
    """spec.json of the configuration's model (``native_engine``: the native backend's, on its models only)."""
    preset = get_preset(cfg.preset) if cardinalities is None else None
    native = cfg.backend == "cpp" and cfg.serving == "fused" and native_engine != "torchscript"
    engine = {"native_engine": native_engine} if native else {}
    return {**engine, "model": cfg.model, "precision": cfg.precision, "sparse": cfg.sparse, "device": device,
            "cardinalities": list(cardinalities if cardinalities is not None else preset.cardinalities),
            "embedding_dim": 128, "seed": seed, "memory_threshold_gb": memory_threshold_gb,
            "gpucacheper": gpucacheper, "batch_sizes": sorted(batch_sizes), "dense_seed": dense_seed,
            "fp32_matmul": fp32_matmul, "chunk_rows": chunk_rows}


def write_version(version: Path, script: str | None, dense_onnx: Path, spec: dict, tables_npz: Path | None) -> None:
    """model.py, the repro modules it imports, and spec.json (``script`` None: spec.json only, for the
    native backend). The dense graph and the gate's tables are shared by every configuration:
    spec.json names them relative to the version directory."""
    version.mkdir(parents=True, exist_ok=script is None)
    if script is not None:
        write_python_version(version, TRITON_MODELS / script, CARRIED_MODULES)
    spec = {**spec, "dense": os.path.relpath(dense_onnx, version),
            "tables": os.path.relpath(tables_npz, version) if tables_npz is not None else None}
    (version / "spec.json").write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")


def python_gpu_model(name: str, max_batch: int, inputs, outputs, cpu_inputs: bool, device: str = "cuda"):
    return mcfg.python_model(name, max_batch, inputs, outputs, 1, "KIND_GPU" if device == "cuda" else "KIND_CPU",
                             {"FORCE_CPU_ONLY_INPUT_TENSORS": "yes" if cpu_inputs else "no"})


def write_native(repo: Path, cfg: ServeConfig, spec: dict, dense_onnx: Path, max_batch: int,
                 tables_npz: Path | None) -> str:
    """The configuration on the native C++ backend: the scripted engine (repro_torch) or, for transport,
    repro_transport (its library is built on the serving host, like repro_torch's)."""
    from repro.native import repository as native
    name, device = cfg.name, spec.get("device", "cuda")
    if cfg.serving not in ("fused", "transport"):
        raise ValueError(f"the native backend serves the whole model in one model, not '{cfg.serving}' "
                         "(params.yaml: profiles.<profile>.serving.criteo.configs[].serving: fused or transport)")
    from repro.engines.scripted import PACKAGE, STATE
    compiled = spec.get("native_engine", "torchscript") == "aoti"
    version = native.write_model(repo / name, name, [mcfg.CATEGORICAL, mcfg.NUMERICAL], mcfg.OUTPUT, device,
                                 max_batch, spec["batch_sizes"], spec.get("chunk_rows", 0),
                                 tf32=spec.get("fp32_matmul", "ieee") == "tf32",   # as the python flavour's engine
                                 package=PACKAGE if compiled else None, state=STATE if compiled else ())
    write_version(version, None, dense_onnx, spec, tables_npz)
    if cfg.serving == "transport":
        from repro.native import build
        config = build.model_config(name, "repro_transport", max_batch, [mcfg.CATEGORICAL, mcfg.NUMERICAL],
                                    [mcfg.OUTPUT], instances=1, kind="KIND_CPU")
        (repo / name / "config.pbtxt").write_text(mcfg.to_pbtxt(config))
    return name


def write_engine(version: Path, device: str) -> None:
    """On the serving host, before the server starts: repro_torch's engine.pt, scripted from the spec."""
    import torch
    from repro.engines.scripted import write_module
    write_module(version, torch.device(device))


def write_repository(repo: Path, cfg: ServeConfig, spec: dict, dense_onnx: Path, max_batch: int,
                     tables_npz: Path | None = None) -> str:
    """Write the configuration's models into ``repo`` (none of them may exist) and return the name to query."""
    if (repo / cfg.name).exists():
        raise FileExistsError(f"{repo / cfg.name} exists; the repository writer never overwrites")
    name = cfg.name
    if cfg.backend == "cpp":
        return write_native(repo, cfg, spec, dense_onnx, max_batch, tables_npz)
    if cfg.backend != "python":
        raise ValueError(f"unknown backend '{cfg.backend}' (params.yaml: profiles.<profile>.serving.criteo.backends); "
                         "choose python or cpp")
    if cfg.serving in ("fused", "transport"):
        script = "fused_torch.py" if cfg.serving == "fused" else "transport_torch.py"
        write_version(repo / name / "1", script, dense_onnx, spec, tables_npz)
        config = python_gpu_model(name, max_batch, [mcfg.CATEGORICAL, mcfg.NUMERICAL], [mcfg.OUTPUT],
                                  cfg.inputs == "system", spec.get("device", "cuda"))
        (repo / name / "config.pbtxt").write_text(mcfg.to_pbtxt(config))
        return name
    if cfg.serving != "ensemble":
        raise ValueError(f"unknown serving '{cfg.serving}' (params.yaml: profiles.<profile>.serving.criteo.configs[].serving); "
                         "choose fused, ensemble or transport")
    lookups = mcfg.Tensor("lookup_vectors", LOOKUP_DTYPE[cfg.precision], (mcfg.NUM_TABLES, 128))
    sparse, dense = f"{name}_sparse", f"{name}_dense"
    write_version(repo / sparse / "1", "sparse_torch.py", dense_onnx, spec, tables_npz)
    (repo / sparse / "config.pbtxt").write_text(mcfg.to_pbtxt(
        python_gpu_model(sparse, max_batch, [mcfg.CATEGORICAL], [lookups], False)))
    write_version(repo / dense / "1", "dense_torch.py", dense_onnx, spec, None)
    (repo / dense / "config.pbtxt").write_text(mcfg.to_pbtxt(
        python_gpu_model(dense, max_batch, [mcfg.NUMERICAL, lookups], [mcfg.OUTPUT], False)))
    ensemble = mcfg.ensemble(name, max_batch, [mcfg.CATEGORICAL, mcfg.NUMERICAL], [mcfg.OUTPUT], [
        (sparse, {"categorical_features": "categorical_features"}, {"lookup_vectors": "lookup_vectors"}),
        (dense, {"numerical_features": "numerical_features", "lookup_vectors": "lookup_vectors"},
         {"output": "output"})])
    (repo / name / "1").mkdir(parents=True)
    (repo / name / "1" / "ENSEMBLE.txt").write_text("ensemble: no files; the steps are in config.pbtxt\n")
    (repo / name / "config.pbtxt").write_text(mcfg.to_pbtxt(ensemble))
    return name
