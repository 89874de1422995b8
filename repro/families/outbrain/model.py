"""Wide & Deep in TensorFlow 2 with upstream's architecture (``trainer/model/widedeep.py``), as plain
variables: sigmoid(wide + deep).

wide  per categorical feature a (buckets, 1) lookup (multi-hot ids summed, PAD masked), a (13, 1) matmul
      over the numericals, and a bias;
deep  per categorical feature a (buckets, dim) embedding (sum combiner), concatenated in name order with
      the 13 numericals (1248 values), 5 x Dense(1024, relu) with dropout 0.1 in training, Dense(1).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from repro.families.outbrain.features import (CATEGORICAL, DEEP_LAYERS, DEEP_ORDER, DROPOUT, NUMERICAL, deep_width,
                                              embedding_dims)
from repro.families.tf_common import exact_matmul


def glorot_uniform(rng: np.random.Generator, fan_in: int, fan_out: int) -> np.ndarray:
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(np.float32)


def init_weights(buckets: dict[str, int], seed: int) -> dict[str, np.ndarray]:
    """Named weights in a fixed order: embeddings glorot-normal (upstream), dense glorot-uniform, wide zeros."""
    rng = np.random.default_rng([seed, 3])
    dims = embedding_dims()
    weights = {}
    for name in DEEP_ORDER:
        rows, dim = buckets[name], dims[name]
        weights[f"embedding_{name}"] = (rng.standard_normal((rows, dim)) * np.sqrt(2.0 / (rows + dim))).astype(np.float32)
        weights[f"wide_{name}"] = np.zeros((rows, 1), np.float32)
    weights["wide_numerical"] = np.zeros((len(NUMERICAL), 1), np.float32)
    weights["wide_bias"] = np.zeros(1, np.float32)
    fan_in = deep_width()
    for i, width in enumerate(DEEP_LAYERS):
        weights[f"deep_{i}_kernel"] = glorot_uniform(rng, fan_in, width)
        weights[f"deep_{i}_bias"] = np.zeros(width, np.float32)
        fan_in = width
    weights["deep_out_kernel"] = glorot_uniform(rng, fan_in, 1)
    weights["deep_out_bias"] = np.zeros(1, np.float32)
    return weights


def pooled(table, ids: tf.Tensor) -> tf.Tensor:
    """Sum of the rows of ``ids`` [B, w] (PAD entries, -1, contribute nothing) -> [B, dim]."""
    ids = tf.cast(ids, tf.int32)
    # elementwise ops only (no shape-dependent ones), so the exported graph is static for CUDA graphs:
    # ids are >= 0 and PAD is -1, so min(id + 1, 1) is the mask and max(id, 0) a safe row
    present = tf.cast(tf.minimum(ids + 1, 1), table.dtype)
    rows = tf.gather(table, tf.maximum(ids, 0))
    return tf.reduce_sum(rows * tf.expand_dims(present, 2), axis=1)


def logits(weights: dict, inputs: dict[str, tf.Tensor], exact: bool = True,
           dropout_seed: tf.Tensor | None = None) -> tf.Tensor:
    """wide + deep before the sigmoid, [B, 1]. ``exact``: float64-summed matmuls (training and the
    framework's score, the same bits on any CPU); plain float32 MatMul for the exported graph.
    ``dropout_seed`` ([2] int): stateless dropout for training."""
    matmul = exact_matmul if exact else tf.matmul
    numerical = tf.concat([tf.cast(inputs[name], tf.float32) for name in NUMERICAL], axis=1)     # [B, 13]
    wide = matmul(numerical, weights["wide_numerical"]) + weights["wide_bias"]
    for name in CATEGORICAL:
        wide = wide + pooled(weights[f"wide_{name}"], inputs[name])
    x = tf.concat([pooled(weights[f"embedding_{name}"], inputs[name]) for name in DEEP_ORDER] + [numerical], axis=1)
    for i in range(len(DEEP_LAYERS)):
        x = tf.nn.relu(matmul(x, weights[f"deep_{i}_kernel"]) + weights[f"deep_{i}_bias"])
        if dropout_seed is not None:
            x = tf.nn.experimental.stateless_dropout(x, DROPOUT, seed=dropout_seed + i)
    return wide + matmul(x, weights["deep_out_kernel"]) + weights["deep_out_bias"]


def predict(weights: dict, inputs: dict[str, np.ndarray], batch: int = 8192) -> np.ndarray:
    """Click probabilities [N] with the exact (framework) forward pass."""
    n = len(next(iter(inputs.values())))
    parts = [tf.sigmoid(logits(weights, {k: v[i:i + batch] for k, v in inputs.items()})).numpy().ravel()
             for i in range(0, n, batch)]
    return np.concatenate(parts)
