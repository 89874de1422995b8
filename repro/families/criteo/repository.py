"""Write Triton model repositories for one model:

local/      runnable here: python-backend sparse lookup (TF SavedModel, or the HPS files) and
            python-backend dense (ONNX Runtime), composed as ensembles; plus the whole model in
            one TensorFlow python-backend model (the seed-004 "native TF" baseline).
container/  what upstream serves inside the NGC containers (container_repository.py).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from repro.serving import model_config as mcfg
from repro.serving.model_config import CATEGORICAL, NUMERICAL, OUTPUT


@dataclass(frozen=True)
class RepoSettings:
    max_batch_size: int
    instances: int
    instance_kind: str
    intra_op_threads: int
    hps_gpucacheper: float


def link_tree(src: Path, dst: Path) -> None:
    """Hard-link (or copy, across file systems) ``src`` to ``dst``: same bytes, no extra space."""
    if src.is_file():
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return
    for path in sorted(src.rglob("*")):
        if path.is_file():
            link_tree(path, dst / path.relative_to(src))


def write_config(model_dir: Path, config) -> None:
    """config.pbtxt plus version directory 1. Ensembles need that directory too, and DVC does not
    restore empty directories from its cache, so it gets a marker file."""
    (model_dir / "1").mkdir(parents=True, exist_ok=True)
    (model_dir / "config.pbtxt").write_text(mcfg.to_pbtxt(config))
    if config.platform == "ensemble":
        (model_dir / "1" / "ENSEMBLE.txt").write_text("Ensemble: no model file; Triton needs this version directory.\n")


def write_python_model(repo: Path, config, source: str, artifacts: dict[str, Path]) -> None:
    model_dir = repo / config.name
    write_config(model_dir, config)
    (model_dir / "1" / "model.py").write_text(resources.files("repro.families.criteo.triton_models").joinpath(source).read_text())
    for name, src in artifacts.items():
        link_tree(src, model_dir / "1" / name)


def local_models(model: str, converted: Path, dim: int, s: RepoSettings) -> list[tuple[object, str, dict]]:
    threads = {"intra_op_threads": str(s.intra_op_threads)}
    lookups = mcfg.lookup_tensor(dim)
    py = lambda name, ins, outs: mcfg.python_model(name, s.max_batch_size, ins, outs, s.instances,  # noqa: E731
                                                   s.instance_kind, threads)
    return [
        (py(f"{model}_sparse_tf", [CATEGORICAL], [lookups]), "sparse_tf_savedmodel.py",
         {"model.savedmodel": converted / "sparse_savedmodel"}),
        (py(f"{model}_sparse_hps", [CATEGORICAL], [lookups]), "sparse_hps_files.py", {"hps": converted / "hps"}),
        (py(f"{model}_dense", [NUMERICAL, lookups], [OUTPUT]), "dense_onnxruntime.py",
         {"model.onnx": converted / "dense.onnx"}),
        (py(f"{model}_native_tf", [CATEGORICAL, NUMERICAL], [OUTPUT]), "whole_tf_savedmodel.py",
         {"sparse.savedmodel": converted / "sparse_savedmodel", "dense.savedmodel": converted / "dense_savedmodel"}),
    ]


def two_step_ensemble(name: str, sparse: str, dense: str, s: RepoSettings) -> object:
    return mcfg.ensemble(name, s.max_batch_size, [CATEGORICAL, NUMERICAL], [OUTPUT], [
        (sparse, {"categorical_features": "categorical_features"}, {"lookup_vectors": "LOOKUP_VECTORS"}),
        (dense, {"numerical_features": "numerical_features", "lookup_vectors": "LOOKUP_VECTORS"},
         {"output": "output"})])


def write_local_repo(repo: Path, model: str, converted: Path, dim: int, s: RepoSettings) -> list[str]:
    for config, source, artifacts in local_models(model, converted, dim, s):
        write_python_model(repo, config, source, artifacts)
    for variant in ("tf", "hps"):
        write_config(repo / f"{model}_{variant}", two_step_ensemble(f"{model}_{variant}", f"{model}_sparse_{variant}",
                                                                    f"{model}_dense", s))
    return [f"{model}_tf", f"{model}_hps", f"{model}_native_tf"]
