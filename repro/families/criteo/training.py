"""Seeded, deterministic training of DLRM/DCNv2 on the binary split data (TensorFlow 2, CPU)."""
from __future__ import annotations

import sys

import numpy as np
import tensorflow as tf

from repro.families.criteo import models
from repro.families.criteo.checkpoint import Checkpoint
from repro.families.criteo.dataset import Split
from repro.families.scores import roc_auc
from repro.families.tf_common import Adam, TrainConfig, configure_determinism, f64  # noqa: F401 (re-exported)


def predict(model: str, dense: dict, tables: list, split: Split, batch: int = 8192) -> np.ndarray:
    out = [models.dense_forward(model, dense, split.numerical[i:i + batch],
                                models.sparse_forward(tables, split.categorical[i:i + batch])).numpy()
           for i in range(0, len(split), batch)]
    return np.concatenate(out).ravel()


def train(model: str, init: Checkpoint, data: Split, config: TrainConfig) -> tuple[Checkpoint, list[float]]:
    dense = {k: tf.Variable(v, name=k) for k, v in init.dense.items()}
    tables = [tf.Variable(t, name=f"table_{i}") for i, t in enumerate(init.tables)]
    variables = [*dense.values(), *tables]
    optimizer = Adam(variables, config.learning_rate)

    @tf.function(reduce_retracing=True)
    def step(numerical, categorical, label):
        with tf.GradientTape() as tape:
            logits = models.dense_logits(model, dense, numerical, models.sparse_forward(tables, categorical))
            # binary cross-entropy from the logits, in float64 (see Adam): the same bits on any CPU
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=f64(label[:, None]),
                                                                          logits=f64(logits)))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    rng, losses = np.random.default_rng(config.seed), []
    for epoch in range(config.epochs):
        order = rng.permutation(len(data))
        steps = len(order) // config.batch_size
        for s in range(steps):
            idx = np.sort(order[s * config.batch_size:(s + 1) * config.batch_size])
            loss = step(data.numerical[idx].astype(np.float32), data.categorical[idx],
                        data.label[idx].astype(np.float32))
            losses.append(float(loss))
            if s % max(1, steps // 4) == 0 or s == steps - 1:
                print(f"[train] {model} epoch {epoch + 1}/{config.epochs} step {s + 1}/{steps} loss {float(loss):.4f}",
                      file=sys.stderr, flush=True)
    trained = Checkpoint(model, {k: v.numpy() for k, v in dense.items()}, [t.numpy() for t in tables])
    return trained, losses


def evaluate_auc(ckpt: Checkpoint, split: Split) -> float:
    return roc_auc(split.label, predict(ckpt.model, ckpt.dense, ckpt.tables, split))
