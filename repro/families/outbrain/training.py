"""Seeded, deterministic training of Wide & Deep (TensorFlow 2, CPU), scored by MAP@12."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

from repro.errors import UserError
from repro.families.outbrain import model
from repro.families.outbrain.dataset import Batch
from repro.families.outbrain.features import MAP_AT
from repro.families.scores import map_at_k
from repro.families.tf_common import Adam, TrainConfig, f64  # noqa: F401 (TrainConfig: re-exported)


def train(init: dict[str, np.ndarray], data: Batch, config: TrainConfig) -> tuple[dict[str, np.ndarray], list[float]]:
    weights = {k: tf.Variable(v, name=k) for k, v in init.items()}
    variables = list(weights.values())
    optimizer = Adam(variables, config.learning_rate)

    @tf.function(reduce_retracing=True)
    def step(inputs, label, seed):
        with tf.GradientTape() as tape:
            out = model.logits(weights, inputs, exact=True, dropout_seed=seed)
            loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=f64(label[:, None]), logits=f64(out)))
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    rng, losses = np.random.default_rng([config.seed, 4]), []
    for epoch in range(config.epochs):
        order = rng.permutation(len(data))
        steps = len(order) // config.batch_size
        for s in range(steps):
            idx = np.sort(order[s * config.batch_size:(s + 1) * config.batch_size])
            seed = tf.constant([config.seed % (1 << 30), epoch * 100003 + s * 8], tf.int64)
            loss = float(step({k: v[idx] for k, v in data.inputs.items()}, data.label[idx].astype(np.float32), seed))
            losses.append(loss)
            if s % max(1, steps // 4) == 0 or s == steps - 1:
                print(f"[train] widedeep epoch {epoch + 1}/{config.epochs} step {s + 1}/{steps} loss {loss:.4f}",
                      file=sys.stderr, flush=True)
    return {k: v.numpy() for k, v in weights.items()}, losses


def evaluate(weights: dict[str, np.ndarray], data: Batch) -> float:
    """The framework's MAP@12 on ``data``."""
    return map_at_k(data.display, data.label, model.predict(weights, data.inputs), MAP_AT)


def write_checkpoint(out: Path, weights: dict[str, np.ndarray], buckets: dict[str, int]) -> None:
    """One .npy per weight plus config.json (byte-stable: np.save writes no timestamps)."""
    for name, array in weights.items():
        np.save(out / f"{name}.npy", array, allow_pickle=False)
    (out / "config.json").write_text(json.dumps({"model": "widedeep", "weights": list(weights), "buckets": buckets},
                                                indent=2) + "\n")


def read_checkpoint(path: Path) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    config_path = path / "config.json"
    if not config_path.exists():
        raise UserError(f"{config_path} is missing; run `dvc repro train@widedeep`")
    config = json.loads(config_path.read_text())
    return {name: np.load(path / f"{name}.npy", allow_pickle=False) for name in config["weights"]}, config["buckets"]
