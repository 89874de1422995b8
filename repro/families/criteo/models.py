"""DLRM and DCNv2 in TensorFlow 2 with the upstream architectures, as plain variables so that the
sparse part (embedding tables) and the dense part (MLPs + interaction) can be exported separately.

DLRM : bottom MLP 512-256-128 on the 13 numerical features, dot interaction of the 27 vectors
       (lower triangle, 351 values) concatenated with the bottom output, top MLP 1024-1024-512-256-1.
DCNv2: same bottom MLP, a 3-layer low-rank (512) cross network over [bottom output, 26 embeddings],
       top MLP 1024-1024-512-256-1.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from repro.families.tf_common import exact_matmul

BOTTOM_MLP = (512, 256, 128)
TOP_MLP = (1024, 1024, 512, 256, 1)
CROSS_LAYERS = 3
CROSS_RANK = 512
MODELS = ("dlrm", "dcnv2")


@dataclass
class DenseWeights:
    """Named dense weights, in a fixed order (names are file names in the checkpoint)."""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def mlp_weights(rng: np.random.Generator, prefix: str, fan_in: int, widths: tuple[int, ...]) -> dict[str, np.ndarray]:
    out = {}
    for i, width in enumerate(widths):
        out[f"{prefix}_{i}_kernel"] = glorot(rng, fan_in, width)
        out[f"{prefix}_{i}_bias"] = np.zeros(width, np.float32)
        fan_in = width
    return out


def init_dense(model: str, num_tables: int, num_numerical: int, dim: int, seed: int) -> dict[str, np.ndarray]:
    if model not in MODELS:
        raise ValueError(f"unknown model '{model}'; choose one of {MODELS}")
    rng = np.random.default_rng(seed)
    weights = mlp_weights(rng, "bottom", num_numerical, BOTTOM_MLP)
    if model == "dlrm":
        vectors = num_tables + 1
        top_in = vectors * (vectors - 1) // 2 + dim
    else:
        top_in = (num_tables + 1) * dim
        for layer in range(CROSS_LAYERS):
            weights[f"cross_{layer}_v"] = glorot(rng, top_in, CROSS_RANK)
            weights[f"cross_{layer}_u"] = glorot(rng, CROSS_RANK, top_in)
            weights[f"cross_{layer}_bias"] = np.zeros(top_in, np.float32)
    weights.update(mlp_weights(rng, "top", top_in, TOP_MLP))
    return weights


def init_tables(cardinalities: list[int], dim: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed + 1)
    return [rng.uniform(-0.05, 0.05, size=(rows, dim)).astype(np.float32) for rows in cardinalities]


def apply_mlp(weights: dict, prefix: str, x: tf.Tensor, layers: int, last_linear: bool,
              matmul=exact_matmul) -> tf.Tensor:
    for i in range(layers):
        x = matmul(x, weights[f"{prefix}_{i}_kernel"]) + weights[f"{prefix}_{i}_bias"]
        if not (last_linear and i == layers - 1):
            x = tf.nn.relu(x)
    return x


def dot_interaction(bottom: tf.Tensor, lookups: tf.Tensor, matmul=exact_matmul) -> tf.Tensor:
    vectors = tf.concat([bottom[:, None, :], lookups], axis=1)            # [B, 27, dim]
    products = matmul(vectors, vectors, transpose_b=True)                 # [B, 27, 27]
    n = vectors.shape[1]
    rows, cols = np.tril_indices(n, k=-1)
    flat = tf.reshape(products, [-1, n * n])
    pairs = tf.gather(flat, (rows * n + cols).astype(np.int32), axis=1)    # [B, 351]
    return tf.concat([pairs, bottom], axis=1)


def cross_network(weights: dict, x0: tf.Tensor, matmul=exact_matmul) -> tf.Tensor:
    x = x0
    for layer in range(CROSS_LAYERS):
        projected = matmul(matmul(x, weights[f"cross_{layer}_v"]), weights[f"cross_{layer}_u"])
        x = x0 * (projected + weights[f"cross_{layer}_bias"]) + x
    return x


def dense_logits(model: str, weights: dict, numerical: tf.Tensor, lookups: tf.Tensor,
                 exact: bool = True) -> tf.Tensor:
    """The dense submodel before its sigmoid: numerical [B,13] + lookups [B,26,dim] -> logit [B,1]."""
    matmul = exact_matmul if exact else tf.matmul
    bottom = apply_mlp(weights, "bottom", tf.cast(numerical, tf.float32), len(BOTTOM_MLP), False, matmul)
    if model == "dlrm":
        features = dot_interaction(bottom, lookups, matmul)
    else:
        flat = tf.reshape(lookups, [-1, lookups.shape[1] * lookups.shape[2]])
        features = cross_network(weights, tf.concat([bottom, flat], axis=1), matmul)
    return apply_mlp(weights, "top", features, len(TOP_MLP), True, matmul)


def dense_forward(model: str, weights: dict, numerical: tf.Tensor, lookups: tf.Tensor,
                  exact: bool = True) -> tf.Tensor:
    """The dense submodel: numerical [B,13] + lookups [B,26,dim] -> click probability [B,1]. Exact
    (float64-summed) matmuls for training and scoring; plain float32 MatMul for the exported graph."""
    return tf.sigmoid(dense_logits(model, weights, numerical, lookups, exact))


def sparse_forward(tables: list, categorical: tf.Tensor) -> tf.Tensor:
    """The sparse submodel: categorical ids [B,26] -> lookups [B,26,dim]."""
    ids = tf.cast(categorical, tf.int32)
    return tf.stack([tf.gather(table, ids[:, i]) for i, table in enumerate(tables)], axis=1)
