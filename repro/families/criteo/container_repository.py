"""The container flavour of DLRM / DCNv2: what upstream serves inside the NGC images, with upstream's
model layout and tensor names, so upstream's clients work against it.

<model>_tf        ensemble: categorical_features, numerical_features -> DENSE_OUTPUT
  <model>_sparse  tensorflow_savedmodel (gpu_io), input_1 -> output_1 [26*dim]; its SavedModel is exported
                  on the GPU host inside the TF image (the container plan), so that the devices it records
                  are that host's (a CPU-only export records CPU for every table)
  <model>_dense   tensorrt, args_0 [13], args_1 [26*dim] -> output_1 [1]; CUDA graphs for the swept batches
<model>_hps       ensemble: EMB_KEY, EMB_N_KEY, numerical_features (flat) -> DENSE_OUTPUT
  <model>_hps_sparse  backend hps, KEYS, NUMKEYS -> OUTPUT0 (flat); its tables in version 1
  <model>_hps_dense   tensorrt, max_batch_size 0, flat args_0 / args_1 -> output_1 [-1, 1] (upstream's own dense
                      model for the HPS ensemble: HPS returns a flat vector)
ps.json           the ONE HPS parameter-server JSON of the repository, listing every HPS model in it
                  (tritonserver --backend-config=hps,ps=<mount>/ps.json)

Each TensorRT model keeps the ONNX its engine is built from in `<model>/onnx/model.onnx` (upstream's tensor
names; flat inputs for the HPS dense model); `trtexec` turns it into `1/model.plan` inside the image.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import TensorProto, helper

from repro.families.criteo.repository import RepoSettings, link_tree, write_config
from repro.serving import model_config as mcfg
from repro.serving.model_config import NUM_NUMERICAL, NUM_TABLES, Tensor

SPARSE_IN, SPARSE_OUT = "input_1", "output_1"
DENSE_NUMERICAL, DENSE_LOOKUPS, DENSE_OUT = "args_0", "args_1", "output_1"
ENSEMBLE_OUT, LOOKUPS = "DENSE_OUTPUT", "LOOKUP_VECTORS"
PS_JSON = "ps.json"


@dataclass(frozen=True)
class ContainerSettings:
    mount: str                    # where the repository is mounted inside the serving image
    graph_batches: tuple[int, ...]  # CUDA graphs captured for these batch sizes (the perf sweep)


def adapt_dense_onnx(src: Path, dst: Path, dim: int, flat: bool) -> None:
    """The converted dense graph with upstream's tensor names: args_0, args_1 (lookups flattened per
    sample, or wholly flat for HPS) -> output_1. Reshape nodes restore the graph's own input shapes."""
    model = onnx.load(str(src))
    graph = model.graph
    originals = {i.name: i for i in graph.input}
    num, look = originals["numerical_features"], originals["lookup_vectors"]
    shapes = {DENSE_NUMERICAL: ([-1] if flat else ["batch", NUM_NUMERICAL], num.name, [-1, NUM_NUMERICAL]),
              DENSE_LOOKUPS: ([-1] if flat else ["batch", NUM_TABLES * dim], look.name, [-1, NUM_TABLES, dim])}
    nodes = []
    for new, (dims, internal, target) in shapes.items():
        const = f"{new}_shape"
        graph.initializer.append(helper.make_tensor(const, TensorProto.INT64, [len(target)], target))
        nodes.append(helper.make_node("Reshape", [new, const], [internal], name=f"{new}_reshape"))
    del graph.input[:]
    graph.input.extend(helper.make_tensor_value_info(new, TensorProto.FLOAT, dims) for new, (dims, _, _) in shapes.items())
    nodes_after = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + nodes_after)
    out = graph.output[0]
    graph.node.append(helper.make_node("Identity", [out.name], [DENSE_OUT], name="output_identity"))
    del graph.output[:]
    graph.output.append(helper.make_tensor_value_info(DENSE_OUT, TensorProto.FLOAT, [-1 if flat else "batch", 1]))
    onnx.checker.check_model(model)
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))


def hps_model_entry(model: str, layout: dict, s: RepoSettings, mount: str) -> dict:
    tables = layout["tables"]
    return {"model": f"{model}_hps_sparse", "sparse_files": [f"{mount}/{model}_hps_sparse/1/{t}" for t in tables],
            "num_of_worker_buffer_in_pool": 3, "embedding_table_names": tables,
            "embedding_vecsize_per_table": [layout["embedding_dim"]] * len(tables),
            "maxnum_catfeature_query_per_table_per_sample": [layout["features"]],
            "default_value_for_each_table": [0.0] * len(tables), "deployed_device_list": [0],
            "max_batch_size": s.max_batch_size, "cache_refresh_percentage_per_iteration": 0.0,
            "hit_rate_threshold": 1.0, "gpucacheper": s.hps_gpucacheper, "gpucache": True}


def merge_ps_json(path: Path, entry: dict) -> None:
    """Add (or replace) one model in the repository's single parameter-server JSON, models sorted."""
    ps = json.loads(path.read_text()) if path.exists() else {"supportlonglong": True, "models": []}
    models = {m["model"]: m for m in ps["models"]}
    models[entry["model"]] = entry
    ps["models"] = [models[k] for k in sorted(models)]
    path.write_text(json.dumps(ps, indent=2) + "\n")


def write_container_repo(repo: Path, model: str, converted: Path, dim: int, s: RepoSettings,
                         c: ContainerSettings) -> dict:
    """The container repository of one model (see the module docstring). Returns what is still built
    inside the images: the sparse SavedModel export and the two engines."""
    width = NUM_TABLES * dim
    numerical, lookups = Tensor(DENSE_NUMERICAL, "FP32", (NUM_NUMERICAL,)), Tensor(DENSE_LOOKUPS, "FP32", (width,))
    sparse = mcfg.tf_savedmodel(f"{model}_sparse", s.max_batch_size, [Tensor(SPARSE_IN, "INT32", (NUM_TABLES,))],
                                [Tensor(SPARSE_OUT, "FP32", (width,))], s.instances)
    write_config(repo / sparse.name, sparse)
    dense = mcfg.tensorrt_dense(f"{model}_dense", s.max_batch_size, [numerical, lookups],
                                Tensor(DENSE_OUT, "FP32", (1,)), s.instances, c.graph_batches)
    write_config(repo / dense.name, dense)
    adapt_dense_onnx(converted / "dense.onnx", repo / dense.name / "onnx" / "model.onnx", dim, flat=False)
    write_config(repo / f"{model}_tf", mcfg.ensemble(
        f"{model}_tf", s.max_batch_size,
        [mcfg.CATEGORICAL, mcfg.NUMERICAL], [Tensor(ENSEMBLE_OUT, "FP32", (1,))], [
            (sparse.name, {SPARSE_IN: "categorical_features"}, {SPARSE_OUT: LOOKUPS}),
            (dense.name, {DENSE_LOOKUPS: LOOKUPS, DENSE_NUMERICAL: "numerical_features"}, {DENSE_OUT: ENSEMBLE_OUT})]))

    layout = json.loads((converted / "hps" / "layout.json").read_text())
    hps = mcfg.hps_sparse(f"{model}_hps_sparse", s.max_batch_size, s.instances)
    write_config(repo / hps.name, hps)
    for table in layout["tables"]:
        link_tree(converted / "hps" / table, repo / hps.name / "1" / table)
    flat = [Tensor(DENSE_NUMERICAL, "FP32", (-1,)), Tensor(DENSE_LOOKUPS, "FP32", (-1,))]
    hps_dense = mcfg.tensorrt_dense(f"{model}_hps_dense", 0, flat, Tensor(DENSE_OUT, "FP32", (-1, 1)), s.instances,
                                    c.graph_batches, flat_widths={DENSE_NUMERICAL: NUM_NUMERICAL,
                                                                  DENSE_LOOKUPS: width})
    write_config(repo / hps_dense.name, hps_dense)
    adapt_dense_onnx(converted / "dense.onnx", repo / hps_dense.name / "onnx" / "model.onnx", dim, flat=True)
    write_config(repo / f"{model}_hps", mcfg.ensemble(
        f"{model}_hps", s.max_batch_size,
        [Tensor("EMB_KEY", "INT64", (-1,)), Tensor("EMB_N_KEY", "INT32", (-1,)), Tensor("numerical_features", "FP32", (-1,))],
        [Tensor(ENSEMBLE_OUT, "FP32", (-1,))], [
            (hps.name, {"KEYS": "EMB_KEY", "NUMKEYS": "EMB_N_KEY"}, {"OUTPUT0": LOOKUPS}),
            (hps_dense.name, {DENSE_LOOKUPS: LOOKUPS, DENSE_NUMERICAL: "numerical_features"}, {DENSE_OUT: ENSEMBLE_OUT})]))
    merge_ps_json(repo / PS_JSON, hps_model_entry(model, layout, s, c.mount))
    return {"served": [f"{model}_tf", f"{model}_hps"], "hps_backend_config": f"hps,ps={c.mount}/{PS_JSON}",
            "built_in_images": {"sparse_savedmodel": f"{sparse.name}/1/model.savedmodel",
                                "engines": [f"{dense.name}/1/model.plan", f"{hps_dense.name}/1/model.plan"]}}
