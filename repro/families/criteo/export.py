"""Convert a checkpoint into the upstream submodels: sparse (TF SavedModel with placement, or HPS
files) and dense (TF SavedModel -> ONNX via tf2onnx), with the ONNX-vs-TF check."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tensorflow as tf

from repro.families.criteo import models
from repro.families.criteo.checkpoint import Checkpoint
from repro.families.tf_common import pin_fingerprint_uuid

SPARSE_INPUT, SPARSE_OUTPUT = "categorical_features", "lookup_vectors"
DENSE_INPUTS, DENSE_OUTPUT = ("numerical_features", "lookup_vectors"), "output"


class SparseModule(tf.Module):
    def __init__(self, tables: list[np.ndarray], devices: list[str]):
        super().__init__()
        self.tables = []
        for i, (table, device) in enumerate(zip(tables, devices)):
            with tf.device(f"/{device}:0"):
                self.tables.append(tf.Variable(table, name=f"sparse_embedding{i}", trainable=False))
        num = len(tables)
        self.lookup = tf.function(lambda ids: {SPARSE_OUTPUT: models.sparse_forward(self.tables, ids)},
                                  input_signature=[tf.TensorSpec([None, num], tf.int32, SPARSE_INPUT)])


class DenseModule(tf.Module):
    def __init__(self, model: str, dense: dict[str, np.ndarray], num_tables: int, dim: int):
        super().__init__()
        self.weights = {k: tf.Variable(v, name=k, trainable=False) for k, v in dense.items()}
        self.predict = tf.function(
            lambda numerical, lookups: {DENSE_OUTPUT: models.dense_forward(model, self.weights, numerical, lookups,
                                                                           exact=False)},
            input_signature=[tf.TensorSpec([None, 13], tf.float32, DENSE_INPUTS[0]),
                             tf.TensorSpec([None, num_tables, dim], tf.float32, DENSE_INPUTS[1])])


def save_sparse(ckpt: Checkpoint, devices: list[str], out: Path) -> None:
    module = SparseModule(ckpt.tables, devices)
    options = tf.saved_model.SaveOptions(experimental_variable_policy=tf.saved_model.experimental.VariablePolicy.SAVE_VARIABLE_DEVICES)
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.lookup}, options=options)
    pin_fingerprint_uuid(out)


def save_dense(ckpt: Checkpoint, out: Path) -> DenseModule:
    module = DenseModule(ckpt.model, ckpt.dense, len(ckpt.tables), ckpt.dim)
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.predict})
    pin_fingerprint_uuid(out)
    return module


def export_onnx(module: DenseModule, out: Path, opset: int) -> None:
    import tf2onnx
    tf2onnx.convert.from_function(module.predict, input_signature=module.predict.input_signature, opset=opset,
                                  output_path=str(out))


def onnx_max_abs_diff(module: DenseModule, onnx_path: Path, numerical: np.ndarray, lookups: np.ndarray) -> float:
    import onnxruntime as ort
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    feeds = {n: (numerical if "numerical" in n else lookups) for n in names}
    got = session.run(None, feeds)[0]
    want = module.predict(tf.constant(numerical), tf.constant(lookups))[DENSE_OUTPUT].numpy()
    return float(np.max(np.abs(got - want)))


def write_hps_files(tables: list[np.ndarray], out: Path) -> dict:
    """HPS binary tables, fused: one table whose keys are each feature's ids offset by the
    cumulative cardinality of the features before it (raw little-endian int64 ``key``, raw float32
    row-major ``emb_vector``)."""
    table_dir = out / "sparse_embedding0"
    table_dir.mkdir(parents=True)
    offsets = np.concatenate([[0], np.cumsum([t.shape[0] for t in tables])]).astype(np.int64)
    np.arange(offsets[-1], dtype="<i8").tofile(table_dir / "key")
    with (table_dir / "emb_vector").open("wb") as fh:
        for table in tables:
            np.ascontiguousarray(table, dtype="<f4").tofile(fh)
    layout = {"tables": ["sparse_embedding0"], "embedding_dim": int(tables[0].shape[1]),
              "offsets": offsets[:-1].tolist(), "rows": int(offsets[-1]), "features": len(tables)}
    (out / "layout.json").write_text(json.dumps(layout, indent=2) + "\n")
    return layout
