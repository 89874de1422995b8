"""Seeded, deterministic training of DLRM/DCNv2 on the binary split data (TensorFlow 2, CPU)."""
from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from repro.families.criteo import models
from repro.families.criteo.checkpoint import Checkpoint
from repro.families.criteo.dataset import Split
from repro.families.scores import roc_auc


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int


def configure_determinism(seed: int, threads: int) -> None:
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised in this process (several stages run in one test process)
        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            raise


def f64(x) -> tf.Tensor:
    return tf.cast(x, tf.float64)


class Adam:
    """Plain Adam over tf.Variables (gradients densified; tables here are small). The update is computed
    in float64 and rounded once to the float32 variables: float32 division and square root go through
    the CPU's approximate reciprocal instructions in Eigen, whose bits differ between CPUs."""

    def __init__(self, variables: list[tf.Variable], lr: float, beta1: float = 0.9, beta2: float = 0.999):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, 1e-7
        self.m = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.step = tf.Variable(0.0)

    def apply(self, grads: list, variables: list[tf.Variable]) -> None:
        self.step.assign_add(1.0)
        step = f64(self.step)
        correction = tf.sqrt(1 - self.beta2 ** step) / (1 - self.beta1 ** step)
        for g, var, m, v in zip(grads, variables, self.m, self.v):
            g = f64(tf.convert_to_tensor(g))
            m.assign(tf.cast(self.beta1 * f64(m) + (1 - self.beta1) * g, tf.float32))
            v.assign(tf.cast(self.beta2 * f64(v) + (1 - self.beta2) * g * g, tf.float32))
            update = self.lr * correction * f64(m) / (tf.sqrt(f64(v)) + self.eps)
            var.assign(tf.cast(f64(var) - update, tf.float32))


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
