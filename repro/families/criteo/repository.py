"""Write Triton model repositories for one model:

local/      runnable here: python-backend sparse lookup (TF SavedModel, or the HPS files) and
            python-backend dense (ONNX Runtime), composed as ensembles; plus the whole model in
            one TensorFlow python-backend model (the seed-004 "native TF" baseline).
container/  what upstream serves inside the NGC containers: tensorflow_savedmodel or hps sparse,
            tensorrt dense with CUDA graphs, ensembles, and the HPS parameter-server JSON.
"""
from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from repro.serving import model_config as mcfg
from repro.serving.model_config import CATEGORICAL, NUMERICAL, OUTPUT, Tensor


@dataclass(frozen=True)
class RepoSettings:
    max_batch_size: int
    instances: int
    instance_kind: str
    intra_op_threads: int
    hps_gpucacheper: float
    container_root: str = "/models"


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


def hps_ps_json(model: str, tables: list[str], dim: int, features: int, s: RepoSettings) -> dict:
    root = f"{s.container_root}/{model}_hps_sparse/1"
    return {"supportlonglong": True, "models": [{
        "model": f"{model}_hps_sparse", "sparse_files": [f"{root}/{t}" for t in tables],
        "num_of_worker_buffer_in_pool": 3, "embedding_table_names": tables,
        "embedding_vecsize_per_table": [dim] * len(tables),
        "maxnum_catfeature_query_per_table_per_sample": [features], "default_value_for_each_table": [0.0] * len(tables),
        "deployed_device_list": [0], "max_batch_size": s.max_batch_size, "cache_refresh_percentage_per_iteration": 0.0,
        "hit_rate_threshold": 1.0, "gpucacheper": s.hps_gpucacheper, "gpucache": True}]}


def write_container_repo(repo: Path, model: str, converted: Path, engine: Path, dim: int, s: RepoSettings) -> dict:
    """The upstream flavour. The TensorRT engine is linked in only when the engine stage built one."""
    lookups = mcfg.lookup_tensor(dim)
    write_config(repo / f"{model}_sparse", mcfg.tf_savedmodel(f"{model}_sparse", s.max_batch_size, [CATEGORICAL],
                                                              [lookups], s.instances))
    link_tree(converted / "sparse_savedmodel", repo / f"{model}_sparse" / "1" / "model.savedmodel")
    write_config(repo / f"{model}_dense", mcfg.tensorrt_dense(f"{model}_dense", s.max_batch_size,
                                                              [NUMERICAL, lookups], s.instances))
    plan = engine / "model.plan"
    if plan.exists():
        link_tree(plan, repo / f"{model}_dense" / "1" / "model.plan")
    write_config(repo / f"{model}_tf", two_step_ensemble(f"{model}_tf", f"{model}_sparse", f"{model}_dense", s))
    layout = json.loads((converted / "hps" / "layout.json").read_text())
    write_config(repo / f"{model}_hps_sparse", mcfg.hps_sparse(f"{model}_hps_sparse", s.max_batch_size, s.instances))
    link_tree(converted / "hps", repo / f"{model}_hps_sparse" / "1")
    hps_inputs = [Tensor("EMB_KEY", "INT64", (-1,)), Tensor("EMB_N_KEY", "INT32", (-1,)), NUMERICAL]
    write_config(repo / f"{model}_hps", mcfg.ensemble(f"{model}_hps", s.max_batch_size, hps_inputs, [OUTPUT], [
        (f"{model}_hps_sparse", {"KEYS": "EMB_KEY", "NUMKEYS": "EMB_N_KEY"}, {"OUTPUT0": "LOOKUP_VECTORS"}),
        (f"{model}_dense", {"numerical_features": "numerical_features", "lookup_vectors": "LOOKUP_VECTORS"},
         {"output": "output"})]))
    ps = hps_ps_json(model, layout["tables"], dim, layout["features"], s)
    (repo / f"{model}_hps_sparse" / "sparse.json").write_text(json.dumps(ps, indent=2) + "\n")
    return {"engine_built": plan.exists(), "hps_backend_config": f"hps,ps={s.container_root}/{model}_hps_sparse/sparse.json"}
